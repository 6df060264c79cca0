"""Data-generating processes shared by the panel tests (as fixtures: tests import no helpers)."""

import numpy as np
import pytest

SSP_ALPHA = np.array([[0.4, 1.6], [1.0, 1.0], [1.6, 0.4]])


def ssp_groups(n):
    """SSP shares 0.3 / 0.3 / 0.4; labels already in lexicographic order of SSP_ALPHA."""
    a = int(0.3 * n)
    # SSP_ALPHA rows sorted lexicographically: (0.4,1.6) < (1,1) < (1.6,0.4).
    return np.r_[np.zeros(a, int), np.ones(a, int), np.full(n - 2 * a, 2)]


def _ssp_static(seed, n=200, t=25):
    """SSP (2016) static design: unit effects, x ~ N(0, I2), ε ~ N(0, 1), three groups."""
    rng = np.random.default_rng(seed)
    groups = ssp_groups(n)
    x = rng.normal(size=(n, t, 2))
    mu = rng.normal(size=(n, 1))
    y = mu + np.einsum("itp,ip->it", x, SSP_ALPHA[groups]) + rng.normal(size=(n, t))
    return y, x, groups


def _ssp_factors(seed, n=200, t=50, num_factors=2):
    """SSP groups plus interactive effects, x correlated with the loadings and factors."""
    rng = np.random.default_rng(seed)
    groups = ssp_groups(n)
    lam = rng.normal(size=(n, num_factors))
    f = rng.normal(size=(t, num_factors))
    common = lam @ f.T
    x = rng.normal(size=(n, t, 2)) + 0.5 * np.stack([common, lam[:, :1] * f[:, -1][None, :]], -1)
    y = np.einsum("itp,ip->it", x, SSP_ALPHA[groups]) + common + rng.normal(size=(n, t))
    return y, x, groups


@pytest.fixture(scope="session")
def ssp_static():
    return _ssp_static


@pytest.fixture(scope="session")
def ssp_factors():
    return _ssp_factors
