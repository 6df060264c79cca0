"""The run-time check's covariance change, computed on the host, equals the JAX function."""

import numpy as np

from numpyro_semipar.mcmc._covariance_adapter import covariance_change_numpy
from numpyro_semipar.mcmc.blackjax import _adaptation


def _spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_matches_the_jax_covariance_change_single_and_batched():
    rng = np.random.default_rng(3)
    d = 5
    state = _adaptation.covariance_adaptation_init(d, _spd(rng, d), scale=1.0)
    state = _adaptation.covariance_adaptation_checkpoint(state)
    points = rng.normal(size=(40, d)) * np.linspace(0.5, 3.0, d)
    for point in points:  # move the estimate away from the checkpoint
        state = _adaptation.covariance_adaptation_update(state, point[None], 0.3, None)
    expected = float(_adaptation.covariance_change(state))
    assert expected > 1.5  # the estimate did move
    current = np.asarray(_adaptation.adapted_covariance(state))
    checkpoint = np.asarray(state.checkpoint_covariance)
    np.testing.assert_allclose(covariance_change_numpy(current, checkpoint), expected, rtol=1e-10)
    # Batched over chains, and 1 when nothing changed.
    batched = covariance_change_numpy(np.stack([current, checkpoint]), np.stack([checkpoint] * 2))
    np.testing.assert_allclose(batched, [expected, 1.0], rtol=1e-10)
