"""Clustered (one- and two-way) and HAC covariances of InteractiveEffects.

References not written here: statsmodels' ``cluster`` (two-way via a two-column ``groups``,
Cameron–Gelbach–Miller) and ``hac-panel`` covariances of the OLS regression with unit and
period dummies, which is the estimator with ``num_factors=0``; with factors, statsmodels on the
linearised model (the regression on the nuisance directions at the estimate, which has the
estimator's slope and residuals) and InteractiveFixedEffectModels.jl's published standard error
on the cigarette panel. statsmodels is run without its small-sample correction and our
documented factors are applied to it: ``G/(G-1)·(n-1)/(n-k)`` for clustering (Vcov.jl's, with
``G`` the smaller number of clusters) and ``n/(n-k)`` for HAC, ``k`` = regressors + levels of
the additive effects.
"""

import jax
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from numpyro_semipar.panel import InteractiveEffects
from numpyro_semipar.panel._ife_inference import augmented_factors, cell_covariance

CIGAR = "/work/shared/data/panel/cigar.csv"
BETA = np.array([1.0, -0.5])


def _panel(seed, n=30, t=12, missing=0.0):
    """Two-way effects, regressors correlated with them, errors correlated within regions and
    years and serially within units (so every covariance has something to pick up)."""
    rng = np.random.default_rng(seed)
    region = rng.integers(0, 6, size=n)
    alpha, xi = rng.normal(size=(n, 1)), rng.normal(size=(1, t))
    x = rng.normal(size=(n, t, 2)) + np.stack([alpha + 0 * xi, xi + 0 * alpha], -1)
    shock = rng.normal(size=(6, t))[region] + rng.normal(size=(1, t))
    e = np.zeros((n, t))
    u = rng.normal(size=(n, t))
    for s in range(t):
        e[:, s] = (0.5 * e[:, s - 1] if s else 0.0) + u[:, s]
    y = x @ BETA + alpha + xi + shock + e * (1 + np.abs(x[..., 0]))
    observed = rng.uniform(size=(n, t)) >= missing
    frame = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), t),
            "year": np.tile(np.arange(1990, 1990 + t), n),
            "region": np.repeat(np.array(list("abcdef"))[region], t),
            "y": y.ravel(),
            "x0": x[..., 0].ravel(),
            "x1": x[..., 1].ravel(),
        }
    )
    return frame[observed.ravel()].reset_index(drop=True), region


def _dummy_ols(frame):
    """OLS of y on x and unit and year dummies (one year dropped), on the frame's rows."""
    units = pd.factorize(frame["unit"], sort=True)[0]
    years = pd.factorize(frame["year"], sort=True)[0]
    dummies = np.column_stack(
        [np.eye(units.max() + 1)[units], np.eye(years.max() + 1)[years][:, 1:]]
    )
    return sm.OLS(frame["y"].to_numpy(), np.column_stack([frame[["x0", "x1"]], dummies])), units


def _fit(frame, cov_type="cluster", cluster=None, **options):
    options = {"tol": 1e-12, **options}
    est = InteractiveEffects(0, effects="twoway", cov_type=cov_type, progress_bar=False, **options)
    return est.fit("y", ["x0", "x1"], data=frame, entity="unit", time="year", cluster=cluster)


def _sm_se(ols_result):
    return np.sqrt(np.diag(ols_result.cov_params())[:2])


@pytest.mark.parametrize("missing", [0.0, 0.1])
@pytest.mark.parametrize(
    "spec", ["unit", "region column", "region array", "region and year", "unit array and year"]
)
def test_clustered_without_factors_is_statsmodels_on_the_dummy_regression(spec, missing):
    frame, region = _panel(1, missing=missing)
    model, units = _dummy_ols(frame)
    n, k = len(frame), 2 + 30 + 12
    years = frame["year"].to_numpy()
    cluster, groups = {
        "unit": (None, units),
        "region column": ("region", frame["region"].to_numpy()),
        "region array": (region, region[units]),  # one label per unit, shape (N,)
        "region and year": (["region", "year"], np.column_stack([region[units], years])),
        "unit array and year": (
            [np.repeat(np.arange(30)[:, None], 12, 1), "year"],  # an (N, T) label array
            np.column_stack([units, years]),
        ),
    }[spec]
    res = _fit(frame, cluster=cluster)
    ols = model.fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False})
    np.testing.assert_allclose(res.params["beta"], ols.params[:2], rtol=1e-9)
    g = min(len(np.unique(c)) for c in np.asarray(groups).reshape(len(frame), -1).T)
    assert min(res.cluster_counts) == g
    factor = g / (g - 1) * (n - 1) / (n - k)
    np.testing.assert_allclose(res.std_errors["beta"], _sm_se(ols) * np.sqrt(factor), rtol=1e-8)


