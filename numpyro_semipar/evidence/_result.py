"""The result of a marginal-likelihood estimate."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["EvidenceResult"]


class EvidenceResult(NamedTuple):
    """A log marginal likelihood (log evidence) estimate ``log p(y)``.

    Attributes
    ----------
    method : str
        ``"laplace"``, ``"harmonic_mean"`` (Geweke's modified harmonic mean) or ``"bridge"``.
    log_evidence : float
        The estimate of ``log p(y) = log ∫ p(y | θ) p(θ) dθ``.
    std_error : float
        Monte Carlo standard error of ``log_evidence`` (autocorrelation of the draws taken into
        account); NaN for the Laplace approximation, whose error is an approximation error, not
        a sampling error.
    converged : bool
        Laplace: mode finding converged and the Hessian is negative definite. Harmonic mean:
        the weighting density caught draws (finite estimate). Bridge: the iterative scheme met
        its tolerance.
    num_draws : int
        Posterior draws used (0 for Laplace).
    diagnostics : dict
        Method-specific details (the mode, the estimate for each truncation level, the
        number of iterations, relative mean-squared error, ...); see each estimator.
    """

    method: str
    log_evidence: float
    std_error: float
    converged: bool
    num_draws: int
    diagnostics: dict[str, Any]

    def __repr__(self) -> str:
        return (
            f"EvidenceResult(method={self.method!r}, log_evidence={self.log_evidence:.6g}, "
            f"std_error={self.std_error:.3g}, converged={self.converged}, "
            f"num_draws={self.num_draws})"
        )
