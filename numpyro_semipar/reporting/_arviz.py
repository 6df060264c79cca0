"""Frequentist results as ``xarray.DataTree`` objects that ArviZ understands."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    from ._result import EstimationResult

__all__ = ["result_to_datatree"]


def _site_dims(name: str, shape: tuple[int, ...]) -> list[str]:
    # ArviZ's default naming for unnamed dimensions.
    return [f"{name}_dim_{i}" for i in range(len(shape))]


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


def result_to_datatree(result: EstimationResult, num_draws: int = 2000, seed: int = 0):
    """Build the DataTree described in :meth:`EstimationResult.to_arviz`."""
    if num_draws < 1:
        raise ValueError(f"num_draws must be positive, got {num_draws}")
    layout = result.layout
    mean = result.flat_params
    k = layout.size
    rng = np.random.default_rng(seed)
    cov = result.cov if result.cov is not None else np.full((k, k), np.nan)
    identified = np.isfinite(np.diag(cov))
    draws = np.tile(mean, (num_draws, 1))
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
                stacklevel=3,
            )
        root = evecs * np.sqrt(np.clip(evals, 0.0, None))
        draws[:, identified] += rng.standard_normal((num_draws, int(identified.sum()))) @ root.T
    draws[:, ~identified] = np.nan

    posterior, point = {}, {}
    for name, shape in zip(layout.names, layout.shapes, strict=True):
        dims = _site_dims(name, shape)
        sl = layout.index_of(name)
        posterior[name] = (["chain", "draw", *dims], draws[:, sl].reshape((1, num_draws, *shape)))
        point[name] = (dims, np.asarray(result.params[name]))
    names = np.asarray(layout.flat_names)
    meta = _metadata(result)
    posterior_ds = xr.Dataset(
        posterior,
        coords={"chain": [0], "draw": np.arange(num_draws)},
        attrs={**meta, "note": "draws from the asymptotic normal N(estimate, cov)"},
    )
    point_ds = xr.Dataset(point, attrs=meta)
    point_ds["std_error"] = (["parameter"], result.flat_std_errors)
    point_ds = point_ds.assign_coords(parameter=names)
    vcov_ds = xr.Dataset(
        {"cov": (["parameter", "parameter_bis"], cov)},
        coords={"parameter": names, "parameter_bis": names},
        attrs=meta,
    )
    groups = {"posterior": posterior_ds, "point_estimate": point_ds, "vcov": vcov_ds}
    for name, dataset in result.extra.get("arviz_groups", {}).items():
        # A dataset, or a function building one: estimators pass a function where building
        # it at fit time would cost (xarray's first Dataset imports its array backends).
        groups[name] = dataset() if callable(dataset) else dataset
    return xr.DataTree.from_dict(groups)
