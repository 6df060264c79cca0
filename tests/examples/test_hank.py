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


def test_cheap_only_is_the_full_posterior_without_the_fixed_parameters_terms():
    # --cheap-only fixes eis, phi and kappa at HANK_START: its log posterior must be the full
    # one at the completed vector minus those three parameters' log prior and log-Jacobian
    # (log dθ/dz = z for θ = exp z and for φ = 1 + exp z), and nothing else.
    from numpyro_semipar.models.hank import HANK_PARAM_NAMES, hank_priors

    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        import hank as example
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    settings = example.SETTINGS["quick"]
    cheap, _ = example.make_posterior(settings, cheap_only=True)
    full, _ = example.make_posterior(settings)
    fixed = ("eis", "phi", "kappa")
    assert cheap.names == [n for n in HANK_PARAM_NAMES if n not in fixed]
    z = cheap.start() + np.linspace(-0.2, 0.2, cheap.dimension)
    completed = cheap.full_vector(z)
    priors = hank_priors()
    fixed_terms = sum(
        priors[n].logpdf({"eis": 0.5, "phi": 0.5, "kappa": 0.1}[n])
        + completed[HANK_PARAM_NAMES.index(n)]
        for n in fixed
    )
    np.testing.assert_allclose(full(completed), cheap(z) + fixed_terms, rtol=1e-12)
    with pytest.raises(ValueError, match="exclusive"):
        example.make_posterior(settings, fix_household=True, cheap_only=True)
    with pytest.raises(SystemExit):  # argparse: the two options exclude each other
        example.parse_args(["--cheap-only", "--fix-household"])
