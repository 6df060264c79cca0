"""Random-walk MH on a surrogate log density: the seed's fast (approximate) sampler.

Running MH on a neural surrogate ``π̃`` samples ``π̃``, not the posterior ``π``: the error is
only diagnosed (wrong accepts/rejects on held-out steps, Pareto-k̂ of importance reweighting,
see :mod:`numpyro_semipar.mcmc`), never corrected. Use :mod:`.delayed_acceptance` for an exact
chain.

``init`` / ``build_kernel`` / ``as_top_level_api`` are those of the random-walk kernel applied to
the surrogate. :func:`sample_surrogate_chains` is a fast path for flat positions: all random
numbers of a block of steps are drawn up front (with exactly the keys
:func:`blackjax.util.run_inference_algorithm` would give the kernel, so the chain is the same),
and the scan body is pure arithmetic (proposal, network, comparison). Many chains run
vectorised with :func:`jax.vmap`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from blackjax import GenerateSamplingAPI
from blackjax.base import SamplingAlgorithm
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .._surrogate import Surrogate
from . import _random_walk
from ._proposals import gaussian_increments

__all__ = [
    "SurrogateChains",
    "as_top_level_api",
    "build_kernel",
    "init",
    "sample_surrogate_chains",
]

init = _random_walk.init
build_kernel = _random_walk.build_kernel


def as_top_level_api(
    surrogate_logdensity_fn: Callable[[Any], jax.Array],
    covariance: Any = None,
    *,
    cholesky: Any = None,
    scale: float = 1.0,
    dimension: int | None = None,
) -> SamplingAlgorithm:
    """Random-walk MH targeting a surrogate log density (approximate for the true posterior).

    Parameters
    ----------
    surrogate_logdensity_fn : callable
        ``position -> scalar`` surrogate log density, e.g. a
        :class:`~numpyro_semipar.mcmc.Surrogate`.
    covariance, cholesky, scale, dimension
        Gaussian proposal, as in :func:`numpyro_semipar.mcmc.blackjax.random_walk`.

    Returns
    -------
    blackjax.base.SamplingAlgorithm
        ``init(position)`` and ``step(rng_key, state) -> (state, info)``; the ``logdensity``
        fields hold surrogate values.
    """
    return _random_walk.as_top_level_api(
        surrogate_logdensity_fn, covariance, cholesky=cholesky, scale=scale, dimension=dimension
    )


class SurrogateChains(NamedTuple):
    """Draws of :func:`sample_surrogate_chains`.

    Attributes
    ----------
    positions : array of shape (num_chains, num_draws, d) or (num_draws, d)
        Chain positions after each recorded step.
    logdensities : array of shape (num_chains, num_draws) or (num_draws,)
        Surrogate log density at the recorded positions.
    acceptance_rate : array of shape (num_chains,) or ()
        Share of accepted proposals over all steps (thinned-out steps included).
    final_position : array of shape (num_chains, d) or (d,)
        Position after the last step (to continue the chain).
    final_logdensity : array of shape (num_chains,) or ()
        Surrogate log density there.
    """

    positions: jax.Array
    logdensities: jax.Array
    acceptance_rate: jax.Array
    final_position: jax.Array
    final_logdensity: jax.Array


def _draws(keys, factor, dimension, dtype, single):
    # Per step: split(key) -> (proposal key, accept key), as the random-walk kernel does.
    def one(key):
        key_proposal, key_accept = jax.random.split(key)
        noise = jax.random.normal(key_proposal, (dimension,), dtype)
        noise = gaussian_increments(noise, factor)
        log_uniform = jnp.log(jax.random.uniform(key_accept, dtype=dtype))
        return noise.astype(dtype), log_uniform

    if single:
        return jax.vmap(one)(keys)
    increments, log_uniform = jax.vmap(jax.vmap(one))(keys)  # (chains, steps, ...)
    # Time-major: a vmap over a scan would slice the pre-drawn arrays along a non-leading axis
    # at every step, which costs more than the network.
    return jnp.swapaxes(increments, 0, 1), jnp.swapaxes(log_uniform, 0, 1)


def _chains(logdensity_fn, position, logdensity, keys, factor, thin, unroll, single):
    """Run one block of steps for one chain (d,) or a batch of chains (C, d)."""
    # A batch of chains is one batched network evaluation per step ((C, d) @ (d, h) ...).
    evaluate = logdensity_fn if single else jax.vmap(logdensity_fn)
    increments, log_uniform = _draws(keys, factor, position.shape[-1], position.dtype, single)

    def step(carry, xs):
        x, lx, accepted = carry
        increment, log_u = xs
        y = x + increment
        # Only the proposal is evaluated: the current value is carried.
        ly = evaluate(y).astype(lx.dtype)
        ly = jnp.where(jnp.isnan(ly), -jnp.inf, ly)
        accept = log_u < ly - lx
        return (
            jnp.where(accept[..., None], y, x),
            jnp.where(accept, ly, lx),
            accepted + accept.astype(jnp.int32),
        ), None

    def record_one(carry, xs):
        carry, _ = step(carry, xs)
        return carry, (carry[0], carry[1])

    def record_thinned(carry, xs):
        carry, _ = jax.lax.scan(step, carry, xs, unroll=unroll)
        return carry, (carry[0], carry[1])

    carry = (position, logdensity, jnp.zeros(logdensity.shape, jnp.int32))
    if thin == 1:
        carry, trace = jax.lax.scan(record_one, carry, (increments, log_uniform), unroll=unroll)
    else:
        num = increments.shape[0] // thin
        xs = (
            increments.reshape(num, thin, *increments.shape[1:]),
            log_uniform.reshape(num, thin, *log_uniform.shape[1:]),
        )
        carry, trace = jax.lax.scan(record_thinned, carry, xs)
    if not single:  # back to chain-major
        trace = (jnp.swapaxes(trace[0], 0, 1), jnp.swapaxes(trace[1], 0, 1))
    return carry, trace


@eqx.filter_jit
def _run_block(logdensity_fn, position, logdensity, keys, factor, thin, unroll, single, mesh):
    # filter_jit: the arrays of a pytree log density (a Surrogate, or its bound method) are
    # arguments, so a retrained surrogate of the same architecture reuses the compiled block;
    # a plain function is static (hashed by identity).
    if mesh is None:
        return _chains(logdensity_fn, position, logdensity, keys, factor, thin, unroll, single)
    # Chains split over several devices (e.g. CPU cores after
    # numpyro.set_host_device_count): each device runs its share of the chains, concurrently.
    arrays, static = eqx.partition(logdensity_fn, eqx.is_array)
    chains = PartitionSpec("chains")

    def shard(arrays, position, logdensity, keys, factor):
        fn = eqx.combine(arrays, static)
        return _chains(fn, position, logdensity, keys, factor, thin, unroll, single)

    return jax.shard_map(
        shard,
        mesh=mesh,
        in_specs=(PartitionSpec(), chains, chains, chains, PartitionSpec()),
        out_specs=((chains, chains, chains), (chains, chains)),
        check_vma=False,
    )(arrays, position, logdensity, keys, factor)


@eqx.filter_jit
def _evaluate(logdensity_fn, position):
    if position.ndim == 1:
        return logdensity_fn(position)
    return jax.vmap(logdensity_fn)(position)


def _chain_mesh(devices, num_chains: int):
    """Build a 1-D mesh over as many of ``devices`` as divide the number of chains (or None)."""
    if devices is None:
        devices = jax.local_devices()
    devices = list(devices)
    count = max((k for k in range(1, len(devices) + 1) if num_chains % k == 0), default=1)
    if count < 2:
        return None
    return Mesh(np.array(devices[:count]), ("chains",))


def sample_surrogate_chains(
    rng_key: jax.Array,
    surrogate_logdensity_fn: Callable[[jax.Array], jax.Array],
    initial_position,
    proposal_cholesky,
    num_steps: int,
    *,
    thin: int = 1,
    block_size: int = 20_000,
    unroll: int = 4,
    devices: Sequence[jax.Device] | None = None,
) -> SurrogateChains:
    """Run random-walk MH on a surrogate, fast: one chain or many vectorised chains.

    With ``initial_position`` of shape (d,), the chain equals
    ``run_inference_algorithm(rng_key, random_walk(f, cholesky=L), num_steps, initial_state)``
    step for step (same keys, same decisions). With shape (num_chains, d), chain ``c`` uses
    ``jax.random.split(rng_key, num_chains)[c]``, whatever the devices.

    Parameters
    ----------
    rng_key : jax.Array
        PRNG key.
    surrogate_logdensity_fn : callable
        ``(d,) array -> scalar``; jittable. A :class:`~numpyro_semipar.mcmc.Surrogate` (or its
        ``flat_logdensity``) is passed to the compiled block as an argument, so surrogates of
        the same architecture share one compilation.
    initial_position : array of shape (d,) or (num_chains, d)
        Starting points (their dtype is the chain's dtype; use float32 for speed).
    proposal_cholesky : array of shape (d, d) or (d,)
        Lower-triangular factor of the proposal covariance (or standard deviations).
    num_steps : int
        Number of MH steps per chain (a multiple of ``thin``).
    thin : int
        Record every ``thin``-th position.
    block_size : int
        Steps per compiled block (bounds the memory for the pre-drawn random numbers); rounded
        down to a multiple of ``thin``.
    unroll : int
        Unrolling of the inner scan (fewer loop overheads per step).
    devices : sequence of jax.Device, optional
        Devices to split the chains over (default: all local devices of the default backend;
        the largest number of them that divides ``num_chains`` is used). On a CPU, JAX has one
        device, which runs on one core; ``numpyro.set_host_device_count(n)`` (or
        ``jax.config.update("jax_num_cpu_devices", n)``) before JAX starts gives ``n`` devices,
        and the chains then run on ``n`` cores concurrently.

    Returns
    -------
    SurrogateChains
    """
    position = jnp.asarray(initial_position)
    if not jnp.issubdtype(position.dtype, jnp.floating):
        position = position.astype(jnp.float32)
    if position.ndim not in (1, 2):
        raise ValueError(
            f"initial_position must have shape (d,) or (num_chains, d); got {position.shape}"
        )
    num_steps, thin = int(num_steps), int(thin)
    if thin < 1 or num_steps < thin or num_steps % thin:
        raise ValueError(f"num_steps ({num_steps}) must be a positive multiple of thin ({thin})")
    factor = jnp.asarray(proposal_cholesky, position.dtype)
    if factor.shape not in ((position.shape[-1],), (position.shape[-1],) * 2):
        raise ValueError(
            f"proposal_cholesky must have shape (d,) or (d, d) with d={position.shape[-1]}; "
            f"got {factor.shape}"
        )
    single = position.ndim == 1
    mesh = None if single else _chain_mesh(devices, position.shape[0])
    fn = _static_free(surrogate_logdensity_fn)
    if single:
        step_keys = jax.random.split(rng_key, num_steps)
    else:
        chain_keys = jax.random.split(rng_key, position.shape[0])
        step_keys = jax.vmap(lambda k: jax.random.split(k, num_steps))(chain_keys)
    block = max(thin, (int(block_size) // thin) * thin)
    logdensity = _evaluate(fn, position).astype(position.dtype)
    logdensity = jnp.where(jnp.isnan(logdensity), -jnp.inf, logdensity)
    x, lx = position, logdensity
    if mesh is not None:
        by_chain = NamedSharding(mesh, PartitionSpec("chains"))
        x, lx = jax.device_put((x, lx), by_chain)
    traces_x, traces_l, accepted = [], [], 0
    axis = 0 if single else 1
    for start in range(0, num_steps, block):
        keys = step_keys[start : start + block] if single else step_keys[:, start : start + block]
        if mesh is not None:
            keys = jax.device_put(keys, by_chain)
        (x, lx, count), (tx, tl) = _run_block(
            fn, x, lx, keys, factor, thin, int(unroll), single, mesh
        )
        accepted = accepted + count
        traces_x.append(tx)
        traces_l.append(tl)
    return SurrogateChains(
        positions=jnp.concatenate(traces_x, axis=axis),
        logdensities=jnp.concatenate(traces_l, axis=axis),
        acceptance_rate=jnp.asarray(accepted) / num_steps,
        final_position=x,
        final_logdensity=lx,
    )


def _static_free(fn):
    """Drop a surrogate's training report (static metadata) so it does not key the cache."""
    owner = getattr(fn, "__self__", None)
    if isinstance(fn, Surrogate) and fn.info is not None:
        return dataclasses.replace(fn, info=None)
    if isinstance(owner, Surrogate) and owner.info is not None:
        return getattr(dataclasses.replace(owner, info=None), fn.__name__)
    return fn


# The public BlackJAX-style algorithm: call it for a SamplingAlgorithm, or use its init and
# build_kernel attributes (exported as numpyro_semipar.mcmc.blackjax.surrogate_mh).
surrogate_mh = GenerateSamplingAPI(as_top_level_api, init, build_kernel)
