"""C-Lasso against Stata's classifylasso on the SSP savings panel.

Reference: classifylasso (Huang, Wang and Zhou, Stata Journal 2024) run on its own example data
(``saving.dta`` = ``savings_ssp.csv``), log published in the public repository
github.com/cmg777/starter-academic-v501, file
``content/post/stata_panel_lasso_cluster/execution_log.txt`` (commit 18cea475), command

    classifylasso savings lagsavings cpi interest gdp, grouplist(1/5) lambda(1.5485) ///
        tolerance(1e-4) dynamic

(K = 2 selected; 31 and 25 countries; the group lists are in the same repository's
``stata_panel_lasso_cluster_savings_groups.csv``), and the static model

    classifylasso savings cpi interest gdp, grouplist(1/5) tolerance(1e-4)

with classifylasso's default ``lambda(0.2)`` and ``maxiterations(20)`` (K = 2; 34 and 22
countries). classifylasso's ``lambda`` is our ``c``: it
uses ``λ = lambda · T^(-1/3)``, and the savings data are standardised within country, so
``s²_Y = 1``. Its ``dynamic`` option halves the panel at ``year <= floor((1 + 15 - 1)/2) = 7``.
"""

import numpy as np
import pandas as pd
import pytest

from numpyro_semipar.panel import CLasso, half_panels, split_panel_jackknife
from numpyro_semipar.panel._path import run_penalties

SAVINGS = "/work/shared/data/panel/savings_ssp.csv"
DYNAMIC = ["lagsavings", "cpi", "interest", "gdp"]
# classifylasso's post-Lasso (jackknife-corrected) coefficients, 7 significant digits.
STATA_G1 = [0.6952103, -0.160168, -0.1490145, 0.2892251]  # 31 countries
STATA_G2 = [0.6938863, 0.1967192, 0.1225496, 0.1126528]  # 25 countries
STATA_G2_CODES = [4, 8, 11, 13, 14, 16, 19, 20, 26, 27, 29, 32, 36, 38, 40, 43, 44, 47, 48, 49]
STATA_G2_CODES += [50, 52, 54, 55, 56]
STATIC = ["cpi", "interest", "gdp"]
STATA_STATIC = [[-0.1813043, -0.1966381, 0.3345556], [0.4780886, 0.2631097, 0.1116502]]


@pytest.fixture(scope="module")
def savings():
    return pd.read_csv(SAVINGS)


def _fit(savings, split):
    return CLasso(2, c=1.5485, dynamic=True, jackknife_split=split, progress_bar=False).fit(
        "savings", DYNAMIC, data=savings, entity="code", time="year"
    )


def test_dynamic_model_reproduces_classifylasso(savings):
    res = _fit(savings, "disjoint")
    codes = np.asarray(res.entities)
    # Groups are ordered lexicographically: the row with the smaller lagsavings slope first.
    np.testing.assert_array_equal(codes[res.groups == 0], STATA_G2_CODES)
    assert np.sum(res.groups == 1) == 31
    np.testing.assert_allclose(res.params["alpha"], [STATA_G2, STATA_G1], rtol=0, atol=1e-6)


def test_overlapping_halves_differ_from_classifylasso(savings):
    # The other split (halves 1-8 and 8-15) keeps the groups but moves the coefficients.
    res = _fit(savings, "overlap")
    assert np.sum(res.groups == 1) == 31
    diff = np.abs(res.params["alpha"] - np.array([STATA_G2, STATA_G1]))
    assert 0.005 < diff.max() < 0.02


