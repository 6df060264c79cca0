"""Bai (2009) interactive fixed effects with homogeneous slopes."""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from .._deprecation import renamed_arguments
from .._progress import progress
from .._warnings import ConvergenceWarning
from .._x64 import float64
from ..reporting._result import EstimationResult
from ._bai import (
    EFFECTS,
    EffectsFit,
    _tilde_regressors,
    bai_bias,
    bai_fit_effects,
    decompose_effects,
)
from ._criteria import ahn_horenstein, bai_ng_criterion, onatski, validate_factor_options
from ._data import PanelData, _plain, as_panel_data
from ._ife_inference import (
    augmented_factors,
    cell_covariance,
    cluster_labels,
    effects_only_least_squares,
    nuisance_residuals,
)
from ._path import small_linear_algebra
from ._unit_bootstrap import interactive_effects_bootstrap

__all__ = ["InteractiveEffects", "fit_multistart"]

# Bai-Ng information criteria, and the eigenvalue criteria of Ahn-Horenstein and Onatski.
CRITERIA = ("IC1", "IC2", "IC3", "ER", "GR", "ED")
COV_TYPES = ("cluster", "robust", "homoskedastic", "hac", "bootstrap")


def _check_factor_count(num_factors: int, n: int, t: int) -> None:
    if num_factors < 0:
        raise ValueError(f"num_factors must be >= 0, got {num_factors}")
    if num_factors >= min(n, t):
        raise ValueError(f"num_factors = {num_factors} needs T > R and N > R; got N = {n}, T = {t}")


def fit_multistart(
    y,
    x,
    observed,
    num_factors: int,
    *,
    effects: str,
    num_starts: int,
    rng_key,
    tol: float,
    max_steps: int,
    pooled=None,
) -> EffectsFit:
    """Bai's iterations from several starts; returns the fit with the smallest SSR.

    Starts: least squares with the additive effects only (``pooled``, computed when not given);
    least squares given the principal components of ``y`` purged of the effects (the "factors
    first" start); and ``num_starts - 2`` random perturbations of the first.
    """
    y, x = np.asarray(y), np.asarray(x)
    observed = np.asarray(observed, dtype=bool)
    if pooled is None:
        pooled = effects_only_least_squares(y, x, observed, effects)
    beta_ols = jnp.asarray(pooled.beta)
    starts = [beta_ols]
    if num_factors > 0 and num_starts > 1:
        # NumPy here: these small one-off products are not worth compiling.
        _, vectors = np.linalg.eigh(pooled.y_purged.T @ pooled.y_purged)
        f_y = vectors[:, ::-1][:, :num_factors]
        m = np.eye(y.shape[1]) - f_y @ f_y.T
        mx = np.einsum("ts,isp->itp", m, pooled.x_purged)
        gram = np.einsum("itp,itq->pq", mx, pooled.x_purged)
        starts.append(
            jnp.asarray(np.linalg.solve(gram, np.einsum("itp,it->p", mx, pooled.y_purged)))
        )
    scale = 0.5 * jnp.maximum(jnp.abs(beta_ols), 1.0)
    keys = jax.random.split(rng_key, max(num_starts, 1))
    while len(starts) < num_starts:
        noise = jax.random.normal(keys[len(starts)], beta_ols.shape, dtype=beta_ols.dtype)
        starts.append(beta_ols + scale * noise)
    if num_factors == 0 and observed.all():
        starts = starts[:1]  # least squares given no factors is the global minimum
    y_j, x_j = jnp.asarray(np.nan_to_num(y)), jnp.asarray(np.nan_to_num(x))
    best = None
    for beta0 in starts:
        fit = bai_fit_effects(
            y_j,
            x_j,
            observed,
            beta0,
            num_factors=num_factors,
            effects=effects,
            tol=tol,
            max_steps=max_steps,
        )
        if best is None or float(fit.ssr) < float(best.ssr) - 1e-10 * float(best.ssr):
            best = fit
    return best


