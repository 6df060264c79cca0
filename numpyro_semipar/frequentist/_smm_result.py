"""Assembly of an SMM / indirect-inference :class:`~numpyro_semipar.reporting.EstimationResult`.

The covariance is the (1 + N/(S N_s)) sandwich, or its optimal-weight form, from
:func:`~numpyro_semipar.moments.smm_covariance`; the J-test from
:func:`~numpyro_semipar.moments.j_test`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._warnings import ConvergenceWarning, IdentificationWarning
from ..moments._covariance import j_test, smm_covariance
from ..reporting import EstimationResult

__all__ = ["smm_result"]


def smm_result(smm, layout, best, stages, m_data, weight, sigma, names, n_obs, factor, exact,
               covariance, weighting, optimal_w) -> EstimationResult:  # fmt: skip
    """Build the result of a fit from its best final-stage run.

    Parameters
    ----------
    smm : SMM
        The estimator (for its name, S and error kind).
    layout : ParamLayout
        Parameter layout.
    best : dict
        Best run of the last stage: ``x``, ``criterion``, ``converged``, ``message``,
        ``num_steps``, ``g``, ``jacobian`` and ``runs`` (every start).
    stages : list of dict
        Best run of every stage.
    m_data, weight, sigma : arrays
        Data moments, final weight and Σ (data-set-level moment covariance).
    names : list of str
        Moment names.
    n_obs : int
        Number of observations N.
    factor : float
        Simulation factor 1 + N/(S N_s).
    exact : bool
        Whether the problem is exactly identified.
    covariance : {"sandwich", "optimal"} or None
        Requested covariance form (None: optimal for estimated optimal weights).
    weighting : str or array
        The weighting argument of the fit.
    optimal_w : bool
        Whether W is an estimated optimal weight (enables the J-test and the default optimal
        form).

    Returns
    -------
    EstimationResult
    """
    x, g, jac = best["x"], np.asarray(best["g"]), np.asarray(best["jacobian"])
    kind = covariance or ("optimal" if optimal_w else "sandwich")
    cov = smm_covariance(jac, weight, sigma, factor, optimal=kind == "optimal")
    if not np.all(np.isfinite(cov)) or np.linalg.matrix_rank(jac) < layout.size:
        warnings.warn(
            "the moment Jacobian is rank deficient at the estimate: the moments do not "
            "identify the parameters there; covariance set to NaN",
            IdentificationWarning,
            stacklevel=4,
        )
        cov = np.full((layout.size, layout.size), np.nan)
    test = j_test(g, sigma, factor, layout.size) if optimal_w and not exact else None
    if not best["converged"]:
        warnings.warn(f"SMM did not converge: {best['message']}", ConvergenceWarning, 4)
    starts = pd.DataFrame(
        [
            {
                **dict(zip(layout.flat_names, r["x"], strict=True)),
                "criterion": r["criterion"],
                "converged": r["converged"],
            }  # fmt: skip
            for r in best["runs"]
        ]
    )
    model_m = m_data + g if smm.error == "difference" else m_data * (1.0 + g)
    return EstimationResult(
        params=layout.unravel_numpy(x),
        cov=cov,
        estimator=smm.estimator_name,
        nobs=n_obs,
        converged=best["converged"],
        objective=best["criterion"],
        objective_name="criterion",
        cov_type=f"{kind} (1+N/(S N_s) = {factor:.4g})",
        message=best["message"],
        num_iter=best["num_steps"],
        extra={
            "weight": weight,
            "jacobian": jac,
            "moment_cov": sigma,
            "data_moments": m_data,
            "model_moments": model_m,
            "moment_errors": g,
            "moment_names": names,
            "j_test": test,
            "num_sims": smm.num_sims,
            "simulation_factor": factor,
            "exactly_identified": exact,
            "weighting": weighting if isinstance(weighting, str) else "user",
            "stages": [{"params": s["x"], "criterion": s["criterion"]} for s in stages],
            "starts": starts,
        },
    )
