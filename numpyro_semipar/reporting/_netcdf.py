"""Saving an :class:`EstimationResult` to netCDF and reading it back.

The file is an ``xarray.DataTree`` (so ArviZ and xarray read it without this package): the
``point_estimate`` and ``vcov`` groups of :meth:`EstimationResult.to_arviz`, the estimator's
own groups, an ``extra`` group (and subgroups for dict-valued fields) with the array-valued
estimator fields, and one JSON attribute on the root with everything else: the summary
quantities, the parameter order, the dimension names and how each ``extra`` field was stored.
JSON keeps ``None``, integers, booleans and NaN exactly as they were, which netCDF attributes
do not.
"""

from __future__ import annotations

import collections
import json
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from ._arviz import extra_groups, point_estimate_dataset, vcov_dataset
from ._dims import param_coords, param_dims

if TYPE_CHECKING:
    from ._result import EstimationResult

__all__ = ["result_from_netcdf", "result_to_netcdf"]

_ATTR = "numpyro_semipar_result"
_FORMAT = 1
_ENGINE = "h5netcdf"


def _json_scalar(value: Any) -> tuple[bool, Any]:
    """Return ``(True, value)`` for a JSON-exact scalar (NumPy scalars become Python ones)."""
    if value is None or isinstance(value, str | bool | int | float):
        return True, value
    if isinstance(value, np.bool_ | np.integer | np.floating):
        return True, value.item()
    return False, None


def _table(value: pd.DataFrame | pd.Series) -> dict | None:
    """Describe a table in JSON (exact floats), or return None if a cell is not a scalar."""
    frame = value.to_frame() if isinstance(value, pd.Series) else value
    cells = [[_json_scalar(v) for v in row] for row in frame.itertuples(index=False)]
    labels = [_json_scalar(v) for v in frame.index.to_flat_index()]
    if isinstance(frame.index, pd.MultiIndex):
        labels = [(True, [_json_scalar(x)[1] for x in v]) for v in frame.index]
        if not all(_json_scalar(x)[0] for v in frame.index for x in v):
            return None
    columns = [_json_scalar(c) for c in frame.columns]
    if not all(ok for row in cells for ok, _ in row) or not all(ok for ok, _ in labels + columns):
        return None
    return {
        "kind": "pandas",
        "series": isinstance(value, pd.Series),
        "index": [v for _, v in labels],
        "index_names": list(frame.index.names),
        "multi_index": isinstance(frame.index, pd.MultiIndex),
        "columns": [v for _, v in columns],
        "dtypes": [str(t) for t in frame.dtypes],
        "data": [[v for _, v in row] for row in cells],
    }


def _untable(spec: dict) -> pd.DataFrame | pd.Series:
    if spec["multi_index"]:
        index = pd.MultiIndex.from_tuples(
            [tuple(v) for v in spec["index"]], names=spec["index_names"]
        )
    else:
        index = pd.Index(spec["index"], name=spec["index_names"][0])
    frame = pd.DataFrame(spec["data"], index=index, columns=spec["columns"])
    if not spec["data"]:
        frame = pd.DataFrame(index=index, columns=spec["columns"])
    frame = frame.astype(dict(zip(spec["columns"], spec["dtypes"], strict=True)))
    return frame.iloc[:, 0] if spec["series"] else frame


def _encode(fields: dict, path: str, datasets: dict, dropped: list[str], prefix: str) -> dict:
    """Describe ``fields`` in JSON; array fields go into ``datasets[path]``."""
    kinds: dict[str, dict] = {}
    arrays: dict[str, tuple] = {}
    for key, value in fields.items():
        if key == "arviz_groups":
            continue  # saved as groups of their own
        ok, scalar = _json_scalar(value)
        if ok:
            kinds[key] = {"kind": "json", "value": scalar}
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biufU":
            arrays[key] = ([f"{key}_dim_{i}" for i in range(value.ndim)], value)
            kinds[key] = {"kind": "array"}
        elif isinstance(value, tuple) and hasattr(value, "_fields"):
            # A NamedTuple (``j_test``): its fields by name, restored with attribute access.
            kinds[key] = {
                "kind": "record",
                "name": type(value).__name__,
                "fields": _encode(
                    value._asdict(), f"{path}/{key}", datasets, dropped, f"{prefix}{key}."
                ),
            }
        elif isinstance(value, list | tuple) and all(_json_scalar(v)[0] for v in value):
            kinds[key] = {
                "kind": "json",
                "value": [_json_scalar(v)[1] for v in value],
                "tuple": isinstance(value, tuple),
            }
        elif isinstance(value, pd.DataFrame | pd.Series) and (table := _table(value)):
            kinds[key] = table
        elif isinstance(value, dict) and all(isinstance(k, str) for k in value):
            sub = f"{path}/{key}"
            kinds[key] = {
                "kind": "dict",
                "fields": _encode(value, sub, datasets, dropped, f"{prefix}{key}."),
            }
        else:
            dropped.append(prefix + key)
    if arrays:
        datasets[path] = xr.Dataset(arrays)
    return kinds


