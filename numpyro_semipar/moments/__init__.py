"""Building blocks for simulated method of moments and indirect inference.

A simulator is a JAX function ``simulate(params, draws_s) -> one simulated data set``; ``draws``
holds S sets of common random numbers with a leading S axis, drawn once. Moment functions map a
data set to an (R,) vector. The estimators live in :mod:`numpyro_semipar.frequentist`
(:class:`~numpyro_semipar.frequentist.SMM`,
:class:`~numpyro_semipar.frequentist.IndirectInference`) and the quasi-likelihoods in
:mod:`numpyro_semipar.distributions`.
"""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    submod_attrs={
        "_auxiliary": ["ar_coefficients", "logit", "ols", "probit"],
        "_callback": ["CallbackSimulator"],
        "_covariance": ["JTest", "j_test", "simulation_factor", "smm_covariance"],
        "_diagnostics": ["FlatCriterionError", "FlatCriterionWarning", "check_jacobian"],
        "_draws": ["common_random_numbers", "num_simulations"],
        "_errors": ["moment_errors"],
        "_evans": ["central_difference_jacobian", "evans_std_errors"],
        "_simulate": ["chunk_size", "simulated_moments"],
        "_smoothing": ["bin_shares", "smooth_indicator"],
        "_weighting": [
            "bootstrap_moment_covariance",
            "collinear_moments",
            "diagonal_weight",
            "identity_weight",
            "influence_moment_covariance",
            "optimal_weight",
            "simulated_moment_covariance",
        ],
    },
)
