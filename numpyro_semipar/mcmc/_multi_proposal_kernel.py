"""``MultiProposalMH``: Calderhead's multi-proposal MH as an adaptive NumPyro kernel."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
from numpyro.infer import init_to_uniform

from ._covariance_adapter import CovarianceAdaptiveAdapter
from .blackjax import _multi_proposal

__all__ = ["MultiProposalMH", "multi_proposal_target_acceptance"]


def multi_proposal_target_acceptance(num_proposals: int) -> float:
    """Default Robbins–Monro target of ``1 − p_0`` for ``N`` proposals.

    ``0.12 + 0.085 log₂ N``, clipped to ``[0.234, 0.7]``: 0.29 for N = 4, 0.46 for N = 16 and
    0.63 for N = 64. Calibrated on a 10-dimensional standard Gaussian with the exact covariance,
    where the effective sample size per iteration peaks at a scale close to ``2.38/√d`` for every
    N while the acceptance statistic at that scale grows with N (about 0.26, 0.52 and 0.5–0.75
    for N = 4, 16, 64). The peak is flat: ±0.1 around the target costs little.
    """
    return min(0.7, max(0.234, 0.12 + 0.085 * math.log2(max(int(num_proposals), 1))))


class MultiProposalMH(CovarianceAdaptiveAdapter):
    """Multi-proposal Metropolis–Hastings (Calderhead 2014) for NumPyro models.

    Each iteration draws an auxiliary point ``z ~ N(x_I, λ² Σ)`` and ``N`` proposals from
    ``N(z, λ² Σ)``, evaluates the target on the ``N`` proposals as one ``jax.vmap`` batch, and
    draws ``N`` indices from the stationary weights ``p_j ∝ π(x_j)`` over the ``N + 1`` points.

    **Mapping to NumPyro draws.** One NumPyro sample per iteration: the point of the *last*
    index draw, which seeds the next iteration, so ``mcmc.get_samples()`` is a valid Markov chain
    with the posterior as its stationary law, and ``num_samples`` counts iterations (each costs
    ``N`` evaluations, recorded in the ``num_evaluations`` field). All ``N`` draws of an iteration,
    the ``N + 1`` points and their weights are available by collecting
    ``extra_fields=("info.points", "info.weights", "info.indices")``; then
    :func:`numpyro_semipar.mcmc.multi_proposal_samples` returns all ``N`` draws per iteration
    mapped to the constrained space, and :func:`numpyro_semipar.mcmc.rao_blackwell_estimate`
    returns the waste-recycling posterior mean.

    Adaptation during warm-up: the covariance is the weighted running covariance of all ``N + 1``
    points (weights ``p``), and ``λ`` moves toward ``target_acceptance`` for the statistic
    ``1 − p_0`` (the probability that an index draw leaves the current point), by default
    :func:`multi_proposal_target_acceptance` ``(N)``.

    Parameters
    ----------
    model : callable, optional
        NumPyro model (or give ``potential_fn``).
    potential_fn : callable, optional
        Potential energy on the position passed as ``init_params``.
    num_proposals : int
        ``N``, proposals (and target evaluations) per iteration.
    covariance, scale, adapt_covariance, adapt_scale, init_at_mode, mode_init_scale,
    prior_weight, restart_fraction, learning_rate_exponent, init_strategy
        As in :class:`RandomWalkMH`; the default ``scale`` is ``2.38/√d``.
    target_acceptance : float, optional
        Robbins–Monro target of ``1 − p_0``.
    evaluation_callback : callable, optional
        ``f(points, logdensities)`` called with the ``N`` proposals (leading axis ``N``) and their
        log densities at every iteration.
    batch_evaluation : {"vmap", "threads"} or callable
        How the ``N`` proposals are evaluated, always as one call per iteration (the current
        point's log density is carried in the state, never recomputed): ``"vmap"`` (default)
        vectorises the potential with ``jax.vmap``; ``"threads"`` splits the batch over a
        thread pool with one thread per CPU
        (:func:`~numpyro_semipar.mcmc.blackjax.threaded_evaluator`), so that the cores of a CPU
        share one chain's batch; or an evaluator ``f(logdensity_fn, positions)`` such as
        ``threaded_evaluator(num_threads=2)``. ``"threads"`` costs a host callback and thread
        hand-offs per iteration (1–2 ms of CPU measured on a 2-core machine), so it pays off
        only for log densities of several milliseconds on idle cores (see
        ``docs/mcmc_kernels.md``); it is not differentiable and, with
        ``chain_method="vectorized"``, evaluates the chains' batches one after the other.

    Notes
    -----
    Pozza & Zanella (2024) show that no multi-proposal scheme improves convergence by more than
    a factor ``N`` (``O(log N)`` on log-concave targets). The point of this kernel is that the
    ``N`` evaluations run in parallel: judge it by effective samples per second, not per draw.
    """

    jit_chain_init = True

    def __init__(
        self,
        model: Callable | None = None,
        potential_fn: Callable | None = None,
        num_proposals: int = 16,
        *,
        covariance: Any = None,
        scale: float | None = None,
        target_acceptance: float | None = None,
        adapt_covariance: bool = True,
        adapt_scale: bool = True,
        init_at_mode: bool = False,
        mode_init_scale: float = 1.0,
        prior_weight: float | None = None,
        restart_fraction: float = 0.25,
        learning_rate_exponent: float = 0.6,
        init_strategy: Callable = init_to_uniform,
        evaluation_callback: Callable | None = None,
        batch_evaluation: Any = "vmap",
    ):
        if isinstance(num_proposals, bool) or int(num_proposals) != num_proposals:
            raise TypeError(f"`num_proposals` must be an integer, got {num_proposals!r}")
        if num_proposals < 1:
            raise ValueError(f"`num_proposals` must be at least 1, got {num_proposals}")
        self.num_proposals = int(num_proposals)
        if target_acceptance is None:
            target_acceptance = multi_proposal_target_acceptance(self.num_proposals)
        super().__init__(
            model,
            potential_fn,
            covariance=covariance,
            scale=scale,
            target_acceptance=target_acceptance,
            adapt_covariance=adapt_covariance,
            adapt_scale=adapt_scale,
            init_at_mode=init_at_mode,
            mode_init_scale=mode_init_scale,
            prior_weight=prior_weight,
            restart_fraction=restart_fraction,
            learning_rate_exponent=learning_rate_exponent,
            init_strategy=init_strategy,
            evaluation_callback=evaluation_callback,
        )
        self._algorithm_init = _multi_proposal.init
        self.batch_evaluation = batch_evaluation
        self._kernel = _multi_proposal.build_kernel(self.num_proposals, batch_evaluation)

    def adaptation_points(self, algorithm_state, info):
        """Return all ``N + 1`` points with their stationary weights."""
        return _multi_proposal.flat_points(info), info.weights

    def evaluated_points(self, info):
        """Return the ``N`` proposals (points 1…N) and their log densities."""
        return jax.tree.map(lambda leaf: leaf[1:], info.points), info.logdensities[1:]
