"""Ready-made structural models used by the examples and benchmarks.

Subpackages
-----------
dsge
    Linear DSGE models: a QZ-free rational-expectations solver, a Kalman filter and the
    An–Schorfheide (2007) New Keynesian model on US data.

Classes
-------
LinearFactor
    The linear factor model of the spmlex README (profile-likelihood examples).
"""

__all__ = ["LinearFactor", "dsge"]

from . import dsge as dsge
from ._linear_factor import LinearFactor as LinearFactor
