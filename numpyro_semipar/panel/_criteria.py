"""Information criteria and tuning grids for factor numbers, group numbers and λ."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "bai_ng_criterion",
    "candidate_row",
    "group_criterion",
    "group_penalty",
    "lambda_from_c",
    "score_penalty_path",
    "select_candidate",
    "tuning_grid",
    "validate_factor_options",
]


def bai_ng_criterion(mean_ssr: float, num_factors: int, n: int, t: int, kind: str = "IC1") -> float:
    """Bai and Ng (2002) criterion ``ln V(R) + R g(N, T)`` for the number of factors.

    Parameters
    ----------
    mean_ssr : float
        ``V(R)``, the mean squared residual with ``R`` factors.
    num_factors : int
        ``R``.
    n, t : int
        Panel dimensions.
    kind : {"IC1", "IC2", "IC3"}
        ``IC1``: ``g = (N+T)/(NT) ln(NT/(N+T))``; ``IC2``: ``g = (N+T)/(NT) ln C²``;
        ``IC3``: ``g = ln(C²)/C²``, with ``C² = min(N, T)``.

    Returns
    -------
    float
    """
    c2 = min(n, t)
    if kind == "IC1":
        g = (n + t) / (n * t) * np.log(n * t / (n + t))
    elif kind == "IC2":
        g = (n + t) / (n * t) * np.log(c2)
    elif kind == "IC3":
        g = np.log(c2) / c2
    else:
        raise ValueError(f"kind must be 'IC1', 'IC2' or 'IC3', got {kind!r}")
    return float(np.log(mean_ssr) + num_factors * g)


def group_penalty(n: int, t: int) -> float:
    """``ρ_NT = (2/3) (NT)^(-1/2)``, the per-parameter penalty of the group-number IC (SSP 2016)."""
    return 2.0 / 3.0 / np.sqrt(n * t)


def group_criterion(mean_ssr: float, num_groups: int, num_regressors: int, n: int, t: int) -> float:
    """``IC(K, λ) = ln σ̂²(K, λ) + ρ_NT p K`` with ``σ̂²`` the mean squared post-Lasso residual."""
    return float(np.log(mean_ssr) + group_penalty(n, t) * num_regressors * num_groups)


def tuning_grid(num: int = 10, low: float = 0.2, high: float = 2.0) -> np.ndarray:
    """Geometric grid of tuning constants ``c`` (the SSP default: 10 points on [0.2, 2])."""
    return np.geomspace(low, high, num)


def lambda_from_c(c, y_variance: float, t: int) -> np.ndarray:
    """``λ = c · s²_Y · T^(-1/3)``."""
    return np.asarray(c, dtype=np.float64) * y_variance * t ** (-1.0 / 3.0)


def candidate_row(num_groups, c, lam, ic, sigma2, converged, empty_groups) -> dict:
    """One row of the table of searched ``(K, c)`` candidates that the estimators report."""
    return dict(
        num_groups=num_groups,
        c=c,
        lam=lam,
        ic=ic,
        sigma2=sigma2,
        converged=bool(converged),
        empty_groups=empty_groups,
    )


def score_penalty_path(
    path,
    num_groups: int,
    cs: Sequence[float],
    lams: np.ndarray,
    post_lasso_mean_ssr: Callable[[np.ndarray, int], float],
    dims: tuple[int, int, int],
    *,
    allow_failure: bool,
) -> list[dict]:
    """Score every tuning constant of one C-Lasso path by the group-number IC.

    Parameters
    ----------
    path : PenaltyPath
        Output of :func:`run_penalties` for ``num_groups`` groups (one fit per ``c``).
    num_groups : int
        ``K`` of the path.
    cs, lams : sequences of float
        Tuning constants and the matching penalties, in path order.
    post_lasso_mean_ssr : callable
        ``(groups, m) -> σ̂²``: mean squared post-Lasso residual for the classification of
        the path's ``m``-th penalty; raises ``ValueError`` when a group's design is singular.
    dims : tuple of int
        ``(N, T, p)``.
    allow_failure : bool
        When several candidates are searched, a singular post-Lasso fit scores ``+inf``
        instead of raising.

    Returns
    -------
    list of dict
        One :func:`candidate_row` per tuning constant; a classification that leaves a group
        empty scores ``+inf`` (it has fewer than ``K`` groups).
    """
    n, t, p = dims
    rows = []
    for m, (c, lam) in enumerate(zip(cs, lams, strict=True)):
        groups = path.groups[m]
        empty = int(np.sum(np.bincount(groups, minlength=num_groups) == 0))
        ic, s2 = np.inf, np.nan
        if empty == 0:
            try:
                s2 = float(post_lasso_mean_ssr(groups, m))
            except ValueError:
                if not allow_failure:
                    raise
            else:
                ic = group_criterion(s2, num_groups, p, n, t)
        rows.append(candidate_row(num_groups, c, lam, ic, s2, path.converged[m], empty))
    return rows


def select_candidate(rows: list[dict], ks: Sequence[int], cs: Sequence[float]):
    """Tabulate the searched candidates and return ``(table, index of the IC minimiser)``."""
    table = pd.DataFrame(rows)
    if not np.isfinite(table["ic"]).any():
        raise ValueError(
            f"every candidate left an estimated group empty (num_groups={list(ks)}, "
            f"c={list(cs)}); use fewer groups or a smaller c"
        )
    return table, int(np.argmin(table["ic"].to_numpy()))


def validate_factor_options(num_factors, criterion: str, cov_type: str) -> None:
    """Reject bad options of the interactive-effects estimators when they are constructed."""
    if cov_type not in ("cluster", "robust", "homoskedastic"):
        raise ValueError(
            f"cov_type must be 'cluster', 'robust' or 'homoskedastic', got {cov_type!r}"
        )
    if criterion not in ("IC1", "IC2", "IC3"):
        raise ValueError(f"criterion must be 'IC1', 'IC2' or 'IC3', got {criterion!r}")
    if isinstance(num_factors, str) and num_factors != "ic":
        raise ValueError(f"num_factors must be an int or 'ic', got {num_factors!r}")
