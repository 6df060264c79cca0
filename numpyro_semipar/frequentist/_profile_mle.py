"""Semi-parametric maximum likelihood: θ by BFGS on the profile likelihood, F by mixSQP."""

from __future__ import annotations

import functools
import warnings
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jax.scipy.special import logsumexp

from .._params import param_layout
from .._warnings import ConvergenceWarning
from .._x64 import float64
from ..npmle._derivatives import safe_log
from ..npmle._profile import (
    check_rows,
    evaluate_lclk,
    group_weights,
    kkt_residual,
    profile_pointwise,
)
from ..reporting import EstimationResult
from ._maximum_likelihood import covariance_from_scores

__all__ = ["MixingDistribution", "ProfileMLE", "plot_mixing_cdf"]

_COV_TYPES = ("hessian", "sandwich", "opg")
# mixSQP stops at a KKT residual of 1e-8; 1e-6 flags a failed inner solve, not a slow one.
_INNER_KKT_TOL = 1e-6


class MixingDistribution(NamedTuple):
    """Estimated mixing distribution on the grid.

    Attributes
    ----------
    support : array of shape (m,) or (m, d)
        The grid points.
    weights : array of shape (m,), or (G, m) with groups
        The estimated probability of each grid point.
    cdf : array shaped like ``weights``, or None
        Cumulative sums of the weights along the grid (one-dimensional grids only).
    """

    support: np.ndarray
    weights: np.ndarray
    cdf: np.ndarray | None


