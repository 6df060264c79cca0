"""Reporting: the shared estimation result, its summary table and ArviZ conversion."""

from ._arviz import result_to_datatree as result_to_datatree
from ._result import EstimationResult as EstimationResult
from ._summary import EstimationSummary as EstimationSummary

__all__ = ["EstimationResult", "EstimationSummary", "result_to_datatree"]
