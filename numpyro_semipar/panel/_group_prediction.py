"""Assign units to estimated groups by the least-squares fit of their own time series."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._data import as_panel_data, within_transform

__all__ = ["predict_groups"]


def predict_groups(
    coefficients: Any,
    y: Any,
    x: Any = None,
    *,
    data: Any = None,
    entity: str | None = None,
    time: str | None = None,
    regressor_names: tuple[str, ...] | None = None,
    time_effects: Any = None,
    times: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Put each unit in the group whose coefficients fit its time series best.

    For unit ``i`` and group ``k`` the criterion is the sum of squared residuals
    ``Σ_t (ỹ_it - x̃_itᵀα_k)²`` of the within-transformed data (the unit's fixed effect
    profiled out, and given time effects removed first); the unit goes to the group that
    minimises it.

    Parameters
    ----------
    coefficients : array of shape (G, p)
        Group coefficients ``α_k``.
    y, x, data, entity, time
        A balanced panel, as the estimators take it (``y`` (N, T), ``x`` (N, T, p), or column
        names of a long ``data`` frame); at least two periods per unit.
    regressor_names : tuple of str, optional
        The estimation's regressor names; with ``data`` the regressors must carry them.
    time_effects : array of shape (T,), optional
        Estimated time effects ``ξ_t``, subtracted from ``y`` first (two-way models); the
        panel must then cover the estimation's periods.
    times : array of shape (T,), optional
        The estimation's period labels; with ``data`` the panel's periods must equal them.

    Returns
    -------
    groups : int array of shape (N,)
        Predicted labels in ``0..G-1``.
    ssr : array of shape (N, G)
        The criterion for every unit and group.
    """
    coefficients = np.asarray(coefficients, dtype=np.float64)
    panel = as_panel_data(y, x, data=data, entity=entity, time=time, min_periods=2)
    p = coefficients.shape[1]
    if panel.num_regressors != p:
        raise ValueError(
            f"x has {panel.num_regressors} regressors but the groups have {p} coefficients"
        )
    if (
        data is not None
        and regressor_names is not None
        and tuple(panel.regressor_names) != tuple(regressor_names)
    ):
        raise ValueError(
            f"x names regressors {list(panel.regressor_names)}; the estimation used "
            f"{list(regressor_names)}"
        )
    y_panel = panel.y
    if data is not None and times is not None and not np.array_equal(panel.times, times):
        raise ValueError(
            f"the panel's periods {list(panel.times)} are not the estimation's {list(times)}"
        )
    if time_effects is not None:
        time_effects = np.asarray(time_effects, dtype=np.float64)
        if time_effects.shape != (panel.num_periods,):
            raise ValueError(
                f"time_effects has shape {time_effects.shape}; the panel has "
                f"{panel.num_periods} periods"
            )
        y_panel = y_panel - time_effects[None, :]
    yd, xd = within_transform(y_panel, panel.x)
    resid = yd[:, None, :] - np.einsum("itp,kp->ikt", xd, coefficients)
    ssr = np.sum(resid**2, axis=-1)
    return np.argmin(ssr, axis=1), ssr
