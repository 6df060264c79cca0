"""Posterior draws in the unconstrained space and their log densities, for the estimators."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._posterior_density import (
    PosteriorDensity,
    posterior_density,
    unconstrained_draws,
    unpack_posterior,
)

__all__ = ["UnconstrainedDraws", "effective_sample_size", "prepare_draws"]


class UnconstrainedDraws(NamedTuple):
    """Draws ``z`` of shape (num_chains, num_draws, d), their log densities and the model."""

    density: PosteriorDensity
    z: np.ndarray
    logdensity: np.ndarray
    batched_logdensity: Callable


def prepare_draws(
    posterior: Any,
    model: Callable | None,
    model_args: tuple,
    model_kwargs: Mapping[str, Any] | None,
    group_by_chain: bool,
    min_draws: int,
) -> UnconstrainedDraws:
    """Unpack a run, map its draws to the unconstrained space and evaluate the log density."""
    samples, model, model_args, model_kwargs = unpack_posterior(
        posterior, model, model_args, model_kwargs, group_by_chain=group_by_chain
    )
    first = {k: np.asarray(v)[0, 0] for k, v in samples.items()}
    density = posterior_density(model, model_args, model_kwargs, init_values=first)
    z = unconstrained_draws(density, samples)
    if z.shape[1] < min_draws:
        raise ValueError(
            f"posterior has {z.shape[1]} draws per chain: at least {min_draws} are needed"
        )
    batched = jax.jit(jax.vmap(density.logdensity))
    logdensity = np.asarray(batched(jnp.asarray(z.reshape(-1, z.shape[-1])))).reshape(z.shape[:2])
    if not np.all(np.isfinite(logdensity)):
        raise ValueError(
            f"the log density is not finite at {int(np.sum(~np.isfinite(logdensity)))} posterior "
            "draw(s): pass draws from this model and data"
        )
    return UnconstrainedDraws(density, z, logdensity, batched)


def effective_sample_size(values: np.ndarray) -> float:
    """ESS of a scalar sequence of shape (num_chains, num_draws) (NumPyro's estimator).

    A constant sequence has no autocorrelation to speak of: its ESS is the number of draws.
    """
    from numpyro.diagnostics import effective_sample_size as numpyro_ess

    values = np.asarray(values, np.float64)
    if np.ptp(values) == 0.0:
        return float(values.size)
    return float(numpyro_ess(values))
