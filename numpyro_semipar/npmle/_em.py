"""``em``: the EM algorithm for mixture weights on a fixed grid (baseline and fallback)."""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._deprecation import renamed_arguments
from .._warnings import ConvergenceWarning
from .._x64 import float64, to_session_dtypes
from ._mixsqp import envelope_tangent
from ._result import MixSQPResult, SolverStatus, status_message
from ._rowblocks import (
    em_pass,
    feasible_start,
    inspect_blocks,
    make_row_blocks,
    total_loglik,
    unblock,
)
from ._validation import check_problem, problem_arrays

__all__ = ["em"]


def _dual_gap(d):
    # max_j d_j - 1 >= 0 at every point of the simplex (sum_j x_j d_j = 1); the objective gap
    # per unit weight is at most log(max_j d_j), so this bounds the suboptimality.
    return jnp.max(d) - 1.0


@functools.partial(jax.jit, static_argnums=(3, 4))
def _em_impl(log_lik, weights, init, max_iter: int, tol: float):
    n = log_lik.shape[0]
    blocks, rowmax = make_row_blocks(log_lik, weights)
    nonzero, bad_entries = inspect_blocks(blocks)
    x = jnp.where(nonzero, init, 0.0)
    x = feasible_start(blocks, x / jnp.sum(x), ~nonzero)

    def cond(carry):
        _, _, kkt, it = carry
        return (kkt > tol) & (it < max_iter)

    def body(carry):
        x, d, _, it = carry
        x = x * d
        _, d = em_pass(blocks, x)
        return x, d, _dual_gap(d), it + 1

    _, d0 = em_pass(blocks, x)
    x, _, kkt, num_iter = lax.while_loop(cond, body, (x, d0, _dual_gap(d0), 0))
    p = x / jnp.sum(x)
    u, _ = em_pass(blocks, p)
    value = total_loglik(log_lik, weights, rowmax, unblock(u, n), p)
    converged = kkt <= tol
    status = jnp.where(converged, SolverStatus.CONVERGED, SolverStatus.MAX_ITER)
    invalid = (
        bad_entries | jnp.any(~jnp.isfinite(weights) | (weights < 0)) | ~(jnp.sum(weights) > 0)
    )
    p = jnp.where(invalid, jnp.nan, p)
    value = jnp.where(invalid, jnp.nan, value)
    status = jnp.where(invalid, SolverStatus.INVALID_INPUT, status)
    return p, value, num_iter, status.astype(jnp.int32), kkt


# The weights carry no derivative; the value is differentiated by the envelope theorem (exact
# only at the optimum, as the docstring says).
@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4))
def _em_solve(log_lik, weights, init, max_iter: int, tol: float):
    return _em_impl(log_lik, weights, init, max_iter, tol)


@_em_solve.defjvp
def _em_solve_jvp(max_iter, tol, primals, tangents):
    log_lik, weights, init = primals
    dlog_lik, dweights, _ = tangents
    out = _em_solve(log_lik, weights, init, max_iter, tol)
    dvalue = envelope_tangent(log_lik, weights, out[0], dlog_lik, dweights)
    int_zero = np.zeros((), dtype=jax.dtypes.float0)
    return out, (jnp.zeros_like(out[0]), dvalue, int_zero, int_zero, jnp.zeros_like(out[4]))


@renamed_arguments(max_iter="max_steps")
def em(
    log_lik,
    weights=None,
    *,
    init_weights=None,
    max_steps: int = 1000,
    tol: float = 1e-6,
    warn: bool = True,
) -> MixSQPResult:
    r"""Mixture weights on a fixed grid by the EM algorithm.

    Iterates :math:`p_j \leftarrow p_j d_j` with
    :math:`d_j = \sum_i a_i \exp(\ell_{ij}) / \sum_k p_k \exp(\ell_{ik})` (``a`` the weights
    normalised to sum to one) until the dual gap :math:`\max_j d_j - 1` falls below ``tol``;
    it bounds the objective's distance to the optimum, per unit weight, by
    :math:`\log \max_j d_j`.
    Each step is one pass over the row-normalised likelihood matrix, but convergence is
    sublinear: EM is the baseline :func:`mixsqp` is compared with, and a fallback that
    needs no linear algebra. It cannot reach ``mixsqp``'s accuracy in reasonable time (grid
    points off the support only decay geometrically and are never exactly zero).

    Parameters
    ----------
    log_lik : array of shape (n, m)
        Log-likelihood matrix (``-inf`` allowed; no row ``-inf`` everywhere).
    weights : array of shape (n,), optional
        Non-negative row weights. Default: all ones.
    init_weights : array of shape (m,), optional
        Starting weights; zero entries stay zero. Default: uniform over the grid points with
        positive likelihood for some row, which also replaces a start that gives some
        positively weighted row zero likelihood.
    max_steps : int
        Maximum number of EM steps.
    tol : float
        Stop when the dual gap ``max_j d_j - 1`` is at most this.
    warn : bool
        Emit a :class:`~numpyro_semipar.ConvergenceWarning` when ``tol`` was not reached
        (outside ``jit``/``vmap`` only).

    Returns
    -------
    MixSQPResult
        As for :func:`mixsqp`, except that ``kkt_residual`` holds the dual gap
        ``max_j d_j - 1`` (EM weights off the support decay geometrically but never reach
        zero, so the complementarity part of the KKT residual is not meaningful for EM) and
        ``num_iter`` counts EM steps. ``loglik`` is differentiable by
        the envelope theorem (exact only at the optimum); ``mixing_weights`` carries no
        derivative (use :func:`mixsqp` for that).
    """
    n, m, traced = check_problem(log_lik, weights, init_weights)
    with float64():
        ll, w, init = problem_arrays(log_lik, weights, init_weights)
        p, loglik, num_iter, status, kkt = _em_solve(ll, w, init, int(max_steps), float(tol))
        result = MixSQPResult.from_solver(p, loglik, num_iter, status, kkt)
    if not traced:
        # Float32 sessions get float32 results (see mixsqp's Notes).
        result = to_session_dtypes(result)
    if warn and not traced and not bool(result.converged):
        warnings.warn(
            f"em did not converge: {status_message(status)} ({int(num_iter)} steps), KKT "
            f"residual {float(kkt):.3g} (tol {tol:.3g})",
            ConvergenceWarning,
            stacklevel=2,
        )
    return result
