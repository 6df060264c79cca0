"""Loud failures for the gradient-free kernels: what a chain did, checked while it runs.

A random-walk chain that is stuck looks normal from the outside: its draws have the right
shape, its acceptance rate may read 0.2. The NumPyro adapters therefore keep a few counters in
the chain state (:class:`ChainHealth`) and, at the end of warm-up and every
``CHECK_INTERVAL`` iterations after it, hand them to the host, which issues a
:class:`~numpyro_semipar.SamplerWarning` with the numbers when

* the chain did not move during warm-up, or has not moved in the last ``CHECK_INTERVAL``
  iterations;
* log densities returned NaN or ``+inf`` (treated as zero density, i.e. rejected);
* the surrogate of a delayed-acceptance kernel returned NaN or ``+inf``;
* the proposal covariance was still changing at the end of warm-up (warm-up too short);
* a kernel-specific check fails (e.g. a surrogate so poor that it had to be flattened).

The check is one ``lax.cond`` on an iteration counter that all chains share, evaluated outside
``vmap``: the host is called only at those iterations, so the cost per iteration is nil.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._warnings import SamplerWarning

__all__ = ["CHECK_INTERVAL", "ChainHealth", "health_init", "health_update"]

# A tuned random walk accepts 20-30% of its proposals, a poorly tuned one a few percent:
# 500 consecutive rejections at 5% acceptance have probability e^-25.
CHECK_INTERVAL = 500
# Warm-up checks need a warm-up long enough to judge: at 20% acceptance a chain fails to move
# in 50 iterations with probability 1e-5.
MIN_WARMUP_CHECKED = 50
# Largest factor by which the proposal covariance may change, in some direction, over the last
# stage of warm-up before it counts as not stabilised. Random-walk draws are strongly
# autocorrelated (ESS ~ 0.3 n / d), so a short stage alone moves the estimate in its thinnest
# direction by factors of 5-8 (seen on a 2-D banana with 100-200 draws): the limit flags gross
# failures (a proposal still orders of magnitude off), not sampling noise.
COVARIANCE_CHANGE_LIMIT = 10.0
# ... judged only when the last stage has at least this many draws per coordinate.
COVARIANCE_DRAWS_PER_COORDINATE = 100


class ChainHealth(NamedTuple):
    """Counters of one chain that the run-time checks read.

    Attributes
    ----------
    num_moves_warmup : int
        Accepted moves during warm-up.
    last_move : int
        Iteration (1-based, warm-up included) of the last accepted move; 0 if none.
    num_invalid : int
        Target evaluations that returned NaN or ``+inf`` so far.
    num_invalid_surrogate : int
        Surrogate evaluations that returned NaN or ``+inf`` so far (delayed acceptance).
    num_evaluations : int
        Target evaluations so far.
    num_invalid_reported, num_invalid_surrogate_reported : int
        The counts at the last check (only new invalid values are reported again).
    """

    num_moves_warmup: jax.Array
    last_move: jax.Array
    num_invalid: jax.Array
    num_invalid_surrogate: jax.Array
    num_evaluations: jax.Array
    num_invalid_reported: jax.Array
    num_invalid_surrogate_reported: jax.Array


def health_init() -> ChainHealth:
    """Counters of a chain that has not run yet."""
    zero = jnp.zeros((), jnp.int32)
    return ChainHealth(zero, zero, zero, zero, zero, zero, zero)


def health_update(health: ChainHealth, info: Any, iteration: jax.Array, num_warmup) -> ChainHealth:
    """Add one iteration's ``info`` (``iteration`` counts the iterations done, 1-based)."""
    moved = jnp.asarray(info.is_accepted)
    in_warmup = iteration <= num_warmup
    zero = jnp.zeros((), jnp.int32)
    return health._replace(
        num_moves_warmup=health.num_moves_warmup + (moved & in_warmup).astype(jnp.int32),
        last_move=jnp.where(moved, iteration, health.last_move).astype(jnp.int32),
        num_invalid=health.num_invalid + jnp.asarray(getattr(info, "num_invalid", zero), jnp.int32),
        num_invalid_surrogate=health.num_invalid_surrogate
        + jnp.asarray(getattr(info, "num_invalid_surrogate", zero), jnp.int32),
        num_evaluations=health.num_evaluations + jnp.asarray(info.num_evaluations, jnp.int32),
    )


