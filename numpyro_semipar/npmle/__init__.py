"""NPMLE core: mixture weights on a fixed grid by mixSQP (and EM), with derivative rules.

:func:`mixsqp` maximises ``sum_i w_i log sum_j p_j exp(l_ij)`` over the simplex, in pure JAX
(``jit``, ``vmap``, ``grad`` and ``hessian`` all work); :func:`log_responsibilities` and
:func:`log_marginal` are the log-space building blocks of the profile likelihood's
derivatives.
"""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    submod_attrs={
        "_derivatives": ["log_marginal", "log_responsibilities"],
        "_em": ["em"],
        "_mixsqp": ["choose_rank", "mixsqp"],
        "_profile": ["profile_loglik"],
        "_result": ["MixSQPResult", "SolverStatus"],
    },
)
