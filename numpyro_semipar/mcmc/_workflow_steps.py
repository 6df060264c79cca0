"""Steps of :func:`~numpyro_semipar.mcmc.surrogate_posterior` that work on arrays of draws.

Flattening and unconstraining the draws of a run, fixed-size batches of exact evaluations,
the held-out steps of the exploration, and the ArviZ tree of a flat-position sampler.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.diagnostics import split_gelman_rubin
from numpyro.infer import MCMC
from numpyro.infer.util import unconstrain_fn

from .._warnings import SamplerWarning
from ._archive import position_keys
from ._surrogate_diagnostics import DecisionErrors


def _min_ess(draws: np.ndarray) -> float:
    """Smallest bulk ESS over coordinates of draws with shape (chains, draws, d)."""
    import arviz as az  # on use, not at module level: importing it takes about 1 s

    dataset = az.from_dict({"posterior": {"x": draws}}, dims={"x": ["coordinate"]})
    ess = az.ess(dataset)
    values = np.asarray(ess["posterior"]["x"] if "posterior" in ess else ess["x"])
    return float(np.nanmin(values))


def _max_rhat(draws: np.ndarray) -> float:
    """Largest split R-hat over coordinates of draws with shape (chains, draws, d).

    NumPyro's split R-hat: it splits every chain in halves, so one chain is checked too.
    """
    return float(np.max(split_gelman_rubin(np.asarray(draws, np.float64))))


def _exploration_covariance(draws: np.ndarray, adapted: np.ndarray) -> np.ndarray:
    """Covariance of the exploration draws (chains, draws, d); ``adapted`` when unusable.

    Unusable: fewer than ``10 d`` draws, non-finite, or not positive definite (a chain that
    never moved in some direction).
    """
    flat = np.asarray(draws, np.float64).reshape(-1, draws.shape[-1])
    dimension = flat.shape[-1]
    if flat.shape[0] < 10 * dimension:
        return adapted
    covariance = np.atleast_2d(np.cov(flat, rowvar=False))
    if not np.all(np.isfinite(covariance)):
        return adapted
    try:
        np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        return adapted
    return covariance


def _warn_unconverged(max_rhat: float, min_ess: float, num_chains: int) -> None:
    """Warn when split R-hat or bulk ESS say the final draws are not to be trusted."""
    problems = []
    if max_rhat > 1.01:
        problems.append(f"split R-hat up to {max_rhat:.3f} (> 1.01)")
    if min_ess < 100:
        problems.append(f"bulk ESS down to {min_ess:.0f} (< 100)")
    if problems:
        chains = "" if num_chains > 1 else " with one chain (R-hat then compares its halves)"
        warnings.warn(
            f"surrogate_posterior: the final draws are not reliable{chains}: "
            + "; ".join(problems)
            + ". Run longer (num_warmup, num_samples), start from the mode, or check the "
            "surrogate's diagnostics.",
            SamplerWarning,
            3,
        )


def _flatten(tree, lead_ndim: int) -> np.ndarray:
    """Flatten the trailing (event) dims of a pytree of arrays into one axis.

    Leaves are concatenated in ``ravel_pytree`` order (dict keys sorted), so a flat row is the
    kernels' flattened unconstrained position.
    """
    leaves = jax.tree.leaves(tree)
    lead = np.shape(leaves[0])[:lead_ndim]
    return np.concatenate(
        [np.asarray(leaf, np.float64).reshape(*lead, -1) for leaf in leaves], axis=-1
    )


def _one_chain(tree, num_chains: int):
    """Return the first chain's entry of a (possibly chain-stacked) ``last_state`` field."""
    return tree if num_chains == 1 else jax.tree.map(lambda a: a[0], tree)


def _flat_draws(mcmc: MCMC, num_chains: int, model, model_args, model_kwargs) -> np.ndarray:
    """(chains, draws, d) array of the flattened UNCONSTRAINED latent draws (ravel_pytree order).

    ``mcmc.get_samples()`` holds postprocessed draws: for a NumPyro model these are constrained
    and include ``numpyro.deterministic`` sites, which are neither in the kernels' space nor of
    the kernels' dimension. Only the latent sites (the keys of the kernel's sample field ``z``)
    are kept, and mapped back to the unconstrained space the kernels, the archive and the
    surrogate use.
    """
    samples = mcmc.get_samples(group_by_chain=True)
    if model is not None:
        latent = {name: samples[name] for name in mcmc.last_state.z}

        def unconstrain(params):
            return unconstrain_fn(model, model_args, model_kwargs, params)

        samples = jax.jit(jax.vmap(jax.vmap(unconstrain)))(latent)
    flat = _flatten(samples, 2)
    return flat.reshape(num_chains, -1, flat.shape[-1])


