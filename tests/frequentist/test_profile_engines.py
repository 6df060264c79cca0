"""ProfileMLE's two engines (host-driven and compiled) reach the same estimates."""

import numpy as np
import pytest

from numpyro_semipar.frequentist import ProfileMLE

from .test_profile_mle import GRID, START, N, simulate


def _outlier(data):
    # One row far outside the grid's reach: its likelihood underflows at every grid point
    # unless computed relative to its own maximum (the host engine's log-space fallback).
    data = data.copy()
    data[7] += 40.0
    return data


def _row_weights():
    weights = np.random.default_rng(5).integers(0, 4, size=N).astype(float)
    weights[:3] = 0.0
    return weights


# name, ProfileMLE options, transformation of the data
CASES = [
    ("plain", {}, None),
    ("row_weights", {"weights": _row_weights()}, None),
    ("groups", {"groups": (np.arange(N) % 3 == 0).astype(int)}, None),
    ("outlying_row", {}, _outlier),
    # 3 chunks of 200 rows for 599 rows: the last chunk is padded.
    ("row_chunks", {"row_chunk": 200}, lambda y: y[:599]),
]


@pytest.mark.parametrize(
    ("options", "transform"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_host_and_compiled_engines_agree(options, transform):
    data = simulate(11, N)
    data = data if transform is None else transform(data)
    host = ProfileMLE(GRID, engine="host", **options).fit(START, data)
    compiled = ProfileMLE(GRID, engine="compiled", **options).fit(START, data)
    assert host.converged and compiled.converged
    assert host.inner_kkt_residual < 1e-8 and compiled.inner_kkt_residual < 1e-8
    np.testing.assert_allclose(host.flat_params, compiled.flat_params, atol=1e-7)
    np.testing.assert_allclose(host.loglik, compiled.loglik, rtol=1e-11)
    np.testing.assert_allclose(host.flat_std_errors, compiled.flat_std_errors, rtol=1e-5)
    np.testing.assert_allclose(host.mixing.weights, compiled.mixing.weights, atol=1e-6)
    np.testing.assert_allclose(host.scores, compiled.scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(host.hessian_known_mixing, compiled.hessian_known_mixing, rtol=1e-6)


def test_engine_is_validated():
    with pytest.raises(ValueError, match="engine"):
        ProfileMLE(GRID, engine="gpu")


def test_auto_engine_fits_small_problems_on_the_host():
    from numpyro_semipar.frequentist._profile_newton import maximise_compiled, maximise_host

    auto = ProfileMLE(GRID)
    theta = np.zeros(5)
    small = np.ones((N, 1))
    large = np.broadcast_to(np.ones((1, 1)), (10**6, 1))  # n·m·k = 1.25e8 > 2e7
    assert auto._maximiser(False, small, theta) is maximise_host
    assert auto._maximiser(False, large, theta) is maximise_compiled
    assert auto._maximiser(True, small, theta) is maximise_compiled
    assert ProfileMLE(GRID, engine="host")._maximiser(True, large, theta) is maximise_host
