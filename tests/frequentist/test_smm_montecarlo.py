"""Monte Carlo: SMM sandwich standard errors match the sampling SD (smooth problem)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_semipar.frequentist import SMM
from numpyro_semipar.moments import common_random_numbers


def simulate(params, z):
    # a skewed location-scale family: exp-normal shifted, so three moments matter
    return params["mu"] + params["sigma"] * (jnp.exp(0.5 * z) - 1.0)


def moments3(x):
    c = x - x.mean()
    return jnp.stack([x.mean(), jnp.mean(c**2), jnp.mean(jnp.abs(c))])


@pytest.mark.slow
def test_sandwich_standard_errors_match_monte_carlo_sd():
    n, s, reps = 200, 20, 300
    true = {"mu": 1.0, "sigma": 2.0}
    keys = jax.random.split(jax.random.key(99), 2 * reps)
    base = SMM(simulate, moments3, common_random_numbers(keys[0], s, (n,), distribution="normal"))
    estimates, ses = [], []
    for r in range(reps):
        data = simulate(true, jax.random.normal(keys[2 * r], (n,)))
        draws = common_random_numbers(keys[2 * r + 1], s, (n,), distribution="normal")
        res = base.with_draws(draws).fit(data, true, bounds={"sigma": (0.0, None)})
        estimates.append(res.flat_params)
        ses.append(res.flat_std_errors)
    estimates, ses = np.array(estimates), np.array(ses)
    sd = estimates.std(axis=0, ddof=1)
    rms_se = np.sqrt(np.mean(ses**2, axis=0))
    np.testing.assert_allclose(rms_se, sd, rtol=0.10)
    z = np.abs(estimates - np.array([1.0, 2.0])) / ses
    coverage = np.mean(z <= 1.959963984540054, axis=0)
    assert np.all((coverage >= 0.91) & (coverage <= 0.985))
