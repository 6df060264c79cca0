"""Bai (2009) iterative least squares / principal components and its inference.

The numerical core shared by :class:`InteractiveEffects` and the post-Lasso step of
:class:`SuJu` (grouped slopes are a homogeneous-slope model in an expanded design).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._deprecation import renamed_arguments
from ._pca import annihilator, principal_factors

__all__ = [
    "EFFECTS",
    "BaiFit",
    "EffectsFit",
    "bai_bias",
    "bai_covariance",
    "bai_fit",
    "bai_fit_effects",
    "decompose_effects",
    "pooled_ols",
]


class BaiFit(NamedTuple):
    """Output of :func:`bai_fit`.

    Attributes
    ----------
    beta : array of shape (p,)
    factors : array of shape (T, R), with ``FᵀF/T = I``
    loadings : array of shape (N, R)
    residuals : array of shape (N, T), ``y - x beta - loadings factorsᵀ``
    ssr : scalar, sum of squared residuals
    num_iter : int
    converged : bool
    """

    beta: jnp.ndarray
    factors: jnp.ndarray
    loadings: jnp.ndarray
    residuals: jnp.ndarray
    ssr: jnp.ndarray
    num_iter: jnp.ndarray
    converged: jnp.ndarray


def _regress_given_factors(y, x, factors):
    # beta = (sum_i X_i' M_F X_i)^{-1} sum_i X_i' M_F y_i
    m = annihilator(factors)
    mx = jnp.einsum("ts,isp->itp", m, x)
    gram = jnp.einsum("itp,itq->pq", mx, x)
    rhs = jnp.einsum("itp,it->p", mx, y)
    return jnp.linalg.solve(gram, rhs)


def pooled_ols(y, x):
    """Pooled least squares of ``y (N, T)`` on ``x (N, T, p)`` (no factors)."""
    return _regress_given_factors(y, x, jnp.zeros((y.shape[1], 0), dtype=y.dtype))


@renamed_arguments(max_iter="max_steps")
@partial(jax.jit, static_argnames=("num_factors", "max_steps"))
def bai_fit(y, x, beta0, *, num_factors: int, tol: float = 1e-9, max_steps: int = 2000) -> BaiFit:
    """Alternate principal components for F and least squares for beta (Bai 2009).

    Parameters
    ----------
    y : array of shape (N, T)
    x : array of shape (N, T, p)
    beta0 : array of shape (p,)
        Starting slope vector.
    num_factors : int
        Number of factors ``R``.
    tol : float
        Stop when ``max |beta_new - beta| <= tol * (1 + max |beta|)``.
    max_steps : int
        Largest number of iterations.

    Returns
    -------
    BaiFit
        The fitted slopes, factors, loadings and residuals.
    """

    def residual(beta):
        return y - jnp.einsum("itp,p->it", x, beta)

    def step(beta):
        factors, _, _ = principal_factors(residual(beta), num_factors)
        return _regress_given_factors(y, x, factors)

    def cond(state):
        _, it, change = state
        return (it < max_steps) & (change > 0.0)

    def body(state):
        beta, it, _ = state
        new = step(beta)
        gap = jnp.max(jnp.abs(new - beta)) - tol * (1.0 + jnp.max(jnp.abs(beta)))
        return new, it + 1, gap

    beta, num_iter, gap = jax.lax.while_loop(cond, body, (beta0, 0, jnp.inf))
    factors, loadings, _ = principal_factors(residual(beta), num_factors)
    resid = residual(beta) - loadings @ factors.T
    return BaiFit(beta, factors, loadings, resid, jnp.sum(resid**2), num_iter, gap <= 0.0)


def _tilde_regressors(x, factors, loadings):
    # X~_k = M_Lambda X_k M_F for every regressor k, shape (N, T, p).
    m_f = annihilator(np.asarray(factors), xp=np)
    n, r = loadings.shape
    if r:
        proj = loadings @ np.linalg.solve(loadings.T @ loadings, loadings.T)
        m_l = np.eye(n) - proj
    else:
        m_l = np.eye(n)
    left = np.tensordot(m_l, x, axes=(1, 0))  # (N, T, p)
    return np.einsum("itp,ts->isp", left, m_f, optimize=True)


def bai_covariance(x, factors, loadings, residuals, *, cov_type: str = "cluster", dof: int = 0):
    """Asymptotic covariance of the Bai estimator, ``W⁻¹ Ω W⁻¹ / (N T)``.

    Parameters
    ----------
    x : array of shape (N, T, p)
    factors, loadings, residuals : arrays
        From :func:`bai_fit`.
    cov_type : {"cluster", "robust", "homoskedastic"}
        ``"cluster"`` allows heteroskedasticity and serial correlation within units,
        ``"robust"`` heteroskedasticity only, ``"homoskedastic"`` neither.
    dof : int
        Number of estimated parameters used for the homoskedastic variance.

    Returns
    -------
    cov : ndarray of shape (p, p)
    w : ndarray of shape (p, p)
        ``W = (1/NT) sum tr(M_Λ X_k M_F X_lᵀ)``.
    """
    x, factors, loadings, e = (np.asarray(a) for a in (x, factors, loadings, residuals))
    n, t, _ = x.shape
    xt = _tilde_regressors(x, factors, loadings)
    w = np.einsum("itp,itq->pq", xt, x) / (n * t)
    if cov_type == "homoskedastic":
        sigma2 = np.sum(e**2) / max(n * t - dof, 1)
        omega = sigma2 * w
    elif cov_type == "robust":
        omega = np.einsum("it,itp,itq->pq", e**2, xt, xt) / (n * t)
    elif cov_type == "cluster":
        scores = np.einsum("itp,it->ip", xt, e)
        omega = scores.T @ scores / (n * t)
    else:
        raise ValueError(
            f"cov_type must be 'cluster', 'robust' or 'homoskedastic', got {cov_type!r}"
        )
    w_inv = np.linalg.inv(w)
    return w_inv @ omega @ w_inv / (n * t), w


def bai_bias(x, factors, loadings, residuals, *, bandwidth: int = 0, dynamic: bool = False):
    """Estimated leading bias of the Bai estimator (Moon and Weidner 2015, 2017).

    ``beta_hat - beta ≈ -W⁻¹ (B1/T + B2/N + B3/T)``, with ``B2`` from cross-sectional
    heteroskedasticity, ``B3`` from time-series heteroskedasticity and serial correlation
    (autocovariances up to ``bandwidth`` lags, truncated kernel), and ``B1`` from predetermined
    regressors (only when ``dynamic``). Returns the bias vector to subtract from ``beta_hat``.

    Parameters
    ----------
    x, factors, loadings, residuals : arrays
        Regressors and the output of :func:`bai_fit`.
    bandwidth : int
        Number of lags in the truncated-kernel estimates of the time-series covariances.
    dynamic : bool
        Include ``B1`` (regressors such as lagged ``y`` that depend on past errors).

    Returns
    -------
    ndarray of shape (p,)
        The estimated bias ``E[beta_hat] - beta``.
    """
    x, f, lam, e = (np.asarray(a) for a in (x, factors, loadings, residuals))
    n, t, p = x.shape
    r = f.shape[1]
    _, w = bai_covariance(x, f, lam, e, cov_type="homoskedastic")
    if r == 0:
        if not dynamic:
            return np.zeros(p)
        b2 = b3 = np.zeros(p)
    else:
        m_f = annihilator(f)
        m_l = np.eye(n) - lam @ np.linalg.solve(lam.T @ lam, lam.T)
        # A = F (FᵀF)⁻¹ (ΛᵀΛ)⁻¹ Λᵀ is (T, N).
        a = f @ np.linalg.solve(f.T @ f, np.linalg.solve(lam.T @ lam, lam.T))
        sigma_n = np.sum(e**2, axis=1)  # diagonal of E(e eᵀ)
        lags = np.abs(np.subtract.outer(np.arange(t), np.arange(t)))
        sigma_t = np.where(lags <= bandwidth, e.T @ e, 0.0)  # truncated E(eᵀ e)
        b2 = np.array([np.sum(sigma_n[:, None] * (m_l @ x[..., k]) * a.T) / t for k in range(p)])
        b3 = np.array([np.trace(sigma_t @ m_f @ x[..., k].T @ a.T) / n for k in range(p)])
    b1 = np.zeros(p)
    if dynamic and r:
        p_f = f @ f.T / t
        diff = np.subtract.outer(np.arange(t), np.arange(t))  # t - s
        keep = (diff < 0) & (diff >= -max(bandwidth, 1))  # 0 < s - t <= M
        for k in range(p):
            cross = np.where(keep, e.T @ x[..., k], 0.0)
            b1[k] = np.sum(p_f * cross) / n
    return -np.linalg.solve(w, b1 / t + b2 / n + b3 / t)


# --- Additive effects and missing cells ------------------------------------------------------

EFFECTS = ("none", "unit", "time", "twoway")


class EffectsFit(NamedTuple):
    """Output of :func:`bai_fit_effects`.

    Attributes
    ----------
    beta : array of shape (p,)
    factors : array of shape (T, R), ``FᵀF/T = I`` (and ``Fᵀ1 = 0`` with unit effects)
    loadings : array of shape (N, R) (``Λᵀ1 = 0`` with time effects)
    unit_effects : array of shape (N,)
        ``α_i``; with two-way effects they carry the overall level. Zero without unit effects.
    time_effects : array of shape (T,)
        ``ξ_t``; mean zero over periods with two-way effects. Zero without time effects.
    residuals : array of shape (N, T)
        ``y - xβ - α_i - ξ_t - λ_iᵀF_t`` on observed cells, zero on unobserved ones.
    ssr : scalar, sum of squared residuals over the observed cells
    num_iter : int
    converged : bool
    """

    beta: jnp.ndarray
    factors: jnp.ndarray
    loadings: jnp.ndarray
    unit_effects: jnp.ndarray
    time_effects: jnp.ndarray
    residuals: jnp.ndarray
    ssr: jnp.ndarray
    num_iter: jnp.ndarray
    converged: jnp.ndarray


def _effect_flags(effects: str) -> tuple[float, float]:
    # Unit and time effects as 0/1 weights, traced rather than static so that one compiled
    # iteration serves every choice of effects.
    if effects not in EFFECTS:
        raise ValueError(f"effects must be one of {list(EFFECTS)}, got {effects!r}")
    return float(effects in ("unit", "twoway")), float(effects in ("time", "twoway"))


def _demean_units(a, time_flag):
    # Time effects given everything else are cross-sectional means: profiling them out is
    # the left projection M_N (demeaning across units, period by period).
    return a - time_flag * a.mean(axis=0, keepdims=True)


def _right_annihilator(factors, unit_flag):
    # Unit effects are loadings on the known constant factor 1_T. Principal components of
    # row-demeaned residuals are orthogonal to 1_T, so [F, 1] has orthogonal columns.
    t = factors.shape[0]
    return (
        jnp.eye(t, dtype=factors.dtype)
        - factors @ factors.T / t
        - unit_flag * jnp.ones((t, t), dtype=factors.dtype) / t
    )


def _decompose(r, num_factors, unit_flag, time_flag):
    level = unit_flag * time_flag * jnp.mean(r)
    unit = unit_flag * (r.mean(axis=1) - level)
    time = time_flag * (r.mean(axis=0) - level)
    d = r - level - unit[:, None] - time[None, :]
    factors, loadings, _ = principal_factors(d, num_factors)
    return factors, loadings, unit + level, time


def decompose_effects(r, num_factors: int, effects: str):
    """Least-squares additive effects and rank-``R`` factor part of a complete (N, T) matrix.

    Parameters
    ----------
    r : array of shape (N, T)
    num_factors : int
    effects : {"none", "unit", "time", "twoway"}

    Returns
    -------
    tuple
        ``(factors, loadings, unit_effects, time_effects)``; with two-way effects the unit
        effects carry the overall level and the time effects average zero. Absent effects are
        zero.
    """
    unit_flag, time_flag = _effect_flags(effects)
    return _decompose(jnp.asarray(r), num_factors, unit_flag, time_flag)


def bai_fit_effects(
    y,
    x,
    observed,
    beta0,
    *,
    num_factors: int,
    effects: str = "none",
    tol: float = 1e-9,
    max_steps: int = 5000,
) -> EffectsFit:
    """Bai (2009) iterations with additive effects on a panel with missing cells.

    Minimises ``Σ_{(i,t) observed} (y_it - x_itᵀβ - α_i - ξ_t - λ_iᵀF_t)²``. Each iteration is
    one step of an EM-type majorisation (Bai 2009, appendix; as in regife and
    InteractiveFixedEffectModels.jl): unobserved cells of ``y`` are filled with the current fit
    of the effects and factors (with ``x`` set to zero there), then one balanced Bai step is
    taken on the filled panel: principal components of the doubly demeaned residuals for ``F``,
    least squares for ``β`` with the loadings and effects profiled out. Every step lowers the
    sum of squares over observed cells; with every cell observed it is exactly Bai's iteration
    (with the effects profiled out).

    Parameters
    ----------
    y : array of shape (N, T)
        Values in unobserved cells are ignored.
    x : array of shape (N, T, p)
    observed : bool array of shape (N, T)
    beta0 : array of shape (p,)
        Starting slope vector.
    num_factors : int
        Number of factors ``R``.
    effects : {"none", "unit", "time", "twoway"}
        Additive effects next to the factors.
    tol : float
        Stop when the changes of ``β`` and of the fitted effects-plus-factors part are both below
        ``tol * (1 + max |current value|)``.
    max_steps : int
        Largest number of iterations.

    Returns
    -------
    EffectsFit
    """
    unit_flag, time_flag = _effect_flags(effects)
    return _bai_fit_effects(
        jnp.asarray(y),
        jnp.asarray(x),
        jnp.asarray(observed, dtype=bool),
        jnp.asarray(beta0),
        unit_flag,
        time_flag,
        tol,
        num_factors=num_factors,
        max_steps=max_steps,
    )


@partial(jax.jit, static_argnames=("num_factors", "max_steps"))
def _bai_fit_effects(
    y, x, observed, beta0, unit_flag, time_flag, tol, *, num_factors, max_steps
) -> EffectsFit:
    y = jnp.where(observed, y, 0.0)
    x = jnp.where(observed[..., None], x, 0.0)

    def fill(fitted):
        return jnp.where(observed, y, fitted)

    def step(beta, fitted):
        y_full = fill(fitted)
        e = y_full - jnp.einsum("itp,p->it", x, beta)
        factors, _, _, _ = _decompose(e, num_factors, unit_flag, time_flag)
        m = _right_annihilator(factors, unit_flag)
        yl, xl = _demean_units(y_full, time_flag), _demean_units(x, time_flag)
        mx = jnp.einsum("ts,isp->itp", m, xl)
        new_beta = jnp.linalg.solve(
            jnp.einsum("itp,itq->pq", mx, xl), jnp.einsum("itp,it->p", mx, yl)
        )
        r = y_full - jnp.einsum("itp,p->it", x, new_beta)
        new_fitted = r - _demean_units(r, time_flag) @ m
        return new_beta, new_fitted

    def cond(state):
        _, _, it, gap = state
        return (it < max_steps) & (gap > 0.0)

    def body(state):
        beta, fitted, it, _ = state
        new_beta, new_fitted = step(beta, fitted)
        gap_beta = jnp.max(jnp.abs(new_beta - beta)) - tol * (1.0 + jnp.max(jnp.abs(beta)))
        gap_fit = jnp.max(jnp.abs(new_fitted - fitted)) - tol * (1.0 + jnp.max(jnp.abs(fitted)))
        return new_beta, new_fitted, it + 1, jnp.maximum(gap_beta, gap_fit)

    # Start the unobserved cells at the mean of the observed residuals.
    r0 = y - jnp.einsum("itp,p->it", x, beta0)
    fitted0 = jnp.full_like(y, jnp.sum(jnp.where(observed, r0, 0.0)) / jnp.sum(observed))
    beta, fitted, num_iter, gap = jax.lax.while_loop(
        cond, body, (beta0, fitted0, 0, jnp.asarray(jnp.inf, dtype=y.dtype))
    )
    r = fill(fitted) - jnp.einsum("itp,p->it", x, beta)
    factors, loadings, unit, time = _decompose(r, num_factors, unit_flag, time_flag)
    resid = r - unit[:, None] - time[None, :] - loadings @ factors.T
    resid = jnp.where(observed, resid, 0.0)
    return EffectsFit(
        beta, factors, loadings, unit, time, resid, jnp.sum(resid**2), num_iter, gap <= 0.0
    )
