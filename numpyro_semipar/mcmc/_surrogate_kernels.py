"""``SurrogateMH`` and ``DelayedAcceptanceMH``: surrogate-based MH as NumPyro kernels.

Both take ``surrogate=``: a trained :class:`~numpyro_semipar.mcmc.Surrogate` or any jittable
function of the unconstrained parameter dict (the sample field of NumPyro's MCMC, or the
``init_params`` pytree with ``potential_fn``) returning an approximate log density. For a NumPyro
model the surrogate must approximate the log density on the *unconstrained* space, Jacobian
included — i.e. ``-potential_energy`` — which is what the candidate archive stores when it is fed
by :func:`~numpyro_semipar.mcmc.archive_callback`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.infer import init_to_uniform

from ._covariance_adapter import CovarianceAdaptiveAdapter, adaptation_schedule
from ._random_walk_kernel import RandomWalkMH
from ._surrogate import Surrogate
from .blackjax import _adaptation as _blackjax_adaptation
from .blackjax import _delayed_acceptance

__all__ = [
    "DelayedAcceptanceAdaptation",
    "DelayedAcceptanceMH",
    "SurrogateMH",
    "surrogate_logdensity",
]


# Candidate temperatures of the calibration, and the share of the exact chain's acceptance the
# tempered screen must keep (averaged over the calibration pairs). Delayed acceptance accepts a
# move with probability α₁α₂ <= min(1, e^Δ); keeping most of the exact acceptance keeps the
# chain mixing like the exact random walk (Peskun ordering), whatever the surrogate's errors.
# The grid is fine near 0: a surrogate much steeper than the target in its tails (a narrow
# Gaussian on a banana) needs beta of a few hundredths; 0.8 instead of 0.95 left the banana's
# variance 10-27% low at an apparent ESS of 500-1500.
TEMPERATURE_GRID = np.array(
    [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
)
MIN_RETAINED_ACCEPTANCE = 0.95


class DelayedAcceptanceAdaptation(NamedTuple):
    """Adaptation state of :class:`DelayedAcceptanceMH`.

    Attributes
    ----------
    covariance : CovarianceAdaptationState
        The random-walk proposal's covariance and scale adaptation.
    temperature : float
        ``β``: the screen uses ``π̃^β`` (set at the end of the exact warm-up stage).
    sum_cross, sum_square : float
        ``Σ ΔΔ̃`` and ``Σ Δ̃²`` over the calibration pairs.
    num_pairs : int
        Calibration pairs.
    sum_retained : array of shape (14,)
        For ``β`` on ``TEMPERATURE_GRID`` (0, 0.01, 0.02, 0.05, 0.1, ..., 1): the sum over the
        calibration pairs of the delayed-acceptance probability ``α₁α₂`` of the tempered screen.
    sum_exact_acceptance : float
        The sum of the exact MH acceptance probabilities ``min(1, e^Δ)`` of the same pairs.
    exact_log_scale : float
        ``log λ`` of the exact stage, for the defensive exact steps.
    second_stage_sum : float
        Sum of the second-stage acceptance probabilities while the surrogate screened.
    num_screened : int
        Proposals that passed the screen while it was used (warm-up).
    """

    covariance: Any
    temperature: jax.Array
    sum_cross: jax.Array
    sum_square: jax.Array
    num_pairs: jax.Array
    sum_retained: jax.Array
    sum_exact_acceptance: jax.Array
    exact_log_scale: jax.Array
    second_stage_sum: jax.Array
    num_screened: jax.Array


def surrogate_logdensity(surrogate: Surrogate | Callable[[Any], jax.Array]) -> Callable:
    """Turn a surrogate into a function of a position pytree.

    A :class:`~numpyro_semipar.mcmc.Surrogate` without a parameter layout is applied to
    ``ravel_pytree(position)`` (sites sorted by name, the order the MH kernels use for the
    proposal covariance); any other callable is returned unchanged.

    Parameters
    ----------
    surrogate : Surrogate or callable
        The surrogate.

    Returns
    -------
    callable
        ``position -> scalar``.
    """
    if isinstance(surrogate, Surrogate):
        if surrogate.layout is not None:
            return surrogate

        def flat(position):
            if isinstance(position, dict) or not hasattr(position, "shape"):
                position = ravel_pytree(position)[0]
            return surrogate.flat_logdensity(position)

        return flat
    if not callable(surrogate):
        raise TypeError(
            f"surrogate must be a Surrogate or a callable, got {type(surrogate).__name__}"
        )
    return surrogate


class SurrogateMH(RandomWalkMH):
    """Adaptive random-walk MH on a surrogate log density — fast and *approximate*.

    This is the seed's method (Kase, Rigato & Rottner 2024): the chain samples the surrogate
    ``π̃``, not the posterior. Its error is only diagnosed (see
    :func:`~numpyro_semipar.mcmc.decision_errors` and
    :func:`~numpyro_semipar.mcmc.importance_diagnostics`); use :class:`DelayedAcceptanceMH` for an
    exact chain. The target is never evaluated: ``num_evaluations`` is 0 and
    ``potential_energy`` holds ``-log π̃``. With ``surrogate`` equal to the exact log density it
    is the same chain as :class:`~numpyro_semipar.mcmc.RandomWalkMH` (same keys, same draws).

    Parameters
    ----------
    model : callable, optional
        NumPyro model (defines the sites, constraints and ``postprocess_fn``).
    potential_fn : callable, optional
        Alternative to ``model``: only used for validation; the chain runs on ``surrogate``.
    surrogate : Surrogate or callable
        Trained surrogate or jittable ``unconstrained dict -> log density``.
    **kwargs
        Proposal and adaptation options of :class:`~numpyro_semipar.mcmc.RandomWalkMH`
        (``covariance``, ``scale``, ``target_acceptance``, ``init_at_mode`` (mode of the
        surrogate), ...).
    """

    # Eager chain init, as before (not checked with the surrogate models).
    jit_chain_init = False

    def __init__(
        self,
        model: Callable | None = None,
        potential_fn: Callable | None = None,
        *,
        surrogate: Surrogate | Callable,
        **kwargs: Any,
    ):
        if "evaluation_callback" in kwargs:
            raise TypeError("SurrogateMH evaluates no target: evaluation_callback is not accepted")
        super().__init__(model, potential_fn, **kwargs)
        self._surrogate_fn = surrogate_logdensity(surrogate)

    def logdensity_fn(self, model_args=(), model_kwargs=None) -> Callable:
        """Return the surrogate (the chain's target); the model is not evaluated."""
        return self._surrogate_fn

    def step_algorithm(
        self, rng_key, algorithm_state, adaptation_state, logdensity_fn, iteration, num_warmup
    ):
        """One random-walk step on the surrogate; reports zero exact evaluations."""
        state, adaptation_state, info = super().step_algorithm(
            rng_key, algorithm_state, adaptation_state, logdensity_fn, iteration, num_warmup
        )
        return state, adaptation_state, info._replace(num_evaluations=jnp.zeros((), jnp.int32))


class DelayedAcceptanceMH(CovarianceAdaptiveAdapter):
    """Delayed-acceptance MH: the surrogate screens or proposes, the exact posterior decides.

    ``num_surrogate_steps=1`` (classic delayed acceptance, Christen & Fox 2005): a Gaussian
    random-walk proposal passes the surrogate's MH test first; only survivors are evaluated
    exactly and accepted with ``min{1, π(y)π̃(x) / [π(x)π̃(y)]}``. Exact evaluations per
    iteration = stage-1 pass rate. ``num_surrogate_steps=k > 1`` (surrogate transition, Liu
    2001): the proposal is the end point of ``k`` random-walk MH steps on the surrogate, accepted
    with the same ratio; one exact evaluation per iteration (none when the surrogate chain did
    not move) buys a ``k``-step move, so with a good surrogate and ``k`` of order 10–50 exact
    evaluations per effective sample fall by orders of magnitude. Either way the chain targets
    the exact posterior for *any* surrogate; a good surrogate only makes it cheaper.

    **Warm-up in two stages.** A surrogate is typically good near the posterior bulk and wrong
    far from it; a Gaussian at the mode is much steeper than the target in its tails. Started
    there, the chain would crawl: moves toward the bulk pass the surrogate screen and fail the
    exact check. So the first ``exact_warmup_fraction`` of warm-up is plain adaptive random-walk
    MH on the exact posterior (the surrogate is evaluated but not used): it brings the chain to
    the bulk and learns the proposal covariance. Over the second half of that stage the kernel
    records how the exact and surrogate log densities change along its proposals
    (``Δ = log π(y) − log π(x)``, ``Δ̃`` likewise) and **tempers** the surrogate to ``π̃^β`` with
    ``β`` the smaller of ``Σ ΔΔ̃ / Σ Δ̃²`` clipped to ``[0, 1]`` (least squares of ``Δ`` on ``Δ̃``)
    and the largest ``β`` on a grid at which the screen keeps 95% of the exact chain's
    acceptance over those pairs (delayed acceptance accepts with ``α₁α₂ ≤ min(1, e^Δ)``; keeping
    the acceptance keeps the mixing of the exact random walk). A surrogate steeper than the
    target, somewhere in the posterior, is flattened so that it cannot trap the chain; a good
    one keeps ``β ≈ 1``. After the exact stage, a share ``exact_step_probability`` of the
    iterations are defensive exact random-walk steps (same cost: one exact evaluation). The rest
    of warm-up adapts the proposal with the surrogate screening, toward
    ``target_acceptance`` of the overall acceptance when ``k = 1``, and of the smaller of the
    surrogate steps' acceptance and the exact stage's when ``k > 1`` (the steps run on
    ``π̃^β``; a poor surrogate gets shorter steps). Everything is frozen after warm-up,
    and the chain targets the exact posterior whatever ``β``. ``mcmc.last_state.
    adaptation_state.temperature`` holds ``β``; a :class:`~numpyro_semipar.SamplerWarning` says
    when it is below 0.3 (the surrogate explains little; delayed acceptance then saves little).

    Parameters
    ----------
    model : callable, optional
        NumPyro model (or give ``potential_fn``).
    potential_fn : callable, optional
        Potential energy (negative exact log density) on the ``init_params`` pytree.
    surrogate : Surrogate or callable
        Trained surrogate or jittable ``unconstrained dict -> approximate log density``.
    num_surrogate_steps : int
        Surrogate MH steps per proposal (1: delayed acceptance).
    covariance, scale, target_acceptance, adapt_covariance, adapt_scale, init_at_mode, \
mode_init_scale, prior_weight, restart_fraction, learning_rate_exponent, init_strategy
        As in :class:`~numpyro_semipar.mcmc.RandomWalkMH`.
    evaluation_callback : callable, optional
        ``f(points, logdensities)`` with the exact stage's proposal and its exact log density;
        the log density is NaN when the target was not evaluated.
    exact_warmup_fraction : float
        Share of warm-up run as exact random-walk MH before the surrogate screens (0.5; 0
        uses the surrogate from the first iteration, as a start at the mode may allow).
    calibrate_surrogate : bool
        Temper the surrogate by the ``β`` estimated in the exact stage (``False``: ``β = 1``).
    exact_step_probability : float
        Share of the iterations after the exact stage that are plain random-walk MH steps on the
        exact posterior, the surrogate ignored (0.1). Such a step costs the same one exact
        evaluation as a screened one. They keep the chain from sticking where the surrogate has
        lighter tails than the target (``π/π̃`` unbounded: the surrogate steps then pull every
        proposal toward the surrogate's bulk and the exact check rejects them); a mixture of
        ``π``-invariant kernels is ``π``-invariant. 0 turns them off.

    Notes
    -----
    Extra fields: ``num_evaluations`` (collected by default; its sum is the number of exact
    evaluations), ``info.first_stage_accepted`` (the target was evaluated),
    ``info.first_stage_acceptance_rate`` (surrogate steps), ``info.second_stage_acceptance_rate``,
    ``info.num_surrogate_accepted``, ``info.proposal``, ``info.proposal_logdensity``,
    ``info.proposal_surrogate_logdensity``. Stage-2 rejections are exactly the surrogate's wrong
    accepts. Under ``chain_method="vectorized"`` both branches of the exact evaluation run for
    every chain (``jax.vmap`` turns ``lax.cond`` into ``select``); ``"sequential"`` and
    ``"parallel"`` skip it when the surrogate chain stays put.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpyro, numpyro.distributions as dist
    >>> from numpyro.infer import MCMC
    >>> from numpyro_semipar.mcmc import DelayedAcceptanceMH
    >>> def model():
    ...     numpyro.sample("x", dist.Normal(0.0, 1.0))
    >>> rough = lambda params: -0.4 * params["x"] ** 2  # a deliberately wrong surrogate
    >>> kernel = DelayedAcceptanceMH(model, surrogate=rough)
    >>> mcmc = MCMC(kernel, num_warmup=500, num_samples=1000, progress_bar=False)
    >>> mcmc.run(jax.random.key(0))
    >>> transition = DelayedAcceptanceMH(model, surrogate=rough, num_surrogate_steps=20)
    >>> mcmc = MCMC(transition, num_warmup=200, num_samples=500, progress_bar=False)
    >>> mcmc.run(jax.random.key(1))
    """

    def __init__(
        self,
        model: Callable | None = None,
        potential_fn: Callable | None = None,
        *,
        surrogate: Surrogate | Callable,
        num_surrogate_steps: int = 1,
        covariance: Any = None,
        scale: float | None = None,
        target_acceptance: float = 0.234,
        adapt_covariance: bool = True,
        adapt_scale: bool = True,
        init_at_mode: bool = False,
        mode_init_scale: float = 1.0,
        prior_weight: float | None = None,
        restart_fraction: float = 0.25,
        learning_rate_exponent: float = 0.6,
        init_strategy: Callable = init_to_uniform,
        evaluation_callback: Callable | None = None,
        exact_warmup_fraction: float = 0.5,
        calibrate_surrogate: bool = True,
        exact_step_probability: float = 0.1,
    ):
        if not 0.0 <= exact_step_probability < 1.0:
            raise ValueError(
                f"exact_step_probability must be in [0, 1), got {exact_step_probability!r}"
            )
        if not 0.0 <= exact_warmup_fraction < 1.0:
            raise ValueError(
                f"exact_warmup_fraction must be in [0, 1), got {exact_warmup_fraction!r}"
            )
        if int(num_surrogate_steps) != num_surrogate_steps or num_surrogate_steps < 1:
            raise ValueError(
                f"num_surrogate_steps must be a positive integer, got {num_surrogate_steps!r}"
            )
        super().__init__(
            model,
            potential_fn,
            covariance=covariance,
            scale=scale,
            target_acceptance=target_acceptance,
            adapt_covariance=adapt_covariance,
            adapt_scale=adapt_scale,
            init_at_mode=init_at_mode,
            mode_init_scale=mode_init_scale,
            prior_weight=prior_weight,
            restart_fraction=restart_fraction,
            learning_rate_exponent=learning_rate_exponent,
            init_strategy=init_strategy,
            evaluation_callback=evaluation_callback,
        )
        self.num_surrogate_steps = int(num_surrogate_steps)
        self._exact_warmup_fraction = float(exact_warmup_fraction)
        self._calibrate_surrogate = bool(calibrate_surrogate)
        self._exact_step_probability = float(exact_step_probability)
        surrogate_fn = surrogate_logdensity(surrogate)
        self.surrogate_logdensity_fn = surrogate_fn
        self._delayed_acceptance_kernel = _delayed_acceptance.build_kernel(self.num_surrogate_steps)

        def algorithm_init(position, logdensity_fn):
            state = _delayed_acceptance.init(position, logdensity_fn, surrogate_fn)
            value = state.surrogate_logdensity
            if not isinstance(value, jax.core.Tracer) and not bool(jnp.isfinite(value)):
                raise ValueError(
                    f"the surrogate log density is {float(value)} at the start: it must be "
                    "finite wherever the chain can be (check the surrogate's input layout and "
                    "training range)"
                )
            return state

        self._algorithm_init = algorithm_init

    def init_algorithm(self, rng_key, position, logdensity_fn, num_warmup):
        """Initialise the chain, the covariance adaptation and the surrogate calibration."""
        state, covariance = super().init_algorithm(rng_key, position, logdensity_fn, num_warmup)
        dtype = covariance.mean.dtype
        zero = jnp.zeros((), dtype)
        calibration = DelayedAcceptanceAdaptation(
            covariance=covariance,
            temperature=jnp.ones((), dtype),
            sum_cross=zero,
            sum_square=zero,
            num_pairs=jnp.zeros((), jnp.int32),
            sum_retained=jnp.zeros(TEMPERATURE_GRID.shape, dtype),
            sum_exact_acceptance=zero,
            exact_log_scale=covariance.log_scale,
            second_stage_sum=zero,
            num_screened=jnp.zeros((), jnp.int32),
        )
        return state, calibration

    def step_algorithm(
        self, rng_key, algorithm_state, adaptation_state, logdensity_fn, iteration, num_warmup
    ):
        """One transition; during warm-up the staged adaptation (see the class docstring)."""
        switch_at = jnp.floor(self._exact_warmup_fraction * num_warmup).astype(jnp.int32)
        exact_stage = iteration < switch_at
        key_mixture, rng_key = jax.random.split(rng_key)
        exact_step = ~exact_stage & (jax.random.uniform(key_mixture) < self._exact_step_probability)
        temperature = jnp.where(exact_stage | exact_step, 0.0, adaptation_state.temperature)
        factor = _blackjax_adaptation.adapted_proposal_cholesky(adaptation_state.covariance)
        # A defensive exact step moves like the exact stage's random walk: its k flat surrogate
        # steps add up to the exact stage's scale.
        covariance_state = adaptation_state.covariance
        defensive = (
            jnp.exp(adaptation_state.exact_log_scale - covariance_state.log_scale)
            / math.sqrt(self.num_surrogate_steps)
        ).astype(factor.dtype)
        factor = jnp.where(exact_step, factor * defensive, factor)
        new_state, info = self._delayed_acceptance_kernel(
            rng_key,
            algorithm_state,
            logdensity_fn,
            self.surrogate_logdensity_fn,
            factor,
            temperature,
        )
        steps = self.num_surrogate_steps
        dtype = info.acceptance_rate.dtype
        if steps > 1:
            # The exact stage's acceptance: α₂ when the surrogate chain moved, else 0.
            overall = jnp.where(info.first_stage_accepted, info.second_stage_acceptance_rate, 0.0)
            info = info._replace(acceptance_rate=overall.astype(dtype))
            # Tuned on the exact acceptance while the surrogate is flat; then on the smaller of
            # the surrogate steps' own acceptance (the k steps run on π̃^β) and the exact one: a
            # good surrogate tunes the steps for itself (the exact stage accepts nearly all), a
            # poor one shortens them until the exact stage accepts often enough.
            tuning = jnp.where(
                exact_stage, overall, jnp.minimum(info.first_stage_acceptance_rate, overall)
            )
        else:
            tuning = info.acceptance_rate
        # Restarts and checkpoint fall on fixed warm-up iterations, defensive steps or not.
        adaptation_state = adaptation_state._replace(
            covariance=adaptation_schedule(
                adaptation_state.covariance, iteration, num_warmup, self._restart_fraction
            )
        )

        def update(adaptation):
            covariance = adaptation.covariance
            points, weights = self.adaptation_points(new_state, info)
            covariance = _blackjax_adaptation.covariance_adaptation_update(
                covariance,
                points,
                tuning,
                weights,
                target_acceptance=self._target_acceptance,
                learning_rate_exponent=self._learning_rate_exponent,
                adapt_covariance=self._adapt_covariance,
                adapt_scale=self._adapt_scale,
            )
            # Pairs (Δ, Δ̃) along the proposals of the second half of the exact stage.
            delta = info.proposal_logdensity - algorithm_state.logdensity
            delta_surrogate = (
                info.proposal_surrogate_logdensity - algorithm_state.surrogate_logdensity
            )
            use = (
                exact_stage
                & (iteration >= switch_at // 2)
                & info.first_stage_accepted
                & jnp.isfinite(delta)
                & jnp.isfinite(delta_surrogate)
            )
            sum_cross = adaptation.sum_cross + jnp.where(use, delta * delta_surrogate, 0.0)
            sum_square = adaptation.sum_square + jnp.where(use, delta_surrogate**2, 0.0)
            num_pairs = adaptation.num_pairs + use.astype(jnp.int32)
            grid = jnp.asarray(TEMPERATURE_GRID, dtype)
            screened = grid * jnp.where(use, delta_surrogate, 0.0)
            retained = jnp.minimum(1.0, jnp.exp(jnp.minimum(screened, 0.0))) * jnp.minimum(
                1.0, jnp.exp(jnp.minimum(jnp.where(use, delta, 0.0) - screened, 0.0))
            )
            sum_retained = adaptation.sum_retained + jnp.where(use, retained, 0.0)
            sum_exact_acceptance = adaptation.sum_exact_acceptance + jnp.where(
                use, jnp.exp(jnp.minimum(delta, 0.0)), 0.0
            )
            at_switch = iteration + 1 == switch_at
            # β: the least-squares slope of Δ on Δ̃ (how steep the target is relative to the
            # surrogate), lowered until the screen keeps MIN_RETAINED_ACCEPTANCE of the exact
            # acceptance (a surrogate steeper than the target in part of the posterior).
            slope = jnp.where(
                (num_pairs > 0) & (sum_square > 0),
                jnp.clip(sum_cross / jnp.where(sum_square > 0, sum_square, 1.0), 0.0, 1.0),
                1.0,
            )
            keeps = sum_retained >= MIN_RETAINED_ACCEPTANCE * sum_exact_acceptance
            retention_limit = jnp.where(num_pairs > 0, jnp.max(jnp.where(keeps, grid, 0.0)), 1.0)
            estimate = jnp.minimum(slope, retention_limit)
            if not self._calibrate_surrogate:
                estimate = jnp.ones_like(estimate)
            temperature = jnp.where(at_switch, estimate, adaptation.temperature)
            if steps > 1:
                # The flat-surrogate stage moved by k steps of scale λ (√k λ in all): one
                # surrogate step starts at that length.
                log_scale = covariance.log_scale + jnp.where(at_switch, 0.5 * math.log(steps), 0.0)
                covariance = covariance._replace(log_scale=log_scale.astype(dtype))
            screening = ~exact_stage
            return DelayedAcceptanceAdaptation(
                covariance=covariance,
                temperature=temperature.astype(dtype),
                sum_cross=sum_cross.astype(dtype),
                sum_square=sum_square.astype(dtype),
                num_pairs=num_pairs,
                sum_retained=sum_retained.astype(dtype),
                sum_exact_acceptance=sum_exact_acceptance.astype(dtype),
                exact_log_scale=jnp.where(
                    at_switch, covariance.log_scale, adaptation.exact_log_scale
                ).astype(dtype),
                second_stage_sum=adaptation.second_stage_sum
                + jnp.where(
                    screening & info.first_stage_accepted, info.second_stage_acceptance_rate, 0.0
                ).astype(dtype),
                num_screened=adaptation.num_screened
                + (screening & info.first_stage_accepted).astype(jnp.int32),
            )

        # The defensive exact steps do not adapt the proposal: their acceptance is not the
        # statistic the scale is tuned on.
        adaptation_state = jax.lax.cond(
            (iteration < num_warmup) & ~exact_step, update, lambda s: s, adaptation_state
        )
        return new_state, adaptation_state, info

    def adaptation_summary(self, adaptation_state) -> dict[str, jax.Array]:
        """Covariance change, surrogate temperature and second-stage acceptance (the checks)."""
        summary = super().adaptation_summary(adaptation_state.covariance)
        summary["temperature"] = adaptation_state.temperature
        summary["num_calibration_pairs"] = adaptation_state.num_pairs
        summary["second_stage_acceptance"] = adaptation_state.second_stage_sum / jnp.maximum(
            adaptation_state.num_screened, 1
        )
        summary["num_screened"] = adaptation_state.num_screened
        return summary

    def health_messages(self, stats: dict[str, Any]) -> list[str]:
        """Warn when the surrogate had to be flattened or the exact stage rejects most moves."""
        if int(np.ravel(stats["iteration"])[0]) != int(np.ravel(stats["num_warmup"])[0]):
            return []
        messages = []
        temperature = np.atleast_1d(np.asarray(stats["temperature"]))
        pairs = np.atleast_1d(np.asarray(stats["num_calibration_pairs"]))
        poor = (temperature < 0.3) & (pairs > 0)
        if poor.any():
            messages.append(
                f"the surrogate explains little of the exact log density over warm-up: it was "
                f"tempered to β = {np.round(temperature[poor], 3).tolist()} (1 = used as is, 0 = "
                "ignored). The chain stays exact, but delayed acceptance saves few evaluations; "
                "retrain the surrogate on candidates from the posterior bulk."
            )
        second = np.atleast_1d(np.asarray(stats["second_stage_acceptance"]))
        screened = np.atleast_1d(np.asarray(stats["num_screened"]))
        low = (second < 0.05) & (screened >= 20)
        if low.any():
            messages.append(
                f"the exact stage accepted only {np.round(second[low], 3).tolist()} of the "
                "proposals the surrogate passed during warm-up: the surrogate disagrees with the "
                "target where the chain is, and the chain will move rarely. Check R-hat over "
                "several chains; retrain the surrogate or use fewer surrogate steps."
            )
        return messages

    def adaptation_points(self, algorithm_state, info):
        """Return the chain's new position, with weight one."""
        return ravel_pytree(algorithm_state.position)[0][None], None

    def evaluated_points(self, info):
        """Return the exact stage's proposal and its log density (NaN when not evaluated)."""
        points = jax.tree.map(lambda leaf: leaf[None], info.proposal)
        return points, info.proposal_logdensity[None]
