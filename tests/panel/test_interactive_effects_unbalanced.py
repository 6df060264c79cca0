"""InteractiveEffects with additive effects and missing cells.

References not written here: Bai's balanced iteration (``bai_fit``) on hand-demeaned data, which
is exact on balanced panels; the first-order conditions of least squares over the observed
cells; statsmodels' OLS on the linearised model for the standard errors; and Monte Carlo
coverage for a design with known parameters.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from numpyro_semipar.panel import InteractiveEffects, bai_fit
from numpyro_semipar.panel._bai import bai_fit_effects
from numpyro_semipar.panel._ife_inference import augmented_factors, nuisance_residuals

BETA = np.array([1.0, -0.5])


def _dgp(seed, n=40, t=20, missing=0.1, num_factors=1):
    """Unit and time effects, factors, regressors correlated with all three; MCAR cells."""
    rng = np.random.default_rng(seed)
    lam = rng.normal(size=(n, num_factors))
    f = rng.normal(size=(t, num_factors))
    common = lam @ f.T
    alpha, xi = rng.normal(size=(n, 1)), rng.normal(size=(1, t))
    x = np.stack(
        [
            rng.normal(size=(n, t)) + common + alpha,
            rng.normal(size=(n, t)) + xi + 0.5 * lam[:, :1] * f[:, :1].T ** 2,
        ],
        -1,
    )
    y = x @ BETA + alpha + xi + common + rng.normal(size=(n, t))
    observed = rng.uniform(size=(n, t)) >= missing
    return np.where(observed, y, np.nan), x, observed


def _fit(y, x, effects="twoway", num_factors=1, **options):
    options = {"bias_correction": False, "progress_bar": False, "tol": 1e-12, **options}
    return InteractiveEffects(num_factors, effects=effects, **options).fit(y, x)


def test_general_iteration_is_bai_when_balanced_without_effects():
    y, x, _ = _dgp(0, missing=0.0, num_factors=2)
    beta0 = jnp.zeros(2)
    ours = bai_fit_effects(
        y, x, np.ones(y.shape, bool), beta0, num_factors=2, tol=1e-13, max_steps=5000
    )
    ref = bai_fit(jnp.asarray(y), jnp.asarray(x), beta0, num_factors=2, tol=1e-13)
    np.testing.assert_allclose(ours.beta, ref.beta, rtol=1e-10)
    np.testing.assert_allclose(ours.residuals, ref.residuals, atol=1e-9)


def test_two_way_effects_on_a_balanced_panel_equal_bai_on_demeaned_data():
    # Balanced: profiling out α_i and ξ_t is the two-way within transformation, exactly.
    y, x, _ = _dgp(1, missing=0.0)
    res = _fit(y, x, "twoway")

    def within(a):
        return a - a.mean(0, keepdims=True) - a.mean(1, keepdims=True) + a.mean((0, 1))

    yd, xd = within(y), np.stack([within(x[..., k]) for k in range(2)], -1)
    ref = bai_fit(
        jnp.asarray(yd), jnp.asarray(xd), jnp.asarray(res.params["beta"]), num_factors=1, tol=1e-13
    )
    np.testing.assert_allclose(res.params["beta"], ref.beta, atol=1e-8)
    np.testing.assert_allclose(res.residuals, ref.residuals, atol=1e-8)
    np.testing.assert_allclose(res.time_effects.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(res.factors.sum(0), 0.0, atol=1e-9)  # F ⊥ 1 with unit effects


def test_unbalanced_estimate_solves_least_squares_on_observed_cells():
    y, x, observed = _dgp(2)
    res = _fit(y, x, "twoway", num_factors=1)
    assert res.converged and res.nobs == observed.sum()
    assert np.isnan(res.residuals[~observed]).all()
    e = np.where(observed, res.residuals, 0.0)
    f, lam = augmented_factors(res.factors, res.loadings, "twoway")
    # First-order conditions: residuals orthogonal to x, to unit dummies × (F, 1) and to
    # period dummies × (Λ, 1) over the observed cells.
    scale = np.abs(np.nan_to_num(y)).max() * observed.sum()
    assert np.abs(np.einsum("it,itp->p", e, x)).max() < 1e-9 * scale
    assert np.abs(e @ f).max() < 1e-9 * scale
    assert np.abs(lam.T @ e).max() < 1e-9 * scale
    fitted = (
        x @ res.params["beta"] + res.unit_effects[:, None] + res.time_effects[None, :]
        + res.loadings @ res.factors.T
    )  # fmt: skip
    np.testing.assert_allclose((y - fitted)[observed], res.residuals[observed], atol=1e-9)


def test_filling_missing_cells_with_the_fit_reproduces_the_estimate():
    # The EM fixed point: completing the panel with the fitted values gives a balanced panel
    # whose (non-EM) fit has the same slopes.
    y, x, observed = _dgp(3)
    res = _fit(y, x, "twoway")
    fitted = (
        x @ res.params["beta"] + res.unit_effects[:, None] + res.time_effects[None, :]
        + res.loadings @ res.factors.T
    )  # fmt: skip
    full = _fit(np.where(observed, y, fitted), x, "twoway")
    np.testing.assert_allclose(full.params["beta"], res.params["beta"], atol=1e-8)


def test_long_frame_with_absent_rows():
    # The same panel as a long frame: complete, it gives the array estimate; with rows
    # dropped it gives the estimate for NaN in those cells; a unit whose every y is NaN is
    # named.
    y, x, observed = _dgp(4)
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
    est = InteractiveEffects(1, effects="unit", bias_correction=False, tol=1e-12,
                             progress_bar=False)  # fmt: skip
    from_arrays = est.fit(y, x)
    with_nan = est.fit("y", ["x0", "x1"], data=frame, entity="unit", time="year")
    dropped = est.fit("y", ["x0", "x1"], data=frame[observed.ravel()], entity="unit", time="year")
    for res in (with_nan, dropped):
        np.testing.assert_allclose(res.params["beta"], from_arrays.params["beta"], atol=1e-10)
        assert res.nobs == observed.sum()
    ghost = frame[frame["unit"] == 0].assign(unit=n, y=np.nan)
    with pytest.raises(ValueError, match=rf"unit\(s\) \[{n}\] have no observed cell"):
        est.fit("y", ["x0", "x1"], data=pd.concat([frame, ghost]), entity="unit", time="year")


@pytest.mark.parametrize("effects", ["none", "twoway"])
def test_unbalanced_standard_errors_match_ols_on_the_linearised_model(effects):
    y, x, observed = _dgp(5)
    units, periods = np.nonzero(observed)
    for cov_type, sm_options in [
        ("robust", {"cov_type": "HC0"}),
        ("cluster", {"cov_type": "cluster", "cov_kwds": {"groups": units,
                                                         "use_correction": False}}),
    ]:  # fmt: skip
        res = _fit(y, x, effects, num_factors=2, cov_type=cov_type, num_starts=1)
        f, lam = augmented_factors(res.factors, res.loadings, effects)
        n, t = observed.shape
        cols = [np.eye(n)[units] * f[periods, r][:, None] for r in range(f.shape[1])]
        cols += [np.eye(t)[periods] * lam[units, r][:, None] for r in range(lam.shape[1])]
        # Frisch-Waugh-Lovell: purge y and x of an orthonormal basis of those directions.
        u, sv, _ = np.linalg.svd(np.column_stack(cols), full_matrices=False)
        basis = u[:, sv > 1e-10 * sv[0]]
        yy, xx = y[units, periods], x[units, periods]
        ols = sm.OLS(yy - basis @ (basis.T @ yy), xx - basis @ (basis.T @ xx)).fit(**sm_options)
        np.testing.assert_allclose(ols.params, res.params["beta"], rtol=1e-7)
        factor = 1.0
        if cov_type == "cluster":
            # Vcov.jl's small-sample factor G/(G-1)·(n-1)/(n-k), k = 2 regressors + the
            # levels of the additive effects.
            k = 2 + (n + t) * (effects == "twoway")
            factor = n / (n - 1) * (units.size - 1) / (units.size - k)
        np.testing.assert_allclose(res.std_errors["beta"], ols.bse * np.sqrt(factor), rtol=1e-6)


def test_purging_solvers_agree_with_the_balanced_closed_form():
    y, x, _ = _dgp(6, missing=0.0, num_factors=2)
    res = _fit(y, x, "twoway", num_factors=2)
    f, lam = augmented_factors(res.factors, res.loadings, "twoway")
    m_f = np.eye(f.shape[0]) - f @ np.linalg.solve(f.T @ f, f.T)
    m_l = np.eye(lam.shape[0]) - lam @ np.linalg.solve(lam.T @ lam, lam.T)
    closed = np.stack([m_l @ x[..., k] @ m_f for k in range(2)], -1)
    observed = np.ones(y.shape, bool)
    for method in ("dense", "lsqr"):
        purged = nuisance_residuals(x, observed, f, lam, method=method)
        np.testing.assert_allclose(purged, closed, atol=1e-8)


def test_collinear_regressors_are_named():
    y, x, _ = _dgp(7)
    doubled = np.concatenate([x, 2.0 * x[..., :1]], axis=2)
    with pytest.raises(ValueError, match=r"\['x0', 'x2'\] are perfectly collinear"):
        _fit(y, doubled, "none")
    # A unit-invariant regressor is absorbed by the unit effects.
    steady = np.concatenate([x, np.repeat(np.arange(40.0)[:, None, None], 20, 1)], axis=2)
    with pytest.raises(ValueError, match=r"\['x2'\] have no variation \(after removing the unit"):
        _fit(y, steady, "unit")
    # With time effects it is identified.
    _fit(y, steady, "time", num_factors=0)


def test_bad_options():
    y, x, _ = _dgp(8)
    with pytest.raises(ValueError, match="bias_correction=True needs a balanced panel"):
        InteractiveEffects(1, bias_correction=True, progress_bar=False).fit(y, x)
    with pytest.raises(ValueError, match="effects must be one of"):
        InteractiveEffects(1, effects="state")
    with pytest.raises(ValueError, match="absorb the intercept"):
        InteractiveEffects(1, effects="unit", intercept=True)


@pytest.mark.slow
def test_coverage_with_ten_percent_missing_cells():
    # 250 panels (N = 40, T = 20, R = 1, two-way effects, 10% of cells missing at random,
    # homoskedastic errors so the estimator has no leading bias), 2 slopes each: 500 nominal
    # 95% intervals. If they were independent with coverage exactly 0.95, the binomial
    # standard error of the observed coverage would be sqrt(0.95·0.05/500) = 0.0097, so the
    # band [0.93, 0.97] is ±2.05 standard errors (a correct method lands in it with
    # probability 0.96); a coverage of 0.90 would be 5 standard errors below it.
    est = InteractiveEffects(1, effects="twoway", num_starts=1, bias_correction=False,
                             cov_type="homoskedastic", tol=1e-8, progress_bar=False)  # fmt: skip
    hits = []
    for rep in range(250):
        y, x, _ = _dgp(1000 + rep)
        res = est.fit(y, x, rng_key=jax.random.key(rep))
        hits.append(np.abs(res.params["beta"] - BETA) <= 1.959964 * res.std_errors["beta"])
    coverage = float(np.mean(hits))
    assert 0.93 <= coverage <= 0.97, coverage


def test_no_factors_is_two_way_fixed_effects_ols_on_observed_cells():
    # R = 0: least squares with unit and period dummies on the observed cells (statsmodels).
    y, x, observed = _dgp(9)
    res = _fit(y, x, "twoway", num_factors=0, cov_type="homoskedastic")
    units, periods = np.nonzero(observed)
    n, t = observed.shape
    dummies = np.column_stack([np.eye(n)[units], np.eye(t)[periods][:, 1:]])
    ols = sm.OLS(y[units, periods], np.column_stack([x[units, periods], dummies])).fit()
    np.testing.assert_allclose(res.params["beta"], ols.params[:2], rtol=1e-9)
    # The homoskedastic variance divides by n - (p + N + T), one fewer than statsmodels'
    # n - rank (the effects' common level is counted twice).
    dof_ratio = ols.df_resid / (ols.df_resid - 1.0)
    np.testing.assert_allclose(res.std_errors["beta"], ols.bse[:2] * np.sqrt(dof_ratio), rtol=1e-9)
