"""The profiled mixing weights as a differentiable function of the log-likelihood matrix.

Given an (n, m) log-likelihood matrix ``ℓ`` and row weights ``a``, the mixing weights
``p*(ℓ, a) = argmax_p Σ_i a_i log Σ_j p_j exp(ℓ_ij)`` over the simplex come from the mixSQP
solver. This module attaches the derivative rules (notes: ``npmle.md``, "Derivatives of the
profile log-likelihood"):

* the profile value ``L(ℓ, a) = Σ_i a_i log u_i`` with ``u_i = Σ_j p*_j exp(ℓ_ij)`` has the
  envelope-theorem tangent ``dL = Σ_i a_i Σ_j r_ij dℓ_ij + Σ_i da_i log u_i``, where
  ``r_ij = p*_j exp(ℓ_ij) / u_i`` are the posterior weights: no linear solve;
* the weights have the implicit-function tangent ``dp*_S = H_SS⁻¹ (v − μ 1)`` on the support
  ``S`` (zero elsewhere), with ``H = Σ_i a_i w_iS w_iSᵀ``, ``w_ij = exp(ℓ_ij) / u_i``,
  ``v_j = Σ_i a_i w_ij (dℓ_ij − Σ_k r_ik dℓ_ik) + Σ_i da_i w_ij`` and ``μ`` the multiplier
  that keeps ``Σ_j dp*_j = 0`` exactly.

Both rules are written in differentiable operations and the rule of :func:`profile_core`
calls :func:`profile_core` itself for the weights it needs, so ``jax.hessian`` of a composition
``θ ↦ ℓ(θ) ↦ L`` is exact: ``ℓ_θθ + Bᵀ H_SS⁻¹ B`` (the correction for not knowing the mixing
distribution). Everything is computed from log-space quantities, so rows whose best
log-likelihood is far below ``-745`` give finite derivatives. Memory is O(n·m) per tangent.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_factor, cho_solve
from jax.scipy.special import logsumexp

__all__ = ["profile_at", "profile_core", "safe_log"]

# A grid point is on the support when its weight exceeds mixSQP's zero threshold (1e-8, the R
# default), or when it has any positive weight and its KKT gap (A - d_j) / A is at the level of
# the solver's tolerance: the gap, not the weight, separates support points with tiny mass from
# leftovers of an unfinished solve.
_SUPPORT_WEIGHT = 1e-8
_SUPPORT_GAP = 1e-6
# Relative ridge on H_SS: cond(H_SS) is typically 1e4-1e5 (adjacent support pairs), so a
# 1e-13 ridge moves the solution by ~1e-8 relative while keeping the Cholesky defined.
_RIDGE = 1e-13


def safe_log(p: jax.Array) -> jax.Array:
    """``log p`` with ``-inf`` (and a zero derivative) where ``p == 0``."""
    positive = p > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, p, 1.0)), -jnp.inf)


def _forward_solve(log_lik: jax.Array, weights: jax.Array) -> jax.Array:
    """Mixing weights from the package's mixSQP solver (no derivative needed here)."""
    # Imported at call time: the subpackage's __init__ imports this module too.
    from . import mixsqp

    result = mixsqp(jax.lax.stop_gradient(log_lik), jax.lax.stop_gradient(weights), warn=False)
    p = jnp.clip(result.mixing_weights, 0.0, None)
    return p / jnp.sum(p)


def _log_row_likelihood(log_lik: jax.Array, p: jax.Array) -> jax.Array:
    # log u_i = logsumexp_j(ℓ_ij + log p_j), finite whenever one support entry is finite.
    return logsumexp(log_lik + safe_log(p)[None, :], axis=1)


