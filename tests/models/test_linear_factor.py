"""LinearFactor.lclk against the normal density of each period, computed by scipy."""

import jax.numpy as jnp
import numpy as np
from scipy.stats import norm

from numpyro_semipar.models import LinearFactor


def test_lclk_is_the_sum_of_normal_log_densities_over_periods():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(7, 4))
    grid = np.linspace(-2.0, 3.0, 5)
    coef = np.array([1.5, -0.4, 0.3])
    log_sd = np.array([0.1, -0.2, 0.0, 0.4])
    model = LinearFactor(jnp.asarray(coef), jnp.asarray(log_sd))
    loadings = np.concatenate([[1.0], coef])
    expected = norm.logpdf(y[:, None, :], grid[None, :, None] * loadings, np.exp(log_sd)).sum(
        axis=-1
    )
    np.testing.assert_allclose(
        np.asarray(model.lclk(jnp.asarray(y), jnp.asarray(grid))), expected, rtol=1e-12
    )
