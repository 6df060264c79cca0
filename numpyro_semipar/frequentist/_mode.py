"""Mode finding with the curvature at the mode: the starting point of every estimator here.

:func:`find_mode` maximises a log density over a pytree with optimistix's BFGS in float64 and
returns the mode, the Hessian there and its negative inverse. :class:`MaximumLikelihood` uses it
for estimation; the random-walk kernels use it for a Dynare-style start (mode plus inverse
Hessian as the proposal covariance).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from jax.flatten_util import ravel_pytree

from .._warnings import ConvergenceWarning
from .._x64 import float64

__all__ = ["ModeResult", "find_mode", "inverse_information"]

_HESSIANS = ("exact", "finite-difference", None)
_OPTIMIZERS = ("optimistix", "scipy")


def check_optimizer(optimizer: str) -> None:
    """Raise a ``ValueError`` unless ``optimizer`` is one :func:`find_mode` knows."""
    if optimizer not in _OPTIMIZERS:
        raise ValueError(f"optimizer must be 'optimistix' or 'scipy', got {optimizer!r}")


class ModeResult(NamedTuple):
    """Mode of a log density and the curvature there.

    Attributes
    ----------
    position : pytree
        The mode, with the structure of the initial position.
    logdensity : float
        Log density at the mode.
    hessian : array of shape (k, k)
        Hessian of the log density at the mode, in flattened-position order (all NaN when
        :func:`find_mode` was told ``hessian=None``).
    covariance : array of shape (k, k)
        ``inv(-hessian)`` (the Laplace covariance); NaN where the Hessian is not negative
        definite.
    converged : bool
        Whether BFGS met its tolerance and the gradient is small at the mode.
    num_steps : int
        Number of BFGS iterations.
    gradient_norm : float
        Infinity norm of the gradient at the mode.
    message : str
        Solver status.
    """

    position: Any
    logdensity: float
    hessian: np.ndarray
    covariance: np.ndarray
    converged: bool
    num_steps: int
    gradient_norm: float
    message: str


def inverse_information(
    information: np.ndarray, names: list[str] | None = None, *, rcond: float = 1e-10
) -> tuple[np.ndarray, list[str]]:
    """Invert an information matrix, reporting which parameters it does not identify.

    Parameters
    ----------
    information : array of shape (k, k)
        Symmetric information matrix (negative Hessian, OPG, ...).
    names : list of str, optional
        Parameter names, for the report.
    rcond : float
        Eigenvalues below ``rcond * max(eigenvalue)`` count as zero.

    Returns
    -------
    covariance : array of shape (k, k)
        The inverse; rows and columns of parameters in a near-null direction are NaN.
    unidentified : list of str
        Names of the parameters with weight in a near-null direction (empty when regular).
    """
    info = np.asarray(information, dtype=np.float64)
    k = info.shape[0]
    names = list(names) if names is not None else [f"x[{i}]" for i in range(k)]
    if k == 0:
        return np.zeros((0, 0)), []
    if not np.all(np.isfinite(info)):
        return np.full((k, k), np.nan), names
    sym = (info + info.T) / 2.0
    evals, evecs = np.linalg.eigh(sym)
    scale = max(float(np.max(np.abs(evals))), np.finfo(float).tiny)
    null = evals <= rcond * scale
    if not null.any():
        return np.linalg.inv(sym), []
    weights = np.abs(evecs[:, null]).max(axis=1)
    involved = weights > 1e-3
    cov = np.linalg.pinv(sym, rcond=rcond, hermitian=True)
    cov[involved, :] = np.nan
    cov[:, involved] = np.nan
    return cov, [n for n, bad in zip(names, involved, strict=True) if bad]


def hessian_function(logdensity, value_and_grad, method: str):
    """``position -> Hessian`` (NumPy array) compiled once, for repeated use.

    ``"exact"``: one jitted forward-over-reverse ``jax.hessian`` (eager ``jax.hessian``
    dispatches every primitive separately and re-compiles each ``lax.scan`` it meets: on a DSGE
    posterior it costs 1.5x the jitted version's compilation). ``"finite-difference"``: central
    differences of the jitted gradient ``value_and_grad`` with steps ``eps^(1/3)·max(1, |x|)``,
    symmetrised.
    """
    if method == "exact":
        compiled = jax.jit(jax.hessian(logdensity))
        return lambda position: np.asarray(compiled(position))

    def by_differences(position):
        steps = np.finfo(np.float64).eps ** (1 / 3) * np.maximum(1.0, np.abs(np.asarray(position)))
        columns = [
            np.asarray(value_and_grad(position + h * e)[1] - value_and_grad(position - h * e)[1])
            / (2 * h)
            for h, e in zip(steps, np.eye(position.size), strict=True)
        ]
        hessian = np.array(columns)
        return (hessian + hessian.T) / 2

    return by_differences


def _curvature(logdensity, value_and_grad, mode: jax.Array, method: str):
    """Value, gradient and Hessian at ``mode`` (``value_and_grad`` jitted)."""
    value, grad = value_and_grad(mode)
    if method is None:
        return value, grad, np.full((mode.size, mode.size), np.nan)
    return value, grad, hessian_function(logdensity, value_and_grad, method)(mode)


def find_mode(
    logdensity_fn: Callable[[Any], jax.Array],
    init_position: Any,
    *,
    rtol: float = 1e-10,
    atol: float = 1e-10,
    max_steps: int = 2000,
    gradient_tol: float = 1e-4,
    hessian: str = "exact",
    optimizer: str = "optimistix",
    warn: bool = True,
    starts: Any = None,
) -> ModeResult:
    """Maximise a log density with BFGS (optimistix or scipy, float64) and return the curvature.

    Parameters
    ----------
    logdensity_fn : callable
        ``position -> scalar`` log density (or log-likelihood), differentiable with JAX.
    init_position : pytree
        Starting point; its structure is that of the returned mode.
    rtol, atol : float
        Tolerances of BFGS. optimistix: relative and absolute tolerances on steps and function
        values. scipy: BFGS stops when the gradient's infinity norm is below
        ``max(atol, rtol * max(1, |logdensity(init_position)|))``.
    max_steps : int
        Iteration limit.
    gradient_tol : float
        The run counts as converged only if, besides BFGS's own test, the gradient's infinity
        norm at the mode is below ``gradient_tol * max(1, |logdensity|)``.
    hessian : {"exact", "finite-difference"} or None
        ``"exact"``: one jitted forward-over-reverse ``jax.hessian``. ``"finite-difference"``:
        central differences of the jitted gradient (``2k`` gradient calls, steps
        ``ε^{1/3} max(1, |x_j|)``), symmetrised; it compiles only the gradient, which is much
        cheaper when the log density runs a long ``lax.scan`` (a Kalman filter, an inner
        solver) and ``k`` is moderate, at a relative accuracy of about ``1e-8``. ``None``: no
        curvature (``hessian`` and ``covariance`` of the result are NaN), for callers that
        compute their own, e.g. in another parametrisation.
    optimizer : {"optimistix", "scipy"}
        ``"optimistix"``: optimistix's BFGS, the whole loop one compiled program (the least
        overhead per step). ``"scipy"``: ``scipy.optimize.minimize(method="BFGS")`` on the host,
        driving the jitted value and gradient that the Hessian and the checks use as well. It
        skips compiling optimistix's loop (about 4 s on CPU, whatever the log density), which
        pays where one run is short: a log density that is slow to compile and fast to run
        (a DSGE posterior), or a one-off mode search before MCMC. Non-finite log densities count
        as ``+inf`` loss, so the line search backs off from them.
    warn : bool
        Emit a :class:`ConvergenceWarning` when the run did not converge.
    starts : sequence of pytrees, optional
        Further starting points (structure of ``init_position``). BFGS runs from each start
        whose log density is finite (sharing one compiled program); runs that end at a
        non-finite value are discarded, and the result is the converged run with the highest
        log density (the highest finite one when none converged). A ``ValueError`` lists the
        starts when none is usable. ``message`` says how many starts were tried.

    Returns
    -------
    ModeResult
    """
    if hessian not in _HESSIANS:
        raise ValueError(f"hessian must be 'exact', 'finite-difference' or None, got {hessian!r}")
    check_optimizer(optimizer)
    with float64():
        flat0, unravel = ravel_pytree(jax.tree.map(lambda x: jnp.asarray(x, float), init_position))
        if flat0.size == 0:
            raise ValueError("init_position has no parameters to optimise")

        def negative(flat, _):
            return -logdensity_fn(unravel(flat))

        def flat_logdensity(flat):
            return logdensity_fn(unravel(flat))

        # Compiled once: the start check, the value and gradient at the mode and the
        # finite-difference Hessian all reuse it.
        value_and_grad = jax.jit(jax.value_and_grad(flat_logdensity))
        flat_starts = [flat0] + [
            ravel_pytree(jax.tree.map(lambda x: jnp.asarray(x, float), start))[0]
            for start in (starts or [])
        ]
        runs, tried = [], []
        for flat_start in flat_starts:
            value0 = float(value_and_grad(flat_start)[0])
            tried.append(value0)
            if not np.isfinite(value0):
                continue
            if optimizer == "optimistix":
                import optimistix as optx  # on first use: its import costs 0.3-0.5 s

                solver = optx.BFGS(rtol=rtol, atol=atol)
                solution = optx.minimise(
                    negative, solver, flat_start, max_steps=max_steps, throw=False
                )
                mode = solution.value
                success = bool(solution.result == optx.RESULTS.successful)
                status = f"BFGS stopped with status {solution.result!s}"
                num_steps = int(solution.stats["num_steps"])
            else:
                gtol = max(atol, rtol * max(1.0, abs(value0)))
                mode, success, status, num_steps = _scipy_bfgs(
                    value_and_grad, flat_start, gtol, max_steps
                )
            value, grad = value_and_grad(mode)
            value = float(value)
            if not np.isfinite(value) or not bool(jnp.all(jnp.isfinite(mode))):
                continue
            grad_norm = float(jnp.max(jnp.abs(grad)))
            small_gradient = grad_norm <= gradient_tol * max(1.0, abs(value))
            converged = success and small_gradient and bool(np.isfinite(grad_norm))
            runs.append((converged, value, mode, success, status, num_steps, grad_norm))
        if not runs:
            where = "starting point" if len(tried) == 1 else f"{len(tried)} starting points"
            raise ValueError(
                f"mode finding found no usable start: the log density at the {where} tried "
                f"was {tried} (or BFGS ended at non-finite values from each); choose init "
                "values inside the support"
            )
        converged, _, mode, success, status, num_steps, grad_norm = max(
            runs, key=lambda run: (run[0], run[1])
        )
        value, grad, hessian = _curvature(flat_logdensity, value_and_grad, mode, hessian)
        message = "converged" if converged else _failure_message(status, grad_norm, success)
        if len(flat_starts) > 1:
            usable = sum(run[0] for run in runs)
            message += f" (best of {len(flat_starts)} starts; {usable} converged)"
        covariance, _ = inverse_information(-hessian)
        if not converged and warn:
            warnings.warn(f"mode finding did not converge: {message}", ConvergenceWarning, 2)
        return ModeResult(
            position=jax.tree.map(np.asarray, unravel(mode)),
            logdensity=float(value),
            hessian=hessian,
            covariance=covariance,
            converged=converged,
            num_steps=num_steps,
            gradient_norm=grad_norm,
            message=message,
        )


def _scipy_bfgs(value_and_grad, flat0: jax.Array, gtol: float, max_steps: int):
    """Minimise ``-logdensity`` with scipy's BFGS; return ``(mode, success, status, steps)``.

    Status 2 of scipy's BFGS ("precision loss": the line search found no decrease) is what a
    tight ``gtol`` meets at the optimum itself, so it counts as success here; the caller's
    gradient test decides whether the point is a mode.
    """

    def loss(x):
        value, grad = value_and_grad(jnp.asarray(x, jnp.float64))
        value = float(value)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(x)
        return -value, -np.asarray(grad, np.float64)

    # Always NumPy float64 in: a jax.Array start and NumPy iterates would compile twice.
    result = scipy.optimize.minimize(
        loss,
        np.asarray(flat0, np.float64),
        jac=True,
        method="BFGS",
        options={"gtol": gtol, "maxiter": max_steps},
    )
    success = result.status in (0, 2)
    status = f"scipy BFGS stopped with status {result.status} ({result.message})"
    return jnp.asarray(result.x), success, status, int(result.nit)


def _failure_message(status: str, grad_norm: float, success: bool) -> str:
    if not success:
        return f"{status} (|grad|_inf = {grad_norm:.3g})"
    return f"BFGS met its step tolerance but |grad|_inf = {grad_norm:.3g} is not small"
