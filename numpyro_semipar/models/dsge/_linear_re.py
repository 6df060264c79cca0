r"""Any linear rational-expectations model: solve, filter, and the Dynare-style outputs.

The user writes the model in the canonical form of :func:`~numpyro_semipar.models.dsge.solve_re`,

.. math::

    A\,\mathbb{E}_t x_{t+1} + B x_t + C x_{t-1} + E u_t = 0, \qquad
    u_t = \Phi u_{t-1} + \varepsilon_t,\ \varepsilon_t \sim N(0, \Omega),

as a jittable function ``theta -> (A, B, C, E, Phi)``, plus an observation equation
``theta -> (d, Z)`` on the state ``s_t = (x_t, u_t, x_{t-1}[lagged])`` (see
:func:`~numpyro_semipar.models.dsge.solved_state_space`) and the shock covariance
``theta -> Ω``. :class:`LinearREModel` then gives the solution with its determinacy status, the
Kalman-filter likelihood (missing observations as NaN, exact gradients through the solver), a
NumPyro model, the smoother, impulse responses (with posterior bands), variance and historical
decompositions, and forecasts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import numpyro

from ..._x64 import require_x64
from ._distribution import StateSpaceDistribution, _psd_root
from ._forecast import Forecast, _forecast, forecast
from ._historical import HistoricalDecomposition, historical_decomposition
from ._kalman import _check_observations, kalman_loglik
from ._responses import (
    ImpulseResponses,
    _check_horizon,
    impulse_responses,
    variance_decomposition,
)
from ._smoother import SmootherResult, kalman_smoother
from ._solve import RESolution, solve_re
from ._state_space import StateSpace, solved_state_space

__all__ = ["LinearREModel"]


class LinearREModel:
    """A linear rational-expectations model with an observation equation.

    Parameters
    ----------
    system_matrices : callable
        ``theta -> (A, B, C, E, Phi)``, jittable, in the canonical form above (``n``
        endogenous variables, ``m`` exogenous processes, expectations of future ``u`` folded into
        ``E`` through ``E_t u_{t+1} = Φ u_t``).
    observation : callable
        ``theta -> (d, Z)``: measurement constants ``(p,)`` and loadings
        ``(p, n + m + len(lagged))`` on ``(x_t, u_t, x_{t-1}[lagged])``.
    shock_cov : callable
        ``theta -> Ω``, the ``(m, m)`` covariance of ``ε_t`` (positive definite: impulse
        responses and decompositions use its Cholesky factor, so correlated shocks are
        orthogonalised in the order given, as in Dynare).
    measurement_cov : callable, optional
        ``theta -> H``, the ``(p, p)`` measurement-error covariance (default none).
    lagged : sequence of int
        Endogenous variables whose lag enters the observation equation.
    variable_names, exogenous_names, observable_names : sequence of str, optional
        Labels for ``x``, ``u`` (one shock per exogenous process) and ``y``.
    tol, max_steps
        Cyclic-reduction settings of the solver.
    """

    def __init__(
        self,
        system_matrices: Callable,
        observation: Callable,
        shock_cov: Callable,
        *,
        measurement_cov: Callable | None = None,
        lagged: Sequence[int] = (),
        variable_names: Sequence[str] | None = None,
        exogenous_names: Sequence[str] | None = None,
        observable_names: Sequence[str] | None = None,
        tol: float = 1e-13,
        max_steps: int = 100,
    ):
        for name, fn in (
            ("system_matrices", system_matrices),
            ("observation", observation),
            ("shock_cov", shock_cov),
        ):
            if not callable(fn):
                raise TypeError(f"{name} must be a function of the parameters; got {fn!r}")
        if measurement_cov is not None and not callable(measurement_cov):
            raise TypeError(f"measurement_cov must be a function or None; got {measurement_cov!r}")
        self.system_matrices = system_matrices
        self.observation = observation
        self.shock_cov = shock_cov
        self.measurement_cov = measurement_cov
        self.lagged = tuple(int(i) for i in lagged)
        if any(i < 0 for i in self.lagged) or len(set(self.lagged)) != len(self.lagged):
            raise ValueError(f"lagged must be distinct non-negative indices; got {lagged!r}")
        self.variable_names = None if variable_names is None else tuple(variable_names)
        self.exogenous_names = None if exogenous_names is None else tuple(exogenous_names)
        self.observable_names = None if observable_names is None else tuple(observable_names)
        self.tol, self.max_steps = float(tol), int(max_steps)
        self._jit_loglik = jax.jit(self._log_likelihood)
        self._jit_state_space = jax.jit(self._state_space)

    # ----------------------------------------------------------------- solution and state space
    def solve(self, theta) -> RESolution:
        """Solve the model at ``theta`` (status 0 = determinate; see ``SOLVE_STATUS``)."""
        require_x64("LinearREModel.solve")
        return self._solve(theta)

    def _solve(self, theta) -> RESolution:
        A, B, C, E, Phi = self.system_matrices(theta)
        n = jnp.shape(A)[0]
        if any(i >= n for i in self.lagged):
            raise ValueError(f"lagged={self.lagged} refers to variables beyond the n={n} of A")
        return solve_re(A, B, C, E, Phi, tol=self.tol, max_steps=self.max_steps)

    def state_space(self, theta) -> StateSpace:
        """Solve the model and build its state space (see :class:`StateSpace`).

        Parameters
        ----------
        theta : pytree
            The parameters, as ``system_matrices`` and ``observation`` expect them.

        Returns
        -------
        StateSpace
        """
        require_x64("LinearREModel.state_space")
        return self._state_space(theta)

    def _state_space(self, theta) -> StateSpace:
        # No x64 check here: the An–Schorfheide functions build on this and keep their behaviour.
        solution = self._solve(theta)
        _, _, _, _, Phi = self.system_matrices(theta)
        d, Z = self.observation(theta)
        n, m = solution.Q.shape
        k = n + m + len(self.lagged)
        if jnp.ndim(Z) != 2 or jnp.shape(Z)[1] != k:
            raise ValueError(
                f"observation must return Z of shape (p, {k}) = (p, n + m + len(lagged)); got "
                f"shape {jnp.shape(Z)}"
            )
        H = None if self.measurement_cov is None else self.measurement_cov(theta)
        return solved_state_space(solution, Phi, self.shock_cov(theta), d, Z, H, self.lagged)

    @property
    def state_names(self) -> tuple[str, ...] | None:
        """Labels of the state ``(x_t, u_t, x_{t-1}[lagged])`` when the names were given."""
        if self.variable_names is None or self.exogenous_names is None:
            return None
        lags = tuple(f"{self.variable_names[i]}(-1)" for i in self.lagged)
        return self.variable_names + self.exogenous_names + lags

    # ----------------------------------------------------------------------------- likelihood
    def _log_likelihood(self, theta, y):
        ss = self._state_space(theta)
        solved = ss.status == 0
        # Outside the determinacy region filter a harmless stand-in system (white noise with unit
        # variance) so that neither the value nor the gradient picks up a NaN; the result is masked.
        T = jnp.where(solved, ss.T, 0.0)
        V = jnp.where(solved, ss.V, jnp.eye(ss.V.shape[0]))
        Z = jnp.where(solved, ss.Z, jnp.eye(*ss.Z.shape))
        ll = kalman_loglik(y, ss.d, Z, T, V, ss.H)
        ll = jnp.where(solved & jnp.isfinite(ll), ll, -jnp.inf)
        return ll, ss.status

    def log_likelihood(self, theta, y):
        """Kalman-filter log-likelihood of ``y`` and the solver status.

        Parameters
        ----------
        theta : pytree
            Parameters.
        y : array of shape (n_periods, p)
            Observations; NaN marks a missing entry (the period then conditions on the rest).

        Returns
        -------
        loglik : float array
            ``-inf`` outside the determinacy region (never NaN); differentiable inside it.
        status : int array
            Solver status.
        """
        require_x64("LinearREModel.log_likelihood")
        theta = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), theta)
        return self._jit_loglik(theta, jnp.asarray(y, jnp.float64))

    def numpyro_model(self, priors: Mapping[str, numpyro.distributions.Distribution]):
        """Build a NumPyro model ``model(y)``: ``theta ~ priors``, ``y ~`` the Kalman likelihood.

        Parameters
        ----------
        priors : mapping of str to Distribution
            One prior per parameter; ``theta`` is the dict of the sampled values.

        Returns
        -------
        callable
            ``model(y)``: the observed site ``"y"`` has the :class:`StateSpaceDistribution` of
            the solved model (``-inf`` outside the determinacy region; NaN entries of ``y`` are
            missing) and the solver status is the deterministic site ``"solver_status"``. Run
            it with any NumPyro or package kernel.
        """
        if not isinstance(priors, Mapping) or not priors:
            raise TypeError(f"priors must be a non-empty dict of distributions; got {priors!r}")

        def model(y):
            theta = {name: numpyro.sample(name, prior) for name, prior in priors.items()}
            y = jnp.asarray(y)
            fit = self.distribution(theta, y.shape[0])
            numpyro.deterministic("solver_status", fit.ss.status)
            numpyro.sample("y", fit, obs=y)

        return model

    def distribution(self, theta, num_periods: int) -> StateSpaceDistribution:
        """Return the NumPyro distribution of ``num_periods`` observations at ``theta``.

        Parameters
        ----------
        theta : pytree
            Parameters.
        num_periods : int
            Sample length.

        Returns
        -------
        StateSpaceDistribution
        """
        return StateSpaceDistribution(self.state_space(theta), num_periods)

    # -------------------------------------------------------------------------------- outputs
    def smooth(self, theta, y) -> SmootherResult:
        """Kalman smoother (Durbin–Koopman) at ``theta``: states, shocks, measurement errors."""
        return kalman_smoother(y, self._determinate(theta))

    def impulse_responses(self, theta, horizon: int) -> ImpulseResponses:
        """Responses to one-standard-deviation shocks (see :func:`impulse_responses`)."""
        return impulse_responses(self._determinate(theta), horizon)

    def variance_decomposition(self, theta, horizons) -> jax.Array:
        """Forecast-error variance shares (see :func:`variance_decomposition`)."""
        return variance_decomposition(self._determinate(theta), horizons)

    def historical_decomposition(self, theta, y) -> HistoricalDecomposition:
        """Historical shock decomposition of ``y`` (see :func:`historical_decomposition`)."""
        ss = self._determinate(theta)
        return historical_decomposition(ss, kalman_smoother(y, ss))

    def forecast(self, theta, y, horizon: int) -> Forecast:
        """Forecast means and covariances after ``y`` (see :func:`forecast`)."""
        return forecast(y, self._determinate(theta), horizon)

    def impulse_response_bands(
        self, draws: Mapping, horizon: int, probs: Sequence[float] = (0.05, 0.5, 0.95)
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior quantiles of the observables' impulse responses over parameter draws.

        Parameters
        ----------
        draws : dict of arrays
            Posterior draws, a leading draw axis on every parameter (e.g. ``mcmc.get_samples()``).
        horizon : int
            Number of periods (impact included).
        probs : sequence of float
            Quantile levels in (0, 1).

        Returns
        -------
        bands : array of shape (len(probs), horizon, m, p)
            Quantiles of the response of observable ``p`` to shock ``m``; draws outside the
            determinacy region are left out.
        mean : array of shape (horizon, m, p)
            Posterior mean response.
        """
        probs = _check_probs(probs)
        require_x64("LinearREModel.impulse_response_bands")
        theta = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), dict(draws))

        @jax.jit
        @jax.vmap
        def one(t):
            ss = self.state_space(t)
            return impulse_responses(ss, horizon).observables, ss.status

        responses, status = (np.asarray(a) for a in one(theta))
        keep = status == 0
        if not keep.any():
            raise ValueError("no draw in draws is in the determinacy region")
        responses = responses[keep]
        return np.quantile(responses, probs, axis=0), responses.mean(axis=0)

    def forecast_bands(
        self,
        rng_key,
        draws: Mapping,
        y,
        horizon: int,
        probs: Sequence[float] = (0.05, 0.5, 0.95),
    ) -> np.ndarray:
        """Posterior predictive quantiles of the observables after ``y`` (pointwise bands).

        For each parameter draw the forecast distribution ``N(mean_h, cov_h)`` of
        :func:`forecast` is sampled once per horizon, so the bands carry both parameter and
        shock uncertainty (as Dynare's ``forecast`` with posterior draws).

        Parameters
        ----------
        rng_key : jax.random key
            Key for the predictive draws.
        draws : dict of arrays
            Posterior draws with a leading draw axis.
        y : array of shape (n_periods, p)
            The sample (NaN = missing).
        horizon : int
            Periods ahead.
        probs : sequence of float
            Quantile levels in (0, 1).

        Returns
        -------
        array of shape (len(probs), horizon, p)
            Pointwise quantiles per horizon and observable (draws outside the determinacy
            region are left out).
        """
        probs = _check_probs(probs)
        require_x64("LinearREModel.forecast_bands")
        theta = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), dict(draws))
        y = jnp.asarray(y, jnp.float64)
        # Infinite entries here; the width against Z is checked when the filter is traced.
        _check_observations(y, jnp.shape(y)[-1] if jnp.ndim(y) == 2 else -1)
        num_draws = jnp.shape(jax.tree.leaves(theta)[0])[0]
        horizon = _check_horizon(horizon)

        @jax.jit
        @jax.vmap
        def one(t, key):
            ss = self._state_space(t)
            fc = _forecast(y, ss, horizon, None, None)
            noise = jax.random.normal(key, fc.mean.shape, fc.mean.dtype)
            roots = jax.vmap(_psd_root)(fc.cov)
            return fc.mean + jnp.einsum("hpq,hq->hp", roots, noise), ss.status

        paths, status = (np.asarray(a) for a in one(theta, jax.random.split(rng_key, num_draws)))
        keep = (status == 0) & np.all(np.isfinite(paths), axis=(1, 2))
        if not keep.any():
            raise ValueError("no draw in draws is in the determinacy region")
        return np.quantile(paths[keep], probs, axis=0)

    def _determinate(self, theta) -> StateSpace:
        require_x64("LinearREModel outputs")
        ss = self._jit_state_space(jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), theta))
        status = int(ss.status)
        if status != 0:
            from ._solve import SOLVE_STATUS

            raise ValueError(
                f"the model has no unique stable solution at theta: status {status} "
                f"({SOLVE_STATUS[status]})"
            )
        return ss


def _check_probs(probs) -> np.ndarray:
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 1 or np.any((probs <= 0) | (probs >= 1)):
        raise ValueError(f"probs must be levels strictly between 0 and 1; got {probs!r}")
    return probs
