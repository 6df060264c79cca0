"""Batch evaluation of multi-proposal kernels: ``jax.vmap`` and the thread-pool evaluator."""

from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC

from numpyro_semipar.mcmc import MultiProposalMH
from numpyro_semipar.mcmc import blackjax as nsb
from numpyro_semipar.mcmc.blackjax import _multi_proposal
from tests.mcmc._mh_targets import banana_logdensity, correlated_gaussian


def test_threaded_evaluator_matches_vmap_with_traced_closure_and_pytree():
    # The log density closes over a value traced by the enclosing jit (as a NumPyro potential
    # closes over the model's data): the evaluator must hoist it out of the callback.
    evaluate = nsb.threaded_evaluator(3)

    def batch(shift, positions, evaluator):
        def logdensity(p):
            return banana_logdensity(p) + shift * p["x0"]

        return evaluator(logdensity, positions)

    rng = np.random.default_rng(0)
    positions = {"x0": jnp.asarray(rng.normal(size=7)), "x1": jnp.asarray(rng.normal(size=7))}
    threaded = jax.jit(lambda s, p: batch(s, p, evaluate))(0.7, positions)
    vmapped = jax.jit(lambda s, p: batch(s, p, nsb.vmap_evaluator))(0.7, positions)
    assert threaded.shape == (7,) and threaded.dtype == jnp.float64
    np.testing.assert_allclose(threaded, vmapped, rtol=1e-14)
    expected = [
        float(banana_logdensity({"x0": a, "x1": b}) + 0.7 * a)
        for a, b in zip(positions["x0"], positions["x1"], strict=True)
    ]
    np.testing.assert_allclose(threaded, expected, rtol=1e-12)


def test_threaded_evaluator_runs_chunks_on_the_given_executor():
    seen = []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            seen.append(len(jax.tree.leaves(args[0])[0]))
            return super().submit(fn, *args, **kwargs)

    with Recording(2) as pool:
        evaluate = nsb.threaded_evaluator(executor=pool)
        values = jax.jit(lambda x: evaluate(lambda p: -0.5 * jnp.sum(p**2), x))(jnp.ones((5, 3)))
    np.testing.assert_allclose(values, -1.5 * np.ones(5))
    assert sorted(seen) == [2, 3]  # two chunks (num_threads from the pool), every point once


def test_threaded_kernel_reproduces_the_vmap_chain(rng_key):
    mean, cov, logdensity = correlated_gaussian(4, 10.0)
    factor = jnp.linalg.cholesky(jnp.asarray(cov))
    kernels = {
        name: jax.jit(_multi_proposal.build_kernel(6, name), static_argnums=2)
        for name in ("vmap", "threads")
    }
    states = {name: _multi_proposal.init(jnp.asarray(mean), logdensity) for name in kernels}
    for i in range(10):
        key = jax.random.fold_in(rng_key, i)
        infos = {}
        for name, kernel in kernels.items():
            states[name], infos[name] = kernel(key, states[name], logdensity, factor)
        np.testing.assert_allclose(
            infos["threads"].logdensities, infos["vmap"].logdensities, rtol=1e-12
        )
        np.testing.assert_array_equal(infos["threads"].indices, infos["vmap"].indices)
    np.testing.assert_allclose(states["threads"].position, states["vmap"].position)


def test_index_draws_follow_the_weights(rng_key):
    _, cov, logdensity = correlated_gaussian(2, 4.0)
    kernel = jax.jit(_multi_proposal.build_kernel(5), static_argnums=2)
    state = _multi_proposal.init(jnp.zeros(2), logdensity)
    factor = jnp.linalg.cholesky(jnp.asarray(cov))
    # Many iterations from one state; each iteration's N draws are checked against its own
    # weights through the summed counts.
    keys = jax.random.split(rng_key, 4000)
    _, infos = jax.vmap(lambda k: kernel(k, state, logdensity, factor))(keys)
    weights = np.asarray(infos.weights)  # (iterations, N + 1)
    counts = np.stack([(np.asarray(infos.indices) == j).sum(axis=1) for j in range(6)], axis=1)
    # E[count_j] = N p_j and Var = N p_j (1 − p_j), independently over iterations.
    expected = 5 * weights.sum(axis=0)
    sd = np.sqrt((5 * weights * (1 - weights)).sum(axis=0))
    np.testing.assert_array_less(np.abs(counts.sum(axis=0) - expected), 5 * sd)
    assert np.all(np.asarray(infos.indices) >= 0) and np.all(np.asarray(infos.indices) <= 5)


def _model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    sigma = numpyro.sample("sigma", dist.LogNormal(0.0, 1.0))
    numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


def test_numpyro_kernel_with_threads_matches_vmap(rng_key):
    # The model's data are traced arguments of NumPyro's sampling loop; vectorized chains call
    # the pool once per chain.
    y = jnp.asarray(np.random.default_rng(1).normal(1.0, 2.0, size=30))
    samples = {}
    for name in ("vmap", "threads"):
        mcmc = MCMC(
            MultiProposalMH(_model, num_proposals=4, batch_evaluation=name),
            num_warmup=50,
            num_samples=50,
            num_chains=2,
            chain_method="vectorized",
            progress_bar=False,
        )
        mcmc.run(rng_key, y)
        samples[name] = mcmc.get_samples(group_by_chain=True)
    for site in ("mu", "sigma"):
        np.testing.assert_allclose(samples["threads"][site], samples["vmap"][site], rtol=1e-10)
    assert np.ptp(np.asarray(samples["vmap"]["mu"])) > 0  # the chains moved


def test_bad_batch_evaluation_arguments():
    with pytest.raises(ValueError, match="num_threads"):
        nsb.threaded_evaluator(0)
    with pytest.raises(TypeError, match="executor"):
        nsb.threaded_evaluator(executor="pool")
    with pytest.raises(ValueError, match="batch_evaluation"):
        _multi_proposal.build_kernel(4, "processes")
    with pytest.raises(ValueError, match="batch_evaluation"):
        MultiProposalMH(_model, num_proposals=4, batch_evaluation="gpu")