def _padded_batch_evaluator(fn: Callable, chunk_size: int = 256) -> Callable:
    """``points (n, d) -> (n,)`` values of ``fn`` from one compiled program of fixed batch size.

    The batch candidates, the held-out proposals and the reweighting subset all have different
    sizes; evaluated as they come, each size compiles the whole log density again (seconds for a
    DSGE). Fixed-size chunks, the last padded by repeating its final row, compile it once and
    bound the memory of a vmapped batch.
    """
    compiled = jax.jit(jax.vmap(fn))

    def evaluate(points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, np.float64)
        n = points.shape[0]
        if n == 0:
            return np.zeros(0)
        padded = np.concatenate([points, np.repeat(points[-1:], (-n) % chunk_size, axis=0)])
        chunks = padded.reshape(-1, chunk_size, points.shape[1])
        values = np.concatenate([np.asarray(compiled(jnp.asarray(c)), np.float64) for c in chunks])
        return values[:n]

    return evaluate


def _heldout_steps(extra: dict, draws: np.ndarray, exploration: str, fraction: float) -> dict:
    """Held-out MH steps (x, y, log π(x), log π(y)) from the end of each exploration chain."""
    num_chains, num_steps, _ = draws.shape
    held = max(1, int(round(fraction * num_steps)))
    first = max(1, num_steps - held)
    if exploration == "random_walk":
        y = _flatten(extra["info.proposal"], 2)[:, first:]
        log_y = np.asarray(extra["info.proposal_logdensity"], np.float64)[:, first:]
        x = draws[:, first - 1 : num_steps - 1]
        log_x = -np.asarray(extra["potential_energy"], np.float64)[:, first - 1 : num_steps - 1]
        d = x.shape[-1]
        x, y = x.reshape(-1, d), y.reshape(-1, d)
        log_x, log_y = log_x.reshape(-1), log_y.reshape(-1)
    else:
        points = _flatten(extra["info.points"], 3)[:, first:]  # (C, T, N + 1, d)
        values = np.asarray(extra["info.logdensities"], np.float64)[:, first:]
        d, n = points.shape[-1], points.shape[-2] - 1
        x = np.repeat(points[:, :, :1], n, axis=2).reshape(-1, d)
        y = points[:, :, 1:].reshape(-1, d)
        log_x = np.repeat(values[:, :, :1], n, axis=2).reshape(-1)
        log_y = values[:, :, 1:].reshape(-1)
    ok = ~np.isnan(log_x) & ~np.isnan(log_y) & np.isfinite(log_x)
    return {"x": x[ok], "y": y[ok], "log_x": log_x[ok], "log_y": log_y[ok]}


def _rows_in(positions: np.ndarray, rows: np.ndarray) -> np.ndarray:
    held = set(position_keys(rows))
    return np.array([k in held for k in position_keys(positions)], dtype=bool)


def _errors_dict(errors: DecisionErrors) -> dict:
    return {
        "wrong_accept": errors.wrong_accept,
        "wrong_reject": errors.wrong_reject,
        "expected_wrong_accept": errors.expected_wrong_accept,
        "expected_wrong_reject": errors.expected_wrong_reject,
        "num_heldout_steps": errors.num_steps,
    }


def _flat_datatree(draws, lp, num_evaluations, names):
    dimension = draws.shape[-1]
    names = list(names) if names is not None else [f"x[{i}]" for i in range(dimension)]
    if len(names) != dimension:
        raise ValueError(f"names has {len(names)} entries for {dimension} parameters")
    import arviz as az

    return az.from_dict(
        {
            "posterior": {"x": draws},
            "sample_stats": {"lp": lp, "num_evaluations": num_evaluations},
        },
        dims={"x": ["parameter"]},
        coords={"parameter": names},
    )
