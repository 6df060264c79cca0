import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
import statsmodels.api as sm

from numpyro_semipar import ConvergenceWarning, IdentificationWarning
from numpyro_semipar.frequentist import MaximumLikelihood, find_mode


def linear_model(x, y=None):
    beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([x.shape[1]]))
    sigma = numpyro.sample("sigma", dist.HalfNormal(5.0))
    with numpyro.plate("obs", x.shape[0]):
        numpyro.sample("y", dist.Normal(x @ beta, sigma), obs=y)


def poisson_model(x, y=None):
    beta = numpyro.sample("beta", dist.Normal(0.0, 5.0).expand([x.shape[1]]))
    numpyro.sample("y", dist.Poisson(jnp.exp(x @ beta)), obs=y)


@pytest.fixture(scope="module")
def regression_data():
    rng = np.random.default_rng(1)
    n = 400
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.uniform(-1, 1, size=n)])
    # heteroskedastic errors so that HC0 differs from the ML standard errors
    y = x @ np.array([1.0, -0.5, 2.0]) + (0.5 + np.abs(x[:, 2])) * rng.normal(size=n)
    return x, y


def test_linear_regression_matches_statsmodels(regression_data):
    x, y = regression_data
    result = MaximumLikelihood(linear_model).fit(x, y)
    ols = sm.OLS(y, x).fit()
    assert result.converged
    np.testing.assert_allclose(result.params["beta"], ols.params, rtol=0, atol=1e-6)
    n = len(y)
    sigma2_ml = ols.ssr / n
    np.testing.assert_allclose(result.params["sigma"] ** 2, sigma2_ml, rtol=1e-8)
    ml_se = np.sqrt(np.diag(sigma2_ml * np.linalg.inv(x.T @ x)))
    np.testing.assert_allclose(result.std_errors["beta"], ml_se, rtol=1e-4)
    # σ̂ has asymptotic variance σ²/(2n) under normality
    np.testing.assert_allclose(result.std_errors["sigma"], np.sqrt(sigma2_ml / (2 * n)), rtol=1e-4)
    assert result.nobs == n
    np.testing.assert_allclose(result.loglik, ols.llf, rtol=1e-10)


def test_sandwich_matches_hc0(regression_data):
    x, y = regression_data
    result = MaximumLikelihood(linear_model, cov_type="sandwich").fit(x, y)
    hc0 = sm.OLS(y, x).fit(cov_type="HC0")
    np.testing.assert_allclose(result.std_errors["beta"], hc0.bse, rtol=1e-4)
    assert result.cov_type == "sandwich"


def test_opg_is_close_to_hessian_under_correct_specification():
    rng = np.random.default_rng(2)
    n = 4000
    x = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = x @ np.array([0.3, 1.0]) + rng.normal(size=n)
    hess = MaximumLikelihood(linear_model).fit(x, y)
    opg = MaximumLikelihood(linear_model, cov_type="opg").fit(x, y)
    np.testing.assert_allclose(opg.std_errors["beta"], hess.std_errors["beta"], rtol=0.1)


def test_poisson_regression_matches_glm():
    rng = np.random.default_rng(3)
    n = 500
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.binomial(1, 0.4, size=n)])
    y = rng.poisson(np.exp(x @ np.array([0.5, 0.3, -0.7]))).astype(float)
    result = MaximumLikelihood(poisson_model).fit(x, y)
    glm = sm.GLM(y, x, family=sm.families.Poisson()).fit(tol=1e-12)
    np.testing.assert_allclose(result.params["beta"], glm.params, atol=1e-6)
    np.testing.assert_allclose(result.std_errors["beta"], glm.bse, rtol=1e-4)
    np.testing.assert_allclose(result.loglik, glm.llf, rtol=1e-10)


def test_map_option_finds_posterior_mode():
    # Normal mean with a Normal prior: the posterior mode is the precision-weighted mean.
    y = np.array([1.0, 2.0, 4.0])

    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    mle = MaximumLikelihood(model).fit(y)
    mode = MaximumLikelihood(model, map=True).fit(y)
    np.testing.assert_allclose(mle.params["mu"], y.mean(), atol=1e-8)
    np.testing.assert_allclose(mode.params["mu"], y.sum() / (len(y) + 1), atol=1e-8)


