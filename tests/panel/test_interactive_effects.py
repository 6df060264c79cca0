"""Bai (2009) interactive effects: recovery, R = 0, factor selection, bias correction."""

import jax
import numpy as np
import pytest

from numpyro_semipar.frequentist import InteractiveEffects


def _factor_dgp(seed, n=100, t=30, num_factors=2, beta=(1.0, 3.0)):
    rng = np.random.default_rng(seed)
    lam = rng.normal(size=(n, num_factors))
    f = rng.normal(size=(t, num_factors))
    common = lam @ f.T
    x = np.stack(
        [
            1.0 + common + rng.normal(size=(n, t)),
            lam[:, :1] * f[:, -1][None, :] + rng.normal(size=(n, t)),
        ],
        -1,
    )
    y = x @ np.asarray(beta) + common + rng.normal(size=(n, t))
    return y, x


def test_recovers_beta_with_correlated_factors():
    y, x = _factor_dgp(0)
    res = InteractiveEffects(2, progress_bar=False).fit(y, x, rng_key=jax.random.key(0))
    assert res.converged
    beta = res.params["beta"]
    assert np.all(np.abs(beta - [1.0, 3.0]) < 4 * res.std_errors["beta"])
    np.testing.assert_allclose(beta, [1.0, 3.0], atol=0.06)
    f, lam = res.factors, res.loadings
    np.testing.assert_allclose(f.T @ f / y.shape[1], np.eye(2), atol=1e-10)
    np.testing.assert_allclose(y - x @ beta - lam @ f.T, res.residuals, atol=1e-10)
    # Pooled OLS ignoring the factors is badly biased on this design.
    ols = np.linalg.lstsq(x.reshape(-1, 2), y.ravel(), rcond=None)[0]
    assert np.max(np.abs(ols - [1.0, 3.0])) > 0.2
    assert "panel" in res.to_arviz(num_draws=20).children


def test_zero_factors_is_pooled_ols():
    y, x = _factor_dgp(1, num_factors=1)
    res = InteractiveEffects(0, progress_bar=False, bias_correction=False).fit(y, x)
    ols = np.linalg.lstsq(x.reshape(-1, 2), y.ravel(), rcond=None)[0]
    np.testing.assert_allclose(res.params["beta"], ols, rtol=1e-10)
    assert res.factors.shape == (y.shape[1], 0)


def test_bai_ng_selects_number_of_factors():
    y, x = _factor_dgp(2, n=100, t=40, num_factors=2)
    res = InteractiveEffects("ic", max_factors=3, progress_bar=False).fit(y, x)
    assert res.num_factors == 2
    assert list(res.ic["num_factors"]) == [0, 1, 2, 3]


def test_too_many_factors():
    y, x = _factor_dgp(3, n=20, t=5)
    with pytest.raises(ValueError, match="T > R"):
        InteractiveEffects(5, progress_bar=False).fit(y, x)


def _ar(rng, shape, rho):
    e = np.zeros(shape)
    u = rng.normal(size=shape)
    e[..., 0] = u[..., 0]
    for s in range(1, shape[-1]):
        e[..., s] = rho * e[..., s - 1] + np.sqrt(1 - rho**2) * u[..., s]
    return e


@pytest.mark.slow
def test_bias_correction_under_serial_correlation():
    # Persistent factor f_t and a persistent regressor component lambda_i h_t with AR(1) errors
    # (rho = 0.7): Bai's estimator has an O(1/T) bias from serial correlation (Bai 2009 C term,
    # Moon-Weidner B3); the correction removes most of it.
    design = np.random.default_rng(123)
    t = 20
    f, h = _ar(design, (1, t), 0.8).T, _ar(design, (1, t), 0.8).T
    raw, corrected = [], []
    for rep in range(16):
        rng = np.random.default_rng(rep)
        lam = 1.0 + rng.normal(size=(500, 1))
        x = (lam @ h.T + lam @ f.T + rng.normal(size=(500, t)))[..., None]
        y = x[..., 0] + lam @ f.T + _ar(rng, (500, t), 0.7)
        res = InteractiveEffects(1, num_starts=1, bandwidth=4, progress_bar=False).fit(y, x)
        raw.append(res.uncorrected_beta[0] - 1.0)
        corrected.append(res.params["beta"][0] - 1.0)
    raw_bias, corrected_bias = np.mean(raw), np.mean(corrected)
    assert abs(raw_bias) > 3 * np.std(raw) / 4  # the bias is clearly visible (16 draws)
    assert abs(corrected_bias) < abs(raw_bias) / 2
