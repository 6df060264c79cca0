"""InteractiveEffects on phtt's ``Eup`` example (Bada and Liebl 2014, J. Stat. Softw. 59(6)).

Published output: the vignette of R package phtt 3.1.2 (the JSS paper), ``inst/doc/phtt.pdf``
of github.com/cran/phtt at commit 115a139, section 4 pp. 21-22:

    Eup(d.l.Consumption ~ -1 + d.l.Price + d.l.Income, dim.criterion = "PC3")
    Coeff(s) of the Observed Regressor(s):  d.l.Price -0.3140143  d.l.Income 0.159392
    Dimension of the Unobserved Factors: 5
    summary(): Estimate Std.Err Z value: d.l.Price -0.3140 0.0227 -13.90;
               d.l.Income 0.1590 0.0358 4.45
    Residual standard error: 0.02804 on 957 degrees of freedom

with first differences over the 29 year pairs of log sales, log(price/cpi) and log(ndi/cpi),
no intercept, no additive effects. How phtt computes the standard errors (``R/Eup.R`` and
``R/Eup.inference.R`` at that commit): ``error.type = 1`` (the default) is
``σ̂² D₀⁻¹/(NT)`` with ``D₀ = Σ_i Z_iᵀZ_i/(NT)``, ``Z_i = M_F X_i M_A`` (our homoskedastic
``W``), and ``σ̂² = sum(diag(var(residuals)))·(T-1)/dof``: ``var`` of the T×N residual
matrix demeans each state's residuals, so ``σ̂²`` is the sum of squares of residuals
demeaned within state over ``dof = NT - (N+T)d - P = 957``. This model has no unit effects,
so that is not a variance estimate of the model's errors (the commented-out line next to it
divides the plain sum of squares); it is not offered here. The test checks that phtt's
standard errors are ours with that σ̂² substituted.
"""

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from numpyro_semipar.panel import InteractiveEffects
from numpyro_semipar.panel._bai import decompose_effects

CIGAR = "/work/shared/data/panel/cigar.csv"


@pytest.fixture(scope="module")
def eup():
    cigar = pd.read_csv(CIGAR)

    def wide(column):
        return cigar.pivot(index="state", columns="year", values=column).to_numpy()

    cpi = wide("cpi")
    y = np.diff(np.log(wide("sales")), axis=1)
    x = np.stack(
        [np.diff(np.log(wide("price") / cpi), axis=1), np.diff(np.log(wide("ndi") / cpi), axis=1)],
        axis=-1,
    )
    est = InteractiveEffects(
        5, cov_type="homoskedastic", bias_correction=False, tol=1e-12, progress_bar=False
    )
    return y, x, est.fit(y, x)


def test_coefficients_match_phtt(eup):
    y, x, res = eup
    assert res.converged and y.shape == (46, 29)
    published = np.array([-0.3140143, 0.159392])
    # phtt stops at convergence = 1e-6; ours agree to 6e-6 and have the smaller sum of
    # squares, so the published numbers are a little short of the minimum.
    np.testing.assert_allclose(res.params["beta"], published, atol=1e-5)
    r = y - x @ published
    f, lam, _, _ = decompose_effects(jnp.asarray(r), 5, "none")
    ssr_published = float(np.sum((r - np.asarray(lam @ f.T)) ** 2))
    assert res.objective * res.nobs <= ssr_published


def test_standard_errors_match_phtt_with_its_error_variance(eup):
    y, x, res = eup
    e = res.residuals
    n, t = e.shape
    dof = n * t - (n + t) * 5 - 2
    assert dof == 957
    within = e - e.mean(axis=1, keepdims=True)  # what var() of the T×N matrix does
    sigma2_phtt = np.sum(within**2) / dof
    assert np.sqrt(sigma2_phtt) == pytest.approx(0.02804, abs=5e-6)  # printed to 4 digits
    se_phtt = res.std_errors["beta"] * np.sqrt(sigma2_phtt / (np.sum(e**2) / dof))
    np.testing.assert_allclose(se_phtt, [0.0227, 0.0358], atol=5e-5)  # printed to 3 digits
    # Z values, three significant digits, from phtt's own (unrounded) coefficients.
    z = np.array([-0.3140143, 0.159392]) / se_phtt
    assert np.all(np.abs(z - [-13.9, 4.45]) <= [0.05, 0.005])
    # Our homoskedastic standard errors themselves use the residuals as they are.
    np.testing.assert_allclose(res.std_errors["beta"], [0.0228, 0.0360], atol=5e-5)
