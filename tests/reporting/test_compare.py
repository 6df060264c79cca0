"""Frequentist trees in ArviZ: keys for the draws, a Wald summary, one forest with a posterior."""

import re

import arviz as az
import jax
import matplotlib
import numpy as np
import pytest
from scipy import stats

from numpyro_semipar.reporting import EstimationResult, plot_forest_compare, summary

matplotlib.use("Agg")


@pytest.fixture
def result():
    cov = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.0], [0.0, 0.0, 0.0025]])
    return EstimationResult(
        params={"beta": np.array([1.0, -0.5]), "sigma": np.array(0.7)},
        cov=cov,
        estimator="Test",
        nobs=100,
        loglik=-12.0,
    )


def _posterior(seed=0, num_chains=4, num_draws=300):
    # A posterior as arviz.from_numpyro gives it: several chains, ArviZ's default dims.
    rng = np.random.default_rng(seed)
    return az.from_dict(
        {
            "posterior": {
                "beta": rng.normal([3.0, 4.0], 0.1, (num_chains, num_draws, 2)),
                "sigma": rng.normal(5.0, 0.1, (num_chains, num_draws)),
            }
        }
    )


def test_draws_follow_the_key(result):
    one = result.to_arviz(jax.random.key(3), num_draws=20).posterior["beta"].values
    same = result.to_arviz(jax.random.key(3), num_draws=20).posterior["beta"].values
    other = result.to_arviz(jax.random.key(4), num_draws=20).posterior["beta"].values
    np.testing.assert_array_equal(one, same)
    assert not np.allclose(one, other)


def test_without_a_key_each_call_draws_afresh_and_records_its_seed(result):
    first = result.to_arviz(num_draws=20).posterior
    second = result.to_arviz(num_draws=20).posterior
    assert not np.allclose(first["beta"].values, second["beta"].values)
    # The recorded seed reproduces the draws: the generator is NumPy's default one.
    seed = int(re.fullmatch(r"entropy (\d+)", first.attrs["draws_seed"]).group(1))
    normals = np.random.default_rng(seed).standard_normal((20, 3))
    eigen, vectors = np.linalg.eigh(result.cov)
    root = vectors * np.sqrt(eigen)
    expected = result.flat_params + normals @ root.T
    np.testing.assert_allclose(first["beta"].values[0], expected[:, :2], rtol=1e-12)


def test_deprecated_seed_and_positional_draws(result):
    with pytest.warns(DeprecationWarning, match=r"rng_key=jax.random.key\(5\)"):
        old = result.to_arviz(num_draws=10, seed=5)
    new = result.to_arviz(jax.random.key(5), num_draws=10)
    np.testing.assert_array_equal(old.posterior["beta"].values, new.posterior["beta"].values)
    with pytest.warns(DeprecationWarning, match=r"to_arviz\(num_draws=7\)"):
        assert result.to_arviz(7).posterior.sizes["draw"] == 7


def test_chains_draws_dims_and_coords(result):
    tree = result.to_arviz(
        jax.random.key(0),
        num_chains=3,
        num_draws=40,
        dims={"beta": ["regressor"]},
        coords={"regressor": ["x", "z"]},
    )
    beta = tree.posterior["beta"]
    assert beta.dims == ("chain", "draw", "regressor") and beta.shape == (3, 40, 2)
    assert list(beta["regressor"].values) == ["x", "z"]
    assert tree.point_estimate["beta"].sel(regressor="z").item() == -0.5
    with pytest.raises(ValueError, match=r"dims\['beta'\] = \['a', 'b'\] names 2 dimensions"):
        result.to_arviz(num_draws=2, dims={"beta": ["a", "b"]})
    with pytest.raises(ValueError, match=r"coords\['regressor'\] has 3 labels"):
        result.to_arviz(num_draws=2, dims={"beta": ["regressor"]}, coords={"regressor": [1, 2, 3]})
    with pytest.raises(TypeError, match="rng_key must be a JAX PRNG key"):
        result.to_arviz("key")


def test_frequentist_summary_is_the_exact_wald_table(result):
    tree = result.to_arviz(jax.random.key(0), num_draws=50)
    table = summary(tree)
    assert list(table.columns) == ["mean", "sd", "eti95_lb", "eti95_ub"]  # no ESS, no R-hat
    assert list(table.index) == ["beta[0]", "beta[1]", "sigma"]
    se = np.sqrt([0.04, 0.09, 0.0025])
    np.testing.assert_allclose(table["mean"], [1.0, -0.5, 0.7], rtol=0, atol=0)
    np.testing.assert_allclose(table["sd"], se, rtol=1e-15)
    np.testing.assert_allclose(
        table["eti95_ub"], [1.0, -0.5, 0.7] + stats.norm.ppf(0.975) * se, rtol=1e-14
    )
    # The same table from the result itself, and the row labels of arviz.summary.
    np.testing.assert_array_equal(summary(result, ci_prob=0.9).to_numpy()[:, :2], table.iloc[:, :2])
    assert list(az.summary(tree, kind="stats").index) == list(table.index)
    np.testing.assert_allclose(
        summary(result, ci_prob=0.9)["eti90_lb"], result.conf_int(alpha=0.1).iloc[:, 0]
    )


def test_bayesian_summary_keeps_arviz_diagnostics():
    table = summary(_posterior(), ci_prob=0.9)
    assert {"ess_bulk", "r_hat", "eti90_lb"} <= set(table.columns)


def test_forest_shows_posterior_and_result_side_by_side(result):
    pc = plot_forest_compare(
        {"NUTS": _posterior(), "ML": result}, rng_key=jax.random.key(0), backend="matplotlib"
    )
    twigs = pc.viz["twig"]
    assert list(twigs["model"].values) == ["NUTS", "ML"]
    # Each model's interval is drawn, around its own estimates (the posterior sits at 3, 4, 5).
    for site, centres in {"beta": ([3.0, 4.0], [1.0, -0.5]), "sigma": ([5.0], [0.7])}.items():
        for model, centre in zip(["NUTS", "ML"], centres, strict=True):
            lines = np.atleast_1d(twigs[site].sel(model=model).values)
            for line, c in zip(lines, centre, strict=True):
                low, high = line.get_xdata()
                assert np.isfinite([low, high]).all() and low < c < high
    figure = pc.viz["figure"].item()
    legend = [t.get_text() for lg in figure.legends for t in lg.texts]
    assert legend == ["NUTS", "ML"]
    matplotlib.pyplot.close(figure)


def test_forest_rejects_a_tree_of_another_shape(result):
    with pytest.raises(ValueError, match=r"to_arviz\(num_chains=4, num_draws=300\)"):
        plot_forest_compare(
            {"NUTS": _posterior(), "ML": result.to_arviz(num_draws=10)}, backend="none"
        )
