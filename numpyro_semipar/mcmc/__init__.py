"""mcmc subpackage."""

from ._archive import CandidateArchive as CandidateArchive
from ._archive import merge_archives as merge_archives
from ._executor import evaluate_batch as evaluate_batch
from ._executor import host_logdensity as host_logdensity
from ._executor import local_executor as local_executor

__all__: list[str] = [
    "CandidateArchive",
    "evaluate_batch",
    "host_logdensity",
    "local_executor",
    "merge_archives",
]
