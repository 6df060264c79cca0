"""How a multi-proposal kernel evaluates its batch of ``N`` proposals: ``vmap`` or threads.

An evaluator is a function ``evaluate(logdensity_fn, positions) -> logdensities`` where
``positions`` is a pytree whose leaves have a leading axis of size ``N``. Two are provided:

:func:`vmap_evaluator`
    ``jax.vmap(logdensity_fn)(positions)``: one batched XLA computation (the default). Cheap
    when the log density vectorises well (dense linear algebra, a GPU), but on a CPU XLA runs
    the batch on one core, and a batch of small-matrix recursions (Kalman filters, fixed-point
    solvers) costs a sizeable fraction of ``N`` single evaluations.

:func:`threaded_evaluator`
    Splits the batch into ``num_threads`` chunks and evaluates each chunk (itself ``vmap``-ed)
    as a separate jitted call on a :class:`concurrent.futures.ThreadPoolExecutor`, reached from
    inside the jitted kernel through :func:`jax.pure_callback`. XLA releases the GIL while it
    runs, so the chunks run concurrently, one per core: this is how a CPU's cores share one
    chain's batch, which ``vmap`` alone does not do.

The threaded evaluator hoists the values that ``logdensity_fn`` closes over (e.g. a NumPyro
model's data, traced inside the sampler's jit) into explicit operands with
:func:`jax.closure_convert`, so it works on any log density the kernel receives.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..._host_callback import pure_callback

__all__ = ["threaded_evaluator", "vmap_evaluator"]

Evaluator = Callable[[Callable[[Any], jax.Array], Any], jax.Array]

_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def vmap_evaluator(logdensity_fn: Callable[[Any], jax.Array], positions: Any) -> jax.Array:
    """Evaluate ``logdensity_fn`` on a batch of positions as one ``jax.vmap`` call.

    Parameters
    ----------
    logdensity_fn : callable
        ``position -> scalar``.
    positions : pytree
        Positions with a leading batch axis on every leaf.

    Returns
    -------
    jax.Array of shape (N,)
    """
    return jax.vmap(logdensity_fn)(positions)


def _shared_pool(num_threads: int) -> ThreadPoolExecutor:
    # One pool per size for the whole process: kernels are rebuilt (and re-traced) often, and
    # idle threads cost nothing.
    with _POOLS_LOCK:
        pool = _POOLS.get(num_threads)
        if pool is None:
            pool = ThreadPoolExecutor(num_threads, thread_name_prefix="multi-proposal")
            _POOLS[num_threads] = pool
        return pool


def threaded_evaluator(
    num_threads: int | None = None, *, executor: Executor | None = None
) -> Evaluator:
    """Build an evaluator that runs chunks of the batch concurrently on threads.

    Parameters
    ----------
    num_threads : int, optional
        Number of chunks the batch is split into (default: the executor's ``_max_workers`` or
        the number of CPUs). Chunks are as equal as possible; a batch of ``N`` points is split
        into ``min(N, num_threads)`` chunks.
    executor : concurrent.futures.Executor, optional
        A thread-based executor (the jitted chunk functions are Python closures over XLA
        executables and cannot be sent to other processes). Default: a process-wide
        :class:`~concurrent.futures.ThreadPoolExecutor` with ``num_threads`` workers.

    Returns
    -------
    callable
        ``evaluate(logdensity_fn, positions) -> logdensities``, usable inside ``jax.jit``
        (through :func:`jax.pure_callback`; under ``jax.vmap`` of the whole kernel, e.g.
        vectorized chains, the chains' batches are evaluated one after the other, each split
        over the threads). Not differentiable.

    Raises
    ------
    ValueError
        If ``num_threads`` is not a positive integer.
    TypeError
        If ``executor`` is not a :class:`concurrent.futures.Executor`.

    Notes
    -----
    It pays only when the evaluations are expensive and cores are idle: every iteration pays a
    host callback (about 0.2 ms of CPU inside a jitted loop on a 2-core test machine) and one
    JAX call per chunk from inside it (about 0.25 ms each), 1–2 ms of CPU per iteration in
    ``benchmarks/bench_mh_kernels.py``, which prints both evaluators' batch costs for its
    targets. Measure ``jax.vmap`` against this evaluator on the posterior at hand.
    """
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(
            f"`executor` must be a concurrent.futures.Executor, got {type(executor).__name__}"
        )
    if num_threads is None:
        num_threads = getattr(executor, "_max_workers", None) or os.cpu_count() or 1
    if isinstance(num_threads, bool) or int(num_threads) != num_threads or num_threads < 1:
        raise ValueError(f"`num_threads` must be a positive integer, got {num_threads!r}")
    num_threads = int(num_threads)

    def evaluate(logdensity_fn: Callable[[Any], jax.Array], positions: Any) -> jax.Array:
        leaves = jax.tree.leaves(positions)
        size = leaves[0].shape[0]
        example = jax.tree.map(lambda leaf: leaf[0], positions)
        converted, consts = jax.closure_convert(logdensity_fn, example)
        out_dtype = jax.eval_shape(logdensity_fn, example).dtype
        bounds = np.linspace(0, size, min(size, num_threads) + 1).astype(int)
        pairs = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))

        def chunk_fn(chunk, *closed):
            return jax.vmap(lambda position: converted(position, *closed))(chunk)

        # Compile the chunk function now, while the kernel is traced (with the caller's x64
        # setting, which is thread-local under `jax.enable_x64`): the callback then runs
        # ready executables, and no compilation lands inside a timed or long run.
        const_avals = [jax.ShapeDtypeStruct(jnp.shape(c), jnp.result_type(c)) for c in consts]
        executables = {}
        for n in sorted({b - a for a, b in pairs}):
            chunk_avals = jax.tree.map(
                lambda leaf, n=n: jax.ShapeDtypeStruct((n,) + leaf.shape[1:], leaf.dtype),
                positions,
            )
            executables[n] = jax.jit(chunk_fn).lower(chunk_avals, *const_avals).compile()
        pool = executor if executor is not None else _shared_pool(num_threads)

        x64 = bool(jax.config.jax_enable_x64)

        def run_chunk(chunk, closed):
            size = jax.tree.leaves(chunk)[0].shape[0]
            # The caller's x64 setting is thread-local; a pool thread must use the same one
            # to pass float64 arguments to the executables unchanged.
            with jax.enable_x64(x64):
                return np.asarray(executables[size](chunk, *closed))

        def host(batch, *closed):
            chunks = [jax.tree.map(lambda leaf, a=a, b=b: leaf[a:b], batch) for a, b in pairs]
            futures = [pool.submit(run_chunk, chunk, closed) for chunk in chunks]
            values = np.concatenate([np.reshape(f.result(), (-1,)) for f in futures])
            return values.astype(out_dtype)

        return pure_callback(
            host,
            jax.ShapeDtypeStruct((size,), out_dtype),
            positions,
            *consts,
            vmap_method="sequential",
        )

    return evaluate


def _check_evaluator(evaluator: Any) -> Evaluator:
    if evaluator is None or evaluator == "vmap":
        return vmap_evaluator
    if evaluator == "threads":
        return threaded_evaluator()
    if callable(evaluator):
        return evaluator
    raise ValueError(
        f"`batch_evaluation` must be 'vmap', 'threads' or a callable evaluator, got {evaluator!r}"
    )
