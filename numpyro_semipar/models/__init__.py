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

__all__ = ["LinearFactor", "dsge", "hank"]

from . import dsge as dsge
from . import hank as hank
from ._linear_factor import LinearFactor as LinearFactor
