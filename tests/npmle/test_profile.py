"""profile_loglik: exact value, gradient and Hessian (finite differences), groups, weights."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from numpyro_semipar import Float64RequiredError
from numpyro_semipar.models import LinearFactor
from numpyro_semipar.npmle import profile_loglik
from numpyro_semipar.npmle._profile import group_weights, profile_pointwise
from numpyro_semipar.npmle._profile_derivatives import profile_curvature

GRID = jnp.linspace(-6.0, 6.0, 40)
TRUE_COEF = np.array([1.5, 0.3])
TRUE_LOG_SD = np.array([0.0, 0.2, -0.3])


def simulate(seed, n):
    rng = np.random.default_rng(seed)
    x = rng.choice([-3.0, 0.0, 5.0], size=n, p=[0.3, 0.5, 0.2])
    loadings = np.concatenate([[1.0], TRUE_COEF])
    return x[:, None] * loadings + np.exp(TRUE_LOG_SD) * rng.normal(size=(n, 3))


START = LinearFactor(jnp.array([1.45, 0.32]), jnp.array([0.05, 0.15, -0.25]))
PARAMS, STATIC = eqx.partition(START, eqx.is_array)
FLAT, UNRAVEL = ravel_pytree(PARAMS)


def flat_profile(data, **kwargs):
    def fn(theta):
        return profile_loglik(eqx.combine(UNRAVEL(theta), STATIC), data, GRID, **kwargs)[0]

    return fn


def _all_derivatives(theta, data, weights, groups=None):
    fn = flat_profile(data, weights=weights, groups=groups)
    value, grad = jax.value_and_grad(fn)(theta)
    return value, grad, jax.hessian(fn)(theta)


# One compiled function per structure (with / without groups), shared by the tests: compiling
# the solver and its derivatives dominates the cost of these small problems.
derivatives = jax.jit(_all_derivatives)


def assert_derivatives_match_fd(data, weights, groups=None, eps=1e-5, rtol=1e-5):
    def at(theta):
        return derivatives(theta, data, weights, groups)

    value, grad, hess = at(FLAT)
    plus = [at(FLAT + eps * e) for e in np.eye(FLAT.size)]
    minus = [at(FLAT - eps * e) for e in np.eye(FLAT.size)]
    g_fd = np.array([(p[0] - m[0]) / (2 * eps) for p, m in zip(plus, minus, strict=True)])
    h_fd = np.array([(p[1] - m[1]) / (2 * eps) for p, m in zip(plus, minus, strict=True)])
    assert np.isfinite(value) and np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))
    assert np.max(np.abs(grad - g_fd)) <= rtol * np.max(np.abs(grad))
    assert np.max(np.abs(hess - h_fd)) <= rtol * np.max(np.abs(hess))
    np.testing.assert_allclose(hess, hess.T, rtol=0, atol=1e-8 * np.max(np.abs(hess)))
    return value, grad, hess


@pytest.fixture(scope="module")
def data():
    return jnp.asarray(simulate(0, 300))


def ones(data):
    return jnp.ones(data.shape[0])


def test_value_and_weights_are_optimal(data):
    loglik, weights = profile_loglik(START, data, GRID)
    log_lik = START.lclk(data, GRID)
    np.testing.assert_allclose(loglik, jnp.sum(jax.nn.logsumexp(log_lik, b=weights, axis=1)))
    np.testing.assert_allclose(loglik, derivatives(FLAT, data, ones(data))[0], rtol=1e-12)
    assert weights.shape == (GRID.shape[0],) and np.all(weights >= 0)
    np.testing.assert_allclose(weights.sum(), 1.0, atol=1e-12)
    # KKT: d_j = mean_i G_ij / u_i is 1 on the support and at most 1 elsewhere.
    d = jnp.mean(jnp.exp(log_lik - jax.nn.logsumexp(log_lik, b=weights, axis=1)[:, None]), 0)
    assert np.max(d) <= 1 + 1e-7
    np.testing.assert_allclose(d[weights > 1e-6], 1.0, atol=1e-7)


@pytest.mark.parametrize("case", ["plain", "weights", "groups"])
def test_gradient_and_hessian_match_finite_differences(data, case):
    n = data.shape[0]
    weights = jnp.asarray(np.random.default_rng(1).uniform(0.2, 2.0, n))
    if case == "plain":
        assert_derivatives_match_fd(data, ones(data))
    elif case == "weights":
        assert_derivatives_match_fd(data, weights)
    else:
        assert_derivatives_match_fd(data, weights, jax.nn.one_hot(jnp.arange(n) % 2, 2))


def test_outlying_row_gives_finite_exact_derivatives(data):
    # Best log-likelihood of the outlier is about -5000: spmlex returns NaN gradients here.
    outlier = data.at[0].set(jnp.array([60.0, -80.0, 50.0]))
    assert float(jnp.max(START.lclk(outlier, GRID)[0])) < -1000
    assert_derivatives_match_fd(outlier, ones(outlier))


def test_hessian_includes_the_psd_cost_of_estimating_the_mixing_distribution(data):
    _, _, hess = derivatives(FLAT, data, ones(data))
    weights = profile_loglik(START, data, GRID)[1]

    def known(theta):
        log_lik = eqx.combine(UNRAVEL(theta), STATIC).lclk(data, GRID)
        return jnp.sum(jax.nn.logsumexp(log_lik, b=weights, axis=1))

    correction = hess - jax.hessian(known)(FLAT)
    evals = np.linalg.eigvalsh(np.asarray(correction + correction.T) / 2)
    assert evals.min() >= -1e-8 * evals.max()
    assert evals.max() > 1e-2 * np.max(np.abs(np.diag(hess)))


def test_integer_weights_equal_replicated_rows(data):
    # 100 distinct rows with counts summing to 300, padded with zero-weight rows, against the
    # 300 replicated rows: same shapes, so the compiled function is shared.
    counts = np.full(100, 3)
    counts[:50] = np.random.default_rng(2).integers(1, 6, size=50)
    counts[50:] = (300 - counts[:50].sum()) // 50
    counts[-1] += 300 - counts.sum()
    unique = np.asarray(data[:100])
    padded = jnp.asarray(np.concatenate([unique, np.asarray(data[100:])]))
    weights = jnp.asarray(np.concatenate([counts, np.zeros(200)]))
    replicated = jnp.asarray(np.repeat(unique, counts, axis=0))
    weighted = derivatives(FLAT, padded, weights)
    expanded = derivatives(FLAT, replicated, ones(replicated))
    np.testing.assert_allclose(weighted[0], expanded[0], rtol=1e-10)
    np.testing.assert_allclose(weighted[1], expanded[1], rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(weighted[2], expanded[2], rtol=1e-6, atol=1e-4)


def test_groups_profile_separately_and_labels_equal_dummies(data):
    n = data.shape[0]
    labels = jnp.asarray(np.arange(n) % 2)
    dummies = jax.nn.one_hot(labels, 2)
    loglik, _, _ = derivatives(FLAT, data, ones(data), dummies)
    # Each group on its own: zero weight on the other group's rows.
    separate = sum(derivatives(FLAT, data, dummies[:, g])[0] for g in range(2))
    np.testing.assert_allclose(loglik, separate, rtol=1e-10)
    loglik_l, weights_l = profile_loglik(START, data, GRID, groups=labels)
    loglik_d, weights_d = profile_loglik(START, data, GRID, groups=dummies)
    assert weights_l.shape == (2, GRID.shape[0])
    np.testing.assert_allclose(loglik_l, loglik, rtol=1e-12)
    np.testing.assert_allclose(weights_d, weights_l, atol=1e-10)


def test_function_form_jit_and_vmap_over_parameters(data):
    def lclk(params, y, grid):
        return LinearFactor(params["coef"], params["log_sd"]).lclk(y, grid)

    params = {"coef": START.coef, "log_sd": START.log_sd}
    value, grad = jax.jit(
        jax.value_and_grad(lambda p: profile_loglik(lclk, data, GRID, params=p)[0])
    )(params)
    reference = derivatives(FLAT, data, ones(data))
    np.testing.assert_allclose(value, reference[0], rtol=1e-12)
    np.testing.assert_allclose(grad["coef"], reference[1][:2], rtol=1e-9)

    thetas = FLAT + 0.02 * jnp.arange(3.0)[:, None]
    batched = jax.jit(jax.vmap(derivatives, in_axes=(0, None, None)))(thetas, data, ones(data))
    for i in range(3):
        single = derivatives(thetas[i], data, ones(data))
        for b, s in zip(batched, single, strict=True):
            np.testing.assert_allclose(b[i], s, rtol=1e-8, atol=1e-8)


def _largest_intermediate(jaxpr) -> int:
    largest = 0
    for eqn in jaxpr.eqns:
        for var in eqn.outvars:
            shape = getattr(var.aval, "shape", ())
            largest = max(largest, int(np.prod(shape)) if shape else 1)
        for param in eqn.params.values():
            subs = param if isinstance(param, list | tuple) else [param]
            for sub in subs:
                inner = getattr(sub, "jaxpr", None)
                if inner is not None:
                    largest = max(largest, _largest_intermediate(getattr(inner, "jaxpr", inner)))
    return largest


def test_memory_is_linear_in_grid_size(data):
    # No (n, m, m) tensor (spmlex builds one: 32 GB at n = 1e5, m = 200): every intermediate
    # of the value, gradient and Hessian is at most a few n·m·k.
    fn = flat_profile(data)
    n, m, k = data.shape[0], GRID.shape[0], FLAT.size
    for transform in (jax.value_and_grad, jax.hessian):
        jaxpr = jax.make_jaxpr(transform(fn))(FLAT).jaxpr
        assert _largest_intermediate(jaxpr) <= 3 * n * m * k < n * m * m


def test_bad_input_is_reported(data):
    with pytest.raises(TypeError, match="lclk"):
        profile_loglik(object(), data, GRID)
    with pytest.raises(ValueError, match="row 3"):
        profile_loglik(lambda p, y, g: jnp.zeros((5, 4)).at[3].set(-jnp.inf), None, GRID, params=1)
    with pytest.raises(ValueError, match="row 1"):
        profile_loglik(START, data, GRID, weights=jnp.ones(data.shape[0]).at[1].set(-1.0))
    with pytest.raises(ValueError, match="group 1"):
        profile_loglik(START, data, GRID, groups=jax.nn.one_hot(jnp.zeros(300, int), 3))
    with pytest.raises(ValueError, match="shape"):
        profile_loglik(START, data, GRID, weights=jnp.ones(3))
    with pytest.raises(ValueError, match="NaN at row 0"):
        profile_loglik(lambda p, y, g: jnp.full((2, 3), jnp.nan), None, GRID, params=1)


def _curvature_and_reference(theta, data, weights, groups, row_chunk):
    def log_lik_fn(th, y):
        return eqx.combine(UNRAVEL(th), STATIC).lclk(y, GRID)

    row_weights = group_weights(weights, groups, data.shape[0], num_groups=2)
    out = profile_curvature(log_lik_fn, theta, data, row_weights, row_chunk=row_chunk)

    def weighted_pointwise(th):
        return row_weights.sum(1) * profile_pointwise(log_lik_fn(th, data), row_weights)[0]

    return out, jax.jacfwd(weighted_pointwise)(theta)


curvature_and_reference = jax.jit(_curvature_and_reference, static_argnames="row_chunk")


@pytest.mark.parametrize("case", ["weights", "groups-outlier"])
def test_chunked_curvature_equals_automatic_derivatives(data, case):
    # profile_curvature (used by ProfileMLE) assembles the derivatives by hand, chunk by chunk;
    # they must equal jax's derivatives of profile_loglik, which match finite differences.
    n = data.shape[0]
    if case == "weights":
        weights = jnp.asarray(np.random.default_rng(1).uniform(0.2, 2.0, n)).at[5].set(0.0)
        groups, chunk = None, 45  # 7 chunks of 43 rows: the last one has a padding row
    else:
        data = data.at[0].set(jnp.array([60.0, -80.0, 50.0]))
        weights, groups, chunk = ones(data), jax.nn.one_hot(jnp.arange(n) % 2, 2), 64
    out, scores = curvature_and_reference(FLAT, data, weights, groups, chunk)
    value, grad, hess = derivatives(FLAT, data, weights, groups)
    np.testing.assert_allclose(out.loglik, value, rtol=1e-12)
    np.testing.assert_allclose(out.gradient, grad, rtol=1e-8, atol=1e-8 * np.abs(grad).max())
    np.testing.assert_allclose(out.hessian, hess, rtol=1e-7, atol=1e-7 * np.abs(hess).max())
    np.testing.assert_allclose(out.scores, scores, rtol=1e-7, atol=1e-7 * np.abs(scores).max())
    np.testing.assert_allclose(out.scores.sum(0), out.gradient, atol=1e-8 * np.abs(hess).max())
    assert out.mixing_weights.shape == ((1,) if groups is None else (2,)) + GRID.shape
    assert out.kkt_residual <= 1e-8
    # The correction is the PSD cost of not knowing F.
    gap = np.linalg.eigvalsh(np.asarray(out.hessian - out.hessian_known_mixing))
    assert gap.min() >= -1e-8 * gap.max()


def test_chunked_curvature_memory_is_linear_in_rows_not_in_parameters(data):
    # With row chunks the compiled program's temporaries are O(n·m) plus O(chunk·m·k), not
    # O(n·m·k) (exact and deterministic: XLA's own buffer assignment, nothing is run).
    big = jnp.tile(data, (20, 1))  # n = 6000
    n, m, k = big.shape[0], GRID.shape[0], FLAT.size

    def temp_bytes(row_chunk):
        def curvature(theta):
            def log_lik_fn(th, y):
                return eqx.combine(UNRAVEL(th), STATIC).lclk(y, GRID)

            return profile_curvature(log_lik_fn, theta, big, jnp.ones((n, 1)), row_chunk=row_chunk)

        compiled = jax.jit(curvature).lower(FLAT).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    whole, chunked = temp_bytes(None), temp_bytes(250)
    # Without chunks the Jacobian of the (n, m, 3) model terms alone is 3·n·m·k floats.
    assert whole > 3 * n * m * k * 8
    assert chunked < 8 * n * m * 8 < whole


def test_x64_disabled_runs_eagerly_in_float64_and_fails_clearly_when_traced():
    rng = np.random.default_rng(5)
    y, grid = rng.normal(size=30), np.linspace(-3.0, 3.0, 11)

    def lclk(shift, data, g):
        return -0.5 * (data[:, None] - shift - g[None, :]) ** 2

    expected, _ = profile_loglik(lclk, y, grid, params=0.1)
    with jax.enable_x64(False):
        value, weights = profile_loglik(lclk, np.array(y), np.array(grid), params=0.1)
        assert value.dtype == jnp.float64 and weights.dtype == jnp.float64
        with pytest.raises(Float64RequiredError, match=r"numpyro\.enable_x64\(\)"):
            jax.grad(lambda s: profile_loglik(lclk, y, grid, params=s)[0])(0.1)
    assert float(value) == pytest.approx(float(expected), rel=1e-12)
