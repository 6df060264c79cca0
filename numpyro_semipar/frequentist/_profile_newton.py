"""Maximising the profile log-likelihood over θ: damped Newton with the exact Hessian.

Two engines run the same iteration (the same step, acceptance test and damping, written once
against an array namespace):

* ``"compiled"``: the whole loop, mixSQP included, is one jitted JAX program. Refitting data
  of the same shape reuses it (Monte Carlo studies), but compiling it costs seconds on CPU
  (XLA compiles each of its few hundred fused kernels with LLVM).
* ``"host"``: the loop runs in Python, mixSQP and the assembly of the derivatives in NumPy,
  and only the model's log-likelihood and derivatives are compiled (two small programs). A
  single fit is several times faster from a cold start, and about as fast warm.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._params import param_layout
from ..npmle._profile import evaluate_lclk
from ..npmle._profile_derivatives import (
    ProfileCurvature,
    chunk_rows,
    profile_curvature,
    weighted_second_derivatives,
)
from ..npmle._profile_host import ModelPrograms, profile_curvature_host, split_rows

__all__ = [
    "Problem",
    "setup_problem",
    "rebuild",
    "model_programs",
    "maximise_compiled",
    "maximise_host",
]


def _leaf_names(params) -> list[str]:
    names = []
    for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]:
        parts = []
        for key in path:
            for attr in ("name", "key", "idx"):
                if hasattr(key, attr):
                    parts.append(str(getattr(key, attr)))
                    break
        names.append(".".join(parts) or "theta")
    return names


class Problem(NamedTuple):
    """The static description of a model: parameter names, tree structure, fixed fields."""

    names: tuple[str, ...]
    treedef: Any
    static: Any
    layout: Any


def setup_problem(model) -> tuple[Problem, dict]:
    """Split a model into its static part and its floating-point parameters (the start)."""
    if getattr(model, "lclk", None) is None:
        raise TypeError(
            f"model must be a pytree with a method lclk(data, grid), got {type(model).__name__}"
        )
    params, static = eqx.partition(model, eqx.is_inexact_array)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    if not leaves:
        raise ValueError("the model has no floating-point array field to estimate")
    names = _leaf_names(params)
    if len(set(names)) != len(names):
        raise ValueError(f"parameter names are not unique: {names}")
    start = {n: np.asarray(v, np.float64) for n, v in zip(names, leaves, strict=True)}
    return Problem(tuple(names), treedef, static, param_layout(start)), start


def rebuild(problem: Problem, flat):
    """Return the model at the flat parameter vector ``flat``."""
    values = problem.layout.unravel(flat)
    params = jax.tree_util.tree_unflatten(problem.treedef, [values[n] for n in problem.names])
    return eqx.combine(params, problem.static)


# Levenberg-Marquardt damping (relative to the diagonal of the information): start, shrink
# after an accepted step, growth after a rejected one; and the least acceptable ratio of
# actual to predicted increase.
_DAMPING_START = 1.0
_DAMPING_SHRINK = 0.1
_DAMPING_GROW = 8.0
_ACCEPT_RATIO = 1e-4


def _newton_step(gradient, hessian, damping, xp=jnp):
    """Damped Newton step ``(N + λ D)⁻¹ g`` with ``N = −H`` made positive definite.

    Returns the damped step, the increase of the quadratic model along it, and the step with
    no damping (for the convergence test), from one eigendecomposition.
    """
    info = -hessian
    scale = xp.sqrt(xp.maximum(xp.abs(xp.diag(info)), 1e-300))
    scaled = info / scale[:, None] / scale[None, :]
    evals, evecs = xp.linalg.eigh(0.5 * (scaled + scaled.T))
    # Far from the optimum the profile likelihood need not be concave: negative curvature is
    # mirrored (the smallest eigenvalue becomes |min|), then the damping is added.
    floor = 1e-8 * xp.maximum(xp.max(xp.abs(evals)), 1e-300)
    shift = xp.maximum(-2.0 * xp.min(evals), 0.0) + floor
    coords = evecs.T @ (gradient / scale)
    step = evecs @ (coords / (evals + shift + damping)) / scale
    predicted = gradient @ step - 0.5 * step @ (info @ step)
    return step, predicted, evecs @ (coords / (evals + shift)) / scale


def _accept(old: ProfileCurvature, new: ProfileCurvature, predicted, damping, first, xp=jnp):
    """Whether the evaluation ``new`` is accepted, and the damping for the next step."""
    gain = new.loglik - old.loglik
    finite = xp.isfinite(new.loglik) & xp.all(xp.isfinite(new.hessian))
    # Changes at the level of rounding count as no change (the last steps are tiny).
    noise = 1e-12 * xp.abs(old.loglik)
    # A first evaluation at -inf gives gain = -inf - (-inf) = NaN: rejected through `finite`.
    with np.errstate(invalid="ignore"):
        accept = finite & (first | (gain >= _ACCEPT_RATIO * predicted - noise))
        good = gain >= 0.75 * predicted
    damping = xp.where(
        accept,
        xp.where(good | first, damping * _DAMPING_SHRINK, damping),
        xp.maximum(damping * _DAMPING_GROW, 1e-2),
    )
    return accept, damping


def _small(newton, theta, rtol, atol, xp=jnp):
    # Converged when the undamped Newton step from the accepted point is tiny.
    return xp.max(xp.abs(newton)) <= atol + rtol * xp.max(xp.abs(theta))


def _placeholder(num_groups, m, n, k, xp=jnp) -> ProfileCurvature:
    """Stand in for the evaluation before the first one (which is accepted if finite)."""
    return ProfileCurvature(
        loglik=xp.asarray(-np.inf),
        mixing_weights=xp.full((num_groups, m), 1.0 / m),
        gradient=xp.zeros(k),
        hessian=-xp.eye(k),
        hessian_known_mixing=-xp.eye(k),
        scores=xp.zeros((n, k)),
        kkt_residual=xp.asarray(np.inf),
    )


def _outputs(theta, current: ProfileCurvature, done, num_steps) -> dict:
    return {
        "theta": theta,
        "success": done,
        "num_steps": num_steps,
        "loglik": current.loglik,
        "mixing": current.mixing_weights,
        "gradient": current.gradient,
        "hessian": current.hessian,
        "hessian_known_mixing": current.hessian_known_mixing,
        "scores": current.scores,
        "inner_kkt": current.kkt_residual,
    }


class _Newton(NamedTuple):
    theta: jax.Array  # accepted iterate
    current: ProfileCurvature  # everything at the accepted iterate
    candidate: jax.Array  # where the next evaluation happens
    predicted: jax.Array  # increase of the quadratic model at the candidate
    damping: jax.Array
    num_steps: jax.Array
    done: jax.Array


def _maximise(problem, flat0, data, grid, row_weights, rtol, atol, max_steps, row_chunk):
    """Damped Newton on the profile log-likelihood with its exact Hessian (pure JAX).

    Every iteration makes one call of :func:`profile_curvature` (the solver warm-started from
    the weights at the accepted iterate), whose value, gradient, Hessian and scores serve the
    step, the acceptance test and, at the end, the standard errors: the solver and the
    derivatives are traced and compiled once, inside one loop.
    """
    num_groups = row_weights.shape[1]
    n, k, m = row_weights.shape[0], flat0.shape[0], grid.shape[0]

    def log_lik_fn(flat, data):
        return evaluate_lclk(rebuild(problem, flat), data, grid)

    def evaluate(theta, init):
        return profile_curvature(
            log_lik_fn, theta, data, row_weights, init_mixing=init, row_chunk=row_chunk
        )

    def cond(state):
        return (~state.done) & (state.num_steps < max_steps)

    def body(state):
        new = evaluate(state.candidate, state.current.mixing_weights)
        old = state.current
        first = state.num_steps == 0
        accept, damping = _accept(old, new, state.predicted, state.damping, first)
        current = jax.tree.map(lambda a, b: jnp.where(accept, a, b), new, old)
        theta = jnp.where(accept, state.candidate, state.theta)
        step, predicted, newton = _newton_step(current.gradient, current.hessian, damping)
        done = accept & _small(newton, theta, rtol, atol)
        return _Newton(theta, current, theta + step, predicted, damping, state.num_steps + 1, done)

    init = _Newton(
        flat0,
        _placeholder(num_groups, m, n, k),
        flat0,
        jnp.asarray(0.0),
        jnp.asarray(_DAMPING_START),
        jnp.asarray(0),
        jnp.asarray(False),
    )
    final = jax.lax.while_loop(cond, body, init)
    return _outputs(final.theta, final.current, final.done, final.num_steps)


# Compiled once per model structure (the problem is static: names, tree structure and the
# non-array fields of the model), so refitting on new data of the same shape is fast.
_STATIC = ("rtol", "atol", "max_steps", "row_chunk")
_maximise_jit = jax.jit(_maximise, static_argnums=0, static_argnames=_STATIC)


def _hashable(problem: Problem) -> bool:
    try:
        hash(problem)
    except TypeError:
        return False
    return True


def maximise_compiled(problem: Problem, *args, **options) -> dict:
    """Run the whole Newton loop as one compiled program (see the module docstring)."""
    if _hashable(problem):
        return _maximise_jit(problem, *args, **options)
    # Non-hashable static fields (e.g. an integer array in the model): compile per call.
    return jax.jit(functools.partial(_maximise, problem, **options))(*args)


def _log_lik_program(problem, flat, data, grid):
    return evaluate_lclk(rebuild(problem, flat), data, grid)


def _derivative_program(problem, flat, data, grid, wr):
    def f(th):
        return evaluate_lclk(rebuild(problem, th), data, grid)

    ell, lin = jax.linearize(f, flat)
    tangents = jax.vmap(lin)(jnp.eye(flat.shape[0], dtype=flat.dtype))
    return tangents, weighted_second_derivatives(f, flat, wr, ell > -jnp.inf)


_log_lik_jit = jax.jit(_log_lik_program, static_argnums=0)
_derivative_jit = jax.jit(_derivative_program, static_argnums=0)


def model_programs(problem: Problem, grid) -> ModelPrograms:
    """Return the model's compiled log-likelihood and derivative programs."""
    if _hashable(problem):
        log_lik = functools.partial(_log_lik_jit, problem)
        derivatives = functools.partial(_derivative_jit, problem)
    else:
        log_lik = jax.jit(functools.partial(_log_lik_program, problem))
        derivatives = jax.jit(functools.partial(_derivative_program, problem))
    return ModelPrograms(
        log_lik=lambda theta, data: log_lik(theta, data, grid),
        derivatives=lambda theta, data, wr: derivatives(theta, data, grid, wr),
    )


