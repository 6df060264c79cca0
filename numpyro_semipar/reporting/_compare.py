"""Frequentist results next to Bayesian posteriors: one summary table, one forest plot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from ._result import EstimationResult

__all__ = ["is_frequentist", "plot_forest_compare", "summary"]


def is_frequentist(tree: xr.DataTree) -> bool:
    """Whether ``tree`` holds a frequentist result (from ``to_arviz`` or ``to_netcdf``)."""
    return "point_estimate" in tree.children and (
        tree["point_estimate"].attrs.get("inference") == "frequentist"
    )


def summary(
    data: xr.DataTree | EstimationResult, *, ci_prob: float = 0.95, **kwargs: Any
) -> pd.DataFrame:
    """Summarise a result by the table that fits it: Wald statistics or posterior diagnostics.

    ``arviz.summary`` on a frequentist tree reports ESS, R-hat and MCSE of the asymptotic
    draws, which say nothing about the estimate. For a frequentist result (an
    :class:`EstimationResult` or a tree from its :meth:`~EstimationResult.to_arviz`) this gives
    the exact table instead, in ArviZ's ``kind="stats"`` layout: ``mean`` (the estimate),
    ``sd`` (its standard error) and the Wald interval (``eti95_lb``, ``eti95_ub`` for
    ``ci_prob=0.95``), from the ``point_estimate`` and ``vcov`` groups rather than the draws.
    A Bayesian tree goes to ``arviz.summary`` unchanged (ESS and R-hat included).

    Parameters
    ----------
    data : xarray.DataTree or EstimationResult
        A frequentist result or its tree, or a posterior (``arviz.from_numpyro``).
    ci_prob : float
        Coverage of the interval.
    **kwargs
        Passed to ``arviz.summary`` for a Bayesian tree.

    Returns
    -------
    pandas.DataFrame
        One row per scalar parameter, labelled like ``arviz.summary`` (``beta[0]``).
    """
    if not 0.0 < ci_prob < 1.0:
        raise ValueError(f"ci_prob must lie in (0, 1), got {ci_prob}")
    if isinstance(data, EstimationResult):
        estimate, std_error, names = data.flat_params, data.flat_std_errors, data.param_names
    elif isinstance(data, xr.DataTree):
        if not is_frequentist(data):
            import arviz as az

            return az.summary(data, ci_prob=ci_prob, **kwargs)
        point = data["point_estimate"].dataset
        names = [str(n) for n in point["parameter"].values]
        std_error = np.asarray(point["std_error"].values, dtype=np.float64)
        # Sites in the order of the flat names (a file read back need not keep variable order).
        order = {n.split("[", 1)[0]: i for i, n in reversed(list(enumerate(names)))}
        sites = sorted((str(v) for v in point.data_vars if v != "std_error"), key=order.__getitem__)
        estimate = np.concatenate([np.ravel(point[v].values) for v in sites])
    else:
        raise TypeError(
            f"data must be an EstimationResult or an xarray.DataTree, got {type(data).__name__}"
        )
    if kwargs:
        raise TypeError(f"unexpected arguments for a frequentist summary: {sorted(kwargs)}")
    z = stats.norm.ppf(0.5 + ci_prob / 2.0)
    label = f"eti{100.0 * ci_prob:g}"
    return pd.DataFrame(
        {
            "mean": estimate,
            "sd": std_error,
            f"{label}_lb": estimate - z * std_error,
            f"{label}_ub": estimate + z * std_error,
        },
        index=pd.Index(names),
    )


def _posterior_shape(models: Mapping[str, Any]) -> tuple[int, int] | None:
    for model in models.values():
        if isinstance(model, xr.DataTree) and not is_frequentist(model):
            posterior = model["posterior"]
            return int(posterior.sizes["chain"]), int(posterior.sizes["draw"])
    return None


def _posterior_dims(models: Mapping[str, Any]) -> tuple[dict[str, list[str]], dict[str, Any]]:
    # Dimension names and labels of each variable in the Bayesian trees, so that the same site
    # of a frequentist result is drawn on the same rows.
    dims: dict[str, list[str]] = {}
    coords: dict[str, Any] = {}
    for model in models.values():
        if isinstance(model, xr.DataTree) and not is_frequentist(model):
            posterior = model["posterior"].dataset
            for name, var in posterior.data_vars.items():
                dims.setdefault(str(name), [str(d) for d in var.dims[2:]])
                for dim in var.dims[2:]:
                    if dim in posterior.coords:
                        coords.setdefault(str(dim), posterior[dim].values)
    return dims, coords


def plot_forest_compare(
    models: Mapping[str, xr.DataTree | EstimationResult],
    *,
    rng_key: Any = None,
    num_draws: int = 2000,
    legend: bool = True,
    **kwargs: Any,
):
    """One ``arviz.plot_forest`` of Bayesian posteriors and frequentist results side by side.

    ``arviz.plot_forest({"NUTS": posterior, "ML": result.to_arviz()})`` aligns the models on
    ``chain`` and ``draw``; when their sizes differ the frequentist intervals come out empty.
    This converts each :class:`EstimationResult` with the chains and draws of the first
    posterior (and its dimension names for sites of the same shape), then calls
    ``arviz.plot_forest(models, combined=True, ...)``.

    Parameters
    ----------
    models : dict of str to xarray.DataTree or EstimationResult
        Models by label; trees from ``arviz.from_numpyro`` or :meth:`EstimationResult.to_arviz`,
        or results.
    rng_key : jax.random key, optional
        Key for the asymptotic draws of the results (see :meth:`EstimationResult.to_arviz`).
    num_draws : int
        Draws per result when no model is a posterior.
    legend : bool
        Add a legend of the model labels (not with ``backend="none"``).
    **kwargs
        Passed to ``arviz.plot_forest`` (``var_names``, ``backend``, ``ci_probs``, ...).

    Returns
    -------
    arviz_plots.PlotCollection
        As from ``arviz.plot_forest``; the legend entry of each model is its label.

    Examples
    --------
    >>> pc = plot_forest_compare({"NUTS": az.from_numpyro(mcmc), "ML": result})  # doctest: +SKIP
    """
    import arviz as az

    if not isinstance(models, Mapping) or not models:
        raise ValueError("models must be a non-empty dict of label -> DataTree or result")
    shape = _posterior_shape(models) or (1, num_draws)
    posterior_dims, posterior_coords = _posterior_dims(models)
    trees = {}
    keys = _split(rng_key, len(models))
    for (label, model), key in zip(models.items(), keys, strict=True):
        if isinstance(model, EstimationResult):
            dims = {
                name: posterior_dims[name]
                for name, site_shape in zip(model.layout.names, model.layout.shapes, strict=True)
                if len(posterior_dims.get(name, [None])) == len(site_shape) and site_shape
            }
            coords = {
                d: posterior_coords[d] for v in dims.values() for d in v if d in posterior_coords
            }
            model = model.to_arviz(
                key, num_chains=shape[0], num_draws=shape[1], dims=dims or None, coords=coords
            )
        elif not isinstance(model, xr.DataTree):
            raise TypeError(
                f"models[{label!r}] must be an xarray.DataTree or an EstimationResult, got "
                f"{type(model).__name__}"
            )
        else:
            posterior = model["posterior"]
            if (posterior.sizes["chain"], posterior.sizes["draw"]) != shape:
                raise ValueError(
                    f"models[{label!r}] has {posterior.sizes['chain']} chains of "
                    f"{posterior.sizes['draw']} draws, the first posterior {shape[0]} of "
                    f"{shape[1]}: pass the EstimationResult itself (converted to match), or "
                    f"to_arviz(num_chains={shape[0]}, num_draws={shape[1]})"
                )
        trees[label] = model
    kwargs.setdefault("combined", True)
    collection = az.plot_forest(trees, **kwargs)
    if legend and kwargs.get("backend") != "none":
        collection.add_legend("model")
    return collection


def _split(rng_key: Any, num: int) -> list[Any]:
    if rng_key is None:
        return [None] * num
    import jax

    return list(jax.random.split(rng_key, num))