def plot_mixing_cdf(
    mixing: MixingDistribution,
    *,
    true_support: Any = None,
    true_weights: Any = None,
    ax: Any = None,
    label: str = "estimated F",
):
    """Plot the estimated mixing CDF (a step function), optionally against the true one.

    Parameters
    ----------
    mixing : MixingDistribution
        The estimate (``result.mixing``).
    true_support, true_weights : array, optional
        Atoms and probabilities of the true mixing distribution.
    ax : matplotlib Axes, optional
        Where to draw; a new figure by default.
    label : str
        Legend label of the estimate.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if mixing.cdf is None:
        raise ValueError("the CDF is only defined for a one-dimensional grid")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    cdfs = np.atleast_2d(mixing.cdf)
    for g, cdf in enumerate(cdfs):
        suffix = f" (group {g})" if cdfs.shape[0] > 1 else ""
        ax.step(mixing.support, cdf, where="post", label=label + suffix)
    if true_support is not None:
        if true_weights is None:
            raise ValueError("true_weights is required with true_support")
        order = np.argsort(np.asarray(true_support))
        atoms = np.asarray(true_support)[order]
        steps = np.cumsum(np.asarray(true_weights)[order])
        x = np.concatenate([[mixing.support[0]], atoms, [mixing.support[-1]]])
        y = np.concatenate([[0.0], steps, [steps[-1]]])
        ax.step(x, y, where="post", linestyle="--", color="k", label="true F")
    ax.set_xlabel("grid")
    ax.set_ylabel("CDF")
    ax.legend()
    return ax


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


class _Problem(NamedTuple):
    names: tuple[str, ...]
    treedef: Any
    static: Any
    layout: Any


def _setup(model) -> tuple[_Problem, dict]:
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
    start = {n: jnp.asarray(v, jnp.float64) for n, v in zip(names, leaves, strict=True)}
    return _Problem(tuple(names), treedef, static, param_layout(start)), start


def _rebuild(problem: _Problem, flat):
    values = problem.layout.unravel(flat)
    params = jax.tree_util.tree_unflatten(problem.treedef, [values[n] for n in problem.names])
    return eqx.combine(params, problem.static)


def _maximise(problem, flat0, data, grid, row_weights, rtol, atol, max_steps):
    """BFGS on the mean profile log-likelihood (pure JAX: jit- and vmap-able over data)."""
    total_weight = jnp.sum(row_weights)

    def objective(flat, _):
        log_lik = evaluate_lclk(_rebuild(problem, flat), data, grid)
        return -profile_pointwise(log_lik, row_weights)[1] / total_weight

    solution = optx.minimise(
        objective, optx.BFGS(rtol=rtol, atol=atol), flat0, max_steps=max_steps, throw=False
    )
    return {
        "theta": solution.value,
        "success": solution.result == optx.RESULTS.successful,
        "num_steps": solution.stats["num_steps"],
    }


def _curvature(problem, theta, data, grid, row_weights):
    """Value, gradient, Hessian and per-observation scores at the estimate.

    The weights are solved for once; derivatives then use :func:`profile_at` (no solver in
    the derivative program), and the Hessian and scores are built one direction at a time
    (``lax.map``), so memory stays O(n·m) whatever the number of parameters.
    """

    def log_lik_at(flat):
        return evaluate_lclk(_rebuild(problem, flat), data, grid)

    log_lik = log_lik_at(theta)
    _, _, mixing = profile_pointwise(jax.lax.stop_gradient(log_lik), row_weights)

    def pointwise(flat):
        return profile_pointwise(log_lik_at(flat), row_weights, mixing)

    def total(flat):
        return pointwise(flat)[1]

    row_total = jnp.sum(row_weights, axis=1)
    members = row_weights > 0
    log_p = safe_log(mixing)  # (G, m)

    # Curvature with the mixing weights held at their estimate: the textbook information
    # when F is known. The gap to ``hessian`` is the PSD cost of estimating F.
    def known_mixing(flat):
        values = log_lik_at(flat)
        log_u = jnp.stack(
            [
                logsumexp(jnp.where(members[:, [g]], values, 0.0) + log_p[g], axis=1)
                for g in range(log_p.shape[0])
            ]
        )
        return jnp.sum(jnp.where(members.T, row_weights.T * log_u, 0.0))

    def column(fn):
        return lambda v: jax.jvp(fn, (theta,), (v,))[1]

    directions = jnp.eye(theta.shape[0], dtype=theta.dtype)
    loglik, gradient = jax.value_and_grad(total)(theta)
    return {
        "loglik": loglik,
        "mixing": mixing,
        "gradient": gradient,
        "hessian": jax.lax.map(column(jax.grad(total)), directions),
        "hessian_known_mixing": jax.lax.map(column(jax.grad(known_mixing)), directions),
        "scores": jax.lax.map(column(lambda f: row_total * pointwise(f)[0]), directions).T,
        "inner_kkt": kkt_residual(log_lik, row_weights, mixing),
    }


def _estimate(problem, flat0, data, grid, row_weights, rtol, atol, max_steps):
    """Estimation and curvature in one pure function (used under ``vmap`` for batches)."""
    out = _maximise(problem, flat0, data, grid, row_weights, rtol, atol, max_steps)
    return {**out, **_curvature(problem, out["theta"], data, grid, row_weights)}


# Compiled once per model structure (the problem is static: names, tree structure and the
# non-array fields of the model), so refitting on new data of the same shape is fast.
_STATIC = ("rtol", "atol", "max_steps")
_maximise_jit = jax.jit(_maximise, static_argnums=0, static_argnames=_STATIC)
_curvature_jit = jax.jit(_curvature, static_argnums=0)


def _compiled(problem: _Problem):
    try:
        hash(problem)
    except TypeError:
        # Non-hashable static fields (e.g. an integer array in the model): compile per call.
        def maximise(problem, *args, **options):
            return jax.jit(functools.partial(_maximise, problem, **options))(*args)

        def curvature(problem, *args):
            return jax.jit(functools.partial(_curvature, problem))(*args)

        return maximise, curvature
    return _maximise_jit, _curvature_jit


class ProfileMLE:
    """Semi-parametric maximum likelihood with the mixing distribution profiled out.

    Maximises ``L*(θ) = max_F Σ_i a_i log ∫ G(w_i, v; θ) dF(v)`` with F on a fixed grid (the
    method of Bunting, Diegert & Maurel 2025 and the ``spmlex`` package): θ by BFGS
    (optimistix, float64) on :func:`~numpyro_semipar.npmle.profile_loglik`, F by mixSQP at
    each θ. Standard errors come from the profile observed information, which includes the
    cost of estimating F (the ``Bᵀ H_SS⁻¹ B`` correction), or from a sandwich built on
    per-observation profile scores ``s_i = ∂θ ℓ_i + (∂_p ℓ_i) dp*/dθ``.

    Parameters
    ----------
    grid : array of shape (m,) or (m, d)
        Support points of the mixing distribution.
    weights : array of shape (n,), optional
        Non-negative row weights (default 1). The scores are weighted (``a_i ∇ log u_i``).
    groups : array of shape (n,) of int, or (n, G) dummy matrix, optional
        A separate mixing distribution per group (``spmlex``'s ``endog_dummies``).
    cov_type : {"hessian", "sandwich", "opg"}
        ``inv(-H)`` of the profile Hessian; ``H⁻¹ (SᵀS) H⁻¹``; or ``inv(SᵀS)``.
    rtol, atol : float
        BFGS tolerances (on the mean log-likelihood and on the parameters).
    max_steps : int
        BFGS iteration limit.
    gradient_tol : float
        Convergence also requires the infinity norm of the gradient of the mean
        log-likelihood to be below this.

    Examples
    --------
    >>> result = ProfileMLE(jnp.linspace(-6, 6, 75)).fit(LinearFactor(...), y)  # doctest: +SKIP
    >>> result.summary(); result.mixing.cdf; result.model  # doctest: +SKIP
    """

    def __init__(
        self,
        grid: Any,
        *,
        weights: Any = None,
        groups: Any = None,
        cov_type: str = "hessian",
        rtol: float = 1e-9,
        atol: float = 1e-9,
        max_steps: int = 500,
        gradient_tol: float = 1e-5,
    ) -> None:
        if cov_type not in _COV_TYPES:
            raise ValueError(f"cov_type must be one of {_COV_TYPES}, got {cov_type!r}")
        grid = np.asarray(grid, dtype=np.float64)
        if grid.ndim not in (1, 2) or grid.shape[0] < 1:
            raise ValueError(f"grid must have shape (m,) or (m, d), got {grid.shape}")
        if not np.all(np.isfinite(grid)):
            raise ValueError("grid has non-finite entries")
        self.grid = grid
        self.weights = weights
        self.groups = groups
        self.cov_type = cov_type
        self.rtol, self.atol, self.max_steps = rtol, atol, max_steps
        self.gradient_tol = gradient_tol

    def _prepare(self, model, data, first_data):
        problem, start = _setup(model)
        grid = jnp.asarray(self.grid)
        log_lik = evaluate_lclk(model, first_data, grid)
        row_weights = group_weights(self.weights, self.groups, log_lik.shape[0])
        check_rows(log_lik, row_weights)
        return problem, start, grid, row_weights

    def fit(self, model: Any, data: Any) -> EstimationResult:
        """Estimate θ and the mixing distribution.

        Parameters
        ----------
        model : pytree with a method ``lclk(data, grid) -> (n, m)``
            The starting point, e.g. an :class:`equinox.Module`; every floating-point array
            field is a parameter.
        data : pytree
            Passed to ``model.lclk``.

        Returns
        -------
        EstimationResult
            ``params`` maps each array field (``"coef"``, ``"sub.scale"``) to its estimate.
            Extra fields: ``model`` (the fitted pytree), ``mixing`` (a
            :class:`MixingDistribution`), ``plot_cdf(true_support=, true_weights=)`` (see
            :func:`plot_mixing_cdf`), ``hessian`` (profile Hessian), ``hessian_known_mixing``
            (Hessian with F held fixed), ``scores`` (n, k), ``gradient_norm``,
            ``inner_kkt_residual``, and ``arviz_groups`` (a ``mixing`` group for
            ``to_arviz()``).
        """
        with float64():
            data = _as_float64(data)
            problem, start, grid, row_weights = self._prepare(model, data, data)
            maximise, curvature = _compiled(problem)
            out = maximise(
                problem,
                problem.layout.ravel(start),
                data,
                grid,
                row_weights,
                rtol=self.rtol,
                atol=self.atol,
                max_steps=self.max_steps,
            )
            out = {**out, **curvature(problem, out["theta"], data, grid, row_weights)}
            return self._package(problem, jax.tree.map(np.asarray, out), row_weights)

    def fit_batch(self, model: Any, data: Any) -> list[EstimationResult]:
        """Fit many data sets of one shape at once (``vmap``), e.g. for a Monte Carlo study.

        Parameters
        ----------
        model : pytree with a method ``lclk``
            The common starting point.
        data : pytree
            Data sets stacked along a new leading axis of every leaf.

        Returns
        -------
        list of EstimationResult
            One result per data set, as from :meth:`fit`.
        """
        with float64():
            data = _as_float64(data)
            first = jax.tree.map(lambda x: x[0], data)
            problem, start, grid, row_weights = self._prepare(model, data, first)
            estimate = functools.partial(
                _estimate, problem, rtol=self.rtol, atol=self.atol, max_steps=self.max_steps
            )
            batched = jax.jit(jax.vmap(estimate, in_axes=(None, 0, None, None)))
            out = jax.tree.map(
                np.asarray, batched(problem.layout.ravel(start), data, grid, row_weights)
            )
            size = next(iter(out.values())).shape[0]
            return [
                self._package(problem, {k: v[r] for k, v in out.items()}, row_weights)
                for r in range(size)
            ]

    def _package(self, problem, out, row_weights) -> EstimationResult:
        names = list(problem.layout.flat_names)
        total_weight = float(np.sum(row_weights))
        hessian = out["hessian"]
        cov = covariance_from_scores(hessian, out["scores"], self.cov_type, names)
        gradient_norm = float(np.max(np.abs(out["gradient"]))) / total_weight
        converged = bool(out["success"]) and gradient_norm <= self.gradient_tol
        inner_ok = bool(out["inner_kkt"] <= _INNER_KKT_TOL)
        if not converged:
            message = (
                f"BFGS did not converge (status ok: {bool(out['success'])}, "
                f"|grad|_inf of the mean log-likelihood = {gradient_norm:.3g})"
            )
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        elif not inner_ok:
            converged = False
            message = f"mixSQP did not converge at the estimate (KKT {out['inner_kkt']:.3g})"
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        else:
            message = "converged"
        mixing = self._mixing(out["mixing"], self.groups is not None)
        params = problem.layout.unravel_numpy(out["theta"])
        with float64():
            fitted = _rebuild(problem, jnp.asarray(out["theta"]))
        loglik = float(out["loglik"])
        return EstimationResult(
            params=params,
            cov=cov,
            estimator="ProfileMLE",
            nobs=int(row_weights.shape[0]),
            loglik=loglik,
            converged=converged,
            objective=-loglik / total_weight,
            objective_name="negative mean profile log-likelihood",
            cov_type=self.cov_type,
            message=message,
            num_iter=int(out["num_steps"]),
            extra={
                "model": fitted,
                "mixing": mixing,
                "plot_cdf": functools.partial(plot_mixing_cdf, mixing),
                "hessian": hessian,
                "hessian_known_mixing": out["hessian_known_mixing"],
                "scores": out["scores"],
                "gradient_norm": gradient_norm,
                "inner_kkt_residual": float(out["inner_kkt"]),
                "arviz_groups": {"mixing": _mixing_dataset(mixing)},
            },
        )

    def _mixing(self, weights, grouped: bool) -> MixingDistribution:
        weights = np.asarray(weights)
        weights = weights if grouped else weights[0]
        cdf = np.cumsum(weights, axis=-1) if self.grid.ndim == 1 else None
        return MixingDistribution(support=self.grid, weights=weights, cdf=cdf)


def _mixing_dataset(mixing: MixingDistribution):
    import xarray as xr

    dims = ["grid"] if mixing.weights.ndim == 1 else ["group", "grid"]
    variables = {"weights": (dims, mixing.weights)}
    if mixing.cdf is not None:
        variables["cdf"] = (dims, mixing.cdf)
        coords = {"grid": mixing.support}
    else:
        variables["support"] = (["grid", "grid_dim"], mixing.support)
        coords = {"grid": np.arange(mixing.support.shape[0])}
    return xr.Dataset(variables, coords=coords, attrs={"description": "profiled mixing weights"})


def _as_float64(tree):
    def convert(x):
        if isinstance(x, np.ndarray | jax.Array) and jnp.issubdtype(x.dtype, jnp.floating):
            return jnp.asarray(x, dtype=jnp.float64)
        return x

    return jax.tree.map(convert, tree)
