import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_semipar.mcmc import blackjax as nsb
from numpyro_semipar.mcmc.blackjax import _random_walk
from tests.mcmc._mh_targets import (
    BANANA_MEAN,
    BANANA_VAR,
    assert_moments,
    banana_logdensity,
    correlated_gaussian,
    run_chains,
    tree_stack,
)


def test_proposal_cholesky_is_a_factor_of_the_covariance():
    _, cov, _ = correlated_gaussian(5, 30.0)
    factor = nsb.proposal_cholesky(5, cov, scale=2.0)
    np.testing.assert_allclose(factor @ factor.T, 4.0 * cov, rtol=1e-10, atol=1e-12)
    assert np.allclose(factor, np.tril(factor))
    variances = nsb.proposal_cholesky(3, jnp.array([1.0, 4.0, 9.0]))
    np.testing.assert_allclose(np.diag(variances), [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"covariance": np.eye(3)}, "shape"),
        ({"covariance": np.array([1.0, -1.0])}, "positive"),
        ({"covariance": np.array([[1.0, 2.0], [2.0, 1.0]])}, "positive definite"),
        ({"covariance": np.eye(2), "cholesky": np.eye(2)}, "at most one"),
    ],
)
def test_proposal_cholesky_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nsb.proposal_cholesky(2, **kwargs)


def test_empirical_proposal_covariance_matches_request():
    # BlackJAX's 2-D sigma pitfall: the step covariance must be L Lᵀ = Σ, not L itself.
    _, cov, _ = correlated_gaussian(4, 10.0)
    factor = nsb.proposal_cholesky(4, cov)
    keys = jax.random.split(jax.random.key(3), 40000)
    steps = jax.vmap(lambda k: nsb.gaussian_step(k, jnp.zeros(4), factor))(keys)
    np.testing.assert_allclose(np.cov(np.asarray(steps).T), cov, atol=0.04 * np.max(cov))


def test_fixed_random_walk_moments_on_correlated_gaussian(rng_key):
    mean, cov, logdensity = correlated_gaussian()
    algorithm = nsb.random_walk(logdensity, covariance=cov, scale=nsb.optimal_scale(10))
    state = tree_stack(algorithm.init(jnp.asarray(mean)), 4)
    _, (positions, info) = run_chains(
        rng_key, lambda k, s: _keep(algorithm.step(k, s)), state, 6000, 4
    )
    assert 0.15 < float(info.acceptance_rate.mean()) < 0.4
    assert int(info.num_evaluations.sum()) == 4 * 6000
    assert_moments(positions, mean, np.diag(cov))


def test_adaptive_random_walk_moments_on_correlated_gaussian(rng_key):
    mean, cov, logdensity = correlated_gaussian()
    kernel = _random_walk.build_kernel()
    adaptive = nsb.build_adaptive_step(
        kernel, lambda state, info: (state.position[None], None), target_acceptance=0.234
    )
    key_warmup, key_sample = jax.random.split(rng_key)
    # Start away from the mean with an identity proposal: adaptation must find the covariance.
    init = (_random_walk.init(jnp.zeros(10), logdensity), nsb.covariance_adaptation_init(10))

    def warm(key, carry):
        state, adaptation = carry
        state, adaptation, info = adaptive(key, state, adaptation, logdensity)
        return (state, adaptation), info.acceptance_rate

    (states, adaptations), _ = run_chains(key_warmup, warm, tree_stack(init, 4), 6000, 4)
    adapted = jax.vmap(nsb.adapted_covariance)(adaptations)
    # The adapted covariance is close to the target's (relative Frobenius error).
    errors = np.linalg.norm(np.asarray(adapted) - cov, axis=(1, 2)) / np.linalg.norm(cov)
    assert np.all(errors < 0.35), errors

    def sample(key, carry):
        state, adaptation = carry
        factor = nsb.adapted_proposal_cholesky(adaptation)
        state, info = kernel(key, state, logdensity, factor)
        return (state, adaptation), (state.position, info.acceptance_rate)

    _, (positions, acceptance) = run_chains(key_sample, sample, (states, adaptations), 6000, 4)
    assert 0.15 < float(acceptance.mean()) < 0.35
    assert_moments(positions, mean, np.diag(cov))


