"""Gaussian random-walk Metropolis–Hastings with a full proposal covariance (BlackJAX style).

``init`` / ``build_kernel`` / ``as_top_level_api`` on a plain ``logdensity_fn`` over a pytree
position. The kernel receives the proposal as its lower-triangular Cholesky factor
(``proposal_cholesky``), so an adaptation scheme can change it between steps without
recompiling; the top-level API takes a covariance and factors it once.

The info carries the proposal and its log density, so every target evaluation (accepted or
not) can be recycled, e.g. into a candidate archive for surrogate training.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from blackjax import GenerateSamplingAPI
from blackjax.base import SamplingAlgorithm

from ._proposals import flatten_position, gaussian_step, proposal_cholesky

__all__ = [
    "RandomWalkInfo",
    "RandomWalkState",
    "as_top_level_api",
    "build_kernel",
    "init",
]


class RandomWalkState(NamedTuple):
    """State of the random-walk chain.

    Attributes
    ----------
    position : pytree
        Current position.
    logdensity : float
        Log density at ``position``.
    """

    position: Any
    logdensity: jax.Array


class RandomWalkInfo(NamedTuple):
    """Information about one random-walk transition.

    Attributes
    ----------
    acceptance_rate : float
        Metropolis–Hastings acceptance probability ``min(1, π(y)/π(x))``.
    is_accepted : bool
        Whether the proposal was accepted.
    proposal : pytree
        The proposed position ``y`` (evaluated whether accepted or not).
    proposal_logdensity : float
        ``log π(y)`` (``-inf`` where the target returned NaN or ``+inf``).
    num_evaluations : int
        Number of target evaluations in this step (always 1).
    num_invalid : int
        Evaluations that returned NaN or ``+inf`` (0 or 1), treated as zero density.
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    proposal: Any
    proposal_logdensity: jax.Array
    num_evaluations: jax.Array
    num_invalid: jax.Array


def init(position: Any, logdensity_fn: Callable[[Any], jax.Array]) -> RandomWalkState:
    """Create the initial state (one target evaluation).

    Parameters
    ----------
    position : pytree
        Starting position.
    logdensity_fn : callable
        ``position -> scalar`` log density (unnormalised).

    Returns
    -------
    RandomWalkState
    """
    return RandomWalkState(position, _safe_logdensity(logdensity_fn(position)))


def build_kernel() -> Callable:
    """Build the random-walk Metropolis–Hastings transition kernel.

    Returns
    -------
    callable
        ``kernel(rng_key, state, logdensity_fn, proposal_cholesky) -> (state, info)``, where
        ``proposal_cholesky`` is the lower-triangular factor ``L`` (shape ``(d, d)``, or ``(d,)``
        standard deviations) of the Gaussian proposal covariance ``L Lᵀ`` in the order of
        ``jax.flatten_util.ravel_pytree(position)``.
    """

    def kernel(
        rng_key: jax.Array,
        state: RandomWalkState,
        logdensity_fn: Callable[[Any], jax.Array],
        proposal_cholesky: jax.Array,
    ) -> tuple[RandomWalkState, RandomWalkInfo]:
        key_proposal, key_accept = jax.random.split(rng_key)
        proposal = gaussian_step(key_proposal, state.position, proposal_cholesky)
        raw_logdensity = jnp.asarray(logdensity_fn(proposal))
        proposal_logdensity = _safe_logdensity(raw_logdensity)
        # The Gaussian step is symmetric: the Hastings ratio is the target ratio.
        log_ratio = proposal_logdensity - state.logdensity
        log_ratio = jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)
        acceptance_rate = jnp.exp(jnp.minimum(log_ratio, 0.0))
        log_uniform = jnp.log(jax.random.uniform(key_accept, dtype=acceptance_rate.dtype))
        is_accepted = log_uniform < log_ratio
        new_state = jax.lax.cond(
            is_accepted,
            lambda: RandomWalkState(proposal, proposal_logdensity),
            lambda: state,
        )
        info = RandomWalkInfo(
            acceptance_rate=acceptance_rate,
            is_accepted=is_accepted,
            proposal=proposal,
            proposal_logdensity=proposal_logdensity,
            num_evaluations=jnp.asarray(1, dtype=jnp.int32),
            num_invalid=invalid_logdensity(raw_logdensity).astype(jnp.int32),
        )
        return new_state, info

    return kernel


