"""distributions subpackage."""

from ._smm_likelihood import SMMLikelihood as SMMLikelihood
from ._synthetic_likelihood import SyntheticLikelihood as SyntheticLikelihood

__all__: list[str] = ["SMMLikelihood", "SyntheticLikelihood"]
