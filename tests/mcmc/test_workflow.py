import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax.flatten_util import ravel_pytree
from numpyro.diagnostics import effective_sample_size
from numpyro.infer.util import potential_energy

from numpyro_semipar.mcmc import (
    CandidateArchive,
    _workflow,
    surrogate_posterior,
    train_residual_surrogate,
    train_surrogate,
)

COV = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
MEAN = np.array([1.0, -0.5, 0.2])
PRECISION = np.linalg.inv(COV)

TINY_NET = {"hidden_sizes": (32, 32), "num_epochs": 30, "batch_size": 128}


def gaussian(x):
    r = x - MEAN
    return -0.5 * r @ PRECISION @ r


def test_delayed_acceptance_workflow_is_exact_and_reports_diagnostics(tmp_path, rng_key):
    result = surrogate_posterior(
        gaussian,
        rng_key=rng_key,
        init_params=jnp.zeros(3),
        archive=tmp_path / "archive",
        num_exploration_warmup=500,
        num_exploration=2000,
        num_warmup=200,
        num_samples=3000,
        surrogate_options=TINY_NET,
        names=["a", "b", "c"],
        num_chains=1,
        progress_bar=False,
    )
    tree, diag = result.datatree, result.diagnostics
    draws = tree["posterior"]["x"].values  # (1, 3000, 3)
    assert draws.shape == (1, 3000, 3)
    ess = effective_sample_size(draws)
    np.testing.assert_array_less(
        np.abs(draws.mean(axis=(0, 1)) - MEAN), 5 * np.sqrt(np.diag(COV)) / np.sqrt(ess)
    )
    # counts: exploration (every iteration, warm-up included), sampling = DA survivors
    assert diag["num_exact_evaluations_exploration"] == 2500
    evaluations = tree["sample_stats"]["num_evaluations"].values
    # post-warm-up evaluations as recorded, the 200 warm-up iterations at the same rate
    assert diag["num_exact_evaluations_sampling"] == int(evaluations.sum()) + int(
        round(float(evaluations.mean()) * 200)
    )
    assert diag["num_exact_evaluations_sampling"] < 3000
    assert diag["num_heldout_steps"] == 400
    # the training data exclude the held-out proposals; the archive holds every candidate
    assert len(result.archive) >= 2500
    assert diag["num_training_candidates"] <= len(result.archive) - 1
    assert 0.0 <= diag["wrong_accept"] <= 1.0 and 0.0 <= diag["wrong_reject"] <= 1.0
    assert diag["validation_r2"] > 0.8
    assert diag["exact_evaluations_per_ess"] == pytest.approx(
        diag["num_exact_evaluations_sampling"] / diag["min_ess"]
    )
    assert tree.attrs["method"] == "delayed_acceptance" and tree.attrs["approximate"] == 0
    assert tree["sample_stats"].attrs["wrong_accept"] == diag["wrong_accept"]
    assert list(tree["posterior"]["parameter"].values) == ["a", "b", "c"]


@pytest.mark.slow
def test_host_logdensity_workflow_resumes_from_its_archive(tmp_path, rng_key):
    calls = []

    def numpy_gaussian(x):  # not JAX: evaluated on the host, through the archive
        calls.append(1)
        r = np.asarray(x) - MEAN
        return float(-0.5 * r @ PRECISION @ r)

    options = dict(
        rng_key=rng_key,
        init_params=np.zeros(3),
        archive=tmp_path / "archive",
        method="surrogate",
        jax_logdensity=False,
        exploration="multi_proposal",
        num_proposals=4,
        covariance=COV,
        num_exploration_warmup=100,
        num_exploration=300,
        num_warmup=100,
        num_samples=1000,
        num_importance=100,
        surrogate_options=TINY_NET,
        num_chains=1,
        progress_bar=False,
        check_convergence=False,  # 1000 draws of a tiny run: R-hat is not the point here
    )
    first = surrogate_posterior(numpy_gaussian, **options)
    evaluated = len(calls)
    # each point evaluated once: exploration candidates, then the reweighted subset
    stored = CandidateArchive(tmp_path / "archive")
    reweighted = CandidateArchive(tmp_path / "archive" / "reweighting")
    heldout = CandidateArchive(tmp_path / "archive" / "heldout")
    assert 0 < len(reweighted) <= 100  # repeated surrogate draws are evaluated once
    assert len(heldout) == first.diagnostics["num_exact_evaluations_diagnostics"] == 240
    assert evaluated == len(stored) + len(reweighted) + len(heldout)
    assert first.diagnostics["approximate"] == 1
    assert first.diagnostics["num_exact_evaluations_sampling"] == 100
    assert np.isfinite(first.diagnostics["pareto_k"])
    # same keys, same archive: the whole run replays from the archive, no new evaluation
    second = surrogate_posterior(numpy_gaussian, **options)
    assert len(calls) == evaluated
    np.testing.assert_array_equal(second.exploration.get_samples(), first.exploration.get_samples())


