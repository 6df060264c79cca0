"""Shared targets and checks for the MH kernel tests (imported, not collected)."""

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.diagnostics import effective_sample_size


def correlated_gaussian(dimension=10, condition=100.0, seed=0):
    """Mean, covariance (given condition number) and log density of a correlated Gaussian."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dimension, dimension)))
    eigenvalues = np.geomspace(1.0, condition, dimension) / np.sqrt(condition)
    covariance = (q * eigenvalues) @ q.T
    mean = rng.normal(size=dimension)
    precision = jnp.asarray(np.linalg.inv(covariance))
    mean_j = jnp.asarray(mean)

    def logdensity(x):
        r = x - mean_j
        return -0.5 * r @ precision @ r

    return mean, covariance, logdensity


def banana_logdensity(position):
    """x0 ~ N(0, 1), x1 | x0 ~ N(x0², 0.5²): E = (0, 1), Var = (1, 2.25)."""
    x0, x1 = position["x0"], position["x1"]
    return -0.5 * x0**2 - 0.5 * ((x1 - x0**2) / 0.5) ** 2


BANANA_MEAN = {"x0": 0.0, "x1": 1.0}
BANANA_VAR = {"x0": 1.0, "x1": 2.25}


def assert_moments(draws, mean, variance, num_sd=5.0):
    """ESS-gated checks, BlackJAX style: |mean − μ| < 5 sd/√ESS, and the same for variances.

    ``draws`` has shape (chains, draws, d); ``mean`` and ``variance`` have shape (d,).
    """
    draws = np.asarray(draws, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    variance = np.asarray(variance, dtype=np.float64)
    ess = effective_sample_size(draws)
    assert np.all(ess > 100), f"too few effective draws: {ess}"
    estimate = draws.mean(axis=(0, 1))
    sd = np.sqrt(variance)
    np.testing.assert_array_less(np.abs(estimate - mean), num_sd * sd / np.sqrt(ess))
    squares = (draws - mean) ** 2
    ess_sq = effective_sample_size(squares)
    sd_sq = squares.reshape(-1, draws.shape[-1]).std(axis=0)
    np.testing.assert_array_less(
        np.abs(squares.mean(axis=(0, 1)) - variance), num_sd * sd_sq / np.sqrt(ess_sq)
    )
    return ess


def run_chains(rng_key, step, state, num_steps, num_chains):
    """Run ``step(key, state) -> (state, output)`` for ``num_chains`` vmapped chains."""

    def one_chain(key, init):
        def body(carry, k):
            return step(k, carry)

        return jax.lax.scan(body, init, jax.random.split(key, num_steps))

    keys = jax.random.split(rng_key, num_chains)
    return jax.jit(jax.vmap(one_chain))(keys, state)


def tree_stack(tree, num):
    """Copy a pytree ``num`` times along a new leading axis."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (num,) + jnp.shape(x)), tree)
