"""Flat views of named parameter dictionaries.

Estimators work on one flat float64 vector; users read a dict of site name -> array. These helpers
convert between the two while keeping the dict's insertion order (NumPyro's site order), which
``jax.flatten_util.ravel_pytree`` would sort alphabetically.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

__all__ = ["ParamLayout", "flat_names", "param_layout", "site_transform"]


def flat_names(name: str, shape: tuple[int, ...]) -> list[str]:
    """Names of the scalar elements of an array parameter, e.g. ``beta[0]``, ``L[1,0]``."""
    if len(shape) == 0:
        return [name]
    return [
        f"{name}[{','.join(str(i) for i in index)}]"
        for index in itertools.product(*(range(s) for s in shape))
    ]


class ParamLayout(NamedTuple):
    """Layout of a parameter dict as one flat vector.

    Attributes
    ----------
    names : tuple of str
        Site names, in order.
    shapes : tuple of tuple of int
        Shape of each site.
    flat_names : tuple of str
        Names of the scalar elements (``"beta[0]"``), in flat-vector order.
    """

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    flat_names: tuple[str, ...]

    @property
    def size(self) -> int:
        """Total number of scalar parameters."""
        return len(self.flat_names)

    def ravel(self, params: Mapping[str, object]) -> jnp.ndarray:
        """Concatenate a parameter dict into one flat vector (JAX-traceable)."""
        if not self.names:
            return jnp.zeros((0,))
        return jnp.concatenate([jnp.ravel(jnp.asarray(params[name])) for name in self.names])

    def unravel(self, flat) -> dict[str, jnp.ndarray]:
        """Split a flat vector back into a dict of arrays (JAX-traceable)."""
        out, start = {}, 0
        for name, shape in zip(self.names, self.shapes, strict=True):
            size = int(np.prod(shape, dtype=int))
            out[name] = jnp.reshape(flat[start : start + size], shape)
            start += size
        return out

    def ravel_numpy(self, params: Mapping[str, object]) -> np.ndarray:
        """Like :meth:`ravel` but in NumPy, float64 (no JAX dispatch, nothing to compile)."""
        parts = [np.ravel(np.asarray(params[name], dtype=np.float64)) for name in self.names]
        return np.concatenate(parts) if parts else np.zeros((0,))

    def unravel_numpy(self, flat) -> dict[str, np.ndarray]:
        """Like :meth:`unravel` but returns NumPy arrays."""
        flat = np.asarray(flat)
        return {k: np.asarray(v) for k, v in self.unravel(flat).items()}

    def index_of(self, name: str) -> slice:
        """Slice of the flat vector that holds site ``name``."""
        start = 0
        for site, shape in zip(self.names, self.shapes, strict=True):
            size = int(np.prod(shape, dtype=int))
            if site == name:
                return slice(start, start + size)
            start += size
        raise KeyError(name)


def param_layout(params: Mapping[str, object]) -> ParamLayout:
    """Build the :class:`ParamLayout` of a dict of arrays (order preserved)."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of name -> array, got {type(params).__name__}")
    names = tuple(params)
    shapes = tuple(tuple(int(s) for s in np.shape(params[n])) for n in names)
    flat = tuple(
        itertools.chain.from_iterable(flat_names(n, s) for n, s in zip(names, shapes, strict=True))
    )
    return ParamLayout(names, shapes, flat)


def map_params(fn: Callable, params: Mapping[str, object]) -> dict[str, object]:
    """Apply ``fn`` to each value of a parameter dict, keeping the order."""
    return {k: fn(v) for k, v in params.items()}


def site_transform(site: Mapping):
    """Map unconstrained values of a NumPyro ``sample`` or ``param`` site to the site's own.

    ``None`` for a ``param`` site without a constraint (its values are unconstrained already).
    """
    from numpyro.distributions import biject_to

    if site["type"] == "param":
        constraint = site["kwargs"].get("constraint")
        return biject_to(constraint) if constraint is not None else None
    return biject_to(site["fn"].support)
