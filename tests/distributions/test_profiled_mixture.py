"""ProfiledMixture: NumPyro-style generic checks (shapes, jit, vmap, grad, pytree, sample)."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from numpyro_semipar.distributions import ProfiledMixture
from numpyro_semipar.npmle import profile_loglik

N, M = 40, 15
GRID = jnp.linspace(-4.0, 4.0, M)
RNG = np.random.default_rng(0)
X = jnp.asarray(RNG.normal(size=N))
LOADINGS = jnp.array([1.0, 1.5])


def normal(scale):
    return dist.Normal(GRID, scale)


def independent_normal(scale):
    return dist.Normal(GRID[:, None] * LOADINGS, scale * jnp.ones(2)).to_event(1)


def with_covariate(scale):
    # Components depend on the observation: batch shape (N, M).
    return dist.Normal(0.5 * X[:, None] + GRID[None, :], scale)


# (name, component builder, observations, batch_shape, event_shape)
CASES = [
    ("normal", normal, RNG.choice([-2.0, 1.0], N) + 0.6 * RNG.normal(size=N), (), ()),
    (
        "independent_normal",
        independent_normal,
        RNG.choice([-2.0, 1.0], N)[:, None] * np.array([1.0, 1.5]) + RNG.normal(size=(N, 2)),
        (),
        (2,),
    ),
    ("with_covariate", with_covariate, 0.5 * np.asarray(X) + RNG.normal(size=N), (N,), ()),
]


@pytest.mark.parametrize(("name", "build", "y", "batch", "event"), CASES, ids=[c[0] for c in CASES])
def test_generic_checks(name, build, y, batch, event):
    y = jnp.asarray(y)
    mixture = ProfiledMixture(build(0.8), data=y)
    assert mixture.batch_shape == batch and mixture.event_shape == event
    assert mixture.mixture_size == M

    def log_prob_and_grad(scale):
        def total(s):
            return jnp.sum(ProfiledMixture(build(s)).log_prob(y))

        return ProfiledMixture(build(scale)).log_prob(y), jax.grad(total)(scale)

    jitted = jax.jit(log_prob_and_grad)
    log_prob, grad = jitted(0.8)
    assert log_prob.shape == (N,)
    # The per-observation values sum to the profile log-likelihood of the component matrix.
    matrix = mixture.component_log_probs(y).reshape(N, M)
    reference, weights = profile_loglik(lambda p, d, g: p, None, GRID, params=matrix)
    np.testing.assert_allclose(jnp.sum(log_prob), reference, rtol=1e-10)
    np.testing.assert_allclose(mixture.log_prob(y), log_prob, rtol=1e-10)  # eager == jit
    np.testing.assert_allclose(mixture.mixing_weights, weights, atol=1e-10)
    # Exact gradient (envelope + implicit weights) against central differences.
    eps = 1e-6
    fd = (jnp.sum(jitted(0.8 + eps)[0]) - jnp.sum(jitted(0.8 - eps)[0])) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-6)
    # vmap over the parameter.
    scales = jnp.array([0.7, 0.9])
    batched = jax.jit(jax.vmap(log_prob_and_grad))(scales)
    for i, s in enumerate(scales):
        single = jitted(s)
        np.testing.assert_allclose(batched[0][i], single[0], rtol=1e-9)
        np.testing.assert_allclose(batched[1][i], single[1], rtol=1e-7)
    # The distribution is a pytree: it can be passed through jit.
    through = jax.jit(lambda d: d.log_prob(d.data))(mixture)
    np.testing.assert_allclose(through, log_prob, rtol=1e-10)
    # Draws from the fitted mixture.
    draws = mixture.sample(jax.random.key(0), (7,))
    assert draws.shape == (7, *batch, *event)
    assert np.all(np.isfinite(draws))


def test_sample_follows_the_profiled_weights():
    y = jnp.asarray(RNG.choice([-3.0, 3.0], 200, p=[0.25, 0.75]) + 0.1 * RNG.normal(size=200))
    mixture = ProfiledMixture(dist.Normal(jnp.array([-3.0, 0.0, 3.0]), 0.1), data=y)
    draws = mixture.sample(jax.random.key(1), (4000,))
    weights = np.asarray(mixture.mixing_weights)
    np.testing.assert_allclose(weights, [np.mean(y < 0), 0.0, np.mean(y > 0)], atol=1e-6)
    share = np.mean(np.asarray(draws) > 0)
    assert abs(share - weights[2]) < 4 * np.sqrt(weights[2] * (1 - weights[2]) / 4000)
    np.testing.assert_allclose(mixture.mean, weights @ np.array([-3.0, 0.0, 3.0]), rtol=1e-10)


def test_numpyro_model_log_likelihood_and_predictive():
    y = jnp.asarray(CASES[0][2])

    def model(y, predict=False):
        scale = numpyro.sample("scale", dist.LogNormal(0.0, 1.0))
        mixture = ProfiledMixture(normal(scale), data=y)
        numpyro.deterministic("mixing_weights", mixture.mixing_weights)
        with numpyro.plate("obs", y.shape[0]):
            numpyro.sample("y", mixture, obs=None if predict else y)

    samples = {"scale": jnp.array([0.7, 0.9])}
    loglik = numpyro.infer.log_likelihood(model, samples, y)["y"]
    assert loglik.shape == (2, N)
    expected = ProfiledMixture(normal(0.9)).log_prob(y)
    np.testing.assert_allclose(loglik[1], expected, rtol=1e-10)
    predictive = numpyro.infer.Predictive(model, samples)(jax.random.key(0), y, predict=True)
    assert predictive["y"].shape == (2, N)
    assert predictive["mixing_weights"].shape == (2, M)


def test_bad_input_is_reported():
    with pytest.raises(TypeError, match="component_distribution"):
        ProfiledMixture(GRID)
    with pytest.raises(ValueError, match="batch dimension"):
        ProfiledMixture(dist.Normal(0.0, 1.0))
    with pytest.raises(ValueError, match="data="):
        ProfiledMixture(normal(1.0)).sample(jax.random.key(0))


def test_model_potential_with_x64_disabled():
    """NumPyro's default float32: what NUTS evaluates (the jitted potential and its gradient)."""
    from numpyro.infer.util import initialize_model

    def model(y):
        scale = numpyro.sample("scale", dist.LogNormal(0.0, 1.0))
        mixture = ProfiledMixture(dist.Normal(jnp.linspace(-4.0, 4.0, M), scale), data=y)
        numpyro.deterministic("mixing_weights", mixture.mixing_weights)
        with numpyro.plate("obs", y.shape[0]):
            numpyro.sample("y", mixture, obs=y)

    y = np.concatenate([RNG.normal(-2.0, 0.8, N // 2), RNG.normal(1.5, 0.8, N // 2)])
    with jax.enable_x64(False):
        args = (jnp.asarray(np.array(y)),)
        info = initialize_model(jax.random.key(0), model, model_args=args)
        potential = jax.jit(info.potential_fn)
        value, grad = jax.jit(jax.value_and_grad(info.potential_fn))({"scale": jnp.asarray(-0.1)})
        eps = 1e-2
        fd = (
            potential({"scale": jnp.asarray(-0.1 + eps)})
            - potential({"scale": jnp.asarray(-0.1 - eps)})
        ) / (2 * eps)
    assert value.dtype == grad["scale"].dtype == jnp.float32
    assert bool(jnp.isfinite(value))
    np.testing.assert_allclose(grad["scale"], fd, rtol=1e-2)
