"""The convex block step of C-Lasso and the outer PLS/PPC iterations, in JAX.

For group ``k`` with the other groups' penalty factors frozen into unit weights
``w_i = prod_{l != k} ||beta_i^(l) - alpha_l||``, Su, Shi and Phillips (2016) solve

    min_{beta, alpha_k} sum_i [beta_iᵀ q_i beta_i - 2 b_iᵀ beta_i]
                        + (λ/N) sum_i w_i ||beta_i - alpha_k||,

with ``q_i = X_iᵀX_i/(NT)`` and ``b_i = X_iᵀy_i/(NT)``: a weighted group lasso (second-order cone
program). Writing ``beta_i = alpha_k + delta_i`` and profiling ``alpha_k`` out in closed form
leaves a convex quadratic in ``delta`` plus a separable group penalty, which FISTA solves with the
group soft-threshold as proximal map. The prox returns ``delta_i = 0`` exactly, so the
classification ``beta_i == alpha_k`` is exact shrinkage, not a distance threshold.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._deprecation import renamed_arguments
from ._pca import annihilator, principal_factors
from ._ppc_missing import observed_factor_moments, observed_factor_update

__all__ = [
    "CLassoState",
    "classo_init",
    "classo_run",
    "group_soft_threshold",
    "solve_block",
    "unit_coefficients",
]


def group_soft_threshold(v: jnp.ndarray, threshold: jnp.ndarray) -> jnp.ndarray:
    """Prox of ``sum_i threshold_i ||v_i||``: shrink each row of ``v`` towards zero.

    Rows with ``||v_i|| <= threshold_i`` come back exactly zero.
    """
    norm = jnp.sqrt(jnp.sum(v**2, axis=-1))
    safe = jnp.where(norm > 0.0, norm, 1.0)
    scale = jnp.where(norm > threshold, 1.0 - threshold / safe, 0.0)
    return v * scale[..., None]


def _matvec(q, v):
    # Batched (N, p, p) @ (N, p) as one fused elementwise kernel (tiny p: cheaper than dot).
    return jnp.sum(q * v[:, None, :], axis=-1)


def _profiled_alpha(q, b_sum, q_sum_inv, delta):
    # alpha*(delta) = (sum q_i)^{-1} sum (b_i - q_i delta_i): exact minimiser over alpha_k.
    return q_sum_inv @ (b_sum - jnp.sum(_matvec(q, delta), axis=0))


@renamed_arguments(max_iter="max_steps")
def solve_block(q, b, weights, penalty, delta0, lipschitz, *, tol=1e-10, max_steps=2000):
    """Solve one C-Lasso block problem by FISTA with adaptive restart.

    Parameters
    ----------
    q : array of shape (N, p, p)
        ``X_iᵀX_i / (NT)``.
    b : array of shape (N, p)
        ``X_iᵀy_i / (NT)``.
    weights : array of shape (N,)
        Frozen penalty factors ``w_i``.
    penalty : scalar
        ``λ / N``.
    delta0 : array of shape (N, p)
        Warm start for ``delta_i = beta_i - alpha_k``.
    lipschitz : array of shape (N,)
        ``2 λ_max(q_i)``; the step metric ``diag(L_i)`` majorises the profiled Hessian.
    tol, max_steps
        Stop when ``max |delta_new - delta| <= tol * (1 + max |delta|)``.

    Returns
    -------
    delta : array of shape (N, p)
        Exactly zero rows for units shrunk onto ``alpha_k``.
    alpha : array of shape (p,)
    num_iter : int
    """
    q_sum_inv = jnp.linalg.inv(jnp.sum(q, axis=0))
    b_sum = jnp.sum(b, axis=0)
    thresholds = penalty * weights / lipschitz

    def prox_grad(z):
        alpha = _profiled_alpha(q, b_sum, q_sum_inv, z)
        grad = 2.0 * (_matvec(q, alpha[None, :] + z) - b)
        return group_soft_threshold(z - grad / lipschitz[:, None], thresholds)

    def cond(state):
        _, _, _, it, change = state
        return (it < max_steps) & (change > 0.0)

    def body(state):
        delta, z, t, it, _ = state
        new = prox_grad(z)
        # Gradient-based restart (O'Donoghue and Candès 2015) keeps FISTA monotone-ish.
        restart = jnp.sum(lipschitz[:, None] * (z - new) * (new - delta)) > 0.0
        t_next = (1.0 + jnp.sqrt(1.0 + 4.0 * t**2)) / 2.0
        momentum = jnp.where(restart, 0.0, (t - 1.0) / t_next)
        z_next = new + momentum * (new - delta)
        t_next = jnp.where(restart, 1.0, t_next)
        scale = 1.0 + jnp.max(jnp.abs(new))
        change = jnp.max(jnp.abs(new - delta)) - tol * scale
        return new, z_next, t_next, it + 1, change

    init = (delta0, delta0, jnp.asarray(1.0, delta0.dtype), 0, jnp.asarray(jnp.inf, delta0.dtype))
    delta, _, _, num_iter, _ = jax.lax.while_loop(cond, body, init)
    return delta, _profiled_alpha(q, b_sum, q_sum_inv, delta), num_iter


class CLassoState(NamedTuple):
    """State of the outer C-Lasso (PLS) or Su–Ju (PPC) iterations.

    Attributes
    ----------
    alpha : array of shape (K, p)
        Group centres.
    delta : array of shape (K, N, p)
        ``beta_i^(k) - alpha_k`` from the ``k``-th block step (exact zeros mark shrinkage).
    factors : array of shape (T, R)
        Current factors (``R = 0`` for C-Lasso with fixed effects).
    num_iter : int
        Outer iterations done.
    change : scalar
        Relative L1 change of ``(alpha, beta)`` in the last outer iteration.
    num_groups : int scalar
        Number of active groups ``K``; rows ``K..`` of ``alpha`` and ``delta`` are padding, so
        one compiled loop serves every ``K`` up to the padded size.
    """

    alpha: jnp.ndarray
    delta: jnp.ndarray
    factors: jnp.ndarray
    num_iter: jnp.ndarray
    change: jnp.ndarray
    num_groups: jnp.ndarray


def unit_coefficients(alpha, delta, num_groups=None, relative=False):
    """Per-unit C-Lasso estimates and group assignment.

    Each unit takes the block whose ``||delta_i^(k)||`` is smallest: ``beta_i = alpha_g +
    delta_i^(g)``. ``shrunk_i`` says whether that distance is exactly zero. Only the first
    ``num_groups`` blocks (default: all) are active.

    With ``relative=True`` the distance is ``||delta_i^(k)|| / ||alpha_k||``, the rule of
    Stata's classifylasso; it differs only for units shrunk onto no centre.

    Returns
    -------
    beta : array of shape (N, p)
    group : int array of shape (N,)
    shrunk : bool array of shape (N,)
    """
    norms = jnp.sqrt(jnp.sum(delta**2, axis=-1))  # (K, N)
    score = norms
    if relative:
        size = jnp.sqrt(jnp.sum(alpha**2, axis=-1))[:, None]
        # A zero centre attracts only units shrunk exactly onto it.
        score = jnp.where(
            size > 0.0, norms / jnp.where(size > 0.0, size, 1.0), jnp.where(norms == 0, 0, jnp.inf)
        )
    if num_groups is not None:
        active = jnp.arange(delta.shape[0])[:, None] < num_groups
        score = jnp.where(active, score, jnp.inf)
        norms = jnp.where(active, norms, jnp.inf)
    group = jnp.argmin(score, axis=0)
    chosen = jnp.take_along_axis(delta, group[None, :, None], axis=0)[0]
    distance = jnp.take_along_axis(norms, group[None, :], axis=0)[0]
    return alpha[group] + chosen, group, distance == 0.0


def classo_init(beta_tilde, centres, factors, num_groups=None) -> CLassoState:
    """Start every block from the preliminary estimates and the initial centres.

    ``centres`` may carry padding rows beyond the first ``num_groups`` (default: all rows).
    """
    delta = beta_tilde[None, :, :] - centres[:, None, :]
    k = centres.shape[0] if num_groups is None else num_groups
    inf = jnp.asarray(jnp.inf, beta_tilde.dtype)
    return CLassoState(centres, delta, factors, jnp.asarray(0), inf, jnp.asarray(k))


def _moments(y, x, factors):
    n, t = y.shape
    m = annihilator(factors)
    mx = jnp.einsum("ts,isp->itp", m, x)
    q = jnp.einsum("itp,itq->ipq", mx, x) / (n * t)
    b = jnp.einsum("itp,it->ip", mx, y) / (n * t)
    return q, b


def _sweep(state: CLassoState, q, b, penalty, block_tol, block_max_steps):
    rows = jnp.arange(state.alpha.shape[0])[:, None]
    lipschitz = 2.0 * jnp.linalg.eigvalsh(q)[:, -1]
    lipschitz = jnp.maximum(lipschitz, 1e-12 * jnp.max(lipschitz))

    def one_block(k, carry):
        alpha, delta = carry
        norms = jnp.sqrt(jnp.sum(delta**2, axis=-1))
        others = (rows != k) & (rows < state.num_groups)
        weights = jnp.prod(jnp.where(others, norms, 1.0), axis=0)
        dk, ak, _ = solve_block(
            q, b, weights, penalty, delta[k], lipschitz, tol=block_tol, max_steps=block_max_steps
        )
        return alpha.at[k].set(ak), delta.at[k].set(dk)

    return jax.lax.fori_loop(0, state.num_groups, one_block, (state.alpha, state.delta))


def _relative_l1(new, old):
    return jnp.sum(jnp.abs(new - old)) / jnp.maximum(jnp.sum(jnp.abs(old)), 1e-300)


@renamed_arguments(block_max_iter="block_max_steps")
@partial(jax.jit, static_argnames=("num_factors", "num_steps", "block_max_steps", "unit_effects"))
def classo_run(
    state: CLassoState,
    y,
    x,
    penalty,
    *,
    num_factors: int,
    num_steps: int,
    tol: float = 1e-4,
    block_tol: float = 1e-10,
    block_max_steps: int = 2000,
    observed=None,
    unit_effects: bool = False,
) -> CLassoState:
    """Run up to ``num_steps`` outer iterations, stopping early at convergence.

    One outer iteration is a sweep of block steps ``k = 1..K`` on the data projected off the
    current factors, followed (when ``num_factors > 0``) by the principal-components update
    ``F = sqrt(T) × top eigenvectors of sum_i (Y_i - X_i beta_i)(Y_i - X_i beta_i)ᵀ``.
    Convergence: relative L1 changes of ``alpha`` and ``beta`` both below ``tol``.

    Parameters
    ----------
    state : CLassoState
    y : array of shape (N, T)
        Dependent variable (within-transformed for fixed effects).
    x : array of shape (N, T, p)
    penalty : scalar
        ``λ / N``.
    num_factors : int
        ``R``; ``0`` for the SSP panel with unit fixed effects.
    num_steps : int
        Largest number of outer iterations in this call.
    tol, block_tol, block_max_steps
        Outer and block-step tolerances.
    observed : bool array of shape (N, T), optional
        Observed cells of an unbalanced panel (``y``, ``x`` zero elsewhere). The block steps
        then use each unit's observed periods projected off the factors (the criterion
        averaged over the observed cells) and the factor update is the EM-type step (missing
        cells completed with the fitted common component, then principal components).
    unit_effects : bool
        With ``observed``: unit effects besides the factors (profiled out like loadings on a
        constant factor). Balanced panels remove them beforehand.

    Returns
    -------
    CLassoState
    """

    def moments(factors):
        if observed is None:
            return _moments(y, x, factors)
        return observed_factor_moments(y, x, factors, observed, unit_effects=unit_effects)

    if num_factors == 0:
        fixed = moments(state.factors)

    def cond(carry):
        s, steps = carry
        return (steps < num_steps) & (s.change > tol)

    def body(carry):
        s, steps = carry
        q, b = fixed if num_factors == 0 else moments(s.factors)
        alpha, delta = _sweep(s, q, b, penalty, block_tol, block_max_steps)
        # Only active rows count (padding rows never change and would dilute the change).
        active = (jnp.arange(alpha.shape[0]) < s.num_groups)[:, None]
        beta_old = jnp.where(active[..., None], s.alpha[:, None, :] + s.delta, 0.0)
        beta_new = jnp.where(active[..., None], alpha[:, None, :] + delta, 0.0)
        alpha_change = _relative_l1(jnp.where(active, alpha, 0.0), jnp.where(active, s.alpha, 0.0))
        change = jnp.maximum(alpha_change, _relative_l1(beta_new, beta_old))
        factors = s.factors
        if num_factors > 0:
            beta_unit, _, _ = unit_coefficients(alpha, delta, s.num_groups)
            resid = y - jnp.einsum("itp,ip->it", x, beta_unit)
            if observed is None:
                factors, _, _ = principal_factors(resid, num_factors)
            else:
                factors = observed_factor_update(
                    resid, s.factors, observed, num_factors, unit_effects
                )[0]
        new = CLassoState(alpha, delta, factors, s.num_iter + 1, change, s.num_groups)
        return new, steps + 1

    state, _ = jax.lax.while_loop(cond, body, (state, 0))
    return state
