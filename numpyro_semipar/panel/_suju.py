"""Su and Ju (2018): latent grouped slopes with interactive fixed effects (PPC C-Lasso)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .._deprecation import renamed_arguments
from .._progress import progress
from .._warnings import ConvergenceWarning
from .._x64 import float64
from ..reporting._result import EstimationResult
from ._bai import bai_bias, bai_covariance, bai_fit
from ._classo import resolve_candidates, unit_least_squares
from ._criteria import (
    bai_ng_criterion,
    candidate_row,
    group_criterion,
    lambda_from_c,
    score_penalty_path,
    select_candidate,
    validate_factor_options,
)
from ._data import PanelData, as_panel_data, within_transform
from ._path import (
    initial_centres,
    run_penalties,
    seed_from_key,
    small_linear_algebra,
)
from ._pca import annihilator, principal_factors
from ._results import grouped_result, order_groups, permute_blocks

__all__ = [
    "GroupedFit",
    "SuJu",
    "grouped_interactive_effects",
    "heterogeneous_interactive_effects",
]


@renamed_arguments(max_iter="max_steps")
@partial(jax.jit, static_argnames=("num_factors", "max_steps"))
def heterogeneous_interactive_effects(y, x, *, num_factors: int, tol=1e-8, max_steps: int = 1000):
    """Heterogeneous-slope interactive effects: ``y_it = β_iᵀx_it + λ_iᵀF_t + ε_it``.

    Alternates unit-by-unit least squares on data projected off ``F`` with principal components
    of the residuals for ``F`` (starting from the principal components of unit-OLS residuals).
    Consistent preliminary slopes when ``x`` is correlated with the factors, where plain unit
    OLS is not.

    Parameters
    ----------
    y : array of shape (N, T)
    x : array of shape (N, T, p)
    num_factors : int
    tol, max_steps
        Stop when the largest change of any ``β_i`` is below ``tol (1 + max |β|)``.

    Returns
    -------
    beta : array of shape (N, p)
    factors : array of shape (T, R)
    mean_ssr : scalar
        Mean squared residual after removing the factors.
    num_iter : int
    converged : bool
    """

    def slopes(factors):
        m = annihilator(factors)
        mx = jnp.einsum("ts,isp->itp", m, x)
        gram = jnp.einsum("itp,itq->ipq", mx, x)
        return jnp.linalg.solve(gram, jnp.einsum("itp,it->ip", mx, y)[..., None])[..., 0]

    def factors_of(beta):
        return principal_factors(y - jnp.einsum("itp,ip->it", x, beta), num_factors)[0]

    def cond(state):
        _, it, gap = state
        return (it < max_steps) & (gap > 0.0)

    def body(state):
        beta, it, _ = state
        new = slopes(factors_of(beta))
        gap = jnp.max(jnp.abs(new - beta)) - tol * (1.0 + jnp.max(jnp.abs(beta)))
        return new, it + 1, gap

    beta0 = slopes(jnp.zeros((y.shape[1], 0), dtype=y.dtype))
    beta, num_iter, gap = jax.lax.while_loop(cond, body, (beta0, 0, jnp.inf))
    factors = factors_of(beta)
    resid = y - jnp.einsum("itp,ip->it", x, beta)
    resid = resid - resid @ factors @ factors.T / y.shape[1]
    return beta, factors, jnp.mean(resid**2), num_iter, gap <= 0.0


def _expand(x: np.ndarray, groups: np.ndarray, num_groups: int) -> np.ndarray:
    # Grouped slopes are homogeneous slopes on x placed in its group's block of columns.
    n, t, p = x.shape
    out = np.zeros((n, t, num_groups, p))
    out[np.arange(n), :, groups, :] = x
    return out.reshape(n, t, num_groups * p)


class GroupedFit(NamedTuple):
    """Bai's estimator with group-specific slopes and common factors.

    Attributes
    ----------
    coefficients : ndarray (G, p)
    factors : ndarray (T, R)
    loadings : ndarray (N, R)
    residuals : ndarray (N, T)
    mean_ssr : float
    converged : bool
    num_iter : int
    expanded_x : ndarray (N, T, G p)
    """

    coefficients: np.ndarray
    factors: np.ndarray
    loadings: np.ndarray
    residuals: np.ndarray
    mean_ssr: float
    converged: bool
    num_iter: int
    expanded_x: np.ndarray


@renamed_arguments(max_iter="max_steps")
def grouped_interactive_effects(
    y, x, groups, num_groups: int, num_factors: int, start=None, *, tol=1e-9, max_steps=2000
) -> GroupedFit:
    """Post-Lasso step: Bai (2009) with slopes ``α_k`` shared within groups and common factors.

    Parameters
    ----------
    y : array (N, T)
    x : array (N, T, p)
    groups : int array (N,)
        Group labels in ``0..num_groups-1``; every group must be non-empty.
    num_groups, num_factors : int
    start : array (G, p), optional
        Starting coefficients (default: pooled least squares within groups).
    tol, max_steps
        Passed to :func:`~numpyro_semipar.panel.bai_fit`.

    Returns
    -------
    GroupedFit
    """
    y, x, groups = np.asarray(y), np.asarray(x), np.asarray(groups)
    sizes = np.bincount(groups, minlength=num_groups)
    if np.any(sizes == 0):
        raise ValueError(f"estimated group {int(np.argmin(sizes))} is empty")
    xe = _expand(x, groups, num_groups)
    gram = np.einsum("itp,itq->pq", xe, xe)
    if np.linalg.cond(gram) > 1e12:
        raise ValueError("the regressors are collinear within an estimated group")
    if start is None:
        start = np.linalg.solve(gram, np.einsum("itp,it->p", xe, y))
    fit = bai_fit(
        jnp.asarray(y),
        jnp.asarray(xe),
        jnp.asarray(np.ravel(start)),
        num_factors=num_factors,
        tol=tol,
        max_steps=max_steps,
    )
    return GroupedFit(
        np.asarray(fit.beta).reshape(num_groups, x.shape[2]),
        np.asarray(fit.factors),
        np.asarray(fit.loadings),
        np.asarray(fit.residuals),
        float(fit.ssr) / y.size,
        bool(fit.converged),
        int(fit.num_iter),
        xe,
    )


class SuJu:
    """Su and Ju (2018) penalised principal components with C-Lasso.

    Model ``y_it = β_iᵀx_it + λ_iᵀF_t + ε_it`` with ``β_i = α_k`` for ``i ∈ G_k``. Steps:
    heterogeneous-slope interactive-effects preliminary estimates; C-Lasso block steps (convex,
    solved exactly in JAX) on the data projected off the current factors, alternating with the
    principal-components update of ``F``; classification by exact shrinkage; post-Lasso Bai
    estimation with group slopes and common factors, whose covariance gives the standard errors.

    Parameters
    ----------
    num_groups : int or "ic"
        Number of groups, or ``"ic"``: chosen in ``1..max_groups`` jointly with ``c`` by
        ``IC(K, λ) = ln σ̂²(K, λ) + (2/3)(NT)^(-1/2) p K`` (post-Lasso residuals).
    num_factors : int or "ic"
        Number of factors ``R`` (``0`` allowed), or ``"ic"``: chosen in ``0..max_factors`` by the
        Bai–Ng criterion on the heterogeneous-slope preliminary fit.
    c : float, sequence of float or None
        Tuning constant(s) in ``λ = c s²_Y T^(-1/3)``; a sequence (or ``None``: 10 geometric
        points on [0.2, 2]) is searched by the IC.
    max_groups, max_factors : int
        Ranges searched by ``"ic"``.
    criterion : {"IC1", "IC2", "IC3"}
        Bai–Ng criterion for the number of factors.
    unit_effects : bool
        Remove unit means first (additive unit effects besides the factors).
    bias_correction : bool
        Subtract the estimated leading bias of the post-Lasso Bai estimator.
    cov_type : {"cluster", "robust", "homoskedastic"}
        Covariance of the post-Lasso estimates.
    max_steps, tol
        Largest number of outer PPC iterations, and the tolerance on the relative L1 change
        of ``α`` and ``β``.
    progress_bar : bool
        Progress bar over the outer iterations (off when ``CI`` is set).
    """

    @renamed_arguments(max_iter="max_steps")
    def __init__(
        self,
        num_groups: int | str = "ic",
        num_factors: int | str = "ic",
        *,
        c: float | Sequence[float] | None = None,
        max_groups: int = 5,
        max_factors: int = 5,
        criterion: str = "IC1",
        unit_effects: bool = False,
        bias_correction: bool = False,
        cov_type: str = "cluster",
        max_steps: int = 80,
        tol: float = 1e-4,
        progress_bar: bool = True,
    ) -> None:
        validate_factor_options(num_factors, criterion, cov_type)
        self.num_groups = num_groups
        self.num_factors = num_factors
        self.c = c
        self.max_groups = int(max_groups)
        self.max_factors = int(max_factors)
        self.criterion = criterion
        self.unit_effects = bool(unit_effects)
        self.bias_correction = bool(bias_correction)
        self.cov_type = cov_type
        self.max_steps = int(max_steps)
        self.tol = float(tol)
        self.progress_bar = progress_bar

    def fit(
        self,
        y: Any,
        x: Any = None,
        *,
        data: Any = None,
        entity: str | None = None,
        time: str | None = None,
        rng_key=None,
    ) -> EstimationResult:
        """Estimate groups, group coefficients, factors and loadings.

        Parameters
        ----------
        y : array of shape (N, T) or str
            Dependent variable (a column name when ``data`` is given).
        x : array of shape (N, T, p) or list of str
            Regressors (column names when ``data`` is given).
        data : pandas.DataFrame, optional
            Long, balanced panel with ``entity`` and ``time`` columns.
        entity, time : str, optional
            Unit and period columns of ``data``.
        rng_key : jax.random.key, optional
            Seeds the k-means initial centres (default ``jax.random.key(0)``).

        Returns
        -------
        EstimationResult
            ``params["alpha"]`` (G, p) post-Lasso coefficients; extra fields ``groups``,
            ``group_coefficients``, ``factors`` (T, R, ``FᵀF/T = I``), ``loadings`` (N, R),
            ``residuals`` (consistent with the reported estimates), ``shrunk``,
            ``unit_coefficients``, ``penalized_coefficients``, ``ic``, ``factor_ic``, ``c``,
            ``lam``, ``group_summary``.
        """
        panel = as_panel_data(y, x, data=data, entity=entity, time=time)
        ks, cs = resolve_candidates(self.num_groups, self.max_groups, self.c, panel.num_units)
        with float64(), small_linear_algebra():
            return self._fit(panel, ks, cs, seed_from_key(rng_key))

    def _preliminary(self, y, x):
        n, t, p = x.shape
        if self.num_factors == "ic":
            candidates = [r for r in range(self.max_factors + 1) if t - r > p and n > r]
        else:
            r = int(self.num_factors)
            if r < 0 or t <= r or n <= r:
                raise ValueError(f"num_factors = {r} needs T > R and N > R; got N = {n}, T = {t}")
            if t - r <= p:
                raise ValueError(
                    f"T - R = {t - r} must exceed p = {p} for the unit-level preliminary slopes"
                )
            candidates = [r]
        unit_least_squares(y, x)  # names a unit whose regressors are collinear
        rows, fits = [], {}
        for r in candidates:
            beta, factors, v, _, conv = heterogeneous_interactive_effects(
                jnp.asarray(y), jnp.asarray(x), num_factors=r
            )
            fits[r] = (np.asarray(beta), np.asarray(factors), bool(conv))
            rows.append(
                {
                    "num_factors": r,
                    "mean_ssr": float(v),
                    "ic": bai_ng_criterion(float(v), r, n, t, self.criterion),
                }
            )
        table = pd.DataFrame(rows)
        best = int(table["num_factors"][int(np.argmin(table["ic"]))])
        return best, fits[best], table

    def _fit(self, panel: PanelData, ks, cs, seed: int) -> EstimationResult:
        y, x = within_transform(panel.y, panel.x) if self.unit_effects else (panel.y, panel.x)
        n, t, p = x.shape
        r, (beta_tilde, factors0, prelim_conv), factor_table = self._preliminary(y, x)
        if not prelim_conv:
            warnings.warn(
                "the heterogeneous-slope preliminary fit did not converge",
                ConvergenceWarning,
                stacklevel=3,
            )
        lams = lambda_from_c(cs, float(np.var(y)), t)
        multi = len(ks) * len(cs) > 1
        rows, fits, cache = [], [], {}

        def post_lasso(groups, k, start):
            key = (k, groups.tobytes())
            if key not in cache:
                cache[key] = grouped_interactive_effects(y, x, groups, k, r, start)
            return cache[key]

        with progress(
            total=sum(self.max_steps for k in ks if k > 1), desc="Su-Ju", enabled=self.progress_bar
        ) as bar:
            for k in ks:
                if k == 1:
                    groups = np.zeros(n, dtype=int)
                    s2 = post_lasso(groups, 1, None).mean_ssr
                    ic = group_criterion(s2, 1, p, n, t)
                    rows.append(candidate_row(1, np.nan, np.nan, ic, s2, True, 0))
                    fits.append((groups, None, None, np.nan, np.nan))
                    continue
                centres = initial_centres(beta_tilde, k, seed)
                path = run_penalties(
                    y,
                    x,
                    beta_tilde,
                    factors0,
                    centres,
                    lams / n,
                    num_factors=r,
                    max_iter=self.max_steps,
                    tol=self.tol,
                    padded_groups=max(ks),
                    bar=bar,
                )

                def mean_ssr(groups, m, k=k, path=path):
                    return post_lasso(groups, k, path.alpha[m]).mean_ssr

                scored = score_penalty_path(
                    path, k, cs, lams, mean_ssr, (n, t, p), allow_failure=multi
                )
                for m, row in enumerate(scored):
                    rows.append(row)
                    fits.append((path.groups[m], path, m, row["c"], row["lam"]))
        table, best = select_candidate(rows, ks, cs)
        groups, path, m, c, lam = fits[best]
        k = int(table["num_groups"][best])
        fit = post_lasso(groups, k, None if path is None else path.alpha[m])
        return self._finish(
            panel, x, r, k, groups, path, m, c, lam, fit, beta_tilde, table, factor_table
        )

    def _finish(
        self, panel, x, r, k, groups, path, m, c, lam, fit, beta_tilde, table, factor_table
    ) -> EstimationResult:
        n, t, p = x.shape
        if path is None:
            penalized, unit_coefs, shrunk = np.full((1, p), np.nan), beta_tilde, np.zeros(n, bool)
            converged, num_iter = True, 0
        else:
            penalized, unit_coefs, shrunk = path.alpha[m], path.beta[m], path.shrunk[m]
            converged, num_iter = bool(path.converged[m]), int(path.num_iter[m])
        if not converged:
            warnings.warn(
                f"the PPC C-Lasso iterations did not converge in {self.max_steps} outer iterations "
                f"(num_groups={k}, c={c:.3g})",
                ConvergenceWarning,
                stacklevel=3,
            )
        if not fit.converged:
            warnings.warn(
                "the post-Lasso Bai iterations did not converge", ConvergenceWarning, stacklevel=3
            )
        dof = k * p + (n + t) * r
        cov, _ = bai_covariance(
            fit.expanded_x,
            fit.factors,
            fit.loadings,
            fit.residuals,
            cov_type=self.cov_type,
            dof=dof,
        )
        coefs, factors, loadings, resid = fit.coefficients, fit.factors, fit.loadings, fit.residuals
        uncorrected = coefs.copy()
        if self.bias_correction:
            bias = bai_bias(fit.expanded_x, factors, loadings, resid, bandwidth=int(t**0.25))
            coefs = coefs - bias.reshape(k, p)
            y = panel.y - panel.y.mean(1, keepdims=True) if self.unit_effects else panel.y
            base = jnp.asarray(y - np.einsum("itp,ip->it", x, coefs[groups]))
            f, lo, _ = principal_factors(base, r)
            factors, loadings = np.asarray(f), np.asarray(lo)
            resid = np.asarray(base) - loadings @ factors.T
        coefs, new_groups, order = order_groups(coefs, groups)
        cov = permute_blocks(cov, order, p)
        extra = {
            "shrunk": shrunk,
            "unit_coefficients": unit_coefs,
            "penalized_coefficients": penalized[order],
            "uncorrected_coefficients": uncorrected[order],
            "ic": table,
            "factor_ic": factor_table,
            "c": c,
            "lam": lam,
            "unit_effects": self.unit_effects,
            "bias_correction": self.bias_correction,
        }
        return grouped_result(
            estimator="SuJu",
            panel=panel,
            coefficients=coefs,
            cov=cov,
            groups=new_groups,
            residuals=resid,
            factors=factors,
            loadings=loadings,
            converged=converged and fit.converged,
            num_iter=num_iter,
            message="" if converged else "outer iterations did not converge",
            cov_type=self.cov_type,
            extra=extra,
        )
