"""Su–Ju (PPC C-Lasso with interactive effects) on unbalanced panels.

References not written here: the balanced estimator and its building blocks (with every cell
observed the unbalanced code path must give the same numbers), per-unit least-squares
projections computed with numpy, the first-order conditions of least squares over the observed
cells, statsmodels' OLS on the linearised model for the standard errors (as for
InteractiveEffects), and Monte Carlo coverage for a design with known groups and coefficients.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from numpyro_semipar._x64 import float64
from numpyro_semipar.panel import SuJu
from numpyro_semipar.panel._classo import resolve_candidates
from numpyro_semipar.panel._classo_step import _moments
from numpyro_semipar.panel._data import as_panel_data
from numpyro_semipar.panel._ife_inference import augmented_factors
from numpyro_semipar.panel._path import seed_from_key
from numpyro_semipar.panel._ppc_missing import (
    heterogeneous_interactive_effects_missing,
    observed_factor_moments,
)
from numpyro_semipar.panel._suju import (
    grouped_interactive_effects,
    heterogeneous_interactive_effects,
)

ALPHA = np.array([[0.4, 1.6], [1.6, 0.4]])


def _dgp(seed, n=60, t=20, missing=0.1, noise=1.0, num_factors=1):
    """Two groups, unit effects, factors correlated with x; MCAR cells."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([0, 1], n // 2)
    lam = rng.normal(size=(n, num_factors))
    f = rng.normal(size=(t, num_factors))
    common = lam @ f.T
    mu = rng.normal(size=(n, 1))
    x = rng.normal(size=(n, t, 2)) + 0.5 * common[..., None] + 0.5 * mu[..., None]
    y = mu + common + np.einsum("itp,ip->it", x, ALPHA[groups]) + noise * rng.normal(size=(n, t))
    observed = rng.uniform(size=(n, t)) >= missing
    return np.where(observed, y, np.nan), x, observed, groups


def _estimator(**options):
    return SuJu(**{"num_groups": 2, "num_factors": 1, "c": 0.5, "unit_effects": True,
                   "progress_bar": False, **options})  # fmt: skip


