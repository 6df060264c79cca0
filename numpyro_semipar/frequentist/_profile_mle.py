"""Semi-parametric maximum likelihood: θ by damped Newton on the profile likelihood, F by mixSQP."""

from __future__ import annotations

import functools
import warnings
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._params import param_layout
from .._progress import progress
from .._warnings import ConvergenceWarning
from .._x64 import float64
from ..npmle._profile import check_rows, evaluate_lclk, group_weights
from ..npmle._profile_derivatives import ProfileCurvature, profile_curvature
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
    start = {n: np.asarray(v, np.float64) for n, v in zip(names, leaves, strict=True)}
    return _Problem(tuple(names), treedef, static, param_layout(start)), start


def _rebuild(problem: _Problem, flat):
    values = problem.layout.unravel(flat)
    params = jax.tree_util.tree_unflatten(problem.treedef, [values[n] for n in problem.names])
    return eqx.combine(params, problem.static)


class _Newton(NamedTuple):
    theta: jax.Array  # accepted iterate
    current: ProfileCurvature  # everything at the accepted iterate
    candidate: jax.Array  # where the next evaluation happens
    predicted: jax.Array  # increase of the quadratic model at the candidate
    damping: jax.Array
    num_steps: jax.Array
    done: jax.Array


# Levenberg-Marquardt damping (relative to the diagonal of the information): start, shrink
# after an accepted step, growth after a rejected one; and the least acceptable ratio of
# actual to predicted increase.
_DAMPING_START = 1.0
_DAMPING_SHRINK = 0.1
_DAMPING_GROW = 8.0
_ACCEPT_RATIO = 1e-4


def _newton_step(gradient, hessian, damping):
    """Damped Newton step ``(N + λ D)⁻¹ g`` with ``N = −H`` made positive definite.

    Returns the damped step, the increase of the quadratic model along it, and the step with
    no damping (for the convergence test), from one eigendecomposition.
    """
    info = -hessian
    scale = jnp.sqrt(jnp.maximum(jnp.abs(jnp.diag(info)), 1e-300))
    scaled = info / scale[:, None] / scale[None, :]
    evals, evecs = jnp.linalg.eigh(0.5 * (scaled + scaled.T))
    # Far from the optimum the profile likelihood need not be concave: negative curvature is
    # mirrored (the smallest eigenvalue becomes |min|), then the damping is added.
    floor = 1e-8 * jnp.maximum(jnp.max(jnp.abs(evals)), 1e-300)
    shift = jnp.maximum(-2.0 * jnp.min(evals), 0.0) + floor
    coords = evecs.T @ (gradient / scale)
    step = evecs @ (coords / (evals + shift + damping)) / scale
    predicted = gradient @ step - 0.5 * step @ (info @ step)
    return step, predicted, evecs @ (coords / (evals + shift)) / scale


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
        return evaluate_lclk(_rebuild(problem, flat), data, grid)

    def evaluate(theta, init):
        return profile_curvature(
            log_lik_fn, theta, data, row_weights, init_mixing=init, row_chunk=row_chunk
        )

    def cond(state):
        return (~state.done) & (state.num_steps < max_steps)

    def body(state):
        new = evaluate(state.candidate, state.current.mixing_weights)
        old = state.current
        gain = new.loglik - old.loglik
        first = state.num_steps == 0
        finite = jnp.isfinite(new.loglik) & jnp.all(jnp.isfinite(new.hessian))
        # Changes at the level of rounding count as no change (the last steps are tiny).
        noise = 1e-12 * jnp.abs(old.loglik)
        accept = finite & (first | (gain >= _ACCEPT_RATIO * state.predicted - noise))
        current = jax.tree.map(lambda a, b: jnp.where(accept, a, b), new, old)
        theta = jnp.where(accept, state.candidate, state.theta)
        good = gain >= 0.75 * state.predicted
        damping = jnp.where(
            accept,
            jnp.where(good | first, state.damping * _DAMPING_SHRINK, state.damping),
            jnp.maximum(state.damping * _DAMPING_GROW, 1e-2),
        )
        step, predicted, newton = _newton_step(current.gradient, current.hessian, damping)
        # Converged when the undamped Newton step from the accepted point is tiny.
        small = jnp.max(jnp.abs(newton)) <= atol + rtol * jnp.max(jnp.abs(theta))
        done = accept & small
        return _Newton(theta, current, theta + step, predicted, damping, state.num_steps + 1, done)

    placeholder = ProfileCurvature(
        loglik=jnp.asarray(-jnp.inf),
        mixing_weights=jnp.full((num_groups, m), 1.0 / m),
        gradient=jnp.zeros(k),
        hessian=-jnp.eye(k),
        hessian_known_mixing=-jnp.eye(k),
        scores=jnp.zeros((n, k)),
        kkt_residual=jnp.asarray(jnp.inf),
    )
    init = _Newton(
        flat0,
        placeholder,
        flat0,
        jnp.asarray(0.0),
        jnp.asarray(_DAMPING_START),
        jnp.asarray(0),
        jnp.asarray(False),
    )
    final = jax.lax.while_loop(cond, body, init)
    out = final.current
    return {
        "theta": final.theta,
        "success": final.done,
        "num_steps": final.num_steps,
        "loglik": out.loglik,
        "mixing": out.mixing_weights,
        "gradient": out.gradient,
        "hessian": out.hessian,
        "hessian_known_mixing": out.hessian_known_mixing,
        "scores": out.scores,
        "inner_kkt": out.kkt_residual,
    }


