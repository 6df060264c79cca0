"""Building blocks for simulated method of moments and indirect inference.

A simulator is a JAX function ``simulate(params, draws_s) -> one simulated data set``; ``draws``
holds S sets of common random numbers with a leading S axis, drawn once. Moment functions map a
data set to an (R,) vector. The estimators live in :mod:`numpyro_semipar.frequentist`
(:class:`~numpyro_semipar.frequentist.SMM`,
:class:`~numpyro_semipar.frequentist.IndirectInference`) and the quasi-likelihoods in
:mod:`numpyro_semipar.distributions`.
"""

from ._auxiliary import ar_coefficients as ar_coefficients
from ._auxiliary import logit as logit
from ._auxiliary import ols as ols
from ._auxiliary import probit as probit
from ._callback import CallbackSimulator as CallbackSimulator
from ._covariance import JTest as JTest
from ._covariance import j_test as j_test
from ._covariance import simulation_factor as simulation_factor
from ._covariance import smm_covariance as smm_covariance
from ._diagnostics import FlatCriterionError as FlatCriterionError
from ._diagnostics import FlatCriterionWarning as FlatCriterionWarning
from ._diagnostics import check_jacobian as check_jacobian
from ._draws import common_random_numbers as common_random_numbers
from ._draws import num_simulations as num_simulations
from ._errors import moment_errors as moment_errors
from ._evans import central_difference_jacobian as central_difference_jacobian
from ._evans import evans_std_errors as evans_std_errors
from ._simulate import chunk_size as chunk_size
from ._simulate import simulated_moments as simulated_moments
from ._smoothing import bin_shares as bin_shares
from ._smoothing import smooth_indicator as smooth_indicator
from ._weighting import bootstrap_moment_covariance as bootstrap_moment_covariance
from ._weighting import collinear_moments as collinear_moments
from ._weighting import diagonal_weight as diagonal_weight
from ._weighting import identity_weight as identity_weight
from ._weighting import influence_moment_covariance as influence_moment_covariance
from ._weighting import optimal_weight as optimal_weight
from ._weighting import simulated_moment_covariance as simulated_moment_covariance

__all__ = [
    "CallbackSimulator",
    "FlatCriterionError",
    "FlatCriterionWarning",
    "JTest",
    "ar_coefficients",
    "bin_shares",
    "bootstrap_moment_covariance",
    "central_difference_jacobian",
    "check_jacobian",
    "chunk_size",
    "collinear_moments",
    "common_random_numbers",
    "diagonal_weight",
    "evans_std_errors",
    "identity_weight",
    "influence_moment_covariance",
    "j_test",
    "logit",
    "moment_errors",
    "num_simulations",
    "ols",
    "optimal_weight",
    "probit",
    "simulated_moment_covariance",
    "simulated_moments",
    "simulation_factor",
    "smm_covariance",
    "smooth_indicator",
]
