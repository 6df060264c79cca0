"""Delayed-acceptance random-walk MH (Christen & Fox 2005): a surrogate screens, the target decides.

Stage 1 tests a Gaussian random-walk proposal ``y`` against the cheap surrogate ``π̃``::

    α₁ = min{1, π̃(y) / π̃(x)}

and a rejection there costs no evaluation of the expensive target ``π``. Only survivors are
evaluated exactly and face the correction::

    α₂ = min{1, π(y) π̃(x) / [π(x) π̃(y)]}.

The composite kernel is reversible with respect to the *exact* ``π`` whatever the surrogate, so a
poor surrogate costs efficiency, never correctness: the surrogate's wrong accepts are exactly the
stage-2 rejections. Expensive evaluations per iteration equal the stage-1 pass rate.

The exact evaluation sits inside :func:`jax.lax.cond`, so a single chain (or chains run
sequentially) skips it on stage-1 rejections. Under :func:`jax.vmap` a ``cond`` becomes a
``select`` and both branches run; ``num_evaluations`` still counts what the algorithm needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from blackjax.base import SamplingAlgorithm

from ._proposals import gaussian_step, proposal_cholesky

__all__ = [
    "DelayedAcceptanceInfo",
    "DelayedAcceptanceState",
    "as_top_level_api",
    "build_kernel",
    "init",
]


class DelayedAcceptanceState(NamedTuple):
    """State of the delayed-acceptance chain.

    Attributes
    ----------
    position : pytree
        Current position.
    logdensity : float
        Exact log density at ``position``.
    surrogate_logdensity : float
        Surrogate log density at ``position``.
    """

    position: Any
    logdensity: jax.Array
    surrogate_logdensity: jax.Array


class DelayedAcceptanceInfo(NamedTuple):
    """Information about one delayed-acceptance transition.

    Attributes
    ----------
    acceptance_rate : float
        Overall acceptance probability ``α₁ α₂`` (``α₂`` taken as 0 when stage 1 rejected and
        the target was not evaluated).
    is_accepted : bool
        Whether the proposal was accepted (both stages).
    first_stage_acceptance_rate : float
        ``α₁``, the surrogate's MH acceptance probability.
    first_stage_accepted : bool
        Whether the proposal passed the surrogate screen (and was evaluated exactly).
    second_stage_acceptance_rate : float
        ``α₂`` (0 when not evaluated).
    proposal : pytree
        The proposed position.
    proposal_logdensity : float
        Exact ``log π(y)``; NaN when the target was not evaluated.
    proposal_surrogate_logdensity : float
        ``log π̃(y)``.
    num_evaluations : int
        Exact target evaluations in this step (0 or 1).
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    first_stage_acceptance_rate: jax.Array
    first_stage_accepted: jax.Array
    second_stage_acceptance_rate: jax.Array
    proposal: Any
    proposal_logdensity: jax.Array
    proposal_surrogate_logdensity: jax.Array
    num_evaluations: jax.Array


def _finite_or_minus_inf(value) -> jax.Array:
    value = jnp.asarray(value)
    return jnp.where(jnp.isnan(value), -jnp.inf, value)


def init(
    position: Any,
    logdensity_fn: Callable[[Any], jax.Array],
    surrogate_logdensity_fn: Callable[[Any], jax.Array],
) -> DelayedAcceptanceState:
    """Create the initial state (one exact and one surrogate evaluation).

    Parameters
    ----------
    position : pytree
        Starting position.
    logdensity_fn : callable
        Exact (expensive) log density.
    surrogate_logdensity_fn : callable
        Cheap approximation of ``logdensity_fn`` (any function of the same position).

    Returns
    -------
    DelayedAcceptanceState
    """
    logdensity = _finite_or_minus_inf(logdensity_fn(position))
    surrogate = _finite_or_minus_inf(surrogate_logdensity_fn(position)).astype(logdensity.dtype)
    return DelayedAcceptanceState(position, logdensity, surrogate)


