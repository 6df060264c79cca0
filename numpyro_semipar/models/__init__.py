"""Ready-made structural models used by the examples and benchmarks.

Subpackages
-----------
dsge
    Linear DSGE models: a QZ-free rational-expectations solver, a Kalman filter and the
    An–Schorfheide (2007) New Keynesian model on US data.
hank
    The one-asset HANK of sequence-jacobian as a host log posterior on US data (optional
    extra ``hank``; sequence-jacobian is imported on the first evaluation).

Classes
-------
LinearFactor
    The linear factor model of the spmlex README (profile-likelihood examples).
"""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    submodules=["dsge", "hank"],
    submod_attrs={
        "_linear_factor": ["LinearFactor"],
    },
)
