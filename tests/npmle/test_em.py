"""EM baseline: monotone progress to the mixSQP optimum, status reporting."""

import jax
import numpy as np
import pytest

from numpyro_semipar import ConvergenceWarning
from numpyro_semipar.npmle import SolverStatus, em, mixsqp

from .conftest import gaussian_location_problem, kkt_check, load_reference


def test_em_converges_to_the_mixsqp_optimum_on_an_easy_problem():
    ll = gaussian_location_problem(np.random.default_rng(1), 60, 12)
    res = em(ll, tol=1e-5, max_steps=20000)
    assert bool(res.converged) and int(res.status) == SolverStatus.CONVERGED
    _, d = kkt_check(ll, None, np.asarray(res.mixing_weights))
    assert abs(float(res.kkt_residual) - (d.max() - 1)) < 1e-12
    assert 0 <= float(res.kkt_residual) <= 1e-5
    best = mixsqp(ll)
    gap = float(best.loglik - res.loglik)
    # EM is below the optimum, by at most n log(max_j d_j) (the duality bound).
    assert 0.0 <= gap <= 60 * np.log1p(float(res.kkt_residual)) + 1e-9


def test_em_is_far_less_accurate_than_mixsqp_on_a_reference_problem():
    log_lik, weights, optimum = load_reference("ashr_binom_example")
    with pytest.warns(ConvergenceWarning, match="em did not converge"):
        res = em(log_lik, weights, max_steps=200, tol=1e-10)
    assert int(res.num_iter) == 200 and int(res.status) == SolverStatus.MAX_ITER
    objective = -float(res.loglik) / log_lik.shape[0]
    assert objective > optimum  # a minimisation objective: EM has not reached it
    assert 1e-6 < objective - optimum < 1e-2  # mixsqp gets within 1e-10 relative
    assert np.all(np.asarray(res.mixing_weights) > 0)  # EM never zeroes a weight
    # The dual gap bounds the distance to the optimum.
    assert objective - optimum <= np.log1p(float(res.kkt_residual))


def test_em_respects_zero_initial_weights_and_weights_gradient():
    ll = gaussian_location_problem(np.random.default_rng(2), 60, 12)
    init = np.ones(12)
    init[:3] = 0.0
    res = em(ll, init_weights=init, max_steps=50, warn=False)
    assert np.all(np.asarray(res.mixing_weights)[:3] == 0)
    g = jax.grad(lambda x: em(x, max_steps=50, warn=False).loglik)(ll)
    np.testing.assert_allclose(np.asarray(g).sum(axis=1), 1.0, rtol=1e-12)


def test_em_bad_input_is_rejected():
    ll = gaussian_location_problem(np.random.default_rng(2), 20, 5)
    ll[6] = -np.inf
    with pytest.raises(ValueError, match="row 6 of log_lik"):
        em(ll)


def test_em_invalid_values_under_jit_give_status():
    ll = gaussian_location_problem(np.random.default_rng(2), 20, 5)
    ll[3, 1] = np.nan
    res = jax.jit(lambda x: em(x, max_steps=5, warn=False))(ll)
    assert int(res.status) == SolverStatus.INVALID_INPUT
    assert np.all(np.isnan(res.mixing_weights)) and np.isnan(float(res.loglik))
