r"""Forecasts of a linear state space after the sample (means and covariances).

From the last filtered moments ``s_n | y ~ N(m_n, P_n)``, ``h`` periods ahead
``E[s_{n+h} | y] = T^h m_n``, ``Var = T Var_{h-1} Tᵀ + V``, and for the observables
``d + Z E[s_{n+h}]`` with covariance ``Z Var Zᵀ + H``. Missing observations (NaN) in ``y``,
including a ragged end, are handled by the filter.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._kalman import _check_observations, kalman_filter
from ._responses import _check_horizon
from ._state_space import StateSpace

__all__ = ["Forecast", "forecast"]


class Forecast(NamedTuple):
    """Output of :func:`forecast`.

    Attributes
    ----------
    mean : array of shape (horizon, p)
        ``E[y_{n+h} | y_{1:n}]``, ``h = 1, …, horizon``.
    cov : array of shape (horizon, p, p)
        ``Var[y_{n+h} | y_{1:n}]`` (parameter uncertainty not included).
    state_mean : array of shape (horizon, k)
        ``E[s_{n+h} | y_{1:n}]``.
    state_cov : array of shape (horizon, k, k)
        ``Var[s_{n+h} | y_{1:n}]``.
    """

    mean: jax.Array
    cov: jax.Array
    state_mean: jax.Array
    state_cov: jax.Array


def forecast(y, ss: StateSpace, horizon: int, init_mean=None, init_cov=None) -> Forecast:
    """Forecast the observables ``horizon`` periods past the end of ``y``.

    Parameters
    ----------
    y : array of shape (n_periods, p)
        The sample (NaN = missing).
    ss : StateSpace
        The system.
    horizon : int
        Number of periods ahead.
    init_mean, init_cov : arrays, optional
        Moments of ``s_0`` (default: zero mean and the stationary covariance).

    Returns
    -------
    Forecast
    """
    y = jnp.asarray(y)
    _check_observations(y, jnp.shape(ss.Z)[0])
    return _forecast(y, ss, _check_horizon(horizon), init_mean, init_cov)


@functools.partial(jax.jit, static_argnums=2)
def _forecast(y, ss, horizon, init_mean, init_cov):
    T, V, Z, d = (jnp.asarray(a) for a in (ss.T, ss.V, ss.Z, ss.d))
    filtered = kalman_filter(y, d, Z, T, V, ss.H, init_mean, init_cov)

    def step(carry, _):
        m, P = carry
        m, P = T @ m, T @ P @ T.T + V
        P = (P + P.T) / 2.0
        return (m, P), (m, P)

    last = (filtered.filtered_mean[-1], filtered.filtered_cov[-1])
    _, (means, covs) = jax.lax.scan(step, last, None, length=horizon)
    H = jnp.zeros((Z.shape[0],) * 2, dtype=T.dtype) if ss.H is None else jnp.asarray(ss.H)
    return Forecast(
        mean=d + means @ Z.T,
        cov=jnp.einsum("pk,hkl,ql->hpq", Z, covs, Z) + H,
        state_mean=means,
        state_cov=covs,
    )