def test_half_panels():
    first, second = half_panels(15, "disjoint")
    np.testing.assert_array_equal(first, np.arange(7))
    np.testing.assert_array_equal(second, np.arange(7, 15))
    first, second = half_panels(15, "overlap")
    np.testing.assert_array_equal(first, np.arange(8))
    np.testing.assert_array_equal(second, np.arange(7, 15))
    for split in ("disjoint", "overlap"):  # even T: one split
        first, second = half_panels(16, split)
        np.testing.assert_array_equal(first, np.arange(8))
        np.testing.assert_array_equal(second, np.arange(8, 16))
    with pytest.raises(ValueError, match="split"):
        half_panels(15, "middle")
    with pytest.raises(ValueError, match="jackknife_split"):
        CLasso(2, jackknife_split="middle")


@pytest.mark.parametrize(("split", "leftover"), [("disjoint", -1 / 1680), ("overlap", 1 / 120)])
def test_jackknife_residual_bias(split, leftover):
    # An estimator with bias exactly 1/T: the correction leaves 2/15 - (1/7 + 1/8)/2 = -1/1680
    # with disjoint halves and 2/15 - 1/8 = 1/120 with overlapping ones (T = 15).
    y, x = np.zeros((3, 15)), np.zeros((3, 15, 1))
    corrected, _ = split_panel_jackknife(lambda ys, xs: 1.0 / ys.shape[1], y, x, split=split)
    assert corrected == pytest.approx(leftover, rel=1e-12)


def _fit_static(savings, c, assign):
    return CLasso(2, c=c, assign=assign, progress_bar=False).fit(
        "savings", STATIC, data=savings, entity="code", time="year"
    )


def test_static_model_reproduces_classifylasso_with_its_assignment_rule(savings):
    # At classifylasso's default lambda(0.2) the Lasso shrinks no unit exactly onto a centre,
    # so every unit is assigned by distance; classifylasso's rule is relative to the centre.
    res = _fit_static(savings, 0.2, "relative")
    assert not res.shrunk.any()
    np.testing.assert_array_equal(np.bincount(res.groups), [34, 22])
    np.testing.assert_allclose(res.params["alpha"], STATA_STATIC, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("c", "sizes"), [(0.2, [30, 26]), (0.5, [32, 24])])
def test_static_model_nearest_centre(savings, c, sizes):
    # Absolute distance moves four units at c = 0.2; the 32/24 split reported earlier is
    # c = 0.5, not classifylasso's tuning constant.
    res = _fit_static(savings, c, "nearest")
    np.testing.assert_array_equal(np.bincount(res.groups), sizes)
    beta = res.unit_coefficients
    pen = res.penalized_coefficients
    nearest = np.argmin(np.linalg.norm(beta[:, None, :] - pen[None], axis=-1), axis=1)
    np.testing.assert_array_equal(res.groups, nearest)


@pytest.mark.parametrize(("relative", "sizes"), [(True, [34, 22]), (False, [30, 26])])
def test_static_groups_do_not_depend_on_start_or_stopping(savings, relative, sizes):
    # classifylasso starts the centres at zero and stops after 20 iterations; CLasso starts
    # at k-means centres and iterates to convergence. Neither changes the classification.
    wide = savings.set_index(["code", "year"]).sort_index()
    y = wide["savings"].to_numpy().reshape(56, 15)
    x = wide[STATIC].to_numpy().reshape(56, 15, 3)
    yd, xd = y - y.mean(1, keepdims=True), x - x.mean(1, keepdims=True)
    beta = np.linalg.solve(
        np.einsum("itp,itq->ipq", xd, xd), np.einsum("itp,it->ip", xd, yd)[..., None]
    )[..., 0]
    path = run_penalties(
        yd,
        xd,
        beta,
        np.zeros((15, 0)),
        np.zeros((2, 3)),
        np.array([0.2 * 15 ** (-1 / 3) / 56]),
        num_factors=0,
        max_iter=20,
        tol=0.0,
        relative_distance=relative,
    )
    assert path.num_iter[0] == 20
    # Sizes with the negative-cpi group (classifylasso's G1) first.
    order = np.argsort(path.alpha[0][:, 0])
    np.testing.assert_array_equal(np.bincount(path.groups[0], minlength=2)[order], sizes)
