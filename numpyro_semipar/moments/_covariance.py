"""Covariance of simulated-moment estimators and the over-identification test.

Notation: g(θ) = e(m̄_S(θ), m̂) is the error between the average moments of S simulated data sets
(each of N_s observations) and the data moments (N observations); G = ∂g/∂θᵀ. Let Σ be the
covariance of the data moment errors (data-set level, N observations). Simulation adds the
variance of an average of S independent simulated data sets, Σ · N/(S · N_s), so

    Var(g) = (1 + N / (S N_s)) Σ,
    Var(θ̂) = (GᵀWG)⁻¹ GᵀW Var(g) WG (GᵀWG)⁻¹,

which reduces to ``(1 + 1/S) (GᵀΣ⁻¹G)⁻¹`` at the optimal weight when N_s = N (Gouriéroux &
Monfort 1996; McFadden 1989). The J statistic ``gᵀ Var(g)⁻¹ g`` (that is S/(1+S) times the usual
``gᵀΣ⁻¹g`` when N_s = N) is asymptotically χ²(R - K).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats

__all__ = ["JTest", "j_test", "simulation_factor", "smm_covariance"]


def simulation_factor(num_sims: int, num_obs: int | None = None, num_sim_obs: int | None = None):
    """Inflation of the moment variance due to simulation: ``1 + N / (S N_s)``.

    Parameters
    ----------
    num_sims : int
        Number of simulated data sets S.
    num_obs, num_sim_obs : int, optional
        Observed and simulated sample sizes N and N_s (equal unless both are given).

    Returns
    -------
    float
    """
    ratio = 1.0 if num_obs is None or num_sim_obs is None else num_obs / num_sim_obs
    return 1.0 + ratio / float(num_sims)


def smm_covariance(jacobian, weight, moment_cov, factor: float, *, optimal: bool = False):
    """Sandwich covariance of an SMM / indirect-inference estimator.

    Parameters
    ----------
    jacobian : array of shape (R, K)
        G = ∂g/∂θᵀ at the estimate.
    weight : array of shape (R, R)
        Weighting matrix used by the estimator (ignored when ``optimal``).
    moment_cov : array of shape (R, R)
        Σ, the covariance of the data moment errors.
    factor : float
        Simulation factor from :func:`simulation_factor`.
    optimal : bool
        Use the optimal-weight form ``factor (GᵀΣ⁻¹G)⁻¹`` (valid when W estimates Σ⁻¹).

    Returns
    -------
    array of shape (K, K)
        NaN when GᵀWG is singular (parameters not identified by the moments).
    """
    g = np.asarray(jacobian, dtype=np.float64)
    sigma = np.asarray(moment_cov, dtype=np.float64)
    k = g.shape[1]
    try:
        if optimal:
            info = g.T @ np.linalg.solve(sigma, g)
            cov = factor * np.linalg.inv(info)
        else:
            w = np.asarray(weight, dtype=np.float64)
            bread = np.linalg.inv(g.T @ w @ g)
            meat = g.T @ w @ (factor * sigma) @ w @ g
            cov = bread @ meat @ bread
    except np.linalg.LinAlgError:
        return np.full((k, k), np.nan)
    return (cov + cov.T) / 2.0


class JTest(NamedTuple):
    """Over-identification (Hansen–Sargan J) test.

    Attributes
    ----------
    statistic : float
        ``gᵀ Var(g)⁻¹ g`` with the simulation factor included.
    dof : int
        Degrees of freedom R - K.
    pvalue : float
        Upper tail probability of χ²(dof).
    """

    statistic: float
    dof: int
    pvalue: float


def j_test(errors, moment_cov, factor: float, num_params: int) -> JTest | None:
    """Over-identification test at an efficient estimate.

    Parameters
    ----------
    errors : array of shape (R,)
        g(θ̂).
    moment_cov : array of shape (R, R)
        Σ, covariance of the data moment errors.
    factor : float
        Simulation factor (``1 + 1/S`` when N_s = N).
    num_params : int
        K.

    Returns
    -------
    JTest or None
        None when the model is exactly identified (R = K).
    """
    g = np.asarray(errors, dtype=np.float64)
    dof = g.size - int(num_params)
    if dof <= 0:
        return None
    statistic = float(g @ np.linalg.solve(factor * np.asarray(moment_cov), g))
    return JTest(statistic, dof, float(stats.chi2.sf(statistic, dof)))
