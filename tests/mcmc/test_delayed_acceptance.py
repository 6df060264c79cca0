import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from blackjax.util import run_inference_algorithm
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import MCMC

from numpyro_semipar.mcmc import DelayedAcceptanceMH, host_logdensity
from numpyro_semipar.mcmc import blackjax as nsb

# x0 ~ N(0, 1), x1 | x0 ~ N(x0² / 2, 0.6²): E x1 = 1/2, Var x1 = Var(x0²)/4 + 0.36 = 0.86
BANANA_MEAN = np.array([0.0, 0.5])
BANANA_VAR = np.array([1.0, 0.86])


def banana(x):
    return -0.5 * x[0] ** 2 - 0.5 * ((x[1] - 0.5 * x[0] ** 2) / 0.6) ** 2


def wrong_surrogate(x):
    # a deliberately wrong Gaussian: shifted mean, wrong scales, no curvature
    return -0.5 * (x[0] - 0.5) ** 2 / 2.0 - 0.5 * (x[1] - 0.3) ** 2


def heavy_wrong_surrogate(x):
    # Also deliberately wrong (shifted, wrong scales, no curvature), but with tails heavier than
    # the banana's: with many surrogate steps the proposal is nearly an independent draw from
    # π̃, and a lighter-tailed π̃ would make π/π̃ unbounded and the chain sticky in the tails
    # (no variance bounding; Sherlock, Thiery & Lee 2021). Exact either way, but not ESS-gated.
    return -0.5 * (x[0] - 0.5) ** 2 / 4.0 - jnp.abs(x[1] - 0.3) / 1.5


def assert_moments(draws, mean, variance, num_sd=5.0):
    """|mean − μ| < 5 sd/√ESS, and the same for the second central moments."""
    draws = np.asarray(draws, np.float64)
    ess = effective_sample_size(draws)
    assert np.all(ess > 200), ess
    np.testing.assert_array_less(
        np.abs(draws.mean(axis=(0, 1)) - mean), num_sd * np.sqrt(variance) / np.sqrt(ess)
    )
    squares = (draws - mean) ** 2
    ess_sq = effective_sample_size(squares)
    sd_sq = squares.reshape(-1, draws.shape[-1]).std(axis=0)
    np.testing.assert_array_less(
        np.abs(squares.mean(axis=(0, 1)) - variance), num_sd * sd_sq / np.sqrt(ess_sq)
    )
    return ess


def run(algorithm, rng_key, num_chains, num_steps, init):
    def one(key):
        _, (states, infos) = run_inference_algorithm(
            key, algorithm, num_steps, initial_state=algorithm.init(init)
        )
        return states, infos

    return jax.jit(jax.vmap(one))(jax.random.split(rng_key, num_chains))


def test_delayed_acceptance_with_wrong_surrogate_recovers_banana(rng_key):
    algorithm = nsb.delayed_acceptance(
        banana, wrong_surrogate, covariance=jnp.array([1.0, 0.86]), scale=1.7
    )
    states, infos = run(algorithm, rng_key, num_chains=8, num_steps=6000, init=jnp.zeros(2))
    draws = states.position[:, 1000:]
    assert_moments(draws, BANANA_MEAN, BANANA_VAR)
    evaluations = np.asarray(infos.num_evaluations)
    # exact evaluations only for stage-1 survivors, and the wrong surrogate's accepts are
    # corrected: many survivors are rejected at stage 2
    np.testing.assert_array_equal(evaluations, np.asarray(infos.first_stage_accepted))
    assert 0.2 < evaluations.mean() < 0.8
    stage2_reject = np.asarray(infos.first_stage_accepted & ~infos.is_accepted).mean()
    assert stage2_reject > 0.05
    # a stage-1 rejection leaves the exact log density unevaluated (NaN)
    assert np.all(np.isnan(np.asarray(infos.proposal_logdensity)[evaluations == 0]))


def test_mh_on_the_wrong_surrogate_samples_the_surrogate(rng_key):
    # the seed's approximation: plain MH on the surrogate returns the surrogate's moments
    algorithm = nsb.surrogate_mh(wrong_surrogate, covariance=jnp.array([2.0, 1.0]), scale=1.4)
    states, _ = run(algorithm, rng_key, num_chains=8, num_steps=3000, init=jnp.zeros(2))
    draws = states.position[:, 500:]
    assert_moments(draws, np.array([0.5, 0.3]), np.array([2.0, 1.0]))
    ess = effective_sample_size(np.asarray(draws))
    assert abs(float(draws[..., 1].mean()) - 1.0) > 10 * 1.5 / np.sqrt(ess[1])


