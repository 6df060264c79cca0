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
from ._bai import bai_bias, bai_covariance, bai_fit, bai_fit_effects
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
from ._ife_inference import augmented_factors, cell_covariance, nuisance_residuals
from ._path import (
    initial_centres,
    run_penalties,
    seed_from_key,
    small_linear_algebra,
)
from ._pca import annihilator, principal_factors
from ._ppc_missing import heterogeneous_interactive_effects_missing
from ._results import grouped_result, order_groups, permute_blocks
from ._unbalanced import check_observed_periods, observed_within

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
    y,
    x,
    groups,
    num_groups: int,
    num_factors: int,
    start=None,
    *,
    tol=1e-9,
    max_steps=2000,
    observed=None,
    unit_effects: bool = False,
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
    observed : bool array (N, T), optional
        Observed cells of an unbalanced panel (``y``, ``x`` are then ignored elsewhere): the
        fit is :func:`~numpyro_semipar.panel.bai_fit_effects`'s EM-type iteration over the
        observed cells, residuals are zero in the others and ``mean_ssr`` averages over the
        observed ones.
    unit_effects : bool
        With ``observed``: unit effects besides the factors (balanced panels remove them
        beforehand).

    Returns
    -------
    GroupedFit
    """
    y, x, groups = np.asarray(y), np.asarray(x), np.asarray(groups)
    if observed is not None:
        y = np.where(observed, y, 0.0)
        x = np.where(observed[..., None], x, 0.0)
    sizes = np.bincount(groups, minlength=num_groups)
    if np.any(sizes == 0):
        raise ValueError(f"estimated group {int(np.argmin(sizes))} is empty")
    xe = _expand(x, groups, num_groups)
    gram = np.einsum("itp,itq->pq", xe, xe)
    if np.linalg.cond(gram) > 1e12:
        raise ValueError("the regressors are collinear within an estimated group")
    if start is None:
        start = np.linalg.solve(gram, np.einsum("itp,it->p", xe, y))
    if observed is not None:
        fit = bai_fit_effects(
            y,
            xe,
            observed,
            jnp.asarray(np.ravel(start)),
            num_factors=num_factors,
            effects="unit" if unit_effects else "none",
            tol=tol,
            max_steps=max_steps,
        )
        num_cells = int(np.sum(observed))
    else:
        fit = bai_fit(
            np.asarray(y),
            xe,
            np.ravel(start),
            num_factors=num_factors,
            tol=tol,
            max_steps=max_steps,
        )
        num_cells = y.size
    return GroupedFit(
        np.asarray(fit.beta).reshape(num_groups, x.shape[2]),
        np.asarray(fit.factors),
        np.asarray(fit.loadings),
        np.asarray(fit.residuals),
        float(fit.ssr) / num_cells,
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
        Additive unit effects besides the factors: removed by demeaning first on a balanced
        panel, estimated with the factors (loadings on a constant) on an unbalanced one.
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
            Long panel with ``entity`` and ``time`` columns. It may be unbalanced: absent
            rows, and rows with NaN in ``y`` or a regressor (also NaN in the arrays ``y``,
            ``x``), are missing cells (see Notes).
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
            ``lam``, ``group_summary``, ``observed`` (N, T). On an unbalanced panel the
            residuals are NaN in the missing cells and ``nobs`` counts the observed ones.

        Raises
        ------
        ValueError
            Among others, for units with too few observed periods for their slopes, factors
            and unit effect (named), and for ``bias_correction=True`` on an unbalanced panel.

        Notes
        -----
        On an unbalanced panel every step minimises squared residuals over the observed cells
        only. The factor part is estimated by the EM-type iteration of Bai (2009, appendix)
        that :class:`InteractiveEffects` uses: before each principal-components step the
        missing cells are completed with the fitted common component. Given the factors, the
        preliminary unit slopes and the C-Lasso block steps use each unit's observed periods
        projected off the factors (and the constant with ``unit_effects``, whose unit effects
        are then estimated jointly with the factors rather than by demeaning first). The
        criterion is averaged over the ``n`` observed cells, ``λ`` and the information
        criteria use ``T̄ = n/N`` for ``T``, and the post-Lasso covariance purges the
        regressors of the factor and effect directions by least squares over the observed
        cells. The Moon–Weidner bias correction is balanced-only.
        """
        panel = as_panel_data(y, x, data=data, entity=entity, time=time, allow_missing=True)
        if self.bias_correction and not panel.is_balanced:
            raise ValueError(
                "bias_correction=True needs a balanced panel; this one has "
                f"{int((~panel.observed).sum())} missing cells (pass bias_correction=False)"
            )
        ks, cs = resolve_candidates(self.num_groups, self.max_groups, self.c, panel.num_units)
        with float64(), small_linear_algebra():
            return self._fit(panel, ks, cs, seed_from_key(rng_key))

    def _preliminary(self, y, x, observed=None, entities=None):
        n, t, p = x.shape
        # Periods a unit's slopes must share with its loadings (and unit effect when it is
        # estimated with the factors, on unbalanced panels).
        extra = 0 if observed is None else int(self.unit_effects)
        shortest = t if observed is None else int(observed.sum(axis=1).min())
        if self.num_factors == "ic":
            candidates = [
                r for r in range(self.max_factors + 1) if shortest - r - extra > p and n > r
            ]
        else:
            r = int(self.num_factors)
            if r < 0 or t <= r or n <= r:
                raise ValueError(f"num_factors = {r} needs T > R and N > R; got N = {n}, T = {t}")
            if t - r <= p:
                raise ValueError(
                    f"T - R = {t - r} must exceed p = {p} for the unit-level preliminary slopes"
                )
            candidates = [r]
        if observed is None:
            unit_least_squares(y, x)  # names a unit whose regressors are collinear
        else:
            check_observed_periods(
                observed,
                entities,
                p + max(candidates, default=0) + extra + 1,
                f"too few for {p} slope(s), {max(candidates, default=0)} factor(s)"
                + (" and a unit effect" if extra else ""),
            )
            if self.unit_effects:
                unit_least_squares(
                    observed_within(y, observed, "unit"),
                    observed_within(x, observed, "unit"),
                    entities,
                )
            else:
                unit_least_squares(y, x, entities)
        t_bar = t if observed is None else observed.sum() / n
        rows, fits = [], {}
        for r in candidates:
            if observed is None:
                # NumPy inputs: jnp.asarray would compile a copy program per shape.
                beta, factors, v, _, conv = heterogeneous_interactive_effects(y, x, num_factors=r)
            else:
                beta, factors, v, _, conv = heterogeneous_interactive_effects_missing(
                    jnp.asarray(y),
                    jnp.asarray(x),
                    jnp.asarray(observed),
                    num_factors=r,
                    unit_effects=self.unit_effects,
                )
            fits[r] = (np.asarray(beta), np.asarray(factors), bool(conv))
            rows.append(
                {
                    "num_factors": r,
                    "mean_ssr": float(v),
                    "ic": bai_ng_criterion(float(v), r, n, t_bar, self.criterion),
                }
            )
        table = pd.DataFrame(rows)
        best = int(table["num_factors"][int(np.argmin(table["ic"]))])
        return best, fits[best], table

    def _fit(self, panel: PanelData, ks, cs, seed: int) -> EstimationResult:
        observed = panel.observed
        if observed is None:
            y, x = within_transform(panel.y, panel.x) if self.unit_effects else (panel.y, panel.x)
            y_variance = float(np.var(y))
        else:
            # Unit effects are estimated with the factors, not removed beforehand.
            y = np.where(observed, panel.y, 0.0)
            x = np.where(observed[..., None], panel.x, 0.0)
            centred = observed_within(y, observed, "unit") if self.unit_effects else y
            y_variance = float(np.var(centred[observed]))
        n, t, p = x.shape
        t_bar = t if observed is None else observed.sum() / n
        r, (beta_tilde, factors0, prelim_conv), factor_table = self._preliminary(
            y, x, observed, panel.entities
        )
        if not prelim_conv:
            warnings.warn(
                "the heterogeneous-slope preliminary fit did not converge",
                ConvergenceWarning,
                stacklevel=3,
            )
        lams = lambda_from_c(cs, y_variance, t_bar)
        multi = len(ks) * len(cs) > 1
        rows, fits, cache = [], [], {}

        def post_lasso(groups, k, start):
            key = (k, groups.tobytes())
            if key not in cache:
                cache[key] = grouped_interactive_effects(
                    y, x, groups, k, r, start, observed=observed, unit_effects=self.unit_effects
                )
            return cache[key]

        with progress(
            total=sum(self.max_steps for k in ks if k > 1), desc="Su-Ju", enabled=self.progress_bar
        ) as bar:
            for k in ks:
                if k == 1:
                    groups = np.zeros(n, dtype=int)
                    s2 = post_lasso(groups, 1, None).mean_ssr
                    ic = group_criterion(s2, 1, p, n, t_bar)
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
                    observed=observed,
                    unit_effects=self.unit_effects,
                )

                def mean_ssr(groups, m, k=k, path=path):
                    return post_lasso(groups, k, path.alpha[m]).mean_ssr

                scored = score_penalty_path(
                    path, k, cs, lams, mean_ssr, (n, t_bar, p), allow_failure=multi
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
        observed = panel.observed
        if observed is None:
            cov, _ = bai_covariance(
                fit.expanded_x,
                fit.factors,
                fit.loadings,
                fit.residuals,
                cov_type=self.cov_type,
                dof=dof,
            )
        else:
            effects = "unit" if self.unit_effects else "none"
            f_bar, lam_bar = augmented_factors(fit.factors, fit.loadings, effects)
            purged = nuisance_residuals(fit.expanded_x, observed, f_bar, lam_bar)
            cov = cell_covariance(
                fit.expanded_x,
                purged,
                fit.residuals,
                observed,
                cov_type=self.cov_type,
                dof=dof + n * int(self.unit_effects),
                small_sample=False,  # as bai_covariance on a balanced panel
            )
        coefs, factors, loadings, resid = fit.coefficients, fit.factors, fit.loadings, fit.residuals
        if observed is not None:
            resid = np.where(observed, resid, np.nan)
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
            "observed": np.ones((n, t), bool) if observed is None else observed,
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
