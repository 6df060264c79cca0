"""The HANK posterior's parametrisation and priors (no sequence-jacobian needed)."""

import numpy as np
import pytest

from numpyro_semipar.models.dsge._an_schorfheide import _inverse_gamma_hs
from numpyro_semipar.models.hank import (
    HANK_PARAM_NAMES,
    HANK_START,
    HankPosterior,
    hank_priors,
    load_hank_data,
    to_parameters,
    to_unconstrained,
)


def test_transform_round_trip_and_log_jacobian_against_finite_differences():
    z = to_unconstrained(HANK_START) + np.linspace(-0.3, 0.3, len(HANK_PARAM_NAMES))
    theta, log_jacobian = to_parameters(z)
    np.testing.assert_allclose(to_unconstrained(theta), z, rtol=0, atol=1e-12)
    # The map is coordinate-wise: log|det J| is the sum of log derivatives.
    step = 1e-6
    derivatives = []
    for i, name in enumerate(HANK_PARAM_NAMES):
        up, down = z.copy(), z.copy()
        up[i] += step
        down[i] -= step
        derivatives.append((to_parameters(up)[0][name] - to_parameters(down)[0][name]) / (2 * step))
    np.testing.assert_allclose(log_jacobian, np.sum(np.log(derivatives)), rtol=1e-8)
    assert theta["phi"] > 1.0


def test_priors_have_the_stated_moments_and_the_herbst_schorfheide_inverse_gamma():
    priors = hank_priors()
    for name, mean, sd in (
        ("eis", 0.5, 0.1),
        ("phi", 0.5, 0.25),
        ("kappa", 0.1, 0.05),
        ("rho_rstar", 0.5, 0.2),
    ):
        assert priors[name].mean() == pytest.approx(mean, rel=1e-12)
        assert priors[name].std() == pytest.approx(sd, rel=1e-12)
    # The inverse gamma against the DSGE example's NumPyro version (a transformed distribution).
    sigma = np.array([0.1, 0.3, 0.5, 1.0, 2.5])
    reference = np.asarray(_inverse_gamma_hs(0.5, 4.0).log_prob(sigma))
    ours = np.array([priors["sigma_Z"].logpdf(s) for s in sigma])
    np.testing.assert_allclose(ours, reference, rtol=1e-10)


def test_bad_inputs_name_the_argument():
    data, _ = load_hank_data("2002Q1", "2007Q4")
    assert np.allclose(data.mean(axis=0), 0.0)
    with pytest.raises(ValueError, match="horizon"):
        HankPosterior(data, horizon=10)
    with pytest.raises(ValueError, match="data"):
        HankPosterior(data[:, :2])
    with pytest.raises(ValueError, match="fixed"):
        HankPosterior(data, fixed={"beta": 0.9})
    posterior = HankPosterior(data, horizon=40, fixed={"eis": 0.5})
    assert posterior.dimension == len(HANK_PARAM_NAMES) - 1
    with pytest.raises(ValueError, match="z must have shape"):
        posterior(np.zeros(3))
