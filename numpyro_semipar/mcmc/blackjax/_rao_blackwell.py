"""Waste recycling for multi-proposal MH: Rao-Blackwellised means and all output draws.

Each multi-proposal iteration evaluates ``N + 1`` points with stationary weights ``p``. The plain
estimator averages ``f`` over the ``N`` index draws; the Rao-Blackwellised one averages the
conditional expectation ``Σ_j p_j f(x_j)`` over iterations. It uses every evaluation at no extra
cost and, for this Barker-type selection, is never worse than the plain estimator (Delmas &
Jourdain 2009).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["multi_proposal_draws", "rao_blackwell_mean"]


def rao_blackwell_mean(
    points: Any, weights: jax.Array, fn: Callable[[Any], Any] | None = None
) -> Any:
    """Waste-recycling estimate ``(1/T) Σ_t Σ_j p_tj f(x_tj)`` of a posterior mean.

    Parameters
    ----------
    points : pytree
        Points with leading axes ``(..., N + 1)`` (for instance ``(T, N + 1)`` from a run, or
        ``(chains, T, N + 1)``), as in :class:`MultiProposalInfo` ``.points``.
    weights : array of shape (..., N + 1)
        Stationary weights of the points (``MultiProposalInfo.weights``), same leading axes.
    fn : callable, optional
        ``f`` applied to a single point (a pytree); the identity when omitted.

    Returns
    -------
    pytree
        The estimate of ``E[f(x)]``, with the structure of ``f(point)``.
    """
    weights = jnp.asarray(weights)
    batch_ndim = weights.ndim
    if fn is not None:
        apply = fn
        for _ in range(batch_ndim):
            apply = jax.vmap(apply)
        points = apply(points)
    total = weights.reshape(-1).shape[0] / weights.shape[-1]

    def average(leaf):
        leaf = jnp.asarray(leaf)
        weighted = leaf * weights.reshape(weights.shape + (1,) * (leaf.ndim - batch_ndim))
        return jnp.sum(weighted, axis=tuple(range(batch_ndim))) / total

    return jax.tree.map(average, points)


def multi_proposal_draws(points: Any, indices: jax.Array) -> Any:
    """Gather the ``N`` output draws of each iteration, ``points[indices]``.

    Parameters
    ----------
    points : pytree
        Leaves with leading axes ``(..., N + 1)``.
    indices : int array of shape (..., N)
        Index draws (``MultiProposalInfo.indices``), same leading axes.

    Returns
    -------
    pytree
        Leaves with leading axes ``(..., N)``.
    """
    indices = jnp.asarray(indices)
    batch_ndim = indices.ndim - 1

    def gather(leaf):
        leaf = jnp.asarray(leaf)
        take = lambda leaf_, idx: leaf_[idx]  # noqa: E731
        for _ in range(batch_ndim):
            take = jax.vmap(take)
        return take(leaf, indices)

    return jax.tree.map(gather, points)
