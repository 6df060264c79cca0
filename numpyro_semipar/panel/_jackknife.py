"""Split-panel jackknife bias correction (Dhaene and Jochmans 2015)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["half_panels", "split_panel_jackknife"]


def half_panels(num_periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Period indices of the two half panels; they overlap by one period when T is odd."""
    if num_periods < 4:
        raise ValueError(f"the split-panel jackknife needs T >= 4, got T = {num_periods}")
    first = np.arange((num_periods + 1) // 2)
    second = np.arange(num_periods // 2, num_periods)
    return first, second


def split_panel_jackknife(
    estimate: Callable[[np.ndarray, np.ndarray], np.ndarray], y: np.ndarray, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``2 θ̂ - (θ̂_1 + θ̂_2)/2`` and the half-panel average.

    Parameters
    ----------
    estimate : callable
        ``estimate(y, x) -> θ̂`` on a (sub-)panel ``y (N, T')``, ``x (N, T', p)``.
    y, x : arrays
        The full panel.

    Returns
    -------
    corrected : ndarray
        The bias-corrected estimate; removes the O(1/T) bias of ``θ̂``.
    half_average : ndarray
        ``(θ̂_1 + θ̂_2)/2``.
    """
    full = np.asarray(estimate(y, x))
    halves = [np.asarray(estimate(y[:, idx], x[:, idx])) for idx in half_panels(y.shape[1])]
    half_average = (halves[0] + halves[1]) / 2.0
    return 2.0 * full - half_average, half_average
