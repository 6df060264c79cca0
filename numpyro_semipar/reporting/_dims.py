"""Dimension names and coordinate labels of a result's parameters (NumPy only: no xarray)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._result import EstimationResult

__all__ = ["param_coords", "param_dims"]


def param_dims(
    result: EstimationResult, dims: Mapping[str, Sequence[str]] | None = None
) -> dict[str, list[str]]:
    """Dimension names of every parameter: ``dims``, then the result's own, then ArviZ's default.

    ArviZ's default (``beta_dim_0``) is what ``arviz.from_numpyro`` gives the same site of a
    NumPyro posterior, so an unlabelled frequentist parameter lines up with it.
    """
    out = {}
    for name, shape in zip(result.layout.names, result.layout.shapes, strict=True):
        given = (dims or {}).get(name, (result.dims or {}).get(name))
        if given is None:
            out[name] = [f"{name}_dim_{i}" for i in range(len(shape))]
            continue
        if len(given) != len(shape):
            raise ValueError(
                f"dims[{name!r}] = {list(given)} names {len(given)} dimensions but {name!r} has "
                f"shape {shape}"
            )
        out[name] = list(given)
    return out


def param_coords(
    result: EstimationResult,
    dims: Mapping[str, Sequence[str]],
    coords: Mapping[str, Sequence[Any]] | None = None,
) -> dict[str, np.ndarray]:
    """Coordinate labels of every parameter dimension (``coords``, the result's, or 0..n-1)."""
    given = {**(result.coords or {}), **(coords or {})}
    out: dict[str, np.ndarray] = {}
    for name, shape in zip(result.layout.names, result.layout.shapes, strict=True):
        for dim, size in zip(dims[name], shape, strict=True):
            labels = np.asarray(given[dim]) if dim in given else np.arange(size)
            if labels.shape != (size,):
                raise ValueError(
                    f"coords[{dim!r}] has {labels.size} labels but dimension {dim!r} of "
                    f"{name!r} has length {size}"
                )
            if dim in out and not np.array_equal(out[dim], labels):
                raise ValueError(f"dimension {dim!r} has different labels for different sites")
            out[dim] = labels
    return out
