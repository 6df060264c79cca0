"""Kalman-filter log-likelihood against the dense Gaussian density of the stacked observations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from numpyro_semipar.models import dsge


def _dense_loglik(y, d, Z, T, V, H):
    """log N(vec y; 1⊗d, Σ) with Σ_ts = Z T^{t−s} Σ₀ Zᵀ (+H on the diagonal), s₀ stationary."""
    n, p = y.shape
    sigma0 = np.asarray(dsge.solve_discrete_lyapunov(T, V))
    # Var(s_t) = Σ₀ for all t ≥ 0 (stationary start), Cov(s_t, s_s) = T^{t−s} Σ₀ for t ≥ s.
    cov = np.zeros((n * p, n * p))
    for t in range(n):
        for s in range(t + 1):
            block = Z @ np.linalg.matrix_power(T, t - s) @ sigma0 @ Z.T
            if t == s:
                block = block + H
            cov[t * p : (t + 1) * p, s * p : (s + 1) * p] = block
            cov[s * p : (s + 1) * p, t * p : (t + 1) * p] = block.T
    return multivariate_normal(np.tile(d, n), cov).logpdf(y.reshape(-1))


def test_lyapunov_solution():
    rng = np.random.default_rng(0)
    T = rng.normal(size=(4, 4))
    T *= 0.9 / np.max(np.abs(np.linalg.eigvals(T)))
    L = rng.normal(size=(4, 2))
    V = L @ L.T
    S = np.asarray(dsge.solve_discrete_lyapunov(T, V))
    np.testing.assert_allclose(S, T @ S @ T.T + V, atol=1e-12)


@pytest.mark.parametrize("measurement_error", [False, True])
def test_generic_state_space_matches_dense_gaussian(measurement_error):
    rng = np.random.default_rng(1)
    k, p, n = 4, 2, 9
    T = rng.normal(size=(k, k))
    T *= 0.8 / np.max(np.abs(np.linalg.eigvals(T)))
    L = rng.normal(size=(k, k))
    V = L @ L.T
    Z = rng.normal(size=(p, k))
    d = rng.normal(size=p)
    H = np.diag([0.3, 0.5]) if measurement_error else np.zeros((p, p))
    y = rng.normal(size=(n, p))
    result = jax.jit(dsge.kalman_filter)(y, d, Z, T, V, H if measurement_error else None)
    np.testing.assert_allclose(result.loglik, _dense_loglik(y, d, Z, T, V, H), rtol=1e-10)
    assert result.loglik_t.shape == (n,)
    np.testing.assert_allclose(np.sum(result.loglik_t), result.loglik, rtol=1e-12)


def test_an_schorfheide_likelihood_matches_dense_gaussian():
    y, _ = dsge.load_us_data("1990Q1", "1992Q4")
    theta = {k: jnp.asarray(v) for k, v in dsge.prior_mean().items()}
    theta.update(rho_R=jnp.asarray(0.7), rho_g=jnp.asarray(0.9), kappa=jnp.asarray(0.3))
    ss, (ll, status) = jax.jit(lambda t: (dsge.state_space(t), dsge.log_likelihood(t, y)))(theta)
    assert int(status) == 0
    dense = _dense_loglik(y, *(np.asarray(m) for m in (ss.d, ss.Z, ss.T, ss.V)), np.zeros((3, 3)))
    np.testing.assert_allclose(float(ll), dense, rtol=1e-10)


def test_singular_forecast_covariance_gives_minus_inf():
    # No shocks at all: the forecast covariance is zero, the density is degenerate.
    T = np.eye(2) * 0.5
    out = dsge.kalman_loglik(np.ones((5, 1)), np.zeros(1), np.ones((1, 2)), T, np.zeros((2, 2)))
    assert float(out) == -np.inf


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    y = rng.normal(size=(20, 2))
    T0 = np.array([[0.5, 0.2], [0.0, 0.7]])
    Z = np.array([[1.0, 0.0], [0.5, 1.0]])

    def f(a):
        return dsge.kalman_loglik(y, jnp.zeros(2), Z, T0 * a, jnp.eye(2) * a, 0.1 * jnp.eye(2))

    h = 1e-6
    f = jax.jit(f)
    fd = (f(1.0 + h) - f(1.0 - h)) / (2 * h)
    np.testing.assert_allclose(jax.jit(jax.grad(f))(1.0), fd, rtol=1e-6)
