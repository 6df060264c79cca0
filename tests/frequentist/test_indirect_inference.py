"""Indirect inference: MA(1) through AR(p) auxiliary models (binding function θ/(1+θ²))."""

import jax
import numpy as np
import pytest
from scipy import stats

from numpyro_semipar.frequentist import IndirectInference
from numpyro_semipar.moments import ar_coefficients, common_random_numbers


def simulate(params, eps):
    return eps[1:] + params["theta"] * eps[:-1]


def ar1(y):
    return ar_coefficients(y, 1)


def inverse_binding(beta):
    return (1.0 - np.sqrt(1.0 - 4.0 * beta**2)) / (2.0 * beta)


def avar(theta, num_sims):
    num = 1 + theta**2 + 4 * theta**4 + theta**6 + theta**8
    return (1 + 1 / num_sims) * num / (1 - theta**2) ** 2


BOUNDS = {"theta": (-0.99, 0.99)}


def test_long_sample_matches_binding_function_inversion():
    t, s, theta = 20_000, 10, 0.5
    k_data, k_draws = jax.random.split(jax.random.key(11))
    y = simulate({"theta": theta}, jax.random.normal(k_data, (t + 1,)))
    draws = common_random_numbers(k_draws, s, (t + 1,), distribution="normal")
    ii = IndirectInference(simulate, ar1, draws, auxiliary_names=["phi1"])
    # Σ from 200 extra simulated series: the 10 estimation draws alone give a noisy Σ̂
    extra = common_random_numbers(jax.random.key(12), 200, (t + 1,), distribution="normal")
    res = ii.fit(y, {"theta": 0.2}, bounds=BOUNDS, covariance_draws=extra)
    assert res.converged and res.exactly_identified
    beta_hat = float(ar1(y)[0])
    assert float(res.params["theta"]) == pytest.approx(inverse_binding(beta_hat), abs=0.01)
    # The simulated binding function is b(θ) = θ/(1+θ²) up to simulation noise.
    b = ii.binding_function({"theta": 0.3})
    assert b[0] == pytest.approx(0.3 / 1.09, abs=4 / np.sqrt(s * t))
    # The reported SE is the analytic (1 + 1/S) avar.
    se = float(res.flat_std_errors[0])
    assert se == pytest.approx(np.sqrt(avar(theta, s) / t), rel=0.05)


def test_ar3_auxiliary_is_over_identified_with_j_test():
    t, s = 2_000, 10
    k_data, k_draws = jax.random.split(jax.random.key(5))
    y = simulate({"theta": 0.5}, jax.random.normal(k_data, (t + 1,)))
    draws = common_random_numbers(k_draws, s, (t + 1,), distribution="normal")
    ii = IndirectInference(simulate, lambda z: ar_coefficients(z, 3), draws)
    res = ii.fit(y, {"theta": 0.2}, weighting="optimal", bounds=BOUNDS)
    assert res.converged and res.j_test.dof == 2
    assert 0.0 <= res.j_test.pvalue <= 1.0
    jac = res.jacobian
    # first-order condition with the weight used in the final step
    np.testing.assert_allclose(jac.T @ res.weight @ res.moment_errors, 0.0, atol=1e-8)
    # AR(3) is more efficient than AR(1) (closer to the MLE bound 1 - θ²)
    se_ar1 = np.sqrt(avar(0.5, s) / t)
    assert res.flat_std_errors[0] < se_ar1


@pytest.mark.slow
def test_monte_carlo_standard_errors_and_coverage():
    t, s, theta, reps = 400, 10, 0.5, 400
    key = jax.random.key(2024)
    keys = jax.random.split(key, 2 * reps)
    base = IndirectInference(
        simulate, ar1, common_random_numbers(keys[0], s, (t + 1,), distribution="normal")
    )
    estimates, ses = [], []
    for r in range(reps):
        y = simulate({"theta": theta}, jax.random.normal(keys[2 * r], (t + 1,)))
        draws = common_random_numbers(
            jax.random.fold_in(keys[2 * r + 1], 1), s, (t + 1,), distribution="normal"
        )
        extra = common_random_numbers(keys[2 * r + 1], 100, (t + 1,), distribution="normal")
        res = base.with_draws(draws[:s]).fit(
            y, {"theta": 0.3}, bounds=BOUNDS, covariance_draws=extra
        )
        estimates.append(float(res.params["theta"]))
        ses.append(float(res.flat_std_errors[0]))
    estimates, ses = np.array(estimates), np.array(ses)
    sd = estimates.std(ddof=1)
    assert np.median(ses) == pytest.approx(sd, rel=0.10)
    z = stats.norm.ppf(0.975)
    coverage = np.mean(np.abs(estimates - theta) <= z * ses)
    assert 0.92 <= coverage <= 0.98
