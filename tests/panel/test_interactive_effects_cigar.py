"""InteractiveEffects on Baltagi's cigarette panel against InteractiveFixedEffectModels.jl.

Published numbers: FixedEffects/InteractiveFixedEffectModels.jl,
``test/interactivefixedeffectsmodel.jl`` at commit 62dea6b4144743e0a4ef4e6c4038934b309de7b5
(lines quoted next to each assertion). That test checks them only to 20%
(``precision = 2e-1``); the assertions here use the digits printed there. The Julia package
adds an intercept unless ``fe()`` absorbs it. Residuals do not depend on how factors and
loadings are normalised, so the published first-row residuals are compared too. The standard
errors are checked against statsmodels' OLS of ``y`` on the regressors and the nuisance
directions at the estimate (the Julia file publishes none).
"""

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from numpyro_semipar.panel import InteractiveEffects
from numpyro_semipar.panel._bai import decompose_effects

CIGAR = "/work/shared/data/panel/cigar.csv"


@pytest.fixture(scope="module")
def cigar():
    return pd.read_csv(CIGAR)


def _fit(data, num_factors, effects="none", **options):
    est = InteractiveEffects(
        num_factors,
        effects=effects,
        intercept=effects == "none",
        bias_correction=False,
        tol=1e-12,
        progress_bar=False,
        **options,
    )
    return est.fit("sales", ["price"], data=data, entity="state", time="year")


def test_one_factor_with_intercept(cigar):
    res = _fit(cigar, 1)
    assert res.converged
    # L12: coef ≈ [328.1653237715761, -1.0415042260420706]. Our fit differs by 5e-5 relative
    # and has the smaller sum of squares (checked below), so the Julia run stopped a little
    # short of the minimum on this slowly converging one-factor problem.
    published = np.array([328.1653237715761, -1.0415042260420706])
    np.testing.assert_allclose(res.params["beta"], published, rtol=1e-4)
    # L15: residuals[1] ≈ -9.7870.
    assert res.residuals[0, 0] == pytest.approx(-9.7870, abs=5e-4)
    y = cigar.pivot(index="state", columns="year", values="sales").to_numpy()
    x = cigar.pivot(index="state", columns="year", values="price").to_numpy()
    r = y - published[0] - published[1] * x
    f, lam, _, _ = decompose_effects(jnp.asarray(r), 1, "none")
    ssr_published = float(np.sum((r - np.asarray(lam @ f.T)) ** 2))
    assert res.objective * res.nobs < ssr_published


def test_two_factors_with_intercept(cigar):
    res = _fit(cigar, 2)
    # L21: coef ≈ [163.01350, -0.40610]; L24: residuals[1] ≈ -1.774.
    np.testing.assert_allclose(res.params["beta"], [163.01350, -0.40610], atol=1e-5)
    assert res.residuals[0, 0] == pytest.approx(-1.774, abs=1e-3)
    assert res.regressor_names == ("intercept", "price")


@pytest.mark.parametrize(
    ("effects", "coef", "coef_tol", "resid", "resid_tol"),
    [
        ("unit", -0.425389, 1e-6, -5.222, 1e-3),  # L29, L32: fe(State)
        ("time", -0.3744296120563005, 1e-8, -2.2153, 1e-4),  # L37, L40: fe(Year)
        ("twoway", -0.524157, 1e-6, -5.614, 1e-3),  # L45, L48: fe(State) + fe(Year)
    ],
)
def test_two_factors_with_additive_effects(cigar, effects, coef, coef_tol, resid, resid_tol):
    res = _fit(cigar, 2, effects=effects)
    assert res.converged
    assert res.params["beta"][0] == pytest.approx(coef, abs=coef_tol)
    assert res.residuals[0, 0] == pytest.approx(resid, abs=resid_tol)
    f, lam = res.factors, res.loadings
    y = cigar.pivot(index="state", columns="year", values="sales").to_numpy()
    x = cigar.pivot(index="state", columns="year", values="price").to_numpy()
    fitted = (
        x * res.params["beta"][0]
        + res.unit_effects[:, None]
        + res.time_effects[None, :]
        + lam @ f.T
    )
    np.testing.assert_allclose(y - fitted, res.residuals, atol=1e-9)


