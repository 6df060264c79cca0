"""Warning categories raised by numpyro_semipar estimators and solvers."""

from __future__ import annotations

__all__ = ["ConvergenceWarning", "IdentificationWarning", "SamplerWarning"]


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


class SamplerWarning(UserWarning):
    """An MCMC chain shows a problem that makes its draws unreliable.

    Raised by the gradient-free kernels during a run: a chain that did not move in warm-up or
    has stopped moving, log densities that returned NaN or ``+inf``, a proposal covariance
    still changing at the end of warm-up, a surrogate so poor that delayed acceptance saves
    nothing. The message gives the numbers and what to do.
    """
