"""SyntheticLikelihood: Gaussian likelihood of summaries with simulated mean and covariance."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, NUTS
from scipy import stats

from numpyro_semipar.distributions import SyntheticLikelihood
from numpyro_semipar.moments import common_random_numbers

N, S = 200, 50


def simulate(params, z):
    return params["mu"] + params["sigma"] * z


def summaries(x):
    return jnp.stack([x.mean(), jnp.log(x.var()), jnp.mean((x - x.mean()) ** 3)])


@pytest.fixture(scope="module")
def setup():
    k1, k2 = jax.random.split(jax.random.key(3))
    data = 0.5 + 1.5 * jax.random.normal(k1, (N,))
    draws = common_random_numbers(k2, S, (N,), distribution="normal")
    return data, draws


@pytest.mark.parametrize("shrinkage", [0.0, 0.3])
def test_log_prob_is_gaussian_with_simulated_moments(setup, shrinkage):
    data, draws = setup
    params = {"mu": jnp.array(0.4), "sigma": jnp.array(1.7)}
    d = SyntheticLikelihood(simulate, summaries, draws, params, shrinkage=shrinkage)
    sims = np.stack([np.asarray(summaries(simulate(params, z))) for z in draws])
    mean, cov = sims.mean(axis=0), np.cov(sims, rowvar=False, ddof=1)
    cov = (1 - shrinkage) * cov + shrinkage * np.diag(np.diag(cov))
    expected = stats.multivariate_normal(mean, cov).logpdf(np.asarray(summaries(data)))
    assert float(d.log_prob(data)) == pytest.approx(expected, rel=1e-10)
    assert float(jax.jit(lambda dd: dd.log_prob(data))(d)) == pytest.approx(expected, rel=1e-10)


def test_bad_shrinkage():
    with pytest.raises(ValueError, match="shrinkage"):
        SyntheticLikelihood(
            simulate, summaries, np.zeros((5, 3)), {"mu": 0.0, "sigma": 1.0}, shrinkage=2
        )


def test_nuts_posterior_of_a_normal_mean(setup):
    data, draws = setup

    def model(data=None):
        mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
        params = {"mu": mu, "sigma": 1.5}
        sl = SyntheticLikelihood(simulate, lambda x: x.mean()[None], draws, params)
        numpyro.sample("y", sl, obs=data)

    mcmc = MCMC(NUTS(model), num_warmup=300, num_samples=600, progress_bar=False)
    mcmc.run(jax.random.key(0), data=data)
    mu = np.asarray(mcmc.get_samples()["mu"])
    # summary mean: N(mu + 1.5 z̄̄, var_s(1.5 z̄_s)); posterior sd ≈ its simulated sd
    zbar = np.asarray(draws).mean(axis=1)
    sd_sim = 1.5 * zbar.std(ddof=1)
    center = float(np.mean(data)) - 1.5 * zbar.mean()
    ess = float(numpyro.diagnostics.effective_sample_size(mu[None]))
    assert abs(mu.mean() - center) < 5 * mu.std() / np.sqrt(ess) + 0.05 * sd_sim
    assert mu.std() == pytest.approx(sd_sim, rel=0.15)
