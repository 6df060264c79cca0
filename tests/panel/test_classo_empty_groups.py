"""C-Lasso scores classifications with empty groups as classifylasso does (finite IC).

classifylasso (Huang, Wang and Zhou, Stata Journal 2024; ``classifylasso.ado``) runs the
post-Lasso regressions over the groups that remain and adds the penalty of the requested
number of groups: ``IC = ln(MSE) + rho (p) K``. On the SSP savings panel (dynamic model, five
groups requested at this tuning constant) two of the five groups empty.
"""

import jax
import numpy as np
import pandas as pd
import pytest

from numpyro_semipar.panel import CLasso

SAVINGS = "/work/shared/data/panel/savings_ssp.csv"
REGRESSORS = ["lagsavings", "cpi", "interest", "gdp"]


@pytest.fixture(scope="module")
def savings():
    return pd.read_csv(SAVINGS)


def test_empty_groups_get_a_finite_criterion(savings):
    # Which groups empty at K = 5 depends on the k-means start (C-Lasso's objective is not
    # convex): over rng keys 6-29, 6 starts empty two groups, 3 one, the rest none. Key 6 is
    # one of the first kind.
    res = CLasso(5, c=0.493242, dynamic=True, progress_bar=False).fit(
        "savings", REGRESSORS, data=savings, entity="code", time="year", rng_key=jax.random.key(6)
    )
    row = res.ic.iloc[0]
    assert row["empty_groups"] == 2 and res.requested_num_groups == 5
    groups = res.groups
    assert np.unique(groups).size == 3 == res.params["alpha"].shape[0]
    # σ̂²: pooled within-group least squares of within-transformed data, group by group.
    wide = savings.set_index(["code", "year"]).sort_index()
    n, t = savings["code"].nunique(), savings["year"].nunique()
    y = wide["savings"].to_numpy().reshape(n, t)
    x = wide[REGRESSORS].to_numpy().reshape(n, t, len(REGRESSORS))
    yd, xd = y - y.mean(1, keepdims=True), x - x.mean(1, keepdims=True)
    ssr = 0.0
    for k in np.unique(groups):
        xk, yk = xd[groups == k].reshape(-1, 4), yd[groups == k].ravel()
        ssr += np.sum((yk - xk @ np.linalg.lstsq(xk, yk, rcond=None)[0]) ** 2)
    sigma2 = ssr / (n * t)
    assert row["sigma2"] == pytest.approx(sigma2, rel=1e-10)
    penalty = 2.0 / 3.0 / np.sqrt(n * t) * len(REGRESSORS) * 5  # the requested K = 5
    assert row["ic"] == pytest.approx(np.log(sigma2) + penalty, rel=1e-10)
