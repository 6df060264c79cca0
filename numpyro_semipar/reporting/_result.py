"""The result object every frequentist estimator in the package returns."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

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

    Notes
    -----
    statsmodels' names are available as well: :attr:`bse`, :meth:`cov_params`, :attr:`llf`,
    :attr:`tvalues`, :attr:`pvalues`, :meth:`conf_int` (``alpha=``), :attr:`aic`, :attr:`bic`
    and :attr:`nobs` (Wald statistics use the normal distribution, as statsmodels does for
    maximum-likelihood models). :meth:`summary` gives a statsmodels-style table and
    :meth:`to_arviz` an ``xarray.DataTree`` that ArviZ's ``summary(kind="stats")`` and
    ``plot_forest`` accept.
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
        z = stats.norm.ppf(0.5 + level / 2.0)
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
            2.0 * stats.norm.sf(np.abs(self.tvalues.to_numpy())), index=pd.Index(self.param_names)
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
        p = 2.0 * stats.norm.sf(np.abs(z))
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

    def to_arviz(self, num_draws: int = 2000, seed: int = 0):
        """Convert to an ``xarray.DataTree`` for ArviZ.

        The ``posterior`` group holds ``num_draws`` draws (one chain) from the asymptotic normal
        distribution N(estimate, cov), so ``arviz.summary(..., kind="stats")`` and
        ``arviz.plot_forest`` work; ESS and R-hat are meaningless for these draws. The
        ``point_estimate`` and ``vcov`` groups hold the estimates and the covariance, with the
        estimator's metadata in their ``attrs``.

        Parameters
        ----------
        num_draws : int
            Number of draws from the asymptotic distribution.
        seed : int
            Seed of the NumPy generator used for the draws.
        """
        from ._arviz import result_to_datatree

        return result_to_datatree(self, num_draws=num_draws, seed=seed)


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