@pytest.mark.parametrize("trailing_gaps", [False, True])
@pytest.mark.parametrize("bandwidth", [0, 2, None])
def test_hac_without_factors_is_statsmodels_hac_panel(bandwidth, trailing_gaps):
    frame, _ = _panel(2)
    if trailing_gaps:
        # Units 0-9 lose their last 1-3 years: statsmodels counts lags by position in each
        # unit's series, we count them in periods; the two agree when the gaps are at the end.
        last = 1990 + 12 - 1 - frame["unit"] % 3
        frame = frame[(frame["unit"] >= 10) | (frame["year"] <= last)].reset_index(drop=True)
    model, units = _dummy_ols(frame)
    res = _fit(frame, cov_type="hac", bandwidth=bandwidth, bias_correction=False)
    lags = int(12**0.25) if bandwidth is None else bandwidth  # the documented default rule
    assert res.hac_bandwidth == lags == (1 if bandwidth is None else bandwidth)
    ols = model.fit(
        cov_type="hac-panel",
        cov_kwds={"groups": units, "maxlags": lags, "use_correction": False},
    )
    n, k = len(frame), 2 + 30 + 12
    np.testing.assert_allclose(
        res.std_errors["beta"], _sm_se(ols) * np.sqrt(n / (n - k)), rtol=1e-8
    )


def test_two_way_sum_that_is_not_positive_semidefinite_is_clipped_with_a_warning():
    # Scores +1/-1 in a checkerboard: every unit's and every period's sum is zero, so
    # S_unit + S_period - S_cell = -Σ s² < 0 (Cameron, Gelbach and Miller 2011, section 2.3).
    checker = np.where(np.add.outer(np.arange(4), np.arange(6)) % 2 == 0, 1.0, -1.0)
    ones = np.ones((4, 6, 1))
    units = np.repeat(np.arange(4)[:, None], 6, 1)
    periods = np.repeat(np.arange(6)[None, :], 4, 0)
    common = {"cov_type": "cluster", "dof": 1, "absorbed": 1}
    one_way = cell_covariance(
        ones, ones, checker, np.ones((4, 6), bool), clusters=[units], **common
    )
    assert one_way[0, 0] == pytest.approx(0.0, abs=1e-15)  # unit sums cancel
    with pytest.warns(RuntimeWarning, match="not positive definite"):
        cov = cell_covariance(
            ones, ones, checker, np.ones((4, 6), bool), clusters=[units, periods], **common
        )
    assert cov[0, 0] == 0.0


def test_two_way_clustering_with_factors_on_the_cigarette_panel():
    # Sales ~ Price + ife(State, Year, 2) + fe(State), vcov = cluster(State, Year) in the
    # Julia package's syntax. The slope's clustered covariance is statsmodels' two-way cluster
    # covariance on the linearised model (y and x purged of the nuisance directions at the
    # estimate), times G/(G-1)·(n-1)/(n-k) with G = 30 years, k = 1 + 46 state effects.
    cigar = pd.read_csv(CIGAR)
    est = InteractiveEffects(
        2, effects="unit", bias_correction=False, num_starts=1, tol=1e-12, progress_bar=False
    )
    res = est.fit("sales", ["price"], data=cigar, entity="state", time="year",
                  cluster=["state", "year"])  # fmt: skip
    assert res.cluster_counts == (46, 30)
    y = cigar.pivot(index="state", columns="year", values="sales").to_numpy().ravel()
    x = cigar.pivot(index="state", columns="year", values="price").to_numpy().ravel()
    f, lam = augmented_factors(res.factors, res.loadings, "unit")
    units, periods = np.repeat(np.arange(46), 30), np.tile(np.arange(30), 46)
    cols = [np.eye(46)[units] * f[periods, r][:, None] for r in range(f.shape[1])]
    cols += [np.eye(30)[periods] * lam[units, r][:, None] for r in range(lam.shape[1])]
    u, sv, _ = np.linalg.svd(np.column_stack(cols), full_matrices=False)
    basis = u[:, sv > 1e-10 * sv[0]]
    ols = sm.OLS(y - basis @ (basis.T @ y), x - basis @ (basis.T @ x)).fit(
        cov_type="cluster",
        cov_kwds={"groups": np.column_stack([units, periods]), "use_correction": False},
    )
    assert ols.params[0] == pytest.approx(res.params["beta"][0], rel=1e-8)
    factor = 30 / 29 * 1379 / (1380 - 47)
    assert res.std_errors["beta"][0] == pytest.approx(np.sqrt(ols.cov_params()[0, 0] * factor),
                                                      rel=1e-8)  # fmt: skip


