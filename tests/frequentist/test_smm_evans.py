"""Evans' SMM chapter with the book's own draws: exact reproduction and the honest fixes."""

import pathlib

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as sts
from jax.scipy.stats import norm

from numpyro_semipar.frequentist import SMM
from numpyro_semipar.moments import FlatCriterionError, bin_shares

REPO = pathlib.Path(__file__).parents[2]
CANDIDATES = [
    REPO / "examples" / "data" / "Econ381totpts.txt",
    REPO / ".." / "shared" / "data" / "smm" / "Econ381totpts.txt",
]
EDGES = [0.0, 220.0, 320.0, 430.0, 450.0]
ROOT = (619.43040058, 199.0748074)
BOOK_4_IDENTITY = {"mu": 362.560593472098, "sigma": 46.5751519565219}
BOOK_4_TWO_STEP = {"mu": 362.5605400454758, "sigma": 46.57507128065564}
START = {"mu": 300.0, "sigma": 30.0}
POSITIVE = {"mu": (1e-10, None), "sigma": (1e-10, None)}


def simulate(params, u):
    mu, sigma = params["mu"], params["sigma"]
    lo, hi = norm.cdf(0.0, mu, sigma), norm.cdf(450.0, mu, sigma)
    return norm.ppf(u * (hi - lo) + lo, mu, sigma)


def mean_var(x):
    return jnp.stack([x.mean(), x.var()])


def bins(x):
    return bin_shares(x, EDGES)


@pytest.fixture(scope="module")
def data():
    path = next(p for p in CANDIDATES if p.exists())
    return np.loadtxt(path)


@pytest.fixture(scope="module")
def book_draws():
    # The book runs np.random.seed(25) then uniform.rvs: the same legacy MT19937 stream.
    u = sts.uniform.rvs(0, 1, size=(161, 100), random_state=np.random.RandomState(25))
    assert u[0, 0] == 0.8701241366272119
    return u.T  # the book's draws are (N, S): S leads here


@pytest.fixture(scope="module")
def smm2(book_draws):
    return SMM(simulate, mean_var, book_draws, error="percent", moment_names=["mean", "var"])


@pytest.fixture(scope="module")
def smm4(book_draws):
    return SMM(simulate, bins, book_draws, error="percent")


def test_data_matches_notes(data):
    assert data.shape == (161,)
    np.testing.assert_allclose(data.mean(), 341.90869565217395, rtol=1e-14)
    np.testing.assert_allclose(data.var(), 7827.997292398056, rtol=1e-14)


@pytest.mark.parametrize("weighting", ["identity", "two-step", "array"])
def test_two_moment_fit_is_the_exact_root_for_any_weighting(smm2, data, weighting):
    w = np.array([[2.0, 0.3], [0.3, 0.5]]) if weighting == "array" else weighting
    result = smm2.fit(data, START, weighting=w, bounds=POSITIVE)
    assert result.converged and result.exactly_identified
    np.testing.assert_allclose(result.params["mu"], ROOT[0], atol=1e-6)
    np.testing.assert_allclose(result.params["sigma"], ROOT[1], atol=1e-6)
    np.testing.assert_allclose(result.moment_errors, 0.0, atol=1e-12)
    # Honest (1 + 1/S) sandwich SEs, the same for every W in an exactly identified model.
    np.testing.assert_allclose(result.flat_std_errors, [205.0, 62.0], rtol=0.01)
    assert result.j_test is None


def test_criterion_at_book_estimate(smm4, data):
    # float64 bin shares: a float32 boolean mean changes the 8th digit.
    value = smm4.criterion(BOOK_4_IDENTITY, np.eye(4), data=data)
    assert value == pytest.approx(0.9819514324825378, rel=1e-14, abs=0.0)


def test_evans_std_errors_reproduce_the_book(smm4, data):
    se = smm4.evans_std_errors(BOOK_4_IDENTITY, np.eye(4), data=data)
    np.testing.assert_allclose([se["mu"], se["sigma"]], [5.786856, 4.258474], atol=5e-7)
    omega = smm4.moment_covariance(BOOK_4_IDENTITY, centered=False, data=data)
    w2 = np.linalg.pinv(omega)  # the book's two-step weight (its Ω̂ is singular)
    se2 = smm4.evans_std_errors(BOOK_4_TWO_STEP, w2, data=data)
    np.testing.assert_allclose([se2["mu"], se2["sigma"]], [1.880684, 1.331105], atol=5e-7)


def test_raw_indicator_moments_raise_flat_criterion(smm4, data):
    with pytest.raises(FlatCriterionError, match="smooth"):
        smm4.fit(data, START, bounds=POSITIVE)


def test_smoothed_bins_two_step_reports_collinear_moments(book_draws, data):
    smooth4 = SMM(
        simulate,
        lambda x: bin_shares(x, [-np.inf, 220.0, 320.0, 430.0, np.inf], bandwidth=2.0),
        book_draws,
        error="difference",
        moment_names=["b1", "b2", "b3", "b4"],
    )
    with pytest.raises(ValueError, match=r"collinear moments: \{b1, b2, b3, b4\}"):
        smooth4.fit(data, {"mu": 360.0, "sigma": 50.0}, weighting="two-step", bounds=POSITIVE)
