"""mcmc subpackage."""

from . import blackjax as blackjax
from ._adapter import BlackJAXKernelAdapter as BlackJAXKernelAdapter
from ._adapter import MHKernelState as MHKernelState
from ._archive import ArchiveRecorder as ArchiveRecorder
from ._archive import CandidateArchive as CandidateArchive
from ._archive import merge_archives as merge_archives
from ._covariance_adapter import CovarianceAdaptiveAdapter as CovarianceAdaptiveAdapter
from ._executor import evaluate_batch as evaluate_batch
from ._executor import host_logdensity as host_logdensity
from ._executor import local_executor as local_executor
from ._mlp import MLP as MLP
from ._multi_proposal_kernel import MultiProposalMH as MultiProposalMH
from ._multi_proposal_kernel import (
    multi_proposal_target_acceptance as multi_proposal_target_acceptance,
)
from ._random_walk_kernel import RandomWalkMH as RandomWalkMH
from ._rao_blackwell import multi_proposal_samples as multi_proposal_samples
from ._rao_blackwell import rao_blackwell_estimate as rao_blackwell_estimate
from ._residual_surrogate import ResidualSurrogate as ResidualSurrogate
from ._residual_surrogate import train_residual_surrogate as train_residual_surrogate
from ._surrogate import Surrogate as Surrogate
from ._surrogate import TrainingInfo as TrainingInfo
from ._surrogate import load_surrogate as load_surrogate
from ._surrogate import train_surrogate as train_surrogate
from ._surrogate_diagnostics import DecisionErrors as DecisionErrors
from ._surrogate_diagnostics import ImportanceDiagnostics as ImportanceDiagnostics
from ._surrogate_diagnostics import decision_errors as decision_errors
from ._surrogate_diagnostics import importance_diagnostics as importance_diagnostics
from ._surrogate_kernels import DelayedAcceptanceMH as DelayedAcceptanceMH
from ._surrogate_kernels import SurrogateMH as SurrogateMH
from ._surrogate_kernels import surrogate_logdensity as surrogate_logdensity
from ._workflow import SurrogatePosterior as SurrogatePosterior
from ._workflow import surrogate_posterior as surrogate_posterior

__all__: list[str] = [
    "CandidateArchive",
    "evaluate_batch",
    "host_logdensity",
    "local_executor",
    "merge_archives",
    "MLP",
    "Surrogate",
    "TrainingInfo",
    "load_surrogate",
    "train_surrogate",
    "ResidualSurrogate",
    "train_residual_surrogate",
    "DecisionErrors",
    "ImportanceDiagnostics",
    "decision_errors",
    "importance_diagnostics",
    "DelayedAcceptanceMH",
    "SurrogateMH",
    "surrogate_logdensity",
    "SurrogatePosterior",
    "surrogate_posterior",
    "ArchiveRecorder",
    "BlackJAXKernelAdapter",
    "CovarianceAdaptiveAdapter",
    "MHKernelState",
    "MultiProposalMH",
    "RandomWalkMH",
    "blackjax",
    "multi_proposal_samples",
    "multi_proposal_target_acceptance",
    "rao_blackwell_estimate",
]
