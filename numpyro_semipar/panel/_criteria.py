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
    score_empty: bool = False,
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
    score_empty : bool
        Score a classification that leaves groups empty as classifylasso does: ``σ̂²`` from
        the post-Lasso fit of the non-empty groups (``post_lasso_mean_ssr`` must accept such
        labels) with the penalty of the nominal ``K``. Otherwise it scores ``+inf``.

    Returns
    -------
    list of dict
        One :func:`candidate_row` per tuning constant.
    """
    n, t, p = dims
    rows = []
    for m, (c, lam) in enumerate(zip(cs, lams, strict=True)):
        groups = path.groups[m]
        empty = int(np.sum(np.bincount(groups, minlength=num_groups) == 0))
        ic, s2 = np.inf, np.nan
        if empty == 0 or score_empty:
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


def validate_factor_options(
    num_factors,
    criterion: str,
    cov_type: str,
    criteria: Sequence[str] = ("IC1", "IC2", "IC3"),
    cov_types: Sequence[str] = ("cluster", "robust", "homoskedastic"),
) -> None:
    """Reject bad options of the interactive-effects estimators when they are constructed."""
    if cov_type not in cov_types:
        listed = ", ".join(repr(c) for c in cov_types[:-1]) + f" or {cov_types[-1]!r}"
        raise ValueError(f"cov_type must be {listed}, got {cov_type!r}")
    if criterion not in criteria:
        raise ValueError(f"criterion must be one of {list(criteria)}, got {criterion!r}")
    if isinstance(num_factors, str) and num_factors != "ic":
        raise ValueError(f"num_factors must be an int or 'ic', got {num_factors!r}")


# --- Eigenvalue-based factor-number criteria ---------------------------------------------------


def factor_eigenvalues(matrix) -> np.ndarray:
    """Eigenvalues of ``EᵀE / (N T)`` for an (N, T) matrix ``E``, largest first.

    Only the ``min(N, T)`` possibly non-zero ones are returned (those of ``E Eᵀ/(NT)`` are the
    same).
    """
    e = np.asarray(matrix, dtype=np.float64)
    if e.ndim != 2 or not np.all(np.isfinite(e)):
        raise ValueError(f"matrix must be a finite (N, T) array, got shape {e.shape}")
    return np.linalg.svd(e, compute_uv=False) ** 2 / e.size


def _check_max_factors(max_factors: int, available: int, needed: int, who: str) -> int:
    max_factors = int(max_factors)
    if max_factors < 1 or max_factors + needed > available:
        raise ValueError(
            f"{who} needs 1 <= max_factors <= min(N, T) - {needed} = {available - needed}, "
            f"got max_factors = {max_factors}"
        )
    return max_factors


def ahn_horenstein(matrix, max_factors: int = 8) -> pd.DataFrame:
    """Ahn and Horenstein (2013) eigenvalue-ratio (ER) and growth-ratio (GR) statistics.

    With ``μ_k`` the ``k``-th largest eigenvalue of ``EᵀE/(NT)`` and ``V(k) = Σ_{j>k} μ_j``:
    ``ER(k) = μ_k / μ_{k+1}`` and ``GR(k) = ln(V(k-1)/V(k)) / ln(V(k)/V(k+1))``. The number of
    factors maximises either over ``k = 0..max_factors``, with the mock eigenvalue
    ``μ_0 = V(0) / ln(min(N, T))`` that lets ``k = 0`` be chosen (their eq. 7). The authors
    apply the criteria to data demeaned in both dimensions; pass ``E`` accordingly.

    Parameters
    ----------
    matrix : array of shape (N, T)
        Data or residuals ``E``.
    max_factors : int
        Largest number of factors considered (needs ``max_factors + 2 <= min(N, T)``).

    Returns
    -------
    pandas.DataFrame
        Columns ``num_factors`` (0..max_factors), ``eigenvalue`` (``μ_k``, the mock one for
        ``k = 0``), ``er`` and ``gr``; ``table.attrs["ER"]`` and ``table.attrs["GR"]`` hold
        the selected numbers of factors.
    """
    mu = factor_eigenvalues(matrix)
    m = mu.size
    kmax = _check_max_factors(max_factors, m, 2, "ahn_horenstein")
    tail = np.concatenate([np.cumsum(mu[::-1])[::-1], [0.0]])  # tail[k] = V(k) = Σ_{j>k} μ_j
    mock = tail[0] / np.log(m)
    mu_full = np.concatenate([[mock], mu])  # mu_full[k] = μ_k, k = 0..m
    ks = np.arange(kmax + 1)
    er = mu_full[ks] / mu_full[ks + 1]
    # V(k-1)/V(k) = 1 + μ_k / V(k); for k = 0 use the mock eigenvalue: V(-1) = V(0) + μ_0.
    v = tail  # v[k] = V(k)
    v_prev = np.concatenate([[v[0] + mock], v[:kmax]])
    gr = np.log(v_prev / v[ks]) / np.log(v[ks] / v[ks + 1])
    table = pd.DataFrame({"num_factors": ks, "eigenvalue": mu_full[ks], "er": er, "gr": gr})
    table.attrs["ER"] = int(ks[np.argmax(er)])
    table.attrs["GR"] = int(ks[np.argmax(gr)])
    return table


def onatski(matrix, max_factors: int = 8, *, max_steps: int = 100) -> int:
    """Onatski's (2010) edge-distribution estimator of the number of factors.

    Iterates: regress ``λ_j, …, λ_{j+4}`` on a constant and ``(j-1)^{2/3}, …, (j+3)^{2/3}``
    (``λ`` the eigenvalues largest first, ``j = max_factors + 1`` at the start), set
    ``δ = 2|slope|``, ``r̂ = max{i ≤ max_factors : λ_i - λ_{i+1} ≥ δ}`` (0 if none) and
    ``j = r̂ + 1``, until ``r̂`` repeats.

    Parameters
    ----------
    matrix : array of shape (N, T)
        Data or residuals.
    max_factors : int
        Largest number of factors (needs ``max_factors + 5 <= min(N, T)``).
    max_steps : int
        Largest number of iterations.

    Returns
    -------
    int
        The estimated number of factors.
    """
    lam = factor_eigenvalues(matrix)  # the scale of the eigenvalues does not matter
    kmax = _check_max_factors(max_factors, lam.size, 5, "onatski")
    gaps = lam[:kmax] - lam[1 : kmax + 1]  # gaps[i - 1] = λ_i - λ_{i+1}
    j, previous = kmax + 1, None
    for _ in range(int(max_steps)):
        idx = np.arange(j, j + 5)  # 1-based eigenvalue indices j..j+4
        slope = np.polyfit((idx - 1.0) ** (2.0 / 3.0), lam[idx - 1], 1)[0]
        delta = 2.0 * abs(slope)
        above = np.flatnonzero(gaps >= delta)
        r_hat = int(above[-1] + 1) if above.size else 0
        if r_hat == previous:
            break
        previous, j = r_hat, r_hat + 1
    return r_hat
