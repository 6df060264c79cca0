"""Reporting: the shared estimation result, summary tables, posterior reports, ArviZ conversion."""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    submod_attrs={
        "_arviz": ["result_to_datatree"],
        "_compare": ["plot_forest_compare", "summary"],
        "_posterior_report": ["geweke_z", "posterior_report"],
        "_result": ["EstimationResult"],
        "_summary": ["EstimationSummary"],
    },
)
