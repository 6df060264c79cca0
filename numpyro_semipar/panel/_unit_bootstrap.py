"""Panel bootstrap: re-estimation on panels of whole units drawn with replacement.

Resampling units keeps each unit's time series, and so any serial correlation and
heteroskedasticity within it, intact; the bootstrap covariance is then robust in the same way
as the covariance clustered by unit (the "block" or "pairs cluster" bootstrap of Cameron,
Gelbach and Miller 2008, which Stata's ``vce(bootstrap)`` runs for panel commands such as
regife).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np

from .._progress import progress

__all__ = ["unit_bootstrap"]


def unit_bootstrap(
    estimate: Callable[[np.ndarray], np.ndarray],
    num_units: int,
    *,
    num_bootstrap: int,
    rng_key,
    progress_bar: bool = True,
    desc: str = "unit bootstrap",
) -> np.ndarray:
    """Draws of an estimator over panels of units resampled with replacement.

    Parameters
    ----------
    estimate : callable
        ``estimate(units) -> array``: the estimate on the panel whose ``i``-th unit is the
        original unit ``units[i]`` (an int array of shape ``(num_units,)``).
    num_units : int
        Number of units ``N``; every bootstrap panel has ``N`` units.
    num_bootstrap : int
        Number of bootstrap panels ``B`` (at least 2).
    rng_key : jax.random.key
        Draws all ``B × N`` unit indices at once, so a rerun with the same key is identical.
    progress_bar : bool
        Progress bar over the ``B`` re-estimations (off when ``CI`` is set).
    desc : str
        Label of the progress bar.

    Returns
    -------
    ndarray of shape (B, ...)
        The estimates, one row per bootstrap panel.
    """
    if int(num_bootstrap) < 2:
        raise ValueError(f"num_bootstrap must be >= 2, got {num_bootstrap}")
    units = np.asarray(
        jax.random.randint(rng_key, (int(num_bootstrap), int(num_units)), 0, int(num_units))
    )
    draws = []
    with progress(total=len(units), desc=desc, enabled=progress_bar) as bar:
        for sample in units:
            draws.append(np.asarray(estimate(sample)))
            bar.update(1)
    return np.stack(draws)
