"""Panel bootstrap: re-estimation on panels of whole units drawn with replacement.

:func:`unit_bootstrap` is the generic resampling loop; :func:`interactive_effects_bootstrap`
applies it to the Bai estimator with additive effects.

Resampling units keeps each unit's time series, and so any serial correlation and
heteroskedasticity within it, intact; the bootstrap covariance is then robust in the same way
as the covariance clustered by unit (the "block" or "pairs cluster" bootstrap of Cameron,
Gelbach and Miller 2008, which Stata's ``vce(bootstrap)`` runs for panel commands such as
regife).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._progress import progress
from .._warnings import ConvergenceWarning
from ._bai import bai_bias, bai_fit_effects
from ._ife_inference import effects_only_least_squares

__all__ = ["interactive_effects_bootstrap", "unit_bootstrap"]


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


def interactive_effects_bootstrap(
    y,
    x,
    observed,
    beta_hat,
    *,
    num_factors: int,
    effects: str,
    bias_correction: bool,
    bandwidth: int,
    dynamic: bool,
    tol: float,
    max_steps: int,
    num_bootstrap: int,
    rng_key,
    progress_bar: bool = True,
) -> np.ndarray:
    """Unit-bootstrap draws of the Bai estimator with additive effects.

    Each bootstrap panel is fitted from the full-sample estimate ``beta_hat`` (one start: the
    minimum of the resampled problem near it is the one whose variability is measured) and,
    when the reported estimate is bias-corrected, corrected in the same way.

    Parameters
    ----------
    y : array of shape (N, T)
    x : array of shape (N, T, p)
        Zero (or anything finite) in unobserved cells.
    observed : bool array of shape (N, T)
    beta_hat : array of shape (p,)
        Full-sample (uncorrected) estimate, the starting value.
    num_factors, effects, tol, max_steps
        As in :func:`~numpyro_semipar.panel.bai_fit_effects`.
    bias_correction, bandwidth, dynamic
        Whether and how the Moon–Weidner bias (:func:`~numpyro_semipar.panel.bai_bias`) is
        removed from each draw.
    num_bootstrap, rng_key, progress_bar
        As in :func:`unit_bootstrap`.

    Returns
    -------
    ndarray of shape (B, 2, p)
        Uncorrected and reported (corrected when ``bias_correction``) estimates.
    """
    failed = []

    def estimate(units):
        ob = observed[units]
        if not ob.any(axis=0).all():
            raise ValueError(
                "a bootstrap panel has a period without observed cells; the panel is too "
                "sparse for the unit bootstrap (use cov_type='cluster')"
            )
        fit = bai_fit_effects(
            y[units],
            x[units],
            ob,
            jnp.asarray(beta_hat),
            num_factors=num_factors,
            effects=effects,
            tol=tol,
            max_steps=max_steps,
        )
        failed.append(not bool(fit.converged))
        raw = np.asarray(fit.beta)
        if not bias_correction:
            return np.stack([raw, raw])
        pooled = effects_only_least_squares(y[units], x[units], ob, effects)
        bias = bai_bias(
            pooled.x_purged,
            fit.factors,
            fit.loadings,
            fit.residuals,
            bandwidth=bandwidth,
            dynamic=dynamic,
        )
        return np.stack([raw, raw - bias])

    draws = unit_bootstrap(
        estimate,
        observed.shape[0],
        num_bootstrap=num_bootstrap,
        rng_key=rng_key,
        progress_bar=progress_bar,
        desc="IFE bootstrap",
    )
    if any(failed):
        warnings.warn(
            f"Bai's iterations did not converge in {max_steps} iterations on "
            f"{sum(failed)} of {len(failed)} bootstrap panels",
            ConvergenceWarning,
            stacklevel=3,
        )
    return draws
