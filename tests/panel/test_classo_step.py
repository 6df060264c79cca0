"""The convex C-Lasso block step: exact shrinkage and optimality (KKT) conditions."""

import jax.numpy as jnp
import numpy as np

from numpyro_semipar.panel import group_soft_threshold, solve_block, unit_coefficients


def test_group_soft_threshold():
    v = jnp.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    out = group_soft_threshold(v, jnp.array([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(out[0], [3.0 * 0.8, 4.0 * 0.8], rtol=1e-12)
    assert np.all(np.asarray(out[1:]) == 0.0)  # exactly zero, not merely small


def _problem(seed, n=40, t=12, p=2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, p))
    beta = np.where(np.arange(n)[:, None] < n // 2, 1.0, -1.0) * np.ones((n, p))
    y = np.einsum("itp,ip->it", x, beta) + 0.5 * rng.normal(size=(n, t))
    q = np.einsum("itp,itq->ipq", x, x) / (n * t)
    b = np.einsum("itp,it->ip", x, y) / (n * t)
    weights = rng.uniform(0.5, 2.0, size=n)
    return jnp.asarray(q), jnp.asarray(b), jnp.asarray(weights)


def test_block_step_satisfies_kkt():
    q, b, w = _problem(0)
    n, p = b.shape
    penalty = 0.5 / n
    lipschitz = 2.0 * jnp.linalg.eigvalsh(q)[:, -1]
    delta, alpha, num_iter = solve_block(q, b, w, penalty, jnp.zeros((n, p)), lipschitz, tol=1e-13)
    delta, alpha = np.asarray(delta), np.asarray(alpha)
    beta = alpha + delta
    grad = 2.0 * (np.einsum("ipq,iq->ip", np.asarray(q), beta) - np.asarray(b))
    # Stationarity in alpha: the smooth gradient sums to zero over units.
    np.testing.assert_allclose(grad.sum(0), 0.0, atol=1e-10)
    norms = np.linalg.norm(delta, axis=1)
    zero = norms == 0.0
    assert 0 < zero.sum() < n  # some units shrunk exactly, some not
    thresholds = penalty * np.asarray(w)
    # Units shrunk onto alpha: the subgradient condition ||grad_i|| <= λ w_i / N.
    assert np.all(np.linalg.norm(grad[zero], axis=1) <= thresholds[zero] * (1 + 1e-6))
    # Other units: grad_i + (λ w_i / N) delta_i / ||delta_i|| = 0.
    resid = grad[~zero] + thresholds[~zero, None] * delta[~zero] / norms[~zero, None]
    np.testing.assert_allclose(resid, 0.0, atol=1e-8)
    assert int(num_iter) < 2000


def test_block_step_is_a_global_minimum():
    # The block problem is convex, so no perturbation of (alpha, delta) may lower the objective.
    q, b, w = _problem(1, n=15)
    n, p = b.shape
    penalty = 0.5 / n
    lipschitz = 2.0 * jnp.linalg.eigvalsh(q)[:, -1]
    delta, alpha, _ = solve_block(q, b, w, penalty, jnp.zeros((n, p)), lipschitz, tol=1e-13)
    qq, bb, ww = (np.asarray(a) for a in (q, b, w))

    def objective(a, d):
        beta = a + d
        smooth = np.sum(np.einsum("ip,ipq,iq->i", beta, qq, beta) - 2 * np.sum(bb * beta, 1))
        return smooth + penalty * np.sum(ww * np.linalg.norm(d, axis=1))

    best = objective(np.asarray(alpha), np.asarray(delta))
    rng = np.random.default_rng(0)
    for scale in (1e-1, 1e-3, 1e-5):
        for _ in range(100):
            da, dd = scale * rng.normal(size=p), scale * rng.normal(size=(n, p))
            assert objective(np.asarray(alpha) + da, np.asarray(delta) + dd) >= best - 1e-14


def test_unit_coefficients_picks_exact_zero():
    alpha = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    delta = jnp.array([[[0.0, 0.0], [0.5, 0.5]], [[-1.0, -1.0], [0.0, 0.1]]])
    beta, group, shrunk = unit_coefficients(alpha, delta)
    np.testing.assert_array_equal(group, [0, 1])
    np.testing.assert_array_equal(shrunk, [True, False])
    np.testing.assert_allclose(beta, [[0.0, 0.0], [1.0, 1.1]])
