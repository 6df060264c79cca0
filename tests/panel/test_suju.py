"""Su and Ju (2018) grouped slopes with interactive effects."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_semipar.frequentist import CLasso, SuJu
from numpyro_semipar.panel import (
    grouped_interactive_effects,
    heterogeneous_interactive_effects,
    kmeans,
)

ALPHA = np.array([[0.4, 1.6], [1.0, 1.0], [1.6, 0.4]])


def test_recovers_groups_and_factors(ssp_factors):
    y, x, groups = ssp_factors(0, n=100, t=30)
    res = SuJu(3, 2, c=0.5, progress_bar=False).fit(y, x, rng_key=jax.random.key(0))
    assert res.converged
    assert np.mean(res.groups == groups) >= 0.95
    np.testing.assert_allclose(res.group_coefficients, ALPHA, atol=0.1)
    f, lam = res.factors, res.loadings
    assert f.shape == (30, 2) and lam.shape == (100, 2)
    np.testing.assert_allclose(f.T @ f / 30, np.eye(2), atol=1e-10)
    fitted = np.einsum("itp,ip->it", x, res.params["alpha"][res.groups]) + lam @ f.T
    np.testing.assert_allclose(y - fitted, res.residuals, atol=1e-8)
    assert res.cov.shape == (6, 6) and np.all(np.isfinite(res.std_errors["alpha"]))
    tree = res.to_arviz(num_draws=20)
    assert tree["panel"]["factors"].shape == (30, 2)


def test_zero_factors_matches_classo(ssp_static):
    # With R = 0 and unit effects, Su-Ju is exactly C-Lasso with fixed effects.
    y, x, _ = ssp_static(3, n=100, t=20)
    key = jax.random.key(1)
    search = dict(num_groups="ic", c=[0.25, 0.5, 1.0], max_groups=4, progress_bar=False)
    suju = SuJu(num_factors=0, unit_effects=True, **search).fit(y, x, rng_key=key)
    classo = CLasso(**search).fit(y, x, rng_key=key)
    assert suju.num_groups == classo.num_groups == 3
    np.testing.assert_array_equal(suju.groups, classo.groups)
    np.testing.assert_allclose(suju.params["alpha"], classo.params["alpha"], rtol=1e-8)
    assert suju.factors.shape == (20, 0) and np.isfinite(suju.objective)


def test_bad_input(ssp_factors):
    y, x, _ = ssp_factors(0, n=10, t=4)
    with pytest.raises(ValueError, match="T > R"):
        SuJu(2, 4, c=0.5, progress_bar=False).fit(y, x)
    with pytest.raises(ValueError, match="must exceed p"):
        SuJu(2, 2, c=0.5, progress_bar=False).fit(y, x)
    with pytest.raises(ValueError, match="exceeds the number of units"):
        SuJu(11, 1, c=0.5, progress_bar=False).fit(y, x)
    with pytest.raises(ValueError, match="num_factors must be"):
        SuJu(2, "many")
    with pytest.raises(ValueError, match="cov_type must be"):
        SuJu(2, 1, cov_type="hac")
    with pytest.raises(ValueError, match="criterion must be"):
        SuJu(2, 1, criterion="BIC")


def _two_step(y, x, num_groups, num_factors, seed):
    """Baseline: heterogeneous IFE -> k-means on the slopes -> grouped IFE."""
    beta, _, _, _, _ = heterogeneous_interactive_effects(
        jnp.asarray(y), jnp.asarray(x), num_factors=num_factors
    )
    _, labels = kmeans(np.asarray(beta), num_groups, seed)
    fit = grouped_interactive_effects(y, x, labels, num_groups, num_factors)
    order = np.lexsort(fit.coefficients.T[::-1])
    inverse = np.argsort(order)
    return fit.coefficients[order], inverse[labels]


@pytest.mark.slow
def test_monte_carlo_classification_coverage_rmse(ssp_factors):
    # SSP groups + 2 factors, x correlated with loadings and factors, N = 200, T = 50.
    rates, covered, rmse, rmse_base = [], [], [], []
    for rep in range(24):
        y, x, groups = ssp_factors(500 + rep, n=200, t=50)
        if rep < 3:  # the information criteria find K = 3 and R = 2
            res = SuJu(
                "ic", "ic", c=[0.25, 0.5, 1.0], max_groups=4, max_factors=3, progress_bar=False
            ).fit(y, x, rng_key=jax.random.key(rep))
            assert res.num_groups == 3 and res.num_factors == 2
        else:
            res = SuJu(3, 2, c=[0.25, 0.5, 1.0], progress_bar=False).fit(
                y, x, rng_key=jax.random.key(rep)
            )
        rates.append(np.mean(res.groups == groups))
        ci = res.conf_int(alpha=0.05).to_numpy()
        covered.extend((ci[:, 0] <= ALPHA.ravel()) & (ALPHA.ravel() <= ci[:, 1]))
        rmse.append(np.sqrt(np.mean((res.group_coefficients - ALPHA) ** 2)))
        base, _ = _two_step(y, x, 3, 2, rep)
        rmse_base.append(np.sqrt(np.mean((base - ALPHA) ** 2)))
    print(np.mean(rates), np.mean(covered), np.mean(rmse), np.mean(rmse_base))
    assert np.mean(rates) >= 0.97
    assert 0.90 <= np.mean(covered) <= 0.98
    assert np.mean(rmse) <= np.mean(rmse_base) * 1.01


def test_empty_group_is_an_error(ssp_factors):
    y, x, _ = ssp_factors(0, n=20, t=10)
    with pytest.raises(ValueError, match="estimated group 2 is empty"):
        grouped_interactive_effects(y, x, np.r_[np.zeros(10, int), np.ones(10, int)], 3, 1)


def test_first_fit_compiles_only_its_programs_and_a_refit_nothing(ssp_factors):
    # A one-off fit is mostly XLA compilation: it should compile the estimator's programs
    # (preliminary IFE, the C-Lasso path's start, loop and assignment, the post-Lasso Bai fit)
    # and no eagerly dispatched glue (which cost 51 more programs, about 4 s of a fresh
    # process at N = 100, T = 20). Shapes no other test uses, so nothing is cached yet.
    from tests._compile_counter import count_backend_compiles

    y, x, _ = ssp_factors(5, n=41, t=13)
    estimator = SuJu(3, 1, c=0.5, progress_bar=False)
    key = jax.random.key(2)
    with count_backend_compiles() as first:
        estimator.fit(y, x, rng_key=key)
    assert first.count <= 6, first.count
    with count_backend_compiles() as second:
        estimator.fit(y, x, rng_key=key)
    assert second.count == 0
