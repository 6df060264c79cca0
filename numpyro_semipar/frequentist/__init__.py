"""Frequentist estimators: ``fit(...) -> EstimationResult``.

Each estimator lives in its own module; this package re-exports the public names.
"""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    submod_attrs={
        "..panel": ["CLasso", "InteractiveEffects", "SuJu"],
        "_indirect_inference": ["IndirectInference"],
        "_maximum_likelihood": ["MaximumLikelihood", "covariance_from_scores"],
        "_mode": ["ModeResult", "find_mode", "inverse_information"],
        "_profile_mle": ["MixingDistribution", "ProfileMLE", "plot_mixing_cdf"],
        "_smm": ["SMM"],
    },
)
