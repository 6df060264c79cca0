"""Simulated method of moments with common random numbers, done right.

See :class:`SMM`. The building blocks (draws, smoothing, weighting, covariance) live in
:mod:`numpyro_semipar.moments`.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .._params import param_layout
from .._warnings import ConvergenceWarning, IdentificationWarning
from .._x64 import float64
from ..moments._callback import CallbackSimulator
from ..moments._covariance import j_test, smm_covariance
from ..moments._diagnostics import check_jacobian
from ..moments._draws import num_simulations
from ..moments._errors import ERROR_KINDS, as_float, check_data_moments, moment_errors
from ..moments._evans import evans_std_errors as _evans_std_errors
from ..moments._weighting import (
    bootstrap_moment_covariance,
    diagonal_weight,
    influence_moment_covariance,
    optimal_weight,
    simulated_moment_covariance,
)
from ..reporting import EstimationResult
from ._smm_solvers import (
    check_inside,
    finite_difference_jacobian,
    make_bounds,
    minimise_jax,
    minimise_scipy,
    root_jax,
    root_scipy,
)

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
        scaled finite differences. JAX simulators always use autodiff (BFGS, or
        Levenberg–Marquardt/Newton when exactly identified).
    rtol, atol : float
        Solver tolerances.
    max_steps : int
        Solver iteration limit.

    Notes
    -----
    The Jacobian G = ∂g/∂θᵀ is computed by autodiff through the simulator with the draws held
    fixed (a pathwise derivative), never by finite differences for JAX simulators. Moments
    that are piecewise constant in θ (raw indicators) give an exactly zero Jacobian; the
    estimator raises :class:`~numpyro_semipar.moments.FlatCriterionError` instead of returning
    the starting point. Covariances include the simulation factor 1 + N/(S N_s)
    (:mod:`numpyro_semipar.moments._covariance`).

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
            self.draws = jax.tree.map(lambda d: jnp.asarray(d, dtype=_dtype_of(d)), draws)
        self.error = error
        self.moment_names = list(moment_names) if moment_names is not None else None
        self.optimizer = optimizer
        self.callback = isinstance(simulate, CallbackSimulator)
        self.rtol, self.atol, self.max_steps = rtol, atol, int(max_steps)
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
            new.draws = jax.tree.map(lambda d: jnp.asarray(d, dtype=_dtype_of(d)), draws)
        return new

    def _functions(self, layout) -> dict[str, Callable]:
        key = (layout.names, layout.shapes)
        if key in self._compiled:
            return self._compiled[key]
        simulate, moments, error = self.simulate, self.moments, self.error
        callback = self.callback

        def sim_moments(flat, draws):
            params = layout.unravel(flat)
            if callback:
                sims = simulate.simulate_all(params, draws)
                return jax.vmap(lambda x: as_float(moments(x)))(sims)
            return jax.vmap(lambda d: as_float(moments(simulate(params, d))))(draws)

        def errors(flat, draws, m_data):
            return moment_errors(jnp.mean(sim_moments(flat, draws), axis=0), m_data, error)

        def sim_errors(flat, draws, m_data):
            return moment_errors(sim_moments(flat, draws), m_data, error)

        def criterion(flat, draws, m_data, weight):
            g = errors(flat, draws, m_data)
            return g @ weight @ g

        # One compiled simulation for evaluation: the error map is affine in the moments, so
        # the error of the average equals the average error and the criterion follows. Fewer
        # jitted entry points means fewer (slow) compilations of the simulator.
        sim_errors_jit = jax.jit(sim_errors)

        def errors_eval(flat, draws, m_data):
            return jnp.mean(sim_errors_jit(flat, draws, m_data), axis=0)

        def criterion_eval(flat, draws, m_data, weight):
            g = errors_eval(flat, draws, m_data)
            return g @ jnp.asarray(weight) @ g

        fns = {"errors": errors_eval, "sim_errors": sim_errors_jit, "criterion": criterion_eval}
        if not callback:
            fns["jacobian"] = jax.jit(jax.jacfwd(errors))
            fns["minimise"] = jax.jit(self._make_minimise(errors, criterion))
            fns["root"] = jax.jit(self._make_root(errors))
        self._compiled[key] = fns
        return fns

    def _make_minimise(self, errors, criterion):
        rtol, atol, max_steps = self.rtol, self.atol, self.max_steps

        def run(z0, draws, m_data, weight, lower, upper):
            bounds = _JaxBounds(lower, upper)

            scale = jnp.maximum(
                jnp.abs(criterion(bounds.to_constrained(z0), draws, m_data, weight)), 1e-300
            )

            def objective(z, args):
                # Normalised by the starting value so the first quasi-Newton step (identity
                # Hessian) is of sensible size whatever the scale of W; a non-finite value is
                # mapped to +inf so the line search rejects it instead of propagating NaN.
                value = criterion(bounds.to_constrained(z), *args) / scale
                return jnp.where(jnp.isfinite(value), value, jnp.inf)

            z, ok, steps = minimise_jax(
                objective, z0, (draws, m_data, weight), rtol=rtol, atol=atol, max_steps=max_steps
            )
            return bounds.to_constrained(z), ok, steps

        return run

    def _make_root(self, errors):
        rtol, atol, max_steps = self.rtol, self.atol, self.max_steps

        def run(z0, draws, m_data, lower, upper):
            bounds = _JaxBounds(lower, upper)

            def fn(z, args):
                return errors(bounds.to_constrained(z), *args)

            z, ok, steps = root_jax(
                fn, z0, (draws, m_data), rtol=rtol, atol=atol, max_steps=max_steps
            )
            return bounds.to_constrained(z), ok, steps

        return run

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
        with float64():
            data = jax.tree.map(lambda x: jnp.asarray(x, dtype=_dtype_of(x)), data)
            m = np.asarray(as_float(self.moments(data)), dtype=np.float64)
        if m.ndim != 1:
            raise ValueError(f"moments(data) must return a vector (R,), got shape {m.shape}")
        check_data_moments(m, self.error, self._names(m.size))
        return m

    def _resolve_data(self, data):
        if data is not None:
            return self.data_moments(data), _num_obs(data)
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
            raise ValueError("weight has non-finite entries")
        return (w + w.T) / 2.0

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
    def fit(
        self,
        data: Any,
        init_params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        weighting: str | Any = "identity",
        bounds=None,
        omega: str | Callable = "simulated",
        covariance: str | None = None,
        rng_key: jax.Array | None = None,
        num_bootstrap: int = 500,
        max_iterations: int = 20,
        covariance_draws: Any = None,
        progress_bar: bool = True,
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
        covariance : {"sandwich", "optimal"}, optional
            Covariance form; by default ``"optimal"`` for estimated optimal weights with a
            centered Ω̂ and ``"sandwich"`` otherwise. Both include 1 + N/(S N_s).
        rng_key : jax.Array, optional
            Key for ``omega="bootstrap"``.
        num_bootstrap : int
            Bootstrap resamples.
        max_iterations : int
            Iteration limit for ``weighting="iterated"``.
        covariance_draws : array or pytree, optional
            Separate, larger set of draws (leading axis S_c) used only to estimate the moment
            covariance Σ (for the optimal weight, the covariance and the J-test). With few
            simulations (S = 10, say) the estimate from the S estimation draws is noisy (its
            variance has S - 1 degrees of freedom) and Wald intervals under-cover; the
            simulation factor still uses the S estimation draws.
        progress_bar : bool
            Show a tqdm bar over multiple starts (off when the ``CI`` variable is set).

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
        for i, s in enumerate(starts[1:], 1):
            if param_layout(s).flat_names != layout.flat_names:
                raise ValueError(f"init_params[{i}] has different parameters than init_params[0]")
        if isinstance(weighting, str) and weighting not in _WEIGHTINGS:
            raise ValueError(
                f"weighting must be one of {_WEIGHTINGS} or an array, got {weighting!r}"
            )
        if isinstance(omega, str) and omega not in _OMEGAS:
            raise ValueError(f"omega must be one of {_OMEGAS} or a callable, got {omega!r}")
        if covariance not in (None, "sandwich", "optimal"):
            raise ValueError(f"covariance must be 'sandwich' or 'optimal', got {covariance!r}")
        if omega == "bootstrap" and rng_key is None:
            raise ValueError("omega='bootstrap' needs rng_key")
        with float64():
            return self._fit(
                data, starts, layout, weighting, bounds, omega, covariance, rng_key,
                num_bootstrap, max_iterations, covariance_draws, progress_bar,
            )  # fmt: skip

    def _fit(self, data, starts, layout, weighting, bounds, omega, covariance, rng_key,
             num_bootstrap, max_iterations, covariance_draws, progress_bar):  # fmt: skip
        data = jax.tree.map(lambda x: jnp.asarray(x, dtype=_dtype_of(x)), data)
        cov_draws = self.draws
        if covariance_draws is not None:
            num_simulations(covariance_draws)
            cov_draws = jax.tree.map(lambda d: jnp.asarray(d, dtype=_dtype_of(d)), covariance_draws)
        m_data = self.data_moments(data)
        num_moments, k = m_data.size, layout.size
        names = self._names(num_moments)
        n_obs = _num_obs(data)
        n_sim = self._num_sim_obs(layout, starts[0])
        self._data_moments, self._num_obs = m_data, n_obs
        factor = 1.0 + (n_obs / n_sim) / self.num_sims
        if num_moments < k:
            raise ValueError(
                f"{num_moments} moments cannot identify {k} parameters {list(layout.flat_names)}"
            )
        box = make_bounds(bounds, layout)
        flats = [np.asarray(layout.ravel(s), dtype=np.float64) for s in starts]
        for flat in flats:
            check_inside(flat, box, layout.flat_names)
        check_jacobian(self._jacobian(layout, flats[0], m_data), layout.flat_names, names)

        exact = num_moments == k
        data_omega = None
        if callable(omega):
            data_omega = influence_moment_covariance(omega(data))
        elif omega == "bootstrap":
            data_omega = bootstrap_moment_covariance(rng_key, data, self.moments, num_bootstrap)
        if data_omega is not None and self.error == "percent":
            data_omega = data_omega / np.outer(m_data, m_data)

        def omega_at(flat):
            if data_omega is not None:
                return data_omega
            draws = self.draws if omega == "uncentered" else cov_draws
            e = self._functions(layout)["sim_errors"](jnp.asarray(flat), draws, m_data)
            cov = simulated_moment_covariance(e, centered=omega != "uncentered")
            # One simulated data set has N_s observations; the data moments have N.
            return cov * (n_sim / n_obs) if omega != "uncentered" else cov

        stages = []
        if isinstance(weighting, str):
            estimated = weighting != "identity"
            weight = np.eye(num_moments)
            if estimated and data_omega is not None:
                weight = self._estimated_weight(weighting, data_omega, names)
        else:
            estimated = False
            weight = self._weight(weighting, num_moments)
        show = progress_bar and not os.environ.get("CI")
        best = self._stage(layout, flats, m_data, weight, box, exact, show)
        stages.append(best)
        if estimated and not exact:
            needs_first = data_omega is None
            rounds = 1 if weighting != "iterated" else max_iterations
            for _ in range(rounds):
                if needs_first:
                    weight = self._estimated_weight(weighting, omega_at(best["x"]), names)
                previous = best["x"]
                more = [f for f in flats if len(flats) > 1]
                best = self._stage(layout, [previous, *more], m_data, weight, box, exact, show)
                stages.append(best)
                change = np.max(np.abs(best["x"] - previous) / (1.0 + np.abs(previous)))
                if not needs_first or change < 1e-8:
                    break
        return self._result(
            layout, best, stages, m_data, weight, names, n_obs, n_sim, factor, exact, cov_draws,
            data_omega, covariance, weighting, estimated and omega != "uncentered",
        )  # fmt: skip

    def _estimated_weight(self, weighting, omega_hat, names):
        if weighting == "diagonal":
            return diagonal_weight(omega_hat, names)
        return optimal_weight(omega_hat, names)

    def _stage(self, layout, flats, m_data, weight, box, exact, show):
        runs = []
        iterator = flats
        if show and len(flats) > 1:
            from tqdm.auto import tqdm

            iterator = tqdm(flats, desc="SMM starts")
        for flat in iterator:
            out = self._solve(layout, flat, m_data, weight, box, exact)
            out["criterion"] = float(
                self._functions(layout)["criterion"](
                    jnp.asarray(out["x"]), self.draws, m_data, weight
                )
            )
            out["start"] = flat
            runs.append(out)
        valid = [r for r in runs if np.isfinite(r["criterion"])]
        if not valid:
            raise ValueError("the criterion is not finite at any solution; check the simulator")
        best = dict(min(valid, key=lambda r: r["criterion"]))
        best["runs"] = runs
        best["weight"] = weight
        return best

    def _solve(self, layout, flat, m_data, weight, box, exact) -> dict:
        fns = self._functions(layout)
        if self.callback:
            return self._solve_scipy(layout, flat, m_data, weight, box, exact)
        z0 = jnp.asarray(box.to_unconstrained(flat))
        lo, hi = jnp.asarray(box.lower), jnp.asarray(box.upper)
        if exact:
            x, ok, steps = fns["root"](z0, self.draws, m_data, lo, hi)
            g = np.asarray(fns["errors"](x, self.draws, m_data))
            scale = 1.0 if self.error == "percent" else 1.0 + np.abs(m_data)
            # A root is a root: judge by the moment equations, not by the solver's step test.
            ok = bool(np.all(np.abs(g) <= 1e-8 * scale))
            msg = (
                "root of the moment equations found"
                if ok
                else (f"no root found (max |g| = {np.max(np.abs(g)):.3g})")
            )
        else:
            x, ok, steps = fns["minimise"](z0, self.draws, m_data, jnp.asarray(weight), lo, hi)
            ok = bool(ok) and bool(np.all(np.isfinite(np.asarray(x))))
            msg = "BFGS converged" if ok else "BFGS did not converge (step limit or failure)"
        return {"x": np.asarray(x, dtype=np.float64), "converged": ok, "num_steps": int(steps),
                "message": msg}  # fmt: skip

    def _solve_scipy(self, layout, flat, m_data, weight, box, exact) -> dict:
        fns = self._functions(layout)

        def errors(x):
            return np.asarray(fns["errors"](jnp.asarray(x), self.draws, m_data))

        def jac(x):
            return finite_difference_jacobian(errors, x, layout.flat_names)

        if exact:
            out = root_scipy(errors, jac, flat, box, tol=1e-12)
        else:

            def crit(x):
                g = errors(x)
                return float(g @ weight @ g)

            def grad(x):
                return 2.0 * jac(x).T @ weight @ errors(x)

            out = minimise_scipy(
                crit, grad, flat, box, method=self.optimizer, tol=1e-10, maxiter=self.max_steps
            )
        return {"x": out.x, "converged": out.success, "num_steps": out.num_steps,
                "message": out.message}  # fmt: skip

    def _num_sim_obs(self, layout, params) -> int:
        if self.callback:
            return int(self.simulate.result_shape[0]) if self.simulate.result_shape else 1
        one = jax.tree.map(lambda d: d[0], self.draws)
        shape = jax.eval_shape(
            lambda p: self.simulate(layout.unravel(p), one), layout.ravel(params)
        )
        leaves = jax.tree.leaves(shape)
        return int(leaves[0].shape[0]) if leaves and leaves[0].shape else 1

    def _result(self, layout, best, stages, m_data, weight, names, n_obs, n_sim, factor, exact,
                cov_draws, data_omega, covariance, weighting, optimal_w):  # fmt: skip
        x = best["x"]
        fns = self._functions(layout)
        g = np.asarray(fns["errors"](jnp.asarray(x), self.draws, m_data))
        jac = self._jacobian(layout, x, m_data)
        if data_omega is not None:
            sigma = data_omega
        else:
            e = fns["sim_errors"](jnp.asarray(x), cov_draws, m_data)
            sigma = simulated_moment_covariance(e, centered=True) * (n_sim / n_obs)
        kind = covariance or ("optimal" if optimal_w else "sandwich")
        cov = smm_covariance(jac, weight, sigma, factor, optimal=kind == "optimal")
        if not np.all(np.isfinite(cov)) or np.linalg.matrix_rank(jac) < layout.size:
            warnings.warn(
                "the moment Jacobian is rank deficient at the estimate: the moments do not "
                "identify the parameters there; covariance set to NaN",
                IdentificationWarning,
                stacklevel=4,
            )
            cov = np.full((layout.size, layout.size), np.nan)
        test = j_test(g, sigma, factor, layout.size) if optimal_w and not exact else None
        if not best["converged"]:
            warnings.warn(f"SMM did not converge: {best['message']}", ConvergenceWarning, 4)
        starts = pd.DataFrame(
            [
                {
                    **dict(zip(layout.flat_names, r["x"], strict=True)),
                    "criterion": r["criterion"],
                    "converged": r["converged"],
                }  # fmt: skip
                for r in best["runs"]
            ]
        )
        model_m = m_data + g if self.error == "difference" else m_data * (1.0 + g)
        return EstimationResult(
            params=layout.unravel_numpy(x),
            cov=cov,
            estimator=self.estimator_name,
            nobs=n_obs,
            converged=best["converged"],
            objective=best["criterion"],
            objective_name="criterion",
            cov_type=f"{kind} (1+N/(S N_s) = {factor:.4g})",
            message=best["message"],
            num_iter=best["num_steps"],
            extra={
                "weight": weight,
                "jacobian": jac,
                "moment_cov": sigma,
                "data_moments": m_data,
                "model_moments": model_m,
                "moment_errors": g,
                "moment_names": names,
                "j_test": test,
                "num_sims": self.num_sims,
                "simulation_factor": factor,
                "exactly_identified": exact,
                "weighting": weighting if isinstance(weighting, str) else "user",
                "stages": [{"params": s["x"], "criterion": s["criterion"]} for s in stages],
                "starts": starts,
            },
        )


class _JaxBounds:
    """Bounds whose arrays are traced (so jitted solvers are reused across bounds)."""

    def __init__(self, lower, upper):
        self.lower, self.upper = lower, upper

    def to_constrained(self, z):
        lo, hi = self.lower, self.upper
        flo, fhi = jnp.isfinite(lo), jnp.isfinite(hi)
        lo_s, hi_s = jnp.where(flo, lo, 0.0), jnp.where(fhi, hi, 1.0)
        both = lo_s + (hi_s - lo_s) * jax.nn.sigmoid(z)
        lower_only = lo_s + jax.nn.softplus(z)
        upper_only = hi_s - jax.nn.softplus(-z)
        return jnp.where(flo & fhi, both, jnp.where(flo, lower_only, jnp.where(fhi, upper_only, z)))


def _dtype_of(x):
    kind = np.asarray(x).dtype.kind if not hasattr(x, "dtype") else np.dtype(x.dtype).kind
    if kind in "biu":
        return None
    return jnp.float64


def _num_obs(data) -> int:
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("data is empty")
    shape = np.shape(leaves[0])
    return int(shape[0]) if shape else 1
