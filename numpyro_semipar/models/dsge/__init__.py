"""Linear DSGE models: a QZ-free rational-expectations solver, a Kalman filter, An–Schorfheide.

The pieces are small and generic (any model in the canonical form
``A E x' + B x + C x₋₁ + E u = 0`` solves with :func:`solve_re`; any linear Gaussian state
space filters with :func:`kalman_loglik`); :func:`an_schorfheide_model` is the NumPyro model
used by ``examples/dsge_nk.py`` and the expensive-posterior benchmarks of the MH kernels.
"""

from ._an_schorfheide import PARAM_NAMES as PARAM_NAMES
from ._an_schorfheide import POSTERIOR_BULK_START as POSTERIOR_BULK_START
from ._an_schorfheide import StateSpace as StateSpace
from ._an_schorfheide import an_schorfheide_model as an_schorfheide_model
from ._an_schorfheide import an_schorfheide_priors as an_schorfheide_priors
from ._an_schorfheide import count_status as count_status
from ._an_schorfheide import load_us_data as load_us_data
from ._an_schorfheide import log_likelihood as log_likelihood
from ._an_schorfheide import log_prior as log_prior
from ._an_schorfheide import prior_mean as prior_mean
from ._an_schorfheide import state_space as state_space
from ._an_schorfheide import system_matrices as system_matrices
from ._an_schorfheide import unconstrained_draws as unconstrained_draws
from ._kalman import KalmanResult as KalmanResult
from ._kalman import kalman_filter as kalman_filter
from ._kalman import kalman_loglik as kalman_loglik
from ._kalman import solve_discrete_lyapunov as solve_discrete_lyapunov
from ._solve import SOLVE_STATUS as SOLVE_STATUS
from ._solve import RESolution as RESolution
from ._solve import solve_quadratic as solve_quadratic
from ._solve import solve_re as solve_re

__all__ = [
    "PARAM_NAMES",
    "POSTERIOR_BULK_START",
    "SOLVE_STATUS",
    "KalmanResult",
    "RESolution",
    "StateSpace",
    "an_schorfheide_model",
    "an_schorfheide_priors",
    "count_status",
    "kalman_filter",
    "kalman_loglik",
    "load_us_data",
    "log_likelihood",
    "log_prior",
    "prior_mean",
    "solve_discrete_lyapunov",
    "solve_quadratic",
    "solve_re",
    "state_space",
    "system_matrices",
    "unconstrained_draws",
]
