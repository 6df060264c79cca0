"""Host callbacks that carry 64-bit values bit for bit, whichever thread runs them.

This package switches float64 on with a context manager (:func:`numpyro_semipar._x64.float64`),
never globally. That setting is thread-local, and XLA runs a callback on whichever thread it
chooses: the caller's, where float64 holds, or one of its own, where it does not. JAX's
:func:`jax.pure_callback` and :func:`jax.debug.callback` move their operands to the host with
``device_put``, which on a float32 thread silently rounds float64 operands to float32 (and
rejects a float64 return value). A host log density then saw positions rounded to float32 in
some runs and exact ones in others, so the same key gave different draws (issue 16).

The functions here send every 64-bit operand and result as pairs of ``uint32`` words
(:func:`jax.lax.bitcast_convert_type`), which no thread's setting touches, and rebuild the
64-bit values on each side. They are drop-in replacements for the two JAX functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["debug_callback", "pure_callback"]


def _is_wide(dtype) -> bool:
    dtype = np.dtype(dtype)
    return dtype.itemsize == 8 and dtype.kind in "fiu"


def _encode_traced(leaf):
    """Encode a 64-bit JAX array as ``shape + (2,)`` uint32 words; leave others unchanged."""
    leaf = jnp.asarray(leaf)
    return jax.lax.bitcast_convert_type(leaf, jnp.uint32) if _is_wide(leaf.dtype) else leaf


def _decode_host(leaf, dtype) -> np.ndarray:
    """Undo :func:`_encode_traced` on the host (NumPy), for a leaf of ``dtype``."""
    leaf = np.asarray(leaf)
    if not _is_wide(dtype):
        return leaf.astype(dtype, copy=False)
    words = np.ascontiguousarray(leaf, dtype=np.uint32)
    return words.view(np.dtype(dtype)).reshape(words.shape[:-1])


def _encode_host(value, dtype) -> np.ndarray:
    """Encode a host result as the words JAX expects for a result of ``dtype``."""
    value = np.asarray(value, dtype=dtype)
    if not _is_wide(dtype):
        return value
    # ascontiguousarray alone would turn a 0-d result into shape (1,).
    return np.ascontiguousarray(value).view(np.uint32).reshape(value.shape + (2,))


def _host_arguments(args):
    leaves, treedef = jax.tree.flatten(args)
    dtypes = [jnp.asarray(leaf).dtype for leaf in leaves]
    encoded = [_encode_traced(leaf) for leaf in leaves]

    def decode(*flat):
        leaves = [_decode_host(x, d) for x, d in zip(flat, dtypes, strict=True)]
        return jax.tree.unflatten(treedef, leaves)

    return encoded, decode


def pure_callback(
    callback: Callable[..., Any],
    result_shape_dtypes: Any,
    *args: Any,
    vmap_method: str | None = None,
) -> Any:
    """:func:`jax.pure_callback` with 64-bit operands and results passed exactly.

    Parameters
    ----------
    callback : callable
        Called on the host with NumPy arrays (64-bit ones exact) in the structure of ``args``;
        returns arrays matching ``result_shape_dtypes``.
    result_shape_dtypes : pytree of jax.ShapeDtypeStruct
        Shapes and dtypes of the results.
    *args : pytree of arrays
        Operands.
    vmap_method : str, optional
        As for :func:`jax.pure_callback`. Batch axes are leading, so the trailing word axis of
        an encoded operand or result is never batched.

    Returns
    -------
    pytree of jax.Array
        The callback's results, with the dtypes of ``result_shape_dtypes``.
    """
    encoded, decode = _host_arguments(args)
    out_leaves, out_treedef = jax.tree.flatten(result_shape_dtypes)
    out_dtypes = [np.dtype(spec.dtype) for spec in out_leaves]
    wire_specs = [
        jax.ShapeDtypeStruct(tuple(spec.shape) + (2,), jnp.uint32) if _is_wide(spec.dtype) else spec
        for spec in out_leaves
    ]

    def host(*flat):
        results = jax.tree.leaves(callback(*decode(*flat)))
        return [_encode_host(r, d) for r, d in zip(results, out_dtypes, strict=True)]

    wire = jax.pure_callback(host, wire_specs, *encoded, vmap_method=vmap_method)
    results = [
        jax.lax.bitcast_convert_type(w, d) if _is_wide(d) else w
        for w, d in zip(wire, out_dtypes, strict=True)
    ]
    return jax.tree.unflatten(out_treedef, results)


def debug_callback(callback: Callable[..., Any], *args: Any) -> None:
    """:func:`jax.debug.callback` with 64-bit operands passed exactly (as NumPy arrays).

    Parameters
    ----------
    callback : callable
        Called on the host with NumPy arrays in the structure of ``args``; its return value is
        ignored.
    *args : pytree of arrays
        Operands.
    """
    encoded, decode = _host_arguments(args)
    jax.debug.callback(lambda *flat: callback(*decode(*flat)), *encoded)
