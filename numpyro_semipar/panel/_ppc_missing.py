"""Heterogeneous slopes with interactive effects on a panel with missing cells.

The pieces the Su–Ju estimator needs when some cells are unobserved, in JAX:

- given the factors, each unit's slopes are least squares over its observed periods with its
  loadings (and unit effect) profiled out: the unit's data are projected off ``F̄ = [F, 1]``
  restricted to those periods, which gives the C-Lasso block step's ``q_i``, ``b_i``;
- given the slopes, the factors are re-extracted by the EM-type step of Bai (2009, appendix)
  that :func:`~numpyro_semipar.panel.bai_fit_effects` uses: the residual matrix is completed in
  the missing cells with the fitted common component (loadings fitted on the observed cells),
  and the principal components of the completed matrix are taken.

Both steps lower the sum of squared residuals over the observed cells; with every cell observed
they are the balanced steps.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from .._deprecation import renamed_arguments
from ._bai import _decompose

__all__ = [
    "heterogeneous_interactive_effects_missing",
    "observed_factor_moments",
    "observed_factor_update",
]


def _with_constant(factors, unit_effects: bool):
    # Unit effects are loadings on the constant factor 1_T.
    if not unit_effects:
        return factors
    return jnp.concatenate([factors, jnp.ones((factors.shape[0], 1), factors.dtype)], axis=1)


def _unit_projection(fbar, observed):
    # Per unit: D_i F̄ and the Gram matrix F̄ᵀ D_i F̄ over the observed periods.
    d_f = observed[:, :, None] * fbar[None, :, :]
    return d_f, jnp.einsum("itr,ts->irs", d_f, fbar)


def observed_factor_moments(y, x, factors, observed, *, unit_effects: bool = False):
    """``q_i = X_iᵀ M_i X_i / n`` and ``b_i = X_iᵀ M_i y_i / n`` over observed cells.

    ``M_i`` projects unit ``i``'s observed periods off the factors (and the constant with unit
    effects), so that ``β_iᵀ q_i β_i - 2 b_iᵀ β_i`` is, up to a constant, unit ``i``'s sum of
    squared residuals with its loadings profiled out, divided by the number ``n`` of observed
    cells.

    Parameters
    ----------
    y : array of shape (N, T)
        Zero in unobserved cells.
    x : array of shape (N, T, p)
        Zero in unobserved cells.
    factors : array of shape (T, R)
    observed : bool array of shape (N, T)
    unit_effects : bool
        Also profile out a unit effect.

    Returns
    -------
    q : array of shape (N, p, p)
    b : array of shape (N, p)
    """
    d = observed.astype(y.dtype)
    nobs = jnp.sum(d)
    q = jnp.einsum("itp,itq->ipq", x, x)
    b = jnp.einsum("itp,it->ip", x, y)
    fbar = _with_constant(factors, unit_effects)
    if fbar.shape[1]:
        d_f, gram = _unit_projection(fbar, d)
        xf = jnp.einsum("itp,itr->irp", x, d_f)  # F̄ᵀ D_i X_i
        yf = jnp.einsum("it,itr->ir", y, d_f)
        q = q - jnp.einsum("irp,irq->ipq", xf, jnp.linalg.solve(gram, xf))
        b = b - jnp.einsum("irp,ir->ip", xf, jnp.linalg.solve(gram, yf[..., None])[..., 0])
    return q / nobs, b / nobs


def observed_factor_update(residuals, factors, observed, num_factors: int, unit_effects: bool):
    """One EM-type update of the factors from the residuals ``y_it - x_itᵀβ_i``.

    The loadings (and unit effects) are fitted to the observed cells given the current
    ``factors``; the missing cells are filled with that common component; the factors are the
    principal components of the completed matrix, after removing unit means when there are
    unit effects (:func:`~numpyro_semipar.panel.decompose_effects`).

    Returns
    -------
    factors : array of shape (T, num_factors)
        ``FᵀF/T = I``.
    loadings : array of shape (N, num_factors)
    unit : array of shape (N,)
        Unit effects (zero without).
    completed : array of shape (N, T)
        The completed residual matrix.
    """
    d = observed.astype(residuals.dtype)
    fbar = _with_constant(factors, unit_effects)
    if fbar.shape[1]:
        d_f, gram = _unit_projection(fbar, d)
        rhs = jnp.einsum("it,itr->ir", residuals, d_f)
        loadings = jnp.linalg.solve(gram, rhs[..., None])[..., 0]
        common = loadings @ fbar.T
    else:
        common = jnp.zeros_like(residuals)
    completed = jnp.where(observed, residuals, common)
    f, lam, unit, _ = _decompose(completed, num_factors, float(unit_effects), 0.0)
    return f, lam, unit, completed


def _observed_mean_ssr(residuals, factors, observed, unit_effects):
    # Mean squared residual over observed cells with loadings (and unit effects) fitted there.
    d = observed.astype(residuals.dtype)
    fbar = _with_constant(factors, unit_effects)
    fitted = jnp.zeros_like(residuals)
    if fbar.shape[1]:
        d_f, gram = _unit_projection(fbar, d)
        rhs = jnp.einsum("it,itr->ir", residuals, d_f)
        fitted = jnp.linalg.solve(gram, rhs[..., None])[..., 0] @ fbar.T
    e = jnp.where(observed, residuals - fitted, 0.0)
    return jnp.sum(e**2) / jnp.sum(d)


@renamed_arguments(max_iter="max_steps")
@partial(jax.jit, static_argnames=("num_factors", "unit_effects", "max_steps"))
def heterogeneous_interactive_effects_missing(
    y, x, observed, *, num_factors: int, unit_effects: bool = False, tol=1e-8, max_steps=1000
):
    """:func:`~numpyro_semipar.panel.heterogeneous_interactive_effects` over observed cells.

    Alternates unit-by-unit least squares over each unit's observed periods, projected off the
    current factors (and a unit effect), with the EM-type factor update
    (:func:`observed_factor_update`), starting from unit least squares without factors.

    Parameters
    ----------
    y : array of shape (N, T)
        Zero (or anything) in unobserved cells.
    x : array of shape (N, T, p)
    observed : bool array of shape (N, T)
    num_factors : int
    unit_effects : bool
        Unit effects besides the factors.
    tol, max_steps
        Stop when the largest change of any ``β_i`` is below ``tol (1 + max |β|)``.

    Returns
    -------
    beta : array of shape (N, p)
    factors : array of shape (T, R)
    mean_ssr : scalar
        Mean squared residual over the observed cells.
    num_iter : int
    converged : bool
    """
    y = jnp.where(observed, y, 0.0)
    x = jnp.where(observed[..., None], x, 0.0)

    def slopes(factors):
        q, b = observed_factor_moments(y, x, factors, observed, unit_effects=unit_effects)
        return jnp.linalg.solve(q, b[..., None])[..., 0]

    def factors_of(beta, factors):
        resid = y - jnp.einsum("itp,ip->it", x, beta)
        return observed_factor_update(resid, factors, observed, num_factors, unit_effects)[0]

    def cond(state):
        _, _, it, gap = state
        return (it < max_steps) & (gap > 0.0)

    def body(state):
        beta, factors, it, _ = state
        new_factors = factors_of(beta, factors)
        new = slopes(new_factors)
        gap = jnp.max(jnp.abs(new - beta)) - tol * (1.0 + jnp.max(jnp.abs(beta)))
        return new, new_factors, it + 1, gap

    beta0 = slopes(jnp.zeros((y.shape[1], 0), dtype=y.dtype))
    factors0 = factors_of(beta0, jnp.zeros((y.shape[1], 0), dtype=y.dtype))
    beta, factors, num_iter, gap = jax.lax.while_loop(
        cond, body, (beta0, factors0, 0, jnp.asarray(jnp.inf, dtype=y.dtype))
    )
    resid = y - jnp.einsum("itp,ip->it", x, beta)
    return (
        beta,
        factors,
        _observed_mean_ssr(resid, factors, observed, unit_effects),
        num_iter,
        (gap <= 0.0),
    )
