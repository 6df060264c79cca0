"""mixsqp edge cases, bad input and status reporting."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_semipar import ConvergenceWarning, Float64RequiredError
from numpyro_semipar.npmle import MixSQPResult, SolverStatus, em, mixsqp

from .conftest import gaussian_location_problem, kkt_check

N, M = 60, 12


@pytest.fixture(scope="module")
def base():
    return gaussian_location_problem(np.random.default_rng(11), N, M)


def _optimal(log_lik, res, weights=None, tol=1e-8):
    assert bool(res.converged), res.message
    residual, _ = kkt_check(log_lik, weights, np.asarray(res.mixing_weights))
    assert residual <= tol


def test_result_fields_and_weighted_total(base):
    w = np.random.default_rng(0).uniform(0.5, 2.0, N)
    res = mixsqp(base, w)
    assert isinstance(res, MixSQPResult)
    assert res.mixing_weights.shape == (M,) and res.mixing_weights.dtype == jnp.float64
    p = np.asarray(res.mixing_weights)
    assert np.all(p >= 0) and abs(p.sum() - 1) < 1e-12
    expected = np.sum(w * np.log(np.exp(base) @ p))
    np.testing.assert_allclose(res.loglik, expected, rtol=1e-13)
    assert int(res.status) == SolverStatus.CONVERGED and res.message.startswith("converged")
    _optimal(base, res, w)


def test_columns_with_zero_likelihood_get_zero_weight(base):
    ll = base.copy()
    ll[:, [0, 5]] = -np.inf
    res = mixsqp(ll)
    p = np.asarray(res.mixing_weights)
    assert p[0] == 0 and p[5] == 0
    _optimal(ll, res)
    reduced = mixsqp(np.delete(base, [0, 5], axis=1))
    np.testing.assert_allclose(res.loglik, reduced.loglik, rtol=1e-12)


def test_rows_with_some_minus_inf_entries(base):
    ll = base.copy()
    ll[::4, : M // 2] = -np.inf  # a quarter of the rows rule out half the grid
    res = mixsqp(ll)
    _optimal(ll, res)
    assert np.isfinite(res.loglik)


def test_duplicate_columns_give_the_same_optimum(base):
    ll = np.concatenate([base, base[:, [3, 7]]], axis=1)
    res = mixsqp(ll)
    _optimal(ll, res)
    single = mixsqp(base)
    np.testing.assert_allclose(res.loglik, single.loglik, rtol=1e-12)
    p = np.asarray(res.mixing_weights)
    merged = p[:M].copy()
    merged[[3, 7]] += p[M:]
    np.testing.assert_allclose(merged, single.mixing_weights, atol=1e-6)


@pytest.mark.parametrize("scale", [1e-6, 50.0])
def test_extreme_scales(base, scale):
    # Nearly flat (every p optimal up to 1e-6) and extremely peaked likelihoods.
    ll = scale * base
    res = mixsqp(ll)
    _optimal(ll, res)


def test_extreme_row_offsets_do_not_underflow(base):
    offsets = np.where(np.arange(N) % 2 == 0, -1e4, 1e4)
    res = mixsqp(base + offsets[:, None])
    ref = mixsqp(base)
    np.testing.assert_allclose(res.mixing_weights, ref.mixing_weights, atol=1e-9)
    np.testing.assert_allclose(res.loglik, ref.loglik + offsets.sum(), rtol=1e-12)


def test_single_observation_puts_all_mass_on_its_best_grid_point(base):
    row = base[:1]
    res = mixsqp(row)
    assert float(res.mixing_weights[np.argmax(row)]) == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(res.loglik, row.max(), rtol=1e-12)


def test_single_grid_point():
    ll = np.random.default_rng(2).normal(size=(30, 1))
    w = np.arange(1.0, 31.0)
    res = mixsqp(ll, w)
    np.testing.assert_allclose(res.mixing_weights, [1.0])
    np.testing.assert_allclose(res.loglik, np.sum(w * ll[:, 0]), rtol=1e-13)
    assert bool(res.converged)


def test_zero_weight_rows_are_ignored(base):
    w = np.ones(N)
    w[:10] = 0.0
    ll = base.copy()
    ll[:10, 1:] = -np.inf  # rows that would otherwise force mass onto column 0
    res = mixsqp(ll, w)
    ref = mixsqp(base[10:])
    np.testing.assert_allclose(res.mixing_weights, ref.mixing_weights, atol=1e-8)
    np.testing.assert_allclose(res.loglik, ref.loglik, rtol=1e-12)


def test_start_that_starves_a_row_falls_back_to_the_default(base):
    # A warm start whose support misses the only grid point row 0 can reach: before the
    # fallback its first EM step was 0 * inf and the weights came back NaN.
    ll = base.copy()
    ll[0, 1:] = -np.inf
    init = np.ones(M)
    init[0] = 0.0
    for solve in (mixsqp, em):
        res = solve(ll, init_weights=init, warn=False)
        ref = solve(ll, warn=False)  # EM stops at max_iter here, from the same start
        assert np.all(np.isfinite(res.mixing_weights)) and np.isfinite(res.loglik)
        np.testing.assert_allclose(res.loglik, ref.loglik, rtol=1e-9)
    _optimal(ll, mixsqp(ll, init_weights=init))


@pytest.mark.parametrize("tiny", [1e-12, 1e-6])
def test_tiny_weight_row_keeps_its_only_support(tiny):
    # The last row (weight `tiny`) has likelihood on the last column only, which no other row
    # uses: the optimum puts mass tiny / (n - 1 + tiny) there, far below the zero threshold.
    # Zeroing it would make that row's likelihood zero (loglik -inf, a failed line search); its
    # curvature a / u^2 ~ 1 / tiny must not stall the other columns either.
    rng = np.random.default_rng(3)
    n, m = 200, 10
    lik = rng.uniform(0.1, 1.0, size=(n, m))
    lik[:, -1] = 0.0
    lik[-1, :] = 0.0
    lik[-1, -1] = 1.0
    w = np.ones(n)
    w[-1] = tiny
    with np.errstate(divide="ignore"):
        log_lik = np.log(lik)
    res = mixsqp(log_lik, w)
    _optimal(log_lik, res, w)
    p = np.asarray(res.mixing_weights)
    np.testing.assert_allclose(p[-1], tiny / (n - 1 + tiny), rtol=1e-6)
    assert np.isfinite(float(res.loglik))
    # The rest is the optimum of the other rows alone (the problem separates).
    rest = mixsqp(log_lik[:-1, :-1])
    np.testing.assert_allclose(p[:-1] / p[:-1].sum(), rest.mixing_weights, atol=1e-6)


@pytest.mark.slow
def test_low_rank_hessian_does_not_stall():
    # A 100000 x 100 Gaussian location problem (the benchmark's, seed 0) on which the rank-24
    # Hessian once stalled at a KKT residual of 0.005 after 1000 iterations: the QP's ridge was
    # relative to the largest curvature. The exact-Hessian fallback also guards this case.
    rng = np.random.default_rng(0)
    n, m = 100_000, 100
    x = rng.choice([-2.0, 0.5, 3.0], size=n, p=[0.3, 0.5, 0.2]) + rng.normal(size=n)
    grid = np.linspace(x.min(), x.max(), m)
    log_lik = -0.5 * (x[:, None] - grid[None, :]) ** 2
    res = mixsqp(log_lik, low_rank="auto")
    assert int(res.num_iter) <= 30
    _optimal(log_lik, res)
    exact = mixsqp(log_lik, low_rank=False)
    np.testing.assert_allclose(float(res.loglik), float(exact.loglik), rtol=1e-12)


def test_integer_weights_equal_replicated_rows(base):
    w = np.tile([1.0, 2.0, 3.0], N // 3)
    res = mixsqp(base, w)
    ref = mixsqp(np.repeat(base, w.astype(int), axis=0))
    np.testing.assert_allclose(res.mixing_weights, ref.mixing_weights, atol=1e-8)
    np.testing.assert_allclose(res.loglik, ref.loglik, rtol=1e-12)


@pytest.mark.slow
def test_low_rank_hessian_reaches_the_same_optimum():
    ll = gaussian_location_problem(np.random.default_rng(5), 2000, 40)
    full = mixsqp(ll, low_rank=False)
    for low_rank in (16, True):
        res = mixsqp(ll, low_rank=low_rank)
        _optimal(ll, res)
        np.testing.assert_allclose(res.loglik, full.loglik, rtol=1e-12)


def test_nonconvergence_is_reported(base):
    with pytest.warns(ConvergenceWarning, match="KKT residual"):
        res = mixsqp(base, max_steps=1, num_em_iter=0)
    assert not bool(res.converged)
    assert int(res.status) == SolverStatus.MAX_ITER
    assert float(res.kkt_residual) > 1e-8


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda ll: ll.__setitem__((3, 2), np.nan), r"log_lik\[3, 2\] is NaN \(row 3, column 2\)"),
        (lambda ll: ll.__setitem__((5, 1), np.inf), r"log_lik\[5, 1\] is \+inf"),
        (lambda ll: ll.__setitem__(4, -np.inf), "row 4 of log_lik is -inf in every column"),
    ],
)
def test_bad_log_lik_values_name_row_and_column(base, edit, match):
    ll = base.copy()
    edit(ll)
    with pytest.raises(ValueError, match=match):
        mixsqp(ll)


def test_bad_shapes_and_weights(base):
    with pytest.raises(ValueError, match="2-D array"):
        mixsqp(base[0])
    with pytest.raises(ValueError, match="at least one row"):
        mixsqp(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"weights must have shape \(60,\)"):
        mixsqp(base, np.ones(N + 1))
    w = np.ones(N)
    w[7] = -1.0
    with pytest.raises(ValueError, match=r"weights\[7\] = -1.0 is negative"):
        mixsqp(base, w)
    w[7] = np.nan
    with pytest.raises(ValueError, match=r"weights\[7\] = nan is not finite"):
        mixsqp(base, w)
    with pytest.raises(ValueError, match="all zero"):
        mixsqp(base, np.zeros(N))
    with pytest.raises(ValueError, match=r"init_weights must have shape \(12,\)"):
        mixsqp(base, init_weights=np.ones(3))
    with pytest.raises(TypeError, match="must be real"):
        mixsqp(base.astype(complex))
    with pytest.raises(ValueError, match="low_rank must be"):
        mixsqp(base, low_rank=M + 1)


def test_float32_input_warns_and_traced_float32_without_x64_raises(base):
    with pytest.warns(UserWarning, match="float32"):
        res = mixsqp(base.astype(np.float32))
    assert res.mixing_weights.dtype == jnp.float64
    with jax.enable_x64(False):
        ll32 = jnp.asarray(base, dtype=jnp.float32)
        with pytest.raises(Float64RequiredError, match=r"numpyro.enable_x64\(\)") as err:
            jax.jit(lambda x: mixsqp(x).loglik)(ll32)
    assert "numpyro_semipar._x64" not in str(err.value) and isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    ("row", "col", "value"), [(2, 3, np.nan), (N - 1, 0, np.inf), (7, slice(None), -np.inf)]
)
def test_invalid_values_under_jit_give_status_not_garbage(base, row, col, value):
    ll = base.copy()
    ll[row, col] = value
    res = jax.jit(mixsqp)(jnp.asarray(ll))
    assert int(res.status) == SolverStatus.INVALID_INPUT
    assert not bool(res.converged)
    assert np.all(np.isnan(res.mixing_weights))
    assert np.isnan(float(res.loglik))
