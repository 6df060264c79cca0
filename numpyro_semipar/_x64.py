"""Float64 handling without global side effects.

Every estimator in this package computes in float64, but importing the package never flips
``jax_enable_x64``: estimators enter :func:`float64` (a context manager) around their work, so a
user's float32 code elsewhere is left alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax

__all__ = ["float64", "x64_enabled"]


def x64_enabled() -> bool:
    """Return whether 64-bit floats are enabled in JAX right now."""
    return bool(jax.config.jax_enable_x64)


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
