import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.diagnostics import effective_sample_size

from numpyro_semipar.mcmc import blackjax as nsb
from numpyro_semipar.mcmc.blackjax import _multi_proposal
from tests.mcmc._mh_targets import (
    BANANA_MEAN,
    BANANA_VAR,
    assert_moments,
    banana_logdensity,
    correlated_gaussian,
    run_chains,
    tree_stack,
)


def _run(rng_key, algorithm, position, num_steps, num_chains=4):
    state = tree_stack(algorithm.init(position), num_chains)

    def step(key, s):
        s, info = algorithm.step(key, s)
        return s, (s.position, info)

    return run_chains(rng_key, step, state, num_steps, num_chains)[1]


def test_info_structure_and_weights():
    mean, cov, logdensity = correlated_gaussian(3, 5.0)
    algorithm = nsb.multi_proposal(logdensity, covariance=cov, num_proposals=5)
    state = algorithm.init(jnp.zeros(3))
    new_state, info = jax.jit(algorithm.step)(jax.random.key(0), state)
    assert info.points.shape == (6, 3)
    assert info.indices.shape == (5,)
    assert int(info.num_evaluations) == 5
    np.testing.assert_allclose(info.points[0], state.position)
    np.testing.assert_allclose(info.logdensities, jax.vmap(logdensity)(info.points), rtol=1e-12)
    weights = np.exp(info.logdensities - info.logdensities.max())
    np.testing.assert_allclose(info.weights, weights / weights.sum(), rtol=1e-10)
    np.testing.assert_allclose(new_state.position, info.points[info.indices[-1]])
    np.testing.assert_allclose(float(info.acceptance_rate), 1 - float(info.weights[0]))


def test_moments_on_correlated_gaussian_with_all_draws_and_rao_blackwell(rng_key):
    mean, cov, logdensity = correlated_gaussian()
    algorithm = nsb.multi_proposal(
        logdensity, covariance=cov, num_proposals=8, scale=nsb.optimal_scale(10)
    )
    last, info = _run(rng_key, algorithm, jnp.asarray(mean), 3000)
    assert int(info.num_evaluations.sum()) == 4 * 3000 * 8
    # The chain of selected points, and all N draws per iteration in order.
    assert_moments(last, mean, np.diag(cov))
    draws = nsb.multi_proposal_draws(info.points, info.indices)
    assert_moments(np.reshape(draws, (4, -1, 10)), mean, np.diag(cov))
    # Rao-Blackwellised mean: gate on the ESS of the per-iteration conditional expectations.
    per_iteration = np.asarray(jnp.einsum("ctj,ctjd->ctd", info.weights, info.points))
    ess = effective_sample_size(per_iteration)
    estimate = np.asarray(nsb.rao_blackwell_mean(info.points, info.weights))
    np.testing.assert_allclose(estimate, per_iteration.mean(axis=(0, 1)), rtol=1e-10)
    np.testing.assert_array_less(np.abs(estimate - mean), 5 * np.sqrt(np.diag(cov) / ess))
    second = nsb.rao_blackwell_mean(info.points, info.weights, lambda x: (x - mean) ** 2)
    assert np.all(np.abs(np.asarray(second) / np.diag(cov) - 1) < 0.15)


def test_moments_on_banana_pytree(rng_key):
    algorithm = nsb.multi_proposal(
        banana_logdensity, covariance=jnp.array([1.0, 3.0]), num_proposals=4, scale=1.0
    )
    position = {"x0": jnp.asarray(0.0), "x1": jnp.asarray(1.0)}
    last, info = _run(rng_key, algorithm, position, 8000)
    assert info.points["x0"].shape == (4, 8000, 5)
    draws = np.stack([last["x0"], last["x1"]], axis=-1)
    assert_moments(draws, [0.0, 1.0], [BANANA_VAR["x0"], BANANA_VAR["x1"]])
    rb = nsb.rao_blackwell_mean(info.points, info.weights)
    assert abs(float(rb["x1"]) - BANANA_MEAN["x1"]) < 0.1


def test_adaptation_with_weighted_points_finds_covariance(rng_key):
    mean, cov, logdensity = correlated_gaussian(5, 50.0)
    kernel = _multi_proposal.build_kernel(8)
    adaptive = nsb.build_adaptive_step(
        kernel,
        lambda state, info: (_multi_proposal.flat_points(info), info.weights),
        target_acceptance=0.4,
    )
    init = (_multi_proposal.init(jnp.zeros(5), logdensity), nsb.covariance_adaptation_init(5))

    def warm(key, carry):
        state, adaptation = carry
        state, adaptation, info = adaptive(key, state, adaptation, logdensity)
        return (state, adaptation), info.acceptance_rate

    (_, adaptations), acceptance = run_chains(rng_key, warm, tree_stack(init, 2), 3000, 2)
    adapted = np.asarray(jax.vmap(nsb.adapted_covariance)(adaptations))
    errors = np.linalg.norm(adapted - cov, axis=(1, 2)) / np.linalg.norm(cov)
    assert np.all(errors < 0.3), errors
    assert abs(float(acceptance[:, -1000:].mean()) - 0.4) < 0.08


