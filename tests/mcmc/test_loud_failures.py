"""Each way a random-walk chain used to fail silently now raises or warns with the numbers."""

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer import MCMC

from numpyro_semipar import SamplerWarning
from numpyro_semipar.mcmc import DelayedAcceptanceMH, MultiProposalMH, RandomWalkMH
from numpyro_semipar.mcmc.blackjax import _adaptation
from tests.mcmc._posteriordb import load


def gaussian_potential(z):
    return 0.5 * jnp.sum(z["x"] ** 2)


def run(kernel, init_params, num_warmup=100, num_samples=100, **run_kwargs):
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, progress_bar=False)
    mcmc.run(jax.random.key(0), init_params=init_params, **run_kwargs)
    return mcmc


@pytest.mark.parametrize("kernel_class", [RandomWalkMH, MultiProposalMH])
def test_start_with_minus_infinite_log_density_raises(kernel_class):
    def potential(z):  # log density -inf for x < 0
        return jnp.where(z["x"][0] < 0, jnp.inf, gaussian_potential(z))

    with pytest.raises(ValueError, match=r"log density is \[-inf\] at the start of chain"):
        run(kernel_class(potential_fn=potential), {"x": jnp.array([-1.0, 0.0])})


def test_nan_in_init_params_raises_naming_the_entry():
    with pytest.raises(ValueError, match=r"init_params\['x'\] has non-finite values \[nan\]"):
        run(RandomWalkMH(potential_fn=gaussian_potential), {"x": jnp.array([0.0, jnp.nan])})


def test_indefinite_covariance_raises():
    with pytest.raises(ValueError, match="not positive definite"):
        RandomWalkMH(potential_fn=gaussian_potential, covariance=jnp.diag(jnp.array([1.0, -4.0])))
    with pytest.raises(ValueError, match="not symmetric"):
        RandomWalkMH(potential_fn=gaussian_potential, covariance=jnp.array([[1.0, 0.5], [0, 1]]))


def test_chain_that_never_moves_in_warmup_warns():
    def potential(z):  # finite only at the start: every proposal is rejected
        return jnp.where(jnp.all(z["x"] == 0.0), 0.0, jnp.inf)

    with pytest.warns(SamplerWarning, match="did not move during the 100 warm-up iterations"):
        mcmc = run(RandomWalkMH(potential_fn=potential), {"x": jnp.zeros(2)})
    assert np.all(np.asarray(mcmc.get_samples()["x"]) == 0.0)


def test_plus_infinite_region_is_rejected_counted_and_reported():
    # log density +inf for x0 > 1.5: it used to absorb the chain (every move out rejected).
    def potential(z):
        return jnp.where(z["x"][0] > 1.5, -jnp.inf, gaussian_potential(z))

    with pytest.warns(SamplerWarning, match=r"returned NaN or \+inf at \[\d+\] of"):
        mcmc = run(RandomWalkMH(potential_fn=potential), {"x": jnp.zeros(2)}, num_samples=2000)
    draws = np.asarray(mcmc.get_samples()["x"])
    assert draws[:, 0].max() <= 1.5  # never accepted into the +inf region
    assert np.unique(draws[:, 0]).size > 100  # and kept moving
    invalid = np.asarray(mcmc.get_extra_fields()["num_invalid_evaluations"])
    assert invalid.sum() > 0 and set(np.unique(invalid)) <= {0, 1}


def test_nan_log_density_counts_in_sample_stats():
    def potential(z):
        return jnp.where(z["x"][1] > 1.0, jnp.nan, gaussian_potential(z))

    with pytest.warns(SamplerWarning, match="NaN or"):
        mcmc = run(RandomWalkMH(potential_fn=potential), {"x": jnp.zeros(2)}, num_samples=1000)
    assert np.asarray(mcmc.get_samples()["x"])[:, 1].max() <= 1.0
    assert np.asarray(mcmc.get_extra_fields()["num_invalid_evaluations"]).sum() > 0


def test_surrogate_nan_at_start_raises_and_nan_later_warns():
    def nan_everywhere(z):
        return jnp.nan * jnp.sum(z["x"])

    with pytest.raises(ValueError, match="surrogate log density is -inf at the start"):
        run(
            DelayedAcceptanceMH(potential_fn=gaussian_potential, surrogate=nan_everywhere),
            {"x": jnp.zeros(2)},
        )

    def nan_far_out(z):
        return jnp.where(jnp.abs(z["x"][0]) > 1.0, jnp.nan, -gaussian_potential(z))

    kernel = DelayedAcceptanceMH(
        potential_fn=gaussian_potential, surrogate=nan_far_out, exact_warmup_fraction=0.0
    )
    with pytest.warns(SamplerWarning, match=r"surrogate returned NaN or \+inf"):
        run(kernel, {"x": jnp.zeros(2)}, num_samples=1000)


