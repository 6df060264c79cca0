r"""Kalman-filter log-likelihood of a linear Gaussian state-space model in ``lax.scan``.

.. math::

    s_t = T s_{t-1} + \eta_t,\ \eta_t \sim N(0, V), \qquad
    y_t = d + Z s_t + e_t,\ e_t \sim N(0, H).

The filter starts from the stationary distribution (``s_0 ~ N(0, Σ)`` with
``Σ = T Σ Tᵀ + V``, :func:`solve_discrete_lyapunov`) unless a start is given. Everything is
jit-, vmap- and grad-compatible; a non-positive-definite forecast covariance gives ``-inf``.

Missing observations (NaN entries of ``y``, common in macro data) are handled in the filter:
period ``t`` conditions only on its observed entries (the rows of ``Z``, ``d`` and ``H`` of
the missing ones are dropped by masking), so the log-likelihood is that of the observed data.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["KalmanResult", "kalman_filter", "kalman_loglik", "solve_discrete_lyapunov"]

_LOG_2PI = 1.8378770664093453


class KalmanResult(NamedTuple):
    """Output of :func:`kalman_filter`.

    Attributes
    ----------
    loglik : float array
        Total log-likelihood (``-inf`` if any forecast covariance is not positive definite).
    loglik_t : array of shape (T,)
        Per-period predictive log densities ``log p(y_t | y_{1:t-1})``.
    filtered_mean : array of shape (T, k)
        ``E[s_t | y_{1:t}]``.
    filtered_cov : array of shape (T, k, k)
        ``Var[s_t | y_{1:t}]``.
    """

    loglik: jax.Array
    loglik_t: jax.Array
    filtered_mean: jax.Array
    filtered_cov: jax.Array


def solve_discrete_lyapunov(T, V):
    """Solve ``Σ = T Σ Tᵀ + V`` by one Kronecker linear solve (small state dimensions).

    Parameters
    ----------
    T : array of shape (k, k)
        Stable transition matrix (spectral radius below one).
    V : array of shape (k, k)
        Symmetric innovation covariance.

    Returns
    -------
    array of shape (k, k)
        The stationary covariance (symmetrised). Differentiable.
    """
    T, V = jnp.asarray(T), jnp.asarray(V)
    k = T.shape[0]
    lhs = jnp.eye(k * k, dtype=T.dtype) - jnp.kron(T, T)
    # Row-major vec: vec(T Σ Tᵀ) = (T ⊗ T) vec(Σ).
    sigma = jnp.linalg.solve(lhs, V.reshape(-1)).reshape(k, k)
    return (sigma + sigma.T) / 2.0


def kalman_filter(y, d, Z, T, V, H=None, init_mean=None, init_cov=None) -> KalmanResult:
    """Run the Kalman filter and return the log-likelihood and filtered moments.

    Parameters
    ----------
    y : array of shape (n_periods, p)
        Observations; NaN marks a missing entry (``±inf`` is rejected).
    d : array of shape (p,)
        Measurement constant.
    Z : array of shape (p, k)
        Measurement loading.
    T : array of shape (k, k)
        State transition.
    V : array of shape (k, k)
        State innovation covariance (``R Ω Rᵀ`` for shocks ``R ε``, ``ε ~ N(0, Ω)``).
    H : array of shape (p, p), optional
        Measurement-error covariance (default zero).
    init_mean : array of shape (k,), optional
        Mean of ``s_0`` (default zero).
    init_cov : array of shape (k, k), optional
        Covariance of ``s_0`` (default: the stationary covariance).

    Returns
    -------
    KalmanResult
    """
    y = jnp.asarray(y)
    Z, T, V, d = jnp.asarray(Z), jnp.asarray(T), jnp.asarray(V), jnp.asarray(d)
    p, k = Z.shape
    _check_observations(y, p)
    H = jnp.zeros((p, p), dtype=T.dtype) if H is None else jnp.asarray(H)
    mean0 = jnp.zeros(k, dtype=T.dtype) if init_mean is None else jnp.asarray(init_mean)
    cov0 = solve_discrete_lyapunov(T, V) if init_cov is None else jnp.asarray(init_cov)

    def step(carry, y_t):
        m, P = carry
        m_pred = T @ m
        P_pred = T @ P @ T.T + V
        # Missing entries: zero rows of Z and of the residual, and a unit block in F, so they
        # add nothing to the quadratic form, the log-determinant or the gain (exact masking).
        observed = ~jnp.isnan(y_t)
        Zo = jnp.where(observed[:, None], Z, 0.0)
        resid = jnp.where(observed, jnp.where(observed, y_t, 0.0) - d - Zo @ m_pred, 0.0)
        PZt = P_pred @ Zo.T
        both = observed[:, None] & observed[None, :]
        F = Zo @ PZt + jnp.where(both, H, 0.0) + jnp.diag(jnp.where(observed, 0.0, 1.0))
        F = (F + F.T) / 2.0
        chol = jnp.linalg.cholesky(F)
        # Solving with the Cholesky factor keeps the quadratic form and log-det consistent.
        w = jax.scipy.linalg.solve_triangular(chol, resid, lower=True)
        logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
        ll = -0.5 * (jnp.sum(observed) * _LOG_2PI + logdet + w @ w)
        gain_t = jax.scipy.linalg.cho_solve((chol, True), PZt.T)  # F⁻¹ Z P_pred
        m_new = m_pred + gain_t.T @ resid
        P_new = P_pred - PZt @ gain_t
        P_new = (P_new + P_new.T) / 2.0
        return (m_new, P_new), (ll, m_new, P_new)

    _, (ll_t, means, covs) = jax.lax.scan(step, (mean0, cov0), y)
    total = jnp.sum(ll_t)
    total = jnp.where(jnp.isfinite(total), total, -jnp.inf)
    return KalmanResult(loglik=total, loglik_t=ll_t, filtered_mean=means, filtered_cov=covs)


def _check_observations(y, p: int) -> None:
    """Shape always; infinite entries when ``y`` is concrete (NaN means missing)."""
    if y.ndim != 2 or y.shape[1] != p:
        raise ValueError(
            f"y must have shape (n_periods, {p}), one column per row of Z; got shape {y.shape}"
        )
    if isinstance(y, jax.core.Tracer):
        return
    values = np.asarray(y)
    if np.isinf(values).any():
        t, j = (int(i) for i in np.argwhere(np.isinf(values))[0])
        raise ValueError(
            f"y[{t}, {j}] = {values[t, j]} (period {t}, observable {j}) is infinite; mark a "
            "missing observation with NaN"
        )


def kalman_loglik(y, d, Z, T, V, H=None, init_mean=None, init_cov=None):
    """Kalman-filter log-likelihood (the ``loglik`` of :func:`kalman_filter`).

    Parameters
    ----------
    y, d, Z, T, V, H, init_mean, init_cov
        As in :func:`kalman_filter`.

    Returns
    -------
    float array
        ``log p(y_{1:n})``; ``-inf`` (never NaN) when a forecast covariance is singular.
    """
    return kalman_filter(y, d, Z, T, V, H, init_mean, init_cov).loglik
