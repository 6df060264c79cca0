"""C-Lasso on unbalanced panels (missing cells).

References not written here: the balanced estimator (with every cell observed the unbalanced
code path must give the same numbers), least squares on unit and period dummies over the
observed cells (numpy's lstsq and statsmodels' OLS with unit-clustered covariance), and Monte
Carlo coverage for a design with known groups and coefficients.
"""

import jax
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from numpyro_semipar._x64 import float64
from numpyro_semipar.panel import CLasso
from numpyro_semipar.panel._classo import resolve_candidates
from numpyro_semipar.panel._data import as_panel_data
from numpyro_semipar.panel._path import seed_from_key
from numpyro_semipar.panel._post_lasso import post_lasso
from numpyro_semipar.panel._unbalanced import observed_effects, observed_within

ALPHA = np.array([[0.4, 1.6], [1.6, 0.4]])


def _dgp(seed, n=60, t=20, missing=0.1, noise=1.0):
    """Two groups of slopes, unit effects, time effects correlated with x; MCAR cells."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([0, 1], n // 2)
    xi = rng.normal(size=t)
    x = rng.normal(size=(n, t, 2)) + xi[None, :, None]
    mu = rng.normal(size=(n, 1))
    y = mu + xi + np.einsum("itp,ip->it", x, ALPHA[groups]) + noise * rng.normal(size=(n, t))
    observed = rng.uniform(size=(n, t)) >= missing
    return np.where(observed, y, np.nan), x, observed, groups


def _dynamic_dgp(seed, n=60, t=20, missing=0.1):
    """SSP's dynamic design with two groups; y_{t-1} as the first regressor."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([0, 1], n // 2)
    rho, slope = np.array([0.3, 0.7])[groups], np.array([1.0, -1.0])[groups]
    mu = rng.normal(-1.0, 1.0, size=n)
    xs = 0.2 * mu[:, None] + rng.normal(size=(n, t + 1))
    ys = np.zeros((n, t + 1))
    ys[:, 0] = mu + rng.normal(size=n)
    for s in range(1, t + 1):
        ys[:, s] = mu * (1 - rho) + rho * ys[:, s - 1] + slope * xs[:, s] + rng.normal(size=n)
    ys = np.where(rng.uniform(size=ys.shape) >= missing, ys, np.nan)
    x = np.stack([ys[:, :-1], xs[:, 1:]], axis=-1)
    return ys[:, 1:], x


def _forced_unbalanced(estimator, y, x):
    # The unbalanced code path with every cell marked observed.
    panel = as_panel_data(y, x)._replace(observed=np.ones(y.shape, bool))
    ks, cs = resolve_candidates(estimator.num_groups, estimator.max_groups, estimator.c, len(y))
    with float64():
        # The k-means seed fit() derives from its default key: the same start.
        return estimator._fit(panel, ks, cs, seed_from_key(None))


@pytest.mark.parametrize(
    "options",
    [{"effects": "unit"}, {"effects": "twoway"}, {"dynamic": True}, {"num_groups": "ic"}],
)
def test_nothing_missing_equals_the_balanced_estimate(options):
    y, x, *_ = _dgp(0, missing=0.0)
    if options.get("dynamic"):
        y, x = _dynamic_dgp(0, missing=0.0)
    options = {"num_groups": 2, "c": 0.5, "progress_bar": False, **options}
    if options["num_groups"] == "ic":
        # Up to 3 groups: with more, the surplus groups split a true one arbitrarily, and which
        # units go where then depends on rounding at the 1e-16 level.
        options.update(c=[0.3, 1.0], max_groups=3)
    estimator = CLasso(options.pop("num_groups"), **options)
    balanced = estimator.fit(y, x)
    forced = _forced_unbalanced(estimator, y, x)
    np.testing.assert_array_equal(forced.groups, balanced.groups)
    np.testing.assert_allclose(forced.params["alpha"], balanced.params["alpha"], atol=1e-10)
    np.testing.assert_allclose(forced.cov, balanced.cov, atol=1e-10)
    np.testing.assert_allclose(forced.residuals, balanced.residuals, atol=1e-10)
    np.testing.assert_allclose(forced.fixed_effects, balanced.fixed_effects, atol=1e-10)
    np.testing.assert_allclose(forced.ic["ic"], balanced.ic["ic"], atol=1e-10)


@pytest.mark.parametrize("effects", ["unit", "twoway"])
def test_within_transform_is_the_dummy_projection_on_observed_cells(effects):
    _, x, observed, _ = _dgp(1, n=12, t=7, missing=0.25)
    units, periods = np.nonzero(observed)
    n, t = observed.shape
    dummies = np.eye(n)[units]
    if effects == "twoway":
        dummies = np.column_stack([dummies, np.eye(t)[periods]])  # rank N + T - 1
    target = x[units, periods]
    coef = np.linalg.lstsq(dummies, target, rcond=None)[0]
    ours = observed_within(x, observed, effects)
    np.testing.assert_allclose(ours[units, periods], target - dummies @ coef, atol=1e-12)
    assert np.all(ours[~observed] == 0.0)
    unit, time = observed_effects(x, observed, effects)
    fitted = unit[units] + (0.0 if time is None else time[periods])
    np.testing.assert_allclose(fitted, dummies @ coef, atol=1e-12)
    if time is not None:
        np.testing.assert_allclose(time.mean(axis=0), 0.0, atol=1e-13)


