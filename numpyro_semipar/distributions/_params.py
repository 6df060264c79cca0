"""Shared pieces of the simulation-based distributions: parameter constraints and shapes."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import constraints
from numpyro.util import not_jax_tracer

__all__ = [
    "check_param_constraints",
    "infer_event_shape",
    "map_data_sets",
    "validate_param_constraints",
    "vmap_axes",
]


def _is_constraint(x: Any) -> bool:
    return isinstance(x, constraints.Constraint)


def _pairs(param_constraints: Any, params: Any) -> list[tuple[str, Any, Any]]:
    """``(name, constraint, value)`` for every constrained part of ``params``."""
    if _is_constraint(param_constraints):
        leaves = jax.tree_util.tree_leaves_with_path(params)
        return [(f"params{jax.tree_util.keystr(k)}", param_constraints, v) for k, v in leaves]
    if isinstance(param_constraints, Mapping):
        if not isinstance(params, Mapping):
            raise TypeError("param_constraints is a dict, so params must be a dict as well")
        out = []
        for key, constraint in param_constraints.items():
            if key not in params:
                raise ValueError(
                    f"param_constraints names {key!r}, which is not a key of params "
                    f"({sorted(params)})"
                )
            for name, c, value in _pairs(constraint, params[key]):
                out.append((f"params[{key!r}]" + name[len("params") :], c, value))
        return out
    leaves, treedef = jax.tree.flatten(param_constraints, is_leaf=_is_constraint)
    if not all(_is_constraint(c) for c in leaves):
        raise TypeError(
            "param_constraints must be a numpyro constraint, a dict of constraints, or a pytree "
            "of constraints with the structure of params"
        )
    parts = treedef.flatten_up_to(params)
    out = []
    for constraint, part in zip(leaves, parts, strict=True):
        out.extend(_pairs(constraint, part))
    return out


def check_param_constraints(param_constraints: Any, params: Any) -> None:
    """Raise early when ``param_constraints`` does not fit the structure of ``params``."""
    if param_constraints is not None:
        _pairs(param_constraints, params)


def validate_param_constraints(name: str, param_constraints: Any, params: Any) -> None:
    """Raise ``ValueError`` naming the first parameter outside its constraint (concrete only).

    Traced parameters (inside ``jit`` with traced inputs, ``vmap``, ``grad``) are skipped, as
    NumPyro's own argument validation does.
    """
    if param_constraints is None:
        return
    with jax.ensure_compile_time_eval():
        for label, constraint, value in _pairs(param_constraints, params):
            if constraints.is_dependent(constraint):
                continue
            valid = constraint(value)
            if not_jax_tracer(valid) and not np.all(valid):
                raise ValueError(
                    f"{name} distribution got invalid {label} parameter: {np.asarray(value)} "
                    f"violates the constraint {constraint}"
                )


def infer_event_shape(draws: Any, event_shape: Any) -> tuple[int, ...]:
    """Event shape from argument shapes: ``event_shape`` if given, else one slice of draws.

    Used by ``infer_shapes``, which sees only the shapes of the arguments: it assumes that
    ``simulate`` returns a data set shaped like one slice ``draws[s]`` of the draws (as with
    shocks ``(S, N)`` and data ``(N,)``) unless ``event_shape`` is given.
    """
    if event_shape is not None:
        return tuple(int(n) for n in event_shape)
    if isinstance(draws, tuple) and len(draws) >= 1 and all(isinstance(n, int) for n in draws):
        return tuple(draws[1:])
    raise NotImplementedError(
        "infer_shapes needs the shape of an array of draws (S, ...) or an explicit event_shape"
    )


def map_data_sets(fn, value: Any, event_ndim: int) -> jax.Array:
    """Apply ``fn`` (one data set -> scalar) over the leading (sample/batch) axes of ``value``.

    A value with no more axes than the event shape is one data set (its shape may differ from
    the simulated one); extra leading axes index independent data sets, so that ``log_prob``
    returns ``sample_shape`` values as NumPyro expects.
    """
    value = jnp.asarray(value)
    lead = value.shape[: max(value.ndim - event_ndim, 0)]
    if not lead:
        return fn(value)
    flat = jnp.reshape(value, (-1, *value.shape[len(lead) :]))
    return jnp.reshape(jax.vmap(fn)(flat), lead)


def vmap_axes(d: Any, **axes: Any) -> Any:
    """Copy distribution ``d`` with vmap axes in its array fields (``None`` if not mapped).

    The ``out_axes`` pytree that :func:`numpyro.distributions.batch_util.vmap_over` returns
    (what NumPyro's own ``_default_vmap_over`` does, without relying on a private helper).
    """
    out = copy.copy(d)
    for field in type(d).gather_pytree_data_fields():
        setattr(out, field, axes.get(field))
    return out
