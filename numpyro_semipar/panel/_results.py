"""Assemble :class:`~numpyro_semipar.reporting.EstimationResult` objects for grouped panels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..reporting._result import EstimationResult
from ._data import PanelData

__all__ = ["grouped_result", "order_groups", "permute_blocks"]


def permute_blocks(cov: np.ndarray, order: np.ndarray, size: int) -> np.ndarray:
    """Reorder a covariance over ``G`` consecutive blocks of ``size`` parameters."""
    index = (np.asarray(order)[:, None] * size + np.arange(size)[None, :]).ravel()
    return cov[np.ix_(index, index)]


def order_groups(
    coefficients: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relabel groups so their coefficient rows are sorted lexicographically.

    Parameters
    ----------
    coefficients : array of shape (G, p)
    groups : int array of shape (N,)
        Labels in ``0..G-1``.

    Returns
    -------
    coefficients : array of shape (G, p)
        Rows in lexicographic order (first regressor first).
    groups : int array of shape (N,)
        Labels referring to the new row order.
    order : int array of shape (G,)
        ``order[j]`` is the old label of new group ``j``.
    """
    coefficients = np.asarray(coefficients)
    order = np.lexsort(coefficients.T[::-1])
    new_label = np.empty_like(order)
    new_label[order] = np.arange(order.size)
    return coefficients[order], new_label[np.asarray(groups)], order


def _group_summary(coefs, se, groups, names) -> pd.DataFrame:
    num_groups = coefs.shape[0]
    sizes = np.bincount(groups, minlength=num_groups)
    table: dict[str, Any] = {"size": sizes, "share": sizes / groups.size}
    for j, name in enumerate(names):
        table[name] = coefs[:, j]
        table[f"se({name})"] = se[:, j]
    return pd.DataFrame(table, index=pd.Index(np.arange(num_groups), name="group"))


def grouped_result(
    *,
    estimator: str,
    panel: PanelData,
    coefficients: np.ndarray,
    cov: np.ndarray,
    groups: np.ndarray,
    residuals: np.ndarray,
    factors: np.ndarray,
    loadings: np.ndarray,
    converged: bool,
    num_iter: int | None,
    message: str,
    cov_type: str,
    extra: dict[str, Any],
) -> EstimationResult:
    """Build the result of a grouped-slope estimator (groups already in canonical order).

    ``params`` is ``{"alpha": (G, p)}``; ``cov`` is over ``alpha`` flattened row-major. The extra
    fields are ``groups``, ``group_coefficients``, ``factors``, ``loadings``, ``residuals``,
    ``group_summary`` and whatever ``extra`` adds; ``to_arviz()`` adds a ``panel`` group with
    named ``unit``/``time``/``group``/``regressor`` coordinates.
    """
    coefs = np.asarray(coefficients, dtype=np.float64)
    num_groups, p = coefs.shape
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None)).reshape(num_groups, p)
    names = list(panel.regressor_names)
    resid = np.asarray(residuals, dtype=np.float64)
    factors = np.asarray(factors, dtype=np.float64)
    loadings = np.asarray(loadings, dtype=np.float64)
    num_factors = factors.shape[1]
    panel_ds = xr.Dataset(
        {
            "group_label": (["unit"], np.asarray(groups)),
            "group_coefficients": (["group", "regressor"], coefs),
            "group_std_errors": (["group", "regressor"], se),
            "factors": (["time", "factor"], factors),
            "loadings": (["unit", "factor"], loadings),
        },
        coords={
            "unit": np.asarray(panel.entities),
            "time": np.asarray(panel.times),
            "group": np.arange(num_groups),
            "regressor": names,
            "factor": np.arange(num_factors),
        },
        attrs={"estimator": estimator},
    )
    fields = {
        "groups": np.asarray(groups),
        "group_coefficients": coefs,
        "group_std_errors": se,
        "num_groups": num_groups,
        "num_factors": num_factors,
        "factors": factors,
        "loadings": loadings,
        "residuals": resid,
        "entities": np.asarray(panel.entities),
        "regressor_names": tuple(names),
        "group_summary": _group_summary(coefs, se, np.asarray(groups), names),
        "arviz_groups": {"panel": panel_ds},
    }
    fields.update(extra)
    # Residuals are NaN in the unobserved cells of an unbalanced panel.
    observed = np.isfinite(resid)
    return EstimationResult(
        params={"alpha": coefs},
        cov=cov,
        estimator=estimator,
        nobs=int(observed.sum()),
        converged=converged,
        objective=float(np.mean(resid**2) if observed.all() else np.mean(resid[observed] ** 2)),
        objective_name="mean squared residual",
        cov_type=cov_type,
        message=message,
        num_iter=num_iter,
        extra=fields,
        dims={"alpha": ("group", "regressor")},
        coords={"group": np.arange(num_groups), "regressor": list(names)},
    )