def mark_reported(health: ChainHealth) -> ChainHealth:
    """Remember the counts just reported."""
    return health._replace(
        num_invalid_reported=health.num_invalid,
        num_invalid_surrogate_reported=health.num_invalid_surrogate,
    )


def should_check(iteration: jax.Array, num_warmup: jax.Array) -> jax.Array:
    """Whether the checks run after ``iteration`` iterations (a scalar shared by all chains)."""
    after = iteration - num_warmup
    return ((iteration == num_warmup) & (num_warmup > 0)) | (
        (after > 0) & (after % CHECK_INTERVAL == 0)
    )


def report(kernel_name: str, stats: dict[str, Any], extra_messages: list[str]) -> None:
    """Host side: turn the counters of all chains into warnings (nothing when all is well)."""
    stats = {name: np.atleast_1d(np.asarray(value)) for name, value in stats.items()}
    iteration = int(stats["iteration"][0])
    num_warmup = int(stats["num_warmup"][0])
    at_warmup_end = iteration == num_warmup
    if at_warmup_end and num_warmup < MIN_WARMUP_CHECKED:
        return
    messages: list[str] = []
    chains = stats["iteration"].shape[0]

    def which(mask: np.ndarray) -> str:
        index = np.flatnonzero(mask)
        if chains == 1:
            return "the chain"
        return f"chain(s) {index.tolist()} of {chains}"

    if at_warmup_end:
        stuck = stats["num_moves_warmup"] == 0
        if stuck.any():
            messages.append(
                f"{which(stuck)} did not move during the {num_warmup} warm-up iterations "
                f"(log density at the current point: {stats['logdensity'][stuck].tolist()}). "
                "Its draws all equal the start. Start elsewhere (a different init_strategy or "
                "init_params), check that the log density is finite around the start, or give a "
                "proposal `covariance` on the posterior's scale."
            )
        change = stats.get("covariance_change")
        if change is not None:
            enough = stats["covariance_draws"] >= (
                COVARIANCE_DRAWS_PER_COORDINATE * stats["dimension"]
            )
            unstable = (change > COVARIANCE_CHANGE_LIMIT) & enough & ~stuck
            if unstable.any():
                messages.append(
                    f"the proposal covariance of {which(unstable)} was still changing at the end "
                    f"of warm-up (by a factor up to {np.round(change[unstable], 1).tolist()} in "
                    "some direction over its last stage): warm-up was too short for this "
                    "posterior. Increase num_warmup (e.g. double it) and check R-hat over "
                    "several chains."
                )
    else:
        since = iteration - stats["last_move"]
        stuck = since >= CHECK_INTERVAL
        if stuck.any():
            messages.append(
                f"{which(stuck)} has not moved in the last {int(np.min(since[stuck]))} "
                f"iterations (iteration {iteration}, log density "
                f"{stats['logdensity'][stuck].tolist()}): the draws after that point are one "
                "repeated value. The chain may sit in a trap (a spike of the log density, a "
                "region where a surrogate is far off); rerun from a different start and compare "
                "several chains."
            )
    invalid = stats["num_invalid"]
    new_invalid = invalid - stats["num_invalid_reported"]
    if (new_invalid > 0).any():
        share = invalid / np.maximum(stats["num_evaluations"], 1)
        messages.append(
            f"the log density returned NaN or +inf at {invalid.tolist()} of "
            f"{stats['num_evaluations'].tolist()} evaluations so far (share "
            f"{np.round(share, 4).tolist()}); those points were treated as zero density "
            "(rejected). Count per iteration: sample_stats `num_invalid_evaluations`. A NaN "
            "usually means a failed inner solver or an overflow in the model."
        )
    invalid_surrogate = stats.get("num_invalid_surrogate")
    if invalid_surrogate is not None:
        new = invalid_surrogate - stats["num_invalid_surrogate_reported"]
        if (new > 0).any():
            messages.append(
                f"the surrogate returned NaN or +inf {invalid_surrogate.tolist()} times so far; "
                "those surrogate steps were rejected. Check the surrogate on the posterior's "
                "range (e.g. retrain it on more candidates)."
            )
    messages.extend(extra_messages)
    for message in messages:
        warnings.warn(f"{kernel_name}: {message}", SamplerWarning, stacklevel=2)