def as_top_level_api(
    logdensity_fn: Callable[[Any], jax.Array],
    covariance: Any = None,
    *,
    cholesky: Any = None,
    scale: float = 1.0,
    dimension: int | None = None,
) -> SamplingAlgorithm:
    """Random-walk Metropolis–Hastings with a Gaussian proposal ``N(x, scale² Σ)``.

    Parameters
    ----------
    logdensity_fn : callable
        ``position -> scalar`` log density.
    covariance : scalar, array of shape (d,) or (d, d), optional
        Proposal covariance ``Σ`` (identity when omitted). A full matrix is factored once here;
        it is *not* a Cholesky factor (unlike BlackJAX's ``sigma``).
    cholesky : array of shape (d, d), optional
        Give the lower-triangular factor directly instead of ``covariance``.
    scale : float
        Global scale of the step (multiplies the factor).
    dimension : int, optional
        Number of scalar coordinates of the position; inferred from ``covariance`` or
        ``cholesky`` when omitted. Required when both are omitted.

    Returns
    -------
    blackjax.base.SamplingAlgorithm
        ``init(position)`` and ``step(rng_key, state) -> (state, info)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from numpyro_semipar.mcmc import blackjax as nsb
    >>> cov = jnp.array([[1.0, 0.9], [0.9, 1.0]])
    >>> logdensity = lambda x: -0.5 * x @ jnp.linalg.solve(cov, x)
    >>> algorithm = nsb.random_walk(logdensity, covariance=cov, scale=1.7)
    >>> state = algorithm.init(jnp.zeros(2))
    >>> state, info = jax.jit(algorithm.step)(jax.random.key(0), state)
    """
    factor = _factor_for(covariance, cholesky, scale, dimension)
    kernel = build_kernel()

    def init_fn(position: Any, rng_key: jax.Array | None = None) -> RandomWalkState:
        del rng_key
        return init(position, logdensity_fn)

    def step_fn(rng_key: jax.Array, state: RandomWalkState):
        return kernel(rng_key, state, logdensity_fn, factor)

    return SamplingAlgorithm(init_fn, step_fn)


def _factor_for(covariance, cholesky, scale, dimension) -> jax.Array:
    if dimension is None:
        source = covariance if covariance is not None else cholesky
        if source is None or jnp.ndim(source) == 0:
            raise ValueError(
                "`dimension` is required when neither a vector/matrix `covariance` nor "
                "`cholesky` is given"
            )
        dimension = jnp.shape(source)[0]
    return proposal_cholesky(dimension, covariance, cholesky=cholesky, scale=scale)


def invalid_logdensity(value: jax.Array) -> jax.Array:
    """Return where a log density is NaN or ``+inf`` (a failed or improper evaluation)."""
    value = jnp.asarray(value)
    return jnp.isnan(value) | (value == jnp.inf)


def _safe_logdensity(value: jax.Array) -> jax.Array:
    # NaN log densities (a failed solver inside the model) are treated as zero density, so the
    # chain rejects the point instead of propagating NaN through the acceptance test. So is
    # +inf: a point of infinite density would absorb the chain forever. The kernels count both
    # (`num_invalid`) and the NumPyro adapters warn about them.
    value = jnp.asarray(value)
    return jnp.where(invalid_logdensity(value), -jnp.inf, value)


def position_dimension(position: Any) -> int:
    """Return the number of scalar coordinates of a pytree position."""
    return int(flatten_position(position)[0].shape[0])


# The public BlackJAX-style algorithm: call it for a SamplingAlgorithm, or use its init and
# build_kernel attributes (exported as numpyro_semipar.mcmc.blackjax.random_walk).
random_walk = GenerateSamplingAPI(as_top_level_api, init, build_kernel)