def test_random_walk_on_banana_pytree(rng_key):
    algorithm = nsb.random_walk(banana_logdensity, covariance=jnp.array([1.0, 3.0]), scale=1.2)
    state = tree_stack(algorithm.init({"x0": jnp.asarray(0.0), "x1": jnp.asarray(1.0)}), 4)
    _, (positions, _) = run_chains(
        rng_key, lambda k, s: _keep(algorithm.step(k, s)), state, 12000, 4
    )
    draws = np.stack([positions["x0"], positions["x1"]], axis=-1)
    assert_moments(
        draws,
        [BANANA_MEAN["x0"], BANANA_MEAN["x1"]],
        [BANANA_VAR["x0"], BANANA_VAR["x1"]],
    )


def test_nan_logdensity_is_rejected(rng_key):
    def logdensity(x):
        return jnp.where(x[0] > 1.0, jnp.nan, -0.5 * jnp.sum(x**2))

    algorithm = nsb.random_walk(logdensity, covariance=jnp.ones(2))
    state = algorithm.init(jnp.zeros(2))
    _, (positions, info) = run_chains(
        rng_key, lambda k, s: _keep(algorithm.step(k, s)), tree_stack(state, 1), 500, 1
    )
    assert np.all(np.asarray(positions)[..., 0] <= 1.0)
    assert np.all(np.isfinite(np.asarray(info.acceptance_rate)))


def test_kernel_does_not_recompile(rng_key):
    _, cov, logdensity = correlated_gaussian(3, 5.0)
    kernel = _random_walk.build_kernel()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(key, state, factor):
        return kernel(key, state, logdensity, factor)

    state = _random_walk.init(jnp.zeros(3), logdensity)
    for i, scale in enumerate([0.5, 1.0, 2.0]):
        # New proposal factors (as adaptation produces) must not trigger a retrace.
        state, _ = step(jax.random.fold_in(rng_key, i), state, scale * jnp.linalg.cholesky(cov))
    chex.clear_trace_counter()


def test_top_level_api_requires_dimension():
    with pytest.raises(ValueError, match="dimension"):
        nsb.random_walk(lambda x: -jnp.sum(x**2))
    assert nsb.random_walk.init is _random_walk.init


def _keep(result):
    state, info = result
    return state, (state.position, info)


@pytest.mark.parametrize("dimension", [1, 6, 130])
def test_adaptation_cholesky_matches_lapack(dimension):
    from numpyro_semipar.mcmc.blackjax._adaptation import _cholesky

    rng = np.random.default_rng(dimension)
    b = rng.normal(size=(dimension, dimension))
    matrix = b @ b.T + dimension * np.eye(dimension)
    np.testing.assert_allclose(
        _cholesky(matrix, np.eye(dimension)), np.linalg.cholesky(matrix), rtol=1e-9, atol=1e-12
    )
    # Not positive definite: the previous factor is kept.
    np.testing.assert_array_equal(_cholesky(-matrix, 3 * np.eye(dimension)), 3 * np.eye(dimension))


def test_mode_start_gives_laplace_covariance_and_falls_back_when_flat():
    from numpyro_semipar import ConvergenceWarning

    mean, cov, logdensity = correlated_gaussian(4, 20.0)
    mode, covariance = nsb.mode_start(logdensity, jnp.zeros(4))
    np.testing.assert_allclose(mode, mean, atol=1e-6)
    np.testing.assert_allclose(covariance, cov, rtol=1e-6, atol=1e-9)

    # Zero curvature in x[0] at the mode: the inverse Hessian does not exist.
    def flat(x):
        return -(x[0] ** 4) - 0.5 * x[1] ** 2 / 4.0

    with pytest.warns(ConvergenceWarning, match="not negative definite"):
        _, fallback = nsb.mode_start(flat, jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(np.diag(fallback), [1.0, 4.0], rtol=1e-6)


def test_float32_without_x64(rng_key):
    mean, cov, _ = correlated_gaussian(3, 10.0)
    with jax.enable_x64(False):
        precision = jnp.asarray(np.linalg.inv(cov), jnp.float32)
        centre = jnp.asarray(mean, jnp.float32)

        def logdensity(x):
            return -0.5 * (x - centre) @ precision @ (x - centre)

        algorithm = nsb.random_walk(logdensity, covariance=jnp.asarray(cov, jnp.float32))
        state = tree_stack(algorithm.init(centre), 4)
        _, (positions, info) = run_chains(
            jax.random.key(1), lambda k, s: _keep(algorithm.step(k, s)), state, 4000, 4
        )
        assert positions.dtype == jnp.float32
        adaptation = nsb.covariance_adaptation_init(3, dtype=jnp.float32)
        adaptation = nsb.covariance_adaptation_update(adaptation, positions[0, :10], 0.3)
        assert adaptation.cholesky.dtype == jnp.float32
    assert_moments(positions, mean, np.diag(cov))