def model(y):
    loc = numpyro.sample("loc", dist.Normal(0.0, 5.0))
    scale = numpyro.sample("scale", dist.HalfNormal(2.0))
    numpyro.sample("y", dist.Normal(loc, scale), obs=y)


@pytest.mark.slow
def test_numpyro_model_workflow_gives_constrained_posterior(rng_key):
    y = jnp.asarray(np.random.default_rng(0).normal(1.0, 0.5, size=50))
    result = surrogate_posterior(
        model,
        y,
        rng_key=rng_key,
        num_exploration_warmup=500,
        num_exploration=1500,
        num_warmup=200,
        num_samples=1500,
        num_chains=2,
        surrogate_options=TINY_NET,
        progress_bar=False,
    )
    posterior = result.datatree["posterior"]
    assert set(posterior.data_vars) == {"loc", "scale"}
    assert float(posterior["scale"].min()) > 0.0  # constrained space
    assert abs(float(posterior["loc"].mean()) - float(y.mean())) < 0.1
    assert result.diagnostics["num_exact_evaluations_exploration"] == 2 * 2000


def model_with_deterministic(y):
    loc = numpyro.sample("loc", dist.Normal(0.0, 5.0))
    scale = numpyro.sample("scale", dist.HalfNormal(2.0))
    numpyro.deterministic("precision", 1.0 / scale**2)
    numpyro.deterministic("both", jnp.stack([loc, scale]))
    numpyro.sample("y", dist.Normal(loc, scale), obs=y)


def test_numpyro_model_with_deterministic_site_runs(rng_key):
    # Regression: get_samples() holds constrained values AND deterministic sites; the workflow
    # must flatten only the latent sites, in the kernels' unconstrained space.
    y = jnp.asarray(np.random.default_rng(1).normal(1.0, 0.5, size=20))
    result = surrogate_posterior(
        model_with_deterministic,
        y,
        rng_key=rng_key,
        num_exploration_warmup=100,
        num_exploration=200,
        num_warmup=20,
        num_samples=100,
        surrogate_options={"hidden_sizes": (8,), "num_epochs": 2, "batch_size": 64},
        num_chains=1,
        progress_bar=False,
        check_convergence=False,  # 100 draws: R-hat is not the point here
    )
    diag = result.diagnostics
    assert diag["dimension"] == 2  # loc and log(scale), not the deterministic sites
    assert diag["num_heldout_steps"] == 40
    posterior = result.datatree["posterior"]
    assert {"loc", "scale", "precision"} <= set(posterior.data_vars)
    assert float(posterior["scale"].min()) > 0.0
    np.testing.assert_allclose(
        posterior["precision"].values, 1.0 / posterior["scale"].values ** 2, rtol=1e-10
    )


class _ExactSurrogate:
    """The exact log density in the surrogate's place: every MH decision must agree."""

    def __init__(self, trained, logdensity_fn):
        self.info = trained.info
        self._logdensity_fn = logdensity_fn

    def flat_logdensity(self, position):
        return self._logdensity_fn(position)

    def __call__(self, position):
        if isinstance(position, dict):
            position = ravel_pytree(position)[0]
        return self._logdensity_fn(position)


