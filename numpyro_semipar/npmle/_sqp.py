"""The mixSQP iteration (Kim, Carbonetto, Stephens & Anitescu 2020) as a pure JAX loop.

Works on the relaxed problem ``min_x f(x) = -sum_i a_i log(L_i x) + sum_j x_j`` over
``x >= 0`` (``a`` normalised to sum to one), whose minimiser lies on the simplex. Each
iteration forms the gradient ``1 - d`` with ``d = L^T (a / u)``, the Hessian
``H = L^T diag(a / u^2) L`` (exact, or from a truncated SVD of ``L``), solves the
non-negative QP for the Newton point ``y`` with an active-set method, and backtracks along
``y - x`` with an Armijo test. Convergence is judged on the full KKT conditions over all
coordinates, not only over the current support (R mixsqp issue #51).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array, lax

from ._active_set import solve_nonnegative_qp
from ._result import SolverStatus
from ._rowblocks import (
    RowBlocks,
    em_pass,
    feasible_start,
    low_rank_factor,
    lowrank_newton_pass,
    matvec,
    newton_pass,
    rmatvec,
    safe_ratio,
)

__all__ = ["SQPOptions", "sqp_options", "kkt_residual", "em_iterations", "sqp_solve"]

_RUNNING = -1


class SQPOptions(NamedTuple):
    """Static options of the SQP loop (see :func:`numpyro_semipar.npmle.mixsqp`)."""

    max_iter: int = 1000
    max_iter_activeset: int = 20
    num_em_iter: int = 10
    tol: float = 1e-8
    tol_activeset: float = 1e-10
    zero_threshold_solution: float = 1e-8
    zero_threshold_searchdir: float = 1e-14
    sufficient_decrease: float = 0.01
    step_size_reduce: float = 0.75
    min_step_size: float = 1e-8
    rank: int = 0


def sqp_options(num_columns: int, **options) -> SQPOptions:
    """Build :class:`SQPOptions` from keyword options, as plain Python numbers.

    Options left out take :class:`SQPOptions`'s defaults, except ``max_iter_activeset``,
    whose default (also when ``None``) is ``num_columns + 1``; the values are converted to
    the defaults' types, so that they are static (hashable) under ``jit``.

    Raises
    ------
    TypeError
        An option that :class:`SQPOptions` does not have.
    """
    unknown = sorted(set(options) - set(SQPOptions._fields))
    if unknown:
        raise TypeError(f"unknown mixSQP option(s) {unknown}; known: {list(SQPOptions._fields)}")
    if options.get("max_iter_activeset") is None:
        options["max_iter_activeset"] = num_columns + 1
    values = {}
    for name, default in SQPOptions._field_defaults.items():
        values[name] = type(default)(options.get(name, default))
    return SQPOptions(**values)


def kkt_residual(x: Array, d: Array) -> Array:
    """Return ``max(max_j (d_j - 1)_+, max_{j: x_j > 0} |d_j - 1|)``.

    ``d_j = sum_i a_i L_ij / (L_i x)`` with ``a`` summing to one; the relaxed problem's KKT
    conditions are ``d_j <= 1`` everywhere with equality where ``x_j > 0``.
    """
    above = jnp.max(jnp.maximum(d - 1.0, 0.0))
    on_support = jnp.max(jnp.where(x > 0, jnp.abs(d - 1.0), 0.0))
    return jnp.maximum(above, on_support)


def em_iterations(blocks: RowBlocks, x: Array, num_iter: int) -> Array:
    """Run ``num_iter`` EM steps ``x_j <- x_j d_j`` (each keeps ``sum x = 1``)."""

    def body(_, x):
        _, d = em_pass(blocks, x)
        return x * d

    return lax.fori_loop(0, num_iter, body, x)


def _objective_change(a: Array, u: Array, l_dir: Array, sum_step: Array, alpha: Array) -> Array:
    """``f(x + alpha s) - f(x)`` given ``L s``, computed with ``log1p`` to avoid cancellation."""
    t = safe_ratio(jnp.ones_like(u), u) * l_dir
    arg = jnp.maximum(alpha * t, -1.0)
    terms = jnp.where(a > 0, a * jnp.log1p(arg), 0.0)
    return -jnp.sum(terms) + alpha * sum_step


# With a low-rank Hessian, every _STALL_WINDOW iterations the KKT residual must have fallen
# by _STALL_FACTOR; otherwise (or when its line search fails) the loop switches to the exact
# Hessian for good. SQP with a good Hessian converges superlinearly, so a stall means the
# truncated SVD misses curvature that matters. (On a 100000 x 100 Gaussian problem the rank-24
# run once stood at KKT 0.04 after 64 iterations, against 6 with the exact Hessian; the cause
# was the QP's ridge, now per column, and the run converges in 16 either way: this is a guard.)
_STALL_WINDOW = 4
_STALL_FACTOR = 0.5


class _State(NamedTuple):
    x: Array
    num_iter: Array
    status: Array
    exact_hessian: Array
    kkt_checkpoint: Array


def sqp_solve(
    blocks: RowBlocks, x0: Array, fixed: Array, options: SQPOptions
) -> tuple[Array, Array, Array]:
    """Run mixSQP from ``x0``, holding the ``fixed`` coordinates at zero.

    ``fixed`` marks the columns with zero likelihood for every positively weighted row (see
    :func:`~numpyro_semipar.npmle._rowblocks.inspect_blocks`); ``x0`` is any non-negative
    start with positive mass on the other columns.

    Returns
    -------
    x : Array of shape (m,)
        Final iterate (not yet renormalised).
    num_iter : Array
        SQP iterations taken.
    status : Array
        A :class:`SolverStatus` code for how the loop ended.
    """
    opt = options
    x = jnp.where(fixed, 0.0, x0)
    x = feasible_start(blocks, x / jnp.sum(x), fixed)
    x = em_iterations(blocks, x, opt.num_em_iter)
    basis, projected = low_rank_factor(blocks, opt.rank) if opt.rank > 0 else (None, None)

    threshold = opt.zero_threshold_solution
    m = x.shape[0]

    def zero_small(x, u_lower):
        """Zero the coordinates below the threshold, but never a row's last support.

        A positively weighted row (however small its weight) whose support columns all fall
        below the threshold would get likelihood zero: log-likelihood -inf and a failed line
        search. ``u_lower`` (block shape) bounds ``L x`` from below; rows with
        ``u_lower > m * threshold`` keep mass after zeroing (``L`` is at most 1), so the exact
        repair pass runs only when some row is at risk.
        """
        zeroed = jnp.where(fixed | (x < threshold), 0.0, x)
        at_risk = jnp.any((blocks.weights > 0) & (u_lower <= m * threshold))

        def repair(_):
            broken = (blocks.weights > 0) & ~(matvec(blocks, zeroed) > 0)
            restore = rmatvec(blocks, broken.astype(x.dtype)) > 0
            return jnp.where(restore & ~fixed, x, zeroed)

        return lax.cond(at_risk, repair, lambda _: zeroed, None)

    def cond(state):
        return state.status == _RUNNING

    def body(state):
        x = state.x
        if basis is None:
            u, d, hess = newton_pass(blocks, x)
        else:
            u, d, hess = lax.cond(
                state.exact_hessian,
                lambda x: newton_pass(blocks, x),
                lambda x: lowrank_newton_pass(blocks, basis, projected, x),
                x,
            )
        kkt = kkt_residual(x, d)
        converged = kkt <= opt.tol

        def step(_):
            grad = 1.0 - d
            qp = solve_nonnegative_qp(
                hess,
                grad,
                x,
                fixed,
                max_iter=opt.max_iter_activeset,
                tol=opt.tol_activeset,
                zero_searchdir=opt.zero_threshold_searchdir,
            )
            direction = qp.y
            slope = jnp.dot(grad, direction)
            l_dir = matvec(blocks, direction)
            sum_step = jnp.sum(direction)

            def change(alpha):
                return _objective_change(blocks.weights, u, l_dir, sum_step, alpha)

            def ls_cond(carry):
                alpha, delta = carry
                armijo = delta <= opt.sufficient_decrease * alpha * slope
                return (~armijo) & (alpha >= opt.min_step_size)

            def ls_body(carry):
                alpha = carry[0] * opt.step_size_reduce
                return alpha, change(alpha)

            one = jnp.asarray(1.0, x.dtype)
            alpha, delta = lax.while_loop(ls_cond, ls_body, (one, change(one)))
            accepted = (delta <= opt.sufficient_decrease * alpha * slope) & (slope < 0)
            # Clipping at zero only raises L x above the linear u + alpha L d: a lower bound.
            x_step = zero_small(jnp.maximum(x + alpha * direction, 0.0), u + alpha * l_dir)
            x_new = jnp.where(accepted, x_step, x)
            return x_new, accepted

        x_new, accepted = lax.cond(converged, lambda _: (x, jnp.asarray(True)), step, None)
        num_iter = state.num_iter + jnp.where(converged, 0, 1)
        # Low-rank Hessian: a failed line search or a stall switches to the exact Hessian
        # (and the iteration is retried from the same point) instead of ending the run.
        checkpoint = (state.num_iter % _STALL_WINDOW == 0) & (state.num_iter > 0)
        stalled = checkpoint & (kkt > _STALL_FACTOR * state.kkt_checkpoint)
        retry = ~accepted & ~state.exact_hessian
        exact_hessian = state.exact_hessian | stalled | retry
        kkt_checkpoint = jnp.where(checkpoint, kkt, state.kkt_checkpoint)
        status = jnp.where(
            converged,
            SolverStatus.CONVERGED,
            jnp.where(
                ~accepted & ~retry,
                SolverStatus.LINE_SEARCH_FAILED,
                jnp.where(num_iter >= opt.max_iter, SolverStatus.MAX_ITER, _RUNNING),
            ),
        )
        return _State(x_new, num_iter, status, exact_hessian, kkt_checkpoint)

    init = _State(
        zero_small(x, matvec(blocks, x)),
        jnp.asarray(0),
        jnp.asarray(_RUNNING),
        jnp.asarray(basis is None),
        jnp.asarray(jnp.inf, x.dtype),
    )
    if opt.max_iter <= 0:
        return init.x, init.num_iter, jnp.asarray(SolverStatus.MAX_ITER)
    final = lax.while_loop(cond, body, init)
    return final.x, final.num_iter, final.status