@pytest.mark.parametrize("effects", ["unit", "twoway"])
def test_post_lasso_is_dummy_ols_with_clustered_errors_on_observed_cells(effects):
    y, x, observed, groups = _dgp(2, missing=0.15)
    n, t, p = x.shape
    units, periods = np.nonzero(observed)
    interacted = np.einsum("np,nk->nkp", x[units, periods], np.eye(2)[groups[units]])
    dummies = [np.eye(n)[units]]
    if effects == "twoway":
        dummies.append(np.eye(t)[periods][:, 1:])
    design = np.column_stack([interacted.reshape(-1, 2 * p), *dummies])
    # statsmodels' cluster covariance without its small-sample factor G/(G-1)·(n-1)/(n-k):
    # the documented post-Lasso covariance has none.
    ols = sm.OLS(y[units, periods], design).fit(
        cov_type="cluster", cov_kwds={"groups": units, "use_correction": False}
    )
    coefs, resid, cov = post_lasso(y, x, groups, 2, effects, observed)
    np.testing.assert_allclose(coefs.ravel(), ols.params[: 2 * p], rtol=1e-10)
    np.testing.assert_allclose(cov, ols.cov_params()[: 2 * p, : 2 * p], rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(resid[units, periods], ols.resid, atol=1e-10)
    # The estimator reports the same numbers for these groups (well separated: recovered).
    res = CLasso(2, c=0.5, effects=effects, progress_bar=False).fit(y, x)
    np.testing.assert_array_equal(res.groups, groups)
    np.testing.assert_allclose(res.params["alpha"], coefs, rtol=1e-12)
    assert res.nobs == observed.sum()
    assert np.isnan(res.residuals[~observed]).all()
    np.testing.assert_allclose(res.residuals[observed], resid[observed], atol=1e-12)
    effects_fit = res.fixed_effects[units] + (
        0.0 if res.time_effects is None else res.time_effects[periods]
    )
    np.testing.assert_allclose(
        effects_fit, ols.fittedvalues - interacted.reshape(-1, 2 * p) @ ols.params[: 2 * p],
        atol=1e-9,
    )  # fmt: skip


def test_long_frame_with_absent_rows_equals_nan_cells():
    y, x, observed, _ = _dgp(3)
    n, t = y.shape
    frame = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), t),
            "year": np.tile(np.arange(t), n),
            "y": y.ravel(),
            "x0": x[..., 0].ravel(),
            "x1": x[..., 1].ravel(),
        }
    )
    est = CLasso(2, c=0.5, effects="twoway", progress_bar=False)
    from_arrays = est.fit(y, x)
    dropped = est.fit("y", ["x0", "x1"], data=frame[observed.ravel()], entity="unit", time="year")
    np.testing.assert_allclose(dropped.params["alpha"], from_arrays.params["alpha"], atol=1e-12)
    np.testing.assert_allclose(dropped.cov, from_arrays.cov, atol=1e-14)
    # A complete frame takes the balanced path.
    complete = est.fit("y", ["x0", "x1"], data=frame.fillna(0.0), entity="unit", time="year")
    assert complete.nobs == n * t


def test_units_with_too_few_periods_are_named():
    y, x, observed, _ = _dgp(4)
    y[5, 2:] = np.nan  # two observed periods: not enough for 2 slopes and a unit effect
    x[9, 1:, 1] = np.nan  # one
    with pytest.raises(ValueError, match=r"unit\(s\) \[5, 9\] have fewer than 3 observed periods"):
        CLasso(2, c=0.5, progress_bar=False).fit(y, x)


def test_dynamic_model_loses_cells_whose_lag_is_missing():
    y, x = _dynamic_dgp(5)
    observed = ~np.isnan(y) & ~np.isnan(x).any(axis=2)
    assert observed.sum() < (~np.isnan(y)).sum()  # lags missing too
    res = CLasso(2, c=0.5, dynamic=True, progress_bar=False).fit(y, x)
    np.testing.assert_array_equal(res.observed, observed)
    assert res.nobs == observed.sum()
    # Groups ordered by the lag coefficient: (0.3, 1) then (0.7, -1).
    np.testing.assert_array_equal(res.groups, np.repeat([0, 1], 30))
    assert res.bias_correction == "split-panel jackknife (disjoint halves)"
    # The jackknife moves the estimates towards the truth (Nickell bias is downward).
    truth = np.array([[0.3, 1.0], [0.7, -1.0]])
    assert np.all(res.params["alpha"][:, 0] > res.uncorrected_coefficients[:, 0])
    assert np.all(np.abs(res.params["alpha"] - truth) < 4 * res.group_std_errors)


@pytest.mark.slow
def test_coverage_with_ten_percent_missing_cells():
    # 200 panels (N = 200 in two groups of 100, T = 10, unit and time effects, error s.d. 0.3
    # so that the groups are well separated, 10% of cells missing at random), 2 groups × 2
    # slopes each: 800 nominal 95% intervals. If they were independent with coverage exactly
    # 0.95, the binomial standard error of the observed coverage would be
    # sqrt(0.95·0.05/800) = 0.0077, so the band [0.93, 0.97] is ±2.6 standard errors (a correct
    # method lands in it with probability 0.99); a coverage of 0.90 would be 6.5 standard
    # errors below it. Many clusters per group matter: the clustered covariance has no
    # small-sample factor, and with 30 units per group the intervals (z, not t with 29 degrees
    # of freedom) cover about 94% even with the true groups, balanced or not. About 6 s on a
    # loaded 2-core machine.
    est = CLasso(2, c=0.5, effects="twoway", progress_bar=False)
    hits, correct = [], []
    for rep in range(200):
        y, x, _, groups = _dgp(2000 + rep, n=200, t=10, noise=0.3)
        res = est.fit(y, x, rng_key=jax.random.key(rep))
        correct.append(np.mean(res.groups == groups))
        hits.append(np.abs(res.params["alpha"] - ALPHA) <= 1.959964 * res.group_std_errors)
    assert np.mean(correct) >= 0.995
    coverage = float(np.mean(hits))
    assert 0.93 <= coverage <= 0.97, coverage
