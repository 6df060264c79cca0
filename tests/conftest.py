"""Test configuration: float64 everywhere, quiet progress bars, fixed seeds."""

import os

import jax

# Tests check numerical truth to 1e-6 and below: enable x64 here (never in the package).
jax.config.update("jax_enable_x64", True)
os.environ.setdefault("CI", "true")  # numpyro and our own progress bars stay off in tests

import pytest  # noqa: E402


@pytest.fixture
def rng_key():
    """A fixed JAX key; tests split it explicitly."""
    return jax.random.key(20261121)
