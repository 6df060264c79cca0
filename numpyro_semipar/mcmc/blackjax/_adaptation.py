"""Adaptive proposal covariance for random-walk type kernels, as pure functions.

Two mechanisms, both on a :class:`CovarianceAdaptationState` NamedTuple, both jit/vmap-safe:

* **Running covariance (Haario, Saksman & Tamminen 2001).** The proposal covariance is the
  running covariance of the chain, shrunk toward a prior covariance ``Σ₀`` worth
  ``prior_weight`` pseudo-draws: ``Σ_t = (n₀ Σ₀ + S_t) / (n₀ + t)`` with ``S_t`` the running
  scatter matrix (Welford/Chan updates, numerically stable). Weighted batches of points are
  accepted, so multi-proposal kernels feed all ``N + 1`` points with their stationary weights.
* **Robbins–Monro global scale (Andrieu & Thoms 2008, algorithm 4).** The proposal is
  ``N(x, λ² Σ_t)`` with ``log λ_{t+1} = log λ_t + γ_t (α_t − α*)`` and ``γ_t = (t + 1)^{-κ}``,
  ``κ = 0.6`` by default (any ``κ ∈ (1/2, 1]`` satisfies the Robbins–Monro conditions).
  ``λ`` starts at ``2.38/√d`` (Roberts, Gelman & Gilks 1997), and ``α*`` is 0.234 for RWMH.

:func:`covariance_adaptation_restart` makes the current covariance the new prior and forgets
the running moments: called at a few points of warm-up it drops the transient from a poor
start (a "staged" scheme); :func:`covariance_adaptation_checkpoint` remembers the estimate so
that :func:`covariance_change` can tell whether it has stabilised. :func:`mode_start` gives the
Dynare-style start: the posterior mode and the inverse negative Hessian there as ``Σ₀``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..._warnings import ConvergenceWarning, SamplerWarning

__all__ = [
    "CovarianceAdaptationState",
    "adapted_covariance",
    "adapted_proposal_cholesky",
    "build_adaptive_step",
    "check_covariance",
    "covariance_change",
    "covariance_adaptation_checkpoint",
    "covariance_adaptation_init",
    "covariance_adaptation_restart",
    "covariance_adaptation_update",
    "mode_start",
    "optimal_scale",
]

# Bounds on log λ: a chain stuck where every proposal is rejected would otherwise shrink the
# step without limit (and a flat target would grow it without limit).
_LOG_SCALE_MIN = -30.0
_LOG_SCALE_MAX = 10.0


class CovarianceAdaptationState(NamedTuple):
    """State of the covariance and scale adaptation.

    Attributes
    ----------
    count : float
        Total weight of the points in the running moments (draws since the last restart).
    mean : array of shape (d,)
        Running mean.
    scatter : array of shape (d, d)
        Running scatter matrix ``Σ_k w_k (x_k − mean)(x_k − mean)ᵀ``.
    prior_covariance : array of shape (d, d)
        Covariance the estimate is shrunk toward.
    prior_weight : float
        Weight of ``prior_covariance`` in pseudo-draws.
    log_scale : float
        ``log λ``, the global scale of the proposal.
    step : int
        Number of Robbins–Monro updates so far.
    cholesky : array of shape (d, d)
        Lower-triangular factor of the current covariance estimate (without ``λ``).
    checkpoint_covariance : array of shape (d, d)
        The estimate when :func:`covariance_adaptation_checkpoint` was last called (the prior
        until then): :func:`covariance_change` measures how far the estimate moved since.
    """

    count: jax.Array
    mean: jax.Array
    scatter: jax.Array
    prior_covariance: jax.Array
    prior_weight: jax.Array
    log_scale: jax.Array
    step: jax.Array
    cholesky: jax.Array
    checkpoint_covariance: jax.Array


def check_covariance(covariance: Any, name: str = "covariance") -> None:
    """Raise a ``ValueError`` unless a concrete covariance is finite, symmetric, positive definite.

    A scalar or a vector (variances) must be positive; a matrix must be symmetric (to a relative
    1e-8) with a positive smallest eigenvalue. Traced values are not checked.

    Parameters
    ----------
    covariance : scalar, array of shape (d,) or (d, d)
        The proposal covariance a user gave.
    name : str
        Argument name for the message.
    """
    if isinstance(covariance, jax.core.Tracer):
        return
    values = np.asarray(covariance, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        where = np.argwhere(~np.isfinite(values)).tolist()
        raise ValueError(f"`{name}` has non-finite entries at {where}")
    if values.ndim <= 1:
        if not np.all(values > 0):
            raise ValueError(
                f"`{name}` variances must be positive, got {values[values <= 0].tolist()} at "
                f"{np.flatnonzero(np.atleast_1d(values) <= 0).tolist()}"
            )
        return
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(
            f"`{name}` must be a scalar, a vector or a square matrix, got {values.shape}"
        )
    asymmetry = np.max(np.abs(values - values.T))
    if asymmetry > 1e-8 * max(np.max(np.abs(values)), np.finfo(np.float64).tiny):
        raise ValueError(f"`{name}` is not symmetric (largest |C - Cᵀ| entry {asymmetry:.3g})")
    smallest = float(np.linalg.eigvalsh(values)[0])
    if not smallest > 0:
        raise ValueError(
            f"`{name}` is not positive definite (smallest eigenvalue {smallest:.3g}); a proposal "
            "covariance must be. Use e.g. the inverse of a negative-definite Hessian, or leave it "
            "out (identity) and let warm-up adapt it."
        )


def covariance_change(state: CovarianceAdaptationState) -> jax.Array:
    """Largest factor by which the covariance estimate differs from the checkpoint, over directions.

    The NumPyro kernels set the checkpoint halfway through the last stage of warm-up, so this
    measures how much the proposal still moved in the second half of that stage:
    ``exp(max |log λ_i|)`` over the generalised eigenvalues of the current estimate relative to
    the checkpoint (1 when nothing changed).
    """
    prior = state.checkpoint_covariance
    factor = jnp.linalg.cholesky(
        prior
        + jnp.finfo(prior.dtype).eps * jnp.trace(prior) * jnp.eye(prior.shape[0], dtype=prior.dtype)
    )
    whitened = jax.scipy.linalg.solve_triangular(factor, adapted_covariance(state), lower=True)
    whitened = jax.scipy.linalg.solve_triangular(factor, whitened.T, lower=True)
    eigenvalues = jnp.linalg.eigvalsh((whitened + whitened.T) / 2)
    eigenvalues = jnp.clip(eigenvalues, jnp.finfo(prior.dtype).tiny)
    return jnp.exp(jnp.max(jnp.abs(jnp.log(eigenvalues))))


def optimal_scale(dimension: int) -> float:
    """Return ``2.38 / √d``, the asymptotically optimal RWMH scale for Gaussian-like targets."""
    return 2.38 / math.sqrt(dimension)


def covariance_adaptation_init(
    dimension: int,
    covariance: Any = None,
    *,
    scale: float | None = None,
    prior_weight: float | None = None,
    dtype: Any = None,
) -> CovarianceAdaptationState:
    """Initialise the adaptation.

    Parameters
    ----------
    dimension : int
        Number of scalar coordinates ``d``.
    covariance : array of shape (d, d) or (d,), optional
        Initial (prior) covariance ``Σ₀``; a vector is a diagonal. Identity when omitted.
    scale : float, optional
        Initial global scale ``λ₀``; ``2.38/√d`` when omitted.
    prior_weight : float, optional
        Weight of ``Σ₀`` in pseudo-draws; ``2 d`` when omitted.
    dtype : dtype, optional
        Floating dtype of the state (default: JAX's default float).

    Returns
    -------
    CovarianceAdaptationState
    """
    dtype = dtype or jnp.asarray(1.0).dtype
    if covariance is None:
        prior = jnp.eye(dimension, dtype=dtype)
    else:
        prior = jnp.asarray(covariance, dtype=dtype)
        if prior.ndim == 1:
            prior = jnp.diag(prior)
        if prior.shape != (dimension, dimension):
            raise ValueError(
                f"`covariance` must have shape ({dimension}, {dimension}), got {prior.shape}"
            )
        check_covariance(prior)
        prior = (prior + prior.T) / 2
    scale = optimal_scale(dimension) if scale is None else scale
    prior_weight = 2.0 * dimension if prior_weight is None else prior_weight
    if not float(prior_weight) > 0:
        raise ValueError(f"`prior_weight` must be positive, got {prior_weight}")
    cholesky = _cholesky(prior, jnp.eye(dimension, dtype=dtype))
    return CovarianceAdaptationState(
        count=jnp.zeros((), dtype),
        mean=jnp.zeros(dimension, dtype),
        scatter=jnp.zeros((dimension, dimension), dtype),
        prior_covariance=prior,
        prior_weight=jnp.asarray(prior_weight, dtype),
        log_scale=jnp.log(jnp.asarray(scale, dtype)),
        step=jnp.zeros((), jnp.int32),
        cholesky=cholesky,
        checkpoint_covariance=prior,
    )


def adapted_covariance(state: CovarianceAdaptationState) -> jax.Array:
    """Covariance estimate ``(n₀ Σ₀ + S) / (n₀ + n)`` (without the global scale).

    Also accepts an adaptation state that wraps one in a ``covariance`` field (that of
    :class:`~numpyro_semipar.mcmc.DelayedAcceptanceMH`).
    """
    state = getattr(state, "covariance", state)
    total = state.prior_weight + state.count
    return (state.prior_weight * state.prior_covariance + state.scatter) / total


def adapted_proposal_cholesky(state: CovarianceAdaptationState) -> jax.Array:
    """Lower-triangular factor of the proposal covariance ``λ² Σ_t`` (see adapted_covariance)."""
    state = getattr(state, "covariance", state)
    return jnp.exp(state.log_scale) * state.cholesky


def covariance_adaptation_update(
    state: CovarianceAdaptationState,
    points: jax.Array,
    acceptance_rate: jax.Array,
    weights: jax.Array | None = None,
    *,
    target_acceptance: float = 0.234,
    learning_rate_exponent: float = 0.6,
    adapt_covariance: bool = True,
    adapt_scale: bool = True,
    jitter: float = 1e-10,
) -> CovarianceAdaptationState:
    """Add one iteration's points and move the scale toward the target acceptance.

    Parameters
    ----------
    state : CovarianceAdaptationState
        Current adaptation state.
    points : array of shape (d,) or (m, d)
        Flattened position(s) of this iteration: the chain's new state for RWMH, all ``N + 1``
        points for multi-proposal MH.
    acceptance_rate : float
        This iteration's acceptance statistic ``α_t`` (a probability, not an indicator, for
        lower variance).
    weights : array of shape (m,), optional
        Non-negative weights of ``points`` summing to one (the iteration counts as one draw).
        Uniform when omitted.
    target_acceptance : float
        ``α*``.
    learning_rate_exponent : float
        ``κ`` in ``γ_t = (t + 1)^{-κ}``.
    adapt_covariance, adapt_scale : bool
        Switch either mechanism off.
    jitter : float
        Relative ridge added to the covariance before factoring (Haario's ``ε``), times the
        mean diagonal.

    Returns
    -------
    CovarianceAdaptationState
    """
    points = jnp.atleast_2d(points).astype(state.mean.dtype)
    if weights is None:
        weights = jnp.full(points.shape[0], 1.0 / points.shape[0], state.mean.dtype)
    weights = jnp.asarray(weights, state.mean.dtype)
    weights = weights / jnp.sum(weights)

    if adapt_covariance:
        # Chan et al.'s pairwise update with a batch of total weight one.
        batch_mean = weights @ points
        centred = points - batch_mean
        batch_scatter = (centred * weights[:, None]).T @ centred
        count = state.count + 1.0
        delta = batch_mean - state.mean
        mean = state.mean + delta / count
        scatter = state.scatter + batch_scatter + jnp.outer(delta, delta) * (state.count / count)
        state = state._replace(count=count, mean=mean, scatter=scatter)
        cov = adapted_covariance(state)
        ridge = jitter * jnp.mean(jnp.diag(cov)) + jnp.finfo(cov.dtype).tiny
        cholesky = _cholesky(cov + ridge * jnp.eye(cov.shape[0], dtype=cov.dtype), state.cholesky)
        state = state._replace(cholesky=cholesky)

    if adapt_scale:
        gamma = (state.step + 1.0) ** (-learning_rate_exponent)
        alpha = jnp.where(jnp.isfinite(acceptance_rate), acceptance_rate, 0.0)
        log_scale = state.log_scale + gamma * (alpha - target_acceptance)
        log_scale = jnp.clip(log_scale, _LOG_SCALE_MIN, _LOG_SCALE_MAX)
        state = state._replace(log_scale=log_scale.astype(state.log_scale.dtype))
    return state._replace(step=state.step + 1)


def covariance_adaptation_restart(state: CovarianceAdaptationState) -> CovarianceAdaptationState:
    """Make the current covariance estimate the prior and forget the running moments.

    The global scale and the Robbins–Monro step counter are kept; the checkpoint moves to the
    new prior.
    """
    covariance = adapted_covariance(state)
    return state._replace(
        count=jnp.zeros_like(state.count),
        mean=jnp.zeros_like(state.mean),
        scatter=jnp.zeros_like(state.scatter),
        prior_covariance=covariance,
        checkpoint_covariance=covariance,
    )


def covariance_adaptation_checkpoint(
    state: CovarianceAdaptationState,
) -> CovarianceAdaptationState:
    """Remember the current estimate, for :func:`covariance_change` to compare against later."""
    return state._replace(checkpoint_covariance=adapted_covariance(state))


def build_adaptive_step(
    kernel: Callable,
    observe: Callable[[Any, Any], tuple[jax.Array, jax.Array | None]],
    **update_options: Any,
) -> Callable:
    """Wrap a kernel that takes ``proposal_cholesky`` into an adapting step.

    Parameters
    ----------
    kernel : callable
        ``kernel(rng_key, state, logdensity_fn, proposal_cholesky, ...) -> (state, info)``;
        ``info.acceptance_rate`` is the acceptance statistic fed to Robbins–Monro.
    observe : callable
        ``observe(new_state, info) -> (points, weights)``: the flattened points of this iteration
        and their weights (``None`` for uniform), for the running covariance.
    **update_options
        Keyword arguments of :func:`covariance_adaptation_update` (``target_acceptance``, ...).

    Returns
    -------
    callable
        ``step(rng_key, state, adaptation_state, logdensity_fn, *args) ->
        (state, adaptation_state, info)``, where ``*args`` go to the kernel after the factor.
    """

    def step(rng_key, state, adaptation_state, logdensity_fn, *args):
        factor = adapted_proposal_cholesky(adaptation_state)
        new_state, info = kernel(rng_key, state, logdensity_fn, factor, *args)
        points, weights = observe(new_state, info)
        adaptation_state = covariance_adaptation_update(
            adaptation_state, points, info.acceptance_rate, weights, **update_options
        )
        return new_state, adaptation_state, info

    return step


def mode_start(
    logdensity_fn: Callable[[Any], jax.Array],
    init_position: Any,
    *,
    starts: Any = None,
    **find_mode_options: Any,
) -> tuple[Any, np.ndarray | None]:
    """Dynare-style start: the posterior mode and the inverse negative Hessian there.

    Runs :func:`numpyro_semipar.frequentist.find_mode` (scipy's BFGS on the jitted gradient,
    float64) from ``init_position`` and from every point of ``starts``, discards searches that
    start or end at a non-finite log density, and keeps the converged search with the highest
    log density. What comes back is never a zero or indefinite covariance:

    * converged, Hessian negative definite: ``inv(-H)``;
    * converged, Hessian singular or indefinite (a flat direction): ``diag(1/|H_ii|)`` (1 where
      the curvature is zero) with a :class:`~numpyro_semipar.ConvergenceWarning`;
    * no search converged (e.g. it started in an explosive region and ran off with a huge
      gradient): covariance ``None`` with a :class:`~numpyro_semipar.SamplerWarning`; the chains
      then start at the best point found and warm-up adapts the proposal from the identity.

    Parameters
    ----------
    logdensity_fn : callable
        ``position -> scalar`` log density, differentiable with JAX.
    init_position : pytree
        Starting point of the mode search.
    starts : sequence of pytrees, optional
        Further starting points (the NumPyro kernels pass the centre and a few draws of the
        init strategy's box).
    **find_mode_options
        Passed to ``find_mode`` (``max_steps``, ``rtol``, ``optimizer``, ...).

    Returns
    -------
    mode : pytree
        The best point found (structure of ``init_position``).
    covariance : numpy array of shape (d, d) or None
        Symmetric positive-definite proposal covariance in flattened-position order, or
        ``None`` when no search converged.

    Raises
    ------
    ValueError
        When the log density is not finite at any start.
    """
    # Imported on use: importing the frequentist package (SMM, panel, scipy.stats) takes ~1.5 s.
    from ...frequentist._mode import find_mode

    options = {"optimizer": "scipy", "warn": False, **find_mode_options}
    result = find_mode(logdensity_fn, init_position, starts=starts, **options)
    if not result.converged:
        warnings.warn(
            f"the mode search did not converge ({result.message}; log density "
            f"{result.logdensity:.6g} at the best point): the chains start there and warm-up "
            "adapts the proposal covariance from the identity instead of the inverse Hessian. "
            "Give more warm-up iterations, or a better start.",
            SamplerWarning,
            2,
        )
        return result.position, None
    cov = np.asarray(result.covariance, dtype=np.float64)
    ok = bool(np.all(np.isfinite(cov)))
    if ok:
        cov = (cov + cov.T) / 2
        ok = bool(np.all(np.linalg.eigvalsh(cov) > 0))
    if not ok:
        curvature = np.abs(np.diag(np.asarray(result.hessian, dtype=np.float64)))
        safe = np.where(np.isfinite(curvature) & (curvature > 0), curvature, 1.0)
        cov = np.diag(1.0 / safe)
        warnings.warn(
            "the Hessian at the mode is not negative definite; using diag(1/|H_ii|) as the "
            "initial proposal covariance",
            ConvergenceWarning,
            2,
        )
    return result.position, cov


def _cholesky(matrix: jax.Array, fallback: jax.Array) -> jax.Array:
    if matrix.shape[0] <= _SMALL_DIMENSION:
        factor = _cholesky_loop(matrix)
    else:
        factor = jnp.linalg.cholesky(matrix)
    # Cholesky of a matrix that lost positive definiteness to rounding returns NaN: keep the
    # previous factor for that step.
    return jnp.where(jnp.all(jnp.isfinite(factor)), factor, fallback)


# Below this dimension the adaptation factors the covariance with a column loop in plain JAX:
# on CPU, XLA's LAPACK custom call costs about 25 µs per iteration in the step (measured with
# d = 10, even inside a `lax.cond` branch that is not taken), several times a cheap target's
# evaluation; the loop costs about 1 µs when not taken and a few µs when taken.
_SMALL_DIMENSION = 128


# jit: called eagerly when a chain starts, where the loop's fresh closure would otherwise be
# compiled again on every run (inside a traced step the jit is inlined).
@jax.jit
def _cholesky_loop(matrix: jax.Array) -> jax.Array:
    """Cholesky–Banachiewicz by columns: ``L[:, j] = (A[:, j] − L L[j, :]ᵀ) / √(·)_j`` below j."""
    matrix = jnp.asarray(matrix)
    dimension = matrix.shape[0]
    rows = jnp.arange(dimension)

    def column(j, factor):
        residual = matrix[:, j] - factor @ factor[j, :]
        values = jnp.where(rows >= j, residual / jnp.sqrt(residual[j]), 0.0)
        return factor.at[:, j].set(values)

    return jax.lax.fori_loop(0, dimension, column, jnp.zeros_like(matrix))
