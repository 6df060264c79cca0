"""mixsqp reaches the published optima of the reference problems (shared/data/npmle)."""

import numpy as np
import pytest

from numpyro_semipar.npmle import SolverStatus, mixsqp

from .conftest import kkt_check, load_reference

SMALL = ["tacks", "flashr_example", "ashr_example", "smashr_example", "ashr_binom_example"]
LARGE = ["simdata_n20000_m20", "mashr_example"]


def _check(name, engine):
    log_lik, weights, optimum = load_reference(name)
    res = mixsqp(log_lik, weights, engine=engine)
    a = np.ones(log_lik.shape[0]) if weights is None else weights
    objective = -float(res.loglik) / a.sum()
    assert abs(objective - optimum) <= 1e-10 * abs(optimum)
    assert bool(res.converged) and int(res.status) == SolverStatus.CONVERGED
    assert float(res.kkt_residual) <= 1e-8
    p = np.asarray(res.mixing_weights)
    assert np.all(p >= 0) and abs(p.sum() - 1) < 1e-12
    # The reported residual agrees with an independent numpy computation.
    residual, _ = kkt_check(log_lik, weights, p)
    assert residual <= 1e-8
    assert abs(residual - float(res.kkt_residual)) < 1e-10
    return res


# Both engines: the compiled solver and the NumPy one that engine="auto" picks for these.
ENGINES = pytest.mark.parametrize("engine", ["jax", "host"])


@ENGINES
@pytest.mark.parametrize("name", SMALL)
def test_reference_problem(name, engine):
    _check(name, engine)


@pytest.mark.slow
@ENGINES
@pytest.mark.parametrize("name", LARGE)
def test_reference_problem_large(name, engine):
    res = _check(name, engine)
    if name == "simdata_n20000_m20":
        # The paper's simulated data: the optimum puts its mass on 4 grid points.
        assert int(np.sum(np.asarray(res.mixing_weights) > 0)) == 4


def test_mashr_exact_zero_likelihoods_are_accepted():
    log_lik, _, _ = load_reference("mashr_example")
    assert np.isneginf(log_lik).sum() == 34  # the notes' 34 exact zeros reach the solver
