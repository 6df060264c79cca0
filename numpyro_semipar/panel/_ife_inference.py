"""Covariance of the Bai estimator with additive effects and missing cells.

The slopes' covariance needs the regressors purged of every nuisance direction: the additive
effects and the tangent space of ``λ_iᵀF_t`` at the estimate (unit dummies times the factors,
period dummies times the loadings). On a balanced panel the purged regressors are
``M_Λ̄ X_k M_F̄`` with the effects appended as a constant factor or loading, which is what
:func:`~numpyro_semipar.panel.bai_covariance` uses; on an unbalanced panel the projection is a
sparse least-squares problem over the observed cells, solved here with LSQR.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import lsqr

__all__ = ["augmented_factors", "nuisance_residuals", "cell_covariance"]


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


def cell_covariance(x, purged, residuals, observed, *, cov_type: str, dof: int):
    """``W⁻¹ Ω W⁻¹ / n`` over the ``n`` observed cells, with ``W = Σ x̃ xᵀ / n``.

    Parameters
    ----------
    x, purged : arrays of shape (N, T, p)
        Regressors and their purged version (:func:`nuisance_residuals`).
    residuals : array of shape (N, T)
    observed : bool array of shape (N, T)
    cov_type : {"cluster", "robust", "homoskedastic"}
        Clustered by unit, heteroskedasticity-robust, or homoskedastic.
    dof : int
        Number of estimated parameters for the homoskedastic variance.

    Returns
    -------
    ndarray of shape (p, p)
    """
    obs = np.asarray(observed, dtype=bool)
    xt = np.where(obs[..., None], np.asarray(purged), 0.0)
    xx = np.where(obs[..., None], np.asarray(x), 0.0)
    e = np.where(obs, np.asarray(residuals), 0.0)
    n = int(obs.sum())
    w = np.einsum("itp,itq->pq", xt, xx) / n
    if cov_type == "homoskedastic":
        omega = np.sum(e**2) / max(n - dof, 1) * w
    elif cov_type == "robust":
        omega = np.einsum("it,itp,itq->pq", e**2, xt, xt) / n
    elif cov_type == "cluster":
        scores = np.einsum("itp,it->ip", xt, e)
        omega = scores.T @ scores / n
    else:
        raise ValueError(
            f"cov_type must be 'cluster', 'robust' or 'homoskedastic', got {cov_type!r}"
        )
    w_inv = np.linalg.inv(w)
    return w_inv @ omega @ w_inv / n
