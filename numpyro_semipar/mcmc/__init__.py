"""mcmc subpackage."""

from . import blackjax as blackjax
from ._adapter import BlackJAXKernelAdapter as BlackJAXKernelAdapter
from ._adapter import CovarianceAdaptiveAdapter as CovarianceAdaptiveAdapter
from ._adapter import MHKernelState as MHKernelState
from ._archive import CandidateArchive as CandidateArchive
from ._archive import merge_archives as merge_archives
from ._executor import evaluate_batch as evaluate_batch
from ._executor import host_logdensity as host_logdensity
from ._executor import local_executor as local_executor
from ._multi_proposal_kernel import MultiProposalMH as MultiProposalMH
from ._multi_proposal_kernel import (
    multi_proposal_target_acceptance as multi_proposal_target_acceptance,
)
from ._random_walk_kernel import RandomWalkMH as RandomWalkMH
from ._rao_blackwell import multi_proposal_samples as multi_proposal_samples
from ._rao_blackwell import rao_blackwell_estimate as rao_blackwell_estimate

__all__: list[str] = [
    "CandidateArchive",
    "evaluate_batch",
    "host_logdensity",
    "local_executor",
    "merge_archives",
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
