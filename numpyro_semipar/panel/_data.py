"""Input handling for panels: arrays ``y (N, T)``, ``x (N, T, p)`` or a long DataFrame.

Panels are balanced unless the caller allows missing cells (``allow_missing=True``): then a cell
whose row is absent, or whose ``y`` or any regressor is NaN, is marked unobserved in
``PanelData.observed`` and its values are NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["PanelData", "as_panel_data", "within_transform"]


class PanelData(NamedTuple):
    """A panel as dense float64 arrays (NaN in unobserved cells).

    Attributes
    ----------
    y : ndarray of shape (N, T)
        Dependent variable, one row per unit.
    x : ndarray of shape (N, T, p)
        Regressors.
    entities : ndarray of shape (N,)
        Unit labels (``0..N-1`` for array input).
    times : ndarray of shape (T,)
        Period labels (``0..T-1`` for array input).
    regressor_names : tuple of str
        Names of the ``p`` regressors.
    observed : ndarray of bool, shape (N, T), or None
        Which cells are observed; ``None`` for a balanced panel.
    """

    y: np.ndarray
    x: np.ndarray
    entities: np.ndarray
    times: np.ndarray
    regressor_names: tuple[str, ...]
    observed: np.ndarray | None = None

    @property
    def is_balanced(self) -> bool:
        """Whether every (unit, period) cell is observed."""
        return self.observed is None

    @property
    def num_units(self) -> int:
        """Number of cross-sectional units N."""
        return self.y.shape[0]

    @property
    def num_periods(self) -> int:
        """Number of periods T."""
        return self.y.shape[1]

    @property
    def num_regressors(self) -> int:
        """Number of regressors p."""
        return self.x.shape[2]


def _plain(value):
    # NumPy scalars print as np.int64(3); show the plain Python value in messages.
    return value.item() if isinstance(value, np.generic) else value


def _check_finite(name: str, values: np.ndarray, entities, times) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        unit, period = (_plain(entities[index[0]]), _plain(times[index[1]]))
        where = f"unit {unit!r}, period {period!r}"
        if len(index) == 3:
            where += f", regressor {index[2]}"
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite value(s) (NaN or inf); first at {where}"
        )


def _from_frame(
    data: Any,
    y: str,
    x: Sequence[str],
    entity: str | None,
    time: str | None,
    allow_missing: bool = False,
) -> PanelData:
    import pandas as pd

    if entity is None or time is None:
        raise ValueError("entity and time must name the unit and period columns of data")
    if isinstance(x, str):
        x = [x]
    columns = [entity, time, y, *x]
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"data has no column(s) {missing}; columns are {list(data.columns)}")
    frame = data[columns]
    duplicated = frame.duplicated(subset=[entity, time])
    if duplicated.any():
        position = int(np.argmax(duplicated.to_numpy()))
        unit, period = frame[entity].iloc[position], frame[time].iloc[position]
        raise ValueError(
            f"data has duplicate (entity, time) rows, e.g. {entity}={_plain(unit)!r}, "
            f"{time}={_plain(period)!r} (row {position})"
        )
    entities = np.sort(frame[entity].unique())
    times = np.sort(frame[time].unique())
    counts = frame.groupby(entity)[time].count()
    if not allow_missing and (counts != len(times)).any():
        unit = counts.index[np.argmax(counts.to_numpy() != len(times))]
        have = set(frame.loc[frame[entity] == unit, time])
        lacking = [_plain(t) for t in times if t not in have][:5]
        raise ValueError(
            f"unbalanced panel: unit {entity}={_plain(unit)!r} has {counts[unit]} of "
            f"{len(times)} periods "
            f"(missing e.g. {lacking}); these estimators need a balanced panel"
        )
    index = pd.MultiIndex.from_product([entities, times], names=[entity, time])
    wide = frame.set_index([entity, time]).reindex(index)
    n, t = len(entities), len(times)
    yy = wide[y].to_numpy(dtype=np.float64).reshape(n, t)
    xx = wide[list(x)].to_numpy(dtype=np.float64).reshape(n, t, len(x))
    return PanelData(yy, xx, entities, times, tuple(str(c) for c in x))


def _mark_missing(panel: PanelData) -> PanelData:
    # A cell is observed when y and every regressor are present (complete cases, as in
    # regife and InteractiveFixedEffectModels.jl); inf stays an error.
    observed = ~np.isnan(panel.y) & ~np.isnan(panel.x).any(axis=2)
    if observed.all():
        return panel
    y = np.where(observed, panel.y, np.nan)
    x = np.where(observed[..., None], panel.x, np.nan)
    _check_finite("y", np.where(observed, y, 0.0), panel.entities, panel.times)
    _check_finite("x", np.where(observed[..., None], x, 0.0), panel.entities, panel.times)
    return panel._replace(y=y, x=x, observed=observed)


def as_panel_data(
    y: Any,
    x: Any = None,
    *,
    data: Any = None,
    entity: str | None = None,
    time: str | None = None,
    min_periods: int = 2,
    allow_missing: bool = False,
) -> PanelData:
    """Validate and convert panel input to dense float64 arrays.

    Parameters
    ----------
    y : array of shape (N, T), or str
        Dependent variable; with ``data``, the name of its column.
    x : array of shape (N, T, p) or (N, T), or list of str
        Regressors; with ``data``, the names of their columns.
    data : pandas.DataFrame, optional
        A long panel with one row per (entity, time) pair.
    entity, time : str, optional
        Unit and period columns of ``data``.
    min_periods : int
        Smallest admissible number of periods.
    allow_missing : bool
        Accept an unbalanced panel: absent rows and cells with NaN in ``y`` or a regressor
        become unobserved cells (``PanelData.observed``). Infinite values stay an error.

    Returns
    -------
    PanelData
        The panel as arrays.

    Raises
    ------
    ValueError
        For non-finite values (naming unit and period), unbalanced or duplicated rows,
        mismatched shapes, or too few periods.
    """
    if data is not None:
        if not isinstance(y, str):
            raise TypeError("with data=, y must be the name of the dependent-variable column")
        if x is None:
            raise ValueError("with data=, x must list the regressor columns")
        panel = _from_frame(data, y, x, entity, time, allow_missing)
    else:
        if x is None:
            raise ValueError("x (regressors, shape (N, T, p)) is required")
        yy = np.asarray(y, dtype=np.float64)
        xx = np.asarray(x, dtype=np.float64)
        if yy.ndim != 2:
            raise ValueError(f"y must have shape (N, T), got {yy.shape}")
        if xx.ndim == 2:
            xx = xx[..., None]
        if xx.ndim != 3 or xx.shape[:2] != yy.shape:
            raise ValueError(
                f"x must have shape (N, T, p) with (N, T) = {yy.shape}, got {xx.shape}"
            )
        names = tuple(f"x{j}" for j in range(xx.shape[2]))
        panel = PanelData(yy, xx, np.arange(yy.shape[0]), np.arange(yy.shape[1]), names)
    if allow_missing:
        panel = _mark_missing(panel)
    if panel.observed is None:
        _check_finite("y", panel.y, panel.entities, panel.times)
        _check_finite("x", panel.x, panel.entities, panel.times)
    if panel.num_periods < min_periods:
        raise ValueError(f"need at least {min_periods} periods, got T = {panel.num_periods}")
    if panel.num_regressors < 1:
        raise ValueError("x must contain at least one regressor")
    return panel


def within_transform(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Subtract unit means over time (the fixed-effects within transformation)."""
    return y - y.mean(axis=1, keepdims=True), x - x.mean(axis=1, keepdims=True)


def _plain(value):
    # numpy scalars print as np.int64(3) since numpy 2: show the value a user typed.
    return value.item() if isinstance(value, np.generic) else value
