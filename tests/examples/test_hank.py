"""The HANK example's smallest setting: Dask evaluation, kill -9 and resume, archive = local.

One run of ``examples/hank.py --quick`` on a 2-worker LocalCluster is killed with SIGKILL in
the middle of its exploration and started again with the same command. The resumed run must
evaluate exactly the positions the archive lacks (the workers' own call counters against the
archive's new rows), and the archived values must equal an evaluation of the same positions
in this process, without Dask.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("sequence_jacobian", reason="the HANK example needs the 'hank' extra")
pytest.importorskip("distributed", reason="the HANK example needs dask.distributed")

from numpyro_semipar.mcmc import CandidateArchive  # noqa: E402

EXAMPLE = pathlib.Path(__file__).parents[2] / "examples" / "hank.py"

pytestmark = pytest.mark.slow


def _chunk_files(path: pathlib.Path) -> list[pathlib.Path]:
    return sorted(path.glob("chunk-*.npz")) if path.exists() else []


def test_quick_run_resumes_after_kill_and_archive_equals_local(tmp_path):
    archive = tmp_path / "archive"
    out = tmp_path / "out"
    command = [sys.executable, str(EXAMPLE), "--quick", "--workers", "2"]
    command += ["--archive", str(archive), "--out", str(out), "--no-plots"]
    env = {**os.environ, "CI": "1", "MPLBACKEND": "Agg"}

    # 1. Start, and kill -9 once the exploration has archived two of its batches (the mode
    # search writes to archive/mode, so chunks in archive/ are exploration's).
    log = open(tmp_path / "killed.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        while len(_chunk_files(archive)) < 2:
            assert process.poll() is None, (tmp_path / "killed.log").read_text()
            time.sleep(0.2)
    finally:
        # SIGKILL to the driver and its LocalCluster's worker processes (its own session).
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()
    assert process.returncode == -signal.SIGKILL
    rows_at_kill = len(CandidateArchive(archive))
    mode_rows_at_kill = len(CandidateArchive(archive / "mode"))
    assert rows_at_kill >= 2 and mode_rows_at_kill > 0

    # 2. The same command resumes and finishes.
    resumed = subprocess.run(command, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "exact evaluations this run" in resumed.stderr  # progress with an ETA
    accounting = json.loads((out / "hank_accounting.json").read_text())
    assert accounting["workers"] == 2
    assert accounting["archive_rows_before"]["main"] == rows_at_kill
    assert accounting["archive_rows_before"]["mode"] == mode_rows_at_kill
    # Nothing archived is evaluated again: the workers' log-posterior calls in the resumed run
    # are exactly the rows it added.
    assert accounting["host_evaluations_this_run"] == accounting["new_archive_rows"]
    assert accounting["new_archive_rows"] == sum(accounting["archive_rows_after"].values()) - (
        sum(accounting["archive_rows_before"].values())
    )
    assert accounting["archive_rows_after"]["main"] > rows_at_kill
    for name in ("hank_posterior.nc", "hank_posterior_table.csv"):
        assert (out / name).exists()

    # 3. Archived values (written by the Dask workers, before and after the kill) equal a
    # local evaluation of the same positions in this process.
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        import hank as example
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    posterior, _ = example.make_posterior(example.SETTINGS["quick"])
    positions, values = CandidateArchive(archive).load()
    mode_positions, mode_values = CandidateArchive(archive / "mode").load()
    picks = [0, rows_at_kill - 1, positions.shape[0] - 1]
    chosen = np.vstack([positions[picks], mode_positions[:1]])
    archived = np.concatenate([values[picks], mode_values[:1]])
    local = np.array([posterior(z) for z in chosen])
    np.testing.assert_allclose(local, archived, rtol=1e-12, atol=0)


def test_cached_ge_jacobian_equals_sequence_jacobians_own_solution():
    # The reference: sequence-jacobian's own example, solved without any cached Jacobian.
    from sequence_jacobian.examples import hank

    from numpyro_semipar.models.hank import ge_jacobian

    _, ss, model, unknowns, targets, exogenous = hank.dag()
    horizon = 40
    for phi in (1.5, 2.0):  # dag's calibration, then a Taylor coefficient the cache reuses
        steady = ss.copy()
        steady["phi"] = phi
        reference = model.solve_jacobian(steady, unknowns, targets, exogenous, T=horizon)
        cached = ge_jacobian(0.5, phi, 0.1, horizon)
        for output in ("Y", "pi", "r", "C"):
            for shock in exogenous:
                np.testing.assert_allclose(
                    cached[output][shock], reference[output][shock], rtol=1e-7, atol=1e-10
                )
    # A monetary tightening lowers output and inflation on impact.
    assert reference["Y"]["rstar"][0, 0] < 0 and reference["pi"]["rstar"][0, 0] < 0
