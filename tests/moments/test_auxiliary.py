"""Auxiliary estimators agree with statsmodels and are differentiable."""

import jax
import numpy as np
import pytest
import statsmodels.api as sm

from numpyro_semipar.moments import CallbackSimulator, ar_coefficients, logit, ols, probit


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(400), rng.normal(size=400), rng.uniform(-1, 1, size=400)])
    latent = x @ np.array([0.3, 1.0, -0.8])
    return x, latent, rng


def test_ols(xy):
    x, latent, rng = xy
    y = latent + rng.normal(size=400)
    np.testing.assert_allclose(ols(y, x), sm.OLS(y, x).fit().params, rtol=1e-10)


def test_ar_coefficients_match_statsmodels():
    rng = np.random.default_rng(1)
    e = rng.normal(size=600)
    y = np.zeros(600)
    for t in range(2, 600):
        y[t] = 0.5 * y[t - 1] - 0.2 * y[t - 2] + e[t]
    lags = np.column_stack([np.ones(597), y[2:-1], y[1:-2], y[:-3]])
    ref = sm.OLS(y[3:], lags).fit()
    coef = ar_coefficients(y, 3, intercept=True, variance=True)
    np.testing.assert_allclose(coef[:4], ref.params, rtol=1e-10)
    np.testing.assert_allclose(coef[4], np.mean(ref.resid**2), rtol=1e-10)
    with pytest.raises(ValueError, match="order"):
        ar_coefficients(y, 0)


@pytest.mark.parametrize(("estimator", "family"), [(logit, "logit"), (probit, "probit")])
def test_binary_auxiliaries_match_statsmodels(xy, estimator, family):
    x, latent, rng = xy
    y = latent + (rng.logistic(size=400) if family == "logit" else rng.normal(size=400)) > 0
    y = y.astype(float)
    ref = (sm.Logit if family == "logit" else sm.Probit)(y, x).fit(disp=0, tol=1e-12)
    np.testing.assert_allclose(estimator(y, x), ref.params, rtol=1e-7)
    # differentiable in (smoothed) outcomes, as generalized indirect inference needs
    grad = jax.grad(lambda s: estimator(y * s + 0.5 * (1 - s), x)[1])(0.9)
    assert np.isfinite(float(grad))


def test_callback_simulator_single_and_vectorised():
    def fn(params, u):
        return params["a"] + u

    cb = CallbackSimulator(fn, (3,))
    draws = np.arange(6.0).reshape(2, 3)
    out = jax.jit(lambda p: cb.simulate_all(p, draws))({"a": 1.0})
    np.testing.assert_allclose(out, draws + 1.0)
    np.testing.assert_allclose(jax.vmap(lambda d: cb({"a": 2.0}, d))(draws), draws + 2.0)
    bad = CallbackSimulator(lambda p, u: np.zeros(2), (3,))
    with pytest.raises(Exception, match="expected"):
        np.asarray(bad.simulate_all({"a": 1.0}, draws))