def test_init_at_mode_survives_an_explosive_start_and_does_not_search_twice(monkeypatch):
    # ARMA(1, 1): BFGS from some starts runs into the explosive region (|phi| > 1) with a
    # gradient of 1e19. The search from several starts keeps the best converged mode.
    calls = []
    original = _adaptation.mode_start

    def counting_mode_start(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(_adaptation, "mode_start", counting_mode_start)
    model, model_args, reference = load("arma-arma11")
    kernel = RandomWalkMH(model, init_at_mode=True)
    mcmc = MCMC(
        kernel,
        num_warmup=500,
        num_samples=500,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(1), *model_args)
    for site in ("mu", "phi", "theta"):
        ref = reference[site]
        assert abs(float(kernel.mode[site]) - ref.mean()) < 3 * ref.std()
    assert np.unique(np.asarray(mcmc.get_samples()["phi"])).size > 50  # the chain moves
    mcmc.run(jax.random.key(2), *model_args)
    assert len(calls) == 1  # the second run reused the cached mode


FLOAT32_SCRIPT = textwrap.dedent(
    """
    import sys
    import jax, jax.numpy as jnp, numpy as np, numpyro, numpyro.distributions as dist
    from numpyro.infer import MCMC
    from numpyro_semipar.mcmc import (
        DelayedAcceptanceMH, MultiProposalMH, RandomWalkMH, SurrogateMH, surrogate_posterior
    )
    x64 = "--x64" in sys.argv
    assert jax.config.jax_enable_x64 == x64

    def model():
        numpyro.sample("x", dist.Normal(0.0, 1.0).expand([2]))

    def surrogate(p):
        return -0.5 * jnp.sum(p["x"] ** 2)

    kernels = [
        RandomWalkMH(model, init_at_mode=True),
        MultiProposalMH(model, num_proposals=4),
        DelayedAcceptanceMH(model, surrogate=surrogate),
        SurrogateMH(model, surrogate=surrogate),
    ]
    for kernel in [] if x64 else kernels:
        mcmc = MCMC(kernel, num_warmup=200, num_samples=300, num_chains=2,
                    chain_method="vectorized", progress_bar=False)
        mcmc.run(jax.random.key(0))
        x = np.asarray(mcmc.get_samples()["x"])
        assert x.dtype == np.float32 and np.all(np.isfinite(x)), type(kernel).__name__

    def host(theta):  # a log density outside JAX, in float64
        return -0.5 * np.sum(np.asarray(theta, np.float64) ** 2, axis=-1)

    def fit():
        result = surrogate_posterior(
            host, rng_key=jax.random.key(1), init_params=np.zeros(2), num_exploration_warmup=100,
            num_exploration=300, num_warmup=50, num_samples=200, num_chains=1,
            surrogate_options={"hidden_sizes": (8,), "num_epochs": 2, "batch_size": 64},
            progress_bar=False, check_convergence=False,
        )
        return result.datatree["posterior"]["x"].values

    draws = fit()
    if not x64:  # the float32 session is the one whose callbacks could lose bits
        assert np.array_equal(fit(), draws), "a second call with the same key gave other draws"
    print("float32 ok", repr(float(np.sum(draws))), repr(float(np.sum(draws**2))))
    """
)


def run_float32_script(x64=False):
    # A fresh process: NumPyro's default float32 (the test session itself runs with x64 on).
    completed = subprocess.run(
        [sys.executable, "-c", FLOAT32_SCRIPT, *(["--x64"] if x64 else [])],
        capture_output=True,
        text=True,
        env={"JAX_ENABLE_X64": "1" if x64 else "0", "JAX_PLATFORMS": "cpu", "PATH": ""},
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    last = completed.stdout.strip().splitlines()[-1]
    assert last.startswith("float32 ok")
    return last


@pytest.mark.slow
def test_kernels_and_workflow_run_in_float32_as_in_float64():
    # Every kernel runs with x64 off; the host-log-density workflow gives the same draws on a
    # second call after other float32 work, and the same draws as with x64 on, bit for bit:
    # its callbacks carry float64 positions and values exactly (numpyro_semipar._host_callback).
    assert run_float32_script() == run_float32_script(x64=True)
