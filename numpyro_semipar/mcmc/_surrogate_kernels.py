"""``SurrogateMH`` and ``DelayedAcceptanceMH``: surrogate-based MH as NumPyro kernels.

Both take ``surrogate=``: a trained :class:`~numpyro_semipar.mcmc.Surrogate` or any jittable
function of the unconstrained parameter dict (the sample field of NumPyro's MCMC, or the
``init_params`` pytree with ``potential_fn``) returning an approximate log density. For a NumPyro
model the surrogate must approximate the log density on the *unconstrained* space, Jacobian
included — i.e. ``-potential_energy`` — which is what the candidate archive stores when it is fed
by :func:`~numpyro_semipar.mcmc.archive_callback`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from numpyro.infer import init_to_uniform

from ._adapter import CovarianceAdaptiveAdapter
from ._random_walk_kernel import RandomWalkMH
from ._surrogate import Surrogate
from .blackjax import _delayed_acceptance

__all__ = ["DelayedAcceptanceMH", "SurrogateMH", "surrogate_logdensity"]


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

    The random-walk proposal adapts during warm-up like
    :class:`~numpyro_semipar.mcmc.RandomWalkMH`: toward ``target_acceptance`` of the overall
    acceptance probability when ``k = 1``, of the surrogate steps' acceptance when ``k > 1``
    (the steps run on ``π̃``, so their scale is tuned for it).

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
    ):
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
        surrogate_fn = surrogate_logdensity(surrogate)
        self.surrogate_logdensity_fn = surrogate_fn
        kernel = _delayed_acceptance.build_kernel(self.num_surrogate_steps)
        tune_on_surrogate = self.num_surrogate_steps > 1

        def algorithm_init(position, logdensity_fn):
            return _delayed_acceptance.init(position, logdensity_fn, surrogate_fn)

        def algorithm_kernel(rng_key, state, logdensity_fn, proposal_cholesky):
            state, info = kernel(rng_key, state, logdensity_fn, surrogate_fn, proposal_cholesky)
            if tune_on_surrogate:
                # The adapter tunes the scale on `acceptance_rate`: with k > 1 the random walk
                # runs on the surrogate, so its own acceptance is the statistic to track.
                # `step_algorithm` restores the overall rate afterwards.
                info = info._replace(acceptance_rate=info.first_stage_acceptance_rate)
            return state, info

        self._algorithm_init = algorithm_init
        self._kernel = algorithm_kernel

    def step_algorithm(
        self, rng_key, algorithm_state, adaptation_state, logdensity_fn, iteration, num_warmup
    ):
        """One transition, then (during warm-up) one adaptation update."""
        state, adaptation_state, info = super().step_algorithm(
            rng_key, algorithm_state, adaptation_state, logdensity_fn, iteration, num_warmup
        )
        if self.num_surrogate_steps > 1:
            overall = jnp.where(info.first_stage_accepted, info.second_stage_acceptance_rate, 0.0)
            info = info._replace(acceptance_rate=overall.astype(info.acceptance_rate.dtype))
        return state, adaptation_state, info

    def adaptation_points(self, algorithm_state, info):
        """Return the chain's new position, with weight one."""
        return ravel_pytree(algorithm_state.position)[0][None], None

    def evaluated_points(self, info):
        """Return the exact stage's proposal and its log density (NaN when not evaluated)."""
        points = jax.tree.map(lambda leaf: leaf[None], info.proposal)
        return points, info.proposal_logdensity[None]
