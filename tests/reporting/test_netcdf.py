"""EstimationResult.to_netcdf / from_netcdf: everything a user reads comes back identical."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from numpyro_semipar.moments import JTest
from numpyro_semipar.reporting import EstimationResult, summary


def _result(cov="full"):
    k = 6
    rng = np.random.default_rng(0)
    a = rng.normal(size=(k, k))
    covariance = a @ a.T / k if cov == "full" else None
    if cov == "unidentified":
        covariance = np.diag([0.1, 0.2, np.nan, 0.3, 0.4, 0.5])
        covariance[2, :] = covariance[:, 2] = np.nan
    return EstimationResult(
        # Not alphabetical: the order of the sites is part of the result.
        params={"sigma": np.array(0.7), "alpha": rng.normal(size=(2, 2)), "beta": np.ones(1)},
        cov=covariance,
        estimator="Test",
        nobs=250,
        loglik=-123.4,
        converged=False,
        objective=0.5,
        objective_name="negative mean log-likelihood",
        cov_type="sandwich",
        message="iteration limit",
        num_iter=17,
        extra={
            "groups": np.array([0, 1, 1, 0]),
            "hessian": rng.normal(size=(6, 6)),
            "flags": np.array([True, False]),
            "names": ("x1", "x2"),
            "moment_names": ["m0", "m1", "m2"],
            "num_sims": 20,
            "simulation_factor": 1.05,
            "exactly_identified": True,
            "scores": None,
            "j_test": JTest(statistic=0.84, dof=1, pvalue=0.36),
            "tests": {"statistic": 1.5, "df": 1, "p_value": 0.22, "weights": np.arange(3.0)},
            "ic": pd.DataFrame({"K": [1, 2], "IC": [0.5, np.nan]}, index=["a", "b"]),
            "plot_cdf": lambda: None,
            "arviz_groups": {"panel": lambda: xr.Dataset({"label": (["unit"], [0, 1, 1])})},
        },
        dims={"alpha": ("group", "regressor")},
        coords={"group": [0, 1], "regressor": ["x1", "x2"]},
    )


@pytest.mark.parametrize("cov", ["full", "unidentified", "none"])
def test_round_trip_keeps_every_field(cov, tmp_path):
    result = _result(cov)
    path = tmp_path / "result.nc"
    result.to_netcdf(path)
    back = EstimationResult.from_netcdf(path)

    assert list(back.params) == ["sigma", "alpha", "beta"]
    for name, value in result.params.items():
        assert back.params[name].shape == value.shape
        np.testing.assert_array_equal(back.params[name], value)
    if result.cov is None:
        assert back.cov is None
    else:
        np.testing.assert_array_equal(back.cov, result.cov)  # NaN where unidentified
    for field in ("estimator", "nobs", "loglik", "converged", "objective", "objective_name"):
        assert getattr(back, field) == getattr(result, field), field
    assert (back.cov_type, back.message, back.num_iter) == ("sandwich", "iteration limit", 17)
    assert back.dims == {"alpha": ("group", "regressor")}
    assert back.coords == {"group": [0, 1], "regressor": ["x1", "x2"]}

    pd.testing.assert_frame_equal(back.summary(), result.summary())
    for name in ("bse", "tvalues", "pvalues"):
        pd.testing.assert_series_equal(getattr(back, name), getattr(result, name))
    pd.testing.assert_frame_equal(back.cov_params(), result.cov_params())
    pd.testing.assert_frame_equal(back.conf_int(alpha=0.1), result.conf_int(alpha=0.1))
    assert (back.llf, back.aic, back.bic) == (result.llf, result.aic, result.bic)

    np.testing.assert_array_equal(back.groups, result.groups)
    np.testing.assert_array_equal(back.hessian, result.hessian)
    assert back.flags.dtype == bool and back.flags.tolist() == [True, False]
    assert back.names == ("x1", "x2") and back.moment_names == ["m0", "m1", "m2"]
    assert back.num_sims == 20 and isinstance(back.num_sims, int)
    assert back.simulation_factor == 1.05 and back.exactly_identified is True
    assert back.scores is None
    assert back.j_test.statistic == 0.84 and back.j_test == (0.84, 1, 0.36)
    assert {k: v for k, v in back.tests.items() if k != "weights"} == {
        "statistic": 1.5,
        "df": 1,
        "p_value": 0.22,
    }
    np.testing.assert_array_equal(back.tests["weights"], np.arange(3.0))
    pd.testing.assert_frame_equal(back.ic, result.ic)
    assert "plot_cdf" not in back.extra
    np.testing.assert_array_equal(back.arviz_groups["panel"]["label"].values, [0, 1, 1])
    # The restored result converts to ArviZ like the original (its groups and named dims).
    tree = back.to_arviz(num_draws=5)
    assert tree.posterior["alpha"].dims == ("chain", "draw", "group", "regressor")
    assert "panel" in tree.children


def test_file_is_a_plain_datatree_that_lists_what_was_not_saved(tmp_path):
    path = tmp_path / "result.nc"
    _result().to_netcdf(path)
    with xr.open_datatree(path, engine="h5netcdf") as tree:
        assert {"point_estimate", "vcov", "extra", "panel"} <= set(tree.children)
        assert tree.attrs["fields_not_saved"] == "plot_cdf"
        np.testing.assert_array_equal(tree["point_estimate"]["sigma"].values, 0.7)
        # The frequentist summary reads the file as it reads a to_arviz tree.
        pd.testing.assert_frame_equal(summary(tree), summary(_result()))


def test_reading_a_foreign_file_is_a_clear_error(tmp_path):
    path = tmp_path / "other.nc"
    xr.DataTree(xr.Dataset({"a": ("x", [1.0])})).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ValueError, match="not written by EstimationResult.to_netcdf"):
        EstimationResult.from_netcdf(path)
