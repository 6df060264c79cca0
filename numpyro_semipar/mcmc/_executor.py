"""Batches of log densities written outside JAX, evaluated through any executor.

A sequence-jacobian HANK model or a Fortran likelihood is a plain Python function of a NumPy
vector. The multi-proposal kernel and the candidate archive need such functions evaluated on a
whole batch of positions at once; :func:`evaluate_batch` sends the batch to any
:class:`concurrent.futures.Executor` (a local :class:`~concurrent.futures.ProcessPoolExecutor`
by default) or to a Dask ``distributed.Client`` (a cluster). :func:`host_logdensity` wraps such a
function so that a jitted JAX kernel can call it through :func:`jax.pure_callback`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._host_callback import pure_callback

__all__ = ["evaluate_batch", "host_logdensity", "local_executor"]


class _Portable:
    """A function pickled by value (cloudpickle), so lambdas and test-local functions travel.

    The standard pickle sends functions by reference (module + name), which fails for closures,
    lambdas and functions defined in scripts; cloudpickle sends their code.
    """

    def __init__(self, fn: Callable):
        self.fn = fn

    def __reduce__(self):
        import cloudpickle

        return (_unpickle_portable, (cloudpickle.dumps(self.fn),))

    def __call__(self, position):
        return float(self.fn(np.asarray(position, dtype=np.float64)))


def _unpickle_portable(payload: bytes) -> _Portable:
    import cloudpickle

    return _Portable(cloudpickle.loads(payload))


def _evaluate_rows(fn: _Portable, rows: np.ndarray) -> list[float]:
    return [fn(row) for row in rows]


def local_executor(max_workers: int | None = None) -> ProcessPoolExecutor:
    """Start a process pool that is safe to use next to JAX.

    JAX is multithreaded, and forking a multithreaded process can deadlock; the pool therefore
    starts its workers with the ``spawn`` method.

    Parameters
    ----------
    max_workers : int, optional
        Number of worker processes (default: the number of CPUs).

    Returns
    -------
    concurrent.futures.ProcessPoolExecutor
    """
    workers = max_workers if max_workers is not None else (os.cpu_count() or 1)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _as_executor(executor: Any) -> Executor | None:
    if executor is None or isinstance(executor, Executor):
        return executor
    # A dask.distributed.Client is not an Executor but hands one out.
    get_executor = getattr(executor, "get_executor", None)
    if callable(get_executor):
        return get_executor()
    raise TypeError(
        "executor must be a concurrent.futures.Executor or a dask.distributed.Client, got "
        f"{type(executor).__name__}"
    )


def evaluate_batch(
    logdensity_fn: Callable[[np.ndarray], float],
    positions,
    *,
    executor: Executor | Any | None = None,
    chunksize: int | None = None,
) -> np.ndarray:
    """Evaluate a Python log density on every row of a batch, possibly in parallel.

    Parameters
    ----------
    logdensity_fn : callable
        ``(dim,) float64 array -> float``. It is sent to the workers with cloudpickle, so
        closures and lambdas work.
    positions : array of shape (n, dim)
        Positions to evaluate.
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        ``None`` evaluates in this process; an executor (e.g. :func:`local_executor`) spreads
        the rows over its workers; a Dask ``Client`` uses ``client.get_executor()``.
    chunksize : int, optional
        Rows per task (default: the batch split evenly into about four tasks per worker).

    Returns
    -------
    float64 array of shape (n,)
        Log densities, in the order of the rows. NaN results become ``-inf`` (a point where
        the model fails to solve is treated as outside the support).
    """
    rows = np.asarray(positions, dtype=np.float64)
    if rows.ndim != 2:
        raise ValueError(f"positions must be a 2-D array (n, dim); got shape {rows.shape}")
    if not callable(logdensity_fn):
        raise TypeError("logdensity_fn must be callable")
    pool = _as_executor(executor)
    fn = logdensity_fn if isinstance(logdensity_fn, _Portable) else _Portable(logdensity_fn)
    n = rows.shape[0]
    if n == 0:
        return np.zeros((0,))
    if pool is None:
        values = np.array(_evaluate_rows(fn, rows), dtype=np.float64)
    else:
        workers = getattr(pool, "_max_workers", None) or os.cpu_count() or 1
        size = chunksize or max(1, -(-n // (4 * workers)))
        futures = [
            pool.submit(_evaluate_rows, fn, rows[start : start + size])
            for start in range(0, n, size)
        ]
        values = np.concatenate([np.asarray(f.result(), dtype=np.float64) for f in futures])
    return np.where(np.isnan(values), -np.inf, values)


def host_logdensity(
    logdensity_fn: Callable[[np.ndarray], float],
    *,
    executor: Executor | Any | None = None,
    archive: Any = None,
    dtype=None,
) -> Callable[[jax.Array], jax.Array]:
    """Make a Python log density callable from jitted JAX code (also under ``vmap``).

    Parameters
    ----------
    logdensity_fn : callable
        ``(dim,) float64 array -> float``.
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Batches produced by ``jax.vmap`` (e.g. the proposals of a multi-proposal kernel) are
        evaluated through it with :func:`evaluate_batch`.
    archive : CandidateArchive, optional
        Look every batch up in this archive first and evaluate (and store, one chunk per batch)
        only the positions it lacks: a run replayed after a crash re-evaluates nothing stored.
    dtype : dtype, optional
        Result dtype (default: the position's dtype).

    Returns
    -------
    callable
        ``(dim,) array -> scalar`` JAX function built on :func:`jax.pure_callback` with
        ``vmap_method="expand_dims"``: a vmapped call reaches the host as one batch.
    """

    def host(batch):
        batch = np.asarray(batch, dtype=np.float64)
        flat = batch.reshape(-1, batch.shape[-1])
        if archive is not None:
            values = archive.evaluate(logdensity_fn, flat, executor=executor)
        else:
            values = evaluate_batch(logdensity_fn, flat, executor=executor)
        return values.reshape(batch.shape[:-1])

    def logdensity(position):
        position = jnp.asarray(position)
        out_dtype = jnp.dtype(dtype or position.dtype)
        # The exact callback: XLA may run it on a thread where float64 is off (see
        # numpyro_semipar._host_callback); positions and values then still travel exactly.
        return pure_callback(
            lambda x: host(x).astype(out_dtype),
            jax.ShapeDtypeStruct(position.shape[:-1], out_dtype),
            position,
            vmap_method="expand_dims",
        )

    return logdensity
