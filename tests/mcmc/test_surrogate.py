import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_semipar._params import param_layout
from numpyro_semipar.mcmc import Surrogate, load_surrogate, train_surrogate


def quadratic(x):
    # a correlated Gaussian log density with badly scaled inputs (column 1 in the thousands)
    z = np.column_stack([x[:, 0], (x[:, 1] - 2000.0) / 1000.0])
    return -0.5 * (z[:, 0] ** 2 - 1.2 * z[:, 0] * z[:, 1] + z[:, 1] ** 2)


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=3000), 2000.0 + 1000.0 * rng.normal(size=3000)])
    y = quadratic(x)
    surrogate = train_surrogate(
        x,
        y,
        rng_key=jax.random.key(1),
        hidden_sizes=(32, 32),
        num_epochs=60,
        batch_size=128,
        learning_rate=3e-3,
        layout=param_layout({"a": np.zeros(()), "b": np.zeros(())}),
        progress_bar=False,
    )
    return x, y, surrogate


def test_fit_is_accurate_on_the_region_it_keeps(trained):
    x, y, surrogate = trained
    info = surrogate.info
    assert info.num_trimmed == 600  # the lowest 20% are dropped
    assert info.num_train + info.num_validation == 2400
    assert info.validation_r2 > 0.98
    # the reported RMSE is the RMSE of the returned network on the validation points
    keep = y >= np.quantile(y, 0.2)
    predictions = np.asarray(surrogate(jnp.asarray(x[keep], jnp.float32)), np.float64)
    overall = np.sqrt(np.mean((predictions - y[keep]) ** 2))
    assert overall < 2.0 * info.validation_rmse + 1e-3
    assert overall < 0.1 * y[keep].std()


def test_surrogate_is_pure_jittable_and_takes_dicts(trained):
    x, _, surrogate = trained
    flat = jnp.asarray(x[:5])
    direct = surrogate(flat)
    assert direct.dtype == flat.dtype  # float64 in, float64 out (computed in float32)
    # float32 inside: jit/vmap may reorder sums, so compare to float32 precision
    close = {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(jax.jit(jax.vmap(surrogate))(flat), direct, **close)
    as_dict = jax.vmap(lambda v: surrogate({"a": v[0], "b": v[1]}))(flat)
    np.testing.assert_allclose(as_dict, direct, **close)
    # passed through jit as a pytree argument
    np.testing.assert_allclose(jax.jit(lambda s, v: s(v))(surrogate, flat), direct, **close)
    assert isinstance(surrogate, Surrogate) and surrogate.dim == 2


def test_save_and_load_round_trip(tmp_path, trained):
    x, _, surrogate = trained
    surrogate.save(tmp_path / "s.npz")
    loaded = load_surrogate(tmp_path / "s.npz")
    flat = jnp.asarray(x[:50], jnp.float32)
    np.testing.assert_array_equal(loaded(flat), surrogate(flat))
    assert loaded.info == surrogate.info and loaded.layout == surrogate.layout


def test_early_stopping_on_noise_keeps_best_epoch():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 3))
    y = rng.normal(size=400)  # nothing to learn: validation error stops improving quickly
    surrogate = train_surrogate(
        x, y, hidden_sizes=(16,), num_epochs=300, batch_size=64, patience=5, progress_bar=False
    )
    info = surrogate.info
    assert info.num_epochs < 300
    assert info.num_epochs == info.best_epoch + 6
    assert info.validation_rmse == pytest.approx(min(info.history), rel=1e-5)


def test_bad_input_is_named():
    x = np.zeros((10, 2))
    with pytest.raises(ValueError, match="log_densities must have shape"):
        train_surrogate(x, np.zeros(9), progress_bar=False)
    with pytest.raises(ValueError, match="trim_fraction"):
        train_surrogate(x, np.zeros(10), trim_fraction=1.0, progress_bar=False)
    with pytest.raises(ValueError, match="activation"):
        train_surrogate(x, np.arange(10.0), activation="swish!", progress_bar=False)
    with pytest.raises(ValueError, match="too few"):
        train_surrogate(x[:2], np.array([0.0, -np.inf]), progress_bar=False)
    with pytest.raises(ValueError, match="whitening"):
        train_surrogate(x, np.arange(10.0), whitening="zca!", progress_bar=False)


@pytest.mark.parametrize("whitening", ["pca", "cholesky"])
def test_whitening_decorrelates_the_training_inputs(whitening):
    # strongly correlated inputs on very different scales (a ridge, as in DSGE posteriors)
    rng = np.random.default_rng(4)
    z = rng.normal(size=(2000, 3))
    x = np.column_stack([z[:, 0], 1e3 * (z[:, 0] + 0.05 * z[:, 1]), 1e-3 * z[:, 2] + 5.0])
    y = -0.5 * np.sum(z**2, axis=1)
    surrogate = train_surrogate(
        x,
        y,
        trim_fraction=0.0,
        hidden_sizes=(8,),
        num_epochs=1,
        whitening=whitening,
        progress_bar=False,
    )
    assert surrogate.info.whitening == whitening
    # the network sees (x - mean) @ T: unit covariance on the training inputs (the split keeps
    # 90% of the points, so allow sampling error of the held-out 10%)
    u = (x - np.asarray(surrogate.input_mean, np.float64)) @ np.asarray(
        surrogate.input_transform, np.float64
    )
    np.testing.assert_allclose(np.cov(u, rowvar=False), np.eye(3), atol=0.1)
    standardized = train_surrogate(
        x, y, hidden_sizes=(8,), num_epochs=1, whitening="standardize", progress_bar=False
    )
    assert standardized.input_transform is None
    corr = np.corrcoef(
        (x - np.asarray(standardized.input_mean)) / np.asarray(standardized.input_scale),
        rowvar=False,
    )
    assert abs(corr[0, 1]) > 0.99  # per-coordinate scaling keeps the ridge


def test_history_has_a_clock(trained):
    info = trained[2].info
    assert len(info.history_seconds) == len(info.history) == info.num_epochs
    assert np.all(np.diff(info.history_seconds) > 0) and info.cpu_seconds > 0
