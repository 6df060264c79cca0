"""The active-set QP of each mixSQP iteration: optimality, and a descent step when cut short."""

import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_semipar.npmle._active_set import solve_nonnegative_qp


def _mixsqp_qp(seed, n=300, m=30):
    """The QP of one mixSQP iteration at a positive point: H = Lᵀ diag(a/u²) L, g = 1 - d."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=n)
    grid = np.linspace(-3.0, 3.0, m)
    lik = np.exp(-0.5 * (centres[:, None] - grid) ** 2)
    x = rng.dirichlet(np.ones(m))
    u = lik @ x
    a = np.full(n, 1.0 / n)
    hess = lik.T @ (lik * (a / u**2)[:, None])
    grad = 1.0 - lik.T @ (a / u)
    return jnp.asarray(hess), jnp.asarray(grad), jnp.asarray(x)


def _solve(hess, grad, x, max_iter):
    fixed = jnp.zeros(x.shape[0], dtype=bool)
    return solve_nonnegative_qp(
        hess, grad, x, fixed, max_iter=max_iter, tol=1e-10, zero_searchdir=1e-14
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_solution_satisfies_the_kkt_conditions(seed):
    hess, grad, x = _mixsqp_qp(seed)
    state = _solve(hess, grad, x, max_iter=200)
    assert bool(state.done)
    step = np.asarray(state.y)
    y = np.asarray(x) + step
    assert np.all(y >= -1e-14)
    # Gradient of the QP in the step: zero where y > 0, non-negative where y = 0.
    qgrad = np.asarray(hess) @ step + np.asarray(grad)
    scale = np.max(np.abs(qgrad))
    positive = y > 1e-12
    np.testing.assert_allclose(qgrad[positive], 0.0, atol=1e-9 * scale)
    assert np.all(qgrad[~positive] >= -1e-9 * scale)


@pytest.mark.parametrize("max_iter", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_qp_cut_short_returns_a_feasible_descent_step(seed, max_iter):
    hess, grad, x = _mixsqp_qp(seed)
    state = _solve(hess, grad, x, max_iter=max_iter)
    step = np.asarray(state.y)
    assert np.all(np.asarray(x) + step >= -1e-14)
    assert float(np.asarray(grad) @ step) < 0.0


def test_a_qp_given_no_iteration_falls_back_to_the_em_step():
    # With every gradient component negative nothing starts held at zero, so the step after
    # no iteration would be zero; the EM step -x * g (feasible, slope -sum x g^2) replaces it.
    hess, grad, x = _mixsqp_qp(0)
    grad = -jnp.abs(grad) - 1e-3
    state = _solve(hess, grad, x, max_iter=0)
    np.testing.assert_allclose(np.asarray(state.y), -np.asarray(x) * np.asarray(grad))
