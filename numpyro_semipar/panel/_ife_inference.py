"""Covariance of the Bai estimator with additive effects and missing cells.

The slopes' covariance needs the regressors purged of every nuisance direction: the additive
effects and the tangent space of ``λ_iᵀF_t`` at the estimate (unit dummies times the factors,
period dummies times the loadings). On a balanced panel the purged regressors are
``M_Λ̄ X_k M_F̄`` with the effects appended as a constant factor or loading, which is what
:func:`~numpyro_semipar.panel.bai_covariance` uses; on an unbalanced panel the projection is a
sparse least-squares problem over the observed cells, solved here with LSQR.

The meat of the sandwich is clustered (one- or two-way, on any labels, with the small-sample
factor of Vcov.jl), heteroskedasticity-robust, homoskedastic, or Newey–West within units.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import lsqr

__all__ = [
    "EffectsOnlyFit",
    "augmented_factors",
    "cell_covariance",
    "cluster_labels",
    "cluster_meat",
    "effects_only_least_squares",
    "hac_meat",
    "nuisance_residuals",
]


def augmented_factors(factors, loadings, effects: str):
    """Append the additive effects as known factor/loading columns.

    Unit effects are loadings on the constant factor ``1_T`` and time effects are factors with
    constant loadings ``1_N``; returns ``(F̄, Λ̄)`` whose annihilators purge both.
    """
    f, lam = np.asarray(factors), np.asarray(loadings)
    if effects in ("unit", "twoway"):
        f = np.column_stack([f, np.ones(f.shape[0])])
    if effects in ("time", "twoway"):
        lam = np.column_stack([lam, np.ones(lam.shape[0])])
    return f, lam


def nuisance_residuals(x, observed, factors, loadings, *, method: str = "auto", tol: float = 1e-13):
    """Regressors purged of ``{e_i ⊗ F̄_r} ∪ {Λ̄_r ⊗ e_t}`` by least squares on observed cells.

    Parameters
    ----------
    x : array of shape (N, T, p)
    observed : bool array of shape (N, T)
    factors : array of shape (T, R_F)
        ``F̄`` (factors with any constant column for unit effects).
    loadings : array of shape (N, R_Λ)
        ``Λ̄`` (loadings with any constant column for time effects).
    method : {"auto", "dense", "lsqr"}
        Dense normal equations (eigenvalue pseudo-inverse) or sparse LSQR; ``"auto"`` uses the
        dense solver while the design has at most ``2·10⁶`` entries.
    tol : float
        LSQR tolerance.

    Returns
    -------
    ndarray of shape (N, T, p)
        Purged regressors, zero on unobserved cells.
    """
    x, observed = np.asarray(x), np.asarray(observed, dtype=bool)
    f, lam = np.asarray(factors), np.asarray(loadings)
    n, t, p = x.shape
    units, periods = np.nonzero(observed)
    rows = np.arange(units.size)
    blocks = []
    for r in range(f.shape[1]):  # unit i's coefficient on factor column r
        blocks.append(sp.csr_matrix((f[periods, r], (rows, units)), shape=(units.size, n)))
    for r in range(lam.shape[1]):  # period t's coefficient on loading column r
        blocks.append(sp.csr_matrix((lam[units, r], (rows, periods)), shape=(units.size, t)))
    out = np.zeros_like(x)
    if not blocks:
        out[observed] = x[observed]
        return out
    design = sp.hstack(blocks).tocsc()
    if method not in ("auto", "dense", "lsqr"):
        raise ValueError(f"method must be 'auto', 'dense' or 'lsqr', got {method!r}")
    targets = x[units, periods, :]
    # Column scaling leaves the span unchanged and conditions both solvers.
    norms = np.sqrt(np.asarray(design.multiply(design).sum(axis=0))).ravel()
    design = design @ sp.diags(1.0 / np.where(norms > 0, norms, 1.0))
    if method == "dense" or (method == "auto" and design.shape[0] * design.shape[1] <= 2e6):
        # Normal equations with an eigenvalue pseudo-inverse: the directions are rank-deficient
        # by construction (factor rotations, the effects' common level), and the Gram matrix
        # is small (columns = N·R_F + T·R_Λ) where an SVD of the design would not be.
        gram = (design.T @ design).toarray()
        evals, evecs = np.linalg.eigh(gram)
        keep = evals > 1e-11 * evals[-1]
        rhs = evecs[:, keep].T @ (design.T @ targets)
        coef = evecs[:, keep] @ (rhs / evals[keep, None])
        out[units, periods, :] = targets - design @ coef
        return out
    for k in range(p):
        target = targets[:, k]
        sol = lsqr(design, target, atol=tol, btol=tol, iter_lim=50 * design.shape[1])
        if sol[1] == 7:
            raise RuntimeError(
                "LSQR did not converge while purging regressor "
                f"{k} of the factor and effect directions"
            )
        out[units, periods, k] = target - design @ sol[0]
    return out


class EffectsOnlyFit(NamedTuple):
    """Least squares with the additive effects only, and the purged ``y`` and ``x``."""

    beta: np.ndarray
    x_purged: np.ndarray
    y_purged: np.ndarray


def effects_only_least_squares(y, x, observed, effects) -> EffectsOnlyFit:
    # Least squares with the additive effects only, on the observed cells (Frisch-Waugh: purge
    # y and x of the effect dummies, then regress). Also the collinearity check's input.
    f, lam = augmented_factors(np.zeros((y.shape[1], 0)), np.zeros((y.shape[0], 0)), effects)
    stacked = np.concatenate([np.nan_to_num(y)[..., None], np.nan_to_num(x)], axis=2)
    purged = nuisance_residuals(stacked, observed, f, lam)
    y_p, x_p = purged[..., 0], purged[..., 1:]
    beta = np.linalg.lstsq(x_p[observed], y_p[observed], rcond=None)[0]
    return EffectsOnlyFit(beta, x_p, y_p)


def cluster_meat(scores, clusters):
    """Cameron–Gelbach–Miller (2011) multiway cluster sum of score outer products.

    Parameters
    ----------
    scores : array of shape (n, p)
        Score contributions ``x̃_it e_it`` of the observed cells.
    clusters : sequence of int arrays of shape (n,)
        One or two label vectors (``0..G_d - 1``).

    Returns
    -------
    meat : ndarray of shape (p, p)
        ``Σ_d S_d`` for one dimension; ``S_a + S_b - S_{a∩b}`` for two, where ``S_c`` sums
        ``s_g s_gᵀ`` over the clusters ``g`` of ``c`` and ``a∩b`` clusters on both labels.
    num_clusters : tuple of int
        The number of clusters ``G_d`` of each dimension.
    """
    scores = np.asarray(scores)

    def outer_by(labels):
        sums = np.zeros((int(labels.max()) + 1, scores.shape[1]))
        np.add.at(sums, labels, scores)
        return sums.T @ sums

    labels = [np.asarray(c) for c in clusters]
    meat = sum(outer_by(c) for c in labels)
    if len(labels) == 2:
        _, both = np.unique(np.column_stack(labels), axis=0, return_inverse=True)
        meat = meat - outer_by(both.ravel())
    return meat, tuple(int(c.max()) + 1 for c in labels)


def hac_meat(scores, bandwidth: int):
    """Newey–West (Bartlett) sum of score autocovariances within units, summed over units.

    ``Σ_i [Γ_i0 + Σ_{j=1}^{L} (1 - j/(L+1)) (Γ_ij + Γ_ijᵀ)]`` with
    ``Γ_ij = Σ_t s_it s_{i,t-j}ᵀ``, lags counted in periods (a missing cell has a zero score),
    which is statsmodels' ``"hac-panel"`` on a balanced panel.

    Parameters
    ----------
    scores : array of shape (N, T, p)
        Score contributions, zero in unobserved cells.
    bandwidth : int
        The number of lags ``L``; ``0`` gives the heteroskedasticity-robust sum.

    Returns
    -------
    ndarray of shape (p, p)
    """
    scores = np.asarray(scores)
    meat = np.einsum("itp,itq->pq", scores, scores)
    for lag in range(1, min(int(bandwidth), scores.shape[1] - 1) + 1):
        gamma = np.einsum("itp,itq->pq", scores[:, lag:], scores[:, :-lag])
        meat = meat + (1.0 - lag / (bandwidth + 1.0)) * (gamma + gamma.T)
    return meat


def cell_covariance(
    x,
    purged,
    residuals,
    observed,
    *,
    cov_type: str,
    dof: int,
    clusters=None,
    bandwidth: int = 0,
    absorbed: int | None = None,
    small_sample: bool = True,
):
    """``W⁻¹ S W⁻¹`` over the ``n`` observed cells, with ``W = Σ x̃ xᵀ`` and ``S`` the meat.

    Parameters
    ----------
    x, purged : arrays of shape (N, T, p)
        Regressors and their purged version (:func:`nuisance_residuals`).
    residuals : array of shape (N, T)
    observed : bool array of shape (N, T)
    cov_type : {"cluster", "robust", "homoskedastic", "hac"}
        Clustered (by unit unless ``clusters`` says otherwise; one- or two-way),
        heteroskedasticity-robust (HC0), homoskedastic, or Newey–West within units.
    dof : int
        Number of estimated parameters for the homoskedastic variance ``Σe²/(n - dof)``.
    clusters : sequence of int arrays of shape (N, T), optional
        One or two cluster labels per cell (``0..G - 1``); default: the unit.
    bandwidth : int
        Lags of the ``"hac"`` estimator.
    absorbed : int, optional
        ``k`` of the small-sample factors: the regressors plus the levels of the additive
        effects (as InteractiveFixedEffectModels.jl counts them; the factors are not counted).
        Clustered: ``G/(G-1)·(n-1)/(n-k)`` with ``G`` the smallest number of clusters
        (Vcov.jl, reghdfe); ``"hac"``: ``n/(n-k)`` (statsmodels' ``"hac"`` correction, Stata's
        ``newey``). Default ``p``.
    small_sample : bool
        Apply those factors (``False``: the plain sandwich, as the C-Lasso and Su–Ju
        estimators report it on balanced and unbalanced panels alike).

    Returns
    -------
    ndarray of shape (p, p)
    """
    obs = np.asarray(observed, dtype=bool)
    xt = np.where(obs[..., None], np.asarray(purged), 0.0)
    xx = np.where(obs[..., None], np.asarray(x), 0.0)
    e = np.where(obs, np.asarray(residuals), 0.0)
    n, p = int(obs.sum()), xt.shape[2]
    k = p if absorbed is None else int(absorbed)
    w = np.einsum("itp,itq->pq", xt, xx)
    scores = xt * e[..., None]
    if cov_type == "homoskedastic":
        meat = np.sum(e**2) / max(n - dof, 1) * w
    elif cov_type == "robust":
        meat = np.einsum("itp,itq->pq", scores, scores)
    elif cov_type == "hac":
        meat = hac_meat(scores, bandwidth) * (n / max(n - k, 1) if small_sample else 1.0)
    elif cov_type == "cluster":
        if clusters is None:
            clusters = [np.broadcast_to(np.arange(obs.shape[0])[:, None], obs.shape)]
        labels = [np.asarray(c)[obs] for c in clusters]
        meat, counts = cluster_meat(scores[obs], labels)
        g = min(counts)
        if small_sample:
            meat = meat * g / (g - 1) * (n - 1) / max(n - k, 1)
    else:
        raise ValueError(
            f"cov_type must be 'cluster', 'robust', 'homoskedastic' or 'hac', got {cov_type!r}"
        )
    w_inv = np.linalg.inv(w)
    cov = w_inv @ meat @ w_inv
    cov = (cov + cov.T) / 2
    if cov_type == "cluster" and len(clusters) == 2:
        evals, evecs = np.linalg.eigh(cov)
        if evals.min() < 0:
            # The two-way sum is not positive semi-definite by construction: Cameron, Gelbach
            # and Miller (2011, section 2.3) set the negative eigenvalues to zero, as Vcov.jl.
            warnings.warn(
                "the two-way clustered covariance is not positive definite; its non-positive "
                f"eigenvalues {evals[evals <= 0].tolist()} were set to zero (Cameron, "
                "Gelbach and Miller 2011)",
                RuntimeWarning,
                stacklevel=3,
            )
            cov = (evecs * np.maximum(evals, 0.0)) @ evecs.T
    return cov


def cluster_labels(cluster, panel, observed, *, data=None, entity=None, time=None):
    """Cluster labels per cell from a ``fit(cluster=...)`` argument.

    Parameters
    ----------
    cluster : None, str, array or list of up to two of these
        A column of ``data`` (constant within cells), an array of shape (N, T) or (N,) (one
        label per unit) in the panel's unit and period order, or a list of two of these for
        two-way clustering. ``None`` clusters by unit.
    panel : PanelData
    observed : bool array of shape (N, T)
    data, entity, time
        The long data frame and its unit and period columns, for column names.

    Returns
    -------
    list of int arrays of shape (N, T)
        Labels ``0..G-1`` (``-1`` in unobserved cells).
    """
    import pandas as pd

    from ._data import _plain

    n, t = observed.shape
    if cluster is None:
        return [np.broadcast_to(np.arange(n)[:, None], (n, t))]
    items = list(cluster) if isinstance(cluster, list | tuple) else [cluster]
    if not 1 <= len(items) <= 2:
        raise ValueError(
            f"cluster must name one or two clustering variables, got {len(items)}: {cluster!r}"
        )
    out = []
    for item in items:
        if isinstance(item, str):
            if data is None:
                raise ValueError(
                    f"cluster={item!r} names a column, which needs fit(..., data=...); pass "
                    "an (N, T) or (N,) array of labels with array input"
                )
            if item not in data.columns:
                raise ValueError(
                    f"cluster: data has no column {item!r}; columns are {list(data.columns)}"
                )
            if item == entity:
                values = np.broadcast_to(np.arange(n)[:, None], (n, t))
            elif item == time:
                values = np.broadcast_to(np.arange(t)[None, :], (n, t))
            else:
                index = pd.MultiIndex.from_product([panel.entities, panel.times])
                wide = data.set_index([entity, time])[item].reindex(index)
                values = wide.to_numpy().reshape(n, t)
            what = f"column {item!r}"
        else:
            values = np.asarray(item)
            if values.shape == (n,):
                values = np.broadcast_to(values[:, None], (n, t))
            if values.shape != (n, t):
                raise ValueError(
                    f"cluster labels must have shape (N, T) = {(n, t)} or (N,) = ({n},), got "
                    f"{values.shape}"
                )
            what = "labels"
        cells = values[observed]
        missing = pd.isna(cells)
        if missing.any():
            unit, period = np.argwhere(observed)[int(np.argmax(missing))]
            raise ValueError(
                f"cluster {what}: {int(missing.sum())} missing value(s) (NaN/None) in "
                f"observed cells, e.g. unit {_plain(panel.entities[unit])!r}, period "
                f"{_plain(panel.times[period])!r}"
            )
        codes, uniques = pd.factorize(cells)
        if len(uniques) < 2:
            raise ValueError(f"cluster {what}: {len(uniques)} distinct value(s); need >= 2")
        labels = np.full((n, t), -1)
        labels[observed] = codes
        out.append(labels)
    return out
