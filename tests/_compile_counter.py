"""Count XLA backend compilations inside a block (JAX's own monitoring events)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax

# Recorded by jax._src.dispatch once per program handed to the XLA compiler (cache hits of
# the in-memory executable caches never get there).
BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


class CompileCount:
    """Number of backend compilations seen so far (``count``) and their total seconds."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(self, event: str, duration: float, **_: object) -> None:
        if event == BACKEND_COMPILE_EVENT:
            self.count += 1
            self.seconds += duration


@contextlib.contextmanager
def count_backend_compiles() -> Iterator[CompileCount]:
    """Yield a :class:`CompileCount` that counts the compilations of the enclosed block."""
    counter = CompileCount()
    jax.monitoring.register_event_duration_secs_listener(counter)
    try:
        yield counter
    finally:
        jax.monitoring.unregister_event_duration_listener(counter)
