"""Linear DSGE models: any linear rational-expectations model, its filter, smoother and outputs.

The pieces are small and generic: any model in the canonical form
``A E x' + B x + C x₋₁ + E u = 0`` solves with :func:`solve_re`; :class:`LinearREModel` wraps a
user's model (system matrices and observation equation as functions of the parameters) into a
likelihood, a NumPyro model and the Dynare-style outputs (:func:`kalman_smoother`,
:func:`impulse_responses`, :func:`variance_decomposition`, :func:`historical_decomposition`,
:func:`forecast`), which also work on any :class:`StateSpace`. The An–Schorfheide model
(:data:`AN_SCHORFHEIDE`, :func:`an_schorfheide_model`) is one instance, used by
``examples/dsge_nk.py`` and the expensive-posterior benchmarks of the MH kernels.
"""

from ._an_schorfheide import AN_SCHORFHEIDE as AN_SCHORFHEIDE
from ._an_schorfheide import PARAM_NAMES as PARAM_NAMES
from ._an_schorfheide import POSTERIOR_BULK_START as POSTERIOR_BULK_START
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
from ._distribution import StateSpaceDistribution as StateSpaceDistribution
from ._forecast import Forecast as Forecast
from ._forecast import forecast as forecast
from ._historical import HistoricalDecomposition as HistoricalDecomposition
from ._historical import historical_decomposition as historical_decomposition
from ._kalman import KalmanResult as KalmanResult
from ._kalman import kalman_filter as kalman_filter
from ._kalman import kalman_loglik as kalman_loglik
from ._kalman import solve_discrete_lyapunov as solve_discrete_lyapunov
from ._linear_re import LinearREModel as LinearREModel
from ._responses import ImpulseResponses as ImpulseResponses
from ._responses import impulse_responses as impulse_responses
from ._responses import variance_decomposition as variance_decomposition
from ._smoother import SmootherResult as SmootherResult
from ._smoother import kalman_smoother as kalman_smoother
from ._solve import SOLVE_STATUS as SOLVE_STATUS
from ._solve import RESolution as RESolution
from ._solve import solve_quadratic as solve_quadratic
from ._solve import solve_re as solve_re
from ._state_space import StateSpace as StateSpace
from ._state_space import solved_state_space as solved_state_space

__all__ = [
    "AN_SCHORFHEIDE",
    "PARAM_NAMES",
    "POSTERIOR_BULK_START",
    "SOLVE_STATUS",
    "Forecast",
    "HistoricalDecomposition",
    "ImpulseResponses",
    "KalmanResult",
    "LinearREModel",
    "RESolution",
    "SmootherResult",
    "StateSpace",
    "StateSpaceDistribution",
    "an_schorfheide_model",
    "an_schorfheide_priors",
    "count_status",
    "forecast",
    "historical_decomposition",
    "impulse_responses",
    "kalman_filter",
    "kalman_loglik",
    "kalman_smoother",
    "load_us_data",
    "log_likelihood",
    "log_prior",
    "prior_mean",
    "solve_discrete_lyapunov",
    "solve_quadratic",
    "solve_re",
    "solved_state_space",
    "state_space",
    "system_matrices",
    "unconstrained_draws",
    "variance_decomposition",
]
