"""A NumPyro distribution over a whole sample of a linear Gaussian state space."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints

from ._kalman import kalman_loglik, solve_discrete_lyapunov
from ._state_space import StateSpace

__all__ = ["StateSpaceDistribution"]


class StateSpaceDistribution(dist.Distribution):
    """Joint distribution of ``y_{1:n}`` from ``s_t = T s_{t-1} + η_t``, ``y_t = d + Z s_t + e_t``.

    ``log_prob`` is the Kalman-filter log-likelihood (NaN entries of ``y`` are missing
    observations and are integrated out); ``sample`` simulates from the stationary start.
    Where ``ss.status`` is not 0 (no unique stable solution) ``log_prob`` is ``-inf`` with a
    finite gradient, so samplers simply reject such parameters.

    Parameters
    ----------
    ss : StateSpace
        The system (unbatched).
    num_periods : int
        Length ``n`` of the sample; the event shape is ``(num_periods, p)``.

    Notes
    -----
    The support is the real matrices; NaN (missing) entries are accepted by ``log_prob`` but
    would fail NumPyro's optional argument validation, so leave ``validate_args`` off when the
    data have gaps.
    """

    support = constraints.independent(constraints.real, 2)

    def __init__(self, ss: StateSpace, num_periods: int, *, validate_args=None):
        if isinstance(num_periods, bool) or not isinstance(num_periods, int) or num_periods < 1:
            raise ValueError(f"num_periods must be a positive integer; got {num_periods!r}")
        self.ss = ss
        p = jnp.shape(ss.Z)[0]
        super().__init__(batch_shape=(), event_shape=(num_periods, p), validate_args=validate_args)

    def log_prob(self, value):
        ss = self.ss
        solved = jnp.asarray(ss.status) == 0
        # A stand-in white-noise system outside the determinacy region keeps the gradient finite.
        T = jnp.where(solved, ss.T, 0.0)
        V = jnp.where(solved, ss.V, jnp.eye(ss.V.shape[0]))
        Z = jnp.where(solved, ss.Z, jnp.eye(*ss.Z.shape))
        ll = kalman_loglik(value, ss.d, Z, T, V, ss.H)
        return jnp.where(solved & jnp.isfinite(ll), ll, -jnp.inf)

    def sample(self, key, sample_shape=()):
        n, p = self.event_shape
        T, V, Z, d = (jnp.asarray(a) for a in (self.ss.T, self.ss.V, self.ss.Z, self.ss.d))
        k = T.shape[0]
        H = jnp.zeros((p, p), dtype=T.dtype) if self.ss.H is None else jnp.asarray(self.ss.H)
        # Eigen-factors (not Cholesky): V and H are often singular (fewer shocks than states).
        root_v, root_h = _psd_root(V), _psd_root(H)
        root_0 = _psd_root(solve_discrete_lyapunov(T, V))

        def one(key):
            k0, ks, ke = jax.random.split(key, 3)
            s0 = root_0 @ jax.random.normal(k0, (k,), dtype=T.dtype)
            eta = jax.random.normal(ks, (n, k), dtype=T.dtype) @ root_v.T
            noise = jax.random.normal(ke, (n, p), dtype=T.dtype) @ root_h.T

            def step(s, eta_t):
                s = T @ s + eta_t
                return s, s

            _, states = jax.lax.scan(step, s0, eta)
            return d + states @ Z.T + noise

        keys = jax.random.split(key, max(1, math.prod(sample_shape)))
        draws = jax.vmap(one)(keys)
        return draws.reshape(tuple(sample_shape) + (n, p))


def _psd_root(M):
    """``R`` with ``R Rᵀ = M`` for a symmetric positive semi-definite ``M``."""
    values, vectors = jnp.linalg.eigh((M + M.T) / 2.0)
    return vectors * jnp.sqrt(jnp.clip(values, 0.0))
