import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC

from numpyro_semipar.mcmc import (
    MultiProposalMH,
    RandomWalkMH,
    multi_proposal_samples,
    rao_blackwell_estimate,
)
from numpyro_semipar.mcmc import blackjax as nsb
from tests.mcmc._mh_targets import assert_moments

# A correlated pair and a positive scale with a known posterior: sigma ~ LogNormal(0.3, 0.4),
# so E[sigma] = exp(0.3 + 0.4²/2) and Var[sigma] = (exp(0.4²) − 1) exp(2·0.3 + 0.4²).
_COV = np.array([[1.0, 0.8], [0.8, 1.0]])
_SIGMA_MEAN = np.exp(0.3 + 0.08)
_SIGMA_VAR = (np.exp(0.16) - 1) * np.exp(0.6 + 0.16)


def model():
    numpyro.sample("beta", dist.MultivariateNormal(jnp.array([1.0, -1.0]), jnp.asarray(_COV)))
    numpyro.sample("sigma", dist.LogNormal(0.3, 0.4))


def _draws(samples):
    return np.concatenate([samples["beta"], samples["sigma"][..., None]], axis=-1)


_MEAN = np.array([1.0, -1.0, _SIGMA_MEAN])
_VAR = np.array([1.0, 1.0, _SIGMA_VAR])


