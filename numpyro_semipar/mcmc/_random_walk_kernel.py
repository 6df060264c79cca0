"""``RandomWalkMH``: adaptive Gaussian random-walk Metropolis–Hastings as a NumPyro kernel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from jax.flatten_util import ravel_pytree
from numpyro.infer import init_to_uniform

from ._covariance_adapter import CovarianceAdaptiveAdapter
from .blackjax import _random_walk

__all__ = ["RandomWalkMH"]


class RandomWalkMH(CovarianceAdaptiveAdapter):
    """Adaptive random-walk Metropolis–Hastings for NumPyro models (gradient-free).

    Proposal ``y = x + λ L z`` with ``L Lᵀ`` the proposal covariance; one target evaluation per
    iteration. During warm-up the covariance adapts to the chain's running covariance (Haario et
    al. 2001) and ``λ`` follows a Robbins–Monro recursion toward 23.4% acceptance (Roberts,
    Gelman & Gilks 1997), starting from ``2.38/√d``. After warm-up the proposal is fixed. Runs
    with ``numpyro.infer.MCMC`` (sequential, parallel and vectorized chains).

    Parameters
    ----------
    model : callable, optional
        NumPyro model (or give ``potential_fn``).
    potential_fn : callable, optional
        Potential energy (negative log density) on the position passed as ``init_params``.
    covariance : scalar, array of shape (d,) or (d, d), optional
        Initial proposal covariance in flattened unconstrained order (identity when omitted).
    scale : float, optional
        Initial global scale ``λ`` (default ``2.38/√d``).
    target_acceptance : float
        Robbins–Monro target acceptance probability (0.234).
    adapt_covariance, adapt_scale : bool
        Adapt the covariance / the global scale during warm-up.
    init_at_mode : bool
        Dynare-style start: BFGS mode and inverse negative Hessian as the initial covariance.
    mode_init_scale : float
        Dispersion of the chains' starting points around the mode.
    prior_weight : float, optional
        Weight of the initial covariance in pseudo-draws (default ``2 d``).
    restart_fraction : float
        Running moments restart from the current estimate after this fraction of warm-up.
    learning_rate_exponent : float
        Exponent ``κ`` of the Robbins–Monro step size ``(t + 1)^{-κ}``.
    init_strategy : callable
        NumPyro init strategy.
    evaluation_callback : callable, optional
        ``f(points, logdensities)`` called with every proposal and its log density (one per
        iteration, leading axis of length 1), e.g. to feed a candidate archive.

    Notes
    -----
    Extra fields: ``info.proposal`` (unconstrained) and ``info.proposal_logdensity`` hold every
    evaluation; ``info.is_accepted``; ``adaptation_state`` (``mcmc.last_state.adaptation_state``
    gives the adapted covariance via
    :func:`numpyro_semipar.mcmc.blackjax.adapted_covariance`).

    Examples
    --------
    >>> import jax, numpyro, numpyro.distributions as dist
    >>> from numpyro.infer import MCMC
    >>> from numpyro_semipar.mcmc import RandomWalkMH
    >>> def model():
    ...     numpyro.sample("x", dist.Normal(0.0, 1.0))
    >>> mcmc = MCMC(RandomWalkMH(model), num_warmup=500, num_samples=1000, progress_bar=False)
    >>> mcmc.run(jax.random.key(0))
    """

    jit_chain_init = True

    def __init__(
        self,
        model: Callable | None = None,
        potential_fn: Callable | None = None,
        *,
        covariance: Any = None,
        scale: float | None = None,
        target_acceptance: float = 0.234,
        adapt_covariance: bool = True,
        adapt_scale: bool = True,
        init_at_mode: bool = False,
        mode_init_scale: float = 1.0,
        prior_weight: float | None = None,
        restart_fraction: float = 0.25,
        learning_rate_exponent: float = 0.6,
        init_strategy: Callable = init_to_uniform,
        evaluation_callback: Callable | None = None,
    ):
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
        self._algorithm_init = _random_walk.init
        self._kernel = _random_walk.build_kernel()

    def adaptation_points(self, algorithm_state, info):
        """Return the chain's new position, with weight one."""
        return ravel_pytree(algorithm_state.position)[0][None], None

    def evaluated_points(self, info):
        """Return the proposal and its log density (a batch of one)."""
        points = jax.tree.map(lambda leaf: leaf[None], info.proposal)
        return points, info.proposal_logdensity[None]