def test_stage_one_rejections_skip_the_exact_evaluation(rng_key):
    calls = []

    def counted(x):
        calls.append(1)
        return float(banana(x))

    exact = host_logdensity(counted)
    algorithm = nsb.delayed_acceptance(exact, wrong_surrogate, covariance=jnp.ones(2), scale=2.0)
    state = algorithm.init(jnp.zeros(2))
    _, (_, infos) = run_inference_algorithm(rng_key, algorithm, 300, initial_state=state)
    assert len(calls) == 1 + int(np.sum(infos.num_evaluations))
    assert len(calls) < 250


@pytest.mark.parametrize("num_surrogate_steps", [25])
def test_surrogate_transition_with_wrong_surrogate_recovers_banana(num_surrogate_steps, rng_key):
    # k MH steps on a deliberately wrong surrogate propose; the exact correction keeps π.
    algorithm = nsb.delayed_acceptance(
        banana,
        heavy_wrong_surrogate,
        covariance=jnp.array([2.0, 1.0]),
        scale=1.2,
        num_surrogate_steps=num_surrogate_steps,
    )
    states, infos = run(algorithm, rng_key, num_chains=8, num_steps=6000, init=jnp.zeros(2))
    draws = states.position[:, 500:]
    assert_moments(draws, BANANA_MEAN, BANANA_VAR)
    moved = np.asarray(infos.num_surrogate_accepted) > 0
    # one exact evaluation per iteration, none when the surrogate chain stayed put
    np.testing.assert_array_equal(np.asarray(infos.num_evaluations), moved)
    np.testing.assert_array_equal(np.asarray(infos.first_stage_accepted), moved)
    assert moved.mean() > 0.95
    assert np.all(np.isnan(np.asarray(infos.proposal_logdensity)[~moved]))
    # the wrong surrogate's proposals are often corrected away
    stage2_reject = np.asarray(infos.first_stage_accepted & ~infos.is_accepted).mean()
    assert stage2_reject > 0.05
    assert 0.1 < float(np.mean(infos.first_stage_acceptance_rate)) < 0.9


def test_surrogate_transition_with_exact_surrogate_always_accepts(rng_key):
    # π̃ = π: the exact ratio is 1, every move of the surrogate chain is kept, so the chain is
    # k-step random-walk MH on π and its draws every k steps are nearly independent.
    algorithm = nsb.delayed_acceptance(
        banana, banana, covariance=jnp.array([1.0, 0.86]), scale=1.5, num_surrogate_steps=20
    )
    states, infos = run(algorithm, rng_key, num_chains=4, num_steps=1500, init=jnp.zeros(2))
    moved = np.asarray(infos.first_stage_accepted)
    np.testing.assert_allclose(np.asarray(infos.second_stage_acceptance_rate)[moved], 1.0)
    np.testing.assert_array_equal(np.asarray(infos.is_accepted), moved)
    ess = assert_moments(states.position[:, 200:], BANANA_MEAN, BANANA_VAR)
    # far more effective draws than iterations / 10 (plain RWMH on the banana: ~ n / 15)
    assert np.all(ess > 0.25 * 4 * 1300), ess


def test_second_stage_ratio_on_a_constructed_case(rng_key):
    # π̃ = π + δ with δ(x) = 0.7 x0: α₂ = min{1, exp(δ(x) − δ(y))} exactly, for any k. Steps
    # that raise δ are the surrogate's wrong accepts and are the stage-2 rejections.
    def tilted(x):
        return banana(x) + 0.7 * x[0]

    for k in (1, 7):
        algorithm = nsb.delayed_acceptance(
            banana, tilted, covariance=jnp.ones(2), scale=1.0, num_surrogate_steps=k
        )
        state = algorithm.init(jnp.array([0.3, 0.1]))
        _, (states, infos) = run_inference_algorithm(rng_key, algorithm, 400, initial_state=state)
        previous = np.concatenate([[0.3], np.asarray(states.position[:-1, 0])])
        y0 = np.asarray(infos.proposal[:, 0])
        moved = np.asarray(infos.first_stage_accepted)
        expected = np.minimum(1.0, np.exp(0.7 * (previous - y0)))
        np.testing.assert_allclose(
            np.asarray(infos.second_stage_acceptance_rate)[moved], expected[moved], rtol=1e-10
        )
        accepted = np.asarray(infos.is_accepted)
        # stage-2 rejections (corrected wrong accepts) happen only where δ went up ...
        rejected = moved & ~accepted
        assert rejected.sum() > 5
        assert np.all(y0[rejected] > previous[rejected])
        # ... and every move that lowered δ is kept
        np.testing.assert_array_equal(accepted[moved & (y0 < previous)], True)