def build_kernel() -> Callable:
    """Build the delayed-acceptance random-walk transition kernel.

    Returns
    -------
    callable
        ``kernel(rng_key, state, logdensity_fn, surrogate_logdensity_fn, proposal_cholesky)
        -> (state, info)``; ``proposal_cholesky`` is the lower-triangular factor of the
        Gaussian proposal covariance in ``ravel_pytree(position)`` order (or a vector of
        standard deviations).
    """

    def kernel(
        rng_key: jax.Array,
        state: DelayedAcceptanceState,
        logdensity_fn: Callable[[Any], jax.Array],
        surrogate_logdensity_fn: Callable[[Any], jax.Array],
        proposal_cholesky: jax.Array,
    ) -> tuple[DelayedAcceptanceState, DelayedAcceptanceInfo]:
        key_proposal, key_first, key_second = jax.random.split(rng_key, 3)
        dtype = state.logdensity.dtype
        proposal = gaussian_step(key_proposal, state.position, proposal_cholesky)
        proposal_surrogate = _finite_or_minus_inf(surrogate_logdensity_fn(proposal)).astype(dtype)
        # Symmetric proposal: the stage-1 Hastings ratio is the surrogate ratio.
        first_log_ratio = proposal_surrogate - state.surrogate_logdensity
        first_log_ratio = jnp.where(jnp.isnan(first_log_ratio), -jnp.inf, first_log_ratio)
        first_rate = jnp.exp(jnp.minimum(first_log_ratio, 0.0))
        first_accepted = jnp.log(jax.random.uniform(key_first, dtype=dtype)) < first_log_ratio

        proposal_logdensity = jax.lax.cond(
            first_accepted,
            lambda y: _finite_or_minus_inf(logdensity_fn(y)).astype(dtype),
            lambda y: jnp.asarray(jnp.nan, dtype),
            proposal,
        )
        second_log_ratio = (proposal_logdensity - state.logdensity) - first_log_ratio
        second_log_ratio = jnp.where(
            first_accepted & ~jnp.isnan(second_log_ratio), second_log_ratio, -jnp.inf
        )
        second_rate = jnp.exp(jnp.minimum(second_log_ratio, 0.0))
        second_accepted = jnp.log(jax.random.uniform(key_second, dtype=dtype)) < second_log_ratio
        is_accepted = first_accepted & second_accepted

        new_state = jax.lax.cond(
            is_accepted,
            lambda: DelayedAcceptanceState(proposal, proposal_logdensity, proposal_surrogate),
            lambda: state,
        )
        info = DelayedAcceptanceInfo(
            acceptance_rate=first_rate * second_rate,
            is_accepted=is_accepted,
            first_stage_acceptance_rate=first_rate,
            first_stage_accepted=first_accepted,
            second_stage_acceptance_rate=second_rate,
            proposal=proposal,
            proposal_logdensity=proposal_logdensity,
            proposal_surrogate_logdensity=proposal_surrogate,
            num_evaluations=first_accepted.astype(jnp.int32),
        )
        return new_state, info

    return kernel


def as_top_level_api(
    logdensity_fn: Callable[[Any], jax.Array],
    surrogate_logdensity_fn: Callable[[Any], jax.Array],
    covariance: Any = None,
    *,
    cholesky: Any = None,
    scale: float = 1.0,
    dimension: int | None = None,
) -> SamplingAlgorithm:
    """Delayed-acceptance random-walk MH with a Gaussian proposal ``N(x, scale² Σ)``.

    Parameters
    ----------
    logdensity_fn : callable
        Exact (expensive) log density; the chain targets it exactly.
    surrogate_logdensity_fn : callable
        Cheap approximation used to screen proposals, e.g. a trained
        :class:`~numpyro_semipar.mcmc.Surrogate`.
    covariance : scalar, array of shape (d,) or (d, d), optional
        Proposal covariance ``Σ`` (identity when omitted); not a Cholesky factor.
    cholesky : array of shape (d, d), optional
        Lower-triangular factor of ``Σ`` instead of ``covariance``.
    scale : float
        Global scale of the step.
    dimension : int, optional
        Number of scalar coordinates; needed only when neither ``covariance`` (as a vector or
        matrix) nor ``cholesky`` is given.

    Returns
    -------
    blackjax.base.SamplingAlgorithm
        ``init(position)`` and ``step(rng_key, state) -> (state, info)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from numpyro_semipar.mcmc import blackjax as nsb
    >>> target = lambda x: -0.5 * jnp.sum(x**2)
    >>> rough = lambda x: -0.4 * jnp.sum(x**2)
    >>> algorithm = nsb.delayed_acceptance(target, rough, covariance=jnp.ones(2), scale=1.7)
    >>> state = algorithm.init(jnp.zeros(2))
    >>> state, info = jax.jit(algorithm.step)(jax.random.key(0), state)
    """
    if dimension is None:
        source = covariance if covariance is not None else cholesky
        if source is None or jnp.ndim(source) == 0:
            raise ValueError(
                "`dimension` is required when neither a vector/matrix `covariance` nor "
                "`cholesky` is given"
            )
        dimension = jnp.shape(source)[0]
    factor = proposal_cholesky(dimension, covariance, cholesky=cholesky, scale=scale)
    kernel = build_kernel()

    def init_fn(position: Any, rng_key: jax.Array | None = None) -> DelayedAcceptanceState:
        del rng_key
        return init(position, logdensity_fn, surrogate_logdensity_fn)

    def step_fn(rng_key: jax.Array, state: DelayedAcceptanceState):
        return kernel(rng_key, state, logdensity_fn, surrogate_logdensity_fn, factor)

    return SamplingAlgorithm(init_fn, step_fn)
