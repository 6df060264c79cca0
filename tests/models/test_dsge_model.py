"""The An–Schorfheide NumPyro model: data, priors, finite log density, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.util import log_density

from numpyro_semipar.models import dsge


def test_data_construction():
    y, dates = dsge.load_us_data()
    assert y.shape == (202, 3) and dates[0] == "1959Q2" and dates[-1] == "2009Q3"
    assert np.all(np.isfinite(y))
    # Means of per-capita growth, CPI inflation and the T-bill rate over 1959–2009.
    np.testing.assert_allclose(y.mean(axis=0), [0.502, 3.981, 5.324], atol=1e-3)
    sub, sub_dates = dsge.load_us_data("1984Q1", "2007Q4")
    assert sub.shape == (96, 3) and sub_dates[0] == "1984Q1"


@pytest.mark.parametrize(("start", "end"), [("1959Q1", "2009Q3"), ("1984Q1", "1984Q4")])
def test_bad_sample_raises(start, end):
    with pytest.raises(ValueError, match="start|short"):
        dsge.load_us_data(start, end)


def test_model_log_density_finite_at_prior_mean():
    y, _ = dsge.load_us_data()
    theta = {k: jnp.asarray(v) for k, v in dsge.prior_mean().items()}

    @jax.jit
    def evaluate(t):
        logp, _ = log_density(dsge.an_schorfheide_model, (y,), {}, t)
        ll, status = dsge.log_likelihood(t, y)
        return logp, ll, status, dsge.log_prior(t)

    logp, ll, status, log_prior = evaluate(theta)
    assert np.isfinite(float(logp)) and int(status) == 0
    # The model's density is the prior plus the Kalman-filter likelihood.
    np.testing.assert_allclose(float(logp), float(log_prior + ll), rtol=1e-12)


def test_prior_matches_herbst_schorfheide_moments():
    priors = dsge.an_schorfheide_priors()
    draws = {k: np.asarray(p.sample(jax.random.key(0), (50_000,))) for k, p in priors.items()}
    means = dsge.prior_mean()
    for name in dsge.PARAM_NAMES:
        np.testing.assert_allclose(draws[name].mean(), means[name], rtol=0.02, err_msg=name)
    np.testing.assert_allclose(draws["tau"].std(), 0.5, rtol=0.02)
    np.testing.assert_allclose(draws["pi_A"].std(), 2.0, rtol=0.02)


def test_log_prior_outside_support_is_minus_inf_with_finite_gradient():
    theta = {k: jnp.asarray(v) for k, v in dsge.prior_mean().items()}
    theta["kappa"] = jnp.asarray(1.5)
    assert float(dsge.log_prior(theta)) == -np.inf
    grad = jax.grad(dsge.log_prior)(theta)
    assert all(np.isfinite(float(g)) for g in grad.values())


def test_log_likelihood_gradient_matches_finite_differences():
    y, _ = dsge.load_us_data("1984Q1", "1995Q4")
    theta = {k: jnp.asarray(v) for k, v in dsge.prior_mean().items()}
    theta.update(rho_R=jnp.asarray(0.7), rho_g=jnp.asarray(0.9))
    names = ("tau", "kappa", "psi1", "rho_R", "sigma_g", "gamma_Q")
    h = 1e-6

    @jax.jit
    def check(theta):
        grad = jax.grad(lambda t: dsge.log_likelihood(t, y)[0])(theta)
        # Central differences for all six parameters in one vmapped batch.
        steps = jnp.concatenate([h * jnp.eye(len(names)), -h * jnp.eye(len(names))])
        shifted = {
            k: v + (steps[:, names.index(k)] if k in names else jnp.zeros(len(steps)))
            for k, v in theta.items()
        }
        values = jax.vmap(lambda t: dsge.log_likelihood(t, y)[0])(shifted)
        return grad, (values[: len(names)] - values[len(names) :]) / (2 * h)

    grad, fd = check(theta)
    for i, name in enumerate(names):
        np.testing.assert_allclose(float(grad[name]), float(fd[i]), rtol=1e-5, err_msg=name)


def test_unconstrained_draws_match_numpyro_unconstrain():
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import unconstrain_fn

    y, _ = dsge.load_us_data("1998Q1", "2007Q4")
    draws = {k: jnp.array([v, 1.05 * v]) for k, v in dsge.POSTERIOR_BULK_START.items()}
    flat = dsge.unconstrained_draws(draws)
    assert flat.shape == (2, len(dsge.PARAM_NAMES))
    for i in range(2):
        params = {k: v[i] for k, v in draws.items()}
        expected = ravel_pytree(unconstrain_fn(dsge.an_schorfheide_model, (y,), {}, params))[0]
        np.testing.assert_allclose(flat[i], expected, rtol=1e-12)
