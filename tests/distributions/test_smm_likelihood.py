"""SMMLikelihood: the Laplace-type quasi-likelihood as a NumPyro distribution."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, NUTS, init_to_value

from numpyro_semipar.distributions import SMMLikelihood
from numpyro_semipar.frequentist import SMM
from numpyro_semipar.moments import common_random_numbers

N, S = 300, 20


def simulate(params, z):
    return params["mu"] + params["sigma"] * z


def mean_var(x):
    return jnp.stack([x.mean(), x.var()])


@pytest.fixture(scope="module")
def setup():
    k1, k2 = jax.random.split(jax.random.key(7))
    data = 1.0 + 2.0 * jax.random.normal(k1, (N,))
    draws = common_random_numbers(k2, S, (N,), distribution="normal")
    fit = SMM(simulate, mean_var, draws).fit(data, {"mu": 0.0, "sigma": 1.0})
    weight = np.linalg.inv(fit.moment_cov * fit.nobs)  # per-observation V⁻¹
    return data, draws, fit, weight


def model(draws, weight, data=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(10.0))
    params = {"mu": mu, "sigma": sigma}
    numpyro.sample("y", SMMLikelihood(simulate, mean_var, draws, params, weight), obs=data)


def test_log_prob_formula_and_pytree(setup):
    data, draws, _, weight = setup
    params = {"mu": jnp.array(0.8), "sigma": jnp.array(2.3)}
    d = SMMLikelihood(simulate, mean_var, draws, params, weight)
    assert d.event_shape == (N,) and d.batch_shape == ()
    sims = np.asarray(params["mu"] + params["sigma"] * draws)
    m_model = np.stack([sims.mean(axis=1), sims.var(axis=1)], axis=1).mean(axis=0)
    x = np.asarray(data)
    g = m_model - np.array([x.mean(), x.var()])
    expected = -0.5 * N * g @ weight @ g / (1 + 1 / S)
    assert float(d.log_prob(data)) == pytest.approx(expected, rel=1e-10)
    assert float(jax.jit(lambda dd: dd.log_prob(data))(d)) == pytest.approx(expected, rel=1e-10)
    sample = d.sample(jax.random.key(0), (3,))
    assert sample.shape == (3, N)


def test_gradient_matches_finite_differences(setup):
    data, draws, _, weight = setup

    def lp(mu):
        return SMMLikelihood(simulate, mean_var, draws, {"mu": mu, "sigma": 2.0}, weight).log_prob(
            data
        )

    grad = float(jax.grad(lp)(0.9))
    fd = (float(lp(0.9 + 1e-5)) - float(lp(0.9 - 1e-5))) / 2e-5
    assert grad == pytest.approx(fd, rel=1e-6)


@pytest.mark.parametrize("kernel", ["nuts", "random-walk"])
def test_quasi_posterior_matches_smm(setup, kernel):
    data, draws, fit, weight = setup
    if kernel == "nuts":
        mcmc = MCMC(NUTS(model), num_warmup=400, num_samples=800, progress_bar=False)
    else:
        # gradient-free: the package's adaptive random-walk MH
        from numpyro_semipar.mcmc import RandomWalkMH

        start = {"mu": jnp.array(0.5), "sigma": jnp.array(1.5)}
        kernel = RandomWalkMH(model, init_strategy=init_to_value(values=start))
        mcmc = MCMC(kernel, num_warmup=2000, num_samples=4000, progress_bar=False)
    mcmc.run(jax.random.key(1), draws, weight, data=data)
    samples = mcmc.get_samples()
    for k, name in enumerate(["mu", "sigma"]):
        x = np.asarray(samples[name])
        chains = np.asarray(mcmc.get_samples(group_by_chain=True)[name])
        ess = float(numpyro.diagnostics.effective_sample_size(chains))
        sd = x.std()
        se = fit.flat_std_errors[k]
        # Laplace-type quasi-posterior: centred at the SMM estimate with spread ≈ its SE.
        assert abs(x.mean() - fit.flat_params[k]) < 5 * sd / np.sqrt(ess) + 0.1 * se
        assert sd == pytest.approx(se, rel=0.2)
