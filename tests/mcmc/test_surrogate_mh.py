import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from blackjax.util import run_inference_algorithm
from numpyro.infer import MCMC
from numpyro.infer.util import initialize_model

from numpyro_semipar.mcmc import (
    RandomWalkMH,
    SurrogateMH,
    decision_errors,
    importance_diagnostics,
    train_surrogate,
)
from numpyro_semipar.mcmc import blackjax as nsb


def model():
    # constrained sites, so the unconstrained log density includes Jacobians
    scale = numpyro.sample("scale", dist.LogNormal(0.0, 0.5))
    loc = numpyro.sample("loc", dist.Normal(0.0, 1.0).expand([2]))
    numpyro.sample("y", dist.Normal(loc, scale), obs=jnp.array([[0.3, -0.2], [0.8, 0.1]]))


def test_surrogate_mh_with_exact_surrogate_is_exact_mh(rng_key):
    info = initialize_model(jax.random.key(0), model, dynamic_args=False)
    exact = lambda z: -info.potential_fn(z)  # noqa: E731
    runs = []
    for kernel in (RandomWalkMH(model), SurrogateMH(model, surrogate=exact)):
        mcmc = MCMC(kernel, num_warmup=100, num_samples=200, progress_bar=False)
        mcmc.run(rng_key, extra_fields=("info.is_accepted",))
        runs.append(mcmc)
    exact_run, surrogate_run = runs
    for site, draws in exact_run.get_samples().items():
        np.testing.assert_array_equal(surrogate_run.get_samples()[site], draws)
    np.testing.assert_array_equal(
        surrogate_run.get_extra_fields()["info.is_accepted"],
        exact_run.get_extra_fields()["info.is_accepted"],
    )
    # the surrogate chain never evaluates the model
    assert int(np.sum(surrogate_run.get_extra_fields()["num_evaluations"])) == 0
    assert int(np.sum(exact_run.get_extra_fields()["num_evaluations"])) == 200


def test_fast_surrogate_chains_equal_the_kernel(rng_key):
    target = lambda x: -0.5 * jnp.sum(x**2) - 0.1 * jnp.sum(x**4)  # noqa: E731
    factor = jnp.linalg.cholesky(jnp.array([[1.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]]))
    x0 = jnp.array([0.5, -0.5, 0.1])
    algorithm = nsb.random_walk(target, cholesky=factor)
    _, (states, infos) = run_inference_algorithm(
        rng_key, algorithm, 400, initial_state=algorithm.init(x0)
    )
    fast = nsb.sample_surrogate_chains(rng_key, target, x0, factor, 400, block_size=200)
    np.testing.assert_allclose(fast.positions, states.position, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast.logdensities, states.logdensity, rtol=1e-12)
    assert float(fast.acceptance_rate) == float(np.mean(infos.is_accepted))
    # many chains: chain c is the single chain run with split(rng_key, C)[c]
    starts = jnp.stack([x0, -x0])
    many = nsb.sample_surrogate_chains(rng_key, target, starts, factor, 400, thin=4)
    second = nsb.sample_surrogate_chains(
        jax.random.split(rng_key, 2)[1], target, -x0, factor, 400, thin=4
    )
    assert many.positions.shape == (2, 100, 3)
    np.testing.assert_allclose(many.positions[1], second.positions, rtol=1e-12, atol=1e-12)


def test_decision_errors_on_a_constructed_case():
    # 1-D steps from x = 0; exact Δ_i = a_i; surrogate π̃(z) = c z, so Δ̃_i = c y_i
    a = np.array([0.0, -1.0, -3.0, -0.5, 0.2, -2.0, -0.1, -5.0])
    y = np.array([1.0, -0.5, 2.0, 0.5, -1.0, 3.0, 0.25, -4.0])
    c = -1.0
    log_u = np.log(np.array([0.5, 0.5, 0.1, 0.9, 0.2, 0.04, 0.95, 0.001]))
    result = decision_errors(
        lambda z: c * z[0],
        np.zeros((8, 1)),
        y[:, None],
        np.zeros(8),
        a,
        log_uniforms=log_u,
    )
    accept = log_u < a
    accept_hat = log_u < c * y
    alpha, alpha_hat = np.minimum(1, np.exp(a)), np.minimum(1, np.exp(c * y))
    # by hand: Δ̃ = (-1, .5, -2, -.5, 1, -3, -.25, 4), log u = (-.69, -.69, -2.3, -.11, -1.6,
    # -3.2, -.05, -6.9), Δ = a
    assert accept_hat.tolist() == [False, True, True, False, True, True, False, True]
    assert accept.tolist() == [True, False, False, False, True, True, False, True]
    assert result.wrong_accept == 2 / 8  # steps 1 and 2
    assert result.wrong_reject == 1 / 8  # step 0
    np.testing.assert_allclose(
        result.expected_wrong_accept, np.mean(np.maximum(alpha_hat - alpha, 0))
    )
    np.testing.assert_allclose(
        result.expected_wrong_reject, np.mean(np.maximum(alpha - alpha_hat, 0))
    )
    assert result.exact_acceptance == 4 / 8 and result.surrogate_acceptance == 5 / 8


