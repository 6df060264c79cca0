r"""Historical shock decomposition: the observables as a sum of the smoothed shocks' effects.

The smoothed moments satisfy the model exactly, ``ŝ_t = T ŝ_{t-1} + L ε̂_t`` from ``ŝ_0``, so

.. math::

    y_t = d + Z T^t ŝ_0 + \sum_{j} Z c_{j,t} + ê_t, \qquad
    c_{j,t} = T c_{j,t-1} + L_{:,j}\, ε̂_{j,t},\ c_{j,0} = 0,

splits every observation into the constant, the initial state, each shock's accumulated
effect and the measurement error (Dynare's ``shock_decomposition``). A missing observation gets
the smoother's estimate of it.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._smoother import SmootherResult
from ._state_space import StateSpace

__all__ = ["HistoricalDecomposition", "historical_decomposition"]


class HistoricalDecomposition(NamedTuple):
    """Output of :func:`historical_decomposition`; the parts add up to the observables.

    Attributes
    ----------
    constant : array of shape (p,)
        ``d``.
    initial_state : array of shape (n_periods, p)
        ``Z T^t ŝ_0``, the fading effect of the state before the sample.
    shocks : array of shape (n_periods, m, p)
        ``shocks[t, j]``: the accumulated effect of shock ``j`` up to period ``t``.
    measurement_error : array of shape (n_periods, p)
        ``ê_t``.
    """

    constant: jax.Array
    initial_state: jax.Array
    shocks: jax.Array
    measurement_error: jax.Array

    def total(self) -> jax.Array:
        """Add the parts up (equals the observed data where observed)."""
        return (
            self.constant
            + self.initial_state
            + jnp.sum(self.shocks, axis=1)
            + self.measurement_error
        )


def historical_decomposition(ss: StateSpace, smoothed: SmootherResult) -> HistoricalDecomposition:
    """Split the observables into the contributions of the smoothed structural shocks.

    Parameters
    ----------
    ss : StateSpace
        The system, with ``loading``.
    smoothed : SmootherResult
        From :func:`~numpyro_semipar.models.dsge.kalman_smoother` on the same system.

    Returns
    -------
    HistoricalDecomposition
    """
    if ss.loading is None:
        raise ValueError("ss needs loading (the structural shocks) for a shock decomposition")
    return _decompose(ss, smoothed)


@jax.jit
def _decompose(ss, smoothed):
    T, Z, loading = (jnp.asarray(a) for a in (ss.T, ss.Z, ss.loading))
    k, m = loading.shape

    def step(carry, shock_t):
        initial, per_shock = carry
        initial = T @ initial
        per_shock = T @ per_shock + loading * shock_t[None, :]  # (k, m)
        return (initial, per_shock), (initial, per_shock)

    start = (jnp.asarray(smoothed.initial_state_mean), jnp.zeros((k, m), dtype=T.dtype))
    _, (initial, per_shock) = jax.lax.scan(step, start, jnp.asarray(smoothed.shocks))
    return HistoricalDecomposition(
        constant=jnp.asarray(ss.d),
        initial_state=initial @ Z.T,
        shocks=jnp.einsum("pk,tkm->tmp", Z, per_shock),
        measurement_error=jnp.asarray(smoothed.measurement_error),
    )
