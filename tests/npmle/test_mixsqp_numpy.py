"""mixsqp_numpy (the host engine's NumPy solver) against the JAX mixsqp, problem by problem.

Every problem has the same shape, so the JAX solver compiles once for the whole file.
"""

import jax
import numpy as np
import pytest
from scipy.special import logsumexp

from numpyro_semipar.npmle import SolverStatus, mixsqp
from numpyro_semipar.npmle._mixsqp_numpy import _solve_qp, mixsqp_numpy

from .conftest import kkt_check

N, M = 240, 40
TOL = 1e-8


def _gaussian(rng, n=N, grid=None):
    data = rng.choice([-3.0, 0.0, 5.0], size=n, p=[0.3, 0.5, 0.2]) + rng.normal(size=n)
    grid = np.linspace(-6.0, 6.0, M) if grid is None else grid
    return data, -0.5 * (data[:, None] - grid) ** 2 - 0.5 * np.log(2 * np.pi)


def _problem(name):
    """Return ``(log_lik, weights, init_weights, unique_optimum)`` for a named case."""
    rng = np.random.default_rng(sum(map(ord, name)))
    data, ll = _gaussian(rng)
    weights, init, unique = None, None, True
    if name == "minus_inf_entries":
        grid = np.linspace(-6.0, 6.0, M)
        ll = np.where(np.abs(data[:, None] - grid) < 2.5, ll, -np.inf)
        ll[:, -3:] = -np.inf  # three columns with zero likelihood everywhere: held at zero
    elif name == "zero_weight_rows":
        weights = rng.uniform(0.5, 2.0, N) * (rng.uniform(size=N) < 0.6)
    elif name == "nonuniform_weights":
        weights = rng.exponential(size=N) + 0.01
    elif name == "n_less_than_m":
        # 25 rows of positive weight against 40 columns: H is singular (ridge Cholesky).
        weights = np.zeros(N)
        weights[rng.choice(N, 25, replace=False)] = 1.0
    elif name == "duplicated_columns":
        grid = np.linspace(-6.0, 6.0, M - 8)
        _, ll = _gaussian(rng, grid=np.concatenate([grid, grid[rng.choice(M - 8, 8)]]))
        unique = False
    elif name == "outlying_row":
        ll[0] = -800.0 - 0.5 * (np.linspace(-6.0, 6.0, M) - 6.0) ** 2 / 9.0
    elif name == "tiny_weight_edge_row":
        # Its only real support is the last column: curvature ~ 1 / weight there.
        ll[0] = -0.5 * (9.0 - np.linspace(-6.0, 6.0, M)) ** 2
        weights = np.ones(N)
        weights[0] = 1e-9
    elif name == "warm_start":
        _, nearby = _gaussian(np.random.default_rng(sum(map(ord, name))))
        init = mixsqp_numpy(nearby + 0.05 * rng.normal(size=nearby.shape)).mixing_weights
        assert np.any(init == 0)  # a previous solution, with exact zeros
    else:
        assert name == "gaussian_mixture"
    return ll, weights, init, unique


CASES = [
    "gaussian_mixture",
    "minus_inf_entries",
    "zero_weight_rows",
    "nonuniform_weights",
    "n_less_than_m",
    "duplicated_columns",
    "outlying_row",
    "tiny_weight_edge_row",
    "warm_start",
]


@pytest.fixture(scope="module")
def solved():
    cache = {}

    def solve(name):
        if name not in cache:
            ll, w, init, unique = _problem(name)
            ours = mixsqp_numpy(ll, w, init_weights=init)
            ref = mixsqp(ll, w, init_weights=init, low_rank=False, engine="jax")
            cache[name] = (ll, w, unique, ours, ref)
        return cache[name]

    return solve


