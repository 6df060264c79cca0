"""EstimationResult's statsmodels names, checked against statsmodels on the same data."""

import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import pytest
import statsmodels.api as sm

from numpyro_semipar.frequentist import MaximumLikelihood
from numpyro_semipar.reporting import EstimationResult

RNG = np.random.default_rng(1818)
N = 400
X = np.column_stack([np.ones(N), RNG.normal(size=N), RNG.uniform(-1, 1, size=N)])
BETA = np.array([0.3, -0.8, 1.2])
Y_BINARY = (RNG.uniform(size=N) < 1 / (1 + np.exp(-X @ BETA))).astype(np.float64)
Y_LINEAR = X @ BETA + 0.7 * RNG.normal(size=N)


def logit_model(x, y=None):
    beta = numpyro.sample("beta", dist.Normal(0, 10).expand([x.shape[1]]))
    numpyro.sample("y", dist.Bernoulli(logits=x @ beta), obs=y)


def linear_model(x, y=None):
    beta = numpyro.sample("beta", dist.Normal(0, 10).expand([x.shape[1]]))
    sigma = numpyro.sample("sigma", dist.HalfNormal(5))
    numpyro.sample("y", dist.Normal(x @ beta, sigma), obs=y)


@pytest.fixture(scope="module")
def logit():
    ours = MaximumLikelihood(logit_model).fit(X, Y_BINARY)
    theirs = sm.Logit(Y_BINARY, X).fit(disp=0, tol=1e-12, maxiter=100)
    return ours, theirs


def test_logit_matches_statsmodels(logit):
    ours, theirs = logit
    names = ["beta[0]", "beta[1]", "beta[2]"]
    assert ours.param_names == names
    np.testing.assert_allclose(ours.flat_params, theirs.params, rtol=1e-7)
    for attr in ["bse", "tvalues", "pvalues"]:
        value = getattr(ours, attr)
        assert isinstance(value, pd.Series) and list(value.index) == names
        np.testing.assert_allclose(value.to_numpy(), getattr(theirs, attr), rtol=1e-6)
    cov = ours.cov_params()
    assert list(cov.index) == names and list(cov.columns) == names
    np.testing.assert_allclose(cov.to_numpy(), theirs.cov_params(), rtol=1e-6)
    assert ours.llf == pytest.approx(theirs.llf, rel=1e-10)
    assert ours.nobs == theirs.nobs == N
    assert ours.aic == pytest.approx(theirs.aic, rel=1e-10)
    assert ours.bic == pytest.approx(theirs.bic, rel=1e-10)
    for alpha in [0.05, 0.1]:
        ci = ours.conf_int(alpha=alpha)
        np.testing.assert_allclose(ci.to_numpy(), theirs.conf_int(alpha=alpha), rtol=1e-6)
    assert list(ours.conf_int(alpha=0.1).columns) == ["5%", "95%"]


def test_conf_int_spellings(logit):
    ours, _ = logit
    expected = ours.conf_int(alpha=0.05)
    pd.testing.assert_frame_equal(ours.conf_int(), expected)
    pd.testing.assert_frame_equal(ours.conf_int(level=0.95), expected)
    with pytest.warns(DeprecationWarning, match="alpha=0.05"):
        old = ours.conf_int(0.95)  # the earlier positional coverage
    pd.testing.assert_frame_equal(old, expected)
    with pytest.raises(ValueError, match="level must lie"):
        ours.conf_int(level=1.5)


def test_linear_model_against_ols():
    ours = MaximumLikelihood(linear_model).fit(X, Y_LINEAR)
    ols = sm.OLS(Y_LINEAR, X).fit()
    np.testing.assert_allclose(ours.flat_params[:3], ols.params, rtol=1e-7)
    # statsmodels' OLS llf is the Gaussian log-likelihood at the MLE of sigma.
    assert ours.llf == pytest.approx(ols.llf, rel=1e-10)
    # Maximum likelihood scales (X'X)^-1 by SSR/n, OLS by SSR/(n - k).
    k = X.shape[1]
    np.testing.assert_allclose(ours.bse.to_numpy()[:3], ols.bse * np.sqrt((N - k) / N), rtol=1e-6)
    # statsmodels' OLS counts k regressors in AIC/BIC; the ML fit also estimates sigma.
    assert ours.num_params == k + 1
    assert ours.aic == pytest.approx(ols.aic + 2.0, rel=1e-10)
    assert ours.bic == pytest.approx(ols.bic + np.log(N), rel=1e-10)


def test_without_likelihood_or_covariance():
    res = EstimationResult(params={"a": np.array([1.0, 2.0])}, cov=None, estimator="SMM")
    assert np.isnan(res.llf) and np.isnan(res.aic) and np.isnan(res.bic)
    assert res.bse.isna().all() and res.pvalues.isna().all()
    assert res.cov_params().shape == (2, 2) and res.cov_params().isna().all().all()