def _weights_tangent(log_lik, weights, p, dlog_lik, dweights):
    """Implicit-function tangent of the optimal weights (see the module docstring)."""
    finite = jnp.isfinite(log_lik)
    log_u = _log_row_likelihood(log_lik, p)
    # w_ij = G_ij / u_i from logs: bounded by 1 / p_j on the support, never overflows.
    w = jnp.where(finite, jnp.exp(jnp.where(finite, log_lik, 0.0) - log_u[:, None]), 0.0)
    total = jnp.sum(weights)
    gap = (total - weights @ w) / total
    support = (p > _SUPPORT_WEIGHT) | ((p > 0) & (gap < _SUPPORT_GAP))
    w = jnp.where(support[None, :], w, 0.0)
    # Tangents of -inf entries are meaningless (often NaN): those entries have G_ij = 0.
    dlog_lik = jnp.where(finite, dlog_lik, 0.0)
    r = w * p[None, :]
    centred = dlog_lik - jnp.sum(r * dlog_lik, axis=1, keepdims=True)
    v = jnp.sum(weights[:, None] * w * centred, axis=0) + dweights @ w
    v = jnp.where(support, v, 0.0)

    # H_SS embedded in an m×m matrix with a scaled identity off the support, so that shapes
    # stay static under jit/vmap and the off-support solution is exactly zero.
    hess = (weights[:, None] * w).T @ w
    both = support[:, None] & support[None, :]
    scale = jnp.max(jnp.where(support, jnp.diag(hess), 0.0))
    eye = jnp.eye(p.shape[0], dtype=hess.dtype)
    hess = jnp.where(both, hess, 0.0) + scale * (jnp.where(support, _RIDGE, 1.0)[:, None] * eye)
    factor = cho_factor(hess, lower=True)
    ones = support.astype(hess.dtype)
    x = cho_solve(factor, v)
    y = cho_solve(factor, ones)
    # Multiplier of Σ dp = 0 (equals Σ da at an exact optimum, but projecting is exact always).
    mu = jnp.sum(x * ones) / jnp.sum(y * ones)
    return jnp.where(support, x - mu * y, 0.0)


def _tangents(log_lik, weights, p, dlog_lik, dweights):
    """Tangents of (profile value, optimal weights) at the optimum ``p``."""
    log_u = _log_row_likelihood(log_lik, p)
    finite = jnp.isfinite(log_lik)
    posterior = jnp.where(
        finite,
        jnp.exp(jnp.where(finite, log_lik, 0.0) + safe_log(p)[None, :] - log_u[:, None]),
        0.0,
    )
    dlog_lik_finite = jnp.where(finite, dlog_lik, 0.0)
    dloglik = jnp.sum(weights[:, None] * posterior * dlog_lik_finite) + dweights @ log_u
    return dloglik, _weights_tangent(log_lik, weights, p, dlog_lik, dweights)


@jax.custom_jvp
def profile_core(log_lik: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Profile log-likelihood and optimal mixing weights of one log-likelihood matrix.

    Parameters
    ----------
    log_lik : array of shape (n, m)
        Log-likelihoods ``ℓ_ij``; ``-inf`` marks a zero likelihood. Rows with zero weight must
        be finite (callers replace them by zeros).
    weights : array of shape (n,)
        Non-negative row weights ``a_i``.

    Returns
    -------
    loglik : scalar
        ``Σ_i a_i log Σ_j p*_j exp(ℓ_ij)`` (total, not averaged).
    mixing_weights : array of shape (m,)
        The optimal ``p*`` on the simplex.
    """
    p = _forward_solve(log_lik, weights)
    return jnp.sum(weights * _log_row_likelihood(log_lik, p)), p


@profile_core.defjvp
def _profile_core_jvp(primals, tangents):
    log_lik, weights = primals
    dlog_lik, dweights = tangents
    # Calling the function itself (not the solver) lets an outer differentiation see the
    # weights' own tangent rule: that is what makes second derivatives exact.
    loglik, p = profile_core(log_lik, weights)
    return (loglik, p), _tangents(log_lik, weights, p, dlog_lik, dweights)


@jax.custom_jvp
def profile_at(
    log_lik: jax.Array, weights: jax.Array, mixing_weights: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """:func:`profile_core` with the optimum supplied instead of solved for.

    ``mixing_weights`` must be the optimum for ``(log_lik, weights)``. Derivatives of first and
    second order at this point are those of :func:`profile_core` (the solver is not traced
    again, which keeps post-estimation programs small); ``mixing_weights`` has no tangent.
    """
    return jnp.sum(weights * _log_row_likelihood(log_lik, mixing_weights)), mixing_weights


@profile_at.defjvp
def _profile_at_jvp(primals, tangents):
    log_lik, weights, mixing_weights = primals
    dlog_lik, dweights, _ = tangents
    loglik, p = profile_at(log_lik, weights, mixing_weights)
    return (loglik, p), _tangents(log_lik, weights, p, dlog_lik, dweights)
