"""The fit driver of :class:`~numpyro_semipar.frequentist.SMM`: stages, weights, starts.

A fit is a sequence of stages with a fixed weight W (identity, then estimated optimal or
diagonal weights for two-step and iterated GMM); each stage runs every start and keeps the
best criterion. A JAX simulator's start is a compiled solve
(:func:`~numpyro_semipar.frequentist._smm_functions.make_solver`) and a compiled evaluation of
the errors and their Jacobian at the solution; a callback simulator's is a scipy run with
scaled finite differences.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._progress import progress, show_progress
from ..moments._diagnostics import check_jacobian
from ..moments._draws import num_simulations
from ..moments._weighting import (
    bootstrap_moment_covariance,
    diagonal_weight,
    influence_moment_covariance,
    optimal_weight,
    simulated_moment_covariance,
)
from ._smm_functions import float64_tree, num_obs
from ._smm_result import smm_result
from ._smm_solvers import (
    check_inside,
    finite_difference_jacobian,
    make_bounds,
    minimise_scipy,
    root_scipy,
)

__all__ = ["fit_smm"]


def fit_smm(smm, data, starts, layout, weighting, bounds, omega, covariance, rng_key,
            num_bootstrap, max_weight_updates, covariance_draws, progress_bar):  # fmt: skip
    """Run the stages of an SMM fit and assemble the result (arguments validated by ``fit``)."""
    data = float64_tree(data)
    cov_draws = None
    if covariance_draws is not None:
        num_simulations(covariance_draws)
        cov_draws = float64_tree(covariance_draws)
    m_data = smm.data_moments(data)
    num_moments, k = m_data.size, layout.size
    names = smm._names(num_moments)
    n_obs = num_obs(data)
    n_sim = smm._num_sim_obs(layout, starts[0])
    smm._data_moments, smm._num_obs = m_data, n_obs
    factor = 1.0 + (n_obs / n_sim) / smm.num_sims
    if num_moments < k:
        raise ValueError(
            f"{num_moments} moments cannot identify {k} parameters {list(layout.flat_names)}"
        )
    box = make_bounds(bounds, layout)
    flats = [layout.ravel_numpy(s) for s in starts]
    for flat in flats:
        check_inside(flat, box, layout.flat_names)
    if smm.callback:
        check_jacobian(smm._jacobian(layout, flats[0], m_data), layout.flat_names, names)

    exact = num_moments == k
    data_omega = None
    if callable(omega):
        data_omega = influence_moment_covariance(omega(data))
    elif omega == "bootstrap":
        data_omega = bootstrap_moment_covariance(rng_key, data, smm.moments, num_bootstrap)
    if data_omega is not None and smm.error == "percent":
        data_omega = data_omega / np.outer(m_data, m_data)

    def omega_at(best):
        if data_omega is not None:
            return data_omega
        if omega == "uncentered" or cov_draws is None:
            e = best["sim_errors"]
        else:
            e = smm._functions(layout)["sim_errors"](jnp.asarray(best["x"]), cov_draws, m_data)
        cov = simulated_moment_covariance(e, centered=omega != "uncentered")
        # One simulated data set has N_s observations; the data moments have N.
        return cov * (n_sim / n_obs) if omega != "uncentered" else cov

    if isinstance(weighting, str):
        estimated = weighting != "identity"
        weight = np.eye(num_moments)
        if estimated and data_omega is not None:
            weight = _estimated_weight(weighting, data_omega, names)
    else:
        estimated = False
        weight = smm._weight(weighting, num_moments)
    show = show_progress(progress_bar)
    ctx = {"smm": smm, "layout": layout, "m_data": m_data, "box": box, "exact": exact}
    best = _stage(ctx, flats, weight, show, names, check=not smm.callback)
    stages = [best]
    if estimated and not exact:
        needs_first = data_omega is None
        rounds = 1 if weighting != "iterated" else max_weight_updates
        for _ in range(rounds):
            if needs_first:
                weight = _estimated_weight(weighting, omega_at(best), names)
            previous = best["x"]
            more = [f for f in flats if len(flats) > 1]
            best = _stage(ctx, [previous, *more], weight, show, names, check=False)
            stages.append(best)
            change = np.max(np.abs(best["x"] - previous) / (1.0 + np.abs(previous)))
            if not needs_first or change < 1e-8:
                break
    best = _complete(ctx, best, jacobian=True)
    if data_omega is not None:
        sigma = data_omega
    else:
        sigma = simulated_moment_covariance(
            best["sim_errors"] if cov_draws is None else _sim_errors(ctx, best["x"], cov_draws),
            centered=True,
        ) * (n_sim / n_obs)  # fmt: skip
    return smm_result(
        smm, layout, best, stages, m_data, weight, sigma, names, n_obs, factor, exact,
        covariance, weighting, estimated and omega != "uncentered",
    )  # fmt: skip


def _sim_errors(ctx, x, draws):
    fns = ctx["smm"]._functions(ctx["layout"])
    return np.asarray(fns["sim_errors"](jnp.asarray(x), draws, ctx["m_data"]))


def _estimated_weight(weighting, omega_hat, names):
    if weighting == "diagonal":
        return diagonal_weight(omega_hat, names)
    return optimal_weight(omega_hat, names)


def _stage(ctx, flats, weight, show, names, *, check):
    runs = []
    iterator = progress(flats, desc="SMM starts", enabled=show and len(flats) > 1)
    for i, flat in enumerate(iterator):
        if ctx["smm"].callback:
            out = _solve_scipy(ctx, flat, weight)
        else:
            out = _solve_jax(ctx, flat, weight, names, check=check and i == 0)
        g = out["g"]
        out["criterion"] = float(g @ weight @ g)
        out["start"] = flat
        runs.append(out)
    valid = [r for r in runs if np.isfinite(r["criterion"])]
    if not valid:
        raise ValueError("the criterion is not finite at any solution; check the simulator")
    best = dict(min(valid, key=lambda r: r["criterion"]))
    best["runs"] = runs
    best["weight"] = weight
    return _complete(ctx, best, jacobian=False)


def _solve_jax(ctx, flat, weight, names, *, check) -> dict:
    smm, layout, m_data, box = ctx["smm"], ctx["layout"], ctx["m_data"], ctx["box"]
    fns = smm._functions(layout)
    if check:
        # Raise on a flat criterion instead of letting the solver return the start.
        _, jac0, _ = fns["evaluate"](jnp.asarray(flat), smm.draws, m_data)
        check_jacobian(np.asarray(jac0), layout.flat_names, names)
    exact = ctx["exact"]
    x, ok, steps = fns["root" if exact else "minimise"](
        jnp.asarray(box.to_unconstrained(flat)), smm.draws, m_data, jnp.asarray(weight),
        jnp.asarray(box.lower), jnp.asarray(box.upper),
    )  # fmt: skip
    g, jac, sims = (np.asarray(v) for v in fns["evaluate"](x, smm.draws, m_data))
    x = np.asarray(x, dtype=np.float64)
    if exact:
        tol = 1.0 if smm.error == "percent" else 1.0 + np.abs(m_data)
        # A root is a root: judge by the moment equations, not by the solver's step test.
        ok = bool(np.all(np.abs(g) <= 1e-8 * tol))
        msg = "root of the moment equations found" if ok else (
            f"no root found (max |g| = {np.max(np.abs(g)):.3g})"
        )  # fmt: skip
    else:
        ok = bool(ok) and bool(np.all(np.isfinite(x)))
        msg = "BFGS converged" if ok else "BFGS did not converge (step limit or failure)"
    return {"x": x, "converged": ok, "num_steps": int(steps), "message": msg, "g": g,
            "jacobian": jac, "sim_errors": sims}  # fmt: skip


def _solve_scipy(ctx, flat, weight) -> dict:
    smm, layout, m_data, box = ctx["smm"], ctx["layout"], ctx["m_data"], ctx["box"]
    fns = smm._functions(layout)

    def errors(x):
        return np.asarray(fns["errors"](jnp.asarray(x), smm.draws, m_data))

    def jac(x):
        return finite_difference_jacobian(errors, x, layout.flat_names)

    if ctx["exact"]:
        out = root_scipy(errors, jac, flat, box, tol=1e-12)
    else:

        def crit(x):
            g = errors(x)
            return float(g @ weight @ g)

        def grad(x):
            return 2.0 * jac(x).T @ weight @ errors(x)

        out = minimise_scipy(
            crit, grad, flat, box, method=smm.optimizer, tol=1e-10, maxiter=smm.max_steps
        )
    x = np.asarray(out.x, dtype=np.float64)
    # The Jacobian and the simulated errors are computed for the best start only (complete).
    return {"x": x, "converged": out.success, "num_steps": out.num_steps, "message": out.message,
            "g": errors(x)}  # fmt: skip


def _complete(ctx, best, *, jacobian: bool) -> dict:
    """Add the per-simulation errors (and the Jacobian) at ``best["x"]`` where missing."""
    if jacobian and "jacobian" not in best:
        best["jacobian"] = ctx["smm"]._jacobian(ctx["layout"], best["x"], ctx["m_data"])
    if "sim_errors" not in best:
        best["sim_errors"] = _sim_errors(ctx, best["x"], ctx["smm"].draws)
    return best
