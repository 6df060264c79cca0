"""How wrong is a surrogate where it matters: MH decisions and importance weights.

Two checks of a surrogate ``π̃`` against the exact posterior ``π``:

* :func:`decision_errors` replays held-out MH steps (current ``x``, proposal ``y``, uniform
  ``u``) and compares the decisions ``log u < Δ̃`` and ``log u < Δ`` with ``Δ̃ = log π̃(y) −
  log π̃(x)`` and ``Δ = log π(y) − log π(x)``. A *wrong accept* is a step the surrogate accepts
  while the truth rejects, a *wrong reject* the converse; both are shares of all held-out steps
  (the seed reports 0.38% and 0.42%). The expected versions ``E[max(α̂ − α, 0)]`` and
  ``E[max(α − α̂, 0)]`` with ``α = min(1, e^Δ)`` do not depend on the uniforms.
* :func:`importance_diagnostics` reweights surrogate draws by ``π/π̃`` and reports the
  Pareto-k̂ of the weights (Vehtari et al. 2024; ``k̂ < 0.7`` means the reweighted estimates are
  reliable), their effective sample size and the corrected mean and variance. Each draw costs
  one exact evaluation: thin the surrogate chain first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.diagnostics import pareto_khat

__all__ = [
    "DecisionErrors",
    "ImportanceDiagnostics",
    "decision_errors",
    "importance_diagnostics",
]


class DecisionErrors(NamedTuple):
    """Disagreement between surrogate and exact MH decisions on held-out steps.

    Attributes
    ----------
    wrong_accept : float
        Share of steps the surrogate accepts and the exact posterior rejects.
    wrong_reject : float
        Share of steps the surrogate rejects and the exact posterior accepts.
    expected_wrong_accept : float
        ``mean(max(α̂ − α, 0))``.
    expected_wrong_reject : float
        ``mean(max(α − α̂, 0))``.
    exact_acceptance : float
        Share of steps the exact posterior accepts.
    surrogate_acceptance : float
        Share of steps the surrogate accepts.
    num_steps : int
        Number of held-out steps.
    """

    wrong_accept: float
    wrong_reject: float
    expected_wrong_accept: float
    expected_wrong_reject: float
    exact_acceptance: float
    surrogate_acceptance: float
    num_steps: int


def _evaluate(fn: Callable, points: Any) -> np.ndarray:
    return np.asarray(jax.jit(jax.vmap(fn))(points), dtype=np.float64)


def _log_ratio(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        delta = new - old
    return np.where(np.isnan(delta), -np.inf, delta)


def decision_errors(
    surrogate_fn: Callable[[Any], jax.Array],
    positions: Any,
    proposals: Any,
    logdensities,
    proposal_logdensities,
    *,
    log_uniforms=None,
    rng_key: jax.Array | None = None,
    surrogate_logdensities=None,
    proposal_surrogate_logdensities=None,
) -> DecisionErrors:
    """Wrong-accept and wrong-reject rates of a surrogate on held-out MH steps.

    Parameters
    ----------
    surrogate_fn : callable
        Surrogate log density of one position (jittable; applied with ``jax.vmap``).
    positions : array of shape (n, d) or pytree with leading axis n
        Current states ``x`` of the held-out steps.
    proposals : same structure as ``positions``
        Proposals ``y``.
    logdensities, proposal_logdensities : array of shape (n,)
        Exact ``log π(x)`` and ``log π(y)`` (e.g. recorded by an exact MH run).
    log_uniforms : array of shape (n,), optional
        ``log u`` of each step (e.g. the run's own); drawn with ``rng_key`` when omitted.
    rng_key : jax.Array, optional
        Key for the uniforms (default ``jax.random.key(0)``).
    surrogate_logdensities, proposal_surrogate_logdensities : array of shape (n,), optional
        Precomputed surrogate values (then ``surrogate_fn`` is not called for them).

    Returns
    -------
    DecisionErrors
    """
    exact_x = np.asarray(logdensities, dtype=np.float64).reshape(-1)
    exact_y = np.asarray(proposal_logdensities, dtype=np.float64).reshape(-1)
    n = exact_x.shape[0]
    if exact_y.shape[0] != n or n == 0:
        raise ValueError(
            f"logdensities ({n}) and proposal_logdensities ({exact_y.shape[0]}) must have the "
            "same positive length"
        )
    if np.isnan(exact_x).any() or np.isnan(exact_y).any():
        raise ValueError("logdensities and proposal_logdensities must not contain NaN")
    sur_x = (
        _evaluate(surrogate_fn, positions)
        if surrogate_logdensities is None
        else np.asarray(surrogate_logdensities, np.float64).reshape(-1)
    )
    sur_y = (
        _evaluate(surrogate_fn, proposals)
        if proposal_surrogate_logdensities is None
        else np.asarray(proposal_surrogate_logdensities, np.float64).reshape(-1)
    )
    if sur_x.shape[0] != n or sur_y.shape[0] != n:
        raise ValueError(f"positions and proposals must hold {n} steps")
    if log_uniforms is None:
        key = jax.random.key(0) if rng_key is None else rng_key
        log_uniforms = np.log(np.asarray(jax.random.uniform(key, (n,), dtype=jnp.float32)))
    log_u = np.asarray(log_uniforms, dtype=np.float64).reshape(-1)
    if log_u.shape[0] != n:
        raise ValueError(f"log_uniforms has {log_u.shape[0]} entries for {n} steps")
    delta = _log_ratio(exact_y, exact_x)
    delta_hat = _log_ratio(sur_y, sur_x)
    accept = log_u < delta
    accept_hat = log_u < delta_hat
    alpha = np.exp(np.minimum(delta, 0.0))
    alpha_hat = np.exp(np.minimum(delta_hat, 0.0))
    return DecisionErrors(
        wrong_accept=float(np.mean(accept_hat & ~accept)),
        wrong_reject=float(np.mean(accept & ~accept_hat)),
        expected_wrong_accept=float(np.mean(np.maximum(alpha_hat - alpha, 0.0))),
        expected_wrong_reject=float(np.mean(np.maximum(alpha - alpha_hat, 0.0))),
        exact_acceptance=float(np.mean(accept)),
        surrogate_acceptance=float(np.mean(accept_hat)),
        num_steps=int(n),
    )


class ImportanceDiagnostics(NamedTuple):
    """Importance reweighting of surrogate draws by the exact posterior.

    Attributes
    ----------
    pareto_k : float
        Pareto-k̂ of the upper tail of the weights (reliable below 0.7; 0.5 is the classic
        threshold for a finite variance).
    ess : float
        Effective sample size of the normalised weights, ``1 / Σ w²``.
    ess_fraction : float
        ``ess / n``.
    weights : array of shape (n,)
        Normalised importance weights.
    mean, variance : array of shape (d,)
        Self-normalised estimates of the exact posterior's mean and variance.
    num_evaluations : int
        Exact evaluations used (``n``).
    """

    pareto_k: float
    ess: float
    ess_fraction: float
    weights: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    num_evaluations: int


def importance_diagnostics(
    draws,
    log_target=None,
    log_surrogate=None,
    *,
    logdensity_fn: Callable | None = None,
    surrogate_fn: Callable | None = None,
) -> ImportanceDiagnostics:
    """Reweight surrogate draws by ``π / π̃`` and diagnose the weights with Pareto-k̂.

    Parameters
    ----------
    draws : array of shape (n, d)
        Draws from the surrogate chain (thinned: each costs one exact evaluation).
    log_target, log_surrogate : array of shape (n,), optional
        Exact and surrogate log densities at the draws; computed with ``logdensity_fn`` and
        ``surrogate_fn`` (vmapped) when omitted.
    logdensity_fn, surrogate_fn : callable, optional
        Log densities of one flat draw.

    Returns
    -------
    ImportanceDiagnostics
    """
    x = np.asarray(draws, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"draws must have shape (n, d); got {x.shape}")
    if log_target is None:
        if logdensity_fn is None:
            raise ValueError("give log_target or logdensity_fn")
        log_target = _evaluate(logdensity_fn, jnp.asarray(x))
    if log_surrogate is None:
        if surrogate_fn is None:
            raise ValueError("give log_surrogate or surrogate_fn")
        log_surrogate = _evaluate(surrogate_fn, jnp.asarray(x, jnp.float32))
    lt = np.asarray(log_target, np.float64).reshape(-1)
    ls = np.asarray(log_surrogate, np.float64).reshape(-1)
    if lt.shape[0] != x.shape[0] or ls.shape[0] != x.shape[0]:
        raise ValueError(f"log densities must have {x.shape[0]} entries")
    log_w = _log_ratio(lt, ls)
    if not np.isfinite(log_w).any():
        raise ValueError("no draw has a finite importance weight")
    log_w = log_w - np.max(log_w[np.isfinite(log_w)])
    raw = np.exp(log_w)
    weights = raw / raw.sum()
    n = x.shape[0]
    # PSIS tail size: min(0.2 n, 3 √n) (Vehtari et al. 2024).
    tail = min(0.2, 3.0 / np.sqrt(n))
    k_hat = float(pareto_khat(jnp.asarray(raw), tail="upper", tail_frac=tail))
    ess = float(1.0 / np.sum(weights**2))
    mean = weights @ x
    variance = weights @ (x - mean) ** 2
    return ImportanceDiagnostics(
        pareto_k=k_hat,
        ess=ess,
        ess_fraction=ess / n,
        weights=weights,
        mean=mean,
        variance=variance,
        num_evaluations=int(n),
    )
