"""NumPyro ``MCMCKernel`` adapters over BlackJAX-style algorithms.

How a new algorithm plugs in
----------------------------
Subclass :class:`BlackJAXKernelAdapter` and implement two methods; the base class does the rest
(NumPyro model handling, unconstrained positions, ``postprocess_fn``, vectorized/parallel/
sequential chains, the warm-up counter, extra fields, the evaluation callback):

``init_algorithm(rng_key, position, logdensity_fn, num_warmup)``
    Returns ``(algorithm_state, adaptation_state)``. ``algorithm_state`` is a NamedTuple
    with fields ``position`` (a pytree; the unconstrained
    sample dict for a NumPyro model) and ``logdensity``. ``adaptation_state`` is any pytree
    (``()`` when the algorithm does not adapt).

``step_algorithm(rng_key, algorithm_state, adaptation_state, logdensity_fn, iteration, num_warmup)``
    One transition; returns ``(algorithm_state, adaptation_state, info)``. ``iteration``
    (0-based, counting warm-up) and ``num_warmup`` are traced
    integers: adapt while ``iteration < num_warmup`` (with ``jax.lax.cond``). ``info`` is a
    NamedTuple with at least ``acceptance_rate`` (float) and ``num_evaluations`` (int: the number
    of target evaluations this iteration).

Optionally override ``evaluated_points(info) -> (points, logdensities)`` (the positions, with a
leading batch axis, and log densities of every target evaluation of the iteration) to support
``evaluation_callback``. :class:`CovarianceAdaptiveAdapter` implements all three for any kernel
of the form ``kernel(rng_key, state, logdensity_fn, proposal_cholesky)`` with Haario/
Robbins–Monro adaptation and an optional Dynare-style mode start.

What a run records
------------------
The chain state :class:`MHKernelState` has the fields ``z`` (the sample field),
``potential_energy``, ``accept_prob`` and ``num_evaluations`` (collected by default; ArviZ maps the
first two to ``lp`` and ``acceptance_rate``), plus ``iteration``, ``algorithm_state``,
``adaptation_state`` and ``info``. Any of these, and nested attributes, can be collected with
``mcmc.run(..., extra_fields=("info.proposal", "info.proposal_logdensity"))`` and read with
``mcmc.get_extra_fields()``: that is how a candidate archive gets every evaluated point after a
run. To consume evaluations *during* a run instead (e.g. to stream them to disk), pass
``evaluation_callback=f``: ``f(points, logdensities)`` is called through
``jax.debug.callback`` once per chain and iteration (warm-up included) with NumPy arrays (float64
values exact, whichever thread XLA runs the callback on) of the
unconstrained points (a dict of arrays with a leading batch axis) and their log densities
(log posterior in unconstrained space, Jacobian included). The callback must not return
anything and must not be relied on for ordering between chains.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import random
from numpyro.infer import init_to_uniform, init_to_value
from numpyro.infer.mcmc import MCMCKernel
from numpyro.infer.util import constrain_fn, initialize_model
from numpyro.util import identity, is_prng_key

from .._host_callback import debug_callback
from . import _chain_health, _numpyro_loop_cache

__all__ = ["BlackJAXKernelAdapter", "MHKernelState"]


class MHKernelState(NamedTuple):
    """State of a chain run by a :class:`BlackJAXKernelAdapter`.

    Attributes
    ----------
    z : dict or pytree
        Current unconstrained position (the sample field).
    potential_energy : float
        Negative log density at ``z``.
    accept_prob : float
        Acceptance statistic of the last iteration.
    num_evaluations : int
        Target evaluations in the last iteration.
    num_invalid_evaluations : int
        Evaluations of the last iteration that returned NaN or ``+inf`` (rejected).
    iteration : int
        Number of iterations done, warm-up included.
    num_warmup : int
        Warm-up length of the run that created the state (adaptation stops at it).
    mean_accept_prob : float
        Running mean of ``accept_prob`` (shown on the progress bar).
    algorithm_state : NamedTuple
        State of the underlying BlackJAX-style algorithm.
    adaptation_state : pytree
        State of the adaptation (frozen after warm-up).
    info : NamedTuple
        Info of the last iteration (proposals, their log densities, ...).
    health : ChainHealth
        Counters read by the run-time checks (moves, invalid evaluations).
    rng_key : jax.Array
        PRNG key.
    """

    z: Any
    potential_energy: jax.Array
    accept_prob: jax.Array
    num_evaluations: jax.Array
    num_invalid_evaluations: jax.Array
    iteration: jax.Array
    num_warmup: jax.Array
    mean_accept_prob: jax.Array
    algorithm_state: Any
    adaptation_state: Any
    info: Any
    health: _chain_health.ChainHealth
    rng_key: jax.Array


def _array_digest(values) -> str:
    """Return a short hash of an array's dtype, shape and bytes."""
    values = np.asarray(values)
    digest = hashlib.blake2b(values.tobytes(), digest_size=16)
    digest.update(f"{values.dtype}{values.shape}".encode())
    return digest.hexdigest()