@pytest.mark.parametrize("name", CASES, ids=CASES)
def test_agrees_with_the_jax_solver(solved, name):
    ll, w, unique, ours, ref = solved(name)
    assert ours.status == SolverStatus.CONVERGED and ours.converged is True
    assert int(ref.status) == SolverStatus.CONVERGED
    p = ours.mixing_weights
    assert isinstance(p, np.ndarray) and p.dtype == np.float64 and p.shape == (M,)
    assert np.all(p >= 0) and abs(p.sum() - 1.0) <= 1e-12
    assert ours.kkt_residual <= TOL
    assert kkt_check(ll, w, p)[0] <= TOL  # independent of both solvers
    ref_value = float(ref.loglik)
    assert abs(ours.loglik - ref_value) <= max(1e-10 * abs(ref_value), 1e-8)
    # The same iterations up to rounding: the same count, and the same support (weights
    # below zero_threshold_solution are zeroed exactly).
    assert abs(ours.num_iter - int(ref.num_iter)) <= 1
    if unique:
        ref_p = np.asarray(ref.mixing_weights)
        np.testing.assert_allclose(p, ref_p, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(p > 0, ref_p > 0)
    # The reported value is the weighted total at p with the weights as given.
    weights = np.ones(N) if w is None else w
    with np.errstate(divide="ignore"):
        rows = logsumexp(ll + np.log(p), axis=1)
    expected = np.sum(weights[weights > 0] * rows[weights > 0])
    np.testing.assert_allclose(ours.loglik, expected, rtol=1e-12)


def test_fixed_columns_stay_at_zero(solved):
    ll, _, _, ours, _ = solved("minus_inf_entries")
    assert np.all(ours.mixing_weights[-3:] == 0)


@pytest.mark.parametrize("name", ["zero_weight_rows", "n_less_than_m"])
def test_zero_weight_rows_do_not_matter(solved, name):
    ll, w, _, ours, _ = solved(name)
    garbage = ll.copy()
    dead = w == 0
    garbage[dead] = np.random.default_rng(5).uniform(-1e3, 1e3, size=(dead.sum(), M))
    again = mixsqp_numpy(garbage, w)
    np.testing.assert_array_equal(again.mixing_weights, ours.mixing_weights)
    assert again.loglik == ours.loglik and again.num_iter == ours.num_iter


def test_a_start_with_no_likelihood_falls_back_to_the_default_start():
    ll, _, _, _ = _problem("minus_inf_entries")
    init = np.zeros(M)
    init[-1] = 1.0  # all mass on a column with zero likelihood everywhere
    res = mixsqp_numpy(ll, init_weights=init)
    assert res.converged
    np.testing.assert_allclose(res.mixing_weights, mixsqp_numpy(ll).mixing_weights, atol=1e-6)


def test_loglik_of_a_row_with_tiny_likelihood_is_computed_in_log_space():
    # Row 0 has likelihood only at the last two columns, whose start weights are ~1e-292: its
    # L_i p is below the 1e-280 guard, so the value comes from the log-space fallback.
    ll, _, _, _ = _problem("gaussian_mixture")
    ll[0] = -np.inf
    ll[0, -2:] = [-2.7, -2.0]
    init = np.ones(M)
    init[-2:] = 1e-290
    res = mixsqp_numpy(ll, init_weights=init, max_iter=0, num_em_iter=0)
    p = res.mixing_weights
    assert 0 < p[-1] < 1e-280  # kept by the repair in zero_small (row 0 would lose all mass)
    with np.errstate(divide="ignore"):
        expected = np.sum(logsumexp(ll + np.log(p), axis=1))
    np.testing.assert_allclose(res.loglik, expected, rtol=1e-13)


def _random_qp(seed, rank):
    rng = np.random.default_rng(seed)
    m = 30
    basis = rng.normal(size=(rank, m))
    hess = basis.T @ basis / rank
    x = rng.dirichlet(np.ones(m)) * (rng.uniform(size=m) < 0.7)
    return hess, rng.normal(size=m), x


@pytest.mark.parametrize(("seed", "rank"), [(0, 60), (1, 60), (2, 45)], ids=["a", "b", "c"])
def test_qp_solution_satisfies_its_kkt_conditions(seed, rank):
    hess, grad, x = _random_qp(seed, rank)
    fixed = np.zeros(x.size, dtype=bool)
    fixed[3] = True
    step, done = _solve_qp(hess, grad, x, fixed, max_iter=200, tol=1e-10, zero_searchdir=1e-14)
    assert done
    y = np.where(fixed, 0.0, x) + step
    assert np.all(y >= 0) and y[3] == 0
    qgrad = hess @ step + grad
    positive = y > 0
    scale = np.max(np.abs(grad))
    np.testing.assert_allclose(qgrad[positive], 0.0, atol=1e-9 * scale)
    assert np.all(qgrad[~positive & ~fixed] >= -1e-9 * scale)
    assert positive.any() and (~positive).sum() > 1  # both kinds of coordinate were checked


@pytest.mark.parametrize("max_iter", [0, 1])
def test_iteration_limit_is_reported(max_iter):
    ll, _, _, _ = _problem("gaussian_mixture")
    res = mixsqp_numpy(ll, max_iter=max_iter)
    assert res.status == SolverStatus.MAX_ITER and res.converged is False
    assert res.num_iter == max_iter and res.kkt_residual > TOL
    assert abs(res.mixing_weights.sum() - 1.0) <= 1e-12


def _corrupt(kind):
    ll, _, _, _ = _problem("gaussian_mixture")
    weights = None
    if kind == "nan":
        ll[3, 7] = np.nan
    elif kind == "plus_inf":
        ll[3, 2] = np.inf
    elif kind == "all_minus_inf":
        ll[3] = -np.inf
    else:
        weights = np.ones(N)
        weights[3] = -1.0
    return ll, weights


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        ("nan", r"row 3, column 7"),
        ("plus_inf", r"row 3, column 2"),
        ("all_minus_inf", r"row 3 of log_lik"),
        ("negative_weight", r"weights\[3\]"),
    ],
    ids=["nan", "plus_inf", "all_minus_inf", "negative_weight"],
)
def test_bad_input_raises_naming_the_row(kind, match):
    ll, weights = _corrupt(kind)
    with pytest.raises(ValueError, match=match):
        mixsqp_numpy(ll, weights)


def test_traced_input_is_refused():
    ll, _, _, _ = _problem("gaussian_mixture")
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda v: mixsqp_numpy(v).loglik)(ll)


def test_unknown_options_are_rejected_by_name():
    ll = np.zeros((3, 2))
    with pytest.raises(TypeError, match="max_iters"):
        mixsqp_numpy(ll, max_iters=5)
    with pytest.raises(TypeError, match="rank"):
        mixsqp_numpy(ll, rank=1)
