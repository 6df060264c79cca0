"""Ready-made structural models used by the examples and benchmarks.

Subpackages
-----------
dsge
    Linear DSGE models: a QZ-free rational-expectations solver, a Kalman filter and the
    An–Schorfheide (2007) New Keynesian model on US data.
"""

__all__ = ["dsge"]

from . import dsge as dsge
