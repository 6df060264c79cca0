"""Panel input handling: arrays, long DataFrames, bad input."""

import numpy as np
import pandas as pd
import pytest

from numpyro_semipar.panel import as_panel_data


def _long(y, x):
    n, t = y.shape
    return pd.DataFrame(
        {
            "firm": np.repeat([f"f{i:02d}" for i in range(n)], t),
            "year": np.tile(2000 + np.arange(t), n),
            "sales": y.ravel(),
            "price": x[..., 0].ravel(),
            "cost": x[..., 1].ravel(),
        }
    )


def test_frame_and_arrays_agree():
    rng = np.random.default_rng(0)
    y, x = rng.normal(size=(4, 6)), rng.normal(size=(4, 6, 2))
    frame = _long(y, x).sample(frac=1.0, random_state=1)  # row order must not matter
    panel = as_panel_data("sales", ["price", "cost"], data=frame, entity="firm", time="year")
    np.testing.assert_array_equal(panel.y, y)
    np.testing.assert_array_equal(panel.x, x)
    assert panel.regressor_names == ("price", "cost")
    assert list(panel.times) == list(2000 + np.arange(6))
    arrays = as_panel_data(y, x[..., 0])
    assert arrays.x.shape == (4, 6, 1)


def test_nan_is_named():
    y, x = np.zeros((3, 5)), np.ones((3, 5, 1))
    y[1, 3] = np.nan
    with pytest.raises(ValueError, match="unit 1, period 3"):
        as_panel_data(y, x)
    x[2, 0, 0] = np.inf
    with pytest.raises(ValueError, match="x contains"):
        as_panel_data(np.zeros((3, 5)), x)


def test_unbalanced_and_duplicates():
    rng = np.random.default_rng(0)
    frame = _long(rng.normal(size=(3, 5)), rng.normal(size=(3, 5, 2)))
    with pytest.raises(ValueError, match="unbalanced panel: unit firm='f01'"):
        as_panel_data("sales", ["price"], data=frame.drop(index=7), entity="firm", time="year")
    with pytest.raises(ValueError, match="duplicate"):
        as_panel_data(
            "sales", ["price"], data=pd.concat([frame, frame.iloc[:1]]), entity="firm", time="year"
        )
    with pytest.raises(ValueError, match="no column"):
        as_panel_data("sales", ["nope"], data=frame, entity="firm", time="year")


def test_shapes_checked():
    with pytest.raises(ValueError, match="x must have shape"):
        as_panel_data(np.zeros((3, 5)), np.zeros((3, 4, 1)))
    with pytest.raises(ValueError, match="at least"):
        as_panel_data(np.zeros((3, 1)), np.zeros((3, 1, 1)))
