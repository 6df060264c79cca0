"""Frequentist estimators: ``fit(...) -> EstimationResult``.

Each estimator lives in its own module; this package re-exports the public names.
"""

from ..panel import CLasso as CLasso
from ..panel import InteractiveEffects as InteractiveEffects
from ..panel import SuJu as SuJu
from ._indirect_inference import IndirectInference as IndirectInference
from ._maximum_likelihood import MaximumLikelihood as MaximumLikelihood
from ._maximum_likelihood import covariance_from_scores as covariance_from_scores
from ._mode import ModeResult as ModeResult
from ._mode import find_mode as find_mode
from ._mode import inverse_information as inverse_information
from ._profile_mle import MixingDistribution as MixingDistribution
from ._profile_mle import ProfileMLE as ProfileMLE
from ._profile_mle import plot_mixing_cdf as plot_mixing_cdf
from ._smm import SMM as SMM

__all__ = [
    "SMM",
    "CLasso",
    "InteractiveEffects",
    "SuJu",
    "IndirectInference",
    "MaximumLikelihood",
    "MixingDistribution",
    "ModeResult",
    "ProfileMLE",
    "covariance_from_scores",
    "find_mode",
    "inverse_information",
    "plot_mixing_cdf",
]
