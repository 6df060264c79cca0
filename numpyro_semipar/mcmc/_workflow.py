"""The DNN-surrogate workflow in one call: explore, archive, train, sample, diagnose.

:func:`surrogate_posterior` runs the seed's pipeline (Kase, Rigato & Rottner 2024) with the exact
correction available:

1. **Mode.** For a JAX log density or a NumPyro model, BFGS finds the mode and the inverse
   Hessian there starts the proposal (Dynare-style).
2. **Exploration.** Adaptive random-walk (or multi-proposal) MH on the exact posterior; every
   candidate, accepted or rejected, goes to a :class:`CandidateArchive` ("waste recycling").
   Log densities written outside JAX are evaluated through an executor and looked up in the
   archive first, so a killed run resumes without re-evaluating anything stored.
3. **Training.** A Flax MLP (:func:`train_surrogate`) on the archive, without the held-out steps;
   by default on the residual of a Gaussian fitted to the exploration draws
   (:func:`train_residual_surrogate`), which makes the fit much tighter and the surrogate decay
   in every direction.
4. **Sampling.** ``method="delayed_acceptance"`` (exact: the surrogate screens — or, with
   ``num_surrogate_steps=k > 1``, proposes the end point of ``k`` MH steps on itself — and the
   posterior decides) or ``method="surrogate"`` (the seed's approximate MH on the surrogate, with
   importance reweighting of a thinned subset as a check).
5. **Diagnostics.** Wrong-accept/wrong-reject rates on held-out steps (states of the exploration
   chain not used in training, proposals drawn from the final sampler's own random walk,
   evaluated exactly), Pareto-k̂, exact evaluation counts and exact evaluations per effective
   sample, wall and CPU times, in the returned ArviZ DataTree's ``attrs`` (and ``sample_stats``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.infer import MCMC

from .._progress import show_progress
from .._x64 import float64
from ._archive import ArchiveRecorder, CandidateArchive
from ._executor import host_logdensity
from ._logdensity_checks import is_jax_logdensity
from ._multi_proposal_kernel import MultiProposalMH
from ._random_walk_kernel import RandomWalkMH
from ._residual_surrogate import ResidualSurrogate, train_residual_surrogate
from ._surrogate import Surrogate, train_surrogate
from ._surrogate_diagnostics import decision_errors, importance_diagnostics
from ._surrogate_kernels import DelayedAcceptanceMH, SurrogateMH, surrogate_logdensity
from ._workflow_steps import (
    _errors_dict,
    _exploration_covariance,
    _flat_datatree,
    _flat_draws,
    _heldout_steps,
    _max_rhat,
    _min_ess,
    _one_chain,
    _padded_batch_evaluator,
    _rows_in,
    _warn_unconverged,
)
from .blackjax import adapted_covariance, adapted_proposal_cholesky
from .blackjax._adaptation import optimal_scale
from .blackjax._surrogate_mh import sample_surrogate_chains

__all__ = ["SurrogatePosterior", "surrogate_posterior"]


class SurrogatePosterior(NamedTuple):
    """Everything :func:`surrogate_posterior` produced.

    Attributes
    ----------
    datatree : xarray.DataTree
        Posterior draws of the final sampler; ``attrs`` (and ``sample_stats.attrs``) carry the
        diagnostics, ``sample_stats.num_evaluations`` the exact evaluations per iteration.
    diagnostics : dict
        The same diagnostics as a dict (see Notes of :func:`surrogate_posterior`).
    surrogate : Surrogate or ResidualSurrogate
        The trained surrogate.
    archive : CandidateArchive
        The candidate archive (training data).
    exploration : numpyro.infer.MCMC
        The exact exploration run.
    sampler : numpyro.infer.MCMC or SurrogateChains
        The final run.
    """

    datatree: Any
    diagnostics: dict
    surrogate: Surrogate | ResidualSurrogate
    archive: CandidateArchive
    exploration: MCMC
    sampler: Any


def surrogate_posterior(
    model_or_logdensity: Callable,
    *model_args: Any,
    rng_key: jax.Array,
    init_params: Any = None,
    model_kwargs: Mapping[str, Any] | None = None,
    method: str = "delayed_acceptance",
    archive: CandidateArchive | str | os.PathLike | None = None,
    executor: Any = None,
    exploration: str = "random_walk",
    num_proposals: int = 16,
    covariance: Any = None,
    find_mode: bool | None = None,
    num_exploration_warmup: int = 1000,
    num_exploration: int = 5000,
    num_warmup: int = 500,
    num_samples: int = 5000,
    num_chains: int = 2,
    holdout_fraction: float = 0.2,
    num_importance: int = 500,
    num_surrogate_steps: int = 1,
    surrogate_baseline: str | None = "gaussian",
    num_heldout_proposals: int = 1,
    num_batch_candidates: int = 0,
    batch_candidate_scale: float = 1.5,
    surrogate_options: Mapping[str, Any] | None = None,
    names: list[str] | None = None,
    jax_logdensity: bool | None = None,
    progress_bar: bool = True,
    check_convergence: bool = True,
) -> SurrogatePosterior:
    """Run mode → exploration MH with archive → surrogate training → DA or surrogate MH.

    Parameters
    ----------
    model_or_logdensity : callable
        A NumPyro model, or a log density of a flat parameter vector (then ``init_params``, a
        (d,) array, is required). A log density that JAX cannot trace (NumPy, numba, a
        sequence-jacobian model) is evaluated on the host through ``executor``.
    *model_args
        Positional arguments of the model.
    rng_key : jax.Array
        PRNG key.
    init_params : array of shape (d,) or dict, optional
        Starting point: required for a log density; for a model, a dict of unconstrained
        values (default: NumPyro's init strategy).
    model_kwargs : dict, optional
        Keyword arguments of the model.
    method : {"delayed_acceptance", "surrogate"}
        Exact delayed acceptance, or the seed's approximate MH on the surrogate.
    archive : CandidateArchive or path, optional
        Candidate archive (default: a fresh temporary directory). An existing archive resumes:
        stored host evaluations are not repeated, and its candidates join the training data.
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Where host log densities are evaluated (batches come from multi-proposal MH).
    exploration : {"random_walk", "multi_proposal"}
        Exploration sampler on the exact posterior.
    num_proposals : int
        Proposals per iteration of multi-proposal exploration.
    covariance : array, optional
        Initial proposal covariance (flattened unconstrained order).
    find_mode : bool, optional
        Start at the BFGS mode with the inverse Hessian (default: when the log density is JAX).
    num_exploration_warmup, num_exploration : int
        Warm-up (adaptation) and post-warm-up iterations of exploration per chain.
    num_warmup, num_samples : int
        Warm-up and draws of the final sampler per chain.
    num_chains : int
        Chains (run sequentially for the exact stages, so delayed acceptance really skips the
        exact evaluations that stage 1 rejects). Two by default: a single chain cannot show
        that it has not converged.
    holdout_fraction : float
        Share of the post-warm-up exploration steps held out of training to measure wrong
        accepts and wrong rejects.
    num_importance : int
        ``method="surrogate"``: thinned surrogate draws reweighted by the exact posterior
        (exact evaluations) for Pareto-k̂.
    num_surrogate_steps : int
        ``method="delayed_acceptance"``: MH steps on the surrogate per proposal. 1 is classic
        delayed acceptance; ``k > 1`` the surrogate transition method (Liu 2001): one exact
        evaluation per iteration buys a ``k``-step move, the better choice with a good surrogate
        (``k`` of order 10–50).
    surrogate_baseline : {"gaussian", None}
        ``"gaussian"``: train the network on the residual of a concave quadratic fitted to the
        exploration draws (:func:`train_residual_surrogate`); ``None``: on the log density
        itself (the seed's recipe).
    num_heldout_proposals : int
        Proposals drawn from the final sampler's random walk per held-out state for the
        wrong-accept/reject rates (each costs one exact evaluation, counted in
        ``num_exact_evaluations_diagnostics``).
    num_batch_candidates : int
        Extra training candidates drawn at once from ``N(m, s² C)``, with ``m`` and ``C`` the
        mean and covariance of the exploration draws and ``s = batch_candidate_scale``, and
        evaluated exactly as one vectorised batch (through ``executor`` for a host log
        density). A batch is much cheaper per point than a chain step and, being
        overdispersed, covers the tails a long chain on the surrogate visits. Counted in
        ``num_exact_evaluations_exploration``.
    batch_candidate_scale : float
        Overdispersion ``s`` of the batch candidates.
    surrogate_options : dict, optional
        Keyword arguments of :func:`train_surrogate`.
    names : list of str, optional
        Coordinate names for a flat log density (default ``x[0]``, ``x[1]``, ...).
    jax_logdensity : bool, optional
        Whether a flat log density can be traced by JAX. Default: detected by tracing it once
        with :func:`jax.eval_shape` (pass ``False`` for a host function with side effects).
    progress_bar : bool
        Progress bars (off when ``CI`` is set).
    check_convergence : bool
        Warn (:class:`~numpyro_semipar.SamplerWarning`) when the final draws have a split
        R-hat above 1.01 or a bulk ESS below 100 for some coordinate (``max_rhat`` and
        ``min_ess`` are in the diagnostics either way).

    Returns
    -------
    SurrogatePosterior

    Notes
    -----
    ``diagnostics`` keys: ``method``, ``approximate`` (1 for surrogate MH), ``dimension``,
    ``num_surrogate_steps``, ``num_exact_evaluations_exploration``,
    ``num_exact_evaluations_sampling`` (warm-up included, at the post-warm-up rate),
    ``num_exact_evaluations`` (their sum),
    ``num_exact_evaluations_diagnostics`` (held-out proposals; not part of the sampling cost),
    ``num_training_candidates``, ``validation_rmse``, ``validation_r2`` (of the log density),
    ``training_seconds``, ``heldout_error_sd`` (standard deviation of ``log π̃ − log π`` over the
    held-out states and those of their proposals at least as probable as the least probable
    state: what decides the exact stage), ``wrong_accept``,
    ``wrong_reject``, ``expected_wrong_accept``, ``expected_wrong_reject``,
    ``num_heldout_steps`` (on the final sampler's proposals), ``exploration_wrong_accept`` and
    ``exploration_wrong_reject`` (on the exploration's own held-out steps), ``min_ess`` and
    ``max_rhat`` (split R-hat; final draws), ``exact_evaluations_per_ess`` (final sampler),
    ``exact_evaluations_per_ess_with_exploration`` (exploration included: the honest cost),
    ``exploration_evaluations_per_ess`` (the exact exploration run, post-warm-up: the random-walk
    baseline), ``exploration_seconds`` and ``exploration_cpu_seconds`` (the exploration run
    alone, compilation included), ``setup_seconds`` and ``setup_cpu_seconds`` (mode,
    exploration, training),
    ``sampling_seconds`` and ``sampling_cpu_seconds`` (final sampler), and for
    ``method="surrogate"``: ``pareto_k``, ``importance_ess``.
    """
    if method not in ("delayed_acceptance", "surrogate"):
        raise ValueError(f"method must be 'delayed_acceptance' or 'surrogate', got {method!r}")
    if exploration not in ("random_walk", "multi_proposal"):
        raise ValueError(
            f"exploration must be 'random_walk' or 'multi_proposal', got {exploration!r}"
        )
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    if int(num_surrogate_steps) != num_surrogate_steps or num_surrogate_steps < 1:
        raise ValueError(
            f"num_surrogate_steps must be a positive integer, got {num_surrogate_steps!r}"
        )
    if int(num_batch_candidates) != num_batch_candidates or num_batch_candidates < 0:
        raise ValueError(
            f"num_batch_candidates must be a non-negative integer, got {num_batch_candidates!r}"
        )
    if not batch_candidate_scale > 0:
        raise ValueError(f"batch_candidate_scale must be positive, got {batch_candidate_scale}")
    if surrogate_baseline not in ("gaussian", None):
        raise ValueError(
            f"surrogate_baseline must be 'gaussian' or None, got {surrogate_baseline!r}"
        )
    if int(num_heldout_proposals) != num_heldout_proposals or num_heldout_proposals < 1:
        raise ValueError(
            f"num_heldout_proposals must be a positive integer, got {num_heldout_proposals!r}"
        )
    setup_started, setup_cpu_started = time.perf_counter(), time.process_time()
    model_kwargs = dict(model_kwargs or {})
    disable = not show_progress(progress_bar)
    if archive is None:
        import tempfile

        archive = CandidateArchive(Path(tempfile.mkdtemp(prefix="surrogate-archive-")))
    elif not isinstance(archive, CandidateArchive):
        archive = CandidateArchive(archive)
    keys = jax.random.split(rng_key, 6)
    key_explore, key_train, key_sample, key_check, key_heldout, key_batch = keys

    is_logdensity = init_params is not None and not isinstance(init_params, Mapping)
    with float64():
        if is_logdensity:
            position0 = jnp.asarray(init_params, dtype=jnp.float64)
            if position0.ndim != 1:
                raise ValueError(
                    f"init_params must be a (d,) vector for a log density; got {position0.shape}"
                )
            dimension = int(position0.shape[0])
            jax_target = (
                is_jax_logdensity(model_or_logdensity, position0)
                if jax_logdensity is None
                else bool(jax_logdensity)
            )
            exact_fn = (
                model_or_logdensity
                if jax_target
                else host_logdensity(model_or_logdensity, executor=executor, archive=archive)
            )
            target_kwargs = {"potential_fn": lambda x: -exact_fn(x)}
            init = position0 if num_chains == 1 else jnp.tile(position0, (num_chains, 1))
        else:
            jax_target = True
            exact_fn = None
            target_kwargs = {"model": model_or_logdensity}
            init = None
            if init_params is not None:
                init = (
                    init_params
                    if num_chains == 1
                    else jax.tree.map(
                        lambda v: jnp.stack([jnp.asarray(v)] * num_chains), init_params
                    )
                )
        use_mode = jax_target if find_mode is None else bool(find_mode)
        recorder = ArchiveRecorder(archive) if jax_target else None
        explore_options = {
            "covariance": covariance,
            "init_at_mode": use_mode,
            "evaluation_callback": recorder,
        }
        if exploration == "random_walk":
            explorer = RandomWalkMH(**target_kwargs, **explore_options)
        else:
            explorer = MultiProposalMH(
                **target_kwargs, num_proposals=num_proposals, **explore_options
            )
        explore_mcmc = MCMC(
            explorer,
            num_warmup=num_exploration_warmup,
            num_samples=num_exploration,
            num_chains=num_chains,
            chain_method="sequential",
            progress_bar=not disable,
        )
        fields = (
            ("info.proposal", "info.proposal_logdensity")
            if exploration == "random_walk"
            else ("info.points", "info.logdensities")
        )
        explore_started, explore_cpu_started = time.perf_counter(), time.process_time()
        explore_mcmc.run(
            key_explore,
            *model_args,
            init_params=init,
            extra_fields=fields,
            **model_kwargs,
        )
        explore_seconds = time.perf_counter() - explore_started
        explore_cpu_seconds = time.process_time() - explore_cpu_started
        if recorder is not None:
            recorder.flush()
        extra = explore_mcmc.get_extra_fields(group_by_chain=True)
        model = None if is_logdensity else model_or_logdensity
        draws = _flat_draws(explore_mcmc, num_chains, model, model_args, model_kwargs)
        dimension = draws.shape[-1]
        explore_per_step = 1 if exploration == "random_walk" else num_proposals
        num_explore_evaluations = (
            num_chains * (num_exploration_warmup + num_exploration) * explore_per_step
        )

        exact_flat = exact_fn
        if not is_logdensity:
            exact_dict = explorer.logdensity_fn(model_args, model_kwargs)
            unravel = ravel_pytree(_one_chain(explore_mcmc.last_state.z, num_chains))[1]
            exact_flat = lambda x: exact_dict(unravel(x))  # noqa: E731

        exact_batch = _padded_batch_evaluator(exact_flat)

        def evaluate_exact(points: np.ndarray, folder: str) -> np.ndarray:
            if is_logdensity and not jax_target:
                # A separate archive: these points must not change the training data of a
                # replayed run.
                store = CandidateArchive(archive.path / folder)
                return store.evaluate(model_or_logdensity, points, executor=executor)
            return exact_batch(points)

        # Overdispersed batch candidates: draws from the exploration's Gaussian, inflated, so the
        # surrogate also learns the tails a long chain on it visits; one vectorised batch.
        if num_batch_candidates:
            flat_draws = draws.reshape(-1, dimension)
            factor = np.linalg.cholesky(
                np.cov(flat_draws, rowvar=False) + 1e-10 * np.eye(dimension)
            )
            noise = np.asarray(
                jax.random.normal(key_batch, (int(num_batch_candidates), dimension), jnp.float64)
            )
            batch = flat_draws.mean(axis=0) + batch_candidate_scale * noise @ factor.T
            if jax_target:
                batch_values = exact_batch(batch)
                archive.append(batch, np.where(np.isnan(batch_values), -np.inf, batch_values))
            else:
                archive.evaluate(model_or_logdensity, batch, executor=executor)
            num_explore_evaluations += int(num_batch_candidates)

        # Held-out steps: the last part of each exploration chain (state before, proposal).
        heldout = _heldout_steps(extra, draws, exploration, holdout_fraction)
        positions, values = archive.load(finite_only=True)
        # Rows in a fixed order: evaluation callbacks reach the archive in whatever order XLA
        # runs them, and the training split must not depend on it (same key, same draws).
        order = np.lexsort(np.column_stack([positions, values]).T[::-1])
        positions, values = positions[order], values[order]
        if heldout["y"].shape[0]:
            held = _rows_in(positions, heldout["y"])
            positions, values = positions[~held], values[~held]
        options = {"progress_bar": progress_bar, **dict(surrogate_options or {})}
        if surrogate_baseline == "gaussian":
            # The baseline's Gaussian: the post-warm-up exploration draws.
            surrogate = train_residual_surrogate(
                positions,
                values,
                draws.reshape(-1, dimension),
                rng_key=key_train,
                **options,
            )
        else:
            surrogate = train_surrogate(positions, values, rng_key=key_train, **options)
        surrogate_fn = surrogate_logdensity(surrogate)
        exploration_errors = decision_errors(
            surrogate.flat_logdensity,
            heldout["x"],
            heldout["y"],
            heldout["log_x"],
            heldout["log_y"],
            rng_key=key_check,
        )
        explore_ess = _min_ess(draws)
        diagnostics: dict[str, Any] = {
            "method": method,
            "approximate": int(method == "surrogate"),
            "dimension": int(dimension),
            "num_surrogate_steps": int(num_surrogate_steps) if method != "surrogate" else 0,
            "num_exact_evaluations_exploration": int(num_explore_evaluations),
            "num_training_candidates": int(positions.shape[0]),
            "validation_rmse": float(surrogate.info.validation_rmse),
            "validation_r2": float(surrogate.info.validation_r2),
            "training_seconds": float(surrogate.info.seconds),
            "exploration_seconds": explore_seconds,
            "exploration_cpu_seconds": explore_cpu_seconds,
            "exploration_evaluations_per_ess": float(
                num_chains * num_exploration * explore_per_step / explore_ess
            ),
            "exploration_wrong_accept": exploration_errors.wrong_accept,
            "exploration_wrong_reject": exploration_errors.wrong_reject,
            "setup_seconds": time.perf_counter() - setup_started,
            "setup_cpu_seconds": time.process_time() - setup_cpu_started,
        }

        # Final sampler, starting where exploration ended. Its proposal covariance is that of
        # all exploration draws (every chain, after warm-up): the adapted one froze at the end of
        # exploration's warm-up and, on a funnel such as eight schools, was several times off
        # (final ESS 34 of 40,000 draws against 700 for plain random-walk MH). The scale starts
        # at 2.38/sqrt(d) (and adapts in the final warm-up where the kernel adapts).
        adaptation = explore_mcmc.last_state.adaptation_state
        if num_chains > 1:  # every chain adapted its own proposal: start from the first one's
            adaptation = jax.tree.map(lambda a: a[0], adaptation)
        cov = _exploration_covariance(draws, np.asarray(adapted_covariance(adaptation)))
        scale = optimal_scale(dimension)
        start = explore_mcmc.last_state.z
        started, cpu_started = time.perf_counter(), time.process_time()
        if method == "delayed_acceptance" or not is_logdensity:
            if method == "delayed_acceptance":
                kernel = DelayedAcceptanceMH(
                    **target_kwargs,
                    surrogate=surrogate_fn,
                    covariance=cov,
                    scale=scale,
                    num_surrogate_steps=int(num_surrogate_steps),
                )
            else:
                kernel = SurrogateMH(
                    **target_kwargs, surrogate=surrogate_fn, covariance=cov, scale=scale
                )
            sampler = MCMC(
                kernel,
                num_warmup=num_warmup,
                num_samples=num_samples,
                num_chains=num_chains,
                chain_method="sequential" if method == "delayed_acceptance" else "vectorized",
                progress_bar=not disable,
            )
            sampler.run(key_sample, *model_args, init_params=start, **model_kwargs)
            final_adaptation = _one_chain(sampler.last_state.adaptation_state, num_chains)
            proposal_factor = np.asarray(adapted_proposal_cholesky(final_adaptation))
            evaluations = np.asarray(
                sampler.get_extra_fields(group_by_chain=True)["num_evaluations"]
            )
            final = _flat_draws(sampler, num_chains, model, model_args, model_kwargs)
            if is_logdensity:
                lp = -np.asarray(
                    sampler.get_extra_fields(group_by_chain=True)["potential_energy"], np.float64
                )
                datatree = _flat_datatree(final, lp, evaluations, names)
            else:
                import arviz as az  # on use, not at module level: importing it takes about 1 s

                datatree = az.from_numpyro(sampler)
        else:
            factor = np.linalg.cholesky(cov) * scale
            proposal_factor = factor
            sampler = sample_surrogate_chains(
                key_sample,
                surrogate.flat_logdensity,
                jnp.asarray(draws[:, -1], jnp.float32),
                jnp.asarray(factor, jnp.float32),
                num_warmup + num_samples,
            )
            final = np.asarray(sampler.positions, np.float64)[:, num_warmup:]
            lp_surrogate = np.asarray(sampler.logdensities, np.float64)[:, num_warmup:]
            evaluations = np.zeros(lp_surrogate.shape, np.int32)
            datatree = _flat_datatree(final, lp_surrogate, evaluations, names)
        sampling_evaluations = int(np.sum(evaluations))
        if evaluations.size and num_warmup:
            # Warm-up evaluations are not collected: count them at the post-warm-up rate.
            sampling_evaluations += int(
                round(float(np.mean(evaluations)) * num_warmup * num_chains)
            )
        diagnostics["sampling_seconds"] = time.perf_counter() - started
        diagnostics["sampling_cpu_seconds"] = time.process_time() - cpu_started
        # Wrong accepts/rejects on held-out states with the final sampler's own proposals.
        repeats = int(num_heldout_proposals)
        x_held = np.repeat(heldout["x"], repeats, axis=0)
        log_x_held = np.repeat(heldout["log_x"], repeats)
        noise = np.asarray(jax.random.normal(key_heldout, x_held.shape, jnp.float64), np.float64)
        y_held = x_held + noise @ np.asarray(proposal_factor, np.float64).T
        log_y_held = evaluate_exact(y_held, "heldout")
        errors = decision_errors(
            surrogate.flat_logdensity, x_held, y_held, log_x_held, log_y_held, rng_key=key_check
        )
        diagnostics.update(_errors_dict(errors))
        diagnostics["num_exact_evaluations_diagnostics"] = int(y_held.shape[0])
        both = np.concatenate([heldout["x"], y_held])
        exact_both = np.concatenate([heldout["log_x"], log_y_held])
        surrogate_both = np.asarray(
            jax.jit(jax.vmap(surrogate.flat_logdensity))(jnp.asarray(both)), np.float64
        )
        # Near the posterior bulk: points at least as probable as the least probable held-out
        # state (far-tail proposals are rejected by either density and would dominate an sd).
        ok = (
            np.isfinite(exact_both)
            & np.isfinite(surrogate_both)
            & (exact_both >= np.min(heldout["log_x"]))
        )
        diagnostics["heldout_error_sd"] = float(np.std(surrogate_both[ok] - exact_both[ok]))
        if method == "surrogate":
            # Importance reweighting of a thinned subset by the exact posterior (the check).
            per_chain = max(1, num_importance // num_chains)
            index = np.linspace(0, final.shape[1] - 1, per_chain).astype(int)
            subset = final[:, index].reshape(-1, dimension)
            log_target = evaluate_exact(subset, "reweighting")
            importance = importance_diagnostics(
                subset, log_target=log_target, surrogate_fn=surrogate.flat_logdensity
            )
            sampling_evaluations += int(subset.shape[0])
            diagnostics["pareto_k"] = float(importance.pareto_k)
            diagnostics["importance_ess"] = float(importance.ess)
        diagnostics["num_exact_evaluations_sampling"] = sampling_evaluations
        diagnostics["num_exact_evaluations"] = num_explore_evaluations + sampling_evaluations
        min_ess = _min_ess(final)
        diagnostics["min_ess"] = min_ess
        diagnostics["max_rhat"] = _max_rhat(final)
        if check_convergence:
            _warn_unconverged(diagnostics["max_rhat"], min_ess, num_chains)
        diagnostics["exact_evaluations_per_ess"] = sampling_evaluations / min_ess
        diagnostics["exact_evaluations_per_ess_with_exploration"] = (
            num_explore_evaluations + sampling_evaluations
        ) / min_ess
    datatree.attrs.update(diagnostics)
    datatree["sample_stats"].attrs.update(diagnostics)
    return SurrogatePosterior(datatree, diagnostics, surrogate, archive, explore_mcmc, sampler)
