"""Float64 handling without global side effects.

Every estimator in this package computes in float64, but importing the package never flips
``jax_enable_x64``: estimators enter :func:`float64` (a context manager) around their work, so a
user's float32 code elsewhere is left alone. Where that is impossible (float64 work inside a
``jit``/``vmap``/``grad`` trace started with x64 disabled) the entry point raises
:class:`Float64RequiredError`, whose message tells the user to call ``numpyro.enable_x64()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax

__all__ = [
    "Float64RequiredError",
    "X64_HINT",
    "float64",
    "require_x64",
    "to_session_dtypes",
    "x64_enabled",
]

X64_HINT = (
    "call `numpyro.enable_x64()` (or `jax.config.update('jax_enable_x64', True)`) at the start "
    "of your program, before any JAX array is created"
)


class Float64RequiredError(ValueError):
    """An entry point needs float64 but JAX runs in float32 (x64 disabled).

    NumPyro starts with 64-bit floats disabled. Most of this package switches float64 on by
    itself around its work, but not inside a ``jax.jit``/``vmap``/``grad`` trace that began
    in float32; there this error is raised at entry. The fix is ``numpyro.enable_x64()`` at
    the start of the program. A subclass of :class:`ValueError`.
    """


def require_x64(what: str) -> None:
    """Raise :class:`Float64RequiredError` naming ``what`` unless x64 is enabled.

    Parameters
    ----------
    what : str
        The entry point or argument that needs float64, as the user would recognise it.
    """
    if not x64_enabled():
        raise Float64RequiredError(
            f"{what} needs 64-bit floats, but JAX runs in float32 (x64 is disabled, as in a "
            f"fresh NumPyro session): {X64_HINT}."
        )


def x64_enabled() -> bool:
    """Return whether 64-bit floats are enabled in JAX right now."""
    return bool(jax.config.jax_enable_x64)


def to_session_dtypes(tree):
    """Convert the arrays of ``tree`` to the dtypes JAX uses now (float32 when x64 is off).

    Entry points that computed in float64 under :func:`float64` hand float32 programs arrays
    of their own dtypes: a float64 array would make every later JAX operation on it warn that
    float64 is unavailable. NumPy leaves stay NumPy arrays (a host result needs no device round
    trip and no compilation); others become JAX arrays. A no-op when x64 is enabled. Concrete
    arrays only (not traced).
    """
    if x64_enabled():
        return tree
    import jax.numpy as jnp
    import numpy as np

    def convert(leaf):
        if isinstance(leaf, np.ndarray):
            return leaf.astype(jax.dtypes.canonicalize_dtype(leaf.dtype), copy=False)
        return jnp.asarray(np.asarray(leaf))

    return jax.tree.map(convert, tree)


@contextlib.contextmanager
def float64() -> Iterator[None]:
    """Run the enclosed block with ``jax_enable_x64`` switched on, then restore it.

    Arrays created inside are float64 by default; arrays created outside keep their dtype,
    so estimators convert their inputs with ``jnp.asarray(x, dtype=jnp.float64)`` inside the
    block.
    """
    if x64_enabled():
        yield
        return
    with jax.enable_x64(True):
        yield
