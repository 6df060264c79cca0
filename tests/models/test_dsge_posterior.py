"""Gradient-free kernels and NUTS agree on the An–Schorfheide posterior (short sample, slow)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from numpyro.infer import MCMC, NUTS, init_to_value

from numpyro_semipar.mcmc import DelayedAcceptanceMH, RandomWalkMH
from numpyro_semipar.models import dsge

START = dict(tau=2.5, kappa=0.5, psi1=1.8, psi2=0.5, r_A=0.5, pi_A=3.0, gamma_Q=0.5, rho_R=0.8)
START |= dict(rho_g=0.9, rho_z=0.8, sigma_R=0.3, sigma_g=0.8, sigma_z=0.4)
CHECKED = ("tau", "psi1", "pi_A", "gamma_Q", "rho_R", "rho_g", "sigma_R", "sigma_g", "sigma_z")


def _summary(samples):
    """Per-parameter mean and Monte Carlo standard error (numpyro's ESS)."""
    from numpyro.diagnostics import effective_sample_size

    out = {}
    for name in CHECKED:
        draws = np.asarray(samples[name])[None]  # one chain
        ess = float(effective_sample_size(draws))
        out[name] = (draws.mean(), draws.std() / np.sqrt(ess), ess)
    return out


@pytest.mark.slow
def test_random_walk_delayed_acceptance_and_nuts_agree():
    y, _ = dsge.load_us_data("1998Q1", "2007Q4")
    y = jnp.asarray(y)
    init = init_to_value(values={k: jnp.asarray(v) for k, v in START.items()})

    rwmh = MCMC(
        RandomWalkMH(dsge.an_schorfheide_model, init_strategy=init),
        num_warmup=2000,
        num_samples=8000,
        progress_bar=False,
    )
    rwmh.run(jax.random.key(0), y)
    rw_samples = rwmh.get_samples()

    # A deliberately crude surrogate: a Gaussian on the unconstrained space (where the kernels
    # move) fitted to the random-walk draws, twice as wide. Delayed acceptance must still target
    # the exact posterior.
    unconstrained = dsge.unconstrained_draws(rw_samples)
    u_mean = jnp.mean(unconstrained, 0)
    u_precision = jnp.linalg.inv(2.0 * jnp.cov(unconstrained.T))

    def surrogate(position):
        r = ravel_pytree(position)[0] - u_mean
        return -0.5 * r @ u_precision @ r

    da = MCMC(
        # The chain starts in the bulk and the surrogate was fitted there: the surrogate screens
        # from the first iteration (the default exact first half of warm-up is for poor starts
        # and would leave 1,000 screened iterations to adapt 13 dimensions).
        DelayedAcceptanceMH(
            dsge.an_schorfheide_model,
            surrogate=surrogate,
            init_strategy=init,
            exact_warmup_fraction=0.0,
        ),
        num_warmup=2000,
        num_samples=8000,
        progress_bar=False,
    )
    da.run(jax.random.key(1), y)
    evaluations = np.asarray(da.get_extra_fields()["num_evaluations"])
    assert 0.05 < evaluations.mean() < 0.9  # stage 1 screens out part of the proposals

    nuts = MCMC(
        NUTS(dsge.an_schorfheide_model, init_strategy=init, dense_mass=True),
        num_warmup=300,
        num_samples=700,
        progress_bar=False,
    )
    nuts.run(jax.random.key(2), y)

    reference = _summary(nuts.get_samples())
    for samples in (rw_samples, da.get_samples()):
        summary = _summary(samples)
        for name in CHECKED:
            m, se, ess = summary[name]
            m_ref, se_ref, _ = reference[name]
            assert ess > 30, name
            assert abs(m - m_ref) < 5 * np.hypot(se, se_ref), (name, m, m_ref, se, se_ref)
