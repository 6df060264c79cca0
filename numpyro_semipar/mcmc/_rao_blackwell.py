"""Waste recycling from a NumPyro ``MCMC`` run with :class:`MultiProposalMH`."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .blackjax._rao_blackwell import multi_proposal_draws, rao_blackwell_mean

__all__ = ["multi_proposal_samples", "rao_blackwell_estimate"]

_FIELDS = ("info.points", "info.weights", "info.indices")


def _fields(mcmc, group_by_chain: bool) -> tuple[Any, jax.Array, jax.Array]:
    extra = mcmc.get_extra_fields(group_by_chain=group_by_chain)
    missing = [name for name in _FIELDS if name not in extra]
    if missing:
        raise ValueError(
            f"the run did not collect {missing}: call mcmc.run(..., extra_fields={_FIELDS!r})"
        )
    return extra["info.points"], extra["info.weights"], extra["info.indices"]


def _constrain(mcmc, points: Any, batch_ndim: int) -> Any:
    postprocess = mcmc.sampler.postprocess_fn(mcmc._args, mcmc._kwargs)
    for _ in range(batch_ndim):
        postprocess = jax.vmap(postprocess)
    return postprocess(points)


def multi_proposal_samples(mcmc, group_by_chain: bool = False) -> dict[str, jax.Array]:
    """All ``N`` draws of every iteration of a :class:`MultiProposalMH` run, constrained.

    Parameters
    ----------
    mcmc : numpyro.infer.MCMC
        A run with ``extra_fields=("info.points", "info.weights", "info.indices")``.
    group_by_chain : bool
        Keep a leading chain axis.

    Returns
    -------
    dict
        Site name → array of shape ``(iterations * N, ...)`` (``(chains, iterations * N, ...)``
        when grouped by chain), in iteration order.
    """
    points, _, indices = _fields(mcmc, group_by_chain)
    batch_ndim = indices.ndim - 1
    draws = multi_proposal_draws(points, indices)
    constrained = _constrain(mcmc, draws, batch_ndim + 1)

    def merge(leaf):
        shape = leaf.shape
        lead = shape[: batch_ndim - 1] + (shape[batch_ndim - 1] * shape[batch_ndim],)
        return jnp.reshape(leaf, lead + shape[batch_ndim + 1 :])

    return jax.tree.map(merge, constrained)


def rao_blackwell_estimate(mcmc, fn=None) -> Any:
    """Rao-Blackwellised (waste-recycling) posterior mean from a :class:`MultiProposalMH` run.

    ``(1/T) Σ_t Σ_j p_tj f(x_tj)`` over all iterations and chains, with the ``N + 1`` points of
    each iteration mapped to the constrained space.

    Parameters
    ----------
    mcmc : numpyro.infer.MCMC
        A run with ``extra_fields=("info.points", "info.weights", "info.indices")``.
    fn : callable, optional
        ``f`` applied to the dict of constrained sites of one point; the identity when omitted
        (posterior means of every site).

    Returns
    -------
    pytree
        Estimate of ``E[f(θ)]``.
    """
    points, weights, _ = _fields(mcmc, False)
    constrained = _constrain(mcmc, points, weights.ndim)
    return rao_blackwell_mean(constrained, weights, fn)