def _decode(kinds: dict, path: str, tree: xr.DataTree) -> dict:
    out: dict[str, Any] = {}
    for key, spec in kinds.items():
        kind = spec["kind"]
        if kind == "json":
            value = spec["value"]
            out[key] = tuple(value) if spec.get("tuple") else value
        elif kind == "array":
            out[key] = np.asarray(tree[path].dataset[key].values)
        elif kind == "pandas":
            out[key] = _untable(spec)
        elif kind == "record":
            fields = _decode(spec["fields"], f"{path}/{key}", tree)
            out[key] = collections.namedtuple(spec["name"], list(fields))(**fields)
        elif kind == "dict":
            out[key] = _decode(spec["fields"], f"{path}/{key}", tree)
    return out


def result_to_netcdf(result: EstimationResult, path: str | os.PathLike) -> None:
    """Write ``result`` to ``path`` (see :meth:`EstimationResult.to_netcdf`)."""
    dims = param_dims(result)
    labels = param_coords(result, dims)
    datasets: dict[str, xr.Dataset] = {
        "point_estimate": point_estimate_dataset(result, dims, labels),
        "vcov": vcov_dataset(result),
    }
    own = extra_groups(result)
    clash = sorted(set(own) & {"point_estimate", "vcov", "extra"})
    if clash:
        raise ValueError(f"extra['arviz_groups'] uses reserved group names {clash}")
    datasets.update(own)
    dropped: list[str] = []
    kinds = _encode(result.extra, "extra", datasets, dropped, "")
    meta = {
        "format": _FORMAT,
        "estimator": result.estimator,
        "nobs": result.nobs,
        "loglik": result.loglik,
        "converged": result.converged,
        "objective": result.objective,
        "objective_name": result.objective_name,
        "cov_type": result.cov_type,
        "message": result.message,
        "num_iter": result.num_iter,
        "param_names": list(result.layout.names),
        "param_shapes": [list(s) for s in result.layout.shapes],
        "cov_is_none": result.cov is None,
        "dims": {k: list(v) for k, v in (result.dims or {}).items()},
        "coords": {
            k: [_json_scalar(v)[1] for v in np.asarray(labels).tolist()]
            for k, labels in (result.coords or {}).items()
        },
        "arviz_groups": sorted(own),
        "extra": kinds,
    }
    tree = xr.DataTree.from_dict(datasets)
    tree.attrs[_ATTR] = json.dumps(meta)
    tree.attrs["fields_not_saved"] = ", ".join(dropped)
    tree.to_netcdf(path, engine=_ENGINE)


def result_from_netcdf(cls: type, path: str | os.PathLike) -> EstimationResult:
    """Read a result written by :func:`result_to_netcdf`."""
    with xr.open_datatree(path, engine=_ENGINE) as stored:
        tree = stored.load()
    if _ATTR not in tree.attrs:
        raise ValueError(
            f"{os.fspath(path)!r} was not written by EstimationResult.to_netcdf (its root has "
            f"no {_ATTR!r} attribute)"
        )
    meta = json.loads(tree.attrs[_ATTR])
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{os.fspath(path)!r} has format {meta.get('format')}, expected {_FORMAT}")
    point = tree["point_estimate"].dataset
    params = {
        name: np.asarray(point[name].values).reshape(shape)
        for name, shape in zip(meta["param_names"], meta["param_shapes"], strict=True)
    }
    cov = None if meta["cov_is_none"] else np.asarray(tree["vcov"].dataset["cov"].values)
    extra = _decode(meta["extra"], "extra", tree)
    if meta["arviz_groups"]:
        extra["arviz_groups"] = {name: tree[name].to_dataset() for name in meta["arviz_groups"]}
    coords = meta["coords"]
    return cls(
        params=params,
        cov=cov,
        estimator=meta["estimator"],
        nobs=meta["nobs"],
        loglik=meta["loglik"],
        converged=meta["converged"],
        objective=meta["objective"],
        objective_name=meta["objective_name"],
        cov_type=meta["cov_type"],
        message=meta["message"],
        num_iter=meta["num_iter"],
        extra=extra,
        dims={k: tuple(v) for k, v in meta["dims"].items()} or None,
        coords=coords or None,
    )