def test_subset_with_unit_effects_reports_the_unit_effect(cigar):
    # L52-L60: fe(State) with 2 factors on State <= 30: residuals[1] ≈ -3.8624 and
    # fe_State[1] ≈ 131.6162 (no intercept: the unit effects carry the level).
    res = _fit(cigar[cigar["state"] <= 30], 2, effects="unit")
    assert res.residuals[0, 0] == pytest.approx(-3.8624, abs=1e-4)
    assert res.unit_effects[0] == pytest.approx(131.6162, abs=1e-4)


def _tangent_design(res, observed, effects):
    # Unit dummies times the factors (and a constant for unit effects), period dummies times
    # the loadings (and a constant for time effects): the directions the nuisance parameters
    # move the fit in at the estimate.
    n, t = observed.shape
    units, periods = np.nonzero(observed)
    f, lam = res.factors, res.loadings
    if effects in ("unit", "twoway"):
        f = np.column_stack([f, np.ones(t)])
    if effects in ("time", "twoway"):
        lam = np.column_stack([lam, np.ones(n)])
    cols = [np.eye(n)[units] * f[periods, r][:, None] for r in range(f.shape[1])]
    cols += [np.eye(t)[periods] * lam[units, r][:, None] for r in range(lam.shape[1])]
    # These directions are linearly dependent (a factor rotation and the effects' level move
    # the fit identically): keep an orthonormal basis of their span.
    u, sv, _ = np.linalg.svd(np.column_stack(cols), full_matrices=False)
    return u[:, sv > 1e-10 * sv[0]], units, periods


@pytest.mark.parametrize("effects", ["unit", "twoway"])
def test_standard_errors_match_ols_on_the_linearised_model(cigar, effects):
    # At the minimum the residuals are orthogonal to x and to every nuisance direction, so OLS
    # of y on [x, nuisance directions] returns the same slope, and statsmodels' HC0 and
    # cluster (no small-sample factor) covariances of that slope are the estimator's (the
    # clustered one times Vcov.jl's small-sample factor). By
    # Frisch-Waugh-Lovell the slope's OLS, residuals and sandwich are those of the regression
    # of y on x with both purged of the nuisance directions, which is what is fitted here.
    y = cigar.pivot(index="state", columns="year", values="sales").to_numpy()
    x = cigar.pivot(index="state", columns="year", values="price").to_numpy()
    observed = np.ones_like(y, dtype=bool)
    for cov_type, sm_options in [
        ("robust", {"cov_type": "HC0"}),
        ("cluster", {"cov_type": "cluster", "cov_kwds": {"use_correction": False}}),
    ]:
        res = _fit(cigar, 2, effects=effects, cov_type=cov_type, num_starts=1)
        basis, units, periods = _tangent_design(res, observed, effects)
        yy, xx = y[units, periods], x[units, periods]
        y_purged, x_purged = yy - basis @ (basis.T @ yy), xx - basis @ (basis.T @ xx)
        if cov_type == "cluster":
            sm_options["cov_kwds"]["groups"] = units
        ols = sm.OLS(y_purged, x_purged).fit(**sm_options)
        assert ols.params[0] == pytest.approx(res.params["beta"][0], rel=1e-8)
        factor = 1.0
        if cov_type == "cluster":
            # Vcov.jl's small-sample factor G/(G-1)·(n-1)/(n-k), k = 1 regressor + the levels
            # of the additive effects (46 states, and 30 years with two-way effects).
            n, k = units.size, 1 + 46 + 30 * (effects == "twoway")
            factor = 46 / 45 * (n - 1) / (n - k)
        np.testing.assert_allclose(
            res.std_errors["beta"][0], ols.bse[0] * np.sqrt(factor), rtol=1e-6
        )