def _arguments_digest(model_args, model_kwargs) -> str | None:
    """Hash of concrete model arguments (``None`` when some are traced or not arrays)."""
    leaves = jax.tree.leaves((model_args, dict(sorted((model_kwargs or {}).items()))))
    try:
        if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
            return None
        return "".join(_array_digest(leaf) for leaf in leaves)
    except (TypeError, ValueError):
        return None


def _check_finite_start(init_params) -> None:
    """Raise a ``ValueError`` naming the entries of a concrete ``init_params`` that are NaN/inf."""
    leaves = jax.tree_util.tree_leaves_with_path(init_params)
    for path, leaf in leaves:
        if isinstance(leaf, jax.core.Tracer):
            return
        values = np.asarray(leaf)
        if values.dtype.kind in "fc" and not np.all(np.isfinite(values)):
            where = np.argwhere(~np.isfinite(values)).tolist()
            raise ValueError(
                f"init_params{jax.tree_util.keystr(path)} has non-finite values "
                f"{values[~np.isfinite(values)].tolist()} at index {where}: the chain would "
                "never leave NaN. Give finite starting values."
            )


def _check_init_sites(init_params, latent) -> None:
    """Raise a ``ValueError`` naming the missing and unknown sites of a dict ``init_params``.

    The chains move in the flattened ``init_params``: an extra entry would become a parameter
    that the model ignores, a missing one fails deep inside NumPyro.
    """
    if not isinstance(init_params, Mapping) or not isinstance(latent, Mapping):
        return
    missing = sorted(set(latent) - set(init_params))
    unknown = sorted(set(init_params) - set(latent))
    if missing or unknown:
        raise ValueError(
            "init_params must give exactly the model's latent sites (unconstrained values): "
            f"missing {missing}, unknown {unknown}"
        )


