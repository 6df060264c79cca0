"""ProfileMLE on the linear factor model: recovery, standard errors, groups, weights."""

import warnings

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from numpyro_semipar import ConvergenceWarning
from numpyro_semipar.distributions import ProfiledMixture
from numpyro_semipar.frequentist import MaximumLikelihood, ProfileMLE
from numpyro_semipar.models import LinearFactor

# Step 0.5: the true support {-3, 0, 5} lies on the grid.
GRID = np.linspace(-6.0, 6.0, 25)
TRUE = {"coef": np.array([1.5, 0.3]), "log_sd": np.array([0.0, 0.2, -0.3])}
ATOMS, PROBS = np.array([-3.0, 0.0, 5.0]), np.array([0.3, 0.5, 0.2])
N = 600


def simulate(seed, n):
    rng = np.random.default_rng(seed)
    x = rng.choice(ATOMS, size=n, p=PROBS)
    loadings = np.concatenate([[1.0], TRUE["coef"]])
    return x[:, None] * loadings + np.exp(TRUE["log_sd"]) * rng.normal(size=(n, 3))


START = LinearFactor(jnp.array([1.0, 1.0]), jnp.zeros(3))


@pytest.fixture(scope="module")
def data():
    return simulate(0, N)


@pytest.fixture(scope="module")
def fitted(data):
    return ProfileMLE(GRID).fit(START, data)


def test_recovers_parameters_and_mixing_distribution(fitted):
    result = fitted
    assert result.converged and result.gradient_norm < 1e-5
    assert result.inner_kkt_residual < 1e-6
    assert result.param_names == ["coef[0]", "coef[1]", "log_sd[0]", "log_sd[1]", "log_sd[2]"]
    for name, truth in TRUE.items():
        z = (result.params[name] - truth) / result.std_errors[name]
        assert np.all(np.abs(z) < 4), (name, z)
    np.testing.assert_allclose(result.model.coef, result.params["coef"])
    mixing = result.mixing
    assert mixing.weights.shape == GRID.shape
    np.testing.assert_allclose(mixing.weights.sum(), 1.0, atol=1e-10)
    true_cdf = np.array([PROBS[ATOMS <= x].sum() for x in GRID])
    assert np.max(np.abs(mixing.cdf - true_cdf)[np.abs(GRID[:, None] - ATOMS).min(1) > 0.6]) < 0.08
    # The cost of estimating F: ignoring it understates some standard error.
    naive = np.sqrt(np.diag(np.linalg.inv(-result.hessian_known_mixing)))
    assert np.all(naive <= result.flat_std_errors * (1 + 1e-8))
    assert np.min(naive / result.flat_std_errors) < 0.9
    # Scores are per-observation gradients: they sum to the (zero) gradient.
    np.testing.assert_allclose(result.scores.sum(0), 0.0, atol=1e-3)


