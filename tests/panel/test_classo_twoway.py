"""C-Lasso with unit and time effects (``effects="twoway"``)."""

import numpy as np
import pytest
import statsmodels.api as sm

from numpyro_semipar.panel import CLasso

ALPHA = np.array([[0.4, 1.6], [1.6, 0.4]])


@pytest.fixture(scope="module")
def panel():
    # Time effects correlated with the regressors: ignoring them biases the slopes.
    rng = np.random.default_rng(3)
    n, t = 60, 20
    groups = np.repeat([0, 1], n // 2)
    xi = rng.normal(scale=2.0, size=t)
    x = rng.normal(size=(n, t, 2)) + xi[None, :, None]
    mu = rng.normal(size=(n, 1))
    y = mu + xi[None, :] + np.einsum("itp,ip->it", x, ALPHA[groups]) + rng.normal(size=(n, t))
    return y, x, groups


@pytest.fixture(scope="module")
def fitted(panel):
    y, x, _ = panel
    return CLasso(2, c=0.5, effects="twoway", progress_bar=False).fit(y, x)


def test_post_lasso_equals_dummy_regression(panel, fitted):
    # Direct computation: OLS of y on unit dummies, time dummies (one dropped) and the
    # group-interacted regressors, unit-clustered covariance without small-sample factor.
    y, x, _ = panel
    res = fitted
    n, t, p = x.shape
    g = res.groups
    interacted = np.einsum("itp,ik->itkp", x, np.eye(2)[g]).reshape(n * t, 2 * p)
    unit = np.kron(np.eye(n), np.ones((t, 1)))
    time = np.kron(np.ones((n, 1)), np.eye(t))[:, 1:]
    design = np.hstack([interacted, unit, time])
    ols = sm.OLS(y.ravel(), design).fit(
        cov_type="cluster", cov_kwds={"groups": np.repeat(np.arange(n), t), "use_correction": False}
    )
    np.testing.assert_allclose(res.params["alpha"].ravel(), ols.params[: 2 * p], rtol=1e-9)
    np.testing.assert_allclose(res.cov, ols.cov_params()[: 2 * p, : 2 * p], rtol=1e-8)
    fitted_effects = res.fixed_effects[:, None] + res.time_effects[None, :]
    np.testing.assert_allclose(
        fitted_effects.ravel(), ols.fittedvalues - interacted @ ols.params[: 2 * p], atol=1e-9
    )
    assert abs(res.time_effects.mean()) < 1e-12
    np.testing.assert_allclose(res.residuals.ravel(), ols.resid, atol=1e-9)


def test_time_effects_are_needed(panel, fitted):
    y, x, groups = panel
    assert np.mean(fitted.groups == groups) >= 0.95
    assert np.all(np.abs(fitted.params["alpha"] - ALPHA) < 4 * fitted.group_std_errors)
    unit_only = CLasso(2, c=0.5, progress_bar=False).fit(y, x)
    assert np.abs(unit_only.params["alpha"] - ALPHA).max() > 0.2
    with pytest.raises(ValueError, match="effects"):
        CLasso(2, effects="time")


def test_predict_groups_removes_the_time_effects(panel, fitted):
    y, x, groups = panel
    # Direct computation: residual sum of squares of y_i - ξ̂ - x_i α_k about its mean.
    ssr = np.empty((y.shape[0], 2))
    for i in range(y.shape[0]):
        for k in range(2):
            r = y[i] - fitted.time_effects - x[i] @ fitted.params["alpha"][k]
            ssr[i, k] = np.sum((r - r.mean()) ** 2)
    predicted = fitted.predict_groups(y, x)
    np.testing.assert_array_equal(predicted, np.argmin(ssr, axis=1))
    assert np.mean(predicted == groups) >= 0.95
    with pytest.raises(ValueError, match="periods"):
        fitted.predict_groups(y[:, :10], x[:, :10])
