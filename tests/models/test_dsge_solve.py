"""Cyclic-reduction RE solver: residuals, recovery of known solvents, status codes, derivatives."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_semipar.models import dsge


def _random_quadratic(rng, n, p_radius, n_radius):
    """A X² + B X + C = (λA + F)(λI − P) with ρ(P) = p_radius, ρ(F⁻¹A) = n_radius."""

    def with_radius(radius):
        m = rng.normal(size=(n, n))
        return radius * m / np.max(np.abs(np.linalg.eigvals(m)))

    P = with_radius(p_radius)
    N = with_radius(n_radius)
    F = rng.normal(size=(n, n)) + 3 * np.eye(n)
    A = F @ N
    return A, F - A @ P, -F @ P, P


@pytest.mark.parametrize("n", [2, 3, 5])
def test_recovers_stable_solvent(n):
    rng = np.random.default_rng(n)
    A, B, C, P = _random_quadratic(rng, n, 0.9, 0.6)
    X, status, residual, num_iter = dsge.solve_quadratic(A, B, C)
    assert int(status) == 0
    np.testing.assert_allclose(X, P, atol=1e-10)
    assert float(residual) < 1e-12
    assert 0 < int(num_iter) < 100


@pytest.mark.parametrize(
    ("p_radius", "n_radius", "expected"),
    [(0.5, 1.25, 1), (1.5, 0.4, 2)],
    ids=["indeterminate", "no-stable-solution"],
)
def test_status_codes(p_radius, n_radius, expected):
    rng = np.random.default_rng(7)
    A, B, C, _ = _random_quadratic(rng, 3, p_radius, n_radius)
    X, status, _, _ = dsge.solve_quadratic(A, B, C)
    assert int(status) == expected
    # Masked output: finite zeros, never NaN.
    np.testing.assert_array_equal(X, np.zeros((3, 3)))


def test_singular_system_is_solver_failure_not_nan():
    A = np.zeros((2, 2))
    B = np.zeros((2, 2))
    C = np.eye(2)
    sol = dsge.solve_re(A, B, C, np.eye(2), np.zeros((2, 2)))
    assert int(sol.status) == 3
    assert np.all(np.isfinite(sol.P)) and np.all(np.isfinite(sol.Q))


def test_implicit_derivative_matches_finite_differences():
    rng = np.random.default_rng(3)
    A, B, C, _ = _random_quadratic(rng, 3, 0.8, 0.5)
    direction = [rng.normal(size=(3, 3)) for _ in range(3)]

    def solvent(t):
        return dsge.solve_quadratic(
            *(M + t * D for M, D in zip((A, B, C), direction, strict=True))
        )[0]

    jvp = jax.jit(jax.jacfwd(solvent))(0.0)
    h = 1e-6
    fd = (jax.jit(solvent)(h) - jax.jit(solvent)(-h)) / (2 * h)
    np.testing.assert_allclose(jvp, fd, atol=1e-7)
    # Reverse mode through the custom JVP agrees with forward mode.
    weights = rng.normal(size=(3, 3))
    grad = jax.jit(jax.grad(lambda t: jnp.sum(weights * solvent(t))))(0.0)
    np.testing.assert_allclose(grad, np.sum(weights * jvp), rtol=1e-10)


def _draw_prior(n, seed):
    priors = dsge.an_schorfheide_priors()
    keys = jax.random.split(jax.random.key(seed), len(priors))
    return {name: p.sample(k, (n,)) for (name, p), k in zip(priors.items(), keys, strict=True)}


def test_an_schorfheide_solution_satisfies_re_equations():
    draws = _draw_prior(50, 0)

    def residuals(theta):
        A, B, C, E, Phi = dsge.system_matrices(theta)
        sol = dsge.solve_re(A, B, C, E, Phi)
        P, Q = sol.P, sol.Q
        r1 = jnp.max(jnp.abs(A @ P @ P + B @ P + C))
        r2 = jnp.max(jnp.abs((A @ P + B) @ Q + A @ Q @ Phi + E))
        radius = jnp.max(jnp.abs(jnp.linalg.eigvals(P)))
        return r1, r2, radius, sol.status

    r1, r2, radius, status = jax.jit(jax.vmap(residuals))(draws)
    ok = np.asarray(status) == 0
    assert ok.sum() >= 40
    assert np.max(np.asarray(r1)[ok]) < 1e-10
    assert np.max(np.asarray(r2)[ok]) < 1e-10
    assert np.max(np.asarray(radius)[ok]) < 1.0


def test_determinacy_region_matches_taylor_principle():
    # For this model the solution is unique iff κ(ψ1 − 1) + (1 − β)ψ2 > 0 (Woodford 2003),
    # whatever the interest-rate smoothing ρ_R ∈ [0, 1).
    draws = _draw_prior(400, 1)
    draws["psi1"] = jax.random.uniform(jax.random.key(2), (400,), minval=0.3, maxval=2.0)
    _, status = jax.jit(jax.vmap(lambda t: dsge.log_likelihood(t, jnp.zeros((12, 3)))))(draws)
    beta = 1.0 / (1.0 + np.asarray(draws["r_A"]) / 400.0)
    margin = np.asarray(draws["kappa"]) * (np.asarray(draws["psi1"]) - 1) + (1 - beta) * np.asarray(
        draws["psi2"]
    )
    clear = np.abs(margin) > 1e-6
    expected = np.where(margin > 0, 0, 1)
    np.testing.assert_array_equal(np.asarray(status)[clear], expected[clear])
    counts = dsge.count_status(status)
    assert sum(counts.values()) == 400
    assert counts["determinate"] == int(np.sum(margin > 0))
    assert counts["indeterminate (too many stable roots)"] > 50


def test_indeterminate_region_gives_minus_inf_and_finite_gradient():
    y, _ = dsge.load_us_data("1984Q1", "1990Q4")
    theta = {k: jnp.asarray(v) for k, v in dsge.prior_mean().items()}
    theta["psi1"] = jnp.asarray(0.6)
    value_and_grad = jax.jit(jax.value_and_grad(lambda t: dsge.log_likelihood(t, y), has_aux=True))
    (ll, status), grad = value_and_grad(theta)
    assert int(status) == 1
    assert float(ll) == -np.inf
    assert all(np.isfinite(float(g)) for g in grad.values())