def test_no_observed_site_is_rejected():
    def model():
        numpyro.sample("mu", dist.Normal())

    with pytest.raises(ValueError, match="no observed site"):
        MaximumLikelihood(model).fit()


def test_nonfinite_start_is_rejected():
    def model(y):
        rate = numpyro.sample("rate", dist.Exponential(1.0))
        # the data must lie below `rate`: zero likelihood otherwise
        numpyro.factor("y", jnp.where(rate > y.max(), -len(y) * jnp.log(rate), -jnp.inf))

    with pytest.raises(ValueError, match="starting point"):
        MaximumLikelihood(model).fit(np.array([5.0, 6.0]), init_params={"rate": 1.0})


def test_singular_information_names_the_parameters():
    # Only a + b enters the likelihood: neither a nor b is identified.
    def model(y):
        a = numpyro.sample("a", dist.Normal())
        b = numpyro.sample("b", dist.Normal())
        c = numpyro.sample("c", dist.Normal())
        numpyro.sample("y", dist.Normal(a + b, 1.0), obs=y)
        numpyro.sample("z", dist.Normal(c, 1.0), obs=y)

    y = np.linspace(-1, 1, 20)
    with pytest.warns(IdentificationWarning, match=r"a, b"):
        result = MaximumLikelihood(model).fit(y)
    assert np.isnan(result.std_errors["a"]) and np.isnan(result.std_errors["b"])
    assert np.isfinite(result.std_errors["c"])


def test_failed_optimisation_is_reported(regression_data):
    x, y = regression_data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = MaximumLikelihood(linear_model, max_steps=2).fit(x, y)
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert not result.converged
    assert "Converged" in repr(result.summary()) and "NO" in repr(result.summary())


def test_bad_arguments():
    with pytest.raises(ValueError, match="cov_type"):
        MaximumLikelihood(linear_model, cov_type="robust")
    with pytest.raises(TypeError, match="model"):
        MaximumLikelihood("not a model")


