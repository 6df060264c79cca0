"""SMM on smooth problems: optimality, Jacobians, weighting, callbacks, bounds, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_semipar.frequentist import SMM
from numpyro_semipar.moments import CallbackSimulator, common_random_numbers

N, S = 400, 20
TRUE = {"mu": 1.0, "sigma": 2.0}


def simulate(params, z):
    return params["mu"] + params["sigma"] * z


def moments3(x):
    c = x - x.mean()
    return jnp.stack([x.mean(), jnp.mean(x**2), jnp.mean(jnp.abs(c))])


@pytest.fixture(scope="module")
def problem():
    key_data, key_draws = jax.random.split(jax.random.key(3))
    data = np.asarray(simulate(TRUE, jax.random.normal(key_data, (N,))))
    draws = common_random_numbers(key_draws, S, (N,), distribution="normal")
    return data, draws


@pytest.fixture(scope="module")
def smm3(problem):
    return SMM(simulate, moments3, problem[1], progress_bar=False)


def test_identity_fit_satisfies_first_order_conditions(smm3, problem):
    data, _ = problem
    result = smm3.fit(data, {"mu": 0.0, "sigma": 1.0}, bounds={"sigma": (0.0, None)})
    assert result.converged
    g, jac = result.moment_errors, result.jacobian
    # Gradient of gᵀg is 2Gᵀg = 0 at an interior optimum.
    np.testing.assert_allclose(jac.T @ g, 0.0, atol=1e-9)
    assert abs(result.params["mu"] - 1.0) < 0.4 and abs(result.params["sigma"] - 2.0) < 0.4
    assert result.objective == pytest.approx(float(g @ g), rel=1e-10)


def test_autodiff_jacobian_matches_finite_differences(smm3, problem):
    data, _ = problem
    params = {"mu": 0.7, "sigma": 1.6}
    jac = smm3.jacobian(params, data=data)
    h = 1e-6
    for k, name in enumerate(params):
        up, down = dict(params), dict(params)
        up[name] += h
        down[name] -= h
        fd = (smm3.moment_errors(up, data=data) - smm3.moment_errors(down, data=data)) / (2 * h)
        np.testing.assert_allclose(jac[:, k], fd, rtol=1e-6, atol=1e-8)


def test_two_step_and_iterated_give_j_test_and_optimal_covariance(smm3, problem):
    data, _ = problem
    two = smm3.fit(data, {"mu": 0.0, "sigma": 1.0}, weighting="two-step")
    it = smm3.fit(data, {"mu": 0.0, "sigma": 1.0}, weighting="iterated")
    for res in (two, it):
        assert res.converged and res.j_test is not None and res.j_test.dof == 1
        assert res.cov_type.startswith("optimal")
        factor = 1 + 1 / S
        g, sigma = res.moment_errors, res.moment_cov
        expected = float(g @ np.linalg.solve(factor * sigma, g))
        assert res.j_test.statistic == pytest.approx(expected, rel=1e-10)
        # optimal form = (1 + 1/S)(GᵀΣ⁻¹G)⁻¹
        jac = res.jacobian
        np.testing.assert_allclose(
            res.cov, factor * np.linalg.inv(jac.T @ np.linalg.solve(sigma, jac)), rtol=1e-10
        )
    # the iterated weight is the inverse moment covariance at the previous iterate: it converged
    assert len(it.stages) >= 3
    np.testing.assert_allclose(it.stages[-1]["params"], it.stages[-2]["params"], atol=1e-6)


def test_sandwich_formula(smm3, problem):
    data, _ = problem
    w = np.diag([1.0, 0.2, 3.0])
    res = smm3.fit(data, {"mu": 0.5, "sigma": 1.5}, weighting=w)
    jac, sigma = res.jacobian, res.moment_cov
    bread = np.linalg.inv(jac.T @ w @ jac)
    expected = bread @ jac.T @ w @ ((1 + 1 / S) * sigma) @ w @ jac @ bread
    np.testing.assert_allclose(res.cov, expected, rtol=1e-10)
    np.testing.assert_allclose(jac.T @ w @ res.moment_errors, 0.0, atol=1e-9)


def test_bootstrap_and_influence_omega(smm3, problem):
    data, _ = problem

    def influence(x):
        c = x - x.mean()
        return np.stack([x, x**2, np.abs(c)], axis=1)

    res_i = smm3.fit(data, {"mu": 0.0, "sigma": 1.0}, weighting="optimal", omega=influence)
    res_b = smm3.fit(
        data,
        {"mu": 0.0, "sigma": 1.0},
        weighting="optimal",
        omega="bootstrap",
        rng_key=jax.random.key(1),
        num_bootstrap=300,
    )
    # Both estimate the same Σ: SEs agree to bootstrap accuracy.
    np.testing.assert_allclose(res_b.flat_std_errors, res_i.flat_std_errors, rtol=0.25)
    assert res_i.converged and res_b.converged


def test_multistart_and_diagonal(smm3, problem):
    data, _ = problem
    starts = [{"mu": 0.0, "sigma": 1.0}, {"mu": 3.0, "sigma": 4.0}]
    res = smm3.fit(data, starts, weighting="diagonal")
    assert len(res.starts) == 3  # the first-step estimate plus both starts
    assert res.objective == pytest.approx(res.starts["criterion"].min())


def test_callback_simulator_matches_jax(problem):
    data, draws = problem

    def simulate_np(params, z):
        return params["mu"] + params["sigma"] * z

    jax_res = SMM(simulate, moments3, draws).fit(data, {"mu": 0.0, "sigma": 1.0})
    for optimizer in ("nelder-mead", "l-bfgs-b"):
        cb = SMM(
            CallbackSimulator(simulate_np, (N,), vectorized=True),
            moments3,
            draws,
            optimizer=optimizer,
        )
        res = cb.fit(data, {"mu": 0.0, "sigma": 1.0})
        np.testing.assert_allclose(res.flat_params, jax_res.flat_params, rtol=1e-4)
        np.testing.assert_allclose(res.flat_std_errors, jax_res.flat_std_errors, rtol=1e-3)


def test_callback_flat_criterion_warns_and_enlarges(problem):
    data, draws = problem

    def coarse(params, z):  # the location moves in steps of 0.01: flat at small steps
        return np.round(params["mu"], 2) + params["sigma"] * z

    cb = SMM(CallbackSimulator(coarse, (N,)), moments3, draws[:5])
    from numpyro_semipar.moments import FlatCriterionWarning

    with pytest.warns(FlatCriterionWarning, match="mu"):
        jac = cb.jacobian({"mu": 1.0, "sigma": 2.0}, data=data)
    assert np.all(np.isfinite(jac)) and np.any(jac[:, 0] != 0)


def test_unequal_simulated_sample_size_factor(problem):
    data, _ = problem
    draws = common_random_numbers(jax.random.key(9), S, (2 * N,), distribution="normal")
    res = SMM(simulate, moments3, draws).fit(data, {"mu": 0.0, "sigma": 1.0})
    assert res.simulation_factor == pytest.approx(1 + 0.5 / S)


def test_bad_input(smm3, problem):
    data, _ = problem
    with pytest.raises(ValueError, match="weighting"):
        smm3.fit(data, TRUE, weighting="best")
    with pytest.raises(ValueError, match="sigma"):
        smm3.fit(data, {"mu": 0.0, "sigma": -1.0}, bounds={"sigma": (0.0, None)})
    with pytest.raises(ValueError, match="bounds has unknown parameter 'tau'"):
        smm3.fit(data, TRUE, bounds={"tau": (0, 1)})
    with pytest.raises(ValueError, match="cannot identify"):
        SMM(simulate, lambda x: x.mean()[None], problem[1]).fit(data, TRUE)
    with pytest.raises(ValueError, match="zero"):
        SMM(simulate, lambda x: jnp.zeros(2), problem[1], error="percent").fit(data, TRUE)
    with pytest.raises(ValueError, match="pass data"):
        SMM(simulate, moments3, problem[1]).criterion(TRUE)
    with pytest.raises(ValueError, match="leading S axis"):
        SMM(simulate, moments3, [np.zeros(3), np.zeros(4)])


def test_callback_exactly_identified_root_matches_jax(problem):
    data, draws = problem

    def mean_var(x):
        return jnp.stack([x.mean(), x.var()])

    def simulate_np(params, z):
        return params["mu"] + params["sigma"] * z

    start = {"mu": 0.0, "sigma": 1.0}
    jax_res = SMM(simulate, mean_var, draws).fit(data, start, bounds={"sigma": (0.0, None)})
    cb = SMM(CallbackSimulator(simulate_np, (N,), vectorized=True), mean_var, draws)
    res = cb.fit(data, start, bounds={"sigma": (0.0, None)})
    assert res.exactly_identified and res.converged
    np.testing.assert_allclose(res.flat_params, jax_res.flat_params, rtol=1e-8)
    np.testing.assert_allclose(res.moment_errors, 0.0, atol=1e-9)
    np.testing.assert_allclose(res.flat_std_errors, jax_res.flat_std_errors, rtol=1e-4)
