"""The candidate archive with concurrent writers, dead writers' leftovers, damaged chunks."""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from numpyro_semipar.mcmc import CandidateArchive
from numpyro_semipar.mcmc import _archive as archive_module

ARCHIVE_FILE = Path(archive_module.__file__)

# Each writer loads _archive.py by path (numpy only: no JAX import, so four of them start in
# a fraction of a second), waits for a common start signal and then, 25 times, re-opens the
# archive (the open is what used to delete every *.tmp, including the other writers'
# in-flight chunks) and appends a batch of rows that only it writes.
WRITER = """
import importlib.util, os, sys, time
import numpy as np
spec = importlib.util.spec_from_file_location("archive_alone", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
path, writer, go = sys.argv[2], int(sys.argv[3]), sys.argv[4]
while not os.path.exists(go):
    time.sleep(0.001)
for batch in range(25):
    archive = module.CandidateArchive(path)
    rows = np.array([[writer, batch, i] for i in range(4)], dtype=np.float64)
    assert archive.append(rows, -rows.sum(axis=1)) == 4
"""

NUM_WRITERS, NUM_BATCHES, BATCH = 4, 25, 4


def test_four_concurrent_writers_lose_and_duplicate_nothing(tmp_path):
    path, go = tmp_path / "archive", tmp_path / "go"
    CandidateArchive(path, dim=3)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(ARCHIVE_FILE), str(path), str(w), str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(NUM_WRITERS)
    ]
    go.touch()
    errors = [writer.communicate(timeout=120)[1] for writer in writers]
    assert [writer.returncode for writer in writers] == [0] * NUM_WRITERS, errors

    positions, values = CandidateArchive(path).load()
    expected = {
        (w, b, i) for w in range(NUM_WRITERS) for b in range(NUM_BATCHES) for i in range(BATCH)
    }
    stored = [tuple(row) for row in positions.astype(int).tolist()]
    assert len(stored) == len(expected) == NUM_WRITERS * NUM_BATCHES * BATCH  # no duplicate
    assert set(stored) == expected  # nothing lost
    np.testing.assert_array_equal(values, -positions.sum(axis=1))
    chunks = sorted(path.glob("chunk-*.npz"))
    assert len(chunks) == NUM_WRITERS * NUM_BATCHES  # every append landed as its own chunk
    assert not list(path.glob("*.tmp"))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_open_removes_only_dead_writers_temporary_files(tmp_path):
    path = tmp_path / "archive"
    path.mkdir()
    name = "chunk-00000000-" + "0" * 32 + ".npz"
    host = archive_module._HOST
    live = path / f"{name}.{host}.{os.getpid()}.tmp"
    dead = path / f"{name}.{host}.{_dead_pid()}.tmp"
    foreign = path / f"{name}.another-host.1.tmp"
    stale = path / f"{name}.tmp"  # the old naming: removed only once it is a day old
    fresh_old_style = path / ("chunk-00000001-" + "1" * 32 + ".npz.tmp")
    for file in (live, dead, foreign, stale, fresh_old_style):
        file.write_bytes(b"partial")
    day_ago = time.time() - archive_module.STALE_TMP_SECONDS - 60
    os.utime(stale, (day_ago, day_ago))
    CandidateArchive(path)
    assert live.exists() and foreign.exists() and fresh_old_style.exists()
    assert not dead.exists() and not stale.exists()


def test_damaged_chunk_is_named_skipped_and_the_rest_kept(tmp_path):
    path = tmp_path / "archive"
    archive = CandidateArchive(path)
    for k in range(3):
        archive.append(np.full((2, 2), 10.0 * k) + np.arange(2)[:, None], np.zeros(2) - k)
    chunks = sorted(path.glob("chunk-*.npz"))
    truncated = chunks[1]
    truncated.write_bytes(truncated.read_bytes()[:60])
    with pytest.warns(UserWarning, match=f"chunk {truncated.name} is damaged and skipped"):
        reopened = CandidateArchive(path)
    assert reopened.damaged_chunks == [truncated]
    positions, values = reopened.load()  # no second warning: the chunk is already known
    np.testing.assert_array_equal(positions[:, 0], [0.0, 1.0, 20.0, 21.0])
    np.testing.assert_array_equal(values, [0.0, 0.0, -2.0, -2.0])
    assert reopened.append(np.array([[9.0, 9.0]]), np.array([1.0])) == 1
    assert len(reopened) == 5


def test_chunk_with_pickled_object_data_is_named(tmp_path):
    path = tmp_path / "archive"
    CandidateArchive(path).append(np.eye(2), np.zeros(2))
    bad = path / ("chunk-00000007-" + "a" * 32 + ".npz")
    np.savez(bad, positions=np.array([object()]), log_densities=np.zeros(1))
    with pytest.warns(UserWarning, match=f"{bad.name} is damaged.*Object arrays"):
        positions, _ = CandidateArchive(path).load()
    assert positions.shape == (2, 2)
