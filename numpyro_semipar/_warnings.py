"""Warning categories raised by numpyro_semipar estimators and solvers."""

from __future__ import annotations

__all__ = ["ConvergenceWarning", "IdentificationWarning"]


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped before its convergence criterion was met.

    The result is still returned (nothing computed is thrown away); its ``converged`` flag is
    ``False`` and the message gives the residual or the solver status.
    """


class IdentificationWarning(UserWarning):
    """The information (or Jacobian) matrix is singular or nearly so at the estimate.

    The message names the parameters involved in the near-null directions; their standard
    errors are reported as NaN rather than taken from a pseudo-inverse.
    """
