"""Reuse NumPyro's compiled sampling loop across ``MCMC.run`` calls (a NumPyro 0.22 defect).

Without a progress bar, ``numpyro.util.fori_collect`` (NumPyro 0.22) runs
``maybe_jit(_fori_collect_loop, static_argnums=(0, 1))(_body_fn, upper, ...)``, where
``_body_fn`` is ``jax.jit`` applied afresh on every call to a function that ``fori_collect``
does cache. A ``jax.jit`` wrapper hashes by identity, so the static argument never matches a
previous one: every ``MCMC.run`` retraces and recompiles the whole sampling loop, even for the
same ``MCMC`` object and model (measured: 2 backend compilations, 3.5-5 s on the 2-core CPU,
for a 4-D Gaussian with :class:`~numpyro_semipar.mcmc.RandomWalkMH`; NumPyro's own ``SA``
recompiles the same way). Upstream fixed it in pyro-ppl/numpyro#2171.

:func:`install` (called by our kernels' ``init``, never at import) wraps
``numpyro.infer.mcmc.fori_collect`` so that while it runs, ``numpyro.util.maybe_jit`` returns
the same wrapper for the same function and options: the static argument then matches and
JAX's tracing and compilation caches hit. Nothing else changes (a reused wrapper is the same
``jax.jit`` of the same function), so other kernels run exactly as before, only without the
recompilation. On a NumPyro without ``_fori_collect_loop`` (a fixed or reorganised release)
:func:`install` does nothing.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpyro.infer.mcmc
import numpyro.util

__all__ = ["install"]

# Wrappers kept (LRU): fori_collect's own cache of loop bodies holds 8 functions.
_MAX_WRAPPERS = 32
_lock = threading.Lock()
_swap_lock = threading.Lock()


def _memoized(maybe_jit: Callable) -> Callable:
    wrappers: OrderedDict = OrderedDict()

    @functools.wraps(maybe_jit)
    def memoized_maybe_jit(fn, *args, **kwargs):
        try:
            key = (fn, args, tuple(sorted(kwargs.items())))
            hash(key)
        except TypeError:  # unhashable options: no reuse
            return maybe_jit(fn, *args, **kwargs)
        with _lock:
            if key in wrappers:
                wrappers.move_to_end(key)
                return wrappers[key]
        wrapper = maybe_jit(fn, *args, **kwargs)
        with _lock:
            wrappers[key] = wrapper
            if len(wrappers) > _MAX_WRAPPERS:
                wrappers.popitem(last=False)
        return wrapper

    return memoized_maybe_jit


def install() -> None:
    """Make ``MCMC.run`` reuse its compiled loop (idempotent; see the module docstring)."""
    current = numpyro.infer.mcmc.fori_collect
    if getattr(current, "_reuses_compiled_loop", False):
        return
    if not hasattr(numpyro.util, "_fori_collect_loop") or current is not numpyro.util.fori_collect:
        return  # not the NumPyro this works around, or someone else wrapped it: leave it
    original = numpyro.util.maybe_jit
    memoized = _memoized(original)
    active = [0]  # fori_collect calls in progress (threads may run chains concurrently)

    @functools.wraps(current)
    def fori_collect(*args, **kwargs):
        with _swap_lock:
            if active[0] == 0:
                numpyro.util.maybe_jit = memoized
            active[0] += 1
        try:
            return current(*args, **kwargs)
        finally:
            with _swap_lock:
                active[0] -= 1
                if active[0] == 0:
                    numpyro.util.maybe_jit = original

    fori_collect._reuses_compiled_loop = True
    numpyro.infer.mcmc.fori_collect = fori_collect