def test_exact_surrogate_has_no_wrong_decisions_on_constrained_model(monkeypatch, rng_key):
    # Regression: held-out states were constrained draws paired with unconstrained proposals and
    # log densities, so even the exact log density as "surrogate" disagreed with the exact MH
    # decisions (wrong accept ~0.8 on the DSGE). With x, y, log π and the surrogate all in the
    # unconstrained space of the kernels, the exact surrogate makes no wrong decision.
    y = jnp.asarray(np.random.default_rng(2).normal(1.0, 0.5, size=20))
    unravel = ravel_pytree({"loc": jnp.zeros(()), "scale": jnp.zeros(())})[1]

    def exact(flat):
        return -potential_energy(model, (y,), {}, unravel(jnp.asarray(flat, jnp.float64)))

    def train_exact(*args, **kwargs):
        return _ExactSurrogate(train_surrogate(*args, **kwargs), exact)

    monkeypatch.setattr(_workflow, "train_surrogate", train_exact)
    result = surrogate_posterior(
        model,
        y,
        rng_key=rng_key,
        num_exploration_warmup=200,
        num_exploration=500,
        num_warmup=20,
        num_samples=100,
        surrogate_baseline=None,
        surrogate_options={"hidden_sizes": (8,), "num_epochs": 2, "batch_size": 64},
        num_chains=1,
        progress_bar=False,
        check_convergence=False,  # 100 draws: R-hat is not the point here
    )
    diag = result.diagnostics
    assert diag["num_heldout_steps"] == 100
    assert diag["exploration_wrong_accept"] <= 0.02
    assert diag["exploration_wrong_reject"] <= 0.02
    assert diag["heldout_error_sd"] < 1e-5
    assert diag["wrong_accept"] <= 0.02
    assert diag["wrong_reject"] <= 0.02
    assert diag["expected_wrong_accept"] <= 0.02
    assert diag["expected_wrong_reject"] <= 0.02


def test_residual_surrogate_fits_tighter_and_decays(rng_key):
    # A skewed 3-D log density: the network only has to learn what the Gaussian misses.
    def skewed(x):
        return gaussian(x) + 0.3 * (x[..., 0] - MEAN[0]) ** 3 / (1 + (x[..., 0] - MEAN[0]) ** 2)

    rng = np.random.default_rng(3)
    draws = rng.multivariate_normal(MEAN, COV, size=2000)
    candidates = rng.multivariate_normal(MEAN, 2.0 * COV, size=3000)
    values = np.asarray(jax.vmap(skewed)(jnp.asarray(candidates)))
    options = {"hidden_sizes": (32, 32), "num_epochs": 40, "batch_size": 128}
    plain = train_surrogate(candidates, values, rng_key=rng_key, progress_bar=False, **options)
    residual = train_residual_surrogate(
        candidates, values, draws, rng_key=rng_key, progress_bar=False, **options
    )
    assert residual.info.validation_rmse < 0.5 * plain.info.validation_rmse
    assert residual.info.validation_r2 > 0.99
    # far from the data the concave baseline dominates: the surrogate keeps decaying
    far = jnp.asarray(MEAN + 50.0 * np.array([1.0, -1.0, 0.5]))
    assert float(residual(far)) < float(values.min()) - 100.0
    # pure and jittable, on flat positions and on parameter dicts (ravel_pytree order)
    batch = jnp.asarray(candidates[:5])
    np.testing.assert_allclose(
        np.asarray(jax.jit(lambda s, x: s(x))(residual, batch)),
        np.asarray(residual.flat_logdensity(batch)),
    )
    as_dict = {"a": batch[0, 0], "b": batch[0, 1:]}
    np.testing.assert_allclose(float(residual(as_dict)), float(residual(batch[0])), rtol=1e-6)
    with pytest.raises(ValueError, match="draws"):
        train_residual_surrogate(candidates, values, draws[:2])


@pytest.mark.parametrize("stuck", ["all", "one coordinate"])
def test_residual_surrogate_names_draws_of_a_stuck_chain(stuck):
    # A chain that never moved (or never moved in one coordinate) gives the Gaussian baseline a
    # singular covariance: a ValueError that says so, not a bare LinAlgError or a whitening
    # built on the jitter alone.
    rng = np.random.default_rng(0)
    draws = np.tile(MEAN, (50, 1)) if stuck == "all" else rng.normal(size=(50, 3))
    if stuck != "all":
        draws[:, 1] = 0.7
    candidates = rng.normal(size=(100, 3))
    values = -0.5 * np.sum(candidates**2, axis=1)
    coordinates = r"\[0, 1, 2\]" if stuck == "all" else r"\[1\]"
    with pytest.raises(ValueError, match=rf"singular covariance; coordinates {coordinates}"):
        train_residual_surrogate(candidates, values, draws, progress_bar=False)