class BlackJAXKernelAdapter(MCMCKernel):
    """Base class: a NumPyro ``MCMCKernel`` over a BlackJAX-style algorithm.

    See the module docstring for the two methods a subclass implements.

    Parameters
    ----------
    model : callable, optional
        NumPyro model. Exactly one of ``model`` and ``potential_fn`` must be given.
    potential_fn : callable, optional
        ``position -> potential energy`` (negative log density); ``init_params`` must then be
        passed to ``MCMC.run``.
    init_strategy : callable
        NumPyro init strategy for models.
    evaluation_callback : callable, optional
        ``f(points, logdensities)`` receiving every target evaluation (see module docstring).
    """

    #: Build the chains' initial states in one jitted program (set by subclasses whose
    #: ``init_algorithm`` is traceable); otherwise they are built eagerly.
    jit_chain_init: bool = False

    def __init__(
        self,
        model: Callable | None = None,
        potential_fn: Callable | None = None,
        *,
        init_strategy: Callable = init_to_uniform,
        evaluation_callback: Callable | None = None,
    ):
        if not (model is None) ^ (potential_fn is None):
            raise ValueError("Only one of `model` or `potential_fn` must be specified.")
        self._model = model
        self._potential_fn = potential_fn
        self._init_strategy = init_strategy
        self._evaluation_callback = evaluation_callback
        self._potential_fn_gen = None
        self._postprocess_fn = None
        self._sample_fn = None

    # ------------------------------------------------------------------ subclass interface
    def init_algorithm(self, rng_key, position, logdensity_fn, num_warmup):
        """Return ``(algorithm_state, adaptation_state)`` for one chain (override)."""
        raise NotImplementedError

    def step_algorithm(
        self, rng_key, algorithm_state, adaptation_state, logdensity_fn, iteration, num_warmup
    ):
        """Return ``(algorithm_state, adaptation_state, info)`` after one transition (override)."""
        raise NotImplementedError

    def evaluated_points(self, info) -> tuple[Any, jax.Array]:
        """Return ``(points, logdensities)`` of this iteration's target evaluations (override)."""
        raise NotImplementedError(
            f"{type(self).__name__} does not expose its evaluations to `evaluation_callback`"
        )

    # ------------------------------------------------------------------ MCMCKernel API
    @property
    def model(self):
        """The NumPyro model (``None`` with ``potential_fn``); ArviZ reads it."""
        return self._model

    @property
    def sample_field(self) -> str:
        """Name of the state field holding the sample."""
        return "z"

    @property
    def default_fields(self) -> tuple[str, ...]:
        """Fields collected on every run."""
        return (
            "z",
            "potential_energy",
            "accept_prob",
            "num_evaluations",
            "num_invalid_evaluations",
        )

    def get_diagnostics_str(self, state) -> str:
        """Progress-bar text."""
        return f"acc. prob={float(state.mean_accept_prob):.2f}"

    def postprocess_fn(self, model_args, model_kwargs):
        """Map unconstrained samples to constrained sites (jittable)."""
        if self._postprocess_fn is None:
            return identity
        return self._postprocess_fn(*model_args, **model_kwargs)

    def logdensity_fn(self, model_args=(), model_kwargs=None) -> Callable:
        """Log density on the unconstrained space for the given model arguments."""
        model_kwargs = {} if model_kwargs is None else model_kwargs
        if self._model is not None:
            potential = self._potential_fn_gen(*model_args, **model_kwargs)
        else:
            potential = self._potential_fn
        return lambda position: -potential(position)

    def init(self, rng_key, num_warmup, init_params=None, model_args=(), model_kwargs={}):  # noqa: B006
        """Initialise one chain (a key) or a batch of chains (a batch of keys)."""
        # So that a second MCMC.run reuses the compiled loop (a NumPyro 0.22 defect).
        _numpyro_loop_cache.install()
        vectorized = not is_prng_key(rng_key)
        if vectorized:
            rng_key, key_init_model = jnp.swapaxes(jax.vmap(random.split)(rng_key), 0, 1)
        else:
            rng_key, key_init_model = random.split(rng_key)
        if self._model is not None:
            model_info, potential_fn_gen, postprocess_fn, _ = initialize_model(
                key_init_model,
                self._model,
                init_strategy=self._model_init_strategy(
                    init_params, vectorized, model_args, model_kwargs
                ),
                dynamic_args=True,
                model_args=model_args,
                model_kwargs=model_kwargs,
                validate_grad=False,
            )
            self._potential_fn_gen = potential_fn_gen
            self._postprocess_fn = postprocess_fn
            if init_params is None:
                init_params = model_info.z
            else:
                _check_init_sites(init_params, model_info.z)
        elif init_params is None:
            raise ValueError("Valid value of `init_params` must be provided with `potential_fn`.")
        logdensity_fn = self.logdensity_fn(model_args, model_kwargs)
        num_warmup = int(num_warmup)
        self._arguments_digest = _arguments_digest(model_args, model_kwargs)
        if vectorized:
            keys = jax.vmap(random.split)(rng_key)
            _check_finite_start(init_params)
            init_state = self._init_chains(
                keys[:, 0], keys[:, 1], init_params, logdensity_fn, num_warmup
            )
            batched = jax.vmap(self._sample, in_axes=(0, None, None))
            self._sample_fn = lambda state, args, kwargs: self._check_health(  # noqa: E731
                batched(state, args, kwargs)
            )
        else:
            key_state, key_algorithm = random.split(rng_key)
            # jnp.asarray: user-supplied init values may be plain Python floats.
            position = jax.tree.map(jnp.asarray, init_params)
            _check_finite_start(position)
            init_state = self._init_chains(
                key_state, key_algorithm, position, logdensity_fn, num_warmup, batched=False
            )
            self._sample_fn = lambda state, args, kwargs: self._check_health(  # noqa: E731
                self._sample(state, args, kwargs)
            )
        self._check_start_logdensity(init_state)
        return init_state

    def _model_init_strategy(self, init_params, vectorized, model_args, model_kwargs):
        """Init strategy for ``initialize_model``: the given start where there is one.

        With ``init_params`` the search for a valid prior draw is wasted work (its result is
        not used) and, on a posterior with invalid regions, it compiles NumPyro's retry loop
        around the whole model: start it at the (constrained) given point instead.
        """
        if init_params is None:
            return self._init_strategy
        first = init_params
        if vectorized:
            first = jax.tree.map(lambda x: jnp.asarray(x)[0], init_params)
        try:
            values = constrain_fn(self._model, model_args, model_kwargs, first)
        except Exception:  # noqa: BLE001 - e.g. a missing site: named after initialize_model
            return self._init_strategy
        return init_to_value(values=values)

    def sample(self, state, model_args, model_kwargs):
        """Run one iteration from ``state`` and return the new :class:`MHKernelState`."""
        return self._sample_fn(state, model_args, model_kwargs)

    # ------------------------------------------------------------------ run-time checks
    def adaptation_summary(self, adaptation_state) -> dict[str, jax.Array]:
        """Scalars of one chain's adaptation state for the checks (override; default none)."""
        return {}

    def health_messages(self, stats: dict[str, Any]) -> list[str]:
        """Kernel-specific warnings from the host-side ``stats`` (override; default none)."""
        return []

    def _check_start_logdensity(self, init_state: MHKernelState) -> None:
        """Raise when a chain starts where the log density is not finite (it could not move)."""
        potential = init_state.potential_energy
        if isinstance(potential, jax.core.Tracer):
            return
        values = -np.atleast_1d(np.asarray(potential, np.float64))
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(
                f"the log density is {values[bad].tolist()} at the start of chain(s) "
                f"{np.flatnonzero(bad).tolist()} (NaN and +inf count as -inf): a chain started "
                "there never accepts a move. Pass init_params where the log density is finite "
                "(for a NumPyro model, unconstrained values inside the support), or leave "
                "init_params out to use the init_strategy."
            )

    def _check_health(self, state: MHKernelState) -> MHKernelState:
        """At the end of warm-up and every few hundred iterations after it, warn on the host."""
        iteration = jnp.ravel(state.iteration)[0]
        num_warmup = jnp.ravel(state.num_warmup)[0]
        batched = jnp.ndim(state.iteration) == 1

        def check(state):
            summary = (
                jax.vmap(self.adaptation_summary)(state.adaptation_state)
                if batched
                else self.adaptation_summary(state.adaptation_state)
            )
            stats = {
                "iteration": state.iteration,
                "num_warmup": state.num_warmup,
                "logdensity": -state.potential_energy,
                **state.health._asdict(),
                **summary,
            }
            debug_callback(self._report_health, stats)
            return state._replace(health=_chain_health.mark_reported(state.health))

        return jax.lax.cond(
            _chain_health.should_check(iteration, num_warmup), check, lambda s: s, state
        )

    def host_statistics(self, stats: dict[str, Any]) -> dict[str, Any]:
        """Host-side post-processing of the check's statistics (override; default none)."""
        return stats

    def _report_health(self, stats) -> None:
        stats = self.host_statistics(stats)
        _chain_health.report(type(self).__name__, stats, self.health_messages(stats))

    # ------------------------------------------------------------------ internals
    def prepares_chains(self) -> bool:
        """Whether :meth:`prepare_chains` may change the positions (override with it)."""
        return type(self).prepare_chains is not BlackJAXKernelAdapter.prepare_chains

    def prepare_chains(self, rng_keys, positions, logdensity_fn, num_warmup):
        """Prepare the batched starting positions before per-chain initialisation.

        The default returns ``positions`` unchanged; :class:`CovarianceAdaptiveAdapter` uses it
        for the mode search, which runs once for all chains and outside ``jax.vmap``.
        """
        return positions

    def _init_chains(
        self, rng_keys, algorithm_keys, positions, logdensity_fn, num_warmup, *, batched=True
    ):
        """Build the initial states of a batch of chains, or of one chain (``batched=False``).

        One chain is initialised without ``vmap``: eagerly, a vmapped model run compiles every
        primitive (and the model's jitted pieces) again for the batch shape.
        """
        if not batched and not self.prepares_chains():
            pass  # nothing to prepare: no batch axis to add and remove (eager compilations)
        elif not batched:
            add_axis = lambda tree: jax.tree.map(lambda x: x[None], tree)  # noqa: E731
            positions = self.prepare_chains(
                add_axis(algorithm_keys), add_axis(positions), logdensity_fn, num_warmup
            )
            positions = jax.tree.map(lambda x: x[0], positions)
        else:
            positions = self.prepare_chains(algorithm_keys, positions, logdensity_fn, num_warmup)

        def one(rng_key, algorithm_key, position):
            algorithm_state, adaptation_state = self.init_algorithm(
                algorithm_key, position, logdensity_fn, num_warmup
            )
            info_shape = jax.eval_shape(
                lambda: self.step_algorithm(
                    rng_key,
                    algorithm_state,
                    adaptation_state,
                    logdensity_fn,
                    jnp.asarray(0),
                    jnp.asarray(num_warmup),
                )[2]
            )
            info = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), info_shape)
            logdensity = jnp.asarray(algorithm_state.logdensity)
            return MHKernelState(
                z=algorithm_state.position,
                potential_energy=-logdensity,
                accept_prob=jnp.zeros((), logdensity.dtype),
                num_evaluations=jnp.asarray(info.num_evaluations),
                num_invalid_evaluations=jnp.zeros((), jnp.int32),
                iteration=jnp.asarray(0, jnp.int32),
                num_warmup=jnp.asarray(num_warmup, jnp.int32),
                mean_accept_prob=jnp.zeros((), logdensity.dtype),
                algorithm_state=algorithm_state,
                adaptation_state=adaptation_state,
                info=info,
                health=_chain_health.health_init(),
                rng_key=rng_key,
            )

        build = one if not batched else jax.vmap(one)
        if self.jit_chain_init:
            # One small program instead of dozens of eagerly compiled operations (each costs
            # 20-60 ms of XLA compilation on CPU, several seconds in all for a fresh process),
            # kept for the next run with the same arguments: `one` closes over this run's log
            # density, which is the same function when the model arguments are the same.
            key = (batched, num_warmup, self._arguments_digest, self.chain_init_key())
            cached = getattr(self, "_chain_init_cache", None)
            if key[2] is not None and cached is not None and cached[0] == key:
                build = cached[1]
            else:
                build = jax.jit(build)
                self._chain_init_cache = (key, build) if key[2] is not None else None
        return build(rng_keys, algorithm_keys, positions)

    def chain_init_key(self) -> Any:
        """Return what, besides the model arguments, the initial states depend on (override)."""
        return ()

    def _sample(self, state: MHKernelState, model_args, model_kwargs) -> MHKernelState:
        logdensity_fn = self.logdensity_fn(model_args, model_kwargs)
        rng_key, key_step = random.split(state.rng_key)
        algorithm_state, adaptation_state, info = self.step_algorithm(
            key_step,
            state.algorithm_state,
            state.adaptation_state,
            logdensity_fn,
            state.iteration,
            state.num_warmup,
        )
        if self._evaluation_callback is not None:
            points, logdensities = self.evaluated_points(info)
            debug_callback(self._evaluation_callback, points, logdensities)
        iteration = state.iteration + 1
        accept = jnp.asarray(info.acceptance_rate, state.mean_accept_prob.dtype)
        mean_accept = state.mean_accept_prob + (accept - state.mean_accept_prob) / iteration
        logdensity = jnp.asarray(algorithm_state.logdensity)
        zero = jnp.zeros((), jnp.int32)
        return MHKernelState(
            z=algorithm_state.position,
            potential_energy=-logdensity,
            accept_prob=accept,
            num_evaluations=jnp.asarray(info.num_evaluations),
            num_invalid_evaluations=jnp.asarray(getattr(info, "num_invalid", zero), jnp.int32),
            iteration=iteration,
            num_warmup=state.num_warmup,
            mean_accept_prob=mean_accept,
            algorithm_state=algorithm_state,
            adaptation_state=adaptation_state,
            info=info,
            health=_chain_health.health_update(state.health, info, iteration, state.num_warmup),
            rng_key=rng_key,
        )

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_sample_fn"] = None
        state["_chain_init_cache"] = None  # a jitted closure: rebuilt after unpickling
        return state