def test_decision_errors_statistically(rng_key):
    # exact: every step accepted (Δ = 0); surrogate: α̂ = 0.3 -> wrong rejects at rate 0.7
    n = 20000
    result = decision_errors(
        lambda z: jnp.log(0.3) * z[0],
        np.zeros((n, 1)),
        np.ones((n, 1)),
        np.zeros(n),
        np.zeros(n),
        rng_key=rng_key,
    )
    assert result.wrong_accept == 0.0
    assert abs(result.wrong_reject - 0.7) < 4 * np.sqrt(0.21 / n)
    np.testing.assert_allclose(result.expected_wrong_reject, 0.7, rtol=1e-6)


def test_importance_reweighting_pareto_k(rng_key):
    draws = np.asarray(jax.random.normal(rng_key, (4000, 1)))
    # surrogate N(0, 1), target N(0.2, 1): light-tailed weights, corrected mean 0.2
    good = importance_diagnostics(
        draws, log_target=-0.5 * (draws[:, 0] - 0.2) ** 2, log_surrogate=-0.5 * draws[:, 0] ** 2
    )
    assert good.pareto_k < 0.5
    assert abs(good.mean[0] - 0.2) < 5 / np.sqrt(good.ess)
    assert good.num_evaluations == 4000
    # surrogate N(0, 0.4²) much narrower than the target N(0, 1): weights with Pareto tail
    # index k = 1 − 0.4² = 0.84
    narrow = 0.4 * draws
    bad = importance_diagnostics(
        narrow,
        logdensity_fn=lambda x: -0.5 * jnp.sum(x**2),
        surrogate_fn=lambda x: -0.5 * jnp.sum((x / 0.4) ** 2),
    )
    assert bad.pareto_k > 0.7
    assert bad.ess_fraction < good.ess_fraction


_TWO_DEVICES_SCRIPT = """
import jax
jax.config.update("jax_num_cpu_devices", 2)
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import numpy as np
from numpyro_semipar.mcmc import blackjax as nsb

target = lambda x: -0.5 * jnp.sum(x**2) - 0.1 * jnp.sum(x**4)
factor = jnp.linalg.cholesky(jnp.array([[1.0, 0.3], [0.3, 0.5]]))
starts = jnp.array([[0.5, -0.5], [0.0, 1.0], [-1.0, 0.2], [0.3, 0.3]])
key = jax.random.key(3)
split = nsb.sample_surrogate_chains(key, target, starts, factor, 300, thin=3, block_size=150)
one = nsb.sample_surrogate_chains(
    key, target, starts, factor, 300, thin=3, block_size=150, devices=jax.devices()[:1]
)
assert len(split.positions.sharding.device_set) == 2
assert len(one.positions.sharding.device_set) == 1
np.testing.assert_array_equal(np.asarray(split.positions), np.asarray(one.positions))
np.testing.assert_array_equal(np.asarray(split.acceptance_rate), np.asarray(one.acceptance_rate))
# three chains do not split over two devices: one device, same chains as before
three = nsb.sample_surrogate_chains(key, target, starts[:3], factor, 300, thin=3)
assert len(three.positions.sharding.device_set) == 1
print("ok")
"""


@pytest.mark.slow
def test_chains_split_over_cpu_devices_are_the_same_chains():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _TWO_DEVICES_SCRIPT], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "ok"


def test_fast_chains_take_a_trained_surrogate(rng_key):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 2))
    y = -0.5 * np.sum(x**2, axis=1)
    surrogate = train_surrogate(
        x, y, hidden_sizes=(8,), num_epochs=2, batch_size=64, progress_bar=False
    )
    factor = jnp.eye(2, dtype=jnp.float32)
    starts = jnp.zeros((3, 2), jnp.float32)
    runs = [
        nsb.sample_surrogate_chains(rng_key, fn, starts, factor, 50)
        for fn in (surrogate, surrogate.flat_logdensity, lambda z: surrogate(z))
    ]
    for run in runs[1:]:
        np.testing.assert_array_equal(run.positions, runs[0].positions)
    # the recorded log densities are the surrogate's at the recorded positions
    np.testing.assert_allclose(
        runs[0].logdensities, surrogate(runs[0].positions), rtol=1e-5, atol=1e-5
    )
