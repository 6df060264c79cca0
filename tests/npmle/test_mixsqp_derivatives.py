"""Derivative rules of mixsqp: envelope gradient, implicit weights, exact Hessians."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_semipar.npmle import log_responsibilities, mixsqp

N, M = 240, 25


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(7)
    data = np.concatenate([rng.normal(-2.0, 1.0, N // 2), rng.normal(2.0, 0.7, N // 2)])
    weights = rng.integers(1, 4, N).astype(float)
    grid = np.linspace(-5.0, 5.0, M)
    return jnp.asarray(data), jnp.asarray(weights), jnp.asarray(grid)


def make_log_lik(data, grid):
    def log_lik(theta):
        shift, log_scale = theta[0], theta[1]
        z = (data[:, None] - shift - grid[None, :]) * jnp.exp(-log_scale)
        return -0.5 * z**2 - log_scale

    return log_lik


THETA = jnp.array([0.13, 0.21])


def _central(f, theta, eps):
    cols = [(f(theta + eps * e) - f(theta - eps * e)) / (2 * eps) for e in jnp.eye(theta.size)]
    return jnp.stack(cols, axis=-1)


def test_gradient_and_hessian_of_loglik_match_finite_differences(problem):
    data, weights, grid = problem
    log_lik = make_log_lik(data, grid)

    def value(theta):
        return mixsqp(log_lik(theta), weights).loglik

    # Jitted: one compilation each instead of op-by-op dispatch of the derivative rules.
    value_jit, grad_jit = jax.jit(value), jax.jit(jax.grad(value))
    grad = grad_jit(THETA)
    hess = jax.jit(jax.hessian(value))(THETA)
    grad_fd = _central(value_jit, THETA, 1e-5)
    hess_fd = _central(grad_jit, THETA, 1e-5)
    np.testing.assert_allclose(grad, grad_fd, rtol=1e-6)
    np.testing.assert_allclose(hess, hess_fd, rtol=1e-5, atol=1e-5 * np.abs(hess).max())
    np.testing.assert_allclose(hess, hess.T, rtol=1e-10)
    # The Hessian differs from the one with F held fixed by a PSD correction (not knowing F
    # costs information), so the envelope alone would be wrong at second order.
    p_hat = mixsqp(log_lik(THETA), weights).mixing_weights

    def fixed_f(theta):
        lu = jax.scipy.special.logsumexp(log_lik(theta) + jnp.log(p_hat + 1e-300), axis=1)
        return jnp.sum(weights * lu)

    correction = hess - jax.jit(jax.hessian(fixed_f))(THETA)
    assert np.linalg.eigvalsh(correction).min() > -1e-6 * np.abs(hess).max()
    assert np.linalg.eigvalsh(correction).max() > 1e-3


def test_jacobian_of_mixing_weights_matches_finite_differences(problem):
    data, weights, grid = problem
    log_lik = make_log_lik(data, grid)

    def weights_of(theta):
        return mixsqp(log_lik(theta), weights).mixing_weights

    jac = jax.jit(jax.jacfwd(weights_of))(THETA)
    jac_rev = jax.jit(jax.jacrev(weights_of))(THETA)
    jac_fd = _central(jax.jit(weights_of), THETA, 1e-6)
    np.testing.assert_allclose(jac, jac_rev, atol=1e-10)
    np.testing.assert_allclose(jac, jac_fd, atol=2e-5 * np.abs(jac).max())
    np.testing.assert_allclose(jac.sum(axis=0), 0.0, atol=1e-10)  # stays on the simplex
    p = weights_of(THETA)
    assert np.all(np.asarray(jac)[np.asarray(p) == 0] == 0)


def test_weights_derivative_is_envelope(problem):
    data, weights, grid = problem
    ll = make_log_lik(data, grid)(THETA)
    res = mixsqp(ll, weights)
    g_w = jax.grad(lambda w: mixsqp(ll, w).loglik)(weights)
    log_r, log_u = log_responsibilities(ll, res.mixing_weights)
    np.testing.assert_allclose(g_w, log_u, rtol=1e-12)
    g_ll = jax.grad(lambda x: mixsqp(x, weights).loglik)(ll)
    np.testing.assert_allclose(g_ll, weights[:, None] * jnp.exp(log_r), atol=1e-14)
    np.testing.assert_allclose(jnp.exp(log_r).sum(axis=1), 1.0, rtol=1e-12)


def test_outlying_rows_give_finite_exact_gradient():
    # Rows whose best log-likelihood is far below the float64 underflow threshold (-745):
    # exponentiating raw log-likelihoods (as spmlex does) gives NaN; log space does not.
    rng = np.random.default_rng(3)
    base = -0.5 * (rng.normal(size=(60, 1)) - np.linspace(-3, 3, 12)[None, :]) ** 2
    shift = jnp.asarray(np.where(np.arange(60) % 3 == 0, -2000.0, 0.0))

    def value(scale):
        return mixsqp(scale * jnp.asarray(base) + shift[:, None]).loglik

    g = jax.jit(jax.grad(value))(1.0)
    value = jax.jit(value)
    g_fd = (value(1.0 + 1e-6) - value(1.0 - 1e-6)) / 2e-6
    assert np.isfinite(g)
    np.testing.assert_allclose(g, g_fd, rtol=1e-6)
    np.testing.assert_allclose(value(1.0), mixsqp(base).loglik - 2000.0 * 20, rtol=1e-12)
