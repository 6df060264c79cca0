"""Unit and two-way effects over the observed cells of an unbalanced panel.

On a balanced panel removing unit effects is demeaning each unit over time, and removing unit
and time effects is double demeaning. With missing cells the first stays a per-unit mean (over
the unit's observed periods) but the second does not: the least-squares unit and period
effects are coupled through the pattern of observed cells. They are computed here exactly, from
the normal equations with the unit effects eliminated (a ``T × T`` system).
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_observed_periods", "observed_effects", "observed_within"]


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def check_observed_periods(observed: np.ndarray, entities, needed: int, why: str) -> None:
    """Raise a ValueError naming the units with fewer than ``needed`` observed periods."""
    counts = np.asarray(observed, dtype=bool).sum(axis=1)
    short = np.flatnonzero(counts < needed)
    if short.size:
        shown = [_plain(entities[i]) for i in short[:10]]
        more = f" and {short.size - 10} more" if short.size > 10 else ""
        raise ValueError(
            f"unit(s) {shown}{more} have fewer than {needed} observed periods "
            f"(counts {counts[short[:10]].tolist()}), {why}; drop them"
        )


def observed_effects(a: np.ndarray, observed: np.ndarray, effects: str):
    """Least-squares unit (and period) effects of ``a`` over the observed cells.

    Parameters
    ----------
    a : array of shape (N, T, ...)
        Values in unobserved cells are ignored; trailing axes are separate variables.
    observed : bool array of shape (N, T)
    effects : {"unit", "twoway"}

    Returns
    -------
    unit : ndarray of shape (N, ...)
        ``α_i``; with two-way effects they carry the overall level.
    time : ndarray of shape (T, ...) or None
        ``ξ_t`` with mean zero over periods (two-way effects), ``None`` for unit effects.
        For a connected pattern of observed cells (every unit linked to every other through
        shared periods) the effects are unique up to that level; otherwise the minimum-norm
        ``ξ`` is returned, which leaves the fitted values ``α_i + ξ_t`` unique.

    Notes
    -----
    The normal equations for ``a_it = α_i + ξ_t`` over observed cells ``O`` are
    ``T_i α_i + Σ_t O_it ξ_t = Σ_t a_it`` and ``N_t ξ_t + Σ_i O_it α_i = Σ_i a_it``;
    eliminating ``α`` leaves ``(diag(N_t) - Oᵀ diag(1/T_i) O) ξ = Σ_i a_it - Oᵀ (Σ_t a_it / T_i)``,
    whose matrix is singular along ``1_T`` (the common level), solved by an eigenvalue
    pseudo-inverse.
    """
    obs = np.asarray(observed, dtype=bool)
    mask = obs.reshape(obs.shape + (1,) * (np.ndim(a) - 2))
    filled = np.where(mask, a, 0.0)
    o = obs.astype(np.float64)
    unit_counts = np.maximum(o.sum(axis=1), 1.0)  # units without cells are the caller's error
    unit_sums = filled.sum(axis=1)
    extra = (1,) * (np.ndim(a) - 2)
    if effects == "unit":
        return unit_sums / unit_counts.reshape(-1, *extra), None
    if effects != "twoway":
        raise ValueError(f"effects must be 'unit' or 'twoway', got {effects!r}")
    weighted = o / unit_counts[:, None]  # (N, T)
    schur = np.diag(o.sum(axis=0)) - o.T @ weighted
    rhs = filled.sum(axis=0) - np.tensordot(weighted.T, unit_sums, axes=(1, 0))
    evals, evecs = np.linalg.eigh((schur + schur.T) / 2.0)
    keep = evals > 1e-11 * max(evals[-1], 1e-300)
    coef = evecs[:, keep].T @ rhs.reshape(rhs.shape[0], -1)
    time = (evecs[:, keep] @ (coef / evals[keep, None])).reshape(rhs.shape)
    level = time.mean(axis=0)
    time = time - level
    unit = (unit_sums - np.tensordot(o, time, axes=(1, 0))) / unit_counts.reshape(-1, *extra)
    return unit, time


def observed_within(a: np.ndarray, observed: np.ndarray, effects: str) -> np.ndarray:
    """Subtract the least-squares effects over the observed cells; zero unobserved ones.

    With unit effects this is demeaning each unit over its observed periods; with two-way
    effects it is the residual of the least-squares projection on unit and period dummies over
    the observed cells (see :func:`observed_effects`).
    """
    obs = np.asarray(observed, dtype=bool)
    mask = obs.reshape(obs.shape + (1,) * (np.ndim(a) - 2))
    unit, time = observed_effects(a, obs, effects)
    fitted = unit[:, None]
    if time is not None:
        fitted = fitted + time[None, :]
    return np.where(mask, a - fitted, 0.0)
