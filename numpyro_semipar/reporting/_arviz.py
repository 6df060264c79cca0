"""Frequentist results as ``xarray.DataTree`` objects that ArviZ understands."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ._dims import param_coords, param_dims

if TYPE_CHECKING:
    from ._result import EstimationResult

__all__ = ["draws_generator", "result_to_datatree"]


def draws_generator(rng_key: Any = None) -> tuple[np.random.Generator, str]:
    """Return a NumPy generator seeded from a JAX key (or fresh OS entropy when there is none).

    Returns the generator and a description of its seed, stored in the tree's attributes so
    that draws made without a key can be reproduced (``np.random.default_rng(seed)``).
    """
    if rng_key is None:
        seed = np.random.SeedSequence().entropy
        return np.random.default_rng(seed), f"entropy {seed}"
    import jax

    key = rng_key
    if not (hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raw = np.asarray(key)
        if raw.dtype != np.uint32 or raw.shape != (2,):
            raise TypeError(
                "rng_key must be a JAX PRNG key (jax.random.key(0)) or None, got "
                f"{type(rng_key).__name__} {rng_key!r}"
            )
        data = raw
    else:
        if np.shape(key) != ():
            raise ValueError(f"rng_key must be a single key, got a key array of shape {key.shape}")
        data = np.asarray(jax.random.key_data(key))
    words = [int(w) for w in np.ravel(data)]
    return np.random.default_rng(words), f"key_data {words}"


def _netcdf_attr(value):
    # netCDF attributes must be strings or numbers: store booleans as ints, None as "".
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | float | str | np.integer | np.floating):
        return value
    return str(value)


def _metadata(result: EstimationResult) -> dict:
    meta = {
        "estimator": result.estimator,
        "nobs": result.nobs,
        "loglik": result.loglik,
        "objective": result.objective,
        "objective_name": result.objective_name,
        "converged": result.converged,
        "cov_type": result.cov_type,
        "num_iter": result.num_iter,
        "message": result.message,
        "inference": "frequentist",
    }
    for key, value in result.extra.items():
        if isinstance(value, str | bool | int | float | np.integer | np.floating | np.bool_):
            meta[key] = value
    return {k: _netcdf_attr(v) for k, v in meta.items()}


def _asymptotic_draws(result: EstimationResult, rng: np.random.Generator, size: int) -> np.ndarray:
    layout = result.layout
    k = layout.size
    cov = result.cov if result.cov is not None else np.full((k, k), np.nan)
    identified = np.isfinite(np.diag(cov))
    draws = np.tile(result.flat_params, (size, 1))
    if identified.any():
        sub = np.nan_to_num(cov[np.ix_(identified, identified)])
        # eigh-based square root tolerates a PSD (rank-deficient) covariance.
        evals, evecs = np.linalg.eigh((sub + sub.T) / 2.0)
        # A clearly negative eigenvalue means cov is indefinite (not a covariance): say so
        # rather than silently drawing from its positive part.
        if evals.min() < -1e-8 * max(float(np.abs(evals).max()), 1e-300):
            warnings.warn(
                f"cov is not positive semi-definite: smallest eigenvalue {evals.min():.6g} "
                f"(largest {evals.max():.6g}) over parameters "
                f"{[n for n, ok in zip(layout.flat_names, identified, strict=True) if ok]}; "
                "the draws use only its positive part",
                UserWarning,
                stacklevel=4,
            )
        root = evecs * np.sqrt(np.clip(evals, 0.0, None))
        draws[:, identified] += rng.standard_normal((size, int(identified.sum()))) @ root.T
    draws[:, ~identified] = np.nan
    return draws


def point_estimate_dataset(
    result: EstimationResult, dims: Mapping[str, Sequence[str]], coords: Mapping[str, Any]
) -> xr.Dataset:
    """Build the estimates on named dimensions and the flat standard errors, with metadata."""
    point = {name: (list(dims[name]), np.asarray(result.params[name])) for name in dims}
    point_ds = xr.Dataset(point, coords=coords, attrs=_metadata(result))
    point_ds["std_error"] = (["parameter"], result.flat_std_errors)
    return point_ds.assign_coords(parameter=np.asarray(result.param_names))


def vcov_dataset(result: EstimationResult) -> xr.Dataset:
    """Build the covariance of the flat estimates, labelled by the flat parameter names."""
    k = result.layout.size
    cov = result.cov if result.cov is not None else np.full((k, k), np.nan)
    names = np.asarray(result.param_names)
    return xr.Dataset(
        {"cov": (["parameter", "parameter_bis"], cov)},
        coords={"parameter": names, "parameter_bis": names},
        attrs=_metadata(result),
    )


def extra_groups(result: EstimationResult) -> dict[str, xr.Dataset]:
    """Build the estimator's own groups (``panel``, ``mixing``) from its ``arviz_groups``."""
    groups = {}
    for name, dataset in result.extra.get("arviz_groups", {}).items():
        # A dataset, or a function building one: estimators pass a function where building
        # it at fit time would cost (xarray's first Dataset imports its array backends).
        groups[name] = dataset() if callable(dataset) else dataset
    return groups


def result_to_datatree(
    result: EstimationResult,
    rng_key: Any = None,
    *,
    num_chains: int = 1,
    num_draws: int = 2000,
    dims: Mapping[str, Sequence[str]] | None = None,
    coords: Mapping[str, Sequence[Any]] | None = None,
) -> xr.DataTree:
    """Build the DataTree described in :meth:`EstimationResult.to_arviz`."""
    for name, value in (("num_chains", num_chains), ("num_draws", num_draws)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value}")
    rng, seed_note = draws_generator(rng_key)
    names = param_dims(result, dims)
    labels = param_coords(result, names, coords)
    draws = _asymptotic_draws(result, rng, num_chains * num_draws)
    posterior = {}
    for name, shape in zip(result.layout.names, result.layout.shapes, strict=True):
        values = draws[:, result.layout.index_of(name)].reshape((num_chains, num_draws, *shape))
        posterior[name] = (["chain", "draw", *names[name]], values)
    posterior_ds = xr.Dataset(
        posterior,
        coords={"chain": np.arange(num_chains), "draw": np.arange(num_draws), **labels},
        attrs={
            **_metadata(result),
            "note": "draws from the asymptotic normal N(estimate, cov): not MCMC draws, "
            "ESS and R-hat do not apply (use numpyro_semipar.reporting.summary)",
            "draws_seed": seed_note,
        },
    )
    groups = {
        "posterior": posterior_ds,
        "point_estimate": point_estimate_dataset(result, names, labels),
        "vcov": vcov_dataset(result),
        **extra_groups(result),
    }
    return xr.DataTree.from_dict(groups)
