"""Gradient-free Metropolis–Hastings kernels as BlackJAX sampling algorithms.

``random_walk`` and ``multi_proposal`` follow BlackJAX's conventions: calling them returns a
:class:`blackjax.base.SamplingAlgorithm` (``init``, ``step``), and their ``init`` and
``build_kernel`` attributes give the low-level pieces. The adaptation utilities (Haario running
covariance, Robbins–Monro scale, Dynare-style mode start) are pure functions on a NamedTuple
state.
"""

from blackjax import GenerateSamplingAPI as _GenerateSamplingAPI

from . import _delayed_acceptance, _multi_proposal, _random_walk, _surrogate_mh
from ._adaptation import CovarianceAdaptationState as CovarianceAdaptationState
from ._adaptation import adapted_covariance as adapted_covariance
from ._adaptation import adapted_proposal_cholesky as adapted_proposal_cholesky
from ._adaptation import build_adaptive_step as build_adaptive_step
from ._adaptation import covariance_adaptation_checkpoint as covariance_adaptation_checkpoint
from ._adaptation import covariance_adaptation_init as covariance_adaptation_init
from ._adaptation import covariance_adaptation_restart as covariance_adaptation_restart
from ._adaptation import covariance_adaptation_update as covariance_adaptation_update
from ._adaptation import mode_start as mode_start
from ._adaptation import optimal_scale as optimal_scale
from ._batch_evaluation import threaded_evaluator as threaded_evaluator
from ._batch_evaluation import vmap_evaluator as vmap_evaluator
from ._delayed_acceptance import DelayedAcceptanceInfo as DelayedAcceptanceInfo
from ._delayed_acceptance import DelayedAcceptanceState as DelayedAcceptanceState
from ._multi_proposal import MultiProposalInfo as MultiProposalInfo
from ._multi_proposal import MultiProposalState as MultiProposalState
from ._proposals import gaussian_step as gaussian_step
from ._proposals import proposal_cholesky as proposal_cholesky
from ._random_walk import RandomWalkInfo as RandomWalkInfo
from ._random_walk import RandomWalkState as RandomWalkState
from ._rao_blackwell import multi_proposal_draws as multi_proposal_draws
from ._rao_blackwell import rao_blackwell_mean as rao_blackwell_mean
from ._surrogate_mh import SurrogateChains as SurrogateChains
from ._surrogate_mh import sample_surrogate_chains as sample_surrogate_chains

random_walk = _GenerateSamplingAPI(
    _random_walk.as_top_level_api, _random_walk.init, _random_walk.build_kernel
)
multi_proposal = _GenerateSamplingAPI(
    _multi_proposal.as_top_level_api, _multi_proposal.init, _multi_proposal.build_kernel
)
delayed_acceptance = _GenerateSamplingAPI(
    _delayed_acceptance.as_top_level_api, _delayed_acceptance.init, _delayed_acceptance.build_kernel
)
surrogate_mh = _GenerateSamplingAPI(
    _surrogate_mh.as_top_level_api, _surrogate_mh.init, _surrogate_mh.build_kernel
)

__all__ = [
    "DelayedAcceptanceInfo",
    "DelayedAcceptanceState",
    "SurrogateChains",
    "delayed_acceptance",
    "sample_surrogate_chains",
    "surrogate_mh",
    "CovarianceAdaptationState",
    "MultiProposalInfo",
    "MultiProposalState",
    "RandomWalkInfo",
    "RandomWalkState",
    "adapted_covariance",
    "adapted_proposal_cholesky",
    "build_adaptive_step",
    "covariance_adaptation_init",
    "covariance_adaptation_checkpoint",
    "covariance_adaptation_restart",
    "covariance_adaptation_update",
    "gaussian_step",
    "mode_start",
    "multi_proposal",
    "multi_proposal_draws",
    "optimal_scale",
    "proposal_cholesky",
    "random_walk",
    "rao_blackwell_mean",
    "threaded_evaluator",
    "vmap_evaluator",
]
