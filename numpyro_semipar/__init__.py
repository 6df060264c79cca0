"""numpyro_semipar: structural econometrics for NumPyro.

Subpackages
-----------
npmle
    mixSQP solver, EM, and the profile log-likelihood of semi-parametric mixture models.
moments
    Simulated moments, weighting, smoothing and indirect-inference building blocks.
panel
    Interactive fixed effects, C-Lasso and Su–Ju grouped panels.
distributions
    NumPyro distributions built on the cores (profiled mixtures, quasi-likelihoods).
evidence
    Marginal likelihoods (Laplace, modified harmonic mean, bridge sampling) and Bayes factors.
mcmc
    Gradient-free Metropolis–Hastings kernels (BlackJAX-style and NumPyro ``MCMCKernel``).
frequentist
    Estimators returning :class:`~numpyro_semipar.reporting.EstimationResult`.
models
    Ready-made structural models (a New Keynesian DSGE with a QZ-free solver and Kalman filter).
reporting
    The shared result object, summaries and ArviZ conversion.

Importing the package never changes JAX's global configuration (x64 stays as the user set it).
Entry points that cannot run in float32 raise :class:`Float64RequiredError`, which says to call
``numpyro.enable_x64()``.
"""

import importlib

from ._compilation_cache import enable_compilation_cache
from ._warnings import ConvergenceWarning, IdentificationWarning, SamplerWarning
from ._x64 import Float64RequiredError, float64

__version__ = "0.1.0"

_SUBPACKAGES = (
    "distributions",
    "evidence",
    "frequentist",
    "mcmc",
    "models",
    "moments",
    "npmle",
    "panel",
    "reporting",
)

__all__ = [
    "ConvergenceWarning",
    "Float64RequiredError",
    "IdentificationWarning",
    "SamplerWarning",
    "enable_compilation_cache",
    "float64",
    *_SUBPACKAGES,
]


def __getattr__(name: str):
    # Subpackages load on first use: importing numpyro_semipar stays cheap.
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(globals()))
