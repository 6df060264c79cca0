"""Chunked simulated moments: same values and derivatives as the plain vmap, any chunk size."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_semipar.moments import chunk_size, simulated_moments


def simulate(params, d):
    return params["mu"] + jnp.exp(params["log_sigma"]) * d["z"] + params["a"] * d["u"] ** 2


def moments(x):
    return jnp.stack([x.mean(), jnp.mean(x**2), jnp.mean(jnp.tanh(x)), (x > 0.5).mean()])


@pytest.fixture(scope="module")
def draws():
    kz, ku = jax.random.split(jax.random.key(0))
    # S = 23 is prime: every chunk size below leaves a remainder
    return {"z": jax.random.normal(kz, (23, 50)), "u": jax.random.uniform(ku, (23, 50))}


PARAMS = {"mu": 0.3, "log_sigma": -0.2, "a": 0.7}


def reference(params, draws):
    return jax.vmap(lambda d: moments(simulate(params, d)))(draws)


@pytest.mark.parametrize("batch_size", [None, 1, 7])
def test_chunks_match_vmap_values_and_jacobian(draws, batch_size):
    got = simulated_moments(simulate, moments, PARAMS, draws, batch_size=batch_size)
    want = reference(PARAMS, draws)
    assert got.shape == (23, 4) and got.dtype == jnp.float64
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)

    def mean_moments(fn):
        return lambda p: jnp.mean(fn(p), axis=0)

    chunked = mean_moments(
        lambda p: simulated_moments(simulate, moments, p, draws, batch_size=batch_size)
    )
    plain = mean_moments(lambda p: reference(p, draws))
    for jac in (jax.jacfwd, jax.jacrev):
        a, b = jax.jit(jac(chunked))(PARAMS), jax.jit(jac(plain))(PARAMS)
        for name in PARAMS:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=1e-14)


def test_chunk_size_targets_about_16k_draws():
    assert chunk_size(jnp.zeros((200, 5000))) == 3
    assert chunk_size({"a": jnp.zeros((200, 4000)), "b": jnp.zeros((200, 4000, 2))}) == 1
    assert chunk_size(jnp.zeros((100, 161))) == 100  # small simulations: one batch
    assert chunk_size(jnp.zeros((7, 10**6))) == 1