def test_bread_matches_the_julia_package_published_standard_error():
    # InteractiveFixedEffectModels.jl README at commit f0a03dc71fdfd523a0682c9f2825294b79146f5f
    # (2025-04-24), lines 19-28: regife(df, @formula(Sales ~ Price + ife(State, Year, 2) +
    # fe(State))) prints Price -0.425372, Std.Error 0.0132871 with Vcov.simple(), i.e.
    # σ̂² (X̃ᵀX̃)⁻¹ with σ̂² = Σe²/(n - 1 - 46) ("Degree of freedom: 47"): factors not counted.
    # Our homoskedastic variance divides Σe² by n - 1 - 46 - (46 + 30)·2 instead, so the two
    # differ by that ratio alone when W (the purged regressor) is the same.
    cigar = pd.read_csv(CIGAR)
    est = InteractiveEffects(
        2, effects="unit", bias_correction=False, cov_type="homoskedastic", tol=1e-12,
        progress_bar=False,
    )  # fmt: skip
    res = est.fit("sales", ["price"], data=cigar, entity="state", time="year")
    assert res.params["beta"][0] == pytest.approx(-0.425372, abs=5e-5)
    rescaled = res.std_errors["beta"][0] * np.sqrt((1380 - 47 - 152) / (1380 - 47))
    # Six printed digits; the estimates differ by 4e-5 relative (the Julia run's tolerance).
    assert rescaled == pytest.approx(0.0132871, rel=2e-4)
    # The same README at commit 61a1c5a338cdc9e8fcbd4a1493d9d5a931f3a302 (2020-01-11), lines
    # 19-28, printed Std.Error 0.0141163 with "Degree of freedom: 199" = 1 + 46 + 2·(46 + 30):
    # the factors counted, as here.
    assert res.std_errors["beta"][0] == pytest.approx(0.0141163, rel=2e-4)


def test_bad_covariance_options_are_named():
    frame, region = _panel(3)
    with pytest.raises(ValueError, match=r"cov_type must be .*'hac' or 'bootstrap', got 'hc3'"):
        InteractiveEffects(1, cov_type="hc3")
    with pytest.raises(ValueError, match="bandwidth must be an integer >= 0, got -1"):
        InteractiveEffects(1, bandwidth=-1)
    with pytest.raises(ValueError, match="num_bootstrap must be an integer >= 2, got 1"):
        InteractiveEffects(1, cov_type="bootstrap", num_bootstrap=1)
    with pytest.raises(ValueError, match=r"cluster labels must have shape \(N, T\) = \(30, 12\)"):
        _fit(frame, cluster=region[:-1])
    labels = np.repeat(region[:, None].astype(float), 12, 1)
    labels[4, 7] = np.nan
    with pytest.raises(ValueError, match=r"cluster labels: 1 missing value.*unit 4, period 1997"):
        _fit(frame, cluster=labels)
    with pytest.raises(ValueError, match="cluster: data has no column 'state'"):
        _fit(frame, cluster="state")
    with pytest.raises(ValueError, match="one or two clustering variables, got 3"):
        _fit(frame, cluster=["region", "year", "unit"])
    with pytest.raises(ValueError, match="cluster= is used only with cov_type='cluster'"):
        _fit(frame, cov_type="robust", cluster="region")
    with pytest.raises(ValueError, match="1 distinct value"):
        _fit(frame, cluster=np.zeros(30))


