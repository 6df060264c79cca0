"""Semi-parametric profile log-likelihood: the mixing distribution profiled out by mixSQP.

For a model with parameters θ and a log conditional likelihood ``ℓ_ij(θ) = log G(w_i, v_j; θ)``
on a grid ``v_1..v_m`` of values of the unobserved variable, the profile log-likelihood is
``L*(θ) = max_p Σ_i a_i log Σ_j p_j exp(ℓ_ij(θ))`` over the simplex (Bunting, Diegert & Maurel
2025; the method of the ``spmlex`` package). :func:`profile_loglik` evaluates it with exact first
and second derivatives: the solver's own derivative rules (:mod:`._derivatives`) make
``jax.grad`` and ``jax.hessian`` of ``θ ↦ L*(θ)`` exact.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from .._x64 import float64, require_x64, x64_enabled
from ._derivatives import safe_log
from ._mixsqp import mixsqp

__all__ = ["profile_loglik", "profile_pointwise"]


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def evaluate_lclk(model: Any, data: Any, grid: Any, params: Any = None) -> jax.Array:
    """Evaluate the (n, m) log conditional likelihood of a model or a plain function."""
    if params is None:
        lclk = getattr(model, "lclk", None)
        if lclk is None or not callable(lclk):
            raise TypeError(
                "model must have a method lclk(data, grid) -> (n, m), or be a function "
                "lclk(params, data, grid) with params passed as params=...; got "
                f"{type(model).__name__}"
            )
        log_lik = lclk(data, grid)
    else:
        if not callable(model):
            raise TypeError(
                f"with params=..., model must be a function lclk(params, data, grid); got "
                f"{type(model).__name__}"
            )
        log_lik = model(params, data, grid)
    log_lik = jnp.asarray(log_lik)
    if log_lik.ndim != 2:
        raise ValueError(f"lclk must return an (n, m) matrix, got shape {log_lik.shape}")
    return log_lik


def group_weights(
    weights: Any, groups: Any, num_rows: int, *, num_groups: int | None = None
) -> jax.Array:
    """Row weights per group: an (n, G) matrix whose column g holds the weights of group g.

    Parameters
    ----------
    weights : array of shape (n,) or None
        Non-negative row weights (default 1).
    groups : array of shape (n,) of int, array of shape (n, G) of 0/1, or None
        Integer group labels ``0..G-1`` or a dummy matrix (``spmlex``'s ``endog_dummies``).
    num_rows : int
        Number of rows ``n`` of the log-likelihood matrix.
    num_groups : int, optional
        Number of groups for integer labels; needed when the labels are traced (under jit).

    Returns
    -------
    array of shape (n, G)
    """
    if weights is None:
        if groups is None:
            # Built on the host: eager jnp.ones and indexing would each compile a program.
            return jnp.asarray(np.ones((num_rows, 1)), dtype=jnp.result_type(float))
        a = jnp.ones((num_rows,))
    else:
        a = jnp.asarray(weights)
        if a.shape != (num_rows,):
            raise ValueError(f"weights must have shape ({num_rows},), got {a.shape}")
        if _is_concrete(a):
            values = np.asarray(a)
            bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
            if bad.size:
                raise ValueError(
                    f"weights must be finite and non-negative; row {bad[0]} has {values[bad[0]]}"
                )
            if not values.sum() > 0:
                raise ValueError("weights are all zero")
        a = a.astype(jnp.result_type(float))
    if groups is None:
        return a[:, None]
    g = jnp.asarray(groups)
    if g.ndim == 2:
        if g.shape[0] != num_rows:
            raise ValueError(f"groups (dummy matrix) must have {num_rows} rows, got {g.shape[0]}")
        dummies = g.astype(a.dtype)
        if _is_concrete(g):
            values = np.asarray(g)
            bad = np.flatnonzero(~np.all((values == 0) | (values == 1), axis=1))
            bad = bad if bad.size else np.flatnonzero(values.sum(axis=1) != 1)
            if bad.size:
                raise ValueError(
                    f"groups (dummy matrix) must have exactly one 1 per row; row {bad[0]} is "
                    f"{values[bad[0]].tolist()}"
                )
    elif g.ndim == 1:
        if g.shape[0] != num_rows:
            raise ValueError(f"groups must have {num_rows} labels, got {g.shape[0]}")
        if not jnp.issubdtype(g.dtype, jnp.integer):
            raise TypeError(f"group labels must be integers, got dtype {g.dtype}")
        if _is_concrete(g):
            values = np.asarray(g)
            if values.min() < 0:
                raise ValueError(f"group labels must be >= 0; row {int(np.argmin(values))} is <0")
            found = int(values.max()) + 1
            if num_groups is None:
                num_groups = found
            elif found > num_groups:
                raise ValueError(f"group label {found - 1} >= num_groups={num_groups}")
        elif num_groups is None:
            raise ValueError("pass num_groups when the integer group labels are traced (jit)")
        dummies = jax.nn.one_hot(g, num_groups, dtype=a.dtype)
    else:
        raise ValueError(f"groups must be labels (n,) or dummies (n, G), got shape {g.shape}")
    if _is_concrete(dummies) and _is_concrete(a):
        per_group = np.asarray(dummies).T @ np.asarray(a)
        empty = np.flatnonzero(per_group <= 0)
        if empty.size:
            raise ValueError(f"group {empty[0]} has no observation with positive weight")
    return dummies * a[:, None]


def check_rows(log_lik: jax.Array, row_weights: jax.Array) -> None:
    if not (_is_concrete(log_lik) and _is_concrete(row_weights)):
        return
    values = np.asarray(log_lik)
    if np.isnan(values).any():
        i, j = np.argwhere(np.isnan(values))[0]
        raise ValueError(f"the log-likelihood matrix has NaN at row {i}, column {j}")
    used = np.asarray(row_weights).sum(axis=1) > 0
    dead = np.flatnonzero(used & ~np.any(values > -np.inf, axis=1))
    if dead.size:
        raise ValueError(
            f"row {dead[0]} of the log-likelihood matrix is -inf at every grid point: no mixing "
            "distribution on this grid can explain it (widen the grid)"
        )


def _profile_groups(log_lik: jax.Array, row_weights: jax.Array):
    """Profile each group; returns (total loglik, (G, m) weights, (G, n) log u)."""

    def one(g):
        a = row_weights[:, g]
        # Rows outside the group get zero weight and a finite placeholder row, so that neither
        # the solver nor the derivatives ever see 0 * -inf.
        masked = jnp.where((a > 0)[:, None], log_lik, 0.0)
        # mixsqp's derivative rules: envelope theorem for the value, implicit differentiation
        # of the KKT conditions for the weights.
        result = mixsqp(masked, a, warn=False)
        loglik, p = result.loglik, result.mixing_weights
        return loglik, p, logsumexp(masked + safe_log(p)[None, :], axis=1)

    # A Python loop over the (few) groups: each group is its own mixSQP problem.
    results = [one(g) for g in range(row_weights.shape[1])]
    loglik = sum(r[0] for r in results)
    return loglik, jnp.stack([r[1] for r in results]), jnp.stack([r[2] for r in results])


def profile_loglik(
    model: Any,
    data: Any,
    grid: Any,
    *,
    params: Any = None,
    weights: Any = None,
    groups: Any = None,
    num_groups: int | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Profile log-likelihood of a semi-parametric mixture model, mixing weights profiled out.

    ``L*(θ) = max_p Σ_i a_i log Σ_j p_j exp(ℓ_ij(θ))`` with ``ℓ = lclk(data, grid)`` and ``p``
    on the simplex over the grid, solved by :func:`~numpyro_semipar.npmle.mixsqp`.

    Parameters
    ----------
    model : pytree with a method ``lclk(data, grid) -> (n, m)``, or callable
        The model: typically an :class:`equinox.Module` whose array fields are θ and whose
        ``lclk`` returns the log conditional likelihood of each observation at each grid point
        (as in ``spmlex``). With ``params=...``, ``model`` is instead a plain function
        ``lclk(params, data, grid) -> (n, m)``.
    data : pytree
        Passed to ``lclk``.
    grid : array
        Grid of values of the unobserved variable (first axis: the ``m`` grid points).
    params : pytree, optional
        Parameters for a function ``model``; differentiate with respect to this argument.
    weights : array of shape (n,), optional
        Non-negative row weights ``a_i`` (default 1).
    groups : array of shape (n,) of int, or array of shape (n, G) of 0/1, optional
        A separate mixing distribution per group (``spmlex``'s ``endog_dummies``): integer
        labels ``0..G-1`` or a dummy matrix.
    num_groups : int, optional
        Number of groups, needed with integer labels under ``jit``.

    Returns
    -------
    loglik : scalar
        The total profile log-likelihood (not negated, not averaged).
    mixing_weights : array of shape (m,), or (G, m) with ``groups``
        The optimal mixing weights.

    Raises
    ------
    Float64RequiredError
        Called inside ``jit``/``vmap``/``grad`` with x64 disabled (call
        ``numpyro.enable_x64()``). Called eagerly with x64 disabled, it runs in float64 by
        itself (arrays created in float32 stay float32 and limit the accuracy).

    Notes
    -----
    ``jax.grad`` uses the envelope theorem (one vector-Jacobian product of ``lclk``);
    ``jax.hessian`` is exact, including the ``Bᵀ H_SS⁻¹ B`` term from the implicit derivative of
    the weights on their support. Both work under ``jit`` and ``vmap`` over parameters. Memory
    is O(n·m) for the value and gradient and O(n·m·k) for a k-parameter Hessian. The profile
    log-likelihood is only piecewise twice differentiable: the Hessian jumps where a grid point
    enters or leaves the support.

    Examples
    --------
    >>> import equinox as eqx, jax, jax.numpy as jnp
    >>> class Location(eqx.Module):
    ...     shift: jax.Array
    ...     def lclk(self, y, grid):
    ...         return jax.scipy.stats.norm.logpdf(y[:, None] - self.shift - grid[None, :])
    >>> y = jnp.array([-2.1, -1.9, 2.0, 2.2, 1.8])
    >>> grid = jnp.linspace(-3.0, 3.0, 31)
    >>> loglik, weights = profile_loglik(Location(jnp.array(0.1)), y, grid)  # doctest: +SKIP
    >>> score = jax.grad(lambda m: profile_loglik(m, y, grid)[0])  # doctest: +SKIP
    >>> score(Location(jnp.array(0.1))).shift  # doctest: +SKIP
    """
    if not x64_enabled():
        # NumPyro's default (float32): run eagerly in float64; inside a trace that began in
        # float32 that is impossible, so say so at entry.
        leaves = jax.tree.leaves((model, data, grid, params, weights, groups))
        if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
            require_x64("profile_loglik under jit, vmap or grad")
        with float64():
            return profile_loglik(
                model,
                data,
                grid,
                params=params,
                weights=weights,
                groups=groups,
                num_groups=num_groups,
            )
    log_lik = evaluate_lclk(model, data, grid, params)
    row_weights = group_weights(weights, groups, log_lik.shape[0], num_groups=num_groups)
    check_rows(log_lik, row_weights)
    loglik, mixing, _ = _profile_groups(log_lik, row_weights)
    return loglik, (mixing if groups is not None else mixing[0])


def profile_pointwise(
    log_lik: jax.Array, row_weights: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per-observation log-likelihoods at the profiled weights, with exact derivatives.

    Parameters
    ----------
    log_lik : array of shape (n, m)
        Log-likelihood matrix.
    row_weights : array of shape (n, G)
        Row weights per group, from :func:`group_weights`.

    Returns
    -------
    pointwise : array of shape (n,)
        ``log Σ_j p*_{g(i)j} exp(ℓ_ij)`` (unweighted). Its derivative includes the implicit
        derivative of the weights, so the Jacobian of ``row_weight * pointwise`` gives the
        per-observation scores ``s_i = ∂θ ℓ_i + (∂_p ℓ_i) dp*/dθ``.
    loglik : scalar
        The total profile log-likelihood ``Σ_i a_i pointwise_i`` (envelope-theorem gradient).
    mixing_weights : array of shape (G, m)
        The optimal weights of each group.
    """
    check_rows(log_lik, row_weights)
    loglik, mixing, log_u = _profile_groups(log_lik, row_weights)
    member = row_weights > 0
    pointwise = jnp.sum(jnp.where(member.T, log_u, 0.0), axis=0)
    return pointwise, loglik, mixing
