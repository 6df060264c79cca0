"""Split-panel jackknife bias correction (Dhaene and Jochmans 2015)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["JACKKNIFE_SPLITS", "half_panels", "split_panel_jackknife"]

JACKKNIFE_SPLITS = ("disjoint", "overlap")


def half_panels(num_periods: int, split: str = "overlap") -> tuple[np.ndarray, np.ndarray]:
    """Period indices (0-based) of the two half panels.

    Parameters
    ----------
    num_periods : int
        ``T``.
    split : {"overlap", "disjoint"}
        How to halve an odd ``T``. ``"overlap"``: both halves have ``⌈T/2⌉`` periods and share
        the middle one (``1..8`` and ``8..15`` when ``T = 15``). ``"disjoint"``: periods
        ``1..⌊T/2⌋`` and ``⌊T/2⌋+1..T`` (``1..7`` and ``8..15``), the split of Stata's
        classifylasso. The two coincide when ``T`` is even.

    Returns
    -------
    first, second : int arrays
    """
    if num_periods < 4:
        raise ValueError(f"the split-panel jackknife needs T >= 4, got T = {num_periods}")
    if split == "overlap":
        first = np.arange((num_periods + 1) // 2)
        second = np.arange(num_periods // 2, num_periods)
    elif split == "disjoint":
        first = np.arange(num_periods // 2)
        second = np.arange(num_periods // 2, num_periods)
    else:
        raise ValueError(f"split must be one of {JACKKNIFE_SPLITS}, got {split!r}")
    return first, second


def split_panel_jackknife(
    estimate: Callable[[np.ndarray, np.ndarray], np.ndarray],
    y: np.ndarray,
    x: np.ndarray,
    split: str = "overlap",
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``2 θ̂ - (θ̂_1 + θ̂_2)/2`` and the half-panel average.

    Parameters
    ----------
    estimate : callable
        ``estimate(y, x) -> θ̂`` on a (sub-)panel ``y (N, T')``, ``x (N, T', p)``.
    y, x : arrays
        The full panel.
    split : {"overlap", "disjoint"}
        How the halves divide an odd ``T`` (see :func:`half_panels`).

    Returns
    -------
    corrected : ndarray
        The bias-corrected estimate; removes the O(1/T) bias of ``θ̂``.
    half_average : ndarray
        ``(θ̂_1 + θ̂_2)/2``.

    Notes
    -----
    If ``θ̂`` has bias ``b/T`` (plus ``O(T⁻²)``), the correction leaves
    ``2b/T - b/⌈T/2⌉`` of it with overlapping halves, which is ``O(T⁻²)`` for odd ``T``, and
    ``2b/T - b(1/⌊T/2⌋ + 1/⌈T/2⌉)/2`` with disjoint halves, which is ``O(T⁻³)``.
    """
    full = np.asarray(estimate(y, x))
    halves = [np.asarray(estimate(y[:, idx], x[:, idx])) for idx in half_panels(y.shape[1], split)]
    half_average = (halves[0] + halves[1]) / 2.0
    return 2.0 * full - half_average, half_average