# Compiled once per model structure (the problem is static: names, tree structure and the
# non-array fields of the model), so refitting on new data of the same shape is fast.
_STATIC = ("rtol", "atol", "max_steps", "row_chunk")
_maximise_jit = jax.jit(_maximise, static_argnums=0, static_argnames=_STATIC)


def _compiled(problem: _Problem):
    try:
        hash(problem)
    except TypeError:
        # Non-hashable static fields (e.g. an integer array in the model): compile per call.
        def maximise(problem, *args, **options):
            return jax.jit(functools.partial(_maximise, problem, **options))(*args)

        return maximise
    return _maximise_jit


class ProfileMLE:
    """Semi-parametric maximum likelihood with the mixing distribution profiled out.

    Maximises ``L*(θ) = max_F Σ_i a_i log ∫ G(w_i, v; θ) dF(v)`` with F on a fixed grid (the
    method of Bunting, Diegert & Maurel 2025 and the ``spmlex`` package): θ by a damped
    (Levenberg-Marquardt) Newton method with the exact profile Hessian, in float64, F by
    mixSQP at each θ (warm-started from the previous iterate). Value, gradient, Hessian and
    scores come from one pass over the data in row chunks, so memory stays O(n·m) and the
    whole fit is one compiled program. Standard errors come from the profile observed
    information, which includes the cost of estimating F (the ``Bᵀ H_SS⁻¹ B`` correction), or
    from a sandwich built on per-observation profile scores ``s_i = ∂θ ℓ_i + (∂_p ℓ_i) dp*/dθ``.

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
        Newton stops when every coordinate of the undamped Newton step from the accepted
        iterate is at most ``atol + rtol * max|θ|``.
    max_steps : int
        Limit on the number of evaluations (accepted or rejected Newton steps).
    gradient_tol : float
        Convergence also requires the infinity norm of the gradient of the mean
        log-likelihood to be below this.
    row_chunk : "auto", int or None
        Rows per chunk when assembling the derivatives (``None``: all rows at once; "auto":
        about 2**21 entries per chunk of the (rows, m, k) Jacobian). ``model.lclk`` must act
        row by row on the data leaves that have ``n`` leading rows.

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
        row_chunk: int | str | None = "auto",
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
        self.row_chunk = row_chunk

    def _prepare(self, model, data, first_data):
        problem, start = _setup(model)
        grid = jnp.asarray(self.grid)
        # One small compiled program instead of op-by-op dispatch (each op compiles once).
        log_lik = eqx.filter_jit(evaluate_lclk)(model, first_data, grid)
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
            out = _compiled(problem)(
                problem,
                problem.layout.ravel_numpy(start),
                data,
                grid,
                row_weights,
                **self._options(),
            )
            return self._package(problem, jax.tree.map(np.asarray, out), row_weights)

    def _options(self) -> dict:
        return {
            "rtol": self.rtol,
            "atol": self.atol,
            "max_steps": self.max_steps,
            "row_chunk": self.row_chunk,
        }

    def fit_batch(
        self, model: Any, data: Any, *, progress_bar: bool = False
    ) -> list[EstimationResult]:
        """Fit many data sets of one shape with one compiled program, e.g. for a Monte Carlo.

        The data sets are fitted one after the other by the program :meth:`fit` compiles (a
        ``vmap`` over data sets would make every replication wait for the slowest one inside
        the batched Newton and mixSQP loops, which is several times slower here).

        Parameters
        ----------
        model : pytree with a method ``lclk``
            The common starting point.
        data : pytree
            Data sets stacked along a new leading axis of every leaf.
        progress_bar : bool
            Show a tqdm bar over the data sets (off when the ``CI`` variable is set).

        Returns
        -------
        list of EstimationResult
            One result per data set, as from :meth:`fit`.
        """
        with float64():
            data = _as_float64(data)
            first = jax.tree.map(lambda x: x[0], data)
            problem, start, grid, row_weights = self._prepare(model, data, first)
            maximise = _compiled(problem)
            flat0 = problem.layout.ravel_numpy(start)
            size = jax.tree.leaves(data)[0].shape[0]
            indices = progress(range(size), desc="ProfileMLE fits", enabled=progress_bar)
            results = []
            for r in indices:
                one = jax.tree.map(lambda x, r=r: x[r], data)
                out = maximise(problem, flat0, one, grid, row_weights, **self._options())
                results.append(self._package(problem, jax.tree.map(np.asarray, out), row_weights))
            return results

    def _package(self, problem, out, row_weights) -> EstimationResult:
        names = list(problem.layout.flat_names)
        total_weight = float(np.sum(np.asarray(row_weights)))
        hessian = out["hessian"]
        cov = covariance_from_scores(hessian, out["scores"], self.cov_type, names)
        gradient_norm = float(np.max(np.abs(out["gradient"]))) / total_weight
        converged = bool(out["success"]) and gradient_norm <= self.gradient_tol
        inner_ok = bool(out["inner_kkt"] <= _INNER_KKT_TOL)
        if not converged:
            message = (
                f"Newton did not converge (step test met: {bool(out['success'])}, "
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
            values = problem.layout.unravel_numpy(out["theta"])
            leaves = [jnp.asarray(values[name]) for name in problem.names]
            fitted = eqx.combine(
                jax.tree_util.tree_unflatten(problem.treedef, leaves), problem.static
            )
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
