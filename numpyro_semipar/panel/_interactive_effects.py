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
from ._bai import BaiFit, bai_bias, bai_covariance, bai_fit, pooled_ols
from ._criteria import bai_ng_criterion, validate_factor_options
from ._data import PanelData, as_panel_data
from ._path import small_linear_algebra
from ._pca import principal_factors

__all__ = ["InteractiveEffects", "fit_multistart"]


def _check_factor_count(num_factors: int, n: int, t: int) -> None:
    if num_factors < 0:
        raise ValueError(f"num_factors must be >= 0, got {num_factors}")
    if num_factors >= min(n, t):
        raise ValueError(f"num_factors = {num_factors} needs T > R and N > R; got N = {n}, T = {t}")


def fit_multistart(
    y, x, num_factors: int, *, num_starts: int, rng_key, tol: float, max_iter: int
) -> BaiFit:
    """Bai's iterations from several starts; returns the fit with the smallest SSR.

    Starts: pooled least squares; least squares given the principal components of ``y`` (the
    "factors first" start); and ``num_starts - 2`` random perturbations of the pooled estimate.
    """
    y, x = jnp.asarray(y), jnp.asarray(x)
    beta_ols = pooled_ols(y, x)
    starts = [beta_ols]
    if num_factors > 0 and num_starts > 1:
        f_y, _, _ = principal_factors(y, num_factors)
        m = jnp.eye(y.shape[1]) - f_y @ f_y.T / y.shape[1]
        mx = jnp.einsum("ts,isp->itp", m, x)
        gram = jnp.einsum("itp,itq->pq", mx, x)
        starts.append(jnp.linalg.solve(gram, jnp.einsum("itp,it->p", mx, y)))
    scale = 0.5 * jnp.maximum(jnp.abs(beta_ols), 1.0)
    keys = jax.random.split(rng_key, max(num_starts, 1))
    while len(starts) < num_starts:
        noise = jax.random.normal(keys[len(starts)], beta_ols.shape, dtype=beta_ols.dtype)
        starts.append(beta_ols + scale * noise)
    if num_factors == 0:
        starts = starts[:1]
    best = None
    for beta0 in starts:
        fit = bai_fit(y, x, beta0, num_factors=num_factors, tol=tol, max_steps=max_iter)
        if best is None or float(fit.ssr) < float(best.ssr) - 1e-10 * float(best.ssr):
            best = fit
    return best


