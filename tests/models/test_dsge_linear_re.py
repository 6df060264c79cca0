"""The general linear rational-expectations model: likelihood, outputs, against references.

References: a hand-solved hybrid model (closed-form impulse responses), the model's own
structural equations along the responses, dense Gaussian conditioning of the stacked states,
shocks and observations (likelihood with gaps, smoother, forecasts), discrete Lyapunov equations
from scipy (unconditional variance shares) and finite differences.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.stats
from numpyro.infer.util import log_density

from numpyro_semipar import Float64RequiredError
from numpyro_semipar.models import dsge

THETA = dsge.prior_mean() | {"rho_R": 0.7, "rho_g": 0.9, "kappa": 0.3}


def _theta(values=THETA):
    return {k: jnp.asarray(v) for k, v in values.items()}


@functools.cache
def _with_measurement_error():
    """An–Schorfheide plus measurement error on all three observables (an H ≠ 0 instance).

    One instance for the whole module, so that its compiled programs are shared by the tests.
    """
    base = dsge.AN_SCHORFHEIDE
    return dsge.LinearREModel(
        base.system_matrices,
        base.observation,
        base.shock_cov,
        measurement_cov=lambda t: jnp.diag(jnp.array([0.1, 0.3, 0.2])) ** 2,
        lagged=(0,),
    )


def _hybrid_model(a=0.9, c=0.05, rho=0.7, sigma=0.3):
    # x_t = a E x_{t+1} + c x_{t-1} + u_t, u_t = ρ u_{t-1} + σ ε_t; observed y_t = x_t.
    return dsge.LinearREModel(
        lambda t: (
            -a * jnp.eye(1),
            jnp.eye(1),
            -c * jnp.eye(1),
            -jnp.eye(1),
            rho * jnp.eye(1),
        ),
        lambda t: (jnp.zeros(1), jnp.array([[1.0, 0.0]])),
        lambda t: sigma**2 * jnp.eye(1),
    )


def test_impulse_responses_of_hand_solved_model():
    a, c, rho, sigma = 0.9, 0.05, 0.7, 0.3
    # Stable root of a P² − P + c = 0, and Q from (1 − aP − aρ) Q = 1.
    P = (1 - np.sqrt(1 - 4 * a * c)) / (2 * a)
    Q = 1 / (1 - a * P - a * rho)
    h = np.arange(40)
    expected = Q * sigma * (rho ** (h + 1) - P ** (h + 1)) / (rho - P)
    irf = _hybrid_model(a, c, rho, sigma).impulse_responses({}, 40)
    np.testing.assert_allclose(irf.observables[:, 0, 0], expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(irf.states[:, 0, 1], sigma * rho**h, rtol=1e-12)


def test_an_schorfheide_responses_satisfy_the_structural_equations():
    theta = _theta()
    irf = dsge.AN_SCHORFHEIDE.impulse_responses(theta, 30)
    A, B, C, E, Phi = (np.asarray(m) for m in dsge.system_matrices(theta))
    sd = np.sqrt(np.diag(np.asarray(dsge.AN_SCHORFHEIDE.shock_cov(theta))))
    states = np.asarray(irf.states)
    for j in range(3):
        x, u = states[:, j, :3], states[:, j, 3:6]
        # The exogenous block follows Φ from the one-sd impact.
        u_expected = np.stack(
            [np.linalg.matrix_power(Phi, h) @ (sd * np.eye(3)[j]) for h in range(30)]
        )
        np.testing.assert_allclose(u, u_expected, atol=1e-14)
        # Perfect foresight after the shock: A x_{h+1} + B x_h + C x_{h-1} + E u_h = 0.
        x_lag = np.vstack([np.zeros(3), x[:-1]])
        residual = x[1:] @ A.T + x[:-1] @ B.T + x_lag[:-1] @ C.T + u[:-1] @ E.T
        np.testing.assert_allclose(residual, 0.0, atol=1e-10)
        # Observables: growth y_h − y_{h−1} + z_h, 4π_h, 4R_h (deviations from d).
        growth = x[:, 0] - x_lag[:, 0] + u[:, 1]
        np.testing.assert_allclose(irf.observables[:, j, 0], growth, atol=1e-12)
        np.testing.assert_allclose(irf.observables[:, j, 1:], 4 * x[:, 1:], atol=1e-12)
    # The state's lag block is output lagged once.
    np.testing.assert_allclose(states[1:, :, 6], states[:-1, :, 0], atol=1e-14)


def _dense_joint(ss, n):
    """Mean and covariance of the stacked (states s_1..s_n, shocks ε_1..ε_n, y_1..y_n)."""
    T, Z, L, Om, H, d = (np.asarray(a) for a in (ss.T, ss.Z, ss.loading, ss.shock_cov, ss.H, ss.d))
    k, m, p = T.shape[0], L.shape[1], Z.shape[0]
    sigma0 = scipy.linalg.solve_discrete_lyapunov(T, np.asarray(ss.V))
    power = [np.linalg.matrix_power(T, i) for i in range(n + 1)]
    # s_t = T^t s_0 + Σ_{τ≤t} T^{t−τ} L ε_τ: a linear map of (s_0, ε_1..ε_n, e_1..e_n).
    basis = k + n * m + n * p
    S = np.zeros((n, k, basis))
    for t in range(n):
        S[t, :, :k] = power[t + 1]
        for tau in range(t + 1):
            S[t, :, k + tau * m : k + (tau + 1) * m] = power[t - tau] @ L
    shocks = np.zeros((n, m, basis))
    errors = np.zeros((n, p, basis))
    for t in range(n):
        shocks[t, :, k + t * m : k + (t + 1) * m] = np.eye(m)
        errors[t, :, k + n * m + t * p : k + n * m + (t + 1) * p] = np.eye(p)
    Y = np.einsum("pk,tkb->tpb", Z, S) + errors
    cov_basis = scipy.linalg.block_diag(sigma0, *([Om] * n), *([H] * n))
    M = np.concatenate([S.reshape(-1, basis), shocks.reshape(-1, basis), Y.reshape(-1, basis)])
    mean = np.concatenate([np.zeros(n * k + n * m), np.tile(d, n)])
    return mean, M @ cov_basis @ M.T, (n * k, n * m, n * p)


def _condition(mean, cov, observed_idx, values):
    """Gaussian conditioning on the entries observed_idx = values."""
    other = np.setdiff1d(np.arange(len(mean)), observed_idx)
    K = cov[np.ix_(other, observed_idx)] @ np.linalg.inv(cov[np.ix_(observed_idx, observed_idx)])
    cond_mean = mean[other] + K @ (values - mean[observed_idx])
    cond_cov = cov[np.ix_(other, other)] - K @ cov[np.ix_(observed_idx, other)]
    return other, cond_mean, cond_cov


def _data_with_gaps():
    y, _ = dsge.load_us_data("1990Q1", "1992Q3")
    y = y[:8].copy()
    y[1, 0] = np.nan  # one entry
    y[3, :] = np.nan  # a whole period
    y[6, 1:] = np.nan  # two entries
    return y


@pytest.mark.parametrize("measurement_error", [False, True])
def test_likelihood_with_missing_entries_equals_dense_gaussian_of_observed(measurement_error):
    model = _with_measurement_error() if measurement_error else dsge.AN_SCHORFHEIDE
    y = _data_with_gaps()
    theta = _theta()
    ss = model.state_space(theta)
    n, p = y.shape
    mean, cov, (ns, ne, _) = _dense_joint(ss, n)
    obs = ns + ne + np.flatnonzero(~np.isnan(y.reshape(-1)))
    dense = scipy.stats.multivariate_normal(mean[obs], cov[np.ix_(obs, obs)]).logpdf(
        y.reshape(-1)[~np.isnan(y.reshape(-1))]
    )
    ll, status = model.log_likelihood(theta, y)
    assert int(status) == 0
    np.testing.assert_allclose(float(ll), dense, rtol=1e-10)


def test_likelihood_with_missing_entries_gradient_matches_finite_differences():
    model = dsge.AN_SCHORFHEIDE
    y = _data_with_gaps()
    names = ("tau", "kappa", "rho_g", "sigma_z", "pi_A")
    h = 1e-6

    @jax.jit
    def check(theta):
        grad = jax.grad(lambda t: model.log_likelihood(t, y)[0])(theta)
        steps = jnp.concatenate([h * jnp.eye(len(names)), -h * jnp.eye(len(names))])
        shifted = {
            k: v + (steps[:, names.index(k)] if k in names else jnp.zeros(len(steps)))
            for k, v in theta.items()
        }
        values = jax.vmap(lambda t: model.log_likelihood(t, y)[0])(shifted)
        return grad, (values[: len(names)] - values[len(names) :]) / (2 * h)

    grad, fd = check(_theta())
    assert np.all(np.isfinite(fd))
    for i, name in enumerate(names):
        np.testing.assert_allclose(float(grad[name]), float(fd[i]), rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("measurement_error", [False, True])
def test_smoother_and_forecast_equal_dense_gaussian_conditioning(measurement_error):
    model = _with_measurement_error() if measurement_error else dsge.AN_SCHORFHEIDE
    y = _data_with_gaps()
    theta = _theta()
    ss = model.state_space(theta)
    n, p = y.shape
    k, m, horizon = ss.T.shape[0], ss.loading.shape[1], 3
    # Stack the sample with `horizon` unobserved future periods: conditioning on the observed
    # entries gives the smoother on the first n periods and the forecasts on the rest.
    mean, cov, (ns, ne, _) = _dense_joint(ss, n + horizon)
    y_all = np.vstack([y, np.full((horizon, p), np.nan)]).reshape(-1)
    obs = ns + ne + np.flatnonzero(~np.isnan(y_all))
    other, cmean, ccov = _condition(mean, cov, obs, y_all[~np.isnan(y_all)])
    full_mean = np.full(len(mean), np.nan)
    full_mean[other] = cmean
    states = full_mean[:ns].reshape(n + horizon, k)
    shocks = full_mean[ns : ns + ne].reshape(n + horizon, m)
    state_cov = ccov[: n * k, : n * k]  # the state block comes first among `other`

    smoothed = model.smooth(theta, y)
    np.testing.assert_allclose(smoothed.state_mean, states[:n], atol=1e-8)
    np.testing.assert_allclose(smoothed.shocks, shocks[:n], atol=1e-8)
    blocks = np.stack([state_cov[t * k : (t + 1) * k, t * k : (t + 1) * k] for t in range(n)])
    np.testing.assert_allclose(smoothed.state_cov, blocks, atol=1e-8)

    fc = model.forecast(theta, y, horizon)
    y_future = np.arange(ns + ne + n * p, ns + ne + (n + horizon) * p)
    pos = np.searchsorted(other, y_future)
    np.testing.assert_allclose(fc.mean.reshape(-1), cmean[pos], atol=1e-8)
    for h in range(horizon):
        sl = pos[h * p : (h + 1) * p]
        np.testing.assert_allclose(fc.cov[h], ccov[np.ix_(sl, sl)], atol=1e-8)


@pytest.mark.parametrize("measurement_error", [False, True])
def test_variance_decomposition_rows_and_unconditional_shares(measurement_error):
    model = _with_measurement_error() if measurement_error else dsge.AN_SCHORFHEIDE
    theta = _theta()
    shares = np.asarray(model.variance_decomposition(theta, [1, 4, 40, 3000]))
    assert shares.shape == (4, 3, 4)
    np.testing.assert_allclose(shares.sum(axis=-1), 1.0, atol=1e-12)
    assert np.all(shares >= 0)
    # Unconditional variance of each observable due to shock j: Z Σ_j Zᵀ with Σ_j = T Σ_j Tᵀ + V_j.
    ss = model.state_space(theta)
    T, Z, L = (np.asarray(a) for a in (ss.T, ss.Z, ss.loading))
    sd = np.sqrt(np.diag(np.asarray(ss.shock_cov)))
    parts = []
    for j in range(3):
        impact = L[:, j] * sd[j]
        sigma_j = scipy.linalg.solve_discrete_lyapunov(T, np.outer(impact, impact))
        parts.append(np.diag(Z @ sigma_j @ Z.T))
    parts.append(np.diag(np.asarray(ss.H)))
    parts = np.stack(parts, axis=1)
    np.testing.assert_allclose(shares[-1], parts / parts.sum(axis=1, keepdims=True), atol=1e-10)
    if not measurement_error:
        # Without measurement error its column is zero at every horizon.
        np.testing.assert_allclose(shares[:, :, 3], 0.0)


@pytest.mark.parametrize("measurement_error", [False, True])
def test_historical_decomposition_adds_up_to_the_data(measurement_error):
    model = _with_measurement_error() if measurement_error else dsge.AN_SCHORFHEIDE
    y, _ = dsge.load_us_data("1988Q1", "1995Q4")
    y = y.copy()
    y[5, 2] = np.nan
    decomposition = model.historical_decomposition(_theta(), y)
    total = np.asarray(decomposition.total())
    observed = ~np.isnan(y)
    np.testing.assert_allclose(total[observed], y[observed], atol=1e-10)
    # Without the initial state and the constant, the parts are the shocks' accumulated effects.
    shocks_only = total - np.asarray(decomposition.constant) - decomposition.initial_state
    np.testing.assert_allclose(
        shocks_only,
        np.asarray(decomposition.shocks.sum(axis=1) + decomposition.measurement_error),
        atol=1e-12,
    )
    if not measurement_error:
        np.testing.assert_allclose(decomposition.measurement_error, 0.0, atol=1e-10)


def test_numpyro_model_density_is_prior_plus_likelihood():
    model = dsge.AN_SCHORFHEIDE.numpyro_model(dsge.an_schorfheide_priors())
    y = _data_with_gaps()
    theta = _theta()
    logp, trace = log_density(model, (y,), {}, theta)
    ll, _ = dsge.AN_SCHORFHEIDE.log_likelihood(theta, y)
    np.testing.assert_allclose(float(logp), float(dsge.log_prior(theta) + ll), rtol=1e-12)
    assert int(trace["solver_status"]["value"]) == 0
    # The hand-written An–Schorfheide likelihood is the general one.
    np.testing.assert_array_equal(float(ll), float(dsge.log_likelihood(theta, y)[0]))


def test_distribution_is_minus_inf_when_indeterminate_and_samples_stationary():
    # ψ1 < 1 violates the Taylor principle: indeterminate.
    bad = _theta(THETA | {"psi1": 0.5})
    y = dsge.load_us_data("1990Q1", "1992Q3")[0][:8]

    @jax.jit
    def evaluate(t):
        def log_prob(t):
            return dsge.AN_SCHORFHEIDE.distribution(t, 8).log_prob(y)

        return dsge.AN_SCHORFHEIDE.state_space(t).status, log_prob(t), jax.grad(log_prob)(t)

    status, log_prob, grad = evaluate(bad)
    assert int(status) == 1 and float(log_prob) == -np.inf
    assert all(np.isfinite(float(g)) for g in grad.values())

    # Simulated samples: the sample covariance of y_t matches Z Σ Zᵀ (stationary start).
    @jax.jit
    def simulate(t, key):
        fit = dsge.AN_SCHORFHEIDE.distribution(t, 2)
        return fit.sample(key, (20_000,)), fit.ss

    draws, ss = simulate(_theta(), jax.random.key(0))
    draws = np.asarray(draws)
    assert draws.shape == (20_000, 2, 3)
    sigma = np.asarray(dsge.solve_discrete_lyapunov(ss.T, ss.V))
    expected = np.asarray(ss.Z) @ sigma @ np.asarray(ss.Z).T
    np.testing.assert_allclose(np.cov(draws[:, 1].T), expected, rtol=0.05, atol=0.02)
    np.testing.assert_allclose(draws[:, 0].mean(axis=0), np.asarray(ss.d), atol=0.1)


def test_impulse_response_bands_over_draws():
    rng = np.random.default_rng(0)
    draws = {k: jnp.asarray(v * (1 + 0.05 * rng.standard_normal(30))) for k, v in THETA.items()}
    bands, mean = dsge.AN_SCHORFHEIDE.impulse_response_bands(draws, 12, probs=(0.1, 0.5, 0.9))
    assert bands.shape == (3, 12, 3, 3) and mean.shape == (12, 3, 3)
    assert np.all(bands[0] <= bands[1] + 1e-15) and np.all(bands[1] <= bands[2] + 1e-15)
    # The band of one draw repeated is that draw's response.
    one = {k: jnp.full(4, v) for k, v in THETA.items()}
    bands, _ = dsge.AN_SCHORFHEIDE.impulse_response_bands(one, 12)
    single = dsge.AN_SCHORFHEIDE.impulse_responses(_theta(), 12).observables
    np.testing.assert_allclose(bands[1], single, atol=1e-12)


def test_forecast_bands_at_one_parameter_point_are_normal_quantiles():
    # With every draw at the same point, the bands are quantiles of N(mean_h, cov_h).
    y = _data_with_gaps()
    num = 4000
    draws = {k: jnp.full(num, v) for k, v in THETA.items()}
    bands = dsge.AN_SCHORFHEIDE.forecast_bands(jax.random.key(1), draws, y, 3)
    assert bands.shape == (3, 3, 3)
    fc = dsge.AN_SCHORFHEIDE.forecast(_theta(), y, 3)
    sd = np.sqrt(np.diagonal(np.asarray(fc.cov), axis1=1, axis2=2))
    z = scipy.stats.norm.ppf(0.95)
    # Monte Carlo error of a 5% quantile from 4,000 draws is about 0.034 sd; of the median 0.02.
    np.testing.assert_allclose((bands[0] - fc.mean) / sd, -z, atol=0.15)
    np.testing.assert_allclose((bands[2] - fc.mean) / sd, z, atol=0.15)
    np.testing.assert_allclose((bands[1] - fc.mean) / sd, 0.0, atol=0.1)


def test_bad_inputs_are_named():
    base = dsge.AN_SCHORFHEIDE
    with pytest.raises(TypeError, match="observation"):
        dsge.LinearREModel(base.system_matrices, None, base.shock_cov)
    with pytest.raises(ValueError, match="lagged"):
        dsge.LinearREModel(base.system_matrices, base.observation, base.shock_cov, lagged=(-1,))
    short = dsge.LinearREModel(base.system_matrices, base.observation, base.shock_cov)
    with pytest.raises(ValueError, match=r"Z of shape \(p, 6\)"):
        short.state_space(_theta())
    with pytest.raises(ValueError, match="status 1"):
        base.impulse_responses(_theta(THETA | {"psi1": 0.5}), 10)
    with pytest.raises(ValueError, match="horizon"):
        base.impulse_responses(_theta(), 0)
    with pytest.raises(ValueError, match="probs"):
        base.impulse_response_bands({k: jnp.full(2, v) for k, v in THETA.items()}, 5, (0.5, 1.0))


def test_float32_entry_fails_with_one_clear_message():
    with jax.enable_x64(False):
        with pytest.raises(Float64RequiredError, match=r"numpyro\.enable_x64\(\)"):
            dsge.AN_SCHORFHEIDE.log_likelihood(THETA, np.zeros((4, 3)))
