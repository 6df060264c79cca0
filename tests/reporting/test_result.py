import arviz as az
import jax
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from numpyro_semipar.reporting import EstimationResult


@pytest.fixture
def result():
    cov = np.diag([0.04, 0.01, 0.09, 0.0025])
    cov[0, 1] = cov[1, 0] = 0.01
    return EstimationResult(
        params={"beta": np.array([1.0, -0.5, 2.0]), "sigma": np.array(0.7)},
        cov=cov,
        estimator="Test",
        nobs=100,
        loglik=-123.4,
        converged=True,
        cov_type="hessian",
        extra={"groups": np.array([0, 1, 1])},
    )


def test_flat_names_and_std_errors(result):
    assert result.param_names == ["beta[0]", "beta[1]", "beta[2]", "sigma"]
    np.testing.assert_allclose(result.std_errors["beta"], [0.2, 0.1, 0.3])
    np.testing.assert_allclose(result.std_errors["sigma"], 0.05)
    np.testing.assert_array_equal(result.groups, [0, 1, 1])
    with pytest.raises(AttributeError):
        result.nonexistent  # noqa: B018


def test_summary_table(result):
    table = result.summary()
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["estimate", "std. error", "z", "p-value", "2.5%", "97.5%"]
    np.testing.assert_allclose(table.loc["beta[0]", "z"], 5.0)
    np.testing.assert_allclose(table.loc["sigma", "2.5%"], 0.7 - 1.959963984540054 * 0.05)
    np.testing.assert_allclose(table.loc["beta[1]", "p-value"], 5.733031437583878e-07, rtol=1e-9)
    text = repr(table)
    assert "Estimator:" in text and "Test" in text and "Log-likelihood" in text
    # derived frames are plain DataFrames
    assert type(table[["estimate"]]) is pd.DataFrame


def test_cov_shape_is_checked():
    with pytest.raises(ValueError, match="cov has shape"):
        EstimationResult(params={"a": np.zeros(2)}, cov=np.eye(3), estimator="x")


def test_to_arviz_summary_forest_and_netcdf(result, tmp_path):
    tree = result.to_arviz(jax.random.key(1), num_draws=4000)
    assert isinstance(tree, xr.DataTree)
    assert set(tree.children) >= {"posterior", "point_estimate", "vcov"}
    assert tree["posterior"]["beta"].shape == (1, 4000, 3)
    stats = az.summary(tree, kind="stats", ci_prob=0.95)
    # the draws reproduce estimate and std. error within Monte Carlo error
    np.testing.assert_allclose(stats["mean"].to_numpy(), result.flat_params, atol=0.02)
    np.testing.assert_allclose(stats["sd"].to_numpy(), result.flat_std_errors, rtol=0.05)
    assert tree["vcov"].attrs["estimator"] == "Test"
    assert tree["point_estimate"].attrs["nobs"] == 100
    az.plot_forest(tree, backend="none")
    path = tmp_path / "result.nc"
    tree.to_netcdf(path)
    back = xr.open_datatree(path)
    np.testing.assert_allclose(back["vcov"]["cov"].to_numpy(), result.cov)
    np.testing.assert_allclose(back["point_estimate"]["beta"].to_numpy(), result.params["beta"])
    assert back["vcov"].attrs["converged"] == 1
    back.close()


def test_unidentified_parameters_give_nan_draws():
    cov = np.array([[np.nan, np.nan], [np.nan, 0.25]])
    res = EstimationResult(params={"a": np.array(1.0), "b": np.array(2.0)}, cov=cov, estimator="x")
    tree = res.to_arviz(num_draws=10)
    assert np.isnan(tree["posterior"]["a"]).all()
    assert np.isfinite(tree["posterior"]["b"]).all()