def _factor_panel(seed, n=60, t=10):
    """Unit effects and one factor that x0 loads on; AR(1) errors, equal variance across units.

    Units with unequal error variances are left out on purpose: resampling units duplicates
    them, and a duplicated high-variance unit looks like a factor to the principal components,
    which inflates the bootstrap spread (see docs/panel_effects.md).
    """
    rng = np.random.default_rng(seed)
    lam, f = rng.normal(size=(n, 1)), np.random.default_rng(0).normal(size=(t, 1))
    common = lam @ f.T
    alpha = rng.normal(size=(n, 1))
    x = np.stack([rng.normal(size=(n, t)) + common + alpha, rng.normal(size=(n, t))], -1)
    e = np.zeros((n, t))
    for s in range(t):
        e[:, s] = (0.3 * e[:, s - 1] if s else 0.0) + rng.normal(size=n)
    return x @ BETA + alpha + common + e, x


def test_bootstrap_is_reproducible_and_keeps_its_draws():
    y, x = _factor_panel(4, n=20, t=8)
    est = InteractiveEffects(1, effects="unit", cov_type="bootstrap", num_bootstrap=20,
                             bias_correction=False, progress_bar=False)  # fmt: skip
    first = est.fit(y, x, rng_key=jax.random.key(3))
    again = est.fit(y, x, rng_key=jax.random.key(3))
    other = est.fit(y, x, rng_key=jax.random.key(4))
    assert first.bootstrap_draws.shape == (20, 2)
    np.testing.assert_array_equal(first.bootstrap_draws, again.bootstrap_draws)
    np.testing.assert_array_equal(first.std_errors["beta"], again.std_errors["beta"])
    assert not np.allclose(first.bootstrap_draws, other.bootstrap_draws)
    # The point estimate does not depend on the resampling; the covariance is the draws'.
    np.testing.assert_array_equal(first.params["beta"], other.params["beta"])
    np.testing.assert_allclose(first.cov, np.cov(first.bootstrap_draws, rowvar=False), rtol=1e-12)
    tree = first.to_arviz()
    np.testing.assert_array_equal(tree["bootstrap"]["beta"].values, first.bootstrap_draws)


def test_each_bootstrap_draw_is_the_estimator_on_a_resampled_panel():
    # With the (default) bias correction, draw b is the bias-corrected estimate on the panel
    # of units the b-th row of indices names (all drawn at once from the folded key).
    y, x = _factor_panel(6, n=20, t=8)
    key = jax.random.key(11)
    options = {"effects": "unit", "bias_correction": True, "tol": 1e-12, "progress_bar": False}
    res = InteractiveEffects(1, cov_type="bootstrap", num_bootstrap=5, **options).fit(
        y, x, rng_key=key
    )
    units = np.asarray(jax.random.randint(jax.random.fold_in(key, 1), (5, 20), 0, 20))
    for b in (0, 4):
        direct = InteractiveEffects(1, **options).fit(y[units[b]], x[units[b]])
        np.testing.assert_allclose(res.bootstrap_draws[b], direct.params["beta"], rtol=1e-7)
    assert not np.allclose(res.std_errors["beta"], res.uncorrected_std_errors)


@pytest.mark.slow
def test_bootstrap_standard_error_agrees_with_the_unit_clustered_one():
    # For a smooth estimator the pairs (unit) bootstrap variance converges, as B grows, to
    # the unit-clustered sandwich without small-sample factor (CR0), up to higher-order terms.
    # With B draws from a roughly normal bootstrap distribution, the bootstrap standard error
    # has relative Monte Carlo standard deviation 1/sqrt(2(B - 1)) = 0.025 at B = 800, so the
    # band of 0.1 is 4 of those. (Over 8 seeds of this design the ratio averaged 1.02 and
    # 1.01 with spread 0.02-0.03; at T = 10 the higher-order terms are not negligible: ratios
    # up to 1.35 for the factor-correlated regressor.)
    y, x = _factor_panel(5, n=60, t=20)
    common = {"effects": "unit", "bias_correction": False, "progress_bar": False}
    boot = InteractiveEffects(1, cov_type="bootstrap", num_bootstrap=800, **common).fit(y, x)
    clustered = InteractiveEffects(1, cov_type="cluster", **common).fit(y, x)
    assert np.all(np.abs(boot.params["beta"] - BETA) < 3 * clustered.std_errors["beta"])
    n, k = y.size, 2 + y.shape[0]
    cr0 = clustered.std_errors["beta"] / np.sqrt(60 / 59 * (n - 1) / (n - k))
    np.testing.assert_allclose(boot.std_errors["beta"], cr0, rtol=0.1)
