"""``em``: the EM algorithm for mixture weights on a fixed grid (baseline and fallback)."""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._warnings import ConvergenceWarning
from .._x64 import float64
from ._derivatives import optimal_value
from ._result import MixSQPResult, SolverStatus, status_message
from ._rowblocks import em_pass, make_row_blocks
from ._sqp import nonzero_columns
from ._validation import as_float64, check_init_weights, check_log_lik, check_weights, is_traced

__all__ = ["em"]

# Jitted so the log-space reduction fuses: eagerly it would materialise several n x m arrays.
_optimal_value_jit = jax.jit(optimal_value)


def _dual_gap(d):
    # max_j d_j - 1 >= 0 at every point of the simplex (sum_j x_j d_j = 1); the objective gap
    # per unit weight is at most log(max_j d_j), so this bounds the suboptimality.
    return jnp.max(d) - 1.0


@functools.partial(jax.jit, static_argnums=(3, 4))
def _em_impl(log_lik, weights, init, max_iter: int, tol: float):
    blocks, _ = make_row_blocks(log_lik, weights)
    fixed = ~nonzero_columns(blocks)
    x = jnp.where(fixed, 0.0, init)
    x = x / jnp.sum(x)

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
    converged = kkt <= tol
    status = jnp.where(converged, SolverStatus.CONVERGED, SolverStatus.MAX_ITER)
    return x, num_iter, status.astype(jnp.int32), kkt


def em(
    log_lik,
    weights=None,
    *,
    init_weights=None,
    max_iter: int = 1000,
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
        positive likelihood for some row.
    max_iter : int
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
    check_log_lik(log_lik)
    n, m = np.shape(log_lik)
    if weights is not None:
        check_weights(weights, n)
    if init_weights is not None:
        check_init_weights(init_weights, m)
    traced = is_traced(log_lik, weights, init_weights)
    with float64():
        ll = as_float64(log_lik)
        w = jnp.ones(n, jnp.float64) if weights is None else as_float64(weights)
        init = jnp.ones(m, jnp.float64) if init_weights is None else as_float64(init_weights)
        x, num_iter, status, kkt = _em_impl(
            lax.stop_gradient(ll), lax.stop_gradient(w), init, int(max_iter), float(tol)
        )
        p = lax.stop_gradient(x / jnp.sum(x))
        result = MixSQPResult(
            mixing_weights=p,
            loglik=_optimal_value_jit(ll, w, p),
            converged=status == SolverStatus.CONVERGED,
            num_iter=num_iter,
            kkt_residual=kkt,
            status=status,
        )
    if warn and not traced and not bool(result.converged):
        warnings.warn(
            f"em did not converge: {status_message(status)} ({int(num_iter)} steps), KKT "
            f"residual {float(kkt):.3g} (tol {tol:.3g})",
            ConvergenceWarning,
            stacklevel=2,
        )
    return result
