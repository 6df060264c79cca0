"""Common random numbers: S sets of simulation draws, drawn once and reused for every θ.

Simulated-moment criteria are only smooth (and comparable across θ) when the same underlying
random numbers are reused at every evaluation. Every estimator in this package takes ``draws``
with a leading axis of length S (one entry per simulated data set); the simulator receives one
slice ``draws[s]`` at a time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["common_random_numbers", "num_simulations"]

_DISTRIBUTIONS = ("uniform", "normal")


def common_random_numbers(
    rng_key: jax.Array,
    num_sims: int,
    shape: tuple[int, ...] | int = (),
    *,
    distribution: str = "uniform",
) -> jax.Array:
    """Draw S sets of common random numbers with a leading simulation axis.

    Parameters
    ----------
    rng_key : jax.Array
        A ``jax.random.key``.
    num_sims : int
        Number of simulated data sets S.
    shape : tuple of int or int
        Shape of the draws of one simulated data set (for example ``(num_obs,)``).
    distribution : {"uniform", "normal"}
        U(0, 1) draws (for inverse-CDF simulators) or standard normal draws.

    Returns
    -------
    jax.Array of shape (num_sims, ...)
        Float64 draws, the trailing axes given by ``shape``.

    Notes
    -----
    Draws supplied by the user (for example NumPy's legacy ``np.random.seed(25)`` stream used by
    Evans' textbook) are accepted by every estimator as well; only the leading S axis matters.
    """
    from .._x64 import float64

    if int(num_sims) < 1:
        raise ValueError(f"num_sims must be a positive integer, got {num_sims}")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {_DISTRIBUTIONS}, got {distribution!r}")
    shape = (int(shape),) if np.ndim(shape) == 0 and shape != () else tuple(shape)
    with float64():
        full = (int(num_sims), *shape)
        if distribution == "uniform":
            return jax.random.uniform(rng_key, full, dtype=jnp.float64)
        return jax.random.normal(rng_key, full, dtype=jnp.float64)


def num_simulations(draws) -> int:
    """Return S, the common leading axis of every leaf of ``draws``, after validating it.

    Parameters
    ----------
    draws : array or pytree of arrays
        Simulation draws with a leading axis of length S.

    Returns
    -------
    int
        The number of simulated data sets.
    """
    leaves = jax.tree.leaves(draws)
    if not leaves:
        raise ValueError("draws is empty: pass an array (or pytree) with a leading S axis")
    sizes = set()
    for i, leaf in enumerate(leaves):
        if np.ndim(leaf) == 0:
            raise ValueError(f"draws leaf {i} is a scalar: draws need a leading axis of length S")
        sizes.add(int(np.shape(leaf)[0]))
        if isinstance(leaf, jax.core.Tracer):
            continue  # traced draws (jit, vmap): only their shape can be checked
        arr = np.asarray(leaf)
        if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
            bad = np.argwhere(~np.isfinite(arr))[0]
            raise ValueError(f"draws leaf {i} has a non-finite value at index {tuple(bad)}")
    if len(sizes) != 1:
        raise ValueError(f"draws leaves disagree on the leading S axis: sizes {sorted(sizes)}")
    return sizes.pop()
