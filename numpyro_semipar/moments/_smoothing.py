"""Smooth indicators for bin-share moments.

Under common random numbers an indicator moment such as the share of simulated values below a
threshold is piecewise constant in θ: its Jacobian is exactly zero almost everywhere and finite
differences see either zero or noise. Replacing the indicator with a sigmoid kernel of bandwidth h
(McFadden 1989; Bruins, Duffy, Keane & Smith 2018, "generalized indirect inference") makes the
moment differentiable; the bias vanishes as h -> 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import as_float

__all__ = ["bin_shares", "smooth_indicator"]


def smooth_indicator(x, threshold, bandwidth):
    """Smooth version of ``1{x < threshold}``: ``sigmoid((threshold - x) / bandwidth)``.

    Parameters
    ----------
    x : array
        Values (simulated data).
    threshold : float or array
        Threshold; broadcast against ``x``.
    bandwidth : float
        Positive bandwidth h in the units of ``x``; as h -> 0 the indicator is recovered.

    Returns
    -------
    array
        Values in (0, 1), differentiable in ``x`` (hence in the parameters of a simulator).
    """
    if not float(bandwidth) > 0.0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    x = as_float(x)
    return jax.nn.sigmoid((threshold - x) / bandwidth)


def bin_shares(x, edges, *, bandwidth: float | None = None, closed_right: bool = True):
    """Share of the observations in each bin ``[edges[j], edges[j+1])``.

    Parameters
    ----------
    x : array of shape (N,)
        Data (observed or one simulated data set).
    edges : sequence of float
        Increasing bin edges (J + 1 values for J bins); the outer edges may be ``-inf`` /
        ``inf``.
    bandwidth : float, optional
        Without it the shares are exact (piecewise constant in a simulator's parameters, so
        unusable for gradient-based SMM); with it each bin indicator is the difference of two
        :func:`smooth_indicator` kernels. Infinite outer edges keep the smoothed shares summing
        to one exactly.
    closed_right : bool
        For exact shares, whether the last bin includes its right edge (Evans' last bin is
        [430, 450]).

    Returns
    -------
    array of shape (J,)
        Bin shares as float64 (never the float32 of a boolean mean).
    """
    edges_np = np.asarray(edges, dtype=float)
    if edges_np.ndim != 1 or edges_np.size < 2:
        raise ValueError(f"edges must be a 1-d sequence of at least 2 values, got {edges!r}")
    if np.any(np.diff(edges_np) <= 0):
        raise ValueError(f"edges must be strictly increasing, got {edges_np.tolist()}")
    x = as_float(x)
    num_bins = edges_np.size - 1
    shares = []
    for j in range(num_bins):
        lo, hi = edges_np[j], edges_np[j + 1]
        if bandwidth is None:
            upper = x <= hi if (closed_right and j == num_bins - 1) else x < hi
            inside = (x >= lo) & upper
        else:
            below_hi = 1.0 if np.isposinf(hi) else smooth_indicator(x, hi, bandwidth)
            below_lo = 0.0 if np.isneginf(lo) else smooth_indicator(x, lo, bandwidth)
            inside = below_hi - below_lo
        shares.append(jnp.mean(as_float(inside)))
    return jnp.stack(shares)
