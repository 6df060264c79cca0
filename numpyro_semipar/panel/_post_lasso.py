"""Post-Lasso least squares for given groups, with unit or two-way fixed effects."""

from __future__ import annotations

import numpy as np

from ._data import within_transform
from ._unbalanced import observed_effects, observed_within

__all__ = ["EFFECTS", "double_demean", "effects_transform", "post_lasso", "split_effects"]

EFFECTS = ("unit", "twoway")


def double_demean(a: np.ndarray) -> np.ndarray:
    """``a_it - ā_i· - ā_·t + ā_··`` over the first two axes (balanced two-way within)."""
    return a - a.mean(axis=1, keepdims=True) - a.mean(axis=0, keepdims=True) + a.mean((0, 1))


def effects_transform(y: np.ndarray, x: np.ndarray, effects: str, observed=None):
    """Remove unit (``"unit"``) or unit and time (``"twoway"``) effects from ``y`` and ``x``.

    With two-way effects each variable is double-demeaned on its own (as classifylasso's
    ``absorb(id year)`` does before the Lasso); with unit-specific slopes this removes the time
    effects from ``y`` exactly but is not the projection of ``x_itᵀβ_i`` off them, which the
    post-Lasso (:func:`post_lasso`) does exactly.

    With ``observed`` (bool, (N, T)) the panel is unbalanced: each variable less its
    least-squares effects over the observed cells (:func:`observed_within`), zero elsewhere.
    """
    if observed is not None:
        return observed_within(y, observed, effects), observed_within(x, observed, effects)
    if effects == "unit":
        return within_transform(y, x)
    return double_demean(y), double_demean(x)


def _cluster_covariance(design: np.ndarray, resid: np.ndarray) -> np.ndarray:
    # Unit-clustered sandwich (no small-sample factor); design (N, T, q), resid (N, T).
    gram = np.einsum("itp,itq->pq", design, design)
    inv = np.linalg.inv(gram)
    scores = np.einsum("itp,it->ip", design, resid)
    return inv @ (scores.T @ scores) @ inv


def _post_lasso_unit(yd, xd, groups, num_groups):
    # yd, xd: within-transformed (zero in unobserved cells, which then add nothing).
    p = xd.shape[2]
    coefs = np.zeros((num_groups, p))
    cov = np.zeros((num_groups * p, num_groups * p))
    resid = np.empty_like(yd)
    for k in range(num_groups):
        members = groups == k
        xk, yk = xd[members], yd[members]
        gram = np.einsum("itp,itq->pq", xk, xk)
        if np.linalg.cond(gram) > 1e12:
            raise ValueError(f"the regressors of estimated group {k} are collinear")
        coefs[k] = np.linalg.solve(gram, np.einsum("itp,it->p", xk, yk))
        resid[members] = yk - np.einsum("itp,p->it", xk, coefs[k])
        cov[k * p : (k + 1) * p, k * p : (k + 1) * p] = _cluster_covariance(xk, resid[members])
    return coefs, resid, cov


def _post_lasso_twoway(y, x, groups, num_groups, transform=double_demean):
    # Common time effects couple the groups: one regression of y on the group-interacted
    # regressors x_it 1[g_i = k], all purged of the two-way effects (Frisch-Waugh-Lovell on the
    # two-way dummies: double demeaning when balanced, the exact projection over the observed
    # cells otherwise).
    n, t, p = x.shape
    member = np.eye(num_groups)[groups]  # (N, K)
    design = transform(np.einsum("itp,ik->itkp", x, member).reshape(n, t, num_groups * p))
    yd = transform(y)
    gram = np.einsum("itp,itq->pq", design, design)
    if np.linalg.cond(gram) > 1e12:
        raise ValueError("the group-interacted regressors are collinear after the two-way effects")
    flat = np.linalg.solve(gram, np.einsum("itp,it->p", design, yd))
    resid = yd - design @ flat
    return flat.reshape(num_groups, p), resid, _cluster_covariance(design, resid)


def post_lasso(
    y: np.ndarray,
    x: np.ndarray,
    groups: np.ndarray,
    num_groups: int,
    effects: str,
    observed: np.ndarray | None = None,
):
    """Least squares with group slopes ``α_k`` given the groups, and unit-clustered covariance.

    Parameters
    ----------
    y : array of shape (N, T)
    x : array of shape (N, T, p)
        Untransformed panel.
    groups : int array of shape (N,)
        Labels in ``0..num_groups-1``, none empty.
    num_groups : int
    effects : {"unit", "twoway"}
        ``y_it = μ_i + α_{g_i}ᵀx_it + ε_it`` (group by group on within-transformed data) or
        ``y_it = μ_i + ξ_t + α_{g_i}ᵀx_it + ε_it`` with time effects common to all groups (one
        joint regression).
    observed : bool array of shape (N, T), optional
        Observed cells of an unbalanced panel (values elsewhere are ignored): the effects are
        least-squares effects over the observed cells, and only those cells enter the
        regression and the clustered covariance.

    Returns
    -------
    coefficients : array of shape (num_groups, p)
    residuals : array of shape (N, T)
        Zero in unobserved cells.
    cov : array of shape (num_groups p, num_groups p)
        Unit-clustered sandwich without a small-sample factor; block diagonal for unit
        effects.
    """
    if observed is not None:
        y = np.where(observed, y, 0.0)
        x = np.where(observed[..., None], x, 0.0)
        if effects == "unit":
            yd, xd = effects_transform(y, x, "unit", observed)
            return _post_lasso_unit(yd, xd, groups, num_groups)

        def transform(a):
            return observed_within(a, observed, "twoway")

        return _post_lasso_twoway(y, x, groups, num_groups, transform)
    if effects == "unit":
        return _post_lasso_unit(*within_transform(y, x), groups, num_groups)
    return _post_lasso_twoway(y, x, groups, num_groups)


def split_effects(y, x, coefficients, groups, effects: str, observed=None):
    """Return the unit and time effects (``None`` for unit effects only) at given slopes.

    With two-way effects the unit effects carry the overall level and the time effects average
    zero. With ``observed`` they are the least-squares effects over the observed cells.
    """
    if observed is not None:
        x = np.where(observed[..., None], x, 0.0)
        e = np.where(observed, y, 0.0) - np.einsum("itp,ip->it", x, coefficients[groups])
        return observed_effects(e, observed, effects)
    e = y - np.einsum("itp,ip->it", x, coefficients[groups])
    unit = e.mean(axis=1)
    if effects == "unit":
        return unit, None
    return unit, e.mean(axis=0) - e.mean()
