"""Profiled per-observation log-likelihoods when JAX runs in float32 (x64 disabled).

NumPyro starts with 64-bit floats disabled, and then no JAX computation can use float64, not
even inside ``jit``. mixSQP in float32 cannot meet its tolerances, so here the weights are
solved on the host: a :func:`jax.pure_callback` runs :func:`~._mixsqp_numpy.mixsqp_numpy` in
float64 NumPy and also returns the matrix ``K`` of the implicit derivative of the weights
(``dp = K b``, see :func:`~._derivatives.support_solve`), factorised in float64. Only
elementwise work and matrix products run in float32 under JAX, so the log-likelihoods and
their gradients agree with the float64 path to float32 accuracy. The callback runs under
``jit``, ``vmap`` (sequentially) and ``grad``; second derivatives treat ``K`` as constant.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from jax.scipy.special import logsumexp
from scipy.special import logsumexp as np_logsumexp

from ._derivatives import safe_log, support_solve
from ._mixsqp_numpy import mixsqp_numpy

__all__ = ["profile_pointwise_float32"]

# Same support rule as mixsqp's default (``support_gap_tol``), evaluated in float64.
_SUPPORT_GAP = 1e-6
# Largest exponent whose exp is finite in float32 (about 88.7), with a margin.
_MAX_EXPONENT_F32 = 80.0


def _host_solve(log_lik: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights and derivative matrix of one problem, in float64 NumPy."""
    ll = np.asarray(log_lik, dtype=np.float64)
    result = mixsqp_numpy(ll)
    p = np.asarray(result.mixing_weights, dtype=np.float64)
    positive = p > 0
    log_p = np.where(positive, np.log(np.where(positive, p, 1.0)), -np.inf)
    log_u = np_logsumexp(ll + log_p, axis=1)
    q = np.exp(np.minimum(ll - log_u[:, None], 700.0))
    d = q.sum(axis=0)
    support = positive & (d >= ll.shape[0] * (1.0 - _SUPPORT_GAP))
    hess = q.T @ q
    k = support_solve(hess, np.eye(p.shape[0]), support, xp=np, linalg=scipy.linalg)
    return p.astype(np.float32), k.astype(np.float32)


def _solve(log_lik: jax.Array) -> tuple[jax.Array, jax.Array]:
    m = log_lik.shape[1]
    shapes = (
        jax.ShapeDtypeStruct((m,), jnp.float32),
        jax.ShapeDtypeStruct((m, m), jnp.float32),
    )
    # stop_gradient: the callback's outputs are primal quantities (no JVP through the host).
    return jax.pure_callback(
        _host_solve, shapes, jax.lax.stop_gradient(log_lik), vmap_method="sequential"
    )


@jax.custom_jvp
def _weights(log_lik: jax.Array) -> jax.Array:
    return _solve(log_lik)[0]


@_weights.defjvp
def _weights_jvp(primals, tangents):
    (log_lik,), (dlog_lik,) = primals, tangents
    p, k = _solve(log_lik)
    log_u = logsumexp(log_lik + safe_log(p)[None, :], axis=1)
    q = jnp.exp(jnp.minimum(log_lik - log_u[:, None], _MAX_EXPONENT_F32))
    q = jnp.where(p[None, :] > 0, q, 0.0)
    dl = jnp.where(log_lik > -jnp.inf, dlog_lik, 0.0)
    shift = jnp.sum(q * p * dl, axis=-1)
    b = jnp.sum(q * (dl - shift[:, None]), axis=0)
    return p, k @ b


def profile_pointwise_float32(log_lik: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per-observation log-likelihoods at the profiled weights, computed with x64 disabled.

    Parameters
    ----------
    log_lik : array of shape (n, m)
        Finite log-likelihood matrix (float32), one row per observation (unit weights).

    Returns
    -------
    pointwise : array of shape (n,)
        ``log Σ_j p*_j exp(ℓ_ij)``; its derivative includes the implicit derivative of ``p*``.
    mixing_weights : array of shape (m,)
        The profiled weights ``p*`` (float32).
    """
    log_lik = jnp.asarray(log_lik, dtype=jnp.float32)
    p = _weights(log_lik)
    pointwise = logsumexp(log_lik + safe_log(p)[None, :], axis=1)
    return pointwise, p
