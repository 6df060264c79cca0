r"""Geweke's (1999) modified harmonic mean estimator of the evidence.

For any density :math:`f` whose support lies inside the posterior's,
:math:`E_{\text{post}}[f(z)/\tilde p(z)] = 1/p(y)`, with :math:`\tilde p` the unnormalised
posterior. Geweke takes for :math:`f` the normal density with the posterior mean
:math:`\bar z` and covariance :math:`\Sigma` of the draws, truncated to the ellipsoid
:math:`(z-\bar z)^\top\Sigma^{-1}(z-\bar z) \le \chi^2_{d}(\tau)` and renormalised by
:math:`1/\tau`; the truncation keeps :math:`f/\tilde p` bounded where the posterior has thin
tails (the plain harmonic mean has infinite variance). Computed on the unconstrained draws
(with the transforms' log-Jacobian in :math:`\tilde p`), where the posterior is closest to
normal. Dynare reports the same estimator, for ``τ = 0.1, …, 0.9``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.stats

from .._x64 import float64
from ._draws import effective_sample_size, prepare_draws
from ._result import EvidenceResult

__all__ = ["harmonic_mean_evidence"]

_TAUS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def harmonic_mean_evidence(
    posterior: Any,
    model: Callable | None = None,
    *,
    model_args: tuple = (),
    model_kwargs: Mapping[str, Any] | None = None,
    group_by_chain: bool = False,
    tau: float = 0.5,
    taus: Sequence[float] = _TAUS,
) -> EvidenceResult:
    """Estimate the log evidence by the modified harmonic mean (Geweke 1999; module notes).

    Parameters
    ----------
    posterior : numpyro.infer.MCMC or dict
        A finished ``MCMC`` run (its model and arguments are used unless given) or a dict of
        posterior draws of the model's latent sites (constrained values, as
        ``mcmc.get_samples()`` returns them).
    model : callable, optional
        The NumPyro model (required with a samples dict).
    model_args, model_kwargs
        The model's arguments (data).
    group_by_chain : bool
        Whether a samples dict has a leading chain axis ``(num_chains, num_draws, ...)``.
    tau : float in (0, 1)
        Probability mass of the truncation ellipsoid of the weighting density for the reported
        estimate.
    taus : sequence of float
        Levels at which the estimate is also reported in ``diagnostics`` (a check of
        stability, as in Dynare).

    Returns
    -------
    EvidenceResult
        ``std_error``: delta-method standard error of ``log p(y)`` from the variance of the
        ratios ``f/p̃`` over the draws, with their effective sample size (autocorrelation).
        ``diagnostics``: ``tau``, ``log_evidence_by_tau`` (dict), ``std_error_by_tau``,
        ``fraction_inside`` (share of draws inside the ellipsoid), ``ess`` (of the ratios).
        ``converged`` is False when no draw falls inside the ellipsoid.
    """
    for name, value in [("tau", tau), *((f"taus[{i}]", t) for i, t in enumerate(taus))]:
        if not 0.0 < float(value) < 1.0:
            raise ValueError(f"{name} must lie in (0, 1), got {value!r}")
    with float64():
        draws = prepare_draws(
            posterior, model, model_args, model_kwargs, group_by_chain, min_draws=10
        )
        z, log_p = draws.z, draws.logdensity
        d = z.shape[-1]
        flat = z.reshape(-1, d)
        mean = flat.mean(axis=0)
        cov = np.atleast_2d(np.cov(flat, rowvar=False))
        chol = np.linalg.cholesky(cov)
        white = np.linalg.solve(chol, (z - mean).reshape(-1, d).T).T.reshape(z.shape)
        quad = np.sum(white**2, axis=-1)
        log_normal = -0.5 * quad - 0.5 * d * np.log(2 * np.pi) - np.sum(np.log(np.diag(chol)))
        results = {t: _estimate(log_normal, quad, log_p, float(t), d) for t in (tau, *taus)}
        log_z, se, inside, ess = results[tau]
        return EvidenceResult(
            method="harmonic_mean",
            log_evidence=log_z,
            std_error=se,
            converged=bool(np.isfinite(log_z) and np.isfinite(se)),
            num_draws=int(log_p.size),
            diagnostics={
                "tau": float(tau),
                "log_evidence_by_tau": {float(t): results[t][0] for t in taus},
                "std_error_by_tau": {float(t): results[t][1] for t in taus},
                "fraction_inside": inside,
                "ess": ess,
            },
        )


def _estimate(log_normal, quad, log_p, tau, d):
    """Log evidence, its standard error, the share inside, and the ESS of the ratios."""
    inside = quad <= scipy.stats.chi2.ppf(tau, d)
    if not inside.any():
        return float("nan"), float("nan"), 0.0, 0.0
    log_ratio = np.where(inside, log_normal - np.log(tau) - log_p, -np.inf)
    # 1/p(y) = mean of the ratios; scale by the largest before exponentiating.
    shift = np.max(log_ratio)
    ratio = np.exp(log_ratio - shift)
    mean_ratio = ratio.mean()
    log_inverse = shift + np.log(mean_ratio)
    ess = effective_sample_size(ratio)
    # Delta method: se(log m) = se(m) / m with se(m) = sd / sqrt(ESS).
    se = float(ratio.std(ddof=1) / np.sqrt(ess) / mean_ratio)
    return float(-log_inverse), se, float(inside.mean()), float(ess)
