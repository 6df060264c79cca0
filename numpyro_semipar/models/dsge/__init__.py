"""Linear DSGE models: a QZ-free rational-expectations solver, a Kalman filter, An–Schorfheide.

The pieces are small and generic (any model in the canonical form
``A E x' + B x + C x₋₁ + E u = 0`` solves with :func:`solve_re`; any linear Gaussian state
space filters with :func:`kalman_loglik`); :func:`an_schorfheide_model` is the NumPyro model
used by ``examples/dsge_nk.py`` and the expensive-posterior benchmarks of the MH kernels.
"""

from ..._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    submod_attrs={
        "_an_schorfheide": [
            "PARAM_NAMES",
            "POSTERIOR_BULK_START",
            "StateSpace",
            "an_schorfheide_model",
            "an_schorfheide_priors",
            "count_status",
            "load_us_data",
            "log_likelihood",
            "log_prior",
            "prior_mean",
            "state_space",
            "system_matrices",
            "unconstrained_draws",
        ],
        "_kalman": ["KalmanResult", "kalman_filter", "kalman_loglik", "solve_discrete_lyapunov"],
        "_solve": ["SOLVE_STATUS", "RESolution", "solve_quadratic", "solve_re"],
    },
)
