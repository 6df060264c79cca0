"""Reporting: the shared estimation result, its summary table and ArviZ conversion."""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    submod_attrs={
        "_arviz": ["result_to_datatree"],
        "_result": ["EstimationResult"],
        "_summary": ["EstimationSummary"],
    },
)
