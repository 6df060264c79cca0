"""mixsqp's engines: the host (NumPy) solver for one-off concrete calls, the compiled one else.

The host solver's agreement with the compiled one is checked case by case in
test_mixsqp_numpy.py and on the published optima in test_mixsqp_reference.py; here: which
engine runs when, that the host path compiles nothing (with x64 on or off) and returns
the compiled path's fields (NumPy arrays of the same dtypes), and that non-convergence is
reported the same way by both.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_semipar import ConvergenceWarning
from numpyro_semipar.npmle import SolverStatus, mixsqp
from numpyro_semipar.npmle import _mixsqp as mixsqp_module
from tests._compile_counter import count_backend_compiles

from .conftest import gaussian_location_problem, kkt_check

N, M = 300, 25


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(17)
    return gaussian_location_problem(rng, N, M), rng.uniform(0.5, 2.0, N)


@pytest.fixture(scope="module")
def compiled(problem):
    log_lik, weights = problem
    return mixsqp(log_lik, weights, engine="jax")


@pytest.mark.parametrize("x64", [True, False])
def test_auto_solves_a_small_concrete_problem_without_compiling(problem, compiled, x64):
    log_lik, weights = problem
    with jax.enable_x64(x64), count_backend_compiles() as compiles:
        res = mixsqp(log_lik, weights)
    assert compiles.count == 0
    # With x64 off the solve is still float64; the result comes in the session's dtypes.
    session = {np.dtype("float64"): np.dtype("float32"), np.dtype("int64"): np.dtype("int32")}
    for field, ours, ref in zip(res._fields, res, compiled, strict=True):
        assert isinstance(ours, np.ndarray) and isinstance(ref, jax.Array), field
        expected = ref.dtype if x64 else session.get(np.dtype(ref.dtype), ref.dtype)
        assert (ours.dtype, ours.shape) == (expected, ref.shape), field
    assert bool(res.converged) and int(res.status) == SolverStatus.CONVERGED
    assert int(res.num_iter) == int(compiled.num_iter)
    np.testing.assert_allclose(res.loglik, compiled.loglik, rtol=1e-13 if x64 else 1e-7)
    np.testing.assert_allclose(
        res.mixing_weights, compiled.mixing_weights, atol=1e-9 if x64 else 1e-7
    )
    residual, _ = kkt_check(log_lik, weights, np.asarray(res.mixing_weights, np.float64))
    if x64:
        assert residual <= 1e-8
        assert abs(residual - float(res.kkt_residual)) < 1e-10
    else:  # the float64 optimum, rounded to float32
        assert residual <= 1e-6 and float(res.kkt_residual) <= 1e-8


def test_traced_calls_use_the_compiled_solver(problem, monkeypatch):
    log_lik, weights = problem
    calls = []
    host = mixsqp_module.solve_on_host
    monkeypatch.setattr(
        mixsqp_module, "solve_on_host", lambda *args: calls.append(1) or host(*args)
    )
    mixsqp(log_lik, weights)
    assert len(calls) == 1  # the spy sees the host path
    # Tracing is enough to see the choice (make_jaxpr compiles nothing).
    jax.make_jaxpr(jax.jit(lambda ll: mixsqp(ll, weights).loglik))(log_lik)
    jax.make_jaxpr(jax.grad(lambda ll: mixsqp(ll, weights).loglik))(jnp.asarray(log_lik))
    jax.make_jaxpr(jax.vmap(lambda ll: mixsqp(ll).loglik))(jnp.stack([log_lik, log_lik]))
    assert len(calls) == 1


def test_size_rule_and_low_rank_choose_the_compiled_solver():
    on_host = mixsqp_module._on_host
    limit = mixsqp_module._HOST_MAX_ENTRIES
    assert on_host("auto", False, "auto", limit // 100, 100)
    assert on_host("auto", False, False, 300, 25)
    assert not on_host("auto", False, "auto", limit // 100 + 1, 100)
    assert not on_host("auto", True, "auto", 300, 25)  # traced
    assert not on_host("auto", False, 8, 300, 25)  # an explicit low-rank Hessian
    assert not on_host("auto", False, True, 300, 25)
    assert not on_host("jax", False, False, 300, 25)
    assert on_host("host", False, "auto", 10 * limit, 100)


def test_bad_engine_arguments_are_named(problem):
    log_lik, _ = problem
    with pytest.raises(ValueError, match=r"engine must be one of .* got 'gpu'"):
        mixsqp(log_lik, engine="gpu")
    with pytest.raises(ValueError, match=r"engine='host' has no low-rank Hessian; got low_rank=4"):
        mixsqp(log_lik, engine="host", low_rank=4)
    with pytest.raises(TypeError, match="engine='host' needs concrete arrays"):
        jax.jit(lambda ll: mixsqp(ll, engine="host").loglik)(log_lik)


def test_both_engines_report_nonconvergence_alike(problem):
    log_lik, weights = problem
    results = []
    for engine in ("jax", "host"):
        with pytest.warns(ConvergenceWarning, match="maximum number of iterations.*KKT residual"):
            results.append(mixsqp(log_lik, weights, max_steps=1, num_em_iter=0, engine=engine))
    ref, ours = results
    assert int(ours.status) == int(ref.status) == SolverStatus.MAX_ITER
    assert not bool(ours.converged) and int(ours.num_iter) == int(ref.num_iter) == 1
    np.testing.assert_allclose(ours.kkt_residual, ref.kkt_residual, rtol=1e-8)
    assert float(ours.kkt_residual) > 1e-8
