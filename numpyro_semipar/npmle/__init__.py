"""NPMLE core: mixture weights on a fixed grid by mixSQP (and EM), with derivative rules.

:func:`mixsqp` maximises ``sum_i w_i log sum_j p_j exp(l_ij)`` over the simplex, in pure JAX
(``jit``, ``vmap``, ``grad`` and ``hessian`` all work); :func:`log_responsibilities` and
:func:`log_marginal` are the log-space building blocks of the profile likelihood's
derivatives.
"""

from ._derivatives import log_marginal as log_marginal
from ._derivatives import log_responsibilities as log_responsibilities
from ._em import em as em
from ._mixsqp import choose_rank as choose_rank
from ._mixsqp import mixsqp as mixsqp
from ._profile import profile_loglik as profile_loglik
from ._result import MixSQPResult as MixSQPResult
from ._result import SolverStatus as SolverStatus

__all__ = [
    "MixSQPResult",
    "SolverStatus",
    "choose_rank",
    "em",
    "log_marginal",
    "log_responsibilities",
    "mixsqp",
    "profile_loglik",
]
