"""Subpackages load lazily: importing one does not pull in the heavy optional stack.

Each check runs in a fresh interpreter (the test process has already imported everything), and
inspects ``sys.modules``, which is robust where timings are not; the timings themselves are in
``benchmarks/bench_imports.py``.
"""

import json
import pathlib
import subprocess
import sys

import pytest

HEAVY = ("xarray", "pandas", "arviz", "flax", "optax", "matplotlib", "dask", "sklearn")
# Run from the repository root so that the checkout under test is the one imported.
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SUBPACKAGES = (
    "numpyro_semipar",
    "numpyro_semipar.frequentist",
    "numpyro_semipar.mcmc",
    "numpyro_semipar.mcmc.blackjax",
    "numpyro_semipar.npmle",
    "numpyro_semipar.distributions",
    "numpyro_semipar.moments",
    "numpyro_semipar.panel",
    "numpyro_semipar.reporting",
    "numpyro_semipar.models",
)


def _loaded_after(statement: str, modules=HEAVY) -> list:
    code = (
        "import json, sys\n"
        f"{statement}\n"
        f"print(json.dumps(sorted(m for m in {tuple(modules)!r} if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_subpackages_loads_no_heavy_dependency():
    statement = "\n".join(f"import {name}" for name in SUBPACKAGES)
    assert _loaded_after(statement) == []


@pytest.mark.parametrize(
    ("statement", "allowed"),
    [
        # The kernels need BlackJAX (which brings optax), but not the surrogate's flax.
        ("from numpyro_semipar.mcmc import RandomWalkMH, MultiProposalMH", {"optax"}),
        ("from numpyro_semipar.npmle import mixsqp, profile_loglik", set()),
        ("from numpyro_semipar.distributions import ProfiledMixture", set()),
    ],
)
def test_importing_one_name_loads_only_what_it_needs(statement, allowed):
    assert set(_loaded_after(statement)) <= allowed


def test_a_profile_mle_fit_and_summary_load_neither_scipy_stats_nor_optimistix():
    # The spmlex README estimation as a user's script: scipy.stats (0.5-1 s to import) and
    # optimistix (0.3-0.5 s) are needed by other estimators only (bench_readme_process.py).
    statement = (
        "import numpy as np, jax.numpy as jnp\n"
        "from numpyro_semipar.frequentist import ProfileMLE\n"
        "from numpyro_semipar.models import LinearFactor\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.choice([-3.0, 0.0, 5.0], size=300)\n"
        "y = x[:, None] * np.array([1.0, 1.5, 0.3]) + rng.normal(size=(300, 3))\n"
        "start = LinearFactor(jnp.ones(2), jnp.zeros(3))\n"
        "print(ProfileMLE(np.linspace(-6, 6, 25), progress_bar=False).fit(start, y).summary())"
    )
    assert _loaded_after(statement, ("scipy.stats", "optimistix")) == []


def test_lazy_namespaces_are_complete():
    # Every name in __all__ resolves, is listed by dir(), and `from ... import` works.
    code = (
        "import importlib\n"
        f"for name in {SUBPACKAGES!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    missing = set(module.__all__) - set(dir(module))\n"
        "    assert not missing, (name, missing)\n"
        "    for attr in module.__all__:\n"
        "        getattr(module, attr)\n"
        "from numpyro_semipar.frequentist import SMM, SuJu\n"
        "from numpyro_semipar.mcmc.blackjax import random_walk\n"
        "assert callable(random_walk.init) and SMM.__name__ == 'SMM' and SuJu.__name__ == 'SuJu'\n"
        "print('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert out.stdout.strip().endswith("ok")


def test_unknown_attribute_raises_attribute_error():
    import numpyro_semipar.frequentist as frequentist

    with pytest.raises(AttributeError, match="no attribute 'NotAnEstimator'"):
        frequentist.NotAnEstimator  # noqa: B018