@pytest.mark.parametrize("unit_effects", [True, False])
def test_nothing_missing_equals_the_balanced_estimate(unit_effects):
    y, x, *_ = _dgp(0, missing=0.0)
    estimator = _estimator(unit_effects=unit_effects)
    balanced = estimator.fit(y, x)
    # The unbalanced code path with every cell marked observed.
    panel = as_panel_data(y, x)._replace(observed=np.ones(y.shape, bool))
    ks, cs = resolve_candidates(2, 5, 0.5, y.shape[0])
    with float64():
        forced = estimator._fit(panel, ks, cs, seed_from_key(None))  # fit()'s default start
    np.testing.assert_array_equal(forced.groups, balanced.groups)
    # Both post-Lasso iterations stop when a step moves the slopes by less than 1e-9
    # (relative); they are different (equivalent) iterations, so they agree to that order.
    np.testing.assert_allclose(forced.params["alpha"], balanced.params["alpha"], atol=1e-8)
    np.testing.assert_allclose(forced.cov, balanced.cov, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(forced.residuals, balanced.residuals, atol=1e-7)


def test_building_blocks_with_nothing_missing_are_the_balanced_ones():
    y, x, *_ = _dgp(1, missing=0.0)
    n, t = y.shape
    everything = np.ones((n, t), bool)
    f = np.linalg.qr(np.random.default_rng(1).normal(size=(t, 2)))[0] * np.sqrt(t)
    for ours, ref in zip(
        observed_factor_moments(y, x, f, everything), _moments(y, x, f), strict=True
    ):
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-14)
    ours = heterogeneous_interactive_effects_missing(y, x, everything, num_factors=1, tol=1e-12)
    ref = heterogeneous_interactive_effects(
        jnp.asarray(y), jnp.asarray(x), num_factors=1, tol=1e-12
    )
    np.testing.assert_allclose(ours[0], ref[0], atol=1e-10)
    np.testing.assert_allclose(ours[2], ref[2], rtol=1e-10)
    groups = np.repeat([0, 1], n // 2)
    ours = grouped_interactive_effects(y, x, groups, 2, 1, tol=1e-13, observed=everything)
    ref = grouped_interactive_effects(y, x, groups, 2, 1, tol=1e-13)
    np.testing.assert_allclose(ours.coefficients, ref.coefficients, atol=1e-10)
    np.testing.assert_allclose(ours.residuals, ref.residuals, atol=1e-9)


def test_block_moments_project_each_unit_off_its_observed_factor_values():
    y, x, observed, _ = _dgp(2, n=8, t=12, missing=0.3)
    y = np.nan_to_num(y)
    f = np.random.default_rng(2).normal(size=(12, 2))
    q, b = observed_factor_moments(
        jnp.asarray(np.where(observed, y, 0.0)),
        jnp.asarray(np.where(observed[..., None], x, 0.0)),
        jnp.asarray(f),
        jnp.asarray(observed),
        unit_effects=True,
    )
    nobs = observed.sum()
    for i in range(8):
        keep = observed[i]
        fbar = np.column_stack([f[keep], np.ones(keep.sum())])
        # Residuals of unit i's observed x and y on its factor values and a constant.
        xr = x[i, keep] - fbar @ np.linalg.lstsq(fbar, x[i, keep], rcond=None)[0]
        yr = y[i, keep] - fbar @ np.linalg.lstsq(fbar, y[i, keep], rcond=None)[0]
        np.testing.assert_allclose(q[i], xr.T @ xr / nobs, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(b[i], xr.T @ yr / nobs, rtol=1e-10, atol=1e-14)


@pytest.fixture(scope="module")
def unbalanced_fit():
    y, x, observed, groups = _dgp(3)
    res = _estimator(cov_type="cluster").fit(y, x)
    # The post-Lasso checks below are given the estimated groups.
    assert np.mean(res.groups == groups) >= 0.95
    return y, x, observed, res.groups, res


def test_post_lasso_solves_least_squares_on_observed_cells(unbalanced_fit):
    y, x, observed, groups, res = unbalanced_fit
    assert res.converged and res.nobs == observed.sum()
    assert np.isnan(res.residuals[~observed]).all()
    e = np.where(observed, res.residuals, 0.0)
    xe = np.einsum("itp,ik->itkp", x, np.eye(2)[groups]).reshape(*y.shape, 4)
    f, lam = augmented_factors(res.factors, res.loadings, "unit")
    # First-order conditions: residuals orthogonal to the group-interacted regressors, to
    # unit dummies × (F, 1) and to period dummies × Λ over the observed cells.
    scale = np.abs(np.nan_to_num(y)).max() * observed.sum()
    assert np.abs(np.einsum("it,itp->p", e, xe)).max() < 1e-8 * scale
    assert np.abs(e @ f).max() < 1e-8 * scale
    assert np.abs(lam.T @ e).max() < 1e-8 * scale


def test_standard_errors_match_ols_on_the_linearised_model(unbalanced_fit):
    y, x, observed, groups, res = unbalanced_fit
    units, periods = np.nonzero(observed)
    n, t = observed.shape
    f, lam = augmented_factors(res.factors, res.loadings, "unit")
    cols = [np.eye(n)[units] * f[periods, r][:, None] for r in range(f.shape[1])]
    cols += [np.eye(t)[periods] * lam[units, r][:, None] for r in range(lam.shape[1])]
    # Frisch-Waugh-Lovell: purge y and the group-interacted x of those directions.
    u, sv, _ = np.linalg.svd(np.column_stack(cols), full_matrices=False)
    basis = u[:, sv > 1e-10 * sv[0]]
    xe = np.einsum("np,nk->nkp", x[units, periods], np.eye(2)[groups[units]]).reshape(-1, 4)
    yy = y[units, periods]
    ols = sm.OLS(yy - basis @ (basis.T @ yy), xe - basis @ (basis.T @ xe)).fit(
        cov_type="cluster", cov_kwds={"groups": units, "use_correction": False}
    )
    np.testing.assert_allclose(res.params["alpha"].ravel(), ols.params, rtol=1e-7)
    np.testing.assert_allclose(res.std_errors["alpha"].ravel(), ols.bse, rtol=1e-6)


def test_filling_missing_cells_with_the_fit_reproduces_the_post_lasso(unbalanced_fit):
    # The EM fixed point: completing the panel with the fitted values gives a balanced panel
    # whose (non-EM) post-Lasso fit, with unit effects removed by demeaning, has the same
    # slopes.
    y, x, observed, groups, res = unbalanced_fit
    fitted = np.where(observed, y, 0.0) - np.where(observed, res.residuals, 0.0)
    common = res.loadings @ res.factors.T + np.einsum("itp,ip->it", x, res.params["alpha"][groups])
    # Unit effects on the missing cells: the observed-cell mean of y - x α - λF.
    unit = np.nanmean(np.where(observed, fitted - common, np.nan), axis=1)
    completed = np.where(observed, y, common + unit[:, None])
    demeaned = completed - completed.mean(1, keepdims=True)
    xd = x - x.mean(1, keepdims=True)
    ref = grouped_interactive_effects(demeaned, xd, groups, 2, 1, res.params["alpha"], tol=1e-12)
    np.testing.assert_allclose(ref.coefficients, res.params["alpha"], atol=1e-6)


def test_long_frame_with_absent_rows_equals_nan_cells():
    y, x, observed, _ = _dgp(4)
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
    est = _estimator()
    from_arrays = est.fit(y, x)
    dropped = est.fit("y", ["x0", "x1"], data=frame[observed.ravel()], entity="unit", time="year")
    np.testing.assert_allclose(dropped.params["alpha"], from_arrays.params["alpha"], atol=1e-12)
    np.testing.assert_allclose(dropped.cov, from_arrays.cov, atol=1e-14)


def test_bad_input():
    y, x, *_ = _dgp(5)
    y[7, 4:] = np.nan  # four observed periods: too few for 2 slopes, a factor and a unit effect
    with pytest.raises(ValueError, match=r"unit\(s\) \[7\] have fewer than 5 observed periods"):
        _estimator().fit(y, x)
    y, x, *_ = _dgp(6)
    with pytest.raises(ValueError, match="bias_correction=True needs a balanced panel"):
        _estimator(bias_correction=True).fit(y, x)


@pytest.mark.slow
def test_coverage_with_ten_percent_missing_cells():
    # 150 panels (N = 100 in two groups of 50, T = 20, unit effects and one factor correlated
    # with x, homoskedastic errors of s.d. 0.5 so that the groups are well separated and the
    # post-Lasso Bai estimator has no leading bias, 10% of cells missing at random), 2 groups ×
    # 2 slopes each: 600 nominal 95% intervals (unit-clustered). If they were independent with
    # coverage exactly 0.95, the binomial standard error of the observed coverage would be
    # sqrt(0.95·0.05/600) = 0.0089, so the band [0.93, 0.97] is ±2.25 standard errors (a
    # correct method lands in it with probability 0.975); a coverage of 0.90 would be 5.6
    # standard errors below it. About 15 s on a loaded 2-core machine (compilation included).
    est = _estimator(cov_type="cluster")
    hits, correct = [], []
    for rep in range(150):
        y, x, _, groups = _dgp(3000 + rep, n=100, t=20, noise=0.5)
        res = est.fit(y, x, rng_key=jax.random.key(rep))
        correct.append(np.mean(res.groups == groups))
        hits.append(np.abs(res.params["alpha"] - ALPHA) <= 1.959964 * res.group_std_errors)
    assert np.mean(correct) >= 0.995
    coverage = float(np.mean(hits))
    assert 0.93 <= coverage <= 0.97, coverage
