"""C-Lasso post-estimation: ``refit`` for another number of groups, ``predict_groups``."""

import numpy as np
import pandas as pd
import pytest

from numpyro_semipar.panel import CLasso, predict_groups

SAVINGS = "/work/shared/data/panel/savings_ssp.csv"
DYNAMIC = ["lagsavings", "cpi", "interest", "gdp"]
OPTIONS = dict(c=1.5485, dynamic=True, progress_bar=False)


@pytest.fixture(scope="module")
def savings():
    return pd.read_csv(SAVINGS)


def _fit(savings, num_groups, **options):
    return CLasso(num_groups, **{**OPTIONS, **options}).fit(
        "savings", DYNAMIC, data=savings, entity="code", time="year"
    )


@pytest.fixture(scope="module")
def searched(savings):
    return _fit(savings, "ic", max_groups=3)


@pytest.mark.parametrize("num_groups", [1, 3, 4])
def test_refit_equals_a_fit_with_that_number_of_groups(savings, searched, num_groups):
    # K = 1 and 3 come from the stored path, K = 4 was not searched and is run afresh.
    refitted = searched.refit(num_groups)
    direct = _fit(savings, num_groups)
    np.testing.assert_array_equal(refitted.groups, direct.groups)
    np.testing.assert_allclose(refitted.params["alpha"], direct.params["alpha"], rtol=1e-12)
    np.testing.assert_allclose(refitted.cov, direct.cov, rtol=1e-10)
    assert refitted.requested_num_groups == num_groups
    if num_groups <= 3:  # the stored candidates' table stays with the refit
        assert refitted.ic.equals(searched.ic)


def test_refit_picks_the_best_tuning_constant(savings):
    res = _fit(savings, "ic", max_groups=2, c=[0.5, 1.5485])
    rows = res.ic[res.ic["num_groups"] == 2]
    best_c = rows["c"].to_numpy()[np.argmin(rows["ic"].to_numpy())]
    for c in (None, 0.5):
        refitted = res.refit(2, c=c)
        direct = _fit(savings, 2, c=best_c if c is None else c)
        np.testing.assert_array_equal(refitted.groups, direct.groups)
        np.testing.assert_allclose(refitted.params["alpha"], direct.params["alpha"], rtol=1e-12)
    with pytest.raises(ValueError, match="num_groups"):
        res.refit(0)
    with pytest.raises(ValueError, match="c must be"):
        res.refit(2, c=-1.0)


def _least_squares_groups(coefs, y, x):
    # Direct computation: for each unit and group, regress y - x'alpha on a constant.
    n = y.shape[0]
    ssr = np.empty((n, coefs.shape[0]))
    for i in range(n):
        for k, alpha in enumerate(coefs):
            r = y[i] - x[i] @ alpha
            ssr[i, k] = np.sum((r - r.mean()) ** 2)
    return np.argmin(ssr, axis=1), ssr


def test_predict_groups_least_squares(savings, searched):
    res = searched.refit(2)
    wide = savings.set_index(["code", "year"]).sort_index()
    y = wide["savings"].to_numpy().reshape(56, 15)
    x = wide[DYNAMIC].to_numpy().reshape(56, 15, 4)
    expected, ssr = _least_squares_groups(res.params["alpha"], y, x)
    got = res.predict_groups("savings", DYNAMIC, data=savings, entity="code", time="year")
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(res.predict_groups(y[:5], x[:5]), expected[:5])
    np.testing.assert_allclose(predict_groups(res.params["alpha"], y, x)[1], ssr, rtol=1e-12)
    # The least-squares rule is not the C-Lasso's, but agrees on most estimation units.
    assert np.mean(got == res.groups) > 0.8
    with pytest.raises(ValueError, match="regressors"):
        res.predict_groups(y, x[..., :3])
    with pytest.raises(ValueError, match="estimation used"):
        res.predict_groups(
            "savings",
            ["cpi", "lagsavings", "interest", "gdp"],
            data=savings,
            entity="code",
            time="year",
        )


def test_predict_groups_recovers_known_groups():
    # New units from two known groups with long series are classified without error.
    rng = np.random.default_rng(0)
    alpha = np.array([[0.4, 1.6], [1.6, 0.4]])
    truth = rng.integers(0, 2, size=200)
    x = rng.normal(size=(200, 40, 2))
    y = rng.normal(size=(200, 1)) + np.einsum("itp,ip->it", x, alpha[truth])
    y += rng.normal(size=(200, 40))
    np.testing.assert_array_equal(predict_groups(alpha, y, x)[0], truth)
