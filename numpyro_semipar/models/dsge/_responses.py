r"""Impulse responses and forecast-error variance decomposition of a linear state space.

With ``s_t = T s_{t-1} + L ε_t``, ``ε_t ~ N(0, Ω)`` and ``Ω = C Cᵀ`` (Cholesky), the response
``h`` periods after a one-standard-deviation shock ``j`` is ``T^h L C_{:, j}`` for the state and
``Z T^h L C_{:, j}`` for the observables (deviations from ``d``; the shock hits at ``h = 0``).
For uncorrelated shocks ``C`` is the diagonal of standard deviations; correlated shocks are
orthogonalised in their given order, as in Dynare.

The ``h``-step forecast-error variance of observable ``i`` is
``Σ_j Σ_{l<h} (Z T^l L C)_{ij}² + H_ii``; its shares per shock (and for the measurement error)
sum to one, and for ``h → ∞`` they become the shares of the unconditional variance.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._state_space import StateSpace

__all__ = ["ImpulseResponses", "impulse_responses", "variance_decomposition"]


class ImpulseResponses(NamedTuple):
    """Output of :func:`impulse_responses`.

    Attributes
    ----------
    states : array of shape (horizon, m, k)
        ``states[h, j]``: the state ``h`` periods after a one-sd shock ``j``.
    observables : array of shape (horizon, m, p)
        ``observables[h, j]``: the observables' deviation from ``d`` after the same shock.
    """

    states: jax.Array
    observables: jax.Array


def _check_horizon(horizon) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer; got {horizon!r}")
    return int(horizon)


def impulse_responses(ss: StateSpace, horizon: int) -> ImpulseResponses:
    """Responses of states and observables to one-standard-deviation structural shocks.

    Parameters
    ----------
    ss : StateSpace
        A solved system with ``loading`` and ``shock_cov`` (positive definite).
    horizon : int
        Number of periods, the impact period included.

    Returns
    -------
    ImpulseResponses
    """
    horizon = _check_horizon(horizon)
    if ss.loading is None or ss.shock_cov is None:
        raise ValueError("ss needs loading and shock_cov (the structural shocks) for responses")
    return _responses(ss, horizon)


@functools.partial(jax.jit, static_argnums=1)
def _responses(ss, horizon):
    impact = jnp.asarray(ss.loading) @ jnp.linalg.cholesky(jnp.asarray(ss.shock_cov))
    T, Z = jnp.asarray(ss.T), jnp.asarray(ss.Z)

    def step(state, _):
        return T @ state, state

    _, states = jax.lax.scan(step, impact, None, length=horizon)  # (horizon, k, m)
    states = jnp.swapaxes(states, 1, 2)
    return ImpulseResponses(states=states, observables=states @ Z.T)


def variance_decomposition(ss: StateSpace, horizons: int | Sequence[int]) -> jax.Array:
    """Forecast-error variance decomposition of the observables.

    Parameters
    ----------
    ss : StateSpace
        A solved system with ``loading`` and ``shock_cov``.
    horizons : int or sequence of int
        Forecast horizons ``h ≥ 1`` (``h = 1`` is the one-step-ahead error).

    Returns
    -------
    array of shape (len(horizons), p, m + 1)
        ``shares[i, o, j]``: the share of the ``horizons[i]``-step forecast-error variance of
        observable ``o`` due to shock ``j``; the last column is the measurement error. Each
        row sums to one.
    """
    hs = [horizons] if isinstance(horizons, (int, np.integer)) else list(horizons)
    if not hs:
        raise ValueError("horizons must name at least one horizon")
    hs = [_check_horizon(h) for h in hs]
    responses = impulse_responses(ss, max(hs)).observables  # (h, m, p)
    cumulative = jnp.cumsum(responses**2, axis=0)[jnp.asarray(hs) - 1]  # (len, m, p)
    p = responses.shape[-1]
    H = jnp.zeros((p, p)) if ss.H is None else jnp.asarray(ss.H)
    noise = jnp.broadcast_to(jnp.diagonal(H), (len(hs), 1, p))
    parts = jnp.concatenate([cumulative, noise], axis=1)  # (len, m + 1, p)
    return jnp.swapaxes(parts / jnp.sum(parts, axis=1, keepdims=True), 1, 2)
