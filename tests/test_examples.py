"""Every example script runs with tiny settings (NumPyro's test_examples pattern)."""

import importlib.util
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).parents[1] / "examples"

# (script, tiny arguments). Add a row for each new example. examples/demo.py --quick and
# regression.py --num-obs 200 run in `make docs` (docs/conf.py draws their figures and fails
# the build if one fails) and hank.py in tests/examples/test_hank.py, so none is repeated here.
CASES = [
    (
        "linear_factor.py",
        ["--num-obs", "200", "--grid-size", "25", "--bayes-obs", "100", "--num-warmup", "10"]
        + ["--num-samples", "10", "--no-plots"],
    ),
    ("grouped_panel.py", ["--num-units", "40", "--num-periods", "12", "--no-plots"]),
    ("evans_smm.py", ["--num-warmup", "20", "--num-samples", "20", "--no-plots"]),
    ("ma1_indirect.py", ["--num-obs", "200", "--num-reps", "3", "--no-plots"]),
    ("dsge_nk.py", ["--quick", "--no-plots", "--no-results"]),
    ("dsge_custom.py", ["--quick"]),
]


def load(script):
    spec = importlib.util.spec_from_file_location(script.removesuffix(".py"), EXAMPLES / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("script", "argv"), CASES, ids=[c[0] for c in CASES])
def test_example_runs(script, argv, tmp_path):
    # Convention: every example accepts --out (where it writes plots and tables).
    load(script).main([*argv, "--out", str(tmp_path)])


def test_demo_help_prints_usage_and_sections():
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.startswith("usage: demo.py")
    for section in ("profile-mle", "smm", "panel", "mcmc", "--quick"):
        assert section in out.stdout