def test_reporting_arviz_and_plot(fitted, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    table = fitted.summary()
    assert list(table.index) == fitted.param_names
    tree = fitted.to_arviz(num_draws=50)
    assert "mixing" in tree.children
    np.testing.assert_allclose(tree["mixing"]["weights"].values, fitted.mixing.weights)
    ax = fitted.plot_cdf(true_support=ATOMS, true_weights=PROBS)
    ax.figure.savefig(tmp_path / "cdf.png")
    assert len(ax.lines) == 2


def test_profiled_mixture_model_by_maximum_likelihood_gives_same_estimates(data, fitted):
    def model(y):
        coef = numpyro.sample("coef", dist.Normal(1.0, 10.0).expand([2]))
        log_sd = numpyro.sample("log_sd", dist.Normal(0.0, 10.0).expand([3]))
        loadings = jnp.concatenate([jnp.ones(1), coef])
        components = dist.Normal(jnp.asarray(GRID)[:, None] * loadings, jnp.exp(log_sd))
        numpyro.sample("y", ProfiledMixture(components.to_event(1)), obs=y)

    ml = MaximumLikelihood(model, cov_type="sandwich").fit(
        jnp.asarray(data), init_params={"coef": jnp.ones(2), "log_sd": jnp.zeros(3)}
    )
    sandwich = ProfileMLE(GRID, cov_type="sandwich").fit(START, data)
    np.testing.assert_allclose(ml.flat_params, fitted.flat_params, atol=2e-5)
    np.testing.assert_allclose(ml.loglik, fitted.loglik, rtol=1e-9)
    # Same observed information (with the correction term) and same sandwich.
    np.testing.assert_allclose(ml.hessian, fitted.hessian, rtol=2e-3, atol=1e-3)
    np.testing.assert_allclose(ml.flat_std_errors, sandwich.flat_std_errors, rtol=2e-3)


def test_sandwich_and_opg_agree_with_hessian_under_correct_specification(data, fitted):
    sandwich = ProfileMLE(GRID, cov_type="sandwich").fit(START, data)
    opg = ProfileMLE(GRID, cov_type="opg").fit(START, data)
    assert sandwich.cov_type == "sandwich"
    np.testing.assert_allclose(sandwich.flat_params, fitted.flat_params, atol=1e-6)
    for other in (sandwich, opg):
        ratio = other.flat_std_errors / fitted.flat_std_errors
        assert np.all((ratio > 0.75) & (ratio < 1.33)), ratio


def test_integer_weights_equal_replicated_rows(data):
    counts = np.random.default_rng(3).integers(1, 4, size=200)
    counts[-1] += N - counts.sum()  # total N rows, so both fits share compiled programs
    assert counts[-1] >= 1
    unique = data[:200]
    padded = np.concatenate([unique, data[200:]])
    weights = np.concatenate([counts, np.zeros(N - 200)])
    weighted = ProfileMLE(GRID, weights=weights).fit(START, padded)
    replicated = ProfileMLE(GRID).fit(START, np.repeat(unique, counts, axis=0))
    np.testing.assert_allclose(weighted.flat_params, replicated.flat_params, atol=1e-6)
    np.testing.assert_allclose(weighted.loglik, replicated.loglik, rtol=1e-10)
    np.testing.assert_allclose(weighted.flat_std_errors, replicated.flat_std_errors, rtol=1e-4)


def test_groups_get_their_own_mixing_distribution(data):
    # Group 1's latent factor is shifted by +1 (atoms -2, 1, 6 hit the grid too).
    shifted = data.copy()
    shifted[N // 2 :] += np.concatenate([[1.0], TRUE["coef"]])
    groups = (np.arange(N) >= N // 2).astype(int)
    result = ProfileMLE(GRID, groups=groups).fit(START, shifted)
    assert result.converged
    assert result.mixing.weights.shape == (2, GRID.size)
    # Group 0 has mass 0.3 at -3; group 1's lowest atom is -2 (estimates spread to neighbours).
    below = result.mixing.cdf[:, GRID <= -3.0][:, -1]
    assert below[0] > 0.15 and below[1] < 0.05, below
    z = (result.params["coef"] - TRUE["coef"]) / result.std_errors["coef"]
    assert np.all(np.abs(z) < 4)


def test_bad_input_is_reported(data):
    with pytest.raises(ValueError, match="cov_type"):
        ProfileMLE(GRID, cov_type="robust")
    with pytest.raises(ValueError, match="grid"):
        ProfileMLE(np.array([0.0, np.nan]))
    with pytest.raises(TypeError, match="lclk"):
        ProfileMLE(GRID).fit(object(), data)
    with pytest.raises(ValueError, match="row 0"):
        ProfileMLE(GRID, weights=-np.ones(N)).fit(START, data)
    far = data.copy()
    far[4, 0] = np.inf  # likelihood zero at every grid point
    for engine in ("host", "compiled"):
        with pytest.raises(ValueError, match=r"row 4 .* \(widen the grid\)"):
            ProfileMLE(GRID, engine=engine).fit(START, far)


def test_nonconvergence_is_reported(data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ProfileMLE(GRID, max_steps=2).fit(START, data)
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert not result.converged
    assert "NO" in str(result.summary())
