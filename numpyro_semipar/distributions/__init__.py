"""distributions subpackage."""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    submod_attrs={
        "_profiled_mixture": ["ProfiledMixture"],
        "_smm_likelihood": ["SMMLikelihood"],
        "_synthetic_likelihood": ["SyntheticLikelihood"],
    },
)
