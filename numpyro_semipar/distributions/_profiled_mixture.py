"""A finite mixture over a grid whose mixing weights are profiled out by mixSQP."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions.batch_util import vmap_over
from numpyro.distributions.util import validate_sample
from numpyro.util import not_jax_tracer

from .._checks import check_no_nan
from .._x64 import x64_enabled
from ..npmle._profile import check_rows, group_weights, profile_pointwise
from ..npmle._profile_float32 import profile_pointwise_float32
from ._params import vmap_axes

__all__ = ["ProfiledMixture"]


class ProfiledMixture(dist.Distribution):
    """Mixture over a grid of components, with the mixing weights profiled out.

    Like :class:`numpyro.distributions.MixtureSameFamily`, but instead of a mixing
    distribution the weights ``p`` over the last batch dimension of ``component_distribution``
    (the grid) are set to their maximum-likelihood value given the observations, found by
    :func:`~numpyro_semipar.npmle.mixsqp`. The log density of a data set is then the
    semi-parametric profile log-likelihood ``max_p Σ_i log Σ_j p_j f_j(y_i)``.

    Because the weights depend on the whole data set, :meth:`log_prob` must be called on all
    observations at once: every leading dimension of ``value`` (beyond the event shape) indexes
    observations, which share one mixing distribution. It returns the per-observation
    log-likelihoods at the profiled weights; their sum is the profile log-likelihood, and their
    derivatives include the implicit derivative of the weights (exact gradients for NUTS and
    exact per-observation scores).

    Parameters
    ----------
    component_distribution : numpyro.distributions.Distribution
        Components; its last batch dimension (size ``m``) runs over the grid. Leading batch
        dimensions, if any, must broadcast against the observations (e.g. covariates).
    data : array, optional
        The observations the weights are profiled on, needed for :attr:`mixing_weights` and
        :meth:`sample` (posterior predictive checks). When :meth:`log_prob` is called on this
        very array, the profile is computed only once.
    validate_args : bool, optional
        Whether to validate the arguments (``data`` must lie in the components' support) and
        samples.

    Notes
    -----
    Works with x64 disabled (NumPyro's default float32): the weights, and the matrix of their
    implicit derivative, are then solved in float64 on the host through
    :func:`jax.pure_callback` (also under ``jit``, ``vmap`` and ``grad``), while the
    log-likelihoods and gradients are computed in float32. Second derivatives (``jax.hessian``)
    are exact only with x64 enabled (``numpyro.enable_x64()``).

    Examples
    --------
    In a NumPyro model, profile on the data, record the weights and observe:

    >>> import numpyro, numpyro.distributions as dist
    >>> def model(y, grid, predict=False):
    ...     scale = numpyro.sample("scale", dist.LogNormal(0.0, 1.0))
    ...     mixture = ProfiledMixture(dist.Normal(grid, scale), data=y)
    ...     numpyro.deterministic("mixing_weights", mixture.mixing_weights)
    ...     with numpyro.plate("obs", y.shape[0]):
    ...         numpyro.sample("y", mixture, obs=None if predict else y)
    """

    arg_constraints: dict[str, Any] = {}
    pytree_data_fields = ("_component_distribution", "data")

    def __init__(
        self,
        component_distribution: dist.Distribution,
        data: Any = None,
        *,
        validate_args: bool | None = None,
    ) -> None:
        if not isinstance(component_distribution, dist.Distribution):
            raise TypeError(
                "component_distribution must be a numpyro Distribution, got "
                f"{type(component_distribution).__name__}"
            )
        if len(component_distribution.batch_shape) == 0:
            raise ValueError(
                "component_distribution needs a batch dimension over the grid (its last batch "
                "dimension); got batch_shape ()"
            )
        self._component_distribution = component_distribution
        self.data = None if data is None else jnp.asarray(data)
        super().__init__(
            batch_shape=component_distribution.batch_shape[:-1],
            event_shape=component_distribution.event_shape,
            validate_args=validate_args,
        )

    @classmethod
    def infer_shapes(cls, component_distribution=None, data=None, **kwargs):
        """Batch and event shapes from the components (a distribution, or its ``shape()``).

        ``component_distribution`` may be the component distribution itself (exact) or the
        tuple ``batch_shape + event_shape`` of univariate components, as NumPyro's generic
        tests pass it; the last batch dimension is the grid and is profiled out.
        """
        if isinstance(component_distribution, dist.Distribution):
            return component_distribution.batch_shape[:-1], component_distribution.event_shape
        shape = tuple(component_distribution or ())
        if not shape:
            raise ValueError("component_distribution needs a batch dimension over the grid")
        return shape[:-1], ()

    def validate_args(self, strict: bool = True) -> None:
        """Validate the components' arguments and that ``data`` lies in their support."""
        super().validate_args(strict=strict)
        self._component_distribution.validate_args(strict=False)
        if self.data is None:
            return
        if not isinstance(self.data, jax.core.Tracer):
            # NaN is outside every support; name it rather than blame the support.
            check_no_nan(self.data, "data")
        with jax.ensure_compile_time_eval():
            valid = self.support(self.data)
            if not_jax_tracer(valid) and not np.all(valid):
                raise ValueError(
                    "ProfiledMixture distribution got invalid data: some observations lie "
                    f"outside the components' support {self.support}"
                )

    @property
    def component_distribution(self) -> dist.Distribution:
        """The component distribution (last batch dimension: the grid)."""
        return self._component_distribution

    @property
    def mixture_size(self) -> int:
        """Number of grid points ``m``."""
        return self._component_distribution.batch_shape[-1]

    @property
    def support(self):  # noqa: D102 - the components' support
        return self._component_distribution.support

    @property
    def is_discrete(self) -> bool:  # noqa: D102
        return self._component_distribution.is_discrete

    def component_log_probs(self, value: Any) -> jax.Array:
        """Log densities of each observation under each component: shape ``(..., m)``."""
        value = jnp.expand_dims(jnp.asarray(value), -1 - self.event_dim)
        return self._component_distribution.log_prob(value)

    def profile(self, value: Any) -> tuple[jax.Array, jax.Array]:
        """Profile the weights on a data set.

        Parameters
        ----------
        value : array
            Observations; every leading dimension indexes observations.

        Returns
        -------
        log_prob : array
            Per-observation log-likelihoods at the profiled weights (shape of ``value`` without
            the event dimensions).
        mixing_weights : array of shape (m,)
            The profiled weights.
        """
        if not isinstance(value, jax.core.Tracer):
            # NaN data would otherwise surface as "row i is -inf at every grid point".
            check_no_nan(value, "value")
        log_probs = self.component_log_probs(value)
        shape = log_probs.shape[:-1]
        flat = jnp.reshape(log_probs, (-1, self.mixture_size))
        if flat.shape[0] == 0:
            raise ValueError("value holds no observation: the weights cannot be profiled")
        row_weights = group_weights(None, None, flat.shape[0])
        if not x64_enabled():
            # NumPyro's default (float32): weights solved in float64 on the host.
            check_rows(flat, row_weights)
            pointwise, mixing = profile_pointwise_float32(flat)
            return jnp.reshape(pointwise, shape), mixing
        pointwise, _, mixing = profile_pointwise(flat, row_weights)
        return jnp.reshape(pointwise, shape), mixing[0]

    def _profiled_data(self) -> tuple[jax.Array, jax.Array]:
        if self.data is None:
            raise ValueError(
                "the mixing weights are profiled on data: build ProfiledMixture(component, "
                "data=y) to read mixing_weights or to sample"
            )
        cached = self.__dict__.get("_data_profile")
        if cached is None:
            cached = self.profile(self.data)
            self.__dict__["_data_profile"] = cached
        return cached

    @property
    def mixing_weights(self) -> jax.Array:
        """The weights profiled on :attr:`data`, shape ``(m,)`` (record with ``deterministic``)."""
        return self._profiled_data()[1]

    @validate_sample
    def log_prob(self, value: Any) -> jax.Array:
        """Per-observation log-likelihoods at the weights profiled on ``value`` itself.

        Parameters
        ----------
        value : array
            All observations (leading dimensions index observations).

        Returns
        -------
        array
            The per-observation log-likelihoods; their sum is the profile log-likelihood.
        """
        if self.data is not None and value is self.data:
            return self._profiled_data()[0]
        return self.profile(value)[0]

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        """Draw from the fitted mixture (weights profiled on :attr:`data`).

        Parameters
        ----------
        key : jax.random key
            Random key.
        sample_shape : tuple of int
            Leading shape of the draws.

        Returns
        -------
        array of shape ``sample_shape + batch_shape + event_shape``
        """
        weights = jax.lax.stop_gradient(self.mixing_weights)
        key_component, key_index = jax.random.split(key)
        shape = tuple(sample_shape) + self.batch_shape
        index = jax.random.categorical(key_index, jnp.log(weights), shape=shape)
        draws = self._component_distribution.sample(key_component, tuple(sample_shape))
        # draws: sample_shape + batch_shape + (m,) + event_shape; pick one grid point each.
        index = jnp.reshape(index, shape + (1,) + (1,) * self.event_dim)
        picked = jnp.take_along_axis(draws, index, axis=-1 - self.event_dim)
        return jnp.squeeze(picked, axis=-1 - self.event_dim)

    @property
    def mean(self) -> jax.Array:  # noqa: D102 - mean under the profiled weights
        weights = self.mixing_weights
        weights = jnp.reshape(weights, weights.shape + (1,) * self.event_dim)
        return jnp.sum(weights * self._component_distribution.mean, axis=-1 - self.event_dim)


@vmap_over.register
def _vmap_over_profiled_mixture(dist: ProfiledMixture, component_distribution=None, data=None):
    return vmap_axes(dist, _component_distribution=component_distribution, data=data)
