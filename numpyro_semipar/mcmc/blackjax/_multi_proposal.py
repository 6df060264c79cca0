"""Multi-proposal Metropolis–Hastings (Calderhead 2014, PNAS 111(49)), BlackJAX style.

One iteration, from the current point ``x_I``:

1. draw an auxiliary point ``z ~ N(x_I, Σ)``;
2. draw ``N`` proposals ``x_1, …, x_N`` i.i.d. from ``N(z, Σ)`` and evaluate the target on all of
   them as *one batch* (the only target evaluations of the iteration): one ``jax.vmap`` call, or
   chunks on a thread pool (``batch_evaluation="threads"``, :func:`threaded_evaluator`);
3. with a symmetric kernel the joint density of the ``N + 1`` points given that ``x_j`` generated
   ``z`` is ``π(x_j) Π_k κ(z, x_k)``, so the stationary distribution of the index over the points
   is ``p_j ∝ π(x_j)``; draw ``N`` indices i.i.d. from ``p`` (each drawn point is one output draw);
   the last drawn index becomes the next ``x_I``.

The info holds all ``N + 1`` points (index 0 is the current point), their log densities, the
weights ``p`` and the drawn indices: the weights give the Rao-Blackwellised ("waste-recycling")
estimator ``Σ_j p_j f(x_j)`` of each iteration (:func:`rao_blackwell_mean`), and the points with
their log densities are every target evaluation, for a candidate archive.

Pozza & Zanella (2024) bound what this can buy: no more than a factor ``N`` in convergence over
single-proposal MH, and only ``O(log N)`` on log-concave targets. The gain is wall-clock
parallelism of the ``N`` evaluations, so compare kernels on effective samples per second and per
target evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from blackjax import GenerateSamplingAPI
from blackjax.base import SamplingAlgorithm

from ._batch_evaluation import _check_evaluator
from ._proposals import flatten_position, gaussian_increments
from ._random_walk import _factor_for, _safe_logdensity, invalid_logdensity

__all__ = [
    "MultiProposalInfo",
    "MultiProposalState",
    "as_top_level_api",
    "build_kernel",
    "init",
]


class MultiProposalState(NamedTuple):
    """State of the multi-proposal chain: the currently selected point.

    Attributes
    ----------
    position : pytree
        The selected point ``x_I`` (the last index drawn in the previous iteration).
    logdensity : float
        Log density at ``position``.
    """

    position: Any
    logdensity: jax.Array


class MultiProposalInfo(NamedTuple):
    """Information about one multi-proposal iteration.

    Attributes
    ----------
    acceptance_rate : float
        ``1 − p_0``: the probability that one index draw leaves the current point.
    is_accepted : bool
        Whether the selected point changed (last index ≠ 0).
    points : pytree
        The ``N + 1`` points with a leading axis of size ``N + 1``; index 0 is the current
        point, 1…N are the proposals.
    logdensities : array of shape (N + 1,)
        Log densities of ``points``.
    weights : array of shape (N + 1,)
        Stationary index probabilities ``p_j ∝ π(x_j)``.
    indices : int array of shape (N,)
        The ``N`` index draws; ``points[indices]`` are this iteration's ``N`` output draws.
    num_evaluations : int
        Number of target evaluations in this iteration (``N``).
    num_invalid : int
        Proposals whose log density was NaN or ``+inf`` (treated as zero density).
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    points: Any
    logdensities: jax.Array
    weights: jax.Array
    indices: jax.Array
    num_evaluations: jax.Array
    num_invalid: jax.Array


def init(position: Any, logdensity_fn: Callable[[Any], jax.Array]) -> MultiProposalState:
    """Create the initial state (one target evaluation).

    Parameters
    ----------
    position : pytree
        Starting position.
    logdensity_fn : callable
        ``position -> scalar`` log density.

    Returns
    -------
    MultiProposalState
    """
    return MultiProposalState(position, _safe_logdensity(logdensity_fn(position)))


