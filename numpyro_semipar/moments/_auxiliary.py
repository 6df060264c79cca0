"""Auxiliary estimators for indirect inference, written in JAX (jit-, vmap- and grad-safe).

Indirect inference matches an auxiliary model's estimates on the data with their average on
simulated data. The auxiliary estimator must be a smooth function of the simulated data for
autodiff Jacobians: OLS and AR(p) are closed-form; probit and logit run a fixed number of Newton
steps (``lax.fori_loop`` with a static trip count, so reverse-mode autodiff works).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm

from ._errors import as_float

__all__ = ["ar_coefficients", "logit", "ols", "probit"]


def ols(y, x):
    """Least-squares coefficients of ``y`` on the columns of ``x``.

    Parameters
    ----------
    y : array of shape (N,)
        Response.
    x : array of shape (N, P)
        Regressors (include a column of ones for an intercept).

    Returns
    -------
    array of shape (P,)
    """
    y, x = as_float(y), as_float(x)
    return jnp.linalg.solve(x.T @ x, x.T @ y)


def ar_coefficients(y, order: int = 1, *, intercept: bool = False, variance: bool = False):
    """AR(p) coefficients of a time series by OLS on its lags.

    Parameters
    ----------
    y : array of shape (T,)
        Series.
    order : int
        Number of lags p.
    intercept : bool
        Include a constant (first coefficient).
    variance : bool
        Append the residual variance (mean squared residual), e.g. to identify a scale
        parameter.

    Returns
    -------
    array of shape (p + intercept + variance,)
        ``[const], φ_1, ..., φ_p, [σ²]``.
    """
    order = int(order)
    if order < 1:
        raise ValueError(f"order must be a positive integer, got {order}")
    y = as_float(y)
    t = y.shape[0]
    if t <= order + 1:
        raise ValueError(f"the series has {t} observations, too few for an AR({order})")
    lags = [y[order - j - 1 : t - j - 1] for j in range(order)]
    if intercept:
        lags = [jnp.ones(t - order), *lags]
    x = jnp.stack(lags, axis=1)
    target = y[order:]
    coef = jnp.linalg.solve(x.T @ x, x.T @ target)
    if variance:
        resid = target - x @ coef
        coef = jnp.concatenate([coef, jnp.mean(resid**2)[None]])
    return coef


def _newton_glm(y, x, num_steps, gradient_hessian):
    y, x = as_float(y), as_float(x)
    beta0 = jnp.zeros(x.shape[1])

    def step(_, beta):
        grad, hess = gradient_hessian(beta, y, x)
        return beta - jnp.linalg.solve(hess, grad)

    return jax.lax.fori_loop(0, int(num_steps), step, beta0)


def _logit_gh(beta, y, x):
    p = jax.nn.sigmoid(x @ beta)
    grad = x.T @ (p - y)
    hess = (x * (p * (1.0 - p))[:, None]).T @ x
    return grad, hess


def _probit_gh(beta, y, x):
    # Expected (Fisher) information: always positive definite, so Newton is stable.
    eta = x @ beta
    cdf = jnp.clip(norm.cdf(eta), 1e-12, 1.0 - 1e-12)
    pdf = norm.pdf(eta)
    grad = -x.T @ ((y - cdf) * pdf / (cdf * (1.0 - cdf)))
    hess = (x * (pdf**2 / (cdf * (1.0 - cdf)))[:, None]).T @ x
    return grad, hess


def logit(y, x, *, num_steps: int = 25):
    """Logit maximum likelihood by a fixed number of Newton steps from zero.

    Parameters
    ----------
    y : array of shape (N,)
        Outcomes in [0, 1] (smoothed outcomes are allowed).
    x : array of shape (N, P)
        Regressors.
    num_steps : int
        Newton steps (the logit log-likelihood is concave, 25 steps reach machine precision
        for well-conditioned data without separation).

    Returns
    -------
    array of shape (P,)
    """
    return _newton_glm(y, x, num_steps, _logit_gh)


def probit(y, x, *, num_steps: int = 25):
    """Probit maximum likelihood by a fixed number of Fisher-scoring steps from zero.

    Parameters
    ----------
    y : array of shape (N,)
        Outcomes in [0, 1] (smoothed outcomes are allowed).
    x : array of shape (N, P)
        Regressors.
    num_steps : int
        Scoring steps.

    Returns
    -------
    array of shape (P,)
    """
    return _newton_glm(y, x, num_steps, _probit_gh)
