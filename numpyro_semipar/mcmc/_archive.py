"""An on-disk archive of every (position, log density) pair a sampler evaluates.

The DNN-surrogate workflow recycles *every* candidate an MH run evaluates, accepted or rejected,
as training data. When one evaluation costs a second, those candidates are the expensive part of
the whole computation, so they must survive a crash: :class:`CandidateArchive` writes each batch
of evaluations to its own chunk file as soon as the batch is done (write to a temporary name, then
an atomic :func:`os.replace`), so a run killed with ``kill -9`` loses at most the batch in flight.

Resuming is by *replay*: a driver restarted with the same random keys proposes the same positions
again, and :meth:`CandidateArchive.evaluate` returns stored values for them (looked up by the
exact bytes of the float64 position) instead of evaluating again. Archives from several runs merge
by copying chunk files; loading deduplicates by the same key and returns arrays ready for
:func:`~numpyro_semipar.mcmc.train_surrogate`.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from pathlib import Path

import numpy as np

__all__ = ["ArchiveRecorder", "CandidateArchive", "merge_archives"]

_CHUNK = re.compile(r"^chunk-(\d{8})-([0-9a-f]{32})\.npz$")
# In-flight chunks carry their writer's host and pid, so that opening an archive removes only
# the leftovers of dead writers on this host, never a live writer's chunk (issue 19: two
# processes on one archive lost half their rows when each open deleted every ``*.tmp``).
_TMP = re.compile(r"^chunk-\d{8}-[0-9a-f]{32}\.npz\.(?P<host>[^/]+)\.(?P<pid>\d+)\.tmp$")
# A temporary file this old is a leftover whatever its name says (another host, old format):
# no chunk takes a day to write.
STALE_TMP_SECONDS = 24 * 3600.0
# What reading a truncated or overwritten .npz can raise.
_DAMAGE = (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError, IndexError, TypeError)
_HOST = socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _is_dead_writers_tmp(file: Path, now: float) -> bool:
    """Whether a ``*.tmp`` file is a leftover that no live writer will rename."""
    try:
        age = now - file.stat().st_mtime
    except FileNotFoundError:  # renamed by its writer meanwhile
        return False
    if age > STALE_TMP_SECONDS:
        return True
    match = _TMP.match(file.name)
    if match is None or match.group("host") != _HOST:
        return False
    return not _pid_alive(int(match.group("pid")))


def _as_positions(positions, dim: int | None, name: str = "positions") -> np.ndarray:
    array = np.asarray(positions, dtype=np.float64)
    if array.ndim == 1 and dim is not None and array.shape[0] == dim:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, dim); got shape {array.shape}")
    if dim is not None and array.shape[1] != dim:
        raise ValueError(f"{name} has {array.shape[1]} columns but the archive stores dim={dim}")
    bad = ~np.all(np.isfinite(array), axis=1)
    if bad.any():
        raise ValueError(f"{name} row {int(np.flatnonzero(bad)[0])} is not finite")
    return np.ascontiguousarray(array)


def position_keys(positions: np.ndarray) -> list[bytes]:
    """Keys that identify positions exactly: a hash of each row's float64 bytes.

    Parameters
    ----------
    positions : array of shape (n, dim)
        Positions (converted to float64, C order).

    Returns
    -------
    list of bytes
        One 16-byte key per row; equal keys mean bit-identical rows.
    """
    array = np.ascontiguousarray(np.asarray(positions, dtype=np.float64))
    # -0.0 and 0.0 are the same position but have different bytes: normalise.
    array = array + 0.0
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in array]


class CandidateArchive:
    """A directory of chunk files holding evaluated positions and their log densities.

    Parameters
    ----------
    path : str or Path
        Directory of the archive; created if missing. An existing archive is opened and its
        chunks are indexed (resume).
    dim : int, optional
        Dimension of the positions. Inferred from existing chunks or from the first batch.

    Notes
    -----
    Each call to :meth:`append` writes one ``chunk-<sequence>-<uuid>.npz`` file with the arrays
    ``positions`` (n, dim) float64, ``log_densities`` (n,) float64 and ``batch`` (n,) int64 (the
    chunk's sequence number). Files are written under a temporary name and renamed with
    :func:`os.replace`, which is atomic on POSIX file systems: a reader never sees a half-written
    chunk, and a killed writer leaves only a ``.tmp`` file that is ignored and cleaned up.
    Non-finite log densities (``-inf`` outside the support) are stored as they are.

    Several processes may write to one archive at once: every chunk has a unique name, and a
    temporary file is removed on opening only when its writer (host and pid in its name) is
    dead or it is older than :data:`STALE_TMP_SECONDS`. A chunk that cannot be read (truncated,
    overwritten) is skipped with a :class:`UserWarning` naming the file; the other chunks are
    kept, and :attr:`damaged_chunks` lists the skipped files.
    """

    def __init__(self, path: str | os.PathLike, dim: int | None = None):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        now = time.time()
        for leftover in self.path.glob("*.tmp"):
            if _is_dead_writers_tmp(leftover, now):
                leftover.unlink(missing_ok=True)
        self.dim = None if dim is None else int(dim)
        self._index: dict[bytes, float] = {}
        self._chunks: list[Path] = []
        self.damaged_chunks: list[Path] = []
        self._next_sequence = 0
        self.refresh()

    # ------------------------------------------------------------------ reading
    def _chunk_files(self) -> list[Path]:
        files = [p for p in self.path.iterdir() if _CHUNK.match(p.name)]
        return sorted(files, key=lambda p: p.name)

    def refresh(self) -> None:
        """Index chunk files written since the archive was opened (e.g. by another process)."""
        known = set(self._chunks) | set(self.damaged_chunks)
        for file in self._chunk_files():
            if file in known:
                continue
            chunk = self._read_chunk(file)
            if chunk is None:
                continue
            positions, values = chunk
            for key, value in zip(position_keys(positions), values, strict=True):
                self._index.setdefault(key, float(value))
            self._chunks.append(file)
            sequence = int(_CHUNK.match(file.name).group(1))
            self._next_sequence = max(self._next_sequence, sequence + 1)

    def _read_chunk(self, file: Path) -> tuple[np.ndarray, np.ndarray] | None:
        """Read a chunk: its arrays, or None (with a warning naming the file) if damaged."""
        try:
            # Our own handle: np.load leaks its file when the zip directory is unreadable.
            with open(file, "rb") as handle, np.load(handle, allow_pickle=False) as data:
                positions = np.asarray(data["positions"], dtype=np.float64)
                values = np.asarray(data["log_densities"], dtype=np.float64)
            if positions.ndim != 2 or values.shape != (positions.shape[0],):
                raise ValueError(
                    f"positions shape {positions.shape}, log_densities shape {values.shape}"
                )
        except _DAMAGE as error:
            if file not in self.damaged_chunks:
                self.damaged_chunks.append(file)
                warnings.warn(
                    f"candidate archive {self.path}: chunk {file.name} is damaged and skipped "
                    f"({type(error).__name__}: {error}); the other chunks are kept. Delete or "
                    "move the file to silence this warning.",
                    UserWarning,
                    stacklevel=3,
                )
            return None
        if self.dim is None:
            self.dim = int(positions.shape[1])
        elif positions.shape[1] != self.dim:
            raise ValueError(
                f"chunk {file.name} has dim {positions.shape[1]}, the archive has dim {self.dim}"
            )
        return positions, values

    def __len__(self) -> int:
        """Return the number of distinct stored positions."""
        return len(self._index)

    def __contains__(self, position) -> bool:
        """Whether a single position (dim,) is stored."""
        return position_keys(_as_positions(position, self.dim))[0] in self._index

    @property
    def num_chunks(self) -> int:
        """Number of chunk files (flushed batches)."""
        return len(self._chunks)

    def lookup(self, positions) -> tuple[np.ndarray, np.ndarray]:
        """Look up the stored log densities of positions.

        Parameters
        ----------
        positions : array of shape (n, dim)
            Positions to look up.

        Returns
        -------
        found : bool array of shape (n,)
            Whether each position is in the archive.
        log_densities : float64 array of shape (n,)
            Stored values (NaN where not found).
        """
        keys = position_keys(_as_positions(positions, self.dim))
        found = np.array([k in self._index for k in keys], dtype=bool)
        values = np.array([self._index.get(k, np.nan) for k in keys], dtype=np.float64)
        return found, values

    def load(self, *, finite_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """All distinct stored positions and log densities, in the order they were stored.

        Parameters
        ----------
        finite_only : bool
            Drop pairs whose log density is not finite (outside the support).

        Returns
        -------
        positions : float64 array of shape (n, dim)
        log_densities : float64 array of shape (n,)
        """
        self.refresh()
        seen: set[bytes] = set()
        xs, ys = [], []
        for file in self._chunks:
            chunk = self._read_chunk(file)
            if chunk is None:
                continue
            positions, values = chunk
            keep = []
            for i, key in enumerate(position_keys(positions)):
                if key not in seen:
                    seen.add(key)
                    keep.append(i)
            xs.append(positions[keep])
            ys.append(values[keep])
        dim = self.dim if self.dim is not None else 0
        positions = np.concatenate(xs) if xs else np.zeros((0, dim))
        values = np.concatenate(ys) if ys else np.zeros((0,))
        if finite_only:
            ok = np.isfinite(values)
            positions, values = positions[ok], values[ok]
        return positions, values

    # ------------------------------------------------------------------ writing
    def append(self, positions, log_densities) -> int:
        """Store a batch as one new chunk file (atomically); returns the number of new rows.

        Rows already in the archive (same position bytes) are skipped, so appending the same
        batch twice stores it once.

        Parameters
        ----------
        positions : array of shape (n, dim)
            Evaluated positions.
        log_densities : array of shape (n,)
            Their log densities (NaN is rejected; ``-inf`` is allowed).

        Returns
        -------
        int
            Number of rows written.
        """
        positions = _as_positions(positions, self.dim)
        values = np.asarray(log_densities, dtype=np.float64).reshape(-1)
        if values.shape[0] != positions.shape[0]:
            raise ValueError(
                f"log_densities has {values.shape[0]} entries for {positions.shape[0]} positions"
            )
        if np.isnan(values).any():
            raise ValueError(f"log_densities row {int(np.flatnonzero(np.isnan(values))[0])} is NaN")
        if self.dim is None:
            self.dim = int(positions.shape[1])
        keys = position_keys(positions)
        keep, batch_keys = [], set()
        for i, key in enumerate(keys):
            if key not in self._index and key not in batch_keys:
                batch_keys.add(key)
                keep.append(i)
        if not keep:
            return 0
        positions, values = positions[keep], values[keep]
        sequence = self._next_sequence
        name = f"chunk-{sequence:08d}-{uuid.uuid4().hex}.npz"
        final = self.path / name
        tmp = self.path / f"{name}.{_HOST}.{os.getpid()}.tmp"
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                positions=positions,
                log_densities=values,
                batch=np.full(positions.shape[0], sequence, dtype=np.int64),
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
        self._chunks.append(final)
        self._next_sequence = sequence + 1
        for i in range(len(keep)):
            self._index[keys[keep[i]]] = float(values[i])
        return len(keep)

    def evaluate(
        self,
        logdensity_fn: Callable[[np.ndarray], float],
        positions,
        *,
        executor: Executor | object | None = None,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Log densities of positions, evaluating (and storing) only those not yet stored.

        This is the resume primitive: a driver that replays the same positions after a crash
        gets the stored values back without a single new evaluation.

        Parameters
        ----------
        logdensity_fn : callable
            ``(dim,) float64 array -> float``; any Python function (NumPy, numba, ...).
        positions : array of shape (n, dim)
            Positions.
        executor : concurrent.futures.Executor or dask.distributed.Client, optional
            Where to evaluate; see :func:`~numpyro_semipar.mcmc.evaluate_batch`. Default:
            evaluate in this process.
        batch_size : int, optional
            Flush to disk every ``batch_size`` new evaluations (default: one chunk per call).

        Returns
        -------
        float64 array of shape (n,)
        """
        from ._executor import evaluate_batch

        positions = _as_positions(positions, self.dim)
        found, values = self.lookup(positions)
        missing = np.flatnonzero(~found)
        # Evaluate each distinct missing position once even if it repeats in the batch.
        unique_rows: dict[bytes, int] = {}
        keys = position_keys(positions[missing]) if missing.size else []
        for i, key in zip(missing, keys, strict=True):
            unique_rows.setdefault(key, int(i))
        todo = np.array(list(unique_rows.values()), dtype=int)
        step = max(1, int(batch_size)) if batch_size else max(1, todo.size)
        for start in range(0, todo.size, step):
            rows = todo[start : start + step]
            new = evaluate_batch(logdensity_fn, positions[rows], executor=executor)
            self.append(positions[rows], new)
        if missing.size:
            found, values = self.lookup(positions)
        return values


class ArchiveRecorder:
    """An ``evaluation_callback`` for the MH kernels that streams evaluations into an archive.

    The kernels call it (through :func:`jax.debug.callback`) with the points evaluated in one
    iteration and their log densities; points are buffered and written as one chunk every
    ``flush_every`` points (and on :meth:`flush`). Dict positions are flattened in
    ``jax.flatten_util.ravel_pytree`` order (sites sorted by name), the order the kernels use
    for the proposal covariance. Points whose log density is NaN (not evaluated, e.g. stage-1
    rejections of delayed acceptance) are skipped.

    Parameters
    ----------
    archive : CandidateArchive
        Where to write.
    flush_every : int
        Number of buffered points that triggers a write.
    """

    def __init__(self, archive: CandidateArchive, flush_every: int = 2000):
        self.archive = archive
        self.flush_every = int(flush_every)
        self._positions: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self._pending = 0
        self.num_recorded = 0

    def __call__(self, points, logdensities) -> None:
        """Buffer one iteration's evaluations (flushes when the buffer is full)."""
        values = np.asarray(logdensities, dtype=np.float64).reshape(-1)
        n = values.shape[0]
        if isinstance(points, dict):
            flat = np.concatenate(
                [np.asarray(points[k], np.float64).reshape(n, -1) for k in sorted(points)], axis=1
            )
        else:
            flat = np.asarray(points, np.float64).reshape(n, -1)
        keep = ~np.isnan(values) & np.all(np.isfinite(flat), axis=1)
        if keep.any():
            self._positions.append(flat[keep])
            self._values.append(values[keep])
            self._pending += int(keep.sum())
            self.num_recorded += int(keep.sum())
        if self._pending >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Write the buffered evaluations as one chunk."""
        if self._pending:
            self.archive.append(np.concatenate(self._positions), np.concatenate(self._values))
        self._positions, self._values, self._pending = [], [], 0


def merge_archives(
    sources: Iterable[CandidateArchive | str | os.PathLike], destination: str | os.PathLike
) -> CandidateArchive:
    """Merge several archives into one (distinct positions only; the sources are not changed).

    Parameters
    ----------
    sources : iterable of CandidateArchive or path
        Archives to merge, in order (for a position stored twice, the first value is kept).
    destination : str or Path
        Directory of the merged archive (may already hold an archive: it is extended).

    Returns
    -------
    CandidateArchive
        The merged archive.
    """
    merged = CandidateArchive(destination)
    for source in sources:
        archive = source if isinstance(source, CandidateArchive) else CandidateArchive(source)
        if archive.path.resolve() == merged.path.resolve():
            continue
        archive.refresh()
        for file in archive._chunks:
            chunk = archive._read_chunk(file)
            if chunk is not None:
                merged.append(*chunk)
    return merged
