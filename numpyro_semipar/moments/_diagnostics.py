"""Detection of flat simulated-moment criteria (the textbook's silent failure).

Indicator moments under common random numbers are piecewise constant in θ: autodiff gives an
exactly zero Jacobian and a finite-difference optimiser with a small step sees a flat criterion
and returns its starting point (Evans' L-BFGS-B with ``eps=1e-8`` stops after three
evaluations). Estimators here check the Jacobian first and raise :class:`FlatCriterionError`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FlatCriterionError", "FlatCriterionWarning", "check_jacobian"]

_ADVICE = (
    "Indicator or bin-share moments are piecewise constant under common random numbers; "
    "smooth them with numpyro_semipar.moments.smooth_indicator or "
    "bin_shares(..., bandwidth=h), or use analytic probabilities."
)


class FlatCriterionError(ValueError):
    """The simulated moments do not move with (some of) the parameters at the start."""


class FlatCriterionWarning(UserWarning):
    """Finite differences saw no change in the simulated moments for some parameter."""


def check_jacobian(jacobian, param_names, moment_names) -> None:
    """Raise :class:`FlatCriterionError` if a column of the moment Jacobian is exactly zero.

    Parameters
    ----------
    jacobian : array of shape (R, K)
        Jacobian of the moment errors at the starting point.
    param_names, moment_names : list of str
        Names for the message.
    """
    g = np.asarray(jacobian)
    if not np.all(np.isfinite(g)):
        r, k = np.argwhere(~np.isfinite(g))[0]
        raise ValueError(
            f"the moment Jacobian is not finite at the start (moment {moment_names[r]}, "
            f"parameter {param_names[k]}); choose another starting point"
        )
    flat = [param_names[k] for k in range(g.shape[1]) if not np.any(g[:, k])]
    if flat:
        what = "any parameter" if len(flat) == g.shape[1] else ", ".join(flat)
        raise FlatCriterionError(
            f"the simulated moments do not change with {what} at the starting point: the "
            f"Jacobian of the moments {moment_names} is exactly zero there, so the criterion is "
            f"flat and any optimiser would stop at the start. {_ADVICE}"
        )
