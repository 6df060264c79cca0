"""Log-space posterior responsibilities and the derivative rules of the NPMLE solution.

Two rules, both written in differentiable JAX operations so that they can be differentiated
again (``jax.hessian`` of a composite ``theta -> log_lik(theta) -> mixsqp -> loglik`` is exact):

* the optimal value ``V(l, a) = sum_i a_i log sum_j p*_j exp(l_ij)`` has, by the envelope
  theorem, ``dV = sum_ij a_i r_ij dl_ij + sum_i da_i log u_i`` with the posterior
  responsibilities ``r_ij = p*_j exp(l_ij) / u_i`` computed in log space;
* the optimal weights ``p*`` move, on the active support ``S``, by the implicit-function
  derivative ``dp*_S = H_SS^{-1} (b - c 1)`` of the KKT system ``d_S(p) = lambda 1``,
  ``1^T p_S = 1`` (``dp*`` is 0 off ``S``), where ``q_ij = exp(l_ij) / u_i``,
  ``H_SS = sum_i a_i q_iS q_iS^T``, ``b_j = sum_i a_i q_ij (dl_ij - sum_k r_ik dl_ik)
  + sum_i da_i q_ij`` and ``c`` keeps ``sum_S dp_j = 0`` (the multiplier's change). At the
  optimum ``H_SS p_S = A 1`` so this is the rule of Bunting, Diegert & Maurel (2025).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.linalg
from jax import Array
from jax.scipy.special import logsumexp

__all__ = [
    "active_support",
    "log_marginal",
    "log_responsibilities",
    "optimal_value",
    "ratio_matrix",
    "safe_log",
    "support_from_gap",
    "support_solve",
    "weights_tangent",
]

# q_ij = exp(l_ij - log u_i) is bounded by A / a_i at the optimum for rows with a_i > 0; rows
# with zero weight can exceed that, so the exponent is capped to keep their products finite.
_MAX_EXPONENT = 700.0
# Relative ridge on H_SS: keeps its Cholesky factorisation defined when columns repeat while
# perturbing the tangent by about 1e-13 * cond(H_SS) (cond is typically 1e4-1e5 on fine grids,
# where fitted supports come in adjacent pairs), far below the accuracy of the optimum itself.
_SUPPORT_RIDGE = 1e-13


def _mask_neg_inf(log_lik: Array) -> Array:
    # Zeroes the tangent of -inf entries (their tangent may be NaN, e.g. from log(0)).
    return jnp.where(log_lik > -jnp.inf, log_lik, -jnp.inf)


def safe_log(p: Array) -> Array:
    """``log p`` with ``-inf`` (and a zero derivative) where ``p == 0``."""
    positive = p > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, p, 1.0)), -jnp.inf)


def log_marginal(log_lik: Array, mixing_weights: Array) -> Array:
    """Return ``log u_i = log sum_j p_j exp(l_ij)`` for every row, computed in log space.

    Parameters
    ----------
    log_lik : Array of shape (..., m)
        Log-likelihoods (``-inf`` allowed).
    mixing_weights : Array of shape (m,)
        Non-negative weights ``p``; zero weights contribute nothing (no ``log 0`` NaNs).

    Returns
    -------
    Array of shape (...,)
        The log marginal likelihood of each row; exact even when every ``l_ij`` is far
        below the float64 underflow threshold (about -745).
    """
    return logsumexp(_mask_neg_inf(log_lik) + safe_log(mixing_weights), axis=-1)


def log_responsibilities(log_lik: Array, mixing_weights: Array) -> tuple[Array, Array]:
    """Posterior log-responsibilities ``log r_ij = log p_j + l_ij - log u_i``, in log space.

    ``r_ij`` is the posterior probability that observation ``i`` comes from grid point ``j``
    under the mixing weights ``p``. By the envelope theorem, ``a_i r_ij`` (``a`` the row
    weights) is the gradient of the profiled log-likelihood with respect to ``l_ij``, so the
    gradient with respect to a parameter of ``l`` is one vector-Jacobian product with this
    cotangent.

    Parameters
    ----------
    log_lik : Array of shape (n, m)
        Log-likelihoods (``-inf`` allowed).
    mixing_weights : Array of shape (m,)
        Non-negative weights ``p``.

    Returns
    -------
    log_r : Array of shape (n, m)
        Log-responsibilities (``-inf`` where ``p_j = 0`` or ``l_ij = -inf``); each row with
        a finite marginal exponentiates to a probability vector.
    log_u : Array of shape (n,)
        Log marginal likelihoods ``log u_i`` (see :func:`log_marginal`).
    """
    z = _mask_neg_inf(log_lik) + safe_log(mixing_weights)
    log_u = logsumexp(z, axis=-1)
    finite = jnp.isfinite(log_u)[..., None]
    log_r = jnp.where(finite, z - jnp.where(finite, log_u[..., None], 0.0), -jnp.inf)
    return log_r, log_u


@jax.custom_jvp
def optimal_value(log_lik: Array, weights: Array, mixing_weights: Array) -> Array:
    """Return ``sum_i w_i log sum_j p_j exp(l_ij)``, differentiated by the envelope theorem.

    The derivative ignores the tangent of ``mixing_weights``: call it with the optimal
    weights (as :func:`numpyro_semipar.npmle.mixsqp` does), where the first-order effect of
    moving ``p`` along the simplex vanishes.
    """
    log_u = log_marginal(log_lik, mixing_weights)
    return jnp.sum(jnp.where(weights > 0, weights * log_u, 0.0))


@optimal_value.defjvp
def _optimal_value_jvp(primals, tangents):
    log_lik, weights, mixing_weights = primals
    dlog_lik, dweights, _ = tangents
    value = optimal_value(log_lik, weights, mixing_weights)
    log_r, log_u = log_responsibilities(log_lik, mixing_weights)
    resp = jnp.exp(log_r)
    dl = jnp.where(log_lik > -jnp.inf, dlog_lik, 0.0)
    row = jnp.sum(resp * dl, axis=-1)
    tangent = jnp.sum(jnp.where(weights > 0, weights * row, 0.0))
    tangent = tangent + jnp.sum(jnp.where(jnp.isfinite(log_u), dweights * log_u, 0.0))
    return value, tangent


def active_support(log_lik: Array, weights: Array, mixing_weights: Array, gap_tol: float):
    """Support used by the implicit derivative: ``p_j > 0`` and a KKT gap below ``gap_tol``.

    The gap is ``1 - d_j / A`` with ``d_j = sum_i a_i exp(l_ij) / u_i``; coordinates with
    positive weight but a large gap (only possible before convergence) are left out, and zero
    weights are always left out, so the derivative is the one-sided one at degenerate points
    (a grid point about to enter the support).
    """
    log_u = log_marginal(log_lik, mixing_weights)
    q = ratio_matrix(log_lik, log_u)
    d = jnp.where(weights > 0, weights, 0.0) @ q
    return support_from_gap(mixing_weights, d, jnp.sum(weights), gap_tol)


def support_from_gap(mixing_weights: Array, d: Array, total: Array, gap_tol: float) -> Array:
    """``p_j > 0`` and ``d_j >= total (1 - gap_tol)`` (see :func:`active_support`)."""
    support = (mixing_weights > 0) & (d >= total * (1.0 - gap_tol))
    return jax.lax.stop_gradient(support)


def ratio_matrix(log_lik: Array, log_u: Array) -> Array:
    """``q_ij = exp(l_ij) / u_i`` (0 for rows whose marginal is 0), from log-space inputs."""
    finite = jnp.isfinite(log_u)[..., None]
    expo = jnp.where(
        finite, _mask_neg_inf(log_lik) - jnp.where(finite, log_u[..., None], 0.0), -jnp.inf
    )
    return jnp.exp(jnp.minimum(expo, _MAX_EXPONENT))


def weights_tangent(
    log_lik: Array,
    weights: Array,
    mixing_weights: Array,
    dlog_lik: Array,
    dweights: Array,
    support: Array,
) -> Array:
    """Implicit-function tangent of the optimal mixing weights (see the module docstring).

    Parameters
    ----------
    log_lik, weights, mixing_weights : Array
        The problem ``(n, m)``, ``(n,)`` and its solution ``(m,)``.
    dlog_lik, dweights : Array
        Tangents of ``log_lik`` and ``weights``.
    support : Array of shape (m,), bool
        The active support ``S`` (see :func:`active_support`).

    Returns
    -------
    Array of shape (m,)
        ``dp``: ``H_SS^{-1} (b - c 1)`` on ``S`` and 0 elsewhere; sums to zero.
    """
    p = mixing_weights
    log_u = log_marginal(log_lik, p)
    q = ratio_matrix(log_lik, log_u)
    a = jnp.where(weights > 0, weights, 0.0)
    dl = jnp.where(log_lik > -jnp.inf, dlog_lik, 0.0)
    shift = jnp.sum(q * p * dl, axis=-1)
    b = a @ (q * (dl - shift[:, None])) + dweights @ q
    return support_solve((q * a[:, None]).T @ q, b, support)


def support_solve(hess, rhs, support, *, xp=jnp, linalg=None):
    """Solve the KKT system of the weights' derivative on the active support.

    Returns ``x = H_SS^{-1} (rhs_S - c 1)`` on ``S`` and 0 elsewhere, with ``c`` (one per
    column of ``rhs``) such that every column of ``x`` sums to zero: the change of the
    optimal weights along the simplex when the stationarity conditions ``d_S = A 1`` move by
    ``rhs``. ``H_SS`` is factorised once (Cholesky with a relative ridge of 1e-13); the
    solve for ``1`` is a primal quantity, so the result is linear in ``rhs`` (transposable
    for reverse mode).

    Parameters
    ----------
    hess : Array of shape (m, m)
        ``H = sum_i a_i q_i q_i^T`` with ``q_ij = exp(l_ij) / u_i`` (only ``S x S`` is used).
    rhs : Array of shape (m,) or (m, k)
        Right-hand side(s) ``b`` (entries off ``S`` are ignored).
    support : Array of shape (m,), bool
        The active support ``S`` (see :func:`active_support`).
    xp, linalg : modules
        Array namespace and its ``cho_factor``/``cho_solve`` provider: ``jax.numpy`` and
        ``jax.scipy.linalg`` (default), or ``numpy`` and ``scipy.linalg`` for the host engine.

    Returns
    -------
    Array shaped like ``rhs``
    """
    linalg = jax.scipy.linalg if linalg is None else linalg
    both = support[:, None] & support[None, :]
    scale = xp.max(xp.where(support, xp.diag(hess), 0.0))
    mat = xp.where(both, hess, 0.0) + xp.diag(xp.where(support, _SUPPORT_RIDGE * scale, 1.0))
    factor = linalg.cho_factor(mat, lower=True)
    sfloat = support.astype(hess.dtype)
    mask = sfloat if rhs.ndim == 1 else sfloat[:, None]
    x = linalg.cho_solve(factor, rhs * mask) * mask
    y = linalg.cho_solve(factor, sfloat) * sfloat
    denom = xp.sum(y)
    c = xp.sum(x, axis=0) / xp.where(denom > 0, denom, 1.0)
    y = y if rhs.ndim == 1 else y[:, None]
    return (x - c * y) * mask
