"""distributions subpackage."""

from ._profiled_mixture import ProfiledMixture as ProfiledMixture
from ._smm_likelihood import SMMLikelihood as SMMLikelihood
from ._synthetic_likelihood import SyntheticLikelihood as SyntheticLikelihood

__all__: list[str] = ["ProfiledMixture", "SMMLikelihood", "SyntheticLikelihood"]
