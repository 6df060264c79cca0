"""Eigenvalue criteria for the number of factors: Ahn-Horenstein (2013) ER/GR, Onatski (2010).

Checked on matrices built with a prescribed spectrum, where each statistic and each step of
Onatski's iteration can be worked out by hand, and on a factor model with a known number of
factors.
"""

import numpy as np
import pytest

from numpyro_semipar.panel import InteractiveEffects, ahn_horenstein, factor_eigenvalues, onatski


def _with_spectrum(eigenvalues, n=40, t=30, seed=0):
    # E = U diag(s) Vᵀ with s² / (N T) the prescribed eigenvalues of EᵀE / (N T).
    rng = np.random.default_rng(seed)
    m = len(eigenvalues)
    u, _ = np.linalg.qr(rng.normal(size=(n, m)))
    v, _ = np.linalg.qr(rng.normal(size=(t, m)))
    return u @ np.diag(np.sqrt(np.asarray(eigenvalues) * n * t)) @ v.T


def _bulk(m, start):
    # Eigenvalues 5 - 0.5 (j - 1)^(2/3) for j = start..m: exactly linear in (j - 1)^(2/3), so
    # Onatski's regression slope is -0.5 and δ = 1 wherever it is run inside the bulk.
    j = np.arange(start, m + 1)
    return 5.0 - 0.5 * (j - 1.0) ** (2.0 / 3.0)


def test_eigenvalues_are_recovered():
    spectrum = np.r_[20.0, 12.0, 8.0, _bulk(30, 4)]
    np.testing.assert_allclose(factor_eigenvalues(_with_spectrum(spectrum)), spectrum, rtol=1e-10)


def test_onatski_takes_the_last_gap_above_the_edge_threshold():
    # λ = 20, 19.5, 8, then the bulk. δ = 2·0.5 = 1. Gaps: λ1-λ2 = 0.5 < 1, λ2-λ3 = 11.5,
    # λ3-λ4 = 8 - (5 - 0.5·3^(2/3)) = 4.04, then bulk gaps below 0.25: r̂ = 3 (the largest i
    # with a gap ≥ δ, not the first), and re-running from j = 4 gives the same δ.
    spectrum = np.r_[20.0, 19.5, 8.0, _bulk(30, 4)]
    assert onatski(_with_spectrum(spectrum), max_factors=8) == 3
    # No spike: every gap is below δ, so r̂ = 0.
    assert onatski(_with_spectrum(_bulk(30, 1)), max_factors=8) == 0


def test_ahn_horenstein_statistics_by_hand():
    spectrum = np.r_[20.0, 12.0, 8.0, _bulk(30, 4)]
    table = ahn_horenstein(_with_spectrum(spectrum), max_factors=6)
    v0 = spectrum.sum()
    mock = v0 / np.log(30)
    lam4 = 5.0 - 0.5 * 3.0 ** (2.0 / 3.0)
    np.testing.assert_allclose(
        table["er"][:4], [mock / 20.0, 20.0 / 12.0, 12.0 / 8.0, 8.0 / lam4], rtol=1e-10
    )
    v1, v2, v3 = v0 - 20.0, v0 - 32.0, v0 - 40.0
    np.testing.assert_allclose(
        table["gr"][1:3],
        [np.log(v0 / v1) / np.log(v1 / v2), np.log(v1 / v2) / np.log(v2 / v3)],
        rtol=1e-10,
    )
    assert table.attrs["ER"] == 3  # 8 / 3.96 = 2.02 beats 20/12, 12/8 and the bulk ratios


def test_criteria_find_three_strong_factors():
    rng = np.random.default_rng(1)
    n, t = 120, 60
    lam, f = rng.normal(size=(n, 3)), rng.normal(size=(t, 3))
    e = lam @ f.T + rng.normal(size=(n, t))
    e = e - e.mean(0) - e.mean(1, keepdims=True) + e.mean()
    table = ahn_horenstein(e, max_factors=8)
    assert (table.attrs["ER"], table.attrs["GR"], onatski(e, max_factors=8)) == (3, 3, 3)
    # Pure noise: the mock eigenvalue lets ER and GR choose no factor.
    noise = rng.normal(size=(n, t))
    assert ahn_horenstein(noise, max_factors=8).attrs["ER"] == 0


def test_bad_max_factors():
    e = np.random.default_rng(2).normal(size=(10, 8))
    with pytest.raises(ValueError, match=r"onatski needs 1 <= max_factors <= min\(N, T\) - 5"):
        onatski(e, max_factors=4)
    with pytest.raises(ValueError, match="ahn_horenstein needs"):
        ahn_horenstein(e, max_factors=0)


@pytest.mark.parametrize("criterion", ["ER", "GR", "ED"])
def test_interactive_effects_choose_factors_by_eigenvalue_criteria(criterion):
    # Two factors that also drive the regressor, unit effects, 10% of cells missing.
    rng = np.random.default_rng(3)
    n, t = 80, 40
    lam, f = rng.normal(size=(n, 2)), rng.normal(size=(t, 2))
    common = lam @ f.T
    x = (rng.normal(size=(n, t)) + common)[..., None]
    y = 2.0 * x[..., 0] + rng.normal(size=(n, 1)) + common + rng.normal(size=(n, t))
    y[rng.uniform(size=(n, t)) < 0.1] = np.nan
    res = InteractiveEffects(
        "ic", effects="unit", criterion=criterion, max_factors=6, num_starts=1,
        progress_bar=False,
    ).fit(y, x)  # fmt: skip
    assert res.num_factors == 2
    assert list(res.ic["num_factors"]) == list(range(7))
    assert abs(res.params["beta"][0] - 2.0) < 4 * res.std_errors["beta"][0]
