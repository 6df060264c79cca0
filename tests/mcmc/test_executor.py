import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_semipar.mcmc import CandidateArchive, evaluate_batch, host_logdensity, local_executor


def make_banana(b=0.5):
    # a closure: travels to the workers by value (cloudpickle), as a user's script function would
    def banana(x):
        return float(-0.5 * (x[0] ** 2 + (x[1] - b * x[0] ** 2) ** 2) - 0.5 * np.sum(x[2:] ** 2))

    return banana


@pytest.fixture(scope="module")
def positions():
    return np.random.default_rng(3).normal(size=(40, 4))


def test_process_pool_matches_serial(positions):
    banana = make_banana()
    serial = evaluate_batch(banana, positions)
    np.testing.assert_array_equal(serial, [banana(r) for r in positions])
    with local_executor(2) as pool:
        parallel = evaluate_batch(banana, positions, executor=pool, chunksize=7)
    np.testing.assert_array_equal(parallel, serial)


def test_nan_becomes_minus_inf_and_bad_input():
    values = evaluate_batch(lambda x: np.nan if x[0] > 0 else 1.0, np.array([[1.0], [-1.0]]))
    assert values.tolist() == [-np.inf, 1.0]
    with pytest.raises(ValueError, match="2-D"):
        evaluate_batch(lambda x: 0.0, np.zeros(3))
    with pytest.raises(TypeError, match="executor"):
        evaluate_batch(lambda x: 0.0, np.zeros((1, 3)), executor="cluster")


def test_dask_local_cluster_gives_the_same_archive(tmp_path, positions):
    import distributed

    banana = make_banana()
    local = CandidateArchive(tmp_path / "local")
    local.evaluate(banana, positions, batch_size=16)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        remote = CandidateArchive(tmp_path / "dask")
        remote.evaluate(banana, positions, executor=client, batch_size=16)
    lx, ly = local.load()
    rx, ry = remote.load()
    np.testing.assert_array_equal(rx, lx)
    np.testing.assert_array_equal(ry, ly)
    assert remote.num_chunks == local.num_chunks == 3


def test_host_logdensity_inside_jit_and_vmap(positions):
    banana = make_banana()
    fn = host_logdensity(banana)
    batched = jax.jit(jax.vmap(fn))(jnp.asarray(positions))
    np.testing.assert_allclose(np.asarray(batched), [banana(r) for r in positions], rtol=1e-12)
    assert float(jax.jit(fn)(jnp.asarray(positions[0]))) == banana(positions[0])


def test_multi_proposal_batches_through_an_executor_and_archive(tmp_path, rng_key):
    from concurrent.futures import ThreadPoolExecutor

    from blackjax.util import run_inference_algorithm

    from numpyro_semipar.mcmc import blackjax as nsb

    banana = make_banana()

    def jax_banana(x):
        return -0.5 * (x[0] ** 2 + (x[1] - 0.5 * x[0] ** 2) ** 2) - 0.5 * jnp.sum(x[2:] ** 2)

    archive = CandidateArchive(tmp_path / "mp")
    # any concurrent.futures.Executor (the process pool is exercised above)
    with ThreadPoolExecutor(2) as pool:
        host = host_logdensity(banana, executor=pool, archive=archive)
        runs = []
        for fn in (jax_banana, host):
            algorithm = nsb.multi_proposal(fn, covariance=jnp.ones(4), num_proposals=8)
            _, (states, infos) = run_inference_algorithm(
                rng_key, algorithm, 15, initial_state=algorithm.init(jnp.zeros(4))
            )
            runs.append((states, infos))
    (jax_states, _), (host_states, host_infos) = runs
    np.testing.assert_allclose(host_states.position, jax_states.position, rtol=1e-12)
    # every proposal batch went through the executor into the archive, one chunk per batch
    assert archive.num_chunks == 1 + 15
    found, stored = archive.lookup(np.asarray(host_infos.points[:, 1:]).reshape(-1, 4))
    assert found.all()
    np.testing.assert_allclose(stored, np.asarray(host_infos.logdensities[:, 1:]).reshape(-1))
