"""C-Lasso (SSP 2016) with unit fixed effects."""

import jax
import numpy as np
import pandas as pd
import pytest

from numpyro_semipar.frequentist import CLasso

ALPHA = np.array([[0.4, 1.6], [1.0, 1.0], [1.6, 0.4]])
# One configuration (N = 100, T = 20, K <= 4, three values of c) for most tests: the jitted
# loop compiles once per shape, and compilation dominates the test time.
SEARCH = dict(num_groups="ic", c=[0.25, 0.5, 1.0], max_groups=4, progress_bar=False)


@pytest.fixture(scope="module")
def fitted(ssp_static):
    y, x, groups = ssp_static(3, n=100, t=20)
    result = CLasso(**SEARCH).fit(y, x, rng_key=jax.random.key(1))
    return y, x, groups, result


def test_classifies_and_estimates(fitted):
    y, x, groups, res = fitted
    assert res.converged
    assert res.num_groups == 3  # the IC finds the three groups
    assert set(res.ic["num_groups"]) == {1, 2, 3, 4}
    assert np.mean(res.groups == groups) >= 0.9
    np.testing.assert_allclose(res.group_coefficients, ALPHA, atol=0.12)
    # Post-Lasso estimates lie within a few standard errors of the truth.
    assert np.all(np.abs(res.group_coefficients - ALPHA) < 5 * res.group_std_errors)
    # Exact shrinkage: shrunk units' C-Lasso slopes equal their penalised centre bit for bit.
    shrunk = res.shrunk
    assert shrunk.sum() > 30
    pen = res.penalized_coefficients[res.groups[shrunk]]
    assert np.array_equal(res.unit_coefficients[shrunk], pen)


def test_result_is_consistent(fitted):
    y, x, _, res = fitted
    coefs = res.params["alpha"]
    assert np.all(np.diff(coefs[:, 0]) > 0)  # lexicographic group labels
    fitted_y = res.fixed_effects[:, None] + np.einsum("itp,ip->it", x, coefs[res.groups])
    np.testing.assert_allclose(y - fitted_y, res.residuals, atol=1e-10)
    summary = res.group_summary
    assert list(summary["size"]) == list(np.bincount(res.groups))
    table = res.summary()
    assert table.shape[0] == 6
    tree = res.to_arviz(num_draws=50)
    assert tree.posterior["alpha"].dims == ("chain", "draw", "group", "regressor")
    assert list(tree.posterior["regressor"].values) == list(res.regressor_names)
    assert tree["panel"]["group_label"].sizes["unit"] == y.shape[0]
    np.testing.assert_array_equal(tree["panel"]["group_label"].values, res.groups)


def test_reproducible_and_frame_input(fitted):
    y, x, _, res = fitted
    n, t = y.shape
    frame = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n), t),
            "t": np.tile(np.arange(t), n),
            "y": y.ravel(),
            "x1": x[..., 0].ravel(),
            "x2": x[..., 1].ravel(),
        }
    )
    again = CLasso(**SEARCH).fit(
        "y", ["x1", "x2"], data=frame, entity="id", time="t", rng_key=jax.random.key(1)
    )
    np.testing.assert_array_equal(again.groups, res.groups)
    np.testing.assert_allclose(again.params["alpha"], res.params["alpha"], rtol=1e-12)
    assert again.group_summary.columns[2] == "x1"


def test_bad_input():
    y = np.zeros((4, 6))
    x = np.ones((4, 6, 1))
    with pytest.raises(ValueError, match="exceeds the number of units"):
        CLasso(5, c=0.5, progress_bar=False).fit(y, x)
    with pytest.raises(ValueError, match="num_groups must be"):
        CLasso("many", progress_bar=False).fit(y, x)
    with pytest.raises(ValueError, match="c must be a positive"):
        CLasso(2, c=-1.0, progress_bar=False).fit(y, x)
    # NaN marks a missing cell (tests/panel/test_classo_unbalanced.py); inf is an error.
    y[2, 1] = np.inf
    with pytest.raises(ValueError, match="unit 2, period 1"):
        CLasso(2, c=0.5, progress_bar=False).fit(y, x)
    rng = np.random.default_rng(0)
    xx = rng.normal(size=(4, 6, 1))
    xx[3] = 0.0  # unit 3's regressor does not vary: its slope is not identified
    with pytest.raises(ValueError, match="unit 3"):
        CLasso(2, c=0.5, progress_bar=False).fit(rng.normal(size=(4, 6)), xx)


def test_jackknife_reduces_nickell_bias():
    # SSP dynamic design with two groups: y_it = mu_i (1 - a1) + a1 y_i,t-1 + a2 x_it + e_it.
    rng = np.random.default_rng(11)
    n, t, burn = 100, 20, 50
    truth = np.array([[0.4, 1.5], [0.8, 0.5]])
    groups = (np.arange(n) >= n // 2).astype(int)
    mu = rng.normal(-1.0, 1.0, size=n)
    xs = 0.2 * mu[:, None] + rng.normal(size=(n, t + burn))
    ys = np.zeros((n, t + burn + 1))
    a = truth[groups]
    for s in range(t + burn):
        ys[:, s + 1] = mu * (1 - a[:, 0]) + a[:, 0] * ys[:, s] + a[:, 1] * xs[:, s]
        ys[:, s + 1] += rng.normal(size=n)
    y = ys[:, burn + 1 :]
    x = np.stack([ys[:, burn:-1], xs[:, burn:]], -1)
    res = CLasso(**SEARCH, dynamic=True).fit(y, x)
    assert res.num_groups == 2
    assert np.mean(res.groups == groups) >= 0.9
    before = np.abs(res.uncorrected_coefficients[:, 0] - truth[:, 0])
    after = np.abs(res.group_coefficients[:, 0] - truth[:, 0])
    print(before, after)
    assert before.max() > 0.03  # the Nickell bias is visible at T = 20
    assert after.max() < before.max() / 2
    assert after.sum() < before.sum()


@pytest.mark.slow
def test_ssp_static_monte_carlo(ssp_static):
    # SSP static design, N = 200, T = 25, 20 replications: IC picks K = 3 in >= 90% and the
    # correct-classification rate averages >= 0.95.
    picks, rates = [], []
    for rep in range(20):
        y, x, groups = ssp_static(100 + rep, n=200, t=25)
        res = CLasso("ic", c=[0.25, 0.5, 1.0], max_groups=4, progress_bar=False).fit(
            y, x, rng_key=jax.random.key(rep)
        )
        picks.append(res.num_groups == 3)
        if res.num_groups == 3:
            rates.append(np.mean(res.groups == groups))
    assert np.mean(picks) >= 0.9
    assert np.mean(rates) >= 0.95


def test_non_convergence_warns(fitted):
    from numpyro_semipar._warnings import ConvergenceWarning

    y, x, _, _ = fitted
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = CLasso(**{**SEARCH, "max_steps": 10, "tol": 1e-300}).fit(y, x)
    assert not res.converged
