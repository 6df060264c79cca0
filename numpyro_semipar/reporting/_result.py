"""The result object every frequentist estimator in the package returns."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

# scipy.special, not scipy.stats: the normal quantiles without stats' 0.5-1 s import.
from scipy.special import ndtr, ndtri

from .._params import ParamLayout, param_layout
from ._summary import EstimationSummary

__all__ = ["EstimationResult"]


@dataclasses.dataclass(eq=False, repr=False)
class EstimationResult:
    """Point estimates, their covariance and estimator diagnostics.

    Parameters
    ----------
    params : dict of str to array
        Estimates by site (or field) name, in the constrained (natural) space.
    cov : array of shape (k, k) or None
        Covariance of the flattened parameter vector, ordered as :attr:`param_names`.
        Entries are NaN for parameters that are not identified.
    estimator : str
        Name of the estimator (``"MaximumLikelihood"``, ``"SMM"``, ...).
    nobs : int, optional
        Number of observations.
    loglik : float, optional
        Maximised log-likelihood (or quasi-log-likelihood), when defined.
    converged : bool
        Whether the optimiser reported convergence.
    objective : float, optional
        Value of the minimised objective at the estimate.
    objective_name : str
        What :attr:`objective` is (``"negative mean log-likelihood"``, ``"SMM criterion"``).
    cov_type : str
        How :attr:`cov` was computed (``"hessian"``, ``"sandwich"``, ...).
    message : str
        Solver status message.
    num_iter : int, optional
        Number of optimiser iterations.
    extra : dict
        Estimator-specific fields (``groups``, ``mixing``, ``j_test``, ...). Each key is also
        readable as an attribute: ``result.extra["groups"]`` is ``result.groups``.
    dims : dict of str to tuple of str, optional
        Names of the dimensions of array parameters (``{"alpha": ("group", "regressor")}``),
        as ``arviz.from_numpyro(dims=...)``; used by :meth:`to_arviz`.
    coords : dict of str to sequence, optional
        Labels along named dimensions (``{"regressor": ["x1", "x2"]}``).

    Notes
    -----
    statsmodels' names are available as well: :attr:`bse`, :meth:`cov_params`, :attr:`llf`,
    :attr:`tvalues`, :attr:`pvalues`, :meth:`conf_int` (``alpha=``), :attr:`aic`, :attr:`bic`
    and :attr:`nobs` (Wald statistics use the normal distribution, as statsmodels does for
    maximum-likelihood models). :meth:`summary` gives a statsmodels-style table and
    :meth:`to_arviz` an ``xarray.DataTree`` that ArviZ's ``summary(kind="stats")`` and
    ``plot_forest`` accept; :meth:`to_netcdf` and :meth:`from_netcdf` save and restore it.
    """

    params: dict[str, np.ndarray]
    cov: np.ndarray | None
    estimator: str
    nobs: int | None = None
    loglik: float | None = None
    converged: bool = True
    objective: float | None = None
    objective_name: str = "objective"
    cov_type: str = "none"
    message: str = ""
    num_iter: int | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    dims: dict[str, tuple[str, ...]] | None = None
    coords: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.params, Mapping):
            raise TypeError("params must be a dict of name -> array")
        self.params = {k: np.asarray(v, dtype=np.float64) for k, v in self.params.items()}
        self._layout = param_layout(self.params)
        k = self._layout.size
        if self.cov is not None:
            cov = np.asarray(self.cov, dtype=np.float64)
            if cov.shape != (k, k):
                raise ValueError(
                    f"cov has shape {cov.shape}, expected ({k}, {k}) for parameters "
                    f"{list(self._layout.flat_names)}"
                )
            _check_cov(cov, self._layout.flat_names)
            self.cov = cov
        self.converged = bool(self.converged)
        if self.dims is not None:
            self.dims = {k: tuple(v) for k, v in self.dims.items()}
            unknown = sorted(set(self.dims) - set(self.params))
            if unknown:
                raise ValueError(
                    f"dims names {unknown}, which are not in params {list(self.params)}"
                )
        # Validates dims against the shapes and coords against the dimension lengths.
        from ._dims import param_coords, param_dims

        param_coords(self, param_dims(self), self.coords)

    # -- attribute access to estimator-specific fields -------------------------------------
    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: expose ``extra`` entries as attributes.
        extra = self.__dict__.get("extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.__dict__.get("extra", {})))

    # -- flat views ------------------------------------------------------------------------
    @property
    def layout(self) -> ParamLayout:
        """Layout of :attr:`params` as a flat vector."""
        return self._layout

    @property
    def param_names(self) -> list[str]:
        """Flat parameter names such as ``"beta[0]"``, in :attr:`cov` order."""
        return list(self._layout.flat_names)

    @property
    def flat_params(self) -> np.ndarray:
        """The estimates as one flat vector, in :attr:`param_names` order."""
        return self._layout.ravel_numpy(self.params)

    @property
    def std_errors(self) -> dict[str, np.ndarray]:
        """Standard errors by site name, shaped like :attr:`params` (NaN when unavailable)."""
        return self._layout.unravel_numpy(self.flat_std_errors)

    @property
    def flat_std_errors(self) -> np.ndarray:
        """Standard errors as a flat vector, in :attr:`param_names` order."""
        if self.cov is None:
            return np.full(self._layout.size, np.nan)
        with np.errstate(invalid="ignore"):
            return np.sqrt(np.diag(self.cov))

    def conf_int(self, alpha: float = 0.05, *, level: float | None = None) -> pd.DataFrame:
        """Wald confidence intervals, one row per flat parameter (as in statsmodels).

        Parameters
        ----------
        alpha : float
            Significance level: the interval covers ``1 - alpha`` (statsmodels' argument).
        level : float, optional
            The coverage ``1 - alpha`` instead (the package's earlier spelling).

        Returns
        -------
        pandas.DataFrame
            Lower and upper bounds (columns such as ``"2.5%"`` and ``"97.5%"``), indexed by
            :attr:`param_names`.

        Notes
        -----
        ``conf_int(0.95)``, the earlier positional coverage, still means a 95% interval for
        one release (with a ``DeprecationWarning``): a positional value above 0.5 is read as
        ``level``.
        """
        if level is None:
            if alpha > 0.5:
                warnings.warn(
                    "conf_int(level) with the coverage as first argument is deprecated: pass "
                    f"conf_int(alpha={1.0 - alpha:.6g}) (statsmodels' convention) or "
                    f"level={alpha:.6g}",
                    DeprecationWarning,
                    stacklevel=2,
                )
                level = alpha
            else:
                level = 1.0 - alpha
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must lie in (0, 1), got {level}")
        z = ndtri(0.5 + level / 2.0)
        est, se = self.flat_params, self.flat_std_errors
        lo_name, hi_name = _interval_names(level)
        return pd.DataFrame(
            {lo_name: est - z * se, hi_name: est + z * se}, index=pd.Index(self.param_names)
        )

    # -- statsmodels names -----------------------------------------------------------------
    @property
    def bse(self) -> pd.Series:
        """Standard errors by flat parameter name (statsmodels' ``bse``)."""
        return pd.Series(self.flat_std_errors, index=pd.Index(self.param_names))

    def cov_params(self) -> pd.DataFrame:
        """Covariance of the estimates, labelled by :attr:`param_names` (NaN if unavailable)."""
        cov = self.cov if self.cov is not None else np.full((self._layout.size,) * 2, np.nan)
        names = pd.Index(self.param_names)
        return pd.DataFrame(cov, index=names, columns=names)

    @property
    def tvalues(self) -> pd.Series:
        """Wald statistics ``estimate / std. error`` (z statistics; statsmodels' ``tvalues``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            z = self.flat_params / self.flat_std_errors
        return pd.Series(z, index=pd.Index(self.param_names))

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of :attr:`tvalues` under the standard normal."""
        return pd.Series(
            2.0 * ndtr(-np.abs(self.tvalues.to_numpy())), index=pd.Index(self.param_names)
        )

    @property
    def llf(self) -> float:
        """Maximised log-likelihood (:attr:`loglik`); NaN when the estimator has none."""
        return float("nan") if self.loglik is None else float(self.loglik)

    @property
    def num_params(self) -> int:
        """Number of estimated parameters ``k`` (flat), as counted by :attr:`aic`."""
        return int(self._layout.size)

    @property
    def aic(self) -> float:
        """Akaike information criterion ``-2 llf + 2 k`` (``k`` = every flat parameter)."""
        return -2.0 * self.llf + 2.0 * self.num_params

    @property
    def bic(self) -> float:
        """Bayesian information criterion ``-2 llf + k log(nobs)`` (NaN without ``nobs``)."""
        if self.nobs is None:
            return float("nan")
        return -2.0 * self.llf + self.num_params * float(np.log(self.nobs))

    # -- reports ---------------------------------------------------------------------------
    def summary(self, level: float = 0.95) -> EstimationSummary:
        """Coefficient table: estimate, std. error, z, p-value and a Wald interval.

        Returns
        -------
        EstimationSummary
            A :class:`pandas.DataFrame` (one row per flat parameter) whose printed form adds a
            statsmodels-style header with the estimator, sample size, log-likelihood,
            convergence and covariance type.
        """
        est, se = self.flat_params, self.flat_std_errors
        with np.errstate(divide="ignore", invalid="ignore"):
            z = est / se
        p = 2.0 * ndtr(-np.abs(z))
        table = pd.DataFrame(
            {"estimate": est, "std. error": se, "z": z, "p-value": p},
            index=pd.Index(self.param_names, name="parameter"),
        )
        table = pd.concat([table, self.conf_int(level=level)], axis=1)
        return EstimationSummary(table, header=self._header())

    def _header(self) -> list[tuple[str, str]]:
        rows = [("Estimator", self.estimator)]
        if self.nobs is not None:
            rows.append(("No. observations", str(self.nobs)))
        if self.loglik is not None:
            rows.append(("Log-likelihood", f"{self.loglik:.6g}"))
        if self.objective is not None:
            rows.append((self.objective_name.capitalize(), f"{self.objective:.6g}"))
        rows.append(("Converged", "yes" if self.converged else "NO"))
        if self.num_iter is not None:
            rows.append(("Iterations", str(self.num_iter)))
        rows.append(("Covariance", self.cov_type))
        if self.message and not self.converged:
            rows.append(("Message", self.message))
        return rows

    def __repr__(self) -> str:
        return repr(self.summary())

    def to_arviz(
        self,
        rng_key: Any = None,
        *,
        num_chains: int = 1,
        num_draws: int = 2000,
        dims: Mapping[str, Any] | None = None,
        coords: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ):
        """Convert to an ``xarray.DataTree`` for ArviZ.

        The ``posterior`` group holds ``num_chains × num_draws`` draws from the asymptotic
        normal distribution N(estimate, cov), so ``arviz.plot_forest`` and
        ``arviz.summary(..., kind="stats")`` work; they are not MCMC draws and ESS and R-hat
        do not apply (:func:`numpyro_semipar.reporting.summary` gives the exact Wald table).
        The ``point_estimate`` and ``vcov`` groups hold the estimates and the covariance, with
        the estimator's metadata in their ``attrs``; estimators add their own groups
        (``panel``, ``mixing``).

        Parameters
        ----------
        rng_key : jax.random key, optional
            Key for the draws, as everywhere in NumPyro. Without one, a fresh seed is taken
            from the operating system (each call gives new draws, like a new MCMC run); it is
            recorded in ``tree.posterior.attrs["draws_seed"]``. Pass a key for reproducible
            trees.
        num_chains, num_draws : int
            Shape of the draws. To put this result next to a posterior in one
            ``arviz.plot_forest``, use the posterior's (or
            :func:`numpyro_semipar.reporting.plot_forest_compare`, which does it).
        dims : dict of str to list of str, optional
            Dimension names by parameter, as in ``arviz.from_numpyro``; default: the
            estimator's (:attr:`dims`, e.g. ``("group", "regressor")``), else ArviZ's
            ``beta_dim_0``, which is what ``arviz.from_numpyro`` gives the same NumPyro site.
        coords : dict of str to sequence, optional
            Labels along named dimensions; default: the estimator's (:attr:`coords`).
        seed : int, optional
            Deprecated: pass ``rng_key=jax.random.key(seed)``.

        Returns
        -------
        xarray.DataTree
        """
        from ._arviz import result_to_datatree

        if isinstance(rng_key, int | np.integer) and not isinstance(rng_key, bool):
            # The earlier signature was to_arviz(num_draws, seed).
            warnings.warn(
                "to_arviz(num_draws) with the number of draws as first argument is deprecated: "
                f"pass to_arviz(num_draws={int(rng_key)}) (the first argument is now rng_key)",
                DeprecationWarning,
                stacklevel=2,
            )
            num_draws, rng_key = int(rng_key), None
        if seed is not None:
            if rng_key is not None:
                raise TypeError("pass rng_key or the deprecated seed, not both")
            warnings.warn(
                f"to_arviz(seed=...) is deprecated: pass rng_key=jax.random.key({seed})",
                DeprecationWarning,
                stacklevel=2,
            )
            import jax

            rng_key = jax.random.key(seed)
        return result_to_datatree(
            self, rng_key, num_chains=num_chains, num_draws=num_draws, dims=dims, coords=coords
        )

    def to_netcdf(self, path) -> None:
        """Save the result to a netCDF file (needs ``h5netcdf``, the ``io`` extra).

        The file is an ``xarray.DataTree`` that ArviZ and xarray read directly
        (``xarray.open_datatree(path)``): ``point_estimate`` and ``vcov`` as in
        :meth:`to_arviz` (no draws), the estimator's own groups, and an ``extra`` group with
        the estimator-specific fields that are arrays, numbers, strings, lists of these,
        tables (``pandas.DataFrame``) or dicts of these. Fields of other kinds (a fitted model
        pytree, a plotting function) are not saved; their names are listed in the file's
        ``fields_not_saved`` attribute.

        Parameters
        ----------
        path : str or os.PathLike
            File to write.
        """
        from ._netcdf import result_to_netcdf

        result_to_netcdf(self, path)

    @classmethod
    def from_netcdf(cls, path) -> EstimationResult:
        """Read a result saved by :meth:`to_netcdf`.

        Parameters
        ----------
        path : str or os.PathLike
            File written by :meth:`to_netcdf`.

        Returns
        -------
        EstimationResult
            The same ``params`` (names, order, shapes), ``cov``, summary quantities, ``dims``,
            ``coords`` and every saved ``extra`` field.
        """
        from ._netcdf import result_from_netcdf

        return result_from_netcdf(cls, path)


def _check_cov(cov: np.ndarray, names) -> None:
    """Reject a covariance whose variances are negative or infinite (NaN marks unidentified).

    A negative variance comes from inverting an indefinite Hessian (a saddle point, not a
    maximum); reporting it as a NaN standard error and zero-variance ArviZ draws would hide that.
    """
    diag = np.diag(cov)
    finite_diag = diag[np.isfinite(diag)]
    # Rounding may leave a zero variance at -1e-20: only a clearly negative one is an error.
    tol = 1e-10 * (float(np.abs(finite_diag).max()) if finite_diag.size else 0.0)
    bad = np.flatnonzero((diag < -tol) | np.isinf(diag))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"cov[{i}, {i}] = {diag[i]:.6g} is not a valid variance (parameter {names[i]!r}): "
            "a covariance matrix has a finite, non-negative diagonal (use NaN for a parameter "
            "that is not identified). A negative variance means the Hessian is not negative "
            "definite at the estimate: check convergence."
        )
    finite = np.isfinite(cov)
    both = np.outer(np.isfinite(diag), np.isfinite(diag))
    if (both & ~finite).any():
        i, j = (int(v) for v in np.argwhere(both & ~finite)[0])
        raise ValueError(
            f"cov[{i}, {j}] = {cov[i, j]} is not finite although the variances of "
            f"{names[i]!r} and {names[j]!r} are"
        )


def _interval_names(level: float) -> tuple[str, str]:
    lo = 100.0 * (1.0 - level) / 2.0
    return f"{lo:g}%", f"{100.0 - lo:g}%"
