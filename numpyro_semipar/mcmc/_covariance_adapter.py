"""The covariance-adaptive NumPyro adapter: staged warm-up adaptation and the mode start.

:class:`CovarianceAdaptiveAdapter` extends :class:`~numpyro_semipar.mcmc.BlackJAXKernelAdapter`
with the running-covariance and Robbins–Monro scale adaptation of
:mod:`numpyro_semipar.mcmc.blackjax._adaptation`, restarted in stages during warm-up, and with
the optional start at the posterior mode (``init_at_mode``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import random
from jax.flatten_util import ravel_pytree
from numpyro.infer import init_to_uniform

from ._adapter import BlackJAXKernelAdapter, _array_digest
from .blackjax import _adaptation as _blackjax_adaptation

__all__ = ["CovarianceAdaptiveAdapter", "adaptation_schedule", "covariance_change_numpy"]


def _restart_points(fraction: float) -> list[float]:
    """Shares of warm-up where the running moments restart: f/2, f and 2f (below 1)."""
    if fraction <= 0:
        return []
    return [fraction / 2, fraction] + ([2 * fraction] if 2 * fraction < 1 else [])


def _restart_iteration(iteration, num_warmup, fraction: float) -> jax.Array:
    """Whether the running moments restart at ``iteration``: at f/2, f and 2f of warm-up.

    Each restart makes the current estimate the prior and forgets the path so far, so the
    transient from a poor start (a chain drifting toward the bulk inflates the covariance along
    its path) is dropped in stages; the last stage, from ``2f`` on, learns the final proposal.
    """
    hits = jnp.zeros((), bool)
    for point in _restart_points(fraction):
        at = jnp.floor(point * num_warmup).astype(jnp.int32)
        hits = hits | ((iteration == at) & (at > 0))
    return hits


def _checkpoint_iteration(iteration, num_warmup, fraction: float) -> jax.Array:
    """Whether to checkpoint the covariance: halfway through the last stage of warm-up.

    The end-of-warm-up check compares the final estimate with this one: a proposal that still
    moves over the second half of the last stage has not stabilised.
    """
    last = max(_restart_points(fraction), default=0.0)
    at = jnp.floor((1.0 + last) / 2 * num_warmup).astype(jnp.int32)
    return (iteration == at) & (at > 0)


def adaptation_schedule(state, iteration, num_warmup, fraction: float):
    """Apply the staged restarts and the stabilisation checkpoint to a covariance adaptation."""
    state = jax.lax.cond(
        _restart_iteration(iteration, num_warmup, fraction),
        _blackjax_adaptation.covariance_adaptation_restart,
        lambda s: s,
        state,
    )
    return jax.lax.cond(
        _checkpoint_iteration(iteration, num_warmup, fraction),
        _blackjax_adaptation.covariance_adaptation_checkpoint,
        lambda s: s,
        state,
    )


def covariance_change_numpy(current, checkpoint) -> np.ndarray:
    """NumPy twin of :func:`~numpyro_semipar.mcmc.blackjax.covariance_change` on ``(..., d, d)``.

    ``exp(max |log λ_i|)`` over the eigenvalues of ``L⁻¹ C L⁻ᵀ``, with ``L`` the Cholesky factor
    of the (slightly regularised) checkpoint and ``C`` the current estimate.
    """
    current = np.asarray(current, np.float64)
    checkpoint = np.asarray(checkpoint, np.float64)
    eye = np.eye(checkpoint.shape[-1])
    trace = np.trace(checkpoint, axis1=-2, axis2=-1)[..., None, None]
    factor = np.linalg.cholesky(checkpoint + np.finfo(np.float64).eps * trace * eye)
    half = np.linalg.solve(factor, current)
    whitened = np.linalg.solve(factor, np.swapaxes(half, -1, -2))
    eigenvalues = np.linalg.eigvalsh((whitened + np.swapaxes(whitened, -1, -2)) / 2)
    eigenvalues = np.clip(eigenvalues, np.finfo(np.float64).tiny, None)
    return np.exp(np.max(np.abs(np.log(eigenvalues)), axis=-1))


class CovarianceAdaptiveAdapter(BlackJAXKernelAdapter):
    """Adapter for kernels ``kernel(rng_key, state, logdensity_fn, proposal_cholesky)``.

    Adds, on top of :class:`BlackJAXKernelAdapter`: a Gaussian proposal covariance that adapts
    during warm-up (Haario running covariance shrunk toward the initial covariance, plus a
    Robbins–Monro global scale toward ``target_acceptance``; see
    :mod:`numpyro_semipar.mcmc.blackjax`), a restart of the running moments at
    ``restart_fraction × num_warmup`` (drops the transient from the start), and an optional
    Dynare-style start at the posterior mode with the inverse Hessian as initial covariance.
    Adaptation is frozen after warm-up, so the sampling phase is a proper Markov chain.

    Subclasses set ``self._algorithm_init`` (``init(position, logdensity_fn)``) and
    ``self._kernel``, and implement :meth:`adaptation_points`.

    Parameters
    ----------
    model, potential_fn, init_strategy, evaluation_callback
        See :class:`BlackJAXKernelAdapter`.
    covariance : scalar, array of shape (d,) or (d, d), optional
        Initial proposal covariance in flattened unconstrained order (``jax.flatten_util.
        ravel_pytree`` of the sample dict, sites sorted by name). Identity when omitted.
    scale : float, optional
        Initial global scale ``λ`` (the proposal covariance is ``λ² Σ``).
    target_acceptance : float
        Robbins–Monro target of the acceptance statistic.
    adapt_covariance, adapt_scale : bool
        Switch either adaptation off (both off: a fixed proposal).
    init_at_mode : bool
        Find the posterior mode (BFGS) and the inverse negative Hessian there; use the latter as
        the initial covariance and start the chains at draws from ``N(mode, mode_init_scale² Σ)``.
        Needs concrete values at ``init``, so it is not available with
        ``chain_method="parallel"`` (compute the mode beforehand with
        :func:`numpyro_semipar.mcmc.blackjax.mode_start` and pass ``covariance`` and
        ``init_params`` instead).
    mode_init_scale : float
        Dispersion of the starting points around the mode (0 starts every chain at the mode).
    prior_weight : float, optional
        Weight of the initial covariance in pseudo-draws (default ``2 d``).
    restart_fraction : float
        Fraction of warm-up after which the running moments restart from the current estimate.
    learning_rate_exponent : float
        ``κ`` of the Robbins–Monro step ``(t + 1)^{-κ}``.
    """

    def __init__(
        self,
        model: Callable | None = None,
        potential_fn: Callable | None = None,
        *,
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
        super().__init__(
            model,
            potential_fn,
            init_strategy=init_strategy,
            evaluation_callback=evaluation_callback,
        )
        if not 0.0 < target_acceptance < 1.0:
            raise ValueError(f"`target_acceptance` must be in (0, 1), got {target_acceptance}")
        if scale is not None and not scale > 0:
            raise ValueError(f"`scale` must be positive, got {scale}")
        if not 0.0 <= restart_fraction < 1.0:
            raise ValueError(f"`restart_fraction` must be in [0, 1), got {restart_fraction}")
        if covariance is not None:
            _blackjax_adaptation.check_covariance(covariance)
        if not 0.5 < learning_rate_exponent <= 1.0:
            raise ValueError(
                f"`learning_rate_exponent` must be in (0.5, 1], got {learning_rate_exponent}"
            )
        self._covariance = covariance
        self._scale = scale
        self._target_acceptance = float(target_acceptance)
        self._adapt_covariance = bool(adapt_covariance)
        self._adapt_scale = bool(adapt_scale)
        self._init_at_mode = bool(init_at_mode)
        self._mode_init_scale = float(mode_init_scale)
        self._prior_weight = prior_weight
        self._restart_fraction = float(restart_fraction)
        self._learning_rate_exponent = float(learning_rate_exponent)
        self._initial_covariance = covariance
        self.mode = None
        self._mode_cache: dict = {}
        self._arguments_digest = None

    # -- run-time checks
    def adaptation_summary(self, adaptation_state) -> dict[str, jax.Array]:
        """How much the proposal covariance changed since its checkpoint (for the checks)."""
        if not self._adapt_covariance:
            return {}
        # The matrices, not covariance_change itself: its Cholesky, triangular solves and
        # eigenvalues would be compiled into every sampling loop (seconds of XLA compilation
        # on CPU, for a check that runs a few times per run); the host computes them instead.
        return {
            "covariance_now": _blackjax_adaptation.adapted_covariance(adaptation_state),
            "covariance_checkpoint": adaptation_state.checkpoint_covariance,
            "covariance_draws": adaptation_state.count,
            "dimension": jnp.asarray(adaptation_state.mean.shape[-1]),
        }

    def host_statistics(self, stats: dict[str, Any]) -> dict[str, Any]:
        """Replace the covariance matrices of the summary by their ``covariance_change``."""
        if "covariance_now" not in stats:
            return stats
        stats = dict(stats)
        stats["covariance_change"] = covariance_change_numpy(
            stats.pop("covariance_now"), stats.pop("covariance_checkpoint")
        )
        return stats

    # -- hooks for subclasses
    def adaptation_points(self, algorithm_state, info) -> tuple[jax.Array, jax.Array | None]:
        """Return the flattened points ``(m, d)`` and weights ``(m,)`` fed to the covariance."""
        raise NotImplementedError

    def default_scale(self, dimension: int) -> float:
        """Return the initial global scale used when ``scale`` is not given."""
        return _blackjax_adaptation.optimal_scale(dimension)

    # -- BlackJAXKernelAdapter interface
    def chain_init_key(self):
        """Return a digest of the initial covariance (the mode start's with ``init_at_mode``)."""
        covariance = self._initial_covariance
        return None if covariance is None else _array_digest(np.asarray(covariance))

    def prepares_chains(self) -> bool:
        """Only the mode start changes the starting positions."""
        return self._init_at_mode

    def prepare_chains(self, rng_keys, positions, logdensity_fn, num_warmup):
        """Find the mode once and draw the starting points around it (``init_at_mode``).

        The search runs from the given start and, for a NumPyro model, also from the centre and
        three random points of ``init_to_uniform``'s box (unconstrained values in [-2, 2]); the
        best converged mode wins. The result is cached on the kernel for the same model
        arguments (and, for a ``potential_fn``, the same start), so a second ``run`` neither
        searches nor compiles again.
        """
        if not self._init_at_mode:
            return positions
        first = jax.tree.map(lambda x: x[0], positions)
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(first)):
            raise ValueError(
                "`init_at_mode=True` needs concrete initial values; it does not work with "
                "chain_method='parallel'. Compute the start with "
                "numpyro_semipar.mcmc.blackjax.mode_start and pass `covariance=` and "
                "`init_params=` instead."
            )
        flat_first, unravel_first = ravel_pytree(first)
        # A model's mode depends on its arguments only (the search's other starts are fixed); a
        # potential_fn's search starts where the user said, so the start is part of the key.
        start_digest = None if self._model is not None else _array_digest(flat_first)
        cache_key = (start_digest, self._arguments_digest)
        if cache_key[1] is not None and cache_key in self._mode_cache:
            mode, covariance = self._mode_cache[cache_key]
        else:
            starts = None
            if self._model is not None:
                draws = random.uniform(
                    random.key(0), (3,) + flat_first.shape, flat_first.dtype, -2.0, 2.0
                )
                starts = [unravel_first(jnp.zeros_like(flat_first))] + [
                    unravel_first(draw) for draw in draws
                ]
            mode, covariance = _blackjax_adaptation.mode_start(logdensity_fn, first, starts=starts)
            if cache_key[1] is not None:
                self._mode_cache[cache_key] = (mode, covariance)
        # Back to the chains' dtype: the search runs in float64, NumPyro's default is float32.
        mode = jax.tree.map(lambda m, x: jnp.asarray(m, jnp.asarray(x).dtype), mode, first)
        self.mode = mode
        self._initial_covariance = self._covariance if covariance is None else covariance
        flat_mode, unravel = ravel_pytree(mode)
        if covariance is None:
            # No curvature to draw from: every chain starts at the best point found.
            return jax.vmap(lambda _: mode)(rng_keys)
        factor = jnp.asarray(np.linalg.cholesky(covariance), flat_mode.dtype)

        def draw(rng_key):
            noise = random.normal(random.fold_in(rng_key, 1), flat_mode.shape, flat_mode.dtype)
            candidate = flat_mode + self._mode_init_scale * (factor @ noise)
            # Stay at the mode if the draw falls outside the support.
            ok = jnp.isfinite(logdensity_fn(unravel(candidate)))
            return unravel(jnp.where(ok, candidate, flat_mode))

        return jax.vmap(draw)(rng_keys)

    def init_algorithm(self, rng_key, position, logdensity_fn, num_warmup):
        """Initialise the algorithm state and the covariance adaptation."""
        flat, _ = ravel_pytree(position)
        dimension = flat.shape[0]
        covariance = self._initial_covariance
        if covariance is not None and jnp.ndim(covariance) == 0:
            covariance = jnp.full((dimension,), covariance)
        scale = self.default_scale(dimension) if self._scale is None else self._scale
        adaptation_state = _blackjax_adaptation.covariance_adaptation_init(
            dimension,
            covariance,
            scale=scale,
            prior_weight=self._prior_weight,
            dtype=flat.dtype,
        )
        return self._algorithm_init(position, logdensity_fn), adaptation_state

    def step_algorithm(
        self, rng_key, algorithm_state, adaptation_state, logdensity_fn, iteration, num_warmup
    ):
        """One transition, then (during warm-up) one adaptation update."""
        factor = _blackjax_adaptation.adapted_proposal_cholesky(adaptation_state)
        new_state, info = self._kernel(rng_key, algorithm_state, logdensity_fn, factor)

        def update(state):
            state = adaptation_schedule(state, iteration, num_warmup, self._restart_fraction)
            points, weights = self.adaptation_points(new_state, info)
            return _blackjax_adaptation.covariance_adaptation_update(
                state,
                points,
                info.acceptance_rate,
                weights,
                target_acceptance=self._target_acceptance,
                learning_rate_exponent=self._learning_rate_exponent,
                adapt_covariance=self._adapt_covariance,
                adapt_scale=self._adapt_scale,
            )

        adaptation_state = jax.lax.cond(
            iteration < num_warmup, update, lambda s: s, adaptation_state
        )
        return new_state, adaptation_state, info