def build_kernel(num_proposals: int = 16, batch_evaluation: Any = "vmap") -> Callable:
    """Build the multi-proposal transition kernel.

    Parameters
    ----------
    num_proposals : int
        ``N``, the number of proposals (and of output draws) per iteration.
    batch_evaluation : {"vmap", "threads"} or callable
        How the ``N`` proposals are evaluated: ``"vmap"`` (one ``jax.vmap`` call), ``"threads"``
        (:func:`~numpyro_semipar.mcmc.blackjax.threaded_evaluator` with one thread per CPU), or
        an evaluator ``f(logdensity_fn, positions) -> logdensities``. Either way the batch is
        one call per iteration and the current point is never re-evaluated.

    Returns
    -------
    callable
        ``kernel(rng_key, state, logdensity_fn, proposal_cholesky) -> (state, info)``;
        ``proposal_cholesky`` is the lower-triangular factor of the Gaussian kernel ``κ``'s
        covariance (used for both the auxiliary point and the proposals).
    """
    num_proposals = int(num_proposals)
    if num_proposals < 1:
        raise ValueError(f"`num_proposals` must be a positive integer, got {num_proposals}")
    evaluate = _check_evaluator(batch_evaluation)

    def kernel(
        rng_key: jax.Array,
        state: MultiProposalState,
        logdensity_fn: Callable[[Any], jax.Array],
        proposal_cholesky: jax.Array,
    ) -> tuple[MultiProposalState, MultiProposalInfo]:
        key_auxiliary, key_proposals, key_indices = jax.random.split(rng_key, 3)
        flat, unravel = flatten_position(state.position)
        factor = jnp.asarray(proposal_cholesky, flat.dtype)
        noise = jax.random.normal(key_auxiliary, flat.shape, flat.dtype)
        auxiliary = flat + gaussian_increments(noise, factor)
        # All N proposals from one (N, d) normal draw and one matrix product.
        noise = jax.random.normal(key_proposals, (num_proposals,) + flat.shape, flat.dtype)
        proposals = jax.vmap(unravel)(auxiliary + gaussian_increments(noise, factor))
        raw_logdensities = jnp.asarray(evaluate(logdensity_fn, proposals))
        proposal_logdensities = _safe_logdensity(raw_logdensities)

        points = jax.tree.map(
            lambda current, new: jnp.concatenate([current[None], new], axis=0),
            state.position,
            proposals,
        )
        logdensities = jnp.concatenate(
            [
                jnp.reshape(state.logdensity, (1,)),
                proposal_logdensities.astype(state.logdensity.dtype),
            ]
        )
        weights = jax.nn.softmax(logdensities)
        # N i.i.d. index draws by inversion of the cumulative weights: N uniforms and a sorted
        # search, instead of N × (N + 1) Gumbel variates.
        cumulative = jnp.cumsum(weights)
        uniforms = jax.random.uniform(key_indices, (num_proposals,), cumulative.dtype)
        indices = jnp.searchsorted(cumulative, uniforms * cumulative[-1], side="right")
        indices = jnp.minimum(indices, num_proposals).astype(jnp.int32)
        last = indices[-1]
        new_state = MultiProposalState(
            position=jax.tree.map(lambda leaf: leaf[last], points),
            logdensity=logdensities[last],
        )
        info = MultiProposalInfo(
            acceptance_rate=1.0 - weights[0],
            is_accepted=last != 0,
            points=points,
            logdensities=logdensities,
            weights=weights,
            indices=indices,
            num_evaluations=jnp.asarray(num_proposals, dtype=jnp.int32),
            num_invalid=jnp.sum(invalid_logdensity(raw_logdensities)).astype(jnp.int32),
        )
        return new_state, info

    return kernel


def as_top_level_api(
    logdensity_fn: Callable[[Any], jax.Array],
    covariance: Any = None,
    *,
    num_proposals: int = 16,
    cholesky: Any = None,
    scale: float = 1.0,
    dimension: int | None = None,
    batch_evaluation: Any = "vmap",
) -> SamplingAlgorithm:
    """Multi-proposal MH with Gaussian kernel ``κ(x, ·) = N(x, scale² Σ)``.

    Parameters
    ----------
    logdensity_fn : callable
        ``position -> scalar`` log density; evaluated with ``jax.vmap`` on ``N`` points at once.
    covariance : scalar, array of shape (d,) or (d, d), optional
        Kernel covariance ``Σ`` (identity when omitted); a covariance, not a Cholesky factor.
    num_proposals : int
        ``N``.
    cholesky : array of shape (d, d), optional
        Lower-triangular factor instead of ``covariance``.
    scale : float
        Global scale (multiplies the factor).
    dimension : int, optional
        Number of scalar coordinates; needed when neither ``covariance`` (as a vector or
        matrix) nor ``cholesky`` is given.
    batch_evaluation : {"vmap", "threads"} or callable
        How the ``N`` proposals are evaluated (see :func:`build_kernel`).

    Returns
    -------
    blackjax.base.SamplingAlgorithm
    """
    factor = _factor_for(covariance, cholesky, scale, dimension)
    kernel = build_kernel(num_proposals, batch_evaluation)

    def init_fn(position: Any, rng_key: jax.Array | None = None) -> MultiProposalState:
        del rng_key
        return init(position, logdensity_fn)

    def step_fn(rng_key: jax.Array, state: MultiProposalState):
        return kernel(rng_key, state, logdensity_fn, factor)

    return SamplingAlgorithm(init_fn, step_fn)


def flat_points(info: MultiProposalInfo) -> jax.Array:
    """Return the ``N + 1`` points of an info as an ``(N + 1, d)`` array (for adaptation)."""
    return jax.vmap(lambda point: flatten_position(point)[0])(info.points)


# The public BlackJAX-style algorithm: call it for a SamplingAlgorithm, or use its init and
# build_kernel attributes (exported as numpyro_semipar.mcmc.blackjax.multi_proposal).
multi_proposal = GenerateSamplingAPI(as_top_level_api, init, build_kernel)
