"""Laplace-type quasi-likelihood of simulated moments as a NumPyro distribution."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import Distribution, constraints
from numpyro.distributions.batch_util import vmap_over
from numpyro.distributions.util import validate_sample

from ..moments._callback import CallbackSimulator
from ..moments._draws import num_simulations
from ..moments._errors import ERROR_KINDS, as_float, moment_errors
from ..moments._simulate import simulated_moments
from ._params import (
    check_param_constraints,
    infer_event_shape,
    map_data_sets,
    validate_param_constraints,
    vmap_axes,
)

__all__ = ["SMMLikelihood"]


def _data_event_shape(simulate, params, draws, event_shape):
    if event_shape is not None:
        return tuple(event_shape)
    if isinstance(simulate, CallbackSimulator):
        return simulate.result_shape
    one = jax.tree.map(lambda d: d[0], draws)
    return tuple(jax.eval_shape(simulate, params, one).shape)


class SMMLikelihood(Distribution):
    """Laplace-type quasi-likelihood ``-½ N gᵀ W g / (1 + 1/S)`` of simulated moments.

    Chernozhukov & Hong (2003): with a prior π(θ), the quasi-posterior
    ``π(θ) exp(-½ N g(θ)ᵀ W g(θ))`` behaves like a posterior whose spread approximates the
    estimator's covariance when W is the inverse variance of √N·g. For simulated moments that
    variance is ``(1 + 1/S) V`` (V the per-observation covariance of the moments), so W = V⁻¹ is
    scaled by ``(1 + 1/S)⁻¹`` here. The draws are fixed, so the quasi-likelihood is a
    deterministic function of θ; with smooth moments it is differentiable and NUTS works on it,
    and gradient-free kernels (random-walk MH, SA) work in any case. Flat priors can give
    improper quasi-posteriors (Evans' truncated normal has a ridge in μ): use proper priors.

    Observe the data set with ``obs=``::

        numpyro.sample("y", SMMLikelihood(simulate, moments, draws, params, weight), obs=data)

    Parameters
    ----------
    simulate : callable or CallbackSimulator
        ``simulate(params, draws_s) -> one simulated data set``.
    moments : callable
        ``data set -> (R,)`` moment function.
    draws : array or pytree
        Common random numbers with a leading S axis (fixed data of the model).
    params : pytree
        Parameter values (the model's sampled sites).
    weight : array of shape (R, R)
        Inverse of the per-observation moment covariance V (so that ``N gᵀ V⁻¹ g`` is
        asymptotically χ²). From an :class:`~numpyro_semipar.frequentist.SMM` result:
        ``inv(result.moment_cov * result.nobs)``.
    error : {"difference", "percent"}
        Error vector kind.
    event_shape : tuple of int, optional
        Shape of the observed data set; defaults to that of one simulated data set.
    param_constraints : constraint, dict or pytree of constraints, optional
        Support of the parameters, checked under ``validate_args=True`` (a parameter outside
        it raises ``ValueError``), e.g. ``{"sigma": constraints.positive}``: a dict may name a
        subset of the keys of a dict ``params``; one constraint applies to every leaf.
    validate_args : bool, optional
        NumPyro argument validation: ``weight`` positive definite, ``params`` within
        ``param_constraints``, observations of shape ``event_shape``.

    Notes
    -----
    Works with x64 disabled (NumPyro's default): everything is then computed in float32.

    :meth:`sample` returns one simulated data set made with a randomly chosen slice of the
    stored draws (posterior predictive checks under common random numbers).
    """

    arg_constraints = {"weight": constraints.positive_definite}
    pytree_data_fields = ("params", "draws", "weight", "param_constraints")
    pytree_aux_fields = ("simulate", "moments", "error", "num_sims")

    def __init__(
        self,
        simulate: Callable,
        moments: Callable,
        draws: Any,
        params: Any,
        weight,
        *,
        error: str = "difference",
        event_shape: tuple[int, ...] | None = None,
        param_constraints: Any = None,
        validate_args: bool | None = None,
    ) -> None:
        if error not in ERROR_KINDS:
            raise ValueError(f"error must be one of {ERROR_KINDS}, got {error!r}")
        self.simulate, self.moments, self.error = simulate, moments, error
        self.num_sims = num_simulations(draws)
        self.draws, self.params = draws, params
        self.weight = as_float(weight)
        if self.weight.ndim != 2 or self.weight.shape[0] != self.weight.shape[1]:
            raise ValueError(f"weight must be a square (R, R) matrix, got {self.weight.shape}")
        check_param_constraints(param_constraints, params)
        self.param_constraints = param_constraints
        shape = _data_event_shape(simulate, params, draws, event_shape)
        super().__init__(batch_shape=(), event_shape=shape, validate_args=validate_args)

    @classmethod
    def infer_shapes(
        cls, simulate=None, moments=None, draws=None, params=None, weight=None, **kwargs
    ):
        """Batch shape ``()`` and event shape from argument shapes.

        The event shape is ``event_shape`` when given, else that of one slice of ``draws``
        (``draws[1:]``): this assumes ``simulate`` returns a data set shaped like one slice of
        the draws (the constructor itself evaluates ``simulate``).
        """
        return (), infer_event_shape(draws, kwargs.get("event_shape"))

    def validate_args(self, strict: bool = True) -> None:
        """Validate ``weight`` and the parameters against ``param_constraints``."""
        super().validate_args(strict=strict)
        validate_param_constraints(type(self).__name__, self.param_constraints, self.params)

    def moment_errors(self, value):
        """Error vector g between the average simulated moments and the moments of ``value``."""
        sim = simulated_moments(self.simulate, self.moments, self.params, self.draws)
        return moment_errors(jnp.mean(sim, axis=0), as_float(self.moments(value)), self.error)

    @property
    def support(self):
        """Real data sets of shape ``event_shape``."""
        return constraints.independent(constraints.real, len(self.event_shape))

    @validate_sample
    def log_prob(self, value):
        """Quasi-log-likelihood ``-½ N gᵀ W g / (1 + 1/S)`` (N from the leading axis).

        Leading axes of ``value`` beyond the event shape index independent data sets.
        """

        def one(data):
            g = self.moment_errors(data)
            num_obs = data.shape[0] if jnp.ndim(data) else 1
            return -0.5 * num_obs * (g @ self.weight @ g) / (1.0 + 1.0 / self.num_sims)

        return map_data_sets(one, value, len(self.event_shape))

    def sample(self, key, sample_shape=()):
        """Draw simulated data sets, each with a random slice of the stored draws."""
        size = int(np.prod(sample_shape, dtype=int))
        index = jax.random.randint(key, (size,), 0, self.num_sims)

        def one(i):
            # A CallbackSimulator is callable on one slice too (a sequential callback).
            return self.simulate(self.params, jax.tree.map(lambda x: x[i], self.draws))

        out = jax.vmap(one)(index)
        return out.reshape(tuple(sample_shape) + self.event_shape)


@vmap_over.register
def _vmap_over_smm_likelihood(
    dist: SMMLikelihood, draws=None, params=None, weight=None, param_constraints=None
):
    return vmap_axes(
        dist, draws=draws, params=params, weight=weight, param_constraints=param_constraints
    )
