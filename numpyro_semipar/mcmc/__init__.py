"""mcmc subpackage."""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    submodules=["blackjax"],
    submod_attrs={
        "_adapter": ["BlackJAXKernelAdapter", "MHKernelState"],
        "_archive": ["ArchiveRecorder", "CandidateArchive", "merge_archives"],
        "_covariance_adapter": ["CovarianceAdaptiveAdapter"],
        "_executor": ["evaluate_batch", "host_logdensity", "local_executor"],
        "_mlp": ["MLP"],
        "_multi_proposal_kernel": ["MultiProposalMH", "multi_proposal_target_acceptance"],
        "_random_walk_kernel": ["RandomWalkMH"],
        "_rao_blackwell": ["multi_proposal_samples", "rao_blackwell_estimate"],
        "_residual_surrogate": ["ResidualSurrogate", "train_residual_surrogate"],
        "_surrogate": ["Surrogate", "TrainingInfo", "load_surrogate", "train_surrogate"],
        "_surrogate_diagnostics": [
            "DecisionErrors",
            "ImportanceDiagnostics",
            "decision_errors",
            "importance_diagnostics",
        ],
        "_surrogate_kernels": ["DelayedAcceptanceMH", "SurrogateMH", "surrogate_logdensity"],
        "_workflow": ["SurrogatePosterior", "surrogate_posterior"],
    },
)
