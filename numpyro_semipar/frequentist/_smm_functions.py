"""Compiled functions of an :class:`~numpyro_semipar.frequentist.SMM` estimator.

Built once per parameter layout and cached on the estimator. Every function takes the draws,
the data moments and the weight as arguments (not closures), so a two-step fit, other draws of
the same shape (:meth:`SMM.with_draws`) and other data reuse the compiled code. The simulated
moments are a chunked, fused reduction over the S draws
(:func:`~numpyro_semipar.moments.simulated_moments`).

A fit compiles two functions: the solver of one start (:func:`make_solver`: BFGS, or
Levenberg–Marquardt for a root) and ``evaluate``, which returns the errors, their Jacobian and
the per-simulation errors in one forward-mode pass (at the start for the flat-criterion check,
and at the solution for the covariance).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..moments._errors import moment_errors
from ..moments._simulate import simulated_moments
from ._smm_solvers import Bounds, least_squares_jax, minimise_jax

__all__ = ["build_functions", "float64_tree", "num_obs"]


def build_functions(simulate, moments, error: str, layout, *, callback: bool, solver_options):
    """Compiled error, criterion, Jacobian and (JAX simulators) solver functions.

    Parameters
    ----------
    simulate, moments : callable
        Simulator and moment function of the estimator.
    error : {"difference", "percent"}
        Error kind.
    layout : ParamLayout
        Parameter layout (flat vector <-> dict).
    callback : bool
        Whether ``simulate`` is a :class:`~numpyro_semipar.moments.CallbackSimulator` (no
        autodiff: no ``evaluate``, ``jacobian`` and solver entries).
    solver_options : dict
        ``rtol``, ``atol`` and ``max_steps`` of the solver.

    Returns
    -------
    dict of str to callable
        ``errors(flat, draws, m_data) -> (R,)``, ``sim_errors(...) -> (S, R)``,
        ``criterion(flat, draws, m_data, weight)`` and, for JAX simulators,
        ``evaluate(flat, draws, m_data) -> (g, G, sim_errors)`` (one forward-mode pass),
        ``jacobian(...) -> (R, K)`` and the solvers ``minimise`` and ``root`` of
        :func:`make_solver`.
    """

    def sim_errors(flat, draws, m_data):
        sims = simulated_moments(simulate, moments, layout.unravel(flat), draws)
        return moment_errors(sims, m_data, error)

    # The error map is affine in the moments: the error of the average is the average error.
    def errors(flat, draws, m_data):
        return jnp.mean(sim_errors(flat, draws, m_data), axis=0)

    def criterion(flat, draws, m_data, weight):
        g = errors(flat, draws, m_data)
        return g @ weight @ g

    fns = {
        "errors": jax.jit(errors),
        "sim_errors": jax.jit(sim_errors),
        "criterion": jax.jit(criterion),
    }
    if not callback:

        def evaluate(flat, draws, m_data):
            def fn(x):
                sims = sim_errors(x, draws, m_data)
                return jnp.mean(sims, axis=0), sims

            jac, sims = jax.jacfwd(fn, has_aux=True)(flat)
            return jnp.mean(sims, axis=0), jac, sims

        evaluate = jax.jit(evaluate)
        fns["evaluate"] = evaluate
        fns["jacobian"] = lambda flat, draws, m_data: evaluate(flat, draws, m_data)[1]
        # jax.jit compiles on first call: only the solver a problem uses is compiled.
        fns["minimise"] = jax.jit(make_solver(errors, exact=False, **solver_options))
        fns["root"] = jax.jit(make_solver(errors, exact=True, **solver_options))
    return fns


def make_solver(
    errors: Callable, *, exact: bool, rtol: float, atol: float, max_steps: int
) -> Callable:
    """Solver of one start of one SMM stage, traceable.

    ``solve(z0, draws, m_data, weight, lower, upper) -> (x, success, num_steps)`` works over
    the unconstrained ``z`` (θ = bounds(z)): BFGS on the criterion ``g(θ)ᵀWg(θ)``, normalised
    by its value at the start so the solver's tolerances mean the same whatever the scale of W
    and the moments; or, when ``exact``, Levenberg–Marquardt to a root of g(θ) = 0 (W is then
    irrelevant).
    """

    def solve(z0, draws, m_data, weight, lower, upper):
        bounds = Bounds(lower, upper)
        options = {"rtol": rtol, "atol": atol, "max_steps": max_steps}
        if exact:

            def residuals(z, args):
                return errors(bounds.to_constrained(z), *args)

            z, ok, steps = least_squares_jax(residuals, z0, (draws, m_data), **options)
        else:
            g0 = errors(bounds.to_constrained(z0), draws, m_data)
            crit0 = g0 @ weight @ g0
            scale = jnp.where(jnp.isfinite(crit0) & (crit0 > 0.0), crit0, 1.0)

            def objective(z, args):
                g = errors(bounds.to_constrained(z), *args)
                # Non-finite values become +inf so the line search rejects the step.
                value = (g @ weight @ g) / scale
                return jnp.where(jnp.isfinite(value), value, jnp.inf)

            z, ok, steps = minimise_jax(objective, z0, (draws, m_data), **options)
        return bounds.to_constrained(z), ok, steps

    return solve


def float64_tree(tree):
    """Cast the floating leaves of a pytree to float64 (integer leaves are kept)."""

    def cast(x):
        kind = np.asarray(x).dtype.kind if not hasattr(x, "dtype") else np.dtype(x.dtype).kind
        return jnp.asarray(x) if kind in "biu" else jnp.asarray(x, dtype=jnp.float64)

    return jax.tree.map(cast, tree)


def num_obs(data) -> int:
    """Return the number of observations: the leading axis of the first leaf of ``data``."""
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("data is empty")
    shape = np.shape(leaves[0])
    return int(shape[0]) if shape else 1
