r"""Kalman smoother (Durbin & Koopman 2012, §4.4 and §4.5) with missing observations.

For ``s_t = T s_{t-1} + L ε_t`` and ``y_t = d + Z s_t + e_t`` the forward pass stores the
predicted moments ``a_t = E[s_t | y_{1:t-1}]``, ``P_t``, the innovations ``v_t`` and
``F_t^{-1}``; the backward recursion

.. math::

    r_{t-1} = Z^\top F_t^{-1} v_t + L_t^\top r_t,\quad
    N_{t-1} = Z^\top F_t^{-1} Z + L_t^\top N_t L_t,\quad
    L_t = T - K_t Z,\ K_t = T P_t Z^\top F_t^{-1},

from ``r_n = 0``, ``N_n = 0`` gives the smoothed state ``ŝ_t = a_t + P_t r_{t-1}`` with variance
``P_t − P_t N_{t-1} P_t``, the smoothed shocks ``ε̂_t = Ω Lᵀ r_{t-1}``, the smoothed measurement
errors ``ê_t = H (F_t^{-1} v_t − K_tᵀ r_t)`` and the smoothed initial state
``ŝ_0 = m_0 + Σ_0 Tᵀ r_0``. No predicted covariance is ever inverted, so states that are exact
functions of others (lags, or as many shocks as observables) are no problem, unlike
Rauch–Tung–Striebel. Missing entries (NaN) are masked exactly as in
:func:`~numpyro_semipar.models.dsge.kalman_filter`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._kalman import _check_observations, solve_discrete_lyapunov
from ._state_space import StateSpace

__all__ = ["SmootherResult", "kalman_smoother"]


class SmootherResult(NamedTuple):
    """Output of :func:`kalman_smoother` (all moments conditional on the whole sample).

    Attributes
    ----------
    state_mean : array of shape (n_periods, k)
        ``E[s_t | y]``.
    state_cov : array of shape (n_periods, k, k)
        ``Var[s_t | y]``.
    shocks : array of shape (n_periods, m)
        ``E[ε_t | y]``, the smoothed structural shocks.
    measurement_error : array of shape (n_periods, p)
        ``E[e_t | y]`` (zeros without measurement error).
    initial_state_mean : array of shape (k,)
        ``E[s_0 | y]``, the state before the first period.
    """

    state_mean: jax.Array
    state_cov: jax.Array
    shocks: jax.Array
    measurement_error: jax.Array
    initial_state_mean: jax.Array


def kalman_smoother(y, ss: StateSpace, init_mean=None, init_cov=None) -> SmootherResult:
    """Smoothed states, shocks and measurement errors of a linear Gaussian state space.

    Parameters
    ----------
    y : array of shape (n_periods, p)
        Observations; NaN marks a missing entry.
    ss : StateSpace
        The system; ``loading`` and ``shock_cov`` are needed for the structural shocks (without
        them ``shocks`` are the state disturbances ``E[η_t | y]``, ``η_t = s_t − T s_{t−1}``).
    init_mean : array of shape (k,), optional
        Mean of ``s_0`` (default zero).
    init_cov : array of shape (k, k), optional
        Covariance of ``s_0`` (default: the stationary covariance).

    Returns
    -------
    SmootherResult
    """
    y = jnp.asarray(y)
    _check_observations(y, jnp.shape(ss.Z)[0])
    return _smooth(y, ss, init_mean, init_cov)


@jax.jit
def _smooth(y, ss, init_mean, init_cov):
    # One compiled program per system shape: eager scans would be retraced on every call.
    Z, T, V, d = (jnp.asarray(a) for a in (ss.Z, ss.T, ss.V, ss.d))
    p, k = Z.shape
    H = jnp.zeros((p, p), dtype=T.dtype) if ss.H is None else jnp.asarray(ss.H)
    mean0 = jnp.zeros(k, dtype=T.dtype) if init_mean is None else jnp.asarray(init_mean)
    cov0 = solve_discrete_lyapunov(T, V) if init_cov is None else jnp.asarray(init_cov)

    def forward(carry, y_t):
        m, P = carry
        a = T @ m
        Pp = T @ P @ T.T + V
        Pp = (Pp + Pp.T) / 2.0
        observed = ~jnp.isnan(y_t)
        Zo = jnp.where(observed[:, None], Z, 0.0)
        v = jnp.where(observed, jnp.where(observed, y_t, 0.0) - d - Zo @ a, 0.0)
        both = observed[:, None] & observed[None, :]
        F = Zo @ Pp @ Zo.T + jnp.where(both, H, 0.0) + jnp.diag(jnp.where(observed, 0.0, 1.0))
        chol = jnp.linalg.cholesky((F + F.T) / 2.0)
        F_inv = jax.scipy.linalg.cho_solve((chol, True), jnp.eye(p, dtype=F.dtype))
        gain = Pp @ Zo.T @ F_inv  # filtered mean = a + gain v
        m_new = a + gain @ v
        P_new = Pp - gain @ Zo @ Pp
        return (m_new, (P_new + P_new.T) / 2.0), (a, Pp, v, F_inv, Zo)

    _, (a, Pp, v, F_inv, Zo) = jax.lax.scan(forward, (mean0, cov0), y)

    def backward(carry, inputs):
        r, N = carry
        a_t, P_t, v_t, Finv_t, Z_t = inputs
        K = T @ P_t @ Z_t.T @ Finv_t
        L = T - K @ Z_t
        u = Finv_t @ v_t - K.T @ r  # DK's smoothing error, ê_t = H u_t
        r_prev = Z_t.T @ Finv_t @ v_t + L.T @ r
        N_prev = Z_t.T @ Finv_t @ Z_t + L.T @ N @ L
        mean = a_t + P_t @ r_prev
        cov = P_t - P_t @ N_prev @ P_t
        return (r_prev, N_prev), (mean, (cov + cov.T) / 2.0, r_prev, H @ u)

    zeros = (jnp.zeros(k, dtype=T.dtype), jnp.zeros((k, k), dtype=T.dtype))
    (r0, _), (means, covs, r_prev, errors) = jax.lax.scan(
        backward, zeros, (a, Pp, v, F_inv, Zo), reverse=True
    )
    if ss.loading is None or ss.shock_cov is None:
        shocks = r_prev @ V.T  # E[η_t | y] = V r_{t-1}
    else:
        shocks = r_prev @ (jnp.asarray(ss.shock_cov) @ jnp.asarray(ss.loading).T).T
    return SmootherResult(
        state_mean=means,
        state_cov=covs,
        shocks=shocks,
        measurement_error=errors,
        initial_state_mean=mean0 + cov0 @ T.T @ r0,
    )
