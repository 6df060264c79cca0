"""Gaussian synthetic likelihood (Wood 2010; Price, Drovandi, Lee & Nott 2018)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import Distribution, constraints
from numpyro.distributions.batch_util import vmap_over
from numpyro.distributions.util import validate_sample

from ..moments._draws import num_simulations
from ..moments._errors import as_float
from ..moments._simulate import simulated_moments
from ._params import (
    check_param_constraints,
    infer_event_shape,
    map_data_sets,
    validate_param_constraints,
    vmap_axes,
)
from ._smm_likelihood import _data_event_shape

__all__ = ["SyntheticLikelihood"]


class SyntheticLikelihood(Distribution):
    """Synthetic likelihood ``log N(s_obs; μ̂(θ), Σ̂(θ))`` of summary statistics.

    μ̂ and Σ̂ are the mean and the (unbiased) covariance of the summaries of S simulated data
    sets made with fixed draws; the log-determinant of Σ̂ is included, so the scale of the
    simulated summaries is informative. Optional shrinkage of Σ̂ towards its diagonal,
    ``(1 - λ) Σ̂ + λ diag(Σ̂)``, stabilises it when S is small relative to the number of
    summaries (Warton 2008; An, South, Nott & Drovandi 2019).

    Parameters
    ----------
    simulate : callable or CallbackSimulator
        ``simulate(params, draws_s) -> one simulated data set``.
    summaries : callable
        ``data set -> (R,)`` summary statistics.
    draws : array or pytree
        Draws with a leading S axis (S > R).
    params : pytree
        Parameter values (the model's sampled sites).
    shrinkage : float
        λ in [0, 1].
    event_shape : tuple of int, optional
        Shape of the observed data set; defaults to that of one simulated data set.
    param_constraints : constraint, dict or pytree of constraints, optional
        Support of the parameters, checked under ``validate_args=True`` (a parameter outside
        it raises ``ValueError``), e.g. ``{"sigma": constraints.positive}``: a dict may name a
        subset of the keys of a dict ``params``; one constraint applies to every leaf.
    validate_args : bool, optional
        NumPyro argument validation: ``params`` within ``param_constraints``, observations of
        shape ``event_shape``.

    Notes
    -----
    Works with x64 disabled (NumPyro's default): everything is then computed in float32,
    including the Cholesky factor of Σ̂; with many summaries or nearly collinear ones prefer
    x64 (``numpyro.enable_x64()``) or some ``shrinkage``.
    """

    arg_constraints = {}
    pytree_data_fields = ("params", "draws", "param_constraints")
    pytree_aux_fields = ("simulate", "summaries", "num_sims", "shrinkage")

    def __init__(
        self,
        simulate: Callable,
        summaries: Callable,
        draws: Any,
        params: Any,
        *,
        shrinkage: float = 0.0,
        event_shape: tuple[int, ...] | None = None,
        param_constraints: Any = None,
        validate_args: bool | None = None,
    ) -> None:
        if not 0.0 <= float(shrinkage) <= 1.0:
            raise ValueError(f"shrinkage must lie in [0, 1], got {shrinkage}")
        self.simulate, self.summaries = simulate, summaries
        self.num_sims = num_simulations(draws)
        if self.num_sims < 2:
            raise ValueError("a synthetic likelihood needs at least 2 simulated data sets")
        self.draws, self.params, self.shrinkage = draws, params, float(shrinkage)
        check_param_constraints(param_constraints, params)
        self.param_constraints = param_constraints
        shape = _data_event_shape(simulate, params, draws, event_shape)
        super().__init__(batch_shape=(), event_shape=shape, validate_args=validate_args)

    @classmethod
    def infer_shapes(cls, simulate=None, summaries=None, draws=None, params=None, **kwargs):
        """Batch shape ``()`` and event shape from argument shapes.

        The event shape is ``event_shape`` when given, else that of one slice of ``draws``
        (``draws[1:]``): this assumes ``simulate`` returns a data set shaped like one slice of
        the draws (the constructor itself evaluates ``simulate``).
        """
        return (), infer_event_shape(draws, kwargs.get("event_shape"))

    def validate_args(self, strict: bool = True) -> None:
        """Validate the parameters against ``param_constraints``."""
        super().validate_args(strict=strict)
        validate_param_constraints(type(self).__name__, self.param_constraints, self.params)

    def synthetic_moments(self):
        """Mean ``(R,)`` and (shrunk) covariance ``(R, R)`` of the simulated summaries."""
        sims = simulated_moments(self.simulate, self.summaries, self.params, self.draws)
        mean = jnp.mean(sims, axis=0)
        centered = sims - mean
        cov = centered.T @ centered / (self.num_sims - 1)
        if self.shrinkage:
            cov = (1.0 - self.shrinkage) * cov + self.shrinkage * jnp.diag(jnp.diag(cov))
        return mean, cov

    @property
    def support(self):
        """Real data sets of shape ``event_shape``."""
        return constraints.independent(constraints.real, len(self.event_shape))

    @validate_sample
    def log_prob(self, value):
        """Gaussian log density of the observed summaries, log-determinant included.

        Leading axes of ``value`` beyond the event shape index independent data sets.
        """
        mean, cov = self.synthetic_moments()
        chol = jnp.linalg.cholesky(cov)
        log_det = 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))

        def one(data):
            s_obs = as_float(self.summaries(data))
            z = jax.scipy.linalg.solve_triangular(chol, s_obs - mean, lower=True)
            return -0.5 * (s_obs.shape[0] * jnp.log(2.0 * jnp.pi) + log_det + z @ z)

        return map_data_sets(one, value, len(self.event_shape))

    def sample(self, key, sample_shape=()):
        """Draw simulated data sets, each with a random slice of the stored draws."""
        size = int(np.prod(sample_shape, dtype=int))
        index = jax.random.randint(key, (size,), 0, self.num_sims)
        out = jax.vmap(
            lambda i: self.simulate(self.params, jax.tree.map(lambda x: x[i], self.draws))
        )(index)
        return out.reshape(tuple(sample_shape) + self.event_shape)


@vmap_over.register
def _vmap_over_synthetic_likelihood(
    dist: SyntheticLikelihood, draws=None, params=None, param_constraints=None
):
    return vmap_axes(dist, draws=draws, params=params, param_constraints=param_constraints)