def test_weighted_running_covariance_is_exact():
    rng = np.random.default_rng(1)
    batches = rng.normal(size=(50, 4, 3))
    weights = rng.dirichlet(np.ones(4), size=50)
    state = nsb.covariance_adaptation_init(3, prior_weight=1e-12)
    update = jax.jit(lambda s, p, w: nsb.covariance_adaptation_update(s, p, 0.2, w))
    for points, w in zip(batches, weights, strict=True):
        state = update(state, points, w)
    flat = batches.reshape(-1, 3)
    flat_w = weights.reshape(-1)
    mean = flat_w @ flat / 50
    expected = ((flat - mean) * flat_w[:, None]).T @ (flat - mean) / 50
    np.testing.assert_allclose(state.mean, mean, rtol=1e-10)
    np.testing.assert_allclose(nsb.adapted_covariance(state), expected, rtol=1e-8)


def test_robbins_monro_moves_scale_toward_target():
    state = nsb.covariance_adaptation_init(2, scale=1.0)
    high = nsb.covariance_adaptation_update(state, jnp.zeros(2), 0.9, adapt_covariance=False)
    low = nsb.covariance_adaptation_update(state, jnp.zeros(2), 0.0, adapt_covariance=False)
    assert float(high.log_scale) == pytest.approx(0.9 - 0.234)
    assert float(low.log_scale) == pytest.approx(-0.234)
    restarted = nsb.covariance_adaptation_restart(high)
    assert float(restarted.count) == 0.0
    np.testing.assert_allclose(restarted.prior_covariance, nsb.adapted_covariance(high))


def test_kernel_does_not_recompile(rng_key):
    _, cov, logdensity = correlated_gaussian(3, 5.0)
    kernel = _multi_proposal.build_kernel(4)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(key, state, factor):
        return kernel(key, state, logdensity, factor)

    state = _multi_proposal.init(jnp.zeros(3), logdensity)
    for i in range(3):
        factor = (1.0 + i) * jnp.linalg.cholesky(cov)
        state, _ = step(jax.random.fold_in(rng_key, i), state, factor)
    chex.clear_trace_counter()


def test_bad_num_proposals():
    with pytest.raises(ValueError, match="num_proposals"):
        _multi_proposal.build_kernel(0)


def _mixture_logdensity(x):
    # 0.3 N(-2, 0.6²) + 0.7 N(1.5, 1): skewed and bimodal, so invariance is not a Gaussian accident.
    return jnp.logaddexp(
        jnp.log(0.3) - 0.5 * ((x[0] + 2.0) / 0.6) ** 2 - jnp.log(0.6),
        jnp.log(0.7) - 0.5 * (x[0] - 1.5) ** 2,
    )


def _mixture_cdf(q):
    from scipy.stats import norm

    return 0.3 * norm.cdf(q, -2.0, 0.6) + 0.7 * norm.cdf(q, 1.5, 1.0)


@pytest.mark.slow
@pytest.mark.parametrize("num_proposals", [1, 4, 16])
def test_invariance_long_run_on_bimodal_target(rng_key, num_proposals):
    algorithm = nsb.multi_proposal(
        _mixture_logdensity, covariance=jnp.array([2.0]), num_proposals=num_proposals
    )
    _, info = _run(rng_key, algorithm, jnp.array([1.5]), 40000)
    draws = np.asarray(nsb.multi_proposal_draws(info.points, info.indices))[..., 0]
    draws = draws.reshape(4, -1)
    for q in (-2.5, -1.0, 0.0, 1.5, 3.0):
        indicator = (draws < q).astype(float)[..., None]
        ess = float(effective_sample_size(indicator)[0])
        p = _mixture_cdf(q)
        assert abs(indicator.mean() - p) < 5 * np.sqrt(p * (1 - p) / ess), (q, ess)
    # Rao-Blackwellised probabilities agree as well.
    rb = nsb.rao_blackwell_mean(info.points, info.weights, lambda x: (x[0] < 0.0) * 1.0)
    assert abs(float(rb) - _mixture_cdf(0.0)) < 0.02
