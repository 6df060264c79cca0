"""Semi-parametric maximum likelihood: θ by damped Newton on the profile likelihood, F by mixSQP."""

from __future__ import annotations

import functools
import warnings
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_no_nan, nan_data_sets
from .._progress import progress
from .._warnings import ConvergenceWarning
from .._x64 import float64
from ..npmle._profile import check_rows, group_weights
from ..reporting import EstimationResult
from ._maximum_likelihood import covariance_from_scores
from ._profile_newton import maximise_compiled, maximise_host, model_programs, setup_problem

__all__ = ["MixingDistribution", "ProfileMLE", "plot_mixing_cdf"]

_COV_TYPES = ("hessian", "sandwich", "opg")
_ENGINES = ("auto", "host", "compiled")
# engine="auto" fits on the host up to this many entries n·m·k of the (n, m, k) Jacobian.
# Beyond it the compiled engine's fused passes win back more than its compilation costs:
# host/compiled fit times on 2 cores were 5.7/7.7 s at n·m·k = 1e7 (20000 x 100 x 5) and
# 33.7/26.7 s at 5e7 (50000 x 100 x 10).
_HOST_MAX_SIZE = 20_000_000
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


class ProfileMLE:
    """Semi-parametric maximum likelihood with the mixing distribution profiled out.

    Maximises ``L*(θ) = max_F Σ_i a_i log ∫ G(w_i, v; θ) dF(v)`` with F on a fixed grid (the
    method of Bunting, Diegert & Maurel 2025 and the ``spmlex`` package): θ by a damped
    (Levenberg-Marquardt) Newton method with the exact profile Hessian, in float64, F by
    mixSQP at each θ (warm-started from the previous iterate). Value, gradient, Hessian and
    scores come from one pass over the data in row chunks, so memory stays O(n·m). Standard
    errors come from the profile observed information, which includes the cost of estimating F
    (the ``Bᵀ H_SS⁻¹ B`` correction), or from a sandwich built on per-observation profile
    scores ``s_i = ∂θ ℓ_i + (∂_p ℓ_i) dp*/dθ``.

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
    engine : {"auto", "host", "compiled"}
        How the iteration runs (both give the same estimates, to solver tolerance).
        ``"compiled"``: the whole fit, mixSQP included, is one jitted JAX program: seconds
        to compile on CPU, then reused for every data set of the same shape. ``"host"``: the
        Newton loop runs in Python with mixSQP and the assembly of the derivatives in NumPy,
        and only the model's log-likelihood and its derivatives are compiled: a one-off fit
        starts several times faster. ``"auto"`` uses ``"host"`` for :meth:`fit` when
        ``n·m·k`` (the size of the log-likelihood's Jacobian) is at most 2e7, and
        ``"compiled"`` for larger problems and for :meth:`fit_batch`.
    progress_bar : bool
        Show a tqdm bar over the data sets in :meth:`fit_batch` (off when the ``CI``
        environment variable is set), as NumPyro's ``MCMC(progress_bar=...)``.

    Notes
    -----
    Works with x64 disabled (NumPyro's default float32): :meth:`fit` switches float64 on
    around its own work and returns float64 results, without changing JAX's global setting.
    Calling it inside a ``jit``/``vmap`` trace started in float32 is not supported; see
    :class:`~numpyro_semipar.Float64RequiredError`.

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
        engine: str = "auto",
        progress_bar: bool = True,
    ) -> None:
        if cov_type not in _COV_TYPES:
            raise ValueError(f"cov_type must be one of {_COV_TYPES}, got {cov_type!r}")
        if engine not in _ENGINES:
            raise ValueError(f"engine must be one of {_ENGINES}, got {engine!r}")
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
        self.engine = engine
        self.progress_bar = bool(progress_bar)

    def _prepare(self, model, data, first_data, name="data"):
        problem, start = setup_problem(model)
        grid = jnp.asarray(self.grid)
        # The host engine's own compiled log-likelihood (op-by-op dispatch would compile
        # every operation separately).
        flat0 = problem.layout.ravel_numpy(start)
        programs = model_programs(problem, grid)
        log_lik = programs.log_lik(flat0, first_data)
        row_weights = group_weights(self.weights, self.groups, log_lik.shape[0])
        _check_nan_data(log_lik, first_data, name)
        check_rows(log_lik, row_weights)
        return problem, flat0, grid, row_weights, programs

    def _maximiser(self, batch: bool, row_weights, flat0):
        engine = self.engine
        if engine == "auto":
            size = row_weights.shape[0] * self.grid.shape[0] * flat0.shape[0]
            engine = "compiled" if batch or size > _HOST_MAX_SIZE else "host"
        return maximise_host if engine == "host" else maximise_compiled

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
            problem, flat0, grid, row_weights, _ = self._prepare(model, data, data)
            maximise = self._maximiser(False, row_weights, flat0)
            out = maximise(problem, flat0, data, grid, row_weights, **self._options())
            return self._package(problem, jax.tree.map(np.asarray, out), row_weights)

    def _options(self) -> dict:
        return {
            "rtol": self.rtol,
            "atol": self.atol,
            "max_steps": self.max_steps,
            "row_chunk": self.row_chunk,
        }

    def fit_batch(
        self, model: Any, data: Any, *, progress_bar: bool | None = None
    ) -> list[EstimationResult]:
        """Fit many data sets of one shape, e.g. for a Monte Carlo.

        The data sets are fitted one after the other, by default (``engine="auto"``) with the
        compiled engine: its program is compiled once and reused for every data set (a
        ``vmap`` over data sets would make every replication wait for the slowest one inside
        the batched Newton and mixSQP loops, which is several times slower here).

        Parameters
        ----------
        model : pytree with a method ``lclk``
            The common starting point.
        data : pytree
            Data sets stacked along a new leading axis of every leaf.
        progress_bar : bool, optional
            Deprecated: pass ``progress_bar`` to the constructor. When given, it overrides the
            constructor's setting for this call, with a ``DeprecationWarning``.

        Returns
        -------
        list of EstimationResult
            One result per data set, as from :meth:`fit`.
        """
        if progress_bar is None:
            progress_bar = self.progress_bar
        else:
            warnings.warn(
                "ProfileMLE.fit_batch(progress_bar=...) is deprecated and will be removed in the "
                "next release: use ProfileMLE(..., progress_bar=...) instead",
                DeprecationWarning,
                stacklevel=2,
            )
        with float64():
            data = _as_float64(data)
            first = jax.tree.map(lambda x: x[0], data)
            problem, flat0, grid, row_weights, programs = self._prepare(
                model, data, first, "data set 0: data"
            )
            maximise = self._maximiser(True, row_weights, flat0)
            size = jax.tree.leaves(data)[0].shape[0]
            # A data set with NaN that the model cannot absorb would otherwise come back as its
            # starting values with loglik -inf and "Newton did not converge": fail at entry.
            for r in nan_data_sets(data):
                one = jax.tree.map(lambda x, r=r: x[r], data)
                if np.isnan(np.asarray(programs.log_lik(flat0, one))).any():
                    check_no_nan(one, f"data set {r}: data")
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
                "arviz_groups": {"mixing": functools.partial(_mixing_dataset, mixing)},
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


def _check_nan_data(log_lik, data, name: str) -> None:
    """Blame NaN data, by leaf and index, for NaN in the log-likelihood matrix.

    Only when the matrix has NaN: a model may read NaN as "missing" and handle it itself.
    """
    if np.isnan(np.asarray(log_lik)).any():
        check_no_nan(data, name)


def _as_float64(tree):
    def convert(x):
        if isinstance(x, np.ndarray | jax.Array) and jnp.issubdtype(x.dtype, jnp.floating):
            return jnp.asarray(x, dtype=jnp.float64)
        return x

    return jax.tree.map(convert, tree)
