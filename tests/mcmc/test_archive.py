import subprocess
import sys
import textwrap

import numpy as np
import pytest

from numpyro_semipar.mcmc import CandidateArchive, merge_archives


def gaussian(x):
    return -0.5 * float(np.sum(np.asarray(x) ** 2))


def test_append_load_lookup_and_reopen(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3))
    y = np.array([gaussian(r) for r in x])
    archive = CandidateArchive(tmp_path / "a")
    assert archive.append(x[:12], y[:12]) == 12
    # overlapping batch: only the 8 new rows are written
    assert archive.append(x[8:], y[8:]) == 8
    assert archive.append(x[:5], y[:5]) == 0
    assert len(archive) == 20 and archive.num_chunks == 2
    reopened = CandidateArchive(tmp_path / "a")
    positions, values = reopened.load()
    np.testing.assert_array_equal(positions, x)
    np.testing.assert_array_equal(values, y)
    found, stored = reopened.lookup(np.vstack([x[3], rng.normal(size=3)]))
    assert found.tolist() == [True, False]
    assert stored[0] == y[3] and np.isnan(stored[1])
    assert x[7] in reopened


def test_evaluate_only_missing_and_keeps_minus_inf(tmp_path):
    calls = []

    def logdensity(x):
        calls.append(x.copy())
        return -np.inf if x[0] > 1.0 else gaussian(x)

    rng = np.random.default_rng(1)
    x = rng.normal(size=(10, 2))
    x[0, 0] = 2.0
    archive = CandidateArchive(tmp_path / "a")
    first = archive.evaluate(logdensity, x[:6])
    assert len(calls) == 6 and first[0] == -np.inf
    # a batch with repeats and stored rows: only the 4 new distinct rows are evaluated
    batch = np.vstack([x, x[8:]])
    values = archive.evaluate(logdensity, batch, batch_size=3)
    assert len(calls) == 10
    np.testing.assert_array_equal(values[:10], [logdensity(r) for r in x])
    assert archive.num_chunks == 3  # one chunk, then ceil(4 / 3) = 2 more
    positions, stored = archive.load(finite_only=True)
    assert positions.shape == (9, 2) and np.all(np.isfinite(stored))


def test_merge_archives_keeps_distinct_positions(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 4))
    y = np.array([gaussian(r) for r in x])
    a = CandidateArchive(tmp_path / "a")
    b = CandidateArchive(tmp_path / "b")
    a.append(x[:20], y[:20])
    b.append(x[10:], y[10:])
    merged = merge_archives([a, tmp_path / "b"], tmp_path / "m")
    positions, values = merged.load()
    assert len(merged) == 30
    order = np.lexsort(positions.T)
    np.testing.assert_array_equal(positions[order], x[np.lexsort(x.T)])
    np.testing.assert_array_equal(values[order], y[np.lexsort(x.T)])


def test_bad_input_is_named(tmp_path):
    archive = CandidateArchive(tmp_path / "a", dim=3)
    with pytest.raises(ValueError, match="columns"):
        archive.append(np.zeros((2, 4)), np.zeros(2))
    with pytest.raises(ValueError, match="row 1 is not finite"):
        archive.append(np.array([[0.0, 0, 0], [np.nan, 0, 0]]), np.zeros(2))
    with pytest.raises(ValueError, match="NaN"):
        archive.append(np.zeros((1, 3)), [np.nan])
    with pytest.raises(ValueError, match="entries"):
        archive.append(np.zeros((2, 3)), np.zeros(3))


# A multi-proposal-style driver whose future positions depend on the evaluated values, so a
# correct resume must replay exactly. It logs every evaluation to a file (fsync'ed) and kills
# itself with SIGKILL (kill -9) at a chosen evaluation.
DRIVER = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from numpyro_semipar.mcmc._archive import CandidateArchive

    path, log, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    count = 0

    def logdensity(x):
        global count
        count += 1
        with open(log, "a") as f:
            f.write(x.tobytes().hex() + "\\n")
            f.flush()
            os.fsync(f.fileno())
        if count == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return float(-0.5 * (x[0] ** 2 + (x[1] - x[0] ** 2) ** 2 / 0.25 + x[2] ** 2))

    rng = np.random.default_rng(7)
    archive = CandidateArchive(path)
    x = np.zeros(3)
    for _ in range(6):
        batch = x + 0.7 * rng.normal(size=(8, 3))
        values = archive.evaluate(logdensity, batch)
        weights = np.exp(values - values.max())
        x = batch[rng.choice(8, p=weights / weights.sum())]
    print(x.tobytes().hex())
    """
)


def _run(tmp_path, name, kill_at, log_name=None):
    log = tmp_path / f"{log_name or name}.log"
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(tmp_path / name), str(log), str(kill_at)],
        capture_output=True,
        text=True,
    )
    lines = log.read_text().split() if log.exists() else []
    return proc, lines


def test_resume_after_kill_9_repeats_no_stored_evaluation(tmp_path):
    reference, reference_log = _run(tmp_path, "reference", kill_at=-1)
    assert reference.returncode == 0, reference.stderr
    assert len(reference_log) == 48

    killed, killed_log = _run(tmp_path, "resumed", kill_at=27, log_name="killed")
    assert killed.returncode == -9  # SIGKILL
    assert len(killed_log) == 27
    stored_at_kill, _ = CandidateArchive(tmp_path / "resumed").load()
    assert stored_at_kill.shape == (24, 3)  # three flushed batches; the fourth was in flight

    resumed, resumed_log = _run(tmp_path, "resumed", kill_at=-1)
    assert resumed.returncode == 0, resumed.stderr
    # identical chain and identical archive as the uninterrupted run
    assert resumed.stdout == reference.stdout
    stored_keys = {row.tobytes().hex() for row in stored_at_kill}
    assert stored_keys.isdisjoint(resumed_log)  # nothing stored was evaluated again
    assert len(resumed_log) == 48 - 24
    assert set(killed_log) | set(resumed_log) == set(reference_log)  # nothing lost
    final_x, final_y = CandidateArchive(tmp_path / "resumed").load()
    ref_x, ref_y = CandidateArchive(tmp_path / "reference").load()
    np.testing.assert_array_equal(final_x, ref_x)
    np.testing.assert_array_equal(final_y, ref_y)
