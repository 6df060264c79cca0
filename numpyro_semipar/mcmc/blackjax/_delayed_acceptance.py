"""Delayed-acceptance MH with a surrogate: the surrogate screens (or proposes), the target decides.

Two exact ways to use a cheap surrogate ``π̃`` of an expensive target ``π``, both a Metropolis–
Hastings chain whose proposal is itself an MH chain on ``π̃``:

* ``num_surrogate_steps=1`` — **delayed acceptance** (Christen & Fox 2005). Stage 1 tests a
  Gaussian random-walk proposal ``y`` against the surrogate, ``α₁ = min{1, π̃(y) / π̃(x)}``; a
  rejection there costs no evaluation of ``π``. Survivors face the exact correction
  ``α₂ = min{1, π(y) π̃(x) / [π(x) π̃(y)]}``. Exact evaluations per iteration = stage-1 pass rate.
* ``num_surrogate_steps=k > 1`` — the **surrogate transition method** (Liu 2001, §9.4.3;
  Sherlock, Golightly & Henderson 2017): the proposal ``y`` is the end point of ``k``
  random-walk MH steps on ``π̃`` started at ``x``. That ``k``-step kernel is reversible with
  respect to ``π̃``, so the same ``α₂`` makes the chain reversible with respect to the exact
  ``π``. One exact evaluation per iteration buys a move of ``k`` surrogate steps: with a good
  surrogate and ``k`` of order 10–50 each exact evaluation gives a nearly independent draw.

``k = 1`` is the special case of the second: the end point of one MH step on ``π̃`` is ``y``
with probability ``α₁`` and ``x`` otherwise. When the surrogate chain does not move (``y = x``)
the exact ratio is 1: the step is accepted trivially and ``π`` is not evaluated.

The chain targets the *exact* ``π`` whatever the surrogate, so a poor surrogate costs efficiency,
never correctness: the surrogate's wrong accepts are exactly the stage-2 rejections. The exact
evaluation sits inside :func:`jax.lax.cond`, so a single chain (or chains run sequentially)
skips it when the surrogate chain stays put. Under :func:`jax.vmap` a ``cond`` becomes a
``select`` and both branches run; ``num_evaluations`` still counts what the algorithm needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from blackjax import GenerateSamplingAPI
from blackjax.base import SamplingAlgorithm
from jax.flatten_util import ravel_pytree

from ._proposals import gaussian_increments, proposal_cholesky
from ._random_walk import invalid_logdensity

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
        ``num_surrogate_steps=1``: overall acceptance probability ``α₁ α₂`` of the random-walk
        proposal. ``k > 1``: ``α₂`` when the surrogate chain moved, 0 when it did not (the
        probability that the exact stage moves the chain). ``α₂`` is taken as 0 when the
        target was not evaluated.
    is_accepted : bool
        Whether the chain moved to a new position.
    first_stage_acceptance_rate : float
        Mean MH acceptance probability of the ``k`` surrogate steps (``α₁`` when ``k = 1``);
        the statistic a proposal scale for the surrogate stage is tuned on.
    first_stage_accepted : bool
        Whether the surrogate chain moved, i.e. the proposal was evaluated exactly.
    second_stage_acceptance_rate : float
        ``α₂`` (0 when not evaluated).
    proposal : pytree
        The proposal of the exact stage: the end point ``y`` of the surrogate chain (equal to
        the current position when the surrogate chain did not move).
    proposal_logdensity : float
        Exact ``log π(y)``; NaN when the target was not evaluated.
    proposal_surrogate_logdensity : float
        ``log π̃(y)``.
    num_surrogate_accepted : int
        Accepted surrogate steps (out of ``k``).
    num_evaluations : int
        Exact target evaluations in this step (0 or 1).
    num_invalid : int
        Exact evaluations that returned NaN or ``+inf`` (treated as zero density).
    num_invalid_surrogate : int
        Surrogate evaluations that returned NaN or ``+inf`` (the surrogate step is rejected).
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    first_stage_acceptance_rate: jax.Array
    first_stage_accepted: jax.Array
    second_stage_acceptance_rate: jax.Array
    proposal: Any
    proposal_logdensity: jax.Array
    proposal_surrogate_logdensity: jax.Array
    num_surrogate_accepted: jax.Array
    num_evaluations: jax.Array
    num_invalid: jax.Array
    num_invalid_surrogate: jax.Array


def _finite_or_minus_inf(value) -> jax.Array:
    value = jnp.asarray(value)
    return jnp.where(invalid_logdensity(value), -jnp.inf, value)


def _tempered(value: jax.Array, temperature: jax.Array) -> jax.Array:
    """``β log π̃``, with ``β = 0`` a flat surrogate (also where ``log π̃ = -inf``)."""
    return jnp.where(temperature == 0, jnp.zeros_like(value), temperature * value)


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


def surrogate_chain(
    rng_key: jax.Array,
    position: Any,
    surrogate_logdensity: jax.Array,
    surrogate_logdensity_fn: Callable[[Any], jax.Array],
    proposal_cholesky: jax.Array,
    num_steps: int,
    temperature: Any = 1.0,
) -> tuple[Any, jax.Array, jax.Array, jax.Array, jax.Array]:
    """Run ``num_steps`` Gaussian random-walk MH steps on the surrogate (a ``lax.scan``).

    Parameters
    ----------
    rng_key : jax.Array
        PRNG key.
    position : pytree
        Start ``x``.
    surrogate_logdensity : float
        ``log π̃(x)``.
    surrogate_logdensity_fn : callable
        The surrogate.
    proposal_cholesky : array of shape (d, d) or (d,)
        Factor of the random-walk proposal covariance.
    num_steps : int
        Number of MH steps (static).
    temperature : float
        The steps target ``π̃^β`` with ``β = temperature`` (0: a flat surrogate, every step is
        accepted and the chain is a plain random walk).

    Returns
    -------
    tuple
        End point ``y``, ``log π̃(y)`` (untempered), the mean acceptance probability of the
        steps, the number of accepted steps and the number of invalid (NaN or ``+inf``)
        surrogate values.
    """
    dtype = surrogate_logdensity.dtype
    flat, unravel = ravel_pytree(position)
    # All random numbers up front: the scan body is then pure arithmetic (a PRNG call per step
    # costs more than the network on a CPU).
    key_noise, key_uniform = jax.random.split(rng_key)
    noise = jax.random.normal(key_noise, (num_steps, flat.shape[0]), flat.dtype)
    steps = gaussian_increments(noise, jnp.asarray(proposal_cholesky, flat.dtype))
    log_uniforms = jnp.log(jax.random.uniform(key_uniform, (num_steps,), dtype))

    def step(carry, data):
        current, current_surrogate = carry
        increment, log_uniform = data
        proposal = current + increment
        raw = jnp.asarray(surrogate_logdensity_fn(unravel(proposal))).astype(dtype)
        invalid = invalid_logdensity(raw)
        proposal_surrogate = _finite_or_minus_inf(raw)
        # Symmetric proposal: the Hastings ratio is the (tempered) surrogate ratio. An invalid
        # surrogate value rejects the step whatever the temperature.
        log_ratio = _tempered(proposal_surrogate, temperature) - _tempered(
            current_surrogate, temperature
        )
        log_ratio = jnp.where(jnp.isnan(log_ratio) | invalid, -jnp.inf, log_ratio)
        accepted = log_uniform < log_ratio
        current = jnp.where(accepted, proposal, current)
        current_surrogate = jnp.where(accepted, proposal_surrogate, current_surrogate)
        rate = jnp.exp(jnp.minimum(log_ratio, 0.0))
        return (current, current_surrogate), (rate, accepted, invalid)

    temperature = jnp.asarray(temperature, dtype)
    (end, end_surrogate), (rates, accepted, invalid) = jax.lax.scan(
        step, (flat, surrogate_logdensity), (steps, log_uniforms)
    )
    end = unravel(end)
    num_accepted = jnp.sum(accepted.astype(jnp.int32))
    return end, end_surrogate, jnp.mean(rates), num_accepted, jnp.sum(invalid.astype(jnp.int32))


def build_kernel(num_surrogate_steps: int = 1) -> Callable:
    """Build the delayed-acceptance / surrogate-transition kernel.

    Parameters
    ----------
    num_surrogate_steps : int
        Random-walk MH steps on the surrogate that make up one proposal (static). 1 is classic
        delayed acceptance; ``k > 1`` the surrogate transition method.

    Returns
    -------
    callable
        ``kernel(rng_key, state, logdensity_fn, surrogate_logdensity_fn, proposal_cholesky,
        surrogate_temperature=1.0) -> (state, info)``; ``proposal_cholesky`` is the
        lower-triangular factor of the Gaussian random-walk covariance of the surrogate steps,
        in ``ravel_pytree(position)`` order (or a vector of standard deviations).
        ``surrogate_temperature`` ``β ∈ [0, 1]`` makes the screen use ``π̃^β``: a surrogate
        steeper than the target far from the bulk (a Gaussian at the mode of a heavy-tailed
        posterior) traps the chain there, a tempered one does not. ``β = 0`` is plain
        random-walk MH on the exact target; any ``β`` leaves the chain exact.
    """
    num_surrogate_steps = int(num_surrogate_steps)
    if num_surrogate_steps < 1:
        raise ValueError(
            f"num_surrogate_steps must be a positive integer, got {num_surrogate_steps}"
        )

    def kernel(
        rng_key: jax.Array,
        state: DelayedAcceptanceState,
        logdensity_fn: Callable[[Any], jax.Array],
        surrogate_logdensity_fn: Callable[[Any], jax.Array],
        proposal_cholesky: jax.Array,
        surrogate_temperature: Any = 1.0,
    ) -> tuple[DelayedAcceptanceState, DelayedAcceptanceInfo]:
        key_surrogate, key_second = jax.random.split(rng_key)
        dtype = state.logdensity.dtype
        temperature = jnp.asarray(surrogate_temperature, dtype)
        proposal, proposal_surrogate, first_rate, num_accepted, num_invalid_surrogate = (
            surrogate_chain(
                key_surrogate,
                state.position,
                state.surrogate_logdensity.astype(dtype),
                surrogate_logdensity_fn,
                proposal_cholesky,
                num_surrogate_steps,
                temperature,
            )
        )
        moved = num_accepted > 0

        raw_logdensity = jax.lax.cond(
            moved,
            lambda y: jnp.asarray(logdensity_fn(y)).astype(dtype),
            lambda y: jnp.asarray(-jnp.inf, dtype),
            proposal,
        )
        num_invalid = (moved & invalid_logdensity(raw_logdensity)).astype(jnp.int32)
        proposal_logdensity = jnp.where(
            moved, _finite_or_minus_inf(raw_logdensity), jnp.asarray(jnp.nan, dtype)
        )
        # π(y) π̃(x)^β / [π(x) π̃(y)^β]: the surrogate chain's π̃^β-reversibility cancels the rest.
        second_log_ratio = (proposal_logdensity - state.logdensity) - (
            _tempered(proposal_surrogate, temperature)
            - _tempered(state.surrogate_logdensity, temperature)
        )
        second_log_ratio = jnp.where(
            moved & ~jnp.isnan(second_log_ratio), second_log_ratio, -jnp.inf
        )
        second_rate = jnp.exp(jnp.minimum(second_log_ratio, 0.0))
        second_accepted = jnp.log(jax.random.uniform(key_second, dtype=dtype)) < second_log_ratio
        is_accepted = moved & second_accepted

        new_state = jax.lax.cond(
            is_accepted,
            lambda: DelayedAcceptanceState(proposal, proposal_logdensity, proposal_surrogate),
            lambda: state,
        )
        overall = first_rate * second_rate if num_surrogate_steps == 1 else second_rate
        info = DelayedAcceptanceInfo(
            acceptance_rate=overall,
            is_accepted=is_accepted,
            first_stage_acceptance_rate=first_rate,
            first_stage_accepted=moved,
            second_stage_acceptance_rate=second_rate,
            proposal=proposal,
            proposal_logdensity=proposal_logdensity,
            proposal_surrogate_logdensity=proposal_surrogate,
            num_surrogate_accepted=num_accepted,
            num_evaluations=moved.astype(jnp.int32),
            num_invalid=num_invalid,
            num_invalid_surrogate=num_invalid_surrogate,
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
    num_surrogate_steps: int = 1,
) -> SamplingAlgorithm:
    """Delayed-acceptance MH with Gaussian random-walk surrogate steps ``N(x, scale² Σ)``.

    Parameters
    ----------
    logdensity_fn : callable
        Exact (expensive) log density; the chain targets it exactly.
    surrogate_logdensity_fn : callable
        Cheap approximation used to screen or generate proposals, e.g. a trained
        :class:`~numpyro_semipar.mcmc.Surrogate`.
    covariance : scalar, array of shape (d,) or (d, d), optional
        Random-walk covariance ``Σ`` of the surrogate steps (identity when omitted); not a
        Cholesky factor.
    cholesky : array of shape (d, d), optional
        Lower-triangular factor of ``Σ`` instead of ``covariance``.
    scale : float
        Global scale of the step. With ``num_surrogate_steps > 1`` tune it for the surrogate
        chain (about 2.38/√d relative to the posterior covariance, 20–30% surrogate acceptance).
    dimension : int, optional
        Number of scalar coordinates; needed only when neither ``covariance`` (as a vector or
        matrix) nor ``cholesky`` is given.
    num_surrogate_steps : int
        MH steps on the surrogate per proposal: 1 is delayed acceptance, ``k > 1`` the
        surrogate transition method (one exact evaluation per iteration at most).

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
    >>> transition = nsb.delayed_acceptance(
    ...     target, rough, covariance=jnp.ones(2), scale=1.7, num_surrogate_steps=20
    ... )
    >>> state, info = jax.jit(transition.step)(jax.random.key(1), transition.init(jnp.zeros(2)))
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
    kernel = build_kernel(num_surrogate_steps)

    def init_fn(position: Any, rng_key: jax.Array | None = None) -> DelayedAcceptanceState:
        del rng_key
        return init(position, logdensity_fn, surrogate_logdensity_fn)

    def step_fn(rng_key: jax.Array, state: DelayedAcceptanceState):
        return kernel(rng_key, state, logdensity_fn, surrogate_logdensity_fn, factor)

    return SamplingAlgorithm(init_fn, step_fn)


# The public BlackJAX-style algorithm: call it for a SamplingAlgorithm, or use its init and
# build_kernel attributes (exported as numpyro_semipar.mcmc.blackjax.delayed_acceptance).
delayed_acceptance = GenerateSamplingAPI(as_top_level_api, init, build_kernel)