def _check_collinear(x, x_purged, observed, names, effects) -> None:
    design = x_purged[observed]
    scale = np.sqrt(np.sum(design**2, axis=0))
    raw = np.sqrt(np.sum(x[observed] ** 2, axis=0))
    with_effects = "" if effects == "none" else f" (after removing the {effects} effects)"
    # Absorbed: what the effects leave of the regressor is rounding error of the regressor.
    absorbed = [names[k] for k in range(len(names)) if scale[k] <= 1e-10 * raw[k]]
    if absorbed:
        raise ValueError(
            f"regressor(s) {absorbed} have no variation{with_effects}: they are absorbed by "
            "the effects or are identically zero; drop them"
        )
    _, sv, vt = np.linalg.svd(design / scale, full_matrices=False)
    if sv[-1] <= 1e-10 * sv[0]:
        null = vt[-1]
        involved = [names[k] for k in range(len(names)) if abs(null[k]) > 1e-6]
        raise ValueError(
            f"regressors {involved} are perfectly collinear{with_effects}; drop one of them"
        )


class InteractiveEffects:
    """Bai (2009) interactive fixed effects with optional additive effects and missing cells.

    The model is ``y_it = μ + α_i + ξ_t + βᵀx_it + λ_iᵀF_t + ε_it`` with unit effects ``α_i``,
    time effects ``ξ_t`` and an intercept ``μ`` each optional (``effects``, ``intercept``), as
    in regife's ``absorb()`` and InteractiveFixedEffectModels.jl's ``fe(id) + fe(time)``. The
    estimator minimises the sum of squared residuals over the observed cells: principal
    components for ``F`` (normalised ``FᵀF/T = I``) alternate with least squares for ``β``, from
    several starting values (the problem is not convex), keeping the fit with the smallest sum
    of squares. Missing cells are handled by the EM-type iteration of Bai (2009, appendix):
    they are filled with the current fit of the effects and factors before every step, so
    the additive effects are estimated on the observed cells.

    Standard errors use ``W⁻¹ Ω W⁻¹ / n`` with ``W`` built from the regressors purged of the
    effects and of the tangent space of the factor part (``M_Λ̄ X M_F̄`` on a balanced panel). On
    balanced panels the leading ``O(1/N)`` and ``O(1/T)`` biases from heteroskedasticity and
    serial correlation (Bai 2009; Moon and Weidner 2015, 2017), computed on the data with the
    additive effects projected out, are estimated and removed when ``bias_correction`` is on.

    Parameters
    ----------
    num_factors : int or "ic"
        Number of factors ``R``, or ``"ic"`` to choose ``R`` in ``0..max_factors`` by
        ``criterion``.
    effects : {"none", "unit", "time", "twoway"}
        Additive effects next to the factors. With two-way effects the reported unit effects
        carry the overall level and the time effects average zero over periods.
    intercept : bool
        Add a constant regressor (reported as ``"intercept"``); only without additive effects,
        which absorb it.
    max_factors : int
        Largest ``R`` considered by ``"ic"``.
    criterion : {"IC1", "IC2", "IC3", "ER", "GR", "ED"}
        Bai–Ng (2002) criterion, or an eigenvalue criterion: Ahn and Horenstein's (2013)
        eigenvalue ratio ``"ER"`` or growth ratio ``"GR"``, Onatski's (2010) edge distribution
        ``"ED"``. The eigenvalue criteria are applied to ``y - xβ̂`` less the additive effects
        (missing cells completed by the fit), with ``β̂`` estimated with ``max_factors``
        factors, which is consistent when ``R`` is over-specified (Moon and Weidner 2015);
        the model is then refitted with the chosen ``R``.
    num_starts : int
        Number of starting values.
    bias_correction : bool, optional
        Report ``β̂ - bias`` (the uncorrected estimate stays in ``extra``). Default: on for
        balanced panels; the bias estimate is not available for unbalanced panels, where
        ``True`` is an error.
    bandwidth : int, optional
        Number of lags ``L`` of serial correlation allowed for: in the truncated-kernel
        estimate of serial covariances in the bias, and in the Newey–West weights
        ``1 - j/(L+1)`` of ``cov_type="hac"``. Default ``floor(T^(1/4))`` (Bai 2009; Greene's
        rule for Newey–West).
    dynamic : bool
        Regressors are predetermined (e.g. lagged ``y``): add the corresponding bias term.
    cov_type : {"cluster", "robust", "homoskedastic", "hac", "bootstrap"}
        Covariance of the slopes. All but ``"bootstrap"`` are sandwiches ``W⁻¹ S W⁻¹`` with
        ``W = Σ x̃ xᵀ`` over the observed cells and ``x̃`` the regressors purged of the effects
        and of the factor part's tangent space, and with ``k`` the number of regressors plus
        the levels of the additive effects (``N`` and/or ``T``; factors not counted), as
        InteractiveFixedEffectModels.jl counts them:

        - ``"cluster"`` (default): clustered by unit, or on one or two variables given by
          ``fit(cluster=...)`` (Cameron, Gelbach and Miller 2011: ``S = S_a + S_b - S_ab``
          for two ways, negative eigenvalues set to zero), times
          ``G/(G-1)·(n-1)/(n-k)`` with ``G`` the smaller number of clusters: Vcov.jl's
          ``cluster`` (regife's ``vce(cluster a b)`` via reghdfe).
        - ``"robust"``: heteroskedasticity-robust, no small-sample factor (HC0).
        - ``"homoskedastic"``: ``Σe²/(n - k - (N+T)R)`` times ``W⁻¹``.
        - ``"hac"``: Newey–West (Bartlett) autocovariances of the scores within each unit up
          to ``bandwidth`` lags, summed over units (statsmodels' ``"hac-panel"``), times
          ``n/(n-k)``.
        - ``"bootstrap"``: the covariance of ``num_bootstrap`` re-estimations on panels of
          units drawn with replacement (regife's ``vce(bootstrap)``); the draws are kept in
          ``result.bootstrap_draws`` (and the ArviZ group ``bootstrap``) for percentile
          intervals.
    num_bootstrap : int
        Number of bootstrap panels for ``cov_type="bootstrap"`` (at least 2).
    tol, max_steps
        Convergence tolerance on ``β`` and on the fitted effects-plus-factors part, and the
        largest number of iterations per start.
    progress_bar : bool
        Progress bar over the candidate numbers of factors (off when ``CI`` is set).
    """

    @renamed_arguments(max_iter="max_steps")
    def __init__(
        self,
        num_factors: int | str = "ic",
        *,
        effects: str = "none",
        intercept: bool = False,
        max_factors: int = 8,
        criterion: str = "IC1",
        num_starts: int = 4,
        bias_correction: bool | None = None,
        bandwidth: int | None = None,
        dynamic: bool = False,
        cov_type: str = "cluster",
        num_bootstrap: int = 199,
        tol: float = 1e-9,
        max_steps: int = 5000,
        progress_bar: bool = True,
    ) -> None:
        validate_factor_options(
            num_factors, criterion, cov_type, criteria=CRITERIA, cov_types=COV_TYPES
        )
        if bandwidth is not None and (
            isinstance(bandwidth, bool) or int(bandwidth) != bandwidth or bandwidth < 0
        ):
            raise ValueError(f"bandwidth must be an integer >= 0, got {bandwidth!r}")
        if isinstance(num_bootstrap, bool) or int(num_bootstrap) != num_bootstrap:
            raise ValueError(f"num_bootstrap must be an integer >= 2, got {num_bootstrap!r}")
        if num_bootstrap < 2:
            raise ValueError(f"num_bootstrap must be an integer >= 2, got {num_bootstrap!r}")
        if effects not in EFFECTS:
            raise ValueError(f"effects must be one of {list(EFFECTS)}, got {effects!r}")
        if intercept and effects != "none":
            raise ValueError(
                f"intercept=True with effects={effects!r}: the additive effects absorb the "
                "intercept; use one or the other"
            )
        self.num_factors = num_factors
        self.effects = effects
        self.intercept = bool(intercept)
        self.max_factors = int(max_factors)
        self.criterion = criterion
        self.num_starts = int(num_starts)
        self.bias_correction = None if bias_correction is None else bool(bias_correction)
        self.bandwidth = bandwidth
        self.dynamic = bool(dynamic)
        self.cov_type = cov_type
        self.num_bootstrap = int(num_bootstrap)
        self.tol = float(tol)
        self.max_steps = int(max_steps)
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
        cluster=None,
    ) -> EstimationResult:
        """Estimate ``β``, the additive effects, the factors and the loadings.

        Parameters
        ----------
        y : array of shape (N, T) or str
            Dependent variable (a column name when ``data`` is given). NaN marks a missing cell.
        x : array of shape (N, T, p) or list of str
            Regressors (column names when ``data`` is given). A cell with NaN in any regressor
            is missing.
        data : pandas.DataFrame, optional
            Long panel with ``entity`` and ``time`` columns; absent (entity, time) rows are
            missing cells.
        entity, time : str, optional
            Unit and period columns of ``data``.
        rng_key : jax.random.key, optional
            Seeds the random starting values and, with ``cov_type="bootstrap"``, the resampling
            (default ``jax.random.key(0)``).
        cluster : str, array or list of two, optional
            Clustering variable(s) for ``cov_type="cluster"``: a column of ``data`` (e.g.
            ``"state"``), an array of labels of shape (N, T), or (N,) for one label per unit,
            in the panel's unit and period order (sorted labels with ``data``), or a list of
            two of these for two-way clustering (``["state", "year"]``). Default: the unit.

        Returns
        -------
        EstimationResult
            ``params["beta"]`` (p,) and its covariance; extra fields ``factors`` (T, R),
            ``loadings`` (N, R), ``unit_effects`` (N,), ``time_effects`` (T,), ``residuals``
            (N, T, NaN in missing cells, consistent with the reported ``β``), ``observed``
            (N, T), ``uncorrected_beta``, ``uncorrected_std_errors``, ``bias``,
            ``num_factors``, ``cluster_counts`` (clusters per dimension, for
            ``cov_type="cluster"``), ``bootstrap_draws`` (B, p) (for
            ``cov_type="bootstrap"``), ``ic`` (the Bai–Ng table over the fitted ``R``,
            ``IC1`` when an eigenvalue criterion is set; with ``num_factors="ic"`` and an
            eigenvalue criterion, the Ahn–Horenstein table with columns ``er``, ``gr`` and
            Onatski's ``ed``).

        Raises
        ------
        ValueError
            For perfectly collinear regressors (named), regressors absorbed by the effects,
            units or periods without observed cells, ``bias_correction=True`` on an
            unbalanced panel, and cluster labels that are missing in observed cells, have the
            wrong shape, or come without ``cov_type="cluster"``.
        """
        if cluster is not None and self.cov_type != "cluster":
            raise ValueError(
                f"cluster= is used only with cov_type='cluster'; this estimator has "
                f"cov_type={self.cov_type!r}"
            )
        panel = as_panel_data(y, x, data=data, entity=entity, time=time, allow_missing=True)
        if self.intercept:
            ones = np.where(np.isnan(panel.y), np.nan, 1.0)[..., None]
            panel = panel._replace(
                x=np.concatenate([ones, panel.x], axis=2),
                regressor_names=("intercept", *panel.regressor_names),
            )
        if self.bias_correction and not panel.is_balanced:
            raise ValueError(
                "bias_correction=True needs a balanced panel; this one has "
                f"{int((~panel.observed).sum())} missing cells (pass bias_correction=False)"
            )
        if rng_key is None:
            rng_key = jax.random.key(0)
        observed = self._observed(panel)
        clusters = None
        if self.cov_type == "cluster":
            clusters = cluster_labels(cluster, panel, observed, data=data, entity=entity, time=time)
        with float64(), small_linear_algebra():
            return self._fit(panel, observed, rng_key, clusters)

    def _observed(self, panel: PanelData) -> np.ndarray:
        n, t = panel.y.shape
        if panel.observed is None:
            return np.ones((n, t), dtype=bool)
        observed = panel.observed
        for axis, labels, what in ((1, panel.entities, "unit"), (0, panel.times, "period")):
            empty = np.flatnonzero(~observed.any(axis=axis))
            if empty.size:
                raise ValueError(
                    f"{what}(s) {[_plain(v) for v in labels[empty][:5]]} have no observed "
                    "cell (y and all regressors present); drop them"
                )
        return observed

    def _fit(self, panel: PanelData, observed, rng_key, clusters) -> EstimationResult:
        n, t, p = panel.x.shape
        nobs = int(observed.sum())
        y = np.nan_to_num(panel.y)
        x = np.nan_to_num(panel.x)
        pooled = effects_only_least_squares(y, x, observed, self.effects)
        _check_collinear(x, pooled.x_purged, observed, panel.regressor_names, self.effects)
        if self.num_factors == "ic":
            if self.criterion in ("ER", "GR", "ED"):
                table, r, fit = self._eigenvalue_selection(y, x, observed, pooled, rng_key)
            else:
                candidates = list(range(0, min(self.max_factors, min(n, t) - 1) + 1))
                table, r, fit = self._bai_ng_selection(y, x, observed, pooled, rng_key, candidates)
        else:
            _check_factor_count(int(self.num_factors), n, t)
            table, r, fit = self._bai_ng_selection(
                y, x, observed, pooled, rng_key, [int(self.num_factors)]
            )

        converged = bool(fit.converged)
        if not converged:
            warnings.warn(
                f"Bai's iterations did not converge in {self.max_steps} iterations (R = {r})",
                ConvergenceWarning,
                stacklevel=3,
            )
        has_unit = self.effects in ("unit", "twoway")
        has_time = self.effects in ("time", "twoway")
        # Regressors plus absorbed effect levels: k of the small-sample factors.
        absorbed = p + n * has_unit + t * has_time
        dof = absorbed + (n + t) * r
        bandwidth = int(t**0.25) if self.bandwidth is None else int(self.bandwidth)
        beta_hat = np.asarray(fit.beta)
        balanced = bool(observed.all())
        bias_correction = balanced if self.bias_correction is None else self.bias_correction
        if balanced:
            # The Moon-Weidner bias on the data with the additive effects projected out (on a
            # balanced panel Bai's estimator with effects is Bai's estimator on those data).
            bias = bai_bias(
                pooled.x_purged,
                fit.factors,
                fit.loadings,
                fit.residuals,
                bandwidth=bandwidth,
                dynamic=self.dynamic,
            )
        else:
            bias = np.full(p, np.nan)
        fit_hat = fit
        beta = beta_hat - bias if bias_correction else beta_hat
        if bias_correction:
            fit = _refit_given_beta(y, x, beta, r, self.effects)
        bootstrap_groups = {}
        if self.cov_type == "bootstrap":
            draws = interactive_effects_bootstrap(
                y,
                x,
                observed,
                beta_hat,
                num_factors=r,
                effects=self.effects,
                bias_correction=bias_correction,
                bandwidth=bandwidth,
                dynamic=self.dynamic,
                tol=self.tol,
                max_steps=self.max_steps,
                num_bootstrap=self.num_bootstrap,
                rng_key=jax.random.fold_in(rng_key, 1),
                progress_bar=self.progress_bar,
            )
            cov_hat = np.atleast_2d(np.cov(draws[:, 0], rowvar=False))
            cov = np.atleast_2d(np.cov(draws[:, 1], rowvar=False))
            draws = draws[:, 1]
            bootstrap_groups["bootstrap"] = xr.Dataset(
                {"beta": (["draw", "regressor"], draws)},
                coords={"draw": np.arange(len(draws)), "regressor": list(panel.regressor_names)},
            )
        else:
            options = {"absorbed": absorbed, "clusters": clusters, "bandwidth": bandwidth}
            cov = self._covariance(x, observed, fit, dof, **options)
            cov_hat = (
                self._covariance(x, observed, fit_hat, dof, **options) if bias_correction else cov
            )
        factors, loadings = np.asarray(fit.factors), np.asarray(fit.loadings)
        resid = np.where(observed, np.asarray(fit.residuals), np.nan)
        panel_ds = xr.Dataset(
            {"factors": (["time", "factor"], factors), "loadings": (["unit", "factor"], loadings)},
            coords={"unit": panel.entities, "time": panel.times, "factor": np.arange(r)},
        )
        extra = {
            "factors": factors,
            "loadings": loadings,
            "unit_effects": np.asarray(fit.unit_effects),
            "time_effects": np.asarray(fit.time_effects),
            "effects": self.effects,
            "residuals": resid,
            "observed": observed,
            "num_factors": r,
            "uncorrected_beta": beta_hat,
            "uncorrected_std_errors": np.sqrt(np.diag(cov_hat)),
            "bias": bias if bias_correction else np.zeros(p),
            "estimated_bias": bias,
            "bias_correction": bias_correction,
            "ic": table,
            "regressor_names": panel.regressor_names,
            "arviz_groups": {"panel": panel_ds, **bootstrap_groups},
        }
        if self.cov_type == "cluster":
            extra["cluster_counts"] = tuple(int(c[observed].max()) + 1 for c in clusters)
        if self.cov_type == "hac":
            extra["hac_bandwidth"] = bandwidth
        if self.cov_type == "bootstrap":
            extra["bootstrap_draws"] = draws
        return EstimationResult(
            params={"beta": beta},
            cov=cov,
            estimator="InteractiveEffects",
            nobs=nobs,
            converged=converged,
            objective=float(np.sum(np.asarray(fit.residuals) ** 2) / nobs),
            objective_name="mean squared residual",
            cov_type=self.cov_type,
            message="" if converged else "Bai iterations did not converge",
            num_iter=int(fit.num_iter),
            extra=extra,
            dims={"beta": ("regressor",)},
            coords={"regressor": list(panel.regressor_names)},
        )

    def _fit_factors(self, y, x, observed, pooled, rng_key, r: int) -> EffectsFit:
        return fit_multistart(
            y,
            x,
            observed,
            r,
            effects=self.effects,
            num_starts=self.num_starts,
            rng_key=rng_key,
            tol=self.tol,
            max_steps=self.max_steps,
            pooled=pooled,
        )

    def _bai_ng_selection(self, y, x, observed, pooled, rng_key, candidates):
        n, t = observed.shape
        nobs = int(observed.sum())
        kind = self.criterion if self.criterion.startswith("IC") else "IC1"
        fits, rows = {}, []
        with progress(total=len(candidates), desc="Bai IFE", enabled=self.progress_bar) as bar:
            for r in candidates:
                fits[r] = self._fit_factors(y, x, observed, pooled, rng_key, r)
                v = float(fits[r].ssr) / nobs
                rows.append(
                    {
                        "num_factors": r,
                        "mean_ssr": v,
                        "ic": bai_ng_criterion(v, r, n, t, kind),
                    }
                )
                bar.update(1)
        table = pd.DataFrame(rows)
        r = int(table["num_factors"][int(np.argmin(table["ic"]))])
        return table, r, fits[r]

    def _eigenvalue_selection(self, y, x, observed, pooled, rng_key):
        n, t = observed.shape
        needed = 5 if self.criterion == "ED" else 2
        if self.max_factors + needed > min(n, t):
            raise ValueError(
                f"criterion={self.criterion!r} needs max_factors <= min(N, T) - {needed} = "
                f"{min(n, t) - needed}, got max_factors = {self.max_factors}"
            )
        over = self._fit_factors(y, x, observed, pooled, rng_key, self.max_factors)
        # The factor part plus residuals, i.e. y - xβ̂ less the effects, on observed cells and
        # zero on missing ones: completing them with the fitted factor part instead would
        # give the over-fitted factors noise-free cells and an artificial eigenvalue gap at
        # max_factors.
        completed = np.where(observed, np.asarray(over.loadings @ over.factors.T), 0.0)
        completed = completed + np.asarray(over.residuals)
        table = ahn_horenstein(completed, self.max_factors)
        table["ed"] = onatski(completed, self.max_factors) if needed == 5 else np.nan
        r = int(table["ed"][0]) if self.criterion == "ED" else int(table.attrs[self.criterion])
        fit = (
            over if r == self.max_factors else self._fit_factors(y, x, observed, pooled, rng_key, r)
        )
        return table, r, fit

    def _covariance(
        self, x, observed, fit, dof: int, *, absorbed: int, clusters, bandwidth: int
    ) -> np.ndarray:
        f_bar, lam_bar = augmented_factors(fit.factors, fit.loadings, self.effects)
        if observed.all():
            purged = _tilde_regressors(x, f_bar, lam_bar)  # M_Λ̄ X M_F̄ in closed form
        else:
            purged = nuisance_residuals(x, observed, f_bar, lam_bar)
        return cell_covariance(
            x,
            purged,
            fit.residuals,
            observed,
            cov_type=self.cov_type,
            dof=dof,
            clusters=clusters,
            bandwidth=bandwidth,
            absorbed=absorbed,
        )


def _refit_given_beta(y, x, beta, num_factors: int, effects: str) -> EffectsFit:
    # Effects, factors and loadings of a balanced panel given the (bias-corrected) slopes.
    r = jnp.asarray(y) - jnp.einsum("itp,p->it", jnp.asarray(x), jnp.asarray(beta))
    factors, loadings, unit, time = decompose_effects(r, num_factors, effects)
    resid = r - unit[:, None] - time[None, :] - loadings @ factors.T
    return EffectsFit(
        jnp.asarray(beta), factors, loadings, unit, time, resid, jnp.sum(resid**2), 0, True
    )
