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

from ..._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    submod_attrs={
        "_an_schorfheide": [
            "AN_SCHORFHEIDE",
            "PARAM_NAMES",
            "POSTERIOR_BULK_START",
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
        "_distribution": ["StateSpaceDistribution"],
        "_forecast": ["Forecast", "forecast"],
        "_historical": ["HistoricalDecomposition", "historical_decomposition"],
        "_kalman": ["KalmanResult", "kalman_filter", "kalman_loglik", "solve_discrete_lyapunov"],
        "_linear_re": ["LinearREModel"],
        "_responses": ["ImpulseResponses", "impulse_responses", "variance_decomposition"],
        "_smoother": ["SmootherResult", "kalman_smoother"],
        "_solve": ["SOLVE_STATUS", "RESolution", "solve_quadratic", "solve_re"],
        "_state_space": ["StateSpace", "solved_state_space"],
    },
)
