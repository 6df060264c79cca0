"""Simulated method of moments with common random numbers, done right.

See :class:`SMM`. The building blocks (draws, smoothing, weighting, covariance) live in
:mod:`numpyro_semipar.moments`.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import find_nan
from .._deprecation import renamed_arguments
from .._params import param_layout
from .._x64 import float64
from ..moments._callback import CallbackSimulator
from ..moments._draws import num_simulations
from ..moments._errors import ERROR_KINDS, as_float, check_data_moments
from ..moments._evans import evans_std_errors as _evans_std_errors
from ..moments._weighting import simulated_moment_covariance
from ..reporting import EstimationResult
from ._smm_fit import fit_smm
from ._smm_functions import build_functions, float64_tree, num_obs
from ._smm_solvers import finite_difference_jacobian

__all__ = ["SMM"]

_WEIGHTINGS = ("identity", "diagonal", "two-step", "optimal", "iterated")
_OMEGAS = ("simulated", "uncentered", "bootstrap")


class SMM:
    """Simulated method of moments estimator.

    Parameters
    ----------
    simulate : callable or CallbackSimulator
        ``simulate(params, draws_s) -> one simulated data set``, a JAX function of a parameter
        dict and one slice of the draws. NumPy/numba simulators are accepted wrapped in
        :class:`~numpyro_semipar.moments.CallbackSimulator`.
    moments : callable
        ``moments(data_set) -> (R,)`` JAX moment function, applied to the data and to every
        simulated data set; the model moments are the average over the S simulations.
    draws : array or pytree of arrays
        Common random numbers with a leading axis of length S, drawn once
        (:func:`~numpyro_semipar.moments.common_random_numbers`, or user-supplied).
    error : {"difference", "percent"}
        Error vector ``m̄_S(θ) - m̂`` or the percent deviation ``(m̄_S(θ) - m̂) / m̂``.
    moment_names : list of str, optional
        Names of the R moments (used in messages and reports).
    optimizer : {"nelder-mead", "l-bfgs-b"}
        Only for callback simulators: derivative-free Nelder–Mead (default) or L-BFGS-B with
        scaled finite differences. JAX simulators always use autodiff: BFGS on the criterion,
        or Levenberg–Marquardt to a root of g(θ) = 0 when exactly identified.
    rtol, atol : float
        Solver tolerances.
    max_steps : int
        Solver iteration limit.
    progress_bar : bool
        Show a tqdm bar over multiple starts in :meth:`fit` (off when the ``CI`` environment
        variable is set), as NumPyro's ``MCMC(progress_bar=...)``.

    Notes
    -----
    The Jacobian G = ∂g/∂θᵀ is computed by autodiff through the simulator with the draws held
    fixed (a pathwise derivative), never by finite differences for JAX simulators. Moments
    that are piecewise constant in θ (raw indicators) give an exactly zero Jacobian; the
    estimator raises :class:`~numpyro_semipar.moments.FlatCriterionError` instead of returning
    the starting point. Covariances include the simulation factor 1 + N/(S N_s)
    (:mod:`numpyro_semipar.moments._covariance`).

    The simulated moments are a chunked reduction over the S draws
    (:func:`~numpyro_semipar.moments.simulated_moments`), so no (S, N, R) array of moment
    contributions is materialised; a fit compiles one solver and one ``evaluate`` (errors,
    Jacobian and per-simulation errors in one forward-mode pass), reused by every start, stage
    and later fit with data, draws and weights of the same shapes.

    Works with x64 disabled (NumPyro's default float32): :meth:`fit` switches float64 on
    around its own work and returns float64 results, without changing JAX's global setting.
    Calling it inside a ``jit``/``vmap`` trace started in float32 is not supported; see
    :class:`~numpyro_semipar.Float64RequiredError`.

    Examples
    --------
    >>> def simulate(params, u):
    ...     return params["mu"] + params["sigma"] * jax.scipy.stats.norm.ppf(u)
    >>> def moments(x):
    ...     return jnp.stack([x.mean(), x.var()])
    >>> draws = common_random_numbers(jax.random.key(0), 100, (500,))  # doctest: +SKIP
    >>> SMM(simulate, moments, draws).fit(data, {"mu": 0.0, "sigma": 1.0})  # doctest: +SKIP
    """

    estimator_name = "SMM"

    def __init__(
        self,
        simulate: Callable,
        moments: Callable,
        draws: Any,
        *,
        error: str = "difference",
        moment_names: Sequence[str] | None = None,
        optimizer: str = "nelder-mead",
        rtol: float = 1e-10,
        atol: float = 1e-12,
        max_steps: int = 2000,
        progress_bar: bool = True,
    ) -> None:
        if not callable(simulate):
            raise TypeError(f"simulate must be callable, got {type(simulate).__name__}")
        if not callable(moments):
            raise TypeError(f"moments must be callable, got {type(moments).__name__}")
        if error not in ERROR_KINDS:
            raise ValueError(f"error must be one of {ERROR_KINDS}, got {error!r}")
        if optimizer not in ("nelder-mead", "l-bfgs-b"):
            raise ValueError(f"optimizer must be 'nelder-mead' or 'l-bfgs-b', got {optimizer!r}")
        self.simulate = simulate
        self.moments = moments
        self.num_sims = num_simulations(draws)
        with float64():
            self.draws = float64_tree(draws)
        self.error = error
        self.moment_names = list(moment_names) if moment_names is not None else None
        self.optimizer = optimizer
        self.callback = isinstance(simulate, CallbackSimulator)
        self.rtol, self.atol, self.max_steps = rtol, atol, int(max_steps)
        self.progress_bar = bool(progress_bar)
        self._compiled: dict[tuple, dict[str, Callable]] = {}
        self._data_moments = None
        self._num_obs = None

    # -- building blocks -----------------------------------------------------------------
    def with_draws(self, draws) -> SMM:
        """Return a copy using other draws (same S) that shares the compiled functions."""
        new = copy.copy(self)
        if num_simulations(draws) != self.num_sims:
            raise ValueError(f"draws must keep S = {self.num_sims} simulations")
        with float64():
            new.draws = float64_tree(draws)
        return new

    def _functions(self, layout) -> dict[str, Callable]:
        key = (layout.names, layout.shapes)
        if key not in self._compiled:
            self._compiled[key] = build_functions(
                self.simulate,
                self.moments,
                self.error,
                layout,
                callback=self.callback,
                solver_options={"rtol": self.rtol, "atol": self.atol, "max_steps": self.max_steps},
            )
        return self._compiled[key]

    def _names(self, num_moments: int) -> list[str]:
        if self.moment_names is None:
            return [f"m[{r}]" for r in range(num_moments)]
        if len(self.moment_names) != num_moments:
            raise ValueError(
                f"moment_names has {len(self.moment_names)} names but moments() returns "
                f"{num_moments} values"
            )
        return self.moment_names

    def data_moments(self, data) -> np.ndarray:
        """Moments of the observed data (float64, validated)."""
        if num_obs(data) == 0:
            raise ValueError(
                f"data has no observations (leading axis of length 0, shapes "
                f"{[np.shape(x) for x in jax.tree.leaves(data)]})"
            )
        with float64():
            data = float64_tree(data)
            m = np.asarray(as_float(self.moments(data)), dtype=np.float64)
        if m.ndim != 1:
            raise ValueError(f"moments(data) must return a vector (R,), got shape {m.shape}")
        if not np.all(np.isfinite(m)):
            # Name the NaN in the data, if there is one, rather than the moment it spoiled
            # (moments that skip NaN, e.g. nanmean, never reach this line).
            found = find_nan(data)
            if found is not None:
                r = int(np.flatnonzero(~np.isfinite(m))[0])
                path, index = found
                raise ValueError(
                    f"data{path}[{', '.join(map(str, index))}] is NaN, and data moment "
                    f"{self._names(m.size)[r]} is {m[r]}: drop or impute missing values"
                )
        check_data_moments(m, self.error, self._names(m.size))
        return m

    def _resolve_data(self, data):
        if data is not None:
            return self.data_moments(data), num_obs(data)
        if self._data_moments is None:
            raise ValueError("pass data= (or call fit(data, ...) first)")
        return self._data_moments, self._num_obs

    def _weight(self, weight, num_moments: int) -> np.ndarray:
        if weight is None or (isinstance(weight, str) and weight == "identity"):
            return np.eye(num_moments)
        w = np.asarray(weight, dtype=np.float64)
        if w.shape != (num_moments, num_moments):
            raise ValueError(
                f"weight must have shape ({num_moments}, {num_moments}), got {w.shape}"
            )
        if not np.all(np.isfinite(w)):
            i, j = (int(v) for v in np.argwhere(~np.isfinite(w))[0])
            raise ValueError(f"weight[{i}, {j}] = {w[i, j]} is not finite")
        w = (w + w.T) / 2.0
        # gᵀWg with an indefinite W is unbounded below: the minimiser runs off to infinity.
        evals = np.linalg.eigvalsh(w)
        if evals[0] < -1e-10 * max(abs(evals[-1]), 1e-300) or evals[-1] <= 0:
            raise ValueError(
                f"weight must be positive semi-definite and non-zero; its eigenvalues range "
                f"from {evals[0]:.6g} to {evals[-1]:.6g}"
            )
        return w

    def criterion(self, params: Mapping[str, Any], weight=None, *, data=None) -> float:
        """SMM criterion ``gᵀWg`` at ``params``.

        Parameters
        ----------
        params : dict
            Parameter values.
        weight : array of shape (R, R) or "identity", optional
            Weighting matrix (identity by default).
        data : array or pytree, optional
            Observed data; defaults to the data of the last :meth:`fit`.

        Returns
        -------
        float
        """
        layout = param_layout(params)
        with float64():
            m_data, _ = self._resolve_data(data)
            fns = self._functions(layout)
            w = self._weight(weight, m_data.size)
            return float(fns["criterion"](layout.ravel(params), self.draws, m_data, w))

    def moment_errors(self, params: Mapping[str, Any], *, data=None) -> np.ndarray:
        """Error vector g(θ) between the average simulated moments and the data moments."""
        layout = param_layout(params)
        with float64():
            m_data, _ = self._resolve_data(data)
            return np.asarray(
                self._functions(layout)["errors"](layout.ravel(params), self.draws, m_data)
            )

    def moment_covariance(self, params: Mapping[str, Any], *, centered=True, data=None):
        """Covariance of the moment errors of one simulated data set at ``params``.

        Parameters
        ----------
        params : dict
            Parameter values.
        centered : bool
            Centered covariance (the variance of one data set's moments) or Evans' uncentered
            ``(1/S) E Eᵀ`` (includes the squared mean error).
        data : optional
            Observed data; defaults to the data of the last :meth:`fit`.

        Returns
        -------
        array of shape (R, R)
        """
        layout = param_layout(params)
        with float64():
            m_data, _ = self._resolve_data(data)
            e = self._functions(layout)["sim_errors"](layout.ravel(params), self.draws, m_data)
        return simulated_moment_covariance(e, centered=centered)

    def jacobian(self, params: Mapping[str, Any], *, data=None) -> np.ndarray:
        """Jacobian G = ∂g/∂θᵀ (autodiff; scaled finite differences for callbacks)."""
        layout = param_layout(params)
        with float64():
            m_data, _ = self._resolve_data(data)
            return self._jacobian(layout, layout.ravel(params), m_data)

    def _jacobian(self, layout, flat, m_data) -> np.ndarray:
        fns = self._functions(layout)
        if not self.callback:
            return np.asarray(fns["jacobian"](jnp.asarray(flat), self.draws, m_data))
        return finite_difference_jacobian(
            lambda x: np.asarray(fns["errors"](x, self.draws, m_data)),
            np.asarray(flat),
            layout.flat_names,
        )

    def evans_std_errors(self, params: Mapping[str, Any], weight, *, data=None) -> dict:
        """Evans' textbook standard errors, for reproduction and comparison only.

        ``sqrt(diag((1/S) inv(dᵀWd)))`` with a central-difference Jacobian (step ``1e-4 θ``).
        This is the variance due to simulation noise alone: it understates the sampling
        uncertainty by about √(S + 1) and is not a variance at all for a non-optimal W. Use
        the ``cov`` of :meth:`fit` for inference.

        Parameters
        ----------
        params : dict
            Parameter values.
        weight : array of shape (R, R)
            Weighting matrix.
        data : optional
            Observed data; defaults to the data of the last :meth:`fit`.

        Returns
        -------
        dict
            Standard errors by parameter name.
        """
        layout = param_layout(params)
        with float64():
            m_data, _ = self._resolve_data(data)
            fns = self._functions(layout)
            w = self._weight(weight, m_data.size)
            se = _evans_std_errors(
                lambda x: np.asarray(fns["errors"](jnp.asarray(x), self.draws, m_data)),
                np.asarray(layout.ravel(params)),
                w,
                self.num_sims,
            )
        return layout.unravel_numpy(se)

    # -- estimation ----------------------------------------------------------------------
    @renamed_arguments(covariance="cov_type", max_iterations="max_weight_updates")
    def fit(
        self,
        data: Any,
        init_params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        weighting: str | Any = "identity",
        bounds=None,
        omega: str | Callable = "simulated",
        cov_type: str | None = None,
        rng_key: jax.Array | None = None,
        num_bootstrap: int = 500,
        max_weight_updates: int = 20,
        covariance_draws: Any = None,
        progress_bar: bool | None = None,
    ) -> EstimationResult:
        """Estimate θ by minimising ``g(θ)ᵀ W g(θ)``.

        Parameters
        ----------
        data : array or pytree of arrays
            Observed data (observations along the leading axis).
        init_params : dict or list of dict
            Starting values; a list gives a multi-start search (the best criterion wins at each
            weighting stage; every start is reported in ``result.starts``).
        weighting : {"identity", "diagonal", "two-step", "optimal", "iterated"} or array
            ``"identity"``: W = I. ``"two-step"`` (synonym ``"optimal"``): W = Ω̂⁻¹ with Ω̂ the
            moment covariance (see ``omega``) at the identity-weighted estimate.
            ``"iterated"``: repeat until θ̂ stops changing. ``"diagonal"``: the inverse
            diagonal of Ω̂. An array is used as W directly. Exactly identified problems (R = K)
            are solved as a root of the moment equations, whatever the weighting.
        bounds : dict or list of pairs, optional
            ``{name: (lower, upper)}`` (``None`` for no bound); the search stays strictly
            inside.
        omega : {"simulated", "uncentered", "bootstrap"} or callable
            Source of Ω̂: centered covariance of the S simulated data sets' moments at the
            first-step estimate (default), Evans' uncentered version, a bootstrap of the data
            (needs ``rng_key``), or a function ``data -> (N, R)`` of per-observation influence
            contributions of the data moments.
        cov_type : {"sandwich", "optimal"}, optional
            Covariance form; by default ``"optimal"`` for estimated optimal weights with a
            centered Ω̂ and ``"sandwich"`` otherwise. Both include 1 + N/(S N_s).
        rng_key : jax.Array, optional
            Key for ``omega="bootstrap"``.
        num_bootstrap : int
            Bootstrap resamples.
        max_weight_updates : int
            Most re-estimations of the weighting matrix for ``weighting="iterated"`` (each
            followed by a full minimisation; not a solver step limit, see ``max_steps``).
        covariance_draws : array or pytree, optional
            Separate, larger set of draws (leading axis S_c) used only to estimate the moment
            covariance Σ (for the optimal weight, the covariance and the J-test). With few
            simulations (S = 10, say) the estimate from the S estimation draws is noisy (its
            variance has S - 1 degrees of freedom) and Wald intervals under-cover; the
            simulation factor still uses the S estimation draws.
        progress_bar : bool, optional
            Deprecated: pass ``progress_bar`` to the constructor. When given, it overrides the
            constructor's setting for this fit, with a ``DeprecationWarning``.

        Returns
        -------
        EstimationResult
            With ``cov_type`` ``"sandwich (1+N/(S N_s))"`` or ``"optimal (1+N/(S N_s))"`` and
            ``extra`` fields ``weight``, ``jacobian``, ``moment_cov`` (Σ, data-set level),
            ``data_moments``, ``model_moments``, ``moment_errors``, ``moment_names``,
            ``j_test`` (over-identified with optimal weights, else None), ``num_sims``,
            ``simulation_factor``, ``exactly_identified``, ``stages`` and ``starts``.
        """
        starts = [init_params] if isinstance(init_params, Mapping) else list(init_params)
        if not starts:
            raise ValueError("init_params is empty")
        layout = param_layout(starts[0])
        if layout.size == 0:
            raise ValueError(
                f"init_params holds no parameter (got {starts[0]!r}): pass a dict of starting "
                "values by the names the simulator reads, e.g. {'mu': 0.0, 'sigma': 1.0}"
            )
        for i, s in enumerate(starts[1:], 1):
            if param_layout(s).flat_names != layout.flat_names:
                raise ValueError(f"init_params[{i}] has different parameters than init_params[0]")
        if isinstance(weighting, str) and weighting not in _WEIGHTINGS:
            raise ValueError(
                f"weighting must be one of {_WEIGHTINGS} or an array, got {weighting!r}"
            )
        if isinstance(omega, str) and omega not in _OMEGAS:
            raise ValueError(f"omega must be one of {_OMEGAS} or a callable, got {omega!r}")
        if cov_type not in (None, "sandwich", "optimal"):
            raise ValueError(f"cov_type must be 'sandwich' or 'optimal', got {cov_type!r}")
        if int(max_weight_updates) < 1:
            raise ValueError(f"max_weight_updates must be at least 1, got {max_weight_updates}")
        if progress_bar is None:
            progress_bar = self.progress_bar
        else:
            warnings.warn(
                f"{type(self).__name__}.fit(progress_bar=...) is deprecated and will be removed "
                f"in the next release: use {type(self).__name__}(..., progress_bar=...) instead",
                DeprecationWarning,
                stacklevel=3,
            )
        if omega == "bootstrap" and rng_key is None:
            raise ValueError("omega='bootstrap' needs rng_key")
        with float64():
            return fit_smm(
                self, data, starts, layout, weighting, bounds, omega, cov_type, rng_key,
                num_bootstrap, int(max_weight_updates), covariance_draws, progress_bar,
            )  # fmt: skip

    def _num_sim_obs(self, layout, params) -> int:
        if self.callback:
            return int(self.simulate.result_shape[0]) if self.simulate.result_shape else 1
        one = jax.tree.map(lambda d: d[0], self.draws)
        try:
            shape = jax.eval_shape(
                lambda p: self.simulate(layout.unravel(p), one), layout.ravel(params)
            )
        except KeyError as error:
            # The simulator read a parameter that init_params does not name.
            raise ValueError(
                f"simulate(params, draws) looked up {error} but init_params names only "
                f"{list(layout.names)}: give init_params every parameter the simulator reads"
            ) from error
        leaves = jax.tree.leaves(shape)
        return int(leaves[0].shape[0]) if leaves and leaves[0].shape else 1
