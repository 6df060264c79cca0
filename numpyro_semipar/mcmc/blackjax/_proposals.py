"""Gaussian random-walk proposals on pytree positions, parametrised by a Cholesky factor.

BlackJAX's ``normal(sigma)`` applies a 2-D ``sigma`` as ``sigma @ z``: it is a Cholesky factor,
not a covariance. To keep that pitfall away from users, the public constructors here take a
*covariance* (``covariance=``) and factor it once, outside the kernel; the kernels themselves
receive the lower-triangular factor under the explicit name ``proposal_cholesky``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

__all__ = [
    "flatten_position",
    "gaussian_increments",
    "gaussian_step",
    "proposal_cholesky",
]


def flatten_position(position: Any) -> tuple[jax.Array, Any]:
    """Flatten a pytree position into a vector; return the vector and the inverse map."""
    return ravel_pytree(position)


def gaussian_step(rng_key: jax.Array, position: Any, proposal_cholesky: jax.Array) -> Any:
    """Draw ``position + L z`` with ``z ~ N(0, I)``.

    Parameters
    ----------
    rng_key : jax.Array
        PRNG key.
    position : pytree
        Centre of the proposal.
    proposal_cholesky : array of shape (d,) or (d, d)
        Lower-triangular factor ``L`` of the proposal covariance ``L Lᵀ`` in flattened-position
        order, or a vector of standard deviations (diagonal covariance).

    Returns
    -------
    pytree
        The proposed position, with the structure of ``position``.
    """
    flat, unravel = ravel_pytree(position)
    noise = jax.random.normal(rng_key, flat.shape, flat.dtype)
    step = gaussian_increments(noise, proposal_cholesky)
    return unravel(flat + step.astype(flat.dtype))


def gaussian_increments(noise: jax.Array, proposal_cholesky: jax.Array) -> jax.Array:
    """Map standard normal draws to increments with covariance ``L Lᵀ``.

    Parameters
    ----------
    noise : array of shape (d,) or (n, d)
        Standard normal draws: one increment, or ``n`` of them as rows.
    proposal_cholesky : array of shape (d, d) or (d,)
        Lower-triangular factor ``L``, or a vector of standard deviations.

    Returns
    -------
    array of the shape of ``noise``
        ``L z`` for each draw ``z`` (no dtype conversion: cast the factor first if needed).
    """
    if jnp.ndim(proposal_cholesky) != 2:
        return proposal_cholesky * noise
    return proposal_cholesky @ noise if noise.ndim == 1 else noise @ proposal_cholesky.T


def proposal_cholesky(
    dimension: int,
    covariance: Any = None,
    *,
    cholesky: Any = None,
    scale: float = 1.0,
) -> jax.Array:
    """Build the lower-triangular factor of a Gaussian proposal covariance.

    Exactly one of ``covariance`` and ``cholesky`` may be given; with neither, the proposal is
    the identity.

    Parameters
    ----------
    dimension : int
        Number of scalar coordinates of the (flattened) position.
    covariance : scalar, array of shape (d,) or (d, d), optional
        Proposal covariance: a common variance, a vector of variances, or a full symmetric
        positive-definite matrix.
    cholesky : array of shape (d, d), optional
        Lower-triangular factor ``L`` with covariance ``L Lᵀ`` (what BlackJAX calls ``sigma``).
    scale : float
        Multiplies the factor (the covariance is multiplied by ``scale**2``).

    Returns
    -------
    jax.Array of shape (d, d)
        The scaled lower-triangular factor.

    Raises
    ------
    ValueError
        If both or a misshapen ``covariance``/``cholesky`` are given, or the covariance is not
        positive definite.
    """
    if covariance is not None and cholesky is not None:
        raise ValueError("give at most one of `covariance` and `cholesky`")
    if cholesky is not None:
        factor = jnp.asarray(cholesky)
        if factor.shape != (dimension, dimension):
            raise ValueError(
                f"`cholesky` must have shape ({dimension}, {dimension}), got {factor.shape}"
            )
        return scale * jnp.tril(factor)
    if covariance is None:
        return scale * jnp.eye(dimension)
    cov = jnp.asarray(covariance)
    if cov.ndim == 0:
        cov = jnp.full((dimension,), cov)
    if cov.ndim == 1:
        if cov.shape != (dimension,):
            raise ValueError(
                f"`covariance` as a vector of variances must have shape ({dimension},), "
                f"got {cov.shape}"
            )
        if _is_concrete(cov) and not bool(np.all(np.asarray(cov) > 0)):
            raise ValueError("`covariance` variances must be positive and finite")
        return scale * jnp.diag(jnp.sqrt(cov))
    if cov.shape != (dimension, dimension):
        raise ValueError(
            f"`covariance` must have shape ({dimension}, {dimension}), got {cov.shape}"
        )
    factor = jnp.linalg.cholesky((cov + cov.T) / 2)
    if _is_concrete(factor) and not bool(np.all(np.isfinite(np.asarray(factor)))):
        raise ValueError("`covariance` is not symmetric positive definite")
    return scale * factor


def _is_concrete(x: Any) -> bool:
    return not isinstance(x, jax.core.Tracer)