def test_find_mode_on_pytree_gaussian():
    mean = {"a": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
    prec = jnp.diag(jnp.array([1.0, 4.0, 9.0]))

    def logdensity(p):
        v = jnp.concatenate([p["a"] - mean["a"], jnp.atleast_1d(p["b"] - mean["b"])])
        return -0.5 * v @ prec @ v

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = find_mode(logdensity, {"a": jnp.zeros(2), "b": jnp.array(0.0)})
    assert res.converged
    np.testing.assert_allclose(res.position["a"], mean["a"], atol=1e-8)
    np.testing.assert_allclose(res.covariance, np.linalg.inv(prec), atol=1e-8)


def _logistic_log_density():
    """A non-quadratic log density (logistic log-likelihood) and its starting point."""
    x = jax.random.normal(jax.random.key(1), (200, 3))
    y = (x @ jnp.array([0.5, -1.0, 0.25]) + jax.random.logistic(jax.random.key(2), (200,))) > 0

    def logdensity(p):
        eta = x @ p["beta"] + p["c"]
        return jnp.sum(jnp.where(y, eta, 0.0) - jnp.logaddexp(0.0, eta)) - 0.5 * p["c"] ** 2

    return logdensity, {"beta": jnp.zeros(3), "c": jnp.array(0.0)}


def test_find_mode_finite_difference_hessian_matches_exact():
    # Central differences of the gradient carry real truncation error on this log density.
    logdensity, init = _logistic_log_density()
    exact = find_mode(logdensity, init)
    finite = find_mode(logdensity, init, hessian="finite-difference")
    assert exact.converged and finite.converged
    scale = np.max(np.abs(exact.hessian))
    np.testing.assert_allclose(finite.hessian, exact.hessian, rtol=0, atol=1e-7 * scale)
    np.testing.assert_allclose(finite.hessian, finite.hessian.T)
    with pytest.raises(ValueError, match="hessian must be"):
        find_mode(logdensity, init, hessian="bfgs")


def test_find_mode_scipy_optimizer_matches_optimistix():
    # scipy's BFGS drives the jitted gradient from the host.
    logdensity, init = _logistic_log_density()
    reference = find_mode(logdensity, init)
    result = find_mode(logdensity, init, optimizer="scipy", rtol=1e-12, atol=1e-12)
    assert result.converged and result.message == "converged"
    assert result.gradient_norm < 1e-8
    np.testing.assert_allclose(result.position["beta"], reference.position["beta"], atol=1e-7)
    np.testing.assert_allclose(result.hessian, reference.hessian, rtol=1e-6)
    with pytest.raises(ValueError, match="optimizer must be"):
        find_mode(logdensity, init, optimizer="lbfgs")


def test_find_mode_scipy_backs_off_from_minus_infinity():
    # A Gamma(4, 1) log density on (0, ∞): the first BFGS step from near 0 overshoots into the
    # region where the log density is -inf; the line search must back off, not fail.
    def logdensity(p):
        x = p["x"]
        return jnp.where(jnp.all(x > 0), jnp.sum(3.0 * jnp.log(jnp.abs(x)) - x), -jnp.inf)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = find_mode(logdensity, {"x": jnp.array([0.05, 0.1])}, optimizer="scipy")
    assert result.converged
    np.testing.assert_allclose(result.position["x"], [3.0, 3.0], atol=1e-6)
    np.testing.assert_allclose(result.covariance, np.diag([3.0, 3.0]), rtol=1e-5)


def test_scipy_optimizer_gives_the_same_fit():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 2))
    y = x @ np.array([1.0, -0.5]) + 0.7 * rng.normal(size=300)

    def model(x, y=None):
        beta = numpyro.sample("beta", dist.Normal(0, 10).expand([2]))
        sigma = numpyro.sample("sigma", dist.HalfNormal(5))
        numpyro.sample("y", dist.Normal(x @ beta, sigma), obs=y)

    reference = MaximumLikelihood(model).fit(x, y)
    result = MaximumLikelihood(model, optimizer="scipy").fit(x, y)
    assert result.converged
    np.testing.assert_allclose(result.flat_params, reference.flat_params, atol=1e-6)
    np.testing.assert_allclose(result.flat_std_errors, reference.flat_std_errors, rtol=1e-5)
    with pytest.raises(ValueError, match="optimizer must be"):
        MaximumLikelihood(model, optimizer="newton")


def test_find_mode_without_curvature():
    logdensity, init = _logistic_log_density()
    reference = find_mode(logdensity, init)
    result = find_mode(logdensity, init, hessian=None)
    assert result.converged
    np.testing.assert_allclose(result.position["beta"], reference.position["beta"])
    assert np.all(np.isnan(result.hessian)) and np.all(np.isnan(result.covariance))


def test_plate_names_become_dimension_names_as_in_arviz():
    # ``beta`` drawn inside a plate: its dimension is the plate's name, as arviz.from_numpyro
    # names it; ``sigma`` (no plate) has no dimension.
    def plated(x, y=None):
        with numpyro.plate("regressor", x.shape[1]):
            beta = numpyro.sample("beta", dist.Normal(0.0, 10.0))
        sigma = numpyro.sample("sigma", dist.HalfNormal(5.0))
        with numpyro.plate("obs", x.shape[0]):
            numpyro.sample("y", dist.Normal(x @ beta, sigma), obs=y)

    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 2))
    y = x @ np.array([1.0, -1.0]) + rng.normal(size=50)
    result = MaximumLikelihood(plated, optimizer="scipy").fit(x, y)
    assert result.dims == {"beta": ("regressor",)}
    tree = result.to_arviz(jax.random.key(0), num_draws=5)
    assert tree.posterior["beta"].dims == ("chain", "draw", "regressor")
    assert tree.posterior["sigma"].dims == ("chain", "draw")
