"""Opt-in persistent compilation cache: compiled programs reused across processes.

Most of a first call's time in this package is XLA compilation (seconds on CPU for a sampling
loop or a solver). JAX can store compiled programs on disk and load them in later processes;
:func:`enable_compilation_cache` switches that on for users who refit the same models across
runs. Importing the package never does (it is a global JAX setting).
"""

from __future__ import annotations

import os

import jax

__all__ = ["enable_compilation_cache"]


def enable_compilation_cache(path, *, min_compile_time_secs: float = 0.1) -> str:
    """Store compiled programs under ``path`` and reuse them in later processes.

    Sets JAX's ``jax_compilation_cache_dir`` to ``path`` (created if missing) and
    ``jax_persistent_cache_min_compile_time_secs`` to ``min_compile_time_secs``, then resets
    JAX's record of whether the cache is in use, so that it takes effect even after
    something was compiled. A global JAX setting, for the whole process; the package never
    calls this by itself.

    Parameters
    ----------
    path : str or os.PathLike
        Cache directory. Trusted: whoever can write there can make this process run code
        (JAX's own warning), so never use a directory shared with untrusted users.
    min_compile_time_secs : float
        Programs that compiled faster than this are not stored (JAX's default is 1 s, which
        skips most of this package's programs on a fast machine; 0 stores everything).

    Returns
    -------
    str
        The absolute cache directory.

    Raises
    ------
    ValueError
        ``min_compile_time_secs`` negative or not finite.

    Examples
    --------
    >>> import tempfile
    >>> import numpyro_semipar
    >>> cache_dir = numpyro_semipar.enable_compilation_cache(tempfile.mkdtemp())  # doctest: +SKIP
    """
    min_compile_time_secs = float(min_compile_time_secs)
    if not 0.0 <= min_compile_time_secs < float("inf"):
        raise ValueError(
            f"min_compile_time_secs must be finite and >= 0; got {min_compile_time_secs!r}"
        )
    from jax.experimental.compilation_cache import compilation_cache

    directory = os.path.abspath(os.fspath(path))
    os.makedirs(directory, exist_ok=True)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_time_secs)
    compilation_cache.set_cache_dir(directory)
    # JAX decides once per process whether the cache is used (at the first compilation):
    # without the reset, enabling it after anything was compiled would do nothing.
    compilation_cache.reset_cache()
    return directory
