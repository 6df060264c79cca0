"""Classifier-Lasso for panels with latent grouped slopes and unit or two-way effects (SSP 2016)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from .._deprecation import renamed_arguments
from .._progress import progress
from .._warnings import ConvergenceWarning
from .._x64 import float64
from ..reporting._result import EstimationResult
from ._criteria import (
    candidate_row,
    group_criterion,
    lambda_from_c,
    score_penalty_path,
    select_candidate,
    tuning_grid,
)
from ._data import PanelData, as_panel_data
from ._group_prediction import predict_groups
from ._jackknife import JACKKNIFE_SPLITS, split_panel_jackknife
from ._path import (
    initial_centres,
    run_penalties,
    seed_from_key,
    small_linear_algebra,
)
from ._post_lasso import EFFECTS, effects_transform, post_lasso, split_effects
from ._results import grouped_result, order_groups, permute_blocks
from ._unbalanced import check_observed_periods

__all__ = ["CLasso", "resolve_candidates", "unit_least_squares"]


def unit_least_squares(y: np.ndarray, x: np.ndarray, entities=None) -> np.ndarray:
    """Unit-by-unit least squares ``beta_i = (X_iᵀX_i)⁻¹ X_iᵀy_i``; (N, p).

    ``entities`` (unit labels) name a unit whose slope is not identified in the error.
    """
    gram = np.einsum("itp,itq->ipq", x, x)
    rhs = np.einsum("itp,it->ip", x, y)
    cond = np.linalg.cond(gram)
    bad = np.flatnonzero(~np.isfinite(cond) | (cond > 1e12))
    if bad.size:
        unit = int(bad[0]) if entities is None else entities[bad[0]]
        unit = unit.item() if isinstance(unit, np.generic) else unit
        raise ValueError(
            f"the regressors of unit {unit!r} are collinear over time (after the "
            "transformation), so its preliminary slope is not identified; drop the unit or "
            "the regressor"
        )
    return np.linalg.solve(gram, rhs[..., None])[..., 0]


def resolve_candidates(num_groups, max_groups: int, c, num_units: int):
    """Candidate numbers of groups and tuning constants."""
    if isinstance(num_groups, str):
        if num_groups != "ic":
            raise ValueError(f"num_groups must be a positive int or 'ic', got {num_groups!r}")
        ks = list(range(1, max_groups + 1))
    else:
        if int(num_groups) != num_groups or num_groups < 1:
            raise ValueError(f"num_groups must be a positive int or 'ic', got {num_groups!r}")
        ks = [int(num_groups)]
    if max(ks) > num_units:
        raise ValueError(f"num_groups = {max(ks)} exceeds the number of units N = {num_units}")
    cs = tuning_grid() if c is None else np.atleast_1d(np.asarray(c, dtype=np.float64))
    if cs.ndim != 1 or cs.size == 0 or np.any(~np.isfinite(cs)) or np.any(cs <= 0):
        raise ValueError(f"c must be a positive number or a sequence of them, got {c!r}")
    return ks, cs


class CLasso:
    """Classifier-Lasso (Su, Shi and Phillips 2016) for ``y_it = μ_i + β_iᵀx_it + ε_it``.

    With ``effects="twoway"`` the model has time effects too, ``y_it = μ_i + ξ_t + β_iᵀx_it +
    ε_it``.

    The slopes follow a latent group pattern, ``β_i = α_k`` for ``i ∈ G_k``. The penalised
    least squares criterion ``(1/NT) Σ ||ỹ_i - X̃_iβ_i||² + (λ/N) Σ_i Π_k ||β_i - α_k||`` (tilde:
    within-transformed) is minimised by the SSP iterations, each block step a convex weighted
    group lasso solved exactly in JAX (FISTA with the group soft-threshold, see
    :func:`~numpyro_semipar.panel.solve_block`), so units are classified by exact shrinkage
    ``β̂_i = α̂_k``. Reported coefficients are post-Lasso (pooled within-group least squares).

    Parameters
    ----------
    num_groups : int or "ic"
        Number of groups, or ``"ic"`` to choose it (from ``1..max_groups``) jointly with the
        tuning constant by ``IC(K, λ) = ln σ̂²(K, λ) + (2/3)(NT)^(-1/2) p K``. A
        classification that leaves groups empty is scored as classifylasso does (``σ̂²`` of
        the post-Lasso fit of the remaining groups, penalty of the requested ``K``) and, if
        chosen, reported with the remaining groups (``extra["requested_num_groups"]`` keeps
        ``K``).
    effects : {"unit", "twoway"}
        Unit fixed effects, or unit and time effects. With ``"twoway"`` the C-Lasso runs on
        the double-demeaned variables (as classifylasso's ``absorb(id year)``; on an unbalanced
        panel, the exact least-squares projection off the unit and period effects) and the
        post-Lasso is one least-squares fit with time effects common to all groups.
    c : float, sequence of float or None
        Tuning constant(s) in ``λ = c s²_Y T^(-1/3)`` with ``s²_Y`` the variance of the
        within-transformed ``y``. A sequence (or ``None``: 10 geometric points on [0.2, 2]) is
        searched by the IC.
    max_groups : int
        Largest number of groups considered when ``num_groups="ic"``.
    dynamic : bool
        The regressors include lagged ``y``: correct the post-Lasso estimates by the
        split-panel jackknife ``2α̂ - (α̂₁ + α̂₂)/2`` (halves in time, groups held fixed).
    jackknife_split : {"disjoint", "overlap"}
        How the jackknife halves an odd ``T``: ``"disjoint"`` (default) uses periods
        ``1..⌊T/2⌋`` and ``⌊T/2⌋+1..T`` as Stata's classifylasso does; ``"overlap"`` gives both
        halves ``⌈T/2⌉`` periods sharing the middle one (the earlier behaviour here). Disjoint
        halves remove the ``1/T`` bias up to ``O(T⁻³)``, overlapping ones up to
        ``O(T⁻²)`` (see :func:`~numpyro_semipar.panel.split_panel_jackknife`). Even ``T``: the
        same.
    assign : {"nearest", "relative"}
        Where units that the Lasso shrinks onto no centre go: the centre nearest to their
        C-Lasso slope ``β̂_i^(k)`` (``"nearest"``, default) or the one with the smallest
        ``||β̂_i^(k) - α̂_k|| / ||α̂_k||`` (``"relative"``, Stata classifylasso's rule). Units
        shrunk exactly onto a centre belong to it either way.
    max_steps : int
        Largest number of outer iterations (SSP use 80).
    tol : float
        Convergence tolerance on the relative L1 change of ``α`` and ``β`` (SSP use 1e-4).
    progress_bar : bool
        Show a progress bar over the outer iterations (off when ``CI`` is set).

    Examples
    --------
    >>> result = CLasso(num_groups="ic").fit(y, x)  # doctest: +SKIP
    >>> result.group_coefficients, result.groups  # doctest: +SKIP
    """

    @renamed_arguments(max_iter="max_steps")
    def __init__(
        self,
        num_groups: int | str = "ic",
        *,
        effects: str = "unit",
        c: float | Sequence[float] | None = None,
        max_groups: int = 5,
        dynamic: bool = False,
        jackknife_split: str = "disjoint",
        assign: str = "nearest",
        max_steps: int = 80,
        tol: float = 1e-4,
        progress_bar: bool = True,
    ) -> None:
        self.num_groups = num_groups
        if effects not in EFFECTS:
            raise ValueError(f"effects must be one of {EFFECTS}, got {effects!r}")
        self.effects = effects
        self.c = c
        self.max_groups = int(max_groups)
        self.dynamic = bool(dynamic)
        if jackknife_split not in JACKKNIFE_SPLITS:
            raise ValueError(
                f"jackknife_split must be one of {JACKKNIFE_SPLITS}, got {jackknife_split!r}"
            )
        self.jackknife_split = jackknife_split
        if assign not in ("nearest", "relative"):
            raise ValueError(f"assign must be 'nearest' or 'relative', got {assign!r}")
        self.assign = assign
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
        """Estimate the groups and the group coefficients.

        Parameters
        ----------
        y : array of shape (N, T) or str
            Dependent variable (a column name when ``data`` is given).
        x : array of shape (N, T, p) or list of str
            Regressors (column names when ``data`` is given).
        data : pandas.DataFrame, optional
            Long panel with ``entity`` and ``time`` columns. It may be unbalanced: absent rows,
            and rows with NaN in ``y`` or a regressor (also NaN in the arrays ``y``, ``x``),
            are missing cells, left out of every step (see Notes).
        entity, time : str, optional
            Unit and period columns of ``data``.
        rng_key : jax.random.key, optional
            Seeds the k-means initial centres (default ``jax.random.key(0)``).

        Returns
        -------
        EstimationResult
            ``params["alpha"]`` (G, p) post-Lasso group coefficients with unit-clustered
            covariance; extra fields ``groups``, ``group_coefficients``, ``shrunk``,
            ``unit_coefficients`` (C-Lasso ``β̂_i``), ``penalized_coefficients``,
            ``fixed_effects``, ``time_effects`` (``None`` without), ``residuals``,
            ``factors``/``loadings`` (empty), ``ic`` (table of the searched candidates),
            ``c``, ``lam``, ``group_summary``, and two methods:
            ``refit(num_groups, c=None)`` (the post-Lasso for another number of groups from
            the stored C-Lasso path where it holds that number) and
            ``predict_groups(y, x=None, *, data=None, entity=None, time=None)`` (the group
            whose coefficients fit each unit's time series best, by least squares; see
            :func:`~numpyro_semipar.panel.predict_groups`). On an unbalanced panel
            ``residuals`` are NaN in the missing cells, ``observed`` (N, T) marks the observed
            ones and ``nobs`` counts them.

        Raises
        ------
        ValueError
            Among others, for units with fewer than ``p + 1`` observed periods (named), whose
            slopes are not identified.

        Notes
        -----
        On an unbalanced panel every step uses the observed cells only: the effects are
        least-squares unit (and period) effects over the observed cells (for two-way effects
        the exact projection, not double demeaning), the penalised criterion averages over the
        ``n`` observed cells instead of ``NT``, ``λ = c s²_Y T̄^(-1/3)`` and the IC's
        ``ρ_NT`` use the average number of observed periods ``T̄ = n/N``, and the post-Lasso
        and its clustered covariance are least squares on the observed cells. In a dynamic
        model (lagged ``y`` among the regressors) a cell whose ``y`` or lag is missing is
        missing. The jackknife halves split the period axis as on a balanced panel, so with
        cells missing at random each half holds about half of every unit's observations.
        """
        panel = as_panel_data(
            y, x, data=data, entity=entity, time=time, min_periods=3, allow_missing=True
        )
        ks, cs = resolve_candidates(self.num_groups, self.max_groups, self.c, panel.num_units)
        with float64(), small_linear_algebra():
            return self._fit(panel, ks, cs, seed_from_key(rng_key))

    def _fit(self, panel: PanelData, ks, cs, seed: int) -> EstimationResult:
        n, t, p = panel.x.shape
        if t <= p:
            raise ValueError(f"need T > p for unit-by-unit preliminary estimates; T={t}, p={p}")
        observed = panel.observed
        yd, xd = effects_transform(panel.y, panel.x, self.effects, observed)
        lasso_y, lasso_x, t_bar = yd, xd, t
        if observed is not None:
            check_observed_periods(
                observed, panel.entities, p + 1, f"too few to identify {p} unit slope(s)"
            )
            nobs = int(observed.sum())
            # T̄ = n/N replaces T in λ and in the IC's ρ_NT.
            t_bar = nobs / n
            # The block steps average squared residuals over NT cells; scaling the zero-filled
            # data by sqrt(NT/n) makes that the average over the n observed cells.
            scale = np.sqrt(n * t / nobs)
            lasso_y, lasso_x = yd * scale, xd * scale
        beta_tilde = unit_least_squares(yd, xd, panel.entities)
        y_variance = float(np.var(yd) if observed is None else np.var(yd[observed]))
        lams = lambda_from_c(cs, y_variance, t_bar)
        rows, fits = [], {}
        multi = len(ks) * len(cs) > 1
        with progress(
            total=sum(self.max_steps for k in ks if k > 1),
            desc="C-Lasso",
            enabled=self.progress_bar,
        ) as bar:
            for k in ks:
                if k == 1:
                    groups = np.zeros(n, dtype=int)
                    _, resid, _ = post_lasso(panel.y, panel.x, groups, 1, self.effects, observed)
                    s2 = _mean_square(resid, observed)
                    ic = group_criterion(s2, 1, p, n, t_bar)
                    rows.append(candidate_row(1, np.nan, np.nan, ic, s2, True, 0))
                    fits[len(rows) - 1] = (1, None, groups, np.nan, np.nan)
                    continue
                centres = initial_centres(beta_tilde, k, seed)
                path = run_penalties(
                    lasso_y,
                    lasso_x,
                    beta_tilde,
                    np.zeros((t, 0)),
                    centres,
                    lams / n,
                    num_factors=0,
                    max_iter=self.max_steps,
                    tol=self.tol,
                    bar=bar,
                    padded_groups=max(ks),
                    relative_distance=self.assign == "relative",
                )

                def mean_ssr(groups, m):
                    # Empty groups are dropped: the post-Lasso fit of the groups that remain.
                    labels, compact = np.unique(groups, return_inverse=True)
                    fit = post_lasso(panel.y, panel.x, compact, labels.size, self.effects, observed)
                    return _mean_square(fit[1], observed)

                scored = score_penalty_path(
                    path,
                    k,
                    cs,
                    lams,
                    mean_ssr,
                    (n, t_bar, p),
                    allow_failure=multi,
                    score_empty=True,
                )
                for m, row in enumerate(scored):
                    rows.append(row)
                    fits[len(rows) - 1] = (k, path, path.groups[m], row["c"], row["lam"], m)
        table, best = select_candidate(rows, ks, cs)
        stored = _StoredPath(self, panel, table, fits, beta_tilde, cs, seed)
        return self._finish(stored, best)

    def _finish(self, stored: _StoredPath, best: int) -> EstimationResult:
        panel, table = stored.panel, stored.table
        fit, beta_tilde = stored.fits[best], stored.beta_tilde
        n, t, p = panel.x.shape
        requested = fit[0]
        # A classification that left groups empty is reported with the groups that remain
        # (its IC used the requested K's penalty, as classifylasso's does).
        labels, groups = np.unique(fit[2], return_inverse=True)
        k = labels.size
        if requested == 1:
            penalized = np.full((1, p), np.nan)
            unit_coefs, shrunk, converged, num_iter = beta_tilde, np.zeros(n, bool), True, 0
        else:
            path, m = fit[1], fit[5]
            penalized = path.alpha[m][labels]
            unit_coefs, shrunk = path.beta[m], path.shrunk[m]
            converged, num_iter = bool(path.converged[m]), int(path.num_iter[m])
        observed = panel.observed
        coefs, resid, cov = post_lasso(panel.y, panel.x, groups, k, self.effects, observed)
        uncorrected = coefs.copy()
        if self.dynamic:

            def estimate(ys, xs):
                # Unobserved cells are NaN in the panel, so each half knows its own.
                half_observed = None if observed is None else ~np.isnan(ys)
                return post_lasso(ys, xs, groups, k, self.effects, half_observed)[0]

            coefs, _ = split_panel_jackknife(estimate, panel.y, panel.x, split=self.jackknife_split)
            if observed is None:
                resid = effects_transform(
                    panel.y - np.einsum("itp,ip->it", panel.x, coefs[groups]),
                    panel.x,
                    self.effects,
                )[0]
            else:
                xs = np.where(observed[..., None], panel.x, 0.0)
                e = np.where(observed, panel.y, 0.0) - np.einsum("itp,ip->it", xs, coefs[groups])
                resid = effects_transform(e, xs, self.effects, observed)[0]
        if observed is not None:
            resid = np.where(observed, resid, np.nan)
        coefs, new_groups, order = order_groups(coefs, groups)
        cov = permute_blocks(cov, order, p)
        if not converged:
            warnings.warn(
                f"C-Lasso did not converge in {self.max_steps} outer iterations (num_groups={k}, "
                f"c={fit[3]:.3g}); relative change above tol={self.tol}",
                ConvergenceWarning,
                stacklevel=3,
            )
        fixed_effects, time_effects = split_effects(
            panel.y, panel.x, coefs, new_groups, self.effects, observed
        )
        extra = {
            "observed": np.ones((n, t), bool) if observed is None else observed,
            "shrunk": shrunk,
            "unit_coefficients": unit_coefs,
            "penalized_coefficients": penalized[order],
            "uncorrected_coefficients": uncorrected[order],
            "fixed_effects": fixed_effects,
            "time_effects": time_effects,
            "effects": self.effects,
            "ic": table,
            "c": fit[3],
            "lam": fit[4],
            "bias_correction": (
                f"split-panel jackknife ({self.jackknife_split} halves)" if self.dynamic else "none"
            ),
            "requested_num_groups": requested,
            "refit": stored.refit,
            "predict_groups": partial(
                _predict_groups_of, coefs, panel.regressor_names, time_effects, panel.times
            ),
        }
        return grouped_result(
            estimator="CLasso",
            panel=panel,
            coefficients=coefs,
            cov=cov,
            groups=new_groups,
            residuals=resid,
            factors=np.zeros((t, 0)),
            loadings=np.zeros((n, 0)),
            converged=converged,
            num_iter=num_iter,
            message="" if converged else "outer iterations did not converge",
            cov_type="cluster (unit)",
            extra=extra,
        )


def _mean_square(resid: np.ndarray, observed) -> float:
    """Mean squared residual over the observed cells (all cells when ``observed`` is None)."""
    return float(np.mean(resid**2) if observed is None else np.mean(resid[observed] ** 2))


def _predict_groups_of(
    coefficients,
    regressor_names,
    time_effects,
    times,
    y,
    x=None,
    *,
    data=None,
    entity=None,
    time=None,
):
    """Group of each unit of a balanced panel: least-squares fit of the estimated groups.

    With two-way effects the estimated time effects are removed first, so the panel must
    cover the estimation's periods.
    """
    return predict_groups(
        coefficients,
        y,
        x,
        data=data,
        entity=entity,
        time=time,
        regressor_names=regressor_names,
        time_effects=time_effects,
        times=times,
    )[0]


class _StoredPath:
    """What a C-Lasso fit keeps to report another candidate without re-running the Lasso."""

    def __init__(self, estimator, panel, table, fits, beta_tilde, cs, seed) -> None:
        self.estimator = estimator
        self.panel = panel
        self.table, self.fits, self.beta_tilde = table, fits, beta_tilde
        self.cs, self.seed = cs, seed

    def refit(self, num_groups: int, *, c: float | None = None) -> EstimationResult:
        """Report the post-Lasso estimates for another number of groups.

        Parameters
        ----------
        num_groups : int
            ``K``. If the fit searched it, its stored C-Lasso classification is reused and
            only the post-Lasso (and jackknife) is re-run; otherwise the C-Lasso runs for this
            ``K`` alone, with the same tuning constants, options and seed.
        c : float, optional
            Tuning constant; default: among the searched ones, the one with the smallest IC
            for ``K`` (classifylasso's ``classoselect, group(K)``).

        Returns
        -------
        EstimationResult
            As :meth:`CLasso.fit` returns, for this candidate; ``ic`` is the table of the
            candidates it was chosen from.
        """
        if isinstance(num_groups, bool) or int(num_groups) != num_groups or num_groups < 1:
            raise ValueError(f"num_groups must be a positive int, got {num_groups!r}")
        num_groups = int(num_groups)
        rows = self.table["num_groups"].to_numpy() == num_groups
        if c is not None:
            if not np.isfinite(c) or c <= 0:
                raise ValueError(f"c must be a positive number, got {c!r}")
            # K = 1 has no Lasso step and so no c.
            if num_groups > 1:
                rows &= np.isclose(self.table["c"].to_numpy(), c, rtol=1e-12, atol=0.0)
        ic = np.where(rows, self.table["ic"].to_numpy(), np.nan)
        if np.any(rows & np.isfinite(ic)):
            best = int(np.nanargmin(np.where(np.isfinite(ic), ic, np.nan)))
            with float64(), small_linear_algebra():
                return self.estimator._finish(self, best)
        cs = self.cs if c is None else np.array([float(c)])
        ks, cs = resolve_candidates(num_groups, num_groups, cs, self.panel.num_units)
        with float64(), small_linear_algebra():
            return self.estimator._fit(self.panel, ks, cs, self.seed)
