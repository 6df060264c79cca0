"""Reporting: the shared estimation result, its summary table and ArviZ conversion."""

from ._arviz import result_to_datatree as result_to_datatree
from ._compare import plot_forest_compare as plot_forest_compare
from ._compare import summary as summary
from ._result import EstimationResult as EstimationResult
from ._summary import EstimationSummary as EstimationSummary

__all__ = [
    "EstimationResult",
    "EstimationSummary",
    "plot_forest_compare",
    "result_to_datatree",
    "summary",
]