def test_surrogate_transition_skips_the_exact_evaluation_when_it_stays(rng_key):
    calls = []

    def counted(x):
        calls.append(1)
        return float(banana(x))

    exact = host_logdensity(counted)
    # a huge step: most surrogate steps are rejected, so some k-step chains never move
    algorithm = nsb.delayed_acceptance(
        exact, wrong_surrogate, covariance=jnp.ones(2), scale=12.0, num_surrogate_steps=3
    )
    state = algorithm.init(jnp.zeros(2))
    _, (_, infos) = run_inference_algorithm(rng_key, algorithm, 300, initial_state=state)
    evaluations = np.asarray(infos.num_evaluations)
    assert len(calls) == 1 + int(evaluations.sum())
    assert 0 < evaluations.sum() < 280
    np.testing.assert_array_equal(evaluations, np.asarray(infos.num_surrogate_accepted) > 0)


def test_bad_number_of_surrogate_steps():
    with pytest.raises(ValueError, match="num_surrogate_steps"):
        nsb.delayed_acceptance(banana, banana, covariance=jnp.ones(2), num_surrogate_steps=0)
    with pytest.raises(ValueError, match="num_surrogate_steps"):
        DelayedAcceptanceMH(banana_model, surrogate=banana, num_surrogate_steps=2.5)


def banana_model():
    x0 = numpyro.sample("x0", dist.Normal(0.0, 1.0))
    numpyro.sample("x1", dist.Normal(0.5 * x0**2, 0.6))


@pytest.mark.slow
def test_numpyro_kernel_recovers_banana_with_wrong_surrogate(rng_key):
    kernel = DelayedAcceptanceMH(
        banana_model, surrogate=lambda p: wrong_surrogate(jnp.stack([p["x0"], p["x1"]]))
    )
    # Long chains: the banana's ESS varies several-fold between keys at this length.
    mcmc = MCMC(
        kernel,
        num_warmup=1500,
        num_samples=10000,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(rng_key, extra_fields=("info.first_stage_accepted", "info.is_accepted"))
    samples = mcmc.get_samples(group_by_chain=True)
    draws = np.stack([samples["x0"], samples["x1"]], axis=-1)
    assert_moments(draws, BANANA_MEAN, BANANA_VAR)
    fields = mcmc.get_extra_fields()
    np.testing.assert_array_equal(fields["num_evaluations"], fields["info.first_stage_accepted"])
    assert 0.1 < float(np.mean(fields["info.is_accepted"])) < 0.5


def test_numpyro_surrogate_transition_kernel_adapts_on_the_surrogate_steps(rng_key):
    kernel = DelayedAcceptanceMH(
        banana_model,
        surrogate=lambda p: heavy_wrong_surrogate(jnp.stack([p["x0"], p["x1"]])),
        num_surrogate_steps=10,
    )
    mcmc = MCMC(
        kernel,
        num_warmup=400,
        num_samples=1500,
        num_chains=2,
        chain_method="sequential",
        progress_bar=False,
    )
    mcmc.run(
        rng_key,
        extra_fields=(
            "info.first_stage_acceptance_rate",
            "info.first_stage_accepted",
            "info.second_stage_acceptance_rate",
        ),
    )
    samples = mcmc.get_samples(group_by_chain=True)
    draws = np.stack([samples["x0"], samples["x1"]], axis=-1)
    assert_moments(draws, BANANA_MEAN, BANANA_VAR)
    fields = mcmc.get_extra_fields()
    np.testing.assert_array_equal(fields["num_evaluations"], fields["info.first_stage_accepted"])
    # accept_prob reports the exact stage: α₂ where evaluated, 0 where the chain stayed
    expected = np.where(
        fields["info.first_stage_accepted"], fields["info.second_stage_acceptance_rate"], 0.0
    )
    np.testing.assert_allclose(fields["accept_prob"], expected)
    # the scale was tuned toward 0.234 of the smaller of the surrogate steps' acceptance and
    # the exact stage's (a wrong surrogate must not get steps the exact check rejects)
    tuned = np.minimum(fields["info.first_stage_acceptance_rate"], expected)
    assert 0.15 < float(np.mean(tuned)) < 0.35