@pytest.mark.parametrize(
    "kernel_fn",
    [lambda: RandomWalkMH(model), lambda: MultiProposalMH(model, num_proposals=8)],
    ids=["random_walk", "multi_proposal"],
)
def test_vectorized_chains_constrained_site_summary_and_arviz(kernel_fn, rng_key, capsys):
    kernel = kernel_fn()
    mcmc = MCMC(
        kernel,
        num_warmup=1000,
        num_samples=2500,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(rng_key)
    samples = mcmc.get_samples(group_by_chain=True)
    assert np.all(samples["sigma"] > 0)
    # The constrained scale is mapped back from the unconstrained chain (log sigma).
    np.testing.assert_allclose(samples["sigma"][:, -1], np.exp(mcmc.last_state.z["sigma"]))
    assert_moments(_draws(samples), _MEAN, _VAR)

    extra = mcmc.get_extra_fields(group_by_chain=True)
    expected = getattr(kernel, "num_proposals", 1)
    assert np.all(np.asarray(extra["num_evaluations"]) == expected)
    lp = -np.asarray(extra["potential_energy"])
    assert np.all(np.isfinite(lp))

    mcmc.print_summary()
    assert "sigma" in capsys.readouterr().out
    tree = az.from_numpyro(mcmc, log_likelihood=True)
    stats = tree["sample_stats"]
    assert {"lp", "acceptance_rate", "num_evaluations"} <= set(stats.data_vars)
    np.testing.assert_allclose(stats["lp"].values, lp)
    summary = az.summary(tree, var_names=["sigma"])
    assert abs(float(summary["mean"].iloc[0]) - _SIGMA_MEAN) < 0.05


def test_potential_fn_sequential_chains_and_continuation(rng_key):
    precision = jnp.linalg.inv(jnp.asarray(_COV))

    def potential(z):
        r = z["b"] - jnp.array([1.0, -1.0])
        return 0.5 * r @ precision @ r

    kernel = RandomWalkMH(potential_fn=potential)
    mcmc = MCMC(
        kernel,
        num_warmup=1000,
        num_samples=1500,
        num_chains=2,
        chain_method="sequential",
        progress_bar=False,
    )
    init = {"b": jnp.zeros((2, 2))}
    mcmc.run(rng_key, init_params=init)
    first = mcmc.get_samples(group_by_chain=True)["b"]
    state = mcmc.last_state
    assert np.all(np.asarray(state.iteration) == 2500)
    covariance = jax.vmap(nsb.adapted_covariance)(state.adaptation_state)
    np.testing.assert_allclose(np.asarray(covariance), np.broadcast_to(_COV, (2, 2, 2)), atol=0.4)

    # Continue from the last state: no warm-up, the adapted proposal is kept frozen.
    mcmc.post_warmup_state = state
    mcmc.run(jax.random.fold_in(rng_key, 1))
    second = mcmc.get_samples(group_by_chain=True)["b"]
    later = mcmc.last_state
    assert np.all(np.asarray(later.iteration) == 4000)
    np.testing.assert_array_equal(
        np.asarray(later.adaptation_state.cholesky), np.asarray(state.adaptation_state.cholesky)
    )
    draws = np.concatenate([first, second], axis=1)
    assert_moments(draws, [1.0, -1.0], [1.0, 1.0])


def test_init_at_mode_starts_near_mode(rng_key):
    kernel = RandomWalkMH(model, init_at_mode=True, mode_init_scale=0.0)
    # No warm-up: the proposal stays at the Laplace covariance.
    mcmc = MCMC(kernel, num_warmup=0, num_samples=10, progress_bar=False)
    mcmc.run(rng_key, extra_fields=("adaptation_state",))
    # Unconstrained, log sigma ~ N(0.3, 0.4²) exactly (the Jacobian cancels the 1/sigma).
    np.testing.assert_allclose(kernel.mode["beta"], [1.0, -1.0], atol=1e-5)
    np.testing.assert_allclose(kernel.mode["sigma"], 0.3, atol=1e-5)
    prior = np.asarray(mcmc.get_extra_fields()["adaptation_state"].prior_covariance[0])
    np.testing.assert_allclose(prior[:2, :2], _COV, atol=1e-5)
    np.testing.assert_allclose(prior[2, 2], 0.16, atol=1e-5)


def test_evaluation_callback_and_extra_fields_see_every_proposal(rng_key):
    seen = []
    kernel = MultiProposalMH(
        model, num_proposals=4, evaluation_callback=lambda p, ld: seen.append((p, ld))
    )
    mcmc = MCMC(kernel, num_warmup=5, num_samples=7, progress_bar=False)
    mcmc.run(rng_key, extra_fields=("info.points", "info.logdensities"))
    jax.effects_barrier()
    assert len(seen) == 12
    points, logdensities = seen[-1]
    assert np.asarray(points["beta"]).shape == (4, 2)
    extra = mcmc.get_extra_fields()
    np.testing.assert_allclose(np.asarray(extra["info.logdensities"])[-1, 1:], logdensities)
    logdensity = kernel.logdensity_fn()
    recomputed = jax.vmap(logdensity)(jax.tree.map(lambda x: x[-1], extra["info.points"]))
    np.testing.assert_allclose(np.asarray(recomputed), np.asarray(extra["info.logdensities"])[-1])


def test_bad_arguments():
    with pytest.raises(ValueError, match="Only one"):
        RandomWalkMH()
    with pytest.raises(ValueError, match="target_acceptance"):
        RandomWalkMH(model, target_acceptance=1.5)
    with pytest.raises(ValueError, match="num_proposals"):
        MultiProposalMH(model, num_proposals=0)
    with pytest.raises(TypeError, match="num_proposals"):
        MultiProposalMH(model, num_proposals=2.5)
    with pytest.raises(ValueError, match="init_params"):
        MCMC(RandomWalkMH(potential_fn=lambda z: 0.0), num_warmup=1, num_samples=1).run(
            jax.random.key(0)
        )


def test_rao_blackwell_estimate_and_all_draws_from_mcmc(rng_key):
    kernel = MultiProposalMH(model, num_proposals=4)
    mcmc = MCMC(
        kernel,
        num_warmup=500,
        num_samples=1500,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(rng_key, extra_fields=("info.points", "info.weights", "info.indices"))
    draws = multi_proposal_samples(mcmc, group_by_chain=True)
    assert draws["sigma"].shape == (2, 1500 * 4)
    assert np.all(draws["sigma"] > 0)
    # The last of the N draws of each iteration is the NumPyro sample of that iteration.
    samples = mcmc.get_samples(group_by_chain=True)
    np.testing.assert_allclose(draws["sigma"].reshape(2, 1500, 4)[..., -1], samples["sigma"])
    assert_moments(_draws(draws), _MEAN, _VAR)
    estimate = rao_blackwell_estimate(mcmc)
    # Constrained before averaging: E[sigma], not exp(E[log sigma]).
    assert abs(float(estimate["sigma"]) - _SIGMA_MEAN) < 0.06
    np.testing.assert_allclose(estimate["beta"], [1.0, -1.0], atol=0.15)
    second = rao_blackwell_estimate(mcmc, lambda site: site["sigma"] ** 2)
    assert abs(float(second) - (_SIGMA_VAR + _SIGMA_MEAN**2)) < 0.15


class _RunWithoutInfo:
    def get_extra_fields(self, group_by_chain=False):
        return {"potential_energy": np.zeros(3)}


def test_rao_blackwell_estimate_needs_the_info_fields():
    with pytest.raises(ValueError, match="extra_fields"):
        rao_blackwell_estimate(_RunWithoutInfo())


_PARALLEL_SCRIPT = """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np, numpyro, numpyro.distributions as dist
from numpyro.infer import MCMC
from numpyro_semipar.mcmc import (
    MultiProposalMH,
    RandomWalkMH,
    multi_proposal_samples,
    rao_blackwell_estimate,
)

def model():
    numpyro.sample("sigma", dist.LogNormal(0.3, 0.4))

for kernel in (RandomWalkMH(model), MultiProposalMH(model, num_proposals=4)):
    mcmc = MCMC(kernel, num_warmup=500, num_samples=2000, num_chains=2,
                chain_method="parallel", progress_bar=False)
    mcmc.run(jax.random.key(0))
    s = mcmc.get_samples(group_by_chain=True)["sigma"]
    print(s.shape[0], float(np.mean(np.log(s))), int(mcmc.last_state.iteration[0]))
"""


@pytest.mark.slow
def test_parallel_chains_in_a_fresh_process():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _PARALLEL_SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    for chains, log_mean, iteration in zip(out[::3], out[1::3], out[2::3], strict=True):
        assert int(chains) == 2
        assert int(iteration) == 2500
        # log sigma ~ N(0.3, 0.4²): a loose gate (ESS of 2 × 2000 RWMH draws is > 400).
        assert abs(float(log_mean) - 0.3) < 5 * 0.4 / np.sqrt(400)


@pytest.mark.parametrize("kernel_class", [RandomWalkMH, MultiProposalMH])
def test_kernel_sample_does_not_recompile_across_warmup_and_sampling(kernel_class, rng_key):
    import chex

    kernel = kernel_class(potential_fn=lambda z: 0.5 * jnp.sum(z**2))
    state = kernel.init(rng_key, 3, jnp.zeros(2), (), {})

    @jax.jit
    @chex.assert_max_traces(n=1)
    def sample(state):
        return kernel.sample(state, (), {})

    # Warm-up iterations (adapting) and sampling iterations run the same compiled step.
    for _ in range(6):
        state = sample(state)
    assert int(state.iteration) == 6
    chex.clear_trace_counter()


def test_arviz_log_likelihood_group_for_observed_sites(rng_key):
    data = jnp.array([0.3, -0.2, 1.1, 0.4, 0.0])

    def regression(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        with numpyro.plate("obs", y.shape[0]):
            numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    mcmc = MCMC(
        RandomWalkMH(regression),
        num_warmup=100,
        num_samples=50,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(rng_key, data)
    tree = az.from_numpyro(mcmc, log_likelihood=True)
    loglik = tree["log_likelihood"]["y"].values
    assert loglik.shape == (2, 50, 5)
    mu = tree["posterior"]["mu"].values
    expected = dist.Normal(mu[..., None], 1.0).log_prob(data)
    np.testing.assert_allclose(loglik, expected, rtol=1e-10)


def test_plain_python_float_init_params(rng_key):
    # NumPyro users pass init values as plain floats; the adapter must accept them.
    kernel = RandomWalkMH(potential_fn=lambda z: 0.5 * (z["a"] - 2.0) ** 2)
    state = kernel.init(rng_key, 10, {"a": 0.5}, (), {})
    assert kernel.sample_field == "z"
    np.testing.assert_allclose(np.asarray(state.z["a"]), 0.5)
    np.testing.assert_allclose(np.asarray(state.potential_energy), 0.5 * 1.5**2)


@pytest.mark.parametrize(
    ("init", "match"),
    [({"x": 0.5}, r"missing \['s'\], unknown \[\]"), ({"x": 0.5, "s": 0.1, "zz": 1.0}, "'zz'")],
    ids=["missing", "unknown"],
)
def test_init_params_must_name_the_latent_sites(init, match, rng_key):
    # An unknown entry would silently become a coordinate of the random walk; a missing one
    # failed deep inside NumPyro with a bare AssertionError.
    def model():
        numpyro.sample("x", dist.Normal(0.0, 1.0))
        numpyro.sample("s", dist.HalfNormal(1.0))

    mcmc = MCMC(RandomWalkMH(model), num_warmup=10, num_samples=10, progress_bar=False)
    with pytest.raises(ValueError, match=match):
        mcmc.run(rng_key, init_params=init)


def test_given_init_params_start_the_chain_on_a_model_with_invalid_regions(rng_key):
    # The model's log density is -inf for x > 1: a prior draw (NumPyro's default search) may be
    # invalid, the given start is not; the kernel must start exactly there, unconstrained.
    def model():
        x = numpyro.sample("x", dist.Normal(0.0, 3.0))
        numpyro.factor("cut", jnp.where(x < 1.0, 0.0, -jnp.inf))

    kernel = RandomWalkMH(model)
    state = kernel.init(rng_key, 10, {"x": -0.5}, (), {})
    np.testing.assert_allclose(np.asarray(state.z["x"]), -0.5)
    assert np.isfinite(float(state.potential_energy))
