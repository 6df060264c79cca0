"""The host-driven profile curvature against the pure-JAX one, and its log-space fallback."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from numpyro_semipar.npmle._profile_derivatives import profile_curvature
from numpyro_semipar.npmle._profile_host import (
    ModelPrograms,
    _posterior,
    profile_curvature_host,
    split_rows,
)

GRID = np.linspace(-4.0, 4.0, 21)


def log_lik_fn(theta, y):
    """Location-scale normal with a truncated kernel: entries beyond 3.5 sd are -inf."""
    z = (y[:, None] - theta[0] - theta[1] * GRID[None, :]) * jnp.exp(-theta[2])
    value = -0.5 * z**2 - theta[2] - 0.5 * jnp.log(2 * jnp.pi)
    return jnp.where(jnp.abs(z) <= 3.5, value, -jnp.inf)


def programs():
    def derivatives(theta, y, wr):
        ell, lin = jax.linearize(lambda th: log_lik_fn(th, y), theta)
        tangents = jax.vmap(lin)(jnp.eye(theta.shape[0]))
        usable = ell > -jnp.inf

        def functional(th):
            return jnp.sum(jnp.where(usable, wr * log_lik_fn(th, y), 0.0))

        return tangents, jax.hessian(functional)(theta)

    return ModelPrograms(jax.jit(log_lik_fn), jax.jit(derivatives))


def data(n=301, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice([-2.0, 1.0], size=n) * 1.2 + 0.3 + 0.8 * rng.normal(size=n)
    y[5] = 3.9  # an edge row: most of its entries are -inf
    return y


# name, row weights (n, G), rows per chunk
N = 301  # not a multiple of the chunk sizes below: the last chunk is padded
CASES = [
    ("one_chunk", np.ones((N, 1)), N),
    # 4 chunks of 76 rows and 3 of 101 (equal chunks, the last one padded).
    ("zero_weight_rows_in_chunks", np.r_[np.zeros(4), np.ones(N - 4)][:, None] * 2.0, 100),
    ("groups_in_chunks", np.stack([np.arange(N) % 2, 1 - np.arange(N) % 2], 1).astype(float), 128),
]


@pytest.mark.parametrize(("row_weights", "size"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_host_curvature_matches_jax_curvature(row_weights, size):
    y, theta = data(), np.array([0.2, 1.1, np.log(0.9)])
    expected = jax.jit(lambda th, y, w: profile_curvature(log_lik_fn, th, y, w, row_chunk=None))(
        theta, y, row_weights
    )
    got = profile_curvature_host(programs(), theta, split_rows(y, N, size), row_weights)
    assert got.kkt_residual < 1e-8 and expected.kkt_residual < 1e-8
    np.testing.assert_allclose(got.loglik, expected.loglik, rtol=1e-12)
    np.testing.assert_allclose(got.mixing_weights, expected.mixing_weights, atol=1e-7)
    np.testing.assert_allclose(got.gradient, expected.gradient, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got.hessian, expected.hessian, rtol=1e-6)
    np.testing.assert_allclose(got.hessian_known_mixing, expected.hessian_known_mixing, rtol=1e-8)
    np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-6, atol=1e-7)
    # The scores sum to the gradient up to d·dp/dθ, which the KKT conditions make ~n·1e-8.
    np.testing.assert_allclose(got.scores.sum(0), got.gradient, rtol=1e-7, atol=1e-6)


def test_split_rows_pads_with_the_last_row_and_shares_other_leaves():
    y = np.arange(10.0)
    chunks = split_rows((y, np.array([7.0, 8.0])), 10, 4)
    assert chunks.size == 4 and len(chunks.data) == 3
    np.testing.assert_array_equal(chunks.data[2][0], [8.0, 9.0, 9.0, 9.0])
    np.testing.assert_array_equal(chunks.data[1][1], [7.0, 8.0])


def test_posterior_falls_back_to_log_space_for_far_rows():
    rng = np.random.default_rng(1)
    log_lik = rng.normal(size=(4, 6))
    log_lik[1] -= 2000.0  # far below the underflow threshold, relative to nothing
    log_lik[2, :3] = -np.inf
    log_lik[3, 0] += 900.0  # its maximum sits where p = 0: u underflows after scaling
    p = np.array([0.0, 0.3, 0.0, 0.2, 0.5, 0.0])
    usable = np.isfinite(log_lik)
    log_u, r, q = _posterior(log_lik, np.tile(p, (4, 1)), usable)
    with np.errstate(divide="ignore"):
        expected_log_u = logsumexp(log_lik + np.log(p), axis=1)
    np.testing.assert_allclose(log_u, expected_log_u, rtol=1e-13)
    expected_q = np.exp(np.minimum(log_lik - expected_log_u[:, None], 700.0))
    np.testing.assert_allclose(q, np.where(usable, expected_q, 0.0), rtol=1e-12)
    np.testing.assert_allclose(r.sum(1), 1.0, rtol=1e-12)
