"""Bayesian model comparison: marginal likelihood (evidence) estimators for NumPyro models.

All three work on any NumPyro model with continuous latent sites and on the output of any
sampler (a finished ``numpyro.infer.MCMC``, or a dict of draws plus the model and its
arguments). They compute in the unconstrained space ``z = T⁻¹(θ)`` where NumPyro's samplers
move, with the transforms' log-Jacobian in the density, so that its integral over ℝᵈ is the
evidence ``p(y) = ∫ p(y | θ) p(θ) dθ``.

- :func:`laplace_evidence`: Gaussian approximation at the mode (exact for Gaussian posteriors).
- :func:`harmonic_mean_evidence`: Geweke's (1999) modified harmonic mean, with a standard error.
- :func:`bridge_sampling_evidence`: Meng & Wong (1996) bridge sampling with Gronau et al.'s (2017)
  normal proposal and Frühwirth-Schnatter's (2004) error estimate.
- :func:`compare`: Bayes factors and posterior model probabilities.
"""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    submod_attrs={
        "_bridge": ["bridge_sampling_evidence"],
        "_compare": ["compare"],
        "_harmonic_mean": ["harmonic_mean_evidence"],
        "_laplace": ["laplace_evidence"],
        "_result": ["EvidenceResult"],
    },
)
