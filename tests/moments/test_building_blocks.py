"""Building blocks: draws, errors, smoothing, weighting, covariance, Evans' formula."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_semipar.moments import (
    FlatCriterionError,
    bin_shares,
    bootstrap_moment_covariance,
    central_difference_jacobian,
    check_jacobian,
    collinear_moments,
    common_random_numbers,
    diagonal_weight,
    evans_std_errors,
    influence_moment_covariance,
    j_test,
    moment_errors,
    num_simulations,
    optimal_weight,
    simulated_moment_covariance,
    simulation_factor,
    smm_covariance,
    smooth_indicator,
)


def test_common_random_numbers_shape_dtype_and_reuse():
    u = common_random_numbers(jax.random.key(0), 7, (5,))
    assert u.shape == (7, 5) and u.dtype == jnp.float64
    assert np.all((u > 0) & (u < 1))
    np.testing.assert_array_equal(u, common_random_numbers(jax.random.key(0), 7, (5,)))
    z = common_random_numbers(jax.random.key(0), 3, 4, distribution="normal")
    assert z.shape == (3, 4)
    assert num_simulations({"a": u, "b": np.zeros((7, 2))}) == 7
    with pytest.raises(ValueError, match="leading S axis"):
        num_simulations({"a": u, "b": np.zeros((6, 2))})
    with pytest.raises(ValueError, match="non-finite value at index"):
        num_simulations(np.array([[0.1, np.nan]]))
    with pytest.raises(ValueError, match="distribution"):
        common_random_numbers(jax.random.key(0), 2, distribution="cauchy")


def test_moment_errors():
    m, d = jnp.array([2.0, 6.0]), jnp.array([1.0, 4.0])
    np.testing.assert_allclose(moment_errors(m, d), [1.0, 2.0])
    np.testing.assert_allclose(moment_errors(m, d, "percent"), [1.0, 0.5])
    with pytest.raises(ValueError, match="error must be"):
        moment_errors(m, d, "ratio")


def test_bin_shares_are_float64_and_match_counts():
    x = jnp.array([0.0, 100.0, 219.9, 220.0, 319.0, 425.0, 430.0, 450.0])
    shares = bin_shares(x, [0, 220, 320, 430, 450])
    assert shares.dtype == jnp.float64  # a boolean mean would be float32
    np.testing.assert_allclose(shares, np.array([3, 2, 1, 2]) / 8)


def test_smoothed_bins_sum_to_one_and_converge_to_hard_bins():
    x = jax.random.uniform(jax.random.key(1), (2000,), minval=0, maxval=450)
    edges = [-np.inf, 220.0, 320.0, 430.0, np.inf]
    hard = np.asarray(bin_shares(x, edges))
    for h, tol in [(2.0, 5e-3), (0.01, 1e-3)]:
        smooth = np.asarray(bin_shares(x, edges, bandwidth=h))
        assert smooth.sum() == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(smooth, hard, atol=tol)
    # the smooth share has a non-zero derivative in a location shift, the hard one has none
    grad = jax.grad(lambda a: bin_shares(x + a, edges, bandwidth=2.0)[0])(0.0)
    hard_grad = jax.grad(lambda a: bin_shares(x + a, edges)[0])(0.0)
    assert float(grad) < 0 and float(hard_grad) == 0.0
    assert float(smooth_indicator(0.0, 1.0, 1e-3)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="bandwidth"):
        smooth_indicator(x, 1.0, 0.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        bin_shares(x, [0, 2, 1])


def test_collinear_moments_and_optimal_weight():
    rng = np.random.default_rng(0)
    shares = rng.dirichlet(np.ones(4), size=500)  # rows sum to one: Ω is singular
    omega = np.cov(shares, rowvar=False)
    names = ["b1", "b2", "b3", "b4"]
    assert collinear_moments(omega, names) == [names]
    with pytest.raises(ValueError, match=r"collinear moments: \{b1, b2, b3, b4\}"):
        optimal_weight(omega, names)
    w = optimal_weight(omega[:3, :3])
    np.testing.assert_allclose(w @ omega[:3, :3], np.eye(3), atol=1e-10)
    np.testing.assert_allclose(diagonal_weight(omega), np.diag(1 / np.diag(omega)))
    with pytest.raises(ValueError, match="row 0, column 1"):
        optimal_weight(np.array([[1.0, np.nan], [0.0, 1.0]]))


def test_simulated_influence_and_bootstrap_covariances():
    rng = np.random.default_rng(1)
    e = rng.normal(size=(50, 3))
    np.testing.assert_allclose(simulated_moment_covariance(e), np.cov(e, rowvar=False))
    np.testing.assert_allclose(simulated_moment_covariance(e, centered=False), e.T @ e / 50)
    x = rng.normal(size=400)
    contrib = np.stack([x, x**2], axis=1)
    infl = influence_moment_covariance(contrib)
    np.testing.assert_allclose(infl, np.cov(contrib, rowvar=False, ddof=0) / 400)
    boot = bootstrap_moment_covariance(
        jax.random.key(0), x, lambda d: jnp.stack([d.mean(), jnp.mean(d**2)]), 2000
    )
    np.testing.assert_allclose(boot, infl, rtol=0.15, atol=2e-4)


def test_smm_covariance_forms_agree_at_the_optimal_weight():
    rng = np.random.default_rng(2)
    g = rng.normal(size=(4, 2))
    a = rng.normal(size=(4, 4))
    sigma = a @ a.T + np.eye(4)
    factor = simulation_factor(10)
    assert factor == pytest.approx(1.1)
    assert simulation_factor(10, 100, 200) == pytest.approx(1.05)
    sandwich = smm_covariance(g, np.linalg.inv(sigma), sigma, factor)
    optimal = smm_covariance(g, None, sigma, factor, optimal=True)
    np.testing.assert_allclose(sandwich, optimal, rtol=1e-10)
    np.testing.assert_allclose(optimal, 1.1 * np.linalg.inv(g.T @ np.linalg.solve(sigma, g)))
    test = j_test(np.array([0.1, -0.2, 0.05, 0.0]), sigma, factor, 2)
    assert test.dof == 2 and 0 < test.pvalue < 1
    assert j_test(np.zeros(2), sigma[:2, :2], factor, 2) is None


def test_evans_formula_and_flat_detection():
    def fun(x):
        return np.array([x[0] ** 2, x[0] * x[1], np.sin(x[1])])

    x = np.array([1.5, 0.7])
    jac = central_difference_jacobian(fun, x)
    exact = np.array([[3.0, 0.0], [0.7, 1.5], [0.0, np.cos(0.7)]])
    np.testing.assert_allclose(jac, exact, atol=1e-7)
    se = evans_std_errors(fun, x, np.eye(3), 100)
    np.testing.assert_allclose(
        se, np.sqrt(np.diag(np.linalg.inv(exact.T @ exact) / 100)), rtol=1e-6
    )
    with pytest.raises(FlatCriterionError, match="sigma"):
        check_jacobian(np.array([[1.0, 0.0], [2.0, 0.0]]), ["mu", "sigma"], ["m1", "m2"])
