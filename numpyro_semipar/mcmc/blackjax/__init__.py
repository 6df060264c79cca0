"""Gradient-free Metropolis–Hastings kernels as BlackJAX sampling algorithms.

``random_walk`` and ``multi_proposal`` follow BlackJAX's conventions: calling them returns a
:class:`blackjax.base.SamplingAlgorithm` (``init``, ``step``), and their ``init`` and
``build_kernel`` attributes give the low-level pieces. The adaptation utilities (Haario running
covariance, Robbins–Monro scale, Dynare-style mode start) are pure functions on a NamedTuple
state.
"""

from ..._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    submod_attrs={
        "_adaptation": [
            "CovarianceAdaptationState",
            "adapted_covariance",
            "adapted_proposal_cholesky",
            "build_adaptive_step",
            "covariance_adaptation_checkpoint",
            "covariance_adaptation_init",
            "covariance_adaptation_restart",
            "covariance_adaptation_update",
            "mode_start",
            "optimal_scale",
        ],
        "_batch_evaluation": ["threaded_evaluator", "vmap_evaluator"],
        "_delayed_acceptance": [
            "DelayedAcceptanceInfo",
            "DelayedAcceptanceState",
            "delayed_acceptance",
        ],
        "_multi_proposal": ["MultiProposalInfo", "MultiProposalState", "multi_proposal"],
        "_proposals": ["gaussian_step", "proposal_cholesky"],
        "_random_walk": ["RandomWalkInfo", "RandomWalkState", "random_walk"],
        "_rao_blackwell": ["multi_proposal_draws", "rao_blackwell_mean"],
        "_surrogate_mh": ["SurrogateChains", "sample_surrogate_chains", "surrogate_mh"],
    },
)