def maximise_host(
    problem: Problem, flat0, data, grid, row_weights, *, rtol, atol, max_steps, row_chunk
) -> dict:
    """Run the Newton loop in Python with the solver in NumPy (see the module docstring)."""
    row_weights = np.asarray(row_weights, dtype=np.float64)
    n, num_groups = row_weights.shape
    k, m = flat0.shape[0], grid.shape[0]
    chunks = split_rows(data, n, chunk_rows(n, m, k, row_chunk))
    programs = model_programs(problem, grid)

    theta = candidate = np.asarray(flat0, dtype=np.float64)
    current = _placeholder(num_groups, m, n, k, xp=np)
    predicted, damping, done, num_steps = 0.0, _DAMPING_START, False, 0
    while not done and num_steps < max_steps:
        new = profile_curvature_host(
            programs, candidate, chunks, row_weights, init_mixing=current.mixing_weights
        )
        first = num_steps == 0
        accept, damping = _accept(current, new, predicted, damping, first, xp=np)
        if accept:
            current, theta = new, candidate
        step, predicted, newton = _newton_step(current.gradient, current.hessian, damping, np)
        done = bool(accept and _small(newton, theta, rtol, atol, np))
        candidate = theta + step
        num_steps += 1
    return _outputs(theta, current, done, num_steps)