class InteractiveEffects:
    """Bai (2009) interactive fixed effects: ``y_it = βᵀx_it + λ_iᵀF_t + ε_it``.

    Alternates principal components for ``F`` (normalised ``FᵀF/T = I``) and least squares for
    ``β`` from several starting values, keeping the fit with the smallest sum of squared
    residuals (the problem is not convex). Standard errors use ``W⁻¹ Ω W⁻¹ / (NT)`` with
    ``W = (1/NT) Σ tr(M_Λ X_k M_F X_lᵀ)``; the leading ``O(1/N)`` and ``O(1/T)`` biases from
    heteroskedasticity and serial correlation (Bai 2009; Moon and Weidner 2015, 2017) are
    estimated and removed when ``bias_correction`` is on.

    Parameters
    ----------
    num_factors : int or "ic"
        Number of factors ``R``, or ``"ic"`` to choose ``R`` in ``0..max_factors`` by the Bai–Ng
        criterion ``criterion``.
    max_factors : int
        Largest ``R`` considered by ``"ic"``.
    criterion : {"IC1", "IC2", "IC3"}
        Bai–Ng (2002) criterion.
    num_starts : int
        Number of starting values.
    bias_correction : bool
        Report ``β̂ - bias`` (the uncorrected estimate stays in ``extra``).
    bandwidth : int, optional
        Lags of the truncated-kernel estimate of serial covariances in the bias (default
        ``floor(T^(1/4))``).
    dynamic : bool
        Regressors are predetermined (e.g. lagged ``y``): add the corresponding bias term.
    cov_type : {"cluster", "robust", "homoskedastic"}
        Covariance estimator (``"cluster"``: robust to heteroskedasticity and serial
        correlation within units).
    tol, max_steps
        Convergence tolerance on ``β`` and the largest number of iterations per start.
    progress_bar : bool
        Progress bar over the candidate numbers of factors (off when ``CI`` is set).
    """

    @renamed_arguments(max_iter="max_steps")
    def __init__(
        self,
        num_factors: int | str = "ic",
        *,
        max_factors: int = 8,
        criterion: str = "IC1",
        num_starts: int = 4,
        bias_correction: bool = True,
        bandwidth: int | None = None,
        dynamic: bool = False,
        cov_type: str = "cluster",
        tol: float = 1e-9,
        max_steps: int = 2000,
        progress_bar: bool = True,
    ) -> None:
        validate_factor_options(num_factors, criterion, cov_type)
        self.num_factors = num_factors
        self.max_factors = int(max_factors)
        self.criterion = criterion
        self.num_starts = int(num_starts)
        self.bias_correction = bool(bias_correction)
        self.bandwidth = bandwidth
        self.dynamic = bool(dynamic)
        self.cov_type = cov_type
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
    ) -> EstimationResult:
        """Estimate ``β``, the factors and the loadings.

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
            Seeds the random starting values (default ``jax.random.key(0)``).

        Returns
        -------
        EstimationResult
            ``params["beta"]`` (p,) and its covariance; extra fields ``factors`` (T, R),
            ``loadings`` (N, R), ``residuals`` (N, T, consistent with the reported ``β``),
            ``uncorrected_beta``, ``uncorrected_std_errors``, ``bias``, ``num_factors``,
            ``ic`` (Bai–Ng table when ``num_factors="ic"``).
        """
        panel = as_panel_data(y, x, data=data, entity=entity, time=time)
        if rng_key is None:
            rng_key = jax.random.key(0)
        with float64(), small_linear_algebra():
            return self._fit(panel, rng_key)

    def _fit(self, panel: PanelData, rng_key) -> EstimationResult:
        n, t, p = panel.x.shape
        if self.num_factors == "ic":
            candidates = list(range(0, min(self.max_factors, min(n, t) - 1) + 1))
        else:
            _check_factor_count(int(self.num_factors), n, t)
            candidates = [int(self.num_factors)]
        fits, rows = {}, []
        with progress(total=len(candidates), desc="Bai IFE", enabled=self.progress_bar) as bar:
            for r in candidates:
                fit = fit_multistart(
                    panel.y,
                    panel.x,
                    r,
                    num_starts=self.num_starts,
                    rng_key=rng_key,
                    tol=self.tol,
                    max_iter=self.max_steps,
                )
                fits[r] = fit
                v = float(fit.ssr) / (n * t)
                rows.append(
                    {
                        "num_factors": r,
                        "mean_ssr": v,
                        "ic": bai_ng_criterion(v, r, n, t, self.criterion),
                    }
                )
                bar.update(1)
        table = pd.DataFrame(rows)
        r = int(table["num_factors"][int(np.argmin(table["ic"]))])
        fit = fits[r]
        converged = bool(fit.converged)
        if not converged:
            warnings.warn(
                f"Bai's iterations did not converge in {self.max_steps} iterations (R = {r})",
                ConvergenceWarning,
                stacklevel=3,
            )
        x = panel.x
        beta_hat = np.asarray(fit.beta)
        cov_hat, _ = bai_covariance(
            x, fit.factors, fit.loadings, fit.residuals, cov_type=self.cov_type, dof=p + (n + t) * r
        )
        bandwidth = int(t**0.25) if self.bandwidth is None else int(self.bandwidth)
        bias = bai_bias(
            x, fit.factors, fit.loadings, fit.residuals, bandwidth=bandwidth, dynamic=self.dynamic
        )
        if self.bias_correction:
            beta = beta_hat - bias
            resid0 = jnp.asarray(panel.y) - jnp.einsum("itp,p->it", jnp.asarray(x), beta)
            factors, loadings, _ = principal_factors(resid0, r)
            resid = np.asarray(resid0 - loadings @ factors.T)
            cov, _ = bai_covariance(
                x, factors, loadings, resid, cov_type=self.cov_type, dof=p + (n + t) * r
            )
        else:
            beta, factors, loadings, resid, cov = (
                beta_hat,
                fit.factors,
                fit.loadings,
                np.asarray(fit.residuals),
                cov_hat,
            )
        factors, loadings = np.asarray(factors), np.asarray(loadings)
        panel_ds = xr.Dataset(
            {"factors": (["time", "factor"], factors), "loadings": (["unit", "factor"], loadings)},
            coords={"unit": panel.entities, "time": panel.times, "factor": np.arange(r)},
        )
        extra = {
            "factors": factors,
            "loadings": loadings,
            "residuals": resid,
            "num_factors": r,
            "uncorrected_beta": beta_hat,
            "uncorrected_std_errors": np.sqrt(np.diag(cov_hat)),
            "bias": bias if self.bias_correction else np.zeros(p),
            "estimated_bias": bias,
            "bias_correction": self.bias_correction,
            "ic": table,
            "regressor_names": panel.regressor_names,
            "arviz_groups": {"panel": panel_ds},
        }
        return EstimationResult(
            params={"beta": beta},
            cov=cov,
            estimator="InteractiveEffects",
            nobs=n * t,
            converged=converged,
            objective=float(np.mean(resid**2)),
            objective_name="mean squared residual",
            cov_type=self.cov_type,
            message="" if converged else "Bai iterations did not converge",
            num_iter=int(fit.num_iter),
            extra=extra,
            dims={"beta": ("regressor",)},
            coords={"regressor": list(panel.regressor_names)},
        )
