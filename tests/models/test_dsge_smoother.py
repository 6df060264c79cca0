"""Kalman smoother on a local-level model against statsmodels' UnobservedComponents smoother."""

import numpy as np
import pytest
from statsmodels.tsa.statespace.structural import UnobservedComponents

from numpyro_semipar.models import dsge


def _local_level(q, h):
    """s_t = s_{t-1} + ε_t (var q), y_t = s_t + e_t (var h), as a StateSpace."""
    return dsge.StateSpace(
        d=np.zeros(1),
        Z=np.ones((1, 1)),
        T=np.ones((1, 1)),
        V=np.full((1, 1), q),
        status=np.asarray(0),
        H=np.full((1, 1), h),
        loading=np.ones((1, 1)),
        shock_cov=np.full((1, 1), q),
    )


@pytest.mark.parametrize("with_gaps", [False, True])
def test_local_level_smoother_matches_statsmodels(with_gaps):
    rng = np.random.default_rng(3)
    n, q, h = 60, 0.4, 1.3
    y = np.cumsum(rng.normal(0, np.sqrt(q), n)) + rng.normal(0, np.sqrt(h), n)
    if with_gaps:
        y[[4, 5, 6, 30, n - 1]] = np.nan
    # A known start: s_0 ~ N(m0, P0) here is s_1 ~ N(m0, P0 + q) in statsmodels' timing.
    m0, p0 = 0.7, 2.0
    model = UnobservedComponents(y, level="llevel")
    model.ssm.initialize_known(np.array([m0]), np.array([[p0 + q]]))
    model.ssm.loglikelihood_burn = 0  # statsmodels skips the first period (diffuse default)
    reference = model.smooth([h, q])

    ours = dsge.kalman_smoother(y[:, None], _local_level(q, h), np.array([m0]), np.array([[p0]]))
    np.testing.assert_allclose(ours.state_mean[:, 0], reference.smoothed_state[0], atol=1e-8)
    np.testing.assert_allclose(
        ours.state_cov[:, 0, 0], reference.smoothed_state_cov[0, 0], atol=1e-8
    )
    # statsmodels' state disturbance at t is the shock that moves s_t to s_{t+1}: ours at t + 1.
    np.testing.assert_allclose(
        ours.shocks[1:, 0], reference.smoothed_state_disturbance[0, :-1], atol=1e-8
    )
    np.testing.assert_allclose(
        ours.measurement_error[:, 0], reference.smoothed_measurement_disturbance[0], atol=1e-8
    )
    # And the filter inside the smoother is the package's filter: same log-likelihood.
    ll = dsge.kalman_loglik(
        y[:, None],
        np.zeros(1),
        np.ones((1, 1)),
        np.ones((1, 1)),
        np.full((1, 1), q),
        np.full((1, 1), h),
        np.array([m0]),
        np.array([[p0]]),
    )
    np.testing.assert_allclose(float(ll), reference.llf, rtol=1e-10)


def test_smoother_rejects_infinite_data():
    y = np.array([[0.1], [np.inf], [0.3]])
    with pytest.raises(ValueError, match=r"y\[1, 0\]"):
        dsge.kalman_smoother(y, _local_level(0.4, 1.0), np.zeros(1), np.eye(1))
