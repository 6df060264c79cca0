"""Property tests (hypothesis) for mixsqp on random problems of one small shape."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numpyro_semipar.npmle import mixsqp

from .conftest import kkt_check

N, M = 40, 8
SETTINGS = settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def random_problem(seed):
    """A random NPMLE problem: mixture of Gaussians at random centres, random sharpness."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-3, 3, size=rng.integers(1, 4))
    data = rng.choice(centres, size=N) + rng.normal(size=N)
    grid = np.sort(rng.uniform(-4, 4, size=M))
    sharpness = rng.uniform(0.3, 3.0)
    log_lik = -0.5 * sharpness * (data[:, None] - grid[None, :]) ** 2
    if rng.uniform() < 0.5:
        log_lik[rng.uniform(size=(N, M)) < 0.1] = -np.inf
        log_lik[np.arange(N), rng.integers(0, M, N)] = 0.0  # keep every row feasible
    weights = rng.uniform(0.0, 3.0, size=N) * (rng.uniform(size=N) > 0.1)
    weights[0] = 1.0
    return log_lik, weights


seeds = st.integers(0, 2**32 - 1)


@SETTINGS
@given(seeds)
def test_kkt_conditions_hold(seed):
    log_lik, weights = random_problem(seed)
    res = mixsqp(log_lik, weights)
    assert bool(res.converged), res.message
    residual, d = kkt_check(log_lik, weights, np.asarray(res.mixing_weights))
    assert residual <= 1e-8
    assert np.all(d <= 1 + 1e-8)


@SETTINGS
@given(seeds)
def test_invariant_to_adding_a_constant_to_rows(seed):
    log_lik, weights = random_problem(seed)
    shift = np.random.default_rng(seed).uniform(-500.0, 500.0, size=N)
    res = mixsqp(log_lik, weights)
    shifted = mixsqp(log_lik + shift[:, None], weights)
    np.testing.assert_allclose(shifted.loglik, res.loglik + np.sum(weights * shift), rtol=1e-12)
    np.testing.assert_allclose(shifted.mixing_weights, res.mixing_weights, atol=1e-6)
    assert kkt_check(log_lik, weights, np.asarray(shifted.mixing_weights))[0] <= 1e-8


@SETTINGS
@given(seeds)
def test_permuting_columns_permutes_weights(seed):
    log_lik, weights = random_problem(seed)
    perm = np.random.default_rng(seed + 1).permutation(M)
    res = mixsqp(log_lik, weights)
    permuted = mixsqp(log_lik[:, perm], weights)
    np.testing.assert_allclose(permuted.loglik, res.loglik, rtol=1e-12)
    np.testing.assert_allclose(permuted.mixing_weights, res.mixing_weights[perm], atol=1e-6)


@settings(max_examples=2, deadline=None, database=None)
@given(seeds)
def test_vmap_equals_loop_and_jit_equals_eager(seed):
    problems = [random_problem(seed + k) for k in range(3)]
    lls = jnp.asarray(np.stack([p[0] for p in problems]))
    ws = jnp.asarray(np.stack([p[1] for p in problems]))
    batched = jax.vmap(mixsqp)(lls, ws)
    jitted = jax.jit(mixsqp)
    for k in range(3):
        eager = mixsqp(lls[k], ws[k], engine="jax")
        compiled = jitted(lls[k], ws[k])
        assert bool(batched.converged[k]) and bool(compiled.converged)
        np.testing.assert_allclose(batched.mixing_weights[k], eager.mixing_weights, atol=1e-10)
        np.testing.assert_allclose(batched.loglik[k], eager.loglik, rtol=1e-13)
        np.testing.assert_allclose(compiled.mixing_weights, eager.mixing_weights, atol=1e-12)
        np.testing.assert_allclose(compiled.loglik, eager.loglik, rtol=1e-14)
        assert int(batched.num_iter[k]) == int(eager.num_iter)
