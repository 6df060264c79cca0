"""Reporting: the shared estimation result, summary tables, posterior reports, ArviZ conversion."""

from ._arviz import result_to_datatree as result_to_datatree
from ._compare import plot_forest_compare as plot_forest_compare
from ._compare import summary as summary
from ._posterior_report import geweke_z as geweke_z
from ._posterior_report import posterior_report as posterior_report
from ._result import EstimationResult as EstimationResult
from ._summary import EstimationSummary as EstimationSummary

__all__ = [
    "EstimationResult",
    "EstimationSummary",
    "geweke_z",
    "plot_forest_compare",
    "posterior_report",
    "result_to_datatree",
    "summary",
]
