"""Information criteria and tuning grids for factor numbers, group numbers and λ."""

from __future__ import annotations

import numpy as np

__all__ = [
    "bai_ng_criterion",
    "group_criterion",
    "group_penalty",
    "lambda_from_c",
    "tuning_grid",
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
