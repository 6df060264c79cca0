"""Value, gradient, exact Hessian and scores of the profile log-likelihood, by row chunks.

:func:`profile_loglik` gets its derivatives from JAX's automatic differentiation through the
solver's derivative rules (:mod:`._derivatives`): convenient, but ``jax.hessian`` then holds
several ``(n, m, k)`` tangents at once. Estimation needs the value, the gradient, the Hessian
and the per-observation scores at every iterate, so :func:`profile_curvature` assembles them
explicitly from the same formulas (notes: ``npmle.md``, "Derivatives of the profile
log-likelihood"), one chunk of rows at a time:

* with ``T_ijk = ∂_k ℓ_ij`` (a forward-mode Jacobian of the chunk's log-likelihoods),
  posterior weights ``r_ij`` and ``q_ij = exp(ℓ_ij) / u_i``, the per-row gradient is
  ``c_ik = Σ_j r_ij T_ijk`` and the gradient ``Σ_i a_i c_i`` (envelope theorem);
* the Hessian with the mixing weights held fixed is
  ``Σ_i a_i [Σ_j r_ij (∂²ℓ_ij + T_ij T_ijᵀ) − c_i c_iᵀ]``;
* ``B = Σ_i a_i q_i (T_i − c_i)ᵀ`` (m×k) and ``H = Σ_i a_i q_i q_iᵀ`` (m×m) give the
  implicit derivative of the weights, ``dp/dθ = H_SS⁻¹ B`` on the support (projected so that
  it sums to zero, :func:`~._derivatives.support_solve`), and the exact profile Hessian is the
  fixed-weights Hessian plus ``Bᵀ dp/dθ``;
* the scores are ``a_i (c_i + q_i · dp/dθ)``.

Every sum runs over rows, so only the (n, m) log-likelihood matrix (which the solver needs
anyway), (n, k) scores and chunk-sized temporaries exist at once: peak memory is O(n·m) plus
O(chunk·m·k), never O(n·m·k).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from ._derivatives import ratio_matrix, safe_log, support_from_gap, support_solve
from ._mixsqp import mixsqp

__all__ = [
    "ProfileCurvature",
    "chunk_rows",
    "chunk_statistics",
    "profile_curvature",
    "warm_start",
    "weighted_second_derivatives",
]

# Rows per chunk when ``row_chunk="auto"``: about 2**21 entries per (chunk, m, k) tangent
# array (16 MB in float64), so that the model's own intermediates (often a few times larger)
# stay well under the size of the log-likelihood matrix at large n.
_CHUNK_ENTRIES = 2**21
_MIN_CHUNK = 64
# Same default as mixsqp's ``support_gap_tol``.
_SUPPORT_GAP = 1e-6


class ProfileCurvature(NamedTuple):
    """The profile log-likelihood and its derivatives at one parameter value.

    Attributes
    ----------
    loglik : Array
        ``Σ_i a_i log u_i`` at the profiled weights.
    mixing_weights : Array of shape (G, m)
        The optimal weights of each group.
    gradient : Array of shape (k,)
        Exact gradient (envelope theorem).
    hessian : Array of shape (k, k)
        Exact Hessian, including the ``Bᵀ H_SS⁻¹ B`` cost of estimating the weights.
    hessian_known_mixing : Array of shape (k, k)
        Hessian with the weights held at their optimum.
    scores : Array of shape (n, k)
        Weighted per-observation scores ``a_i ∇θ log u_i(θ, p*(θ))``; they sum to ``gradient``.
    kkt_residual : Array
        Largest KKT residual of the weights over the groups (mixSQP's convergence measure).
    """

    loglik: jax.Array
    mixing_weights: jax.Array
    gradient: jax.Array
    hessian: jax.Array
    hessian_known_mixing: jax.Array
    scores: jax.Array
    kkt_residual: jax.Array


def chunk_rows(num_rows: int, num_columns: int, num_params: int, row_chunk: Any) -> int:
    """Rows per chunk: ``row_chunk`` itself, all rows (``None``) or a size-based choice."""
    if row_chunk is None:
        return num_rows
    if row_chunk == "auto":
        target = max(_MIN_CHUNK, _CHUNK_ENTRIES // max(1, num_columns * num_params))
        size = min(num_rows, target)
    elif isinstance(row_chunk, int) and not isinstance(row_chunk, bool) and row_chunk >= 1:
        size = min(num_rows, row_chunk)
    else:
        raise ValueError(f"row_chunk must be 'auto', None or a positive integer, got {row_chunk!r}")
    # Equal chunks with the least padding.
    num_chunks = math.ceil(num_rows / size)
    return math.ceil(num_rows / num_chunks)


def _split(tree: Any, num_rows: int, size: int) -> tuple[Any, Any, int]:
    """Split the leaves with ``num_rows`` leading rows into ``(chunks, size, ...)`` blocks.

    Returns the chunked leaves (None where a leaf is shared by all rows), the shared leaves
    (None where chunked) and the number of chunks; padding rows repeat the last row.
    """
    num_chunks = math.ceil(num_rows / size)
    pad = num_chunks * size - num_rows

    def rows(x):
        return hasattr(x, "shape") and len(x.shape) >= 1 and x.shape[0] == num_rows

    def chunked(x):
        if not rows(x):
            return None
        x = jnp.asarray(x)
        if pad:
            x = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1), mode="edge")
        return x.reshape((num_chunks, size) + x.shape[1:])

    def shared(x):
        return None if rows(x) else x

    return jax.tree.map(chunked, tree), jax.tree.map(shared, tree), num_chunks


def _merge(chunked: Any, shared: Any) -> Any:
    return jax.tree.map(
        lambda c, s: s if c is None else c, chunked, shared, is_leaf=lambda x: x is None
    )


# Share of uniform mass mixed into a warm start. The previous iterate's weights are exactly zero
# off its support, and the solver's active-set QP releases such bounds one per iteration when
# the support moves; with a little mass everywhere its first QP sorts them at once. On the
# README problem the fit's mixSQP iterations fall from 35-94 to 34-55 over four data sets.
_WARM_START_FLOOR = 1e-2


def warm_start(mixing, xp: Any = jnp):
    """Blend the previous weights (G, m) with a little uniform mass, for a warm start."""
    mixing = mixing / xp.sum(mixing, axis=-1, keepdims=True)
    return mixing + _WARM_START_FLOOR / mixing.shape[-1]


def weighted_second_derivatives(f, theta, wr, usable):
    """Return ``Σ_ij wr_ij ∂²ℓ_ij`` (k, k) for ``ℓ = f(theta)``, over the ``usable`` entries.

    The model's second derivatives enter the profile Hessian only through this sum: the
    Hessian of the linear functional ``θ ↦ Σ_ij wr_ij ℓ_ij(θ)`` (``wr`` held fixed). It is
    built from k Hessian-vector products (forward over reverse) run one after the other by
    ``lax.map``: ``jax.hessian`` batches them with ``vmap``, which on CPU is 2-3 times slower
    here (k copies of every (rows, m) temporary) and k times larger in memory.
    """
    wr = jax.lax.stop_gradient(wr)

    def functional(th):
        return jnp.sum(jnp.where(usable, wr * f(th), 0.0))

    gradient = jax.grad(functional)
    directions = jnp.eye(theta.shape[0], dtype=theta.dtype)
    return jax.lax.map(lambda v: jax.jvp(gradient, (theta,), (v,))[1], directions)


def chunk_statistics(tangents, second, r, q, row_total, row_weights, *, xp: Any = jnp):
    """Sum, over one chunk of rows, the terms the profile derivatives are assembled from.

    Written against an array namespace ``xp`` (``jax.numpy`` inside the compiled fit,
    ``numpy`` in the host-driven one) so that both engines use the same formulas.

    Parameters
    ----------
    tangents : array of shape (k, rows, m)
        ``T_ijk = ∂_k ℓ_ij`` (zero on entries with ``ℓ_ij = -inf`` or a row weight of zero).
    second : array of shape (k, k)
        ``Σ_ij a_i r_ij ∂²ℓ_ij``.
    r, q : arrays of shape (rows, m)
        Posterior weights ``r_ij`` and ratios ``q_ij = exp(ℓ_ij) / u_i`` (zero where unusable).
    row_total : array of shape (rows,)
        ``a_i``: the row weights summed over groups.
    row_weights : array of shape (rows, G)
        Row weights per group.
    xp : module
        ``jax.numpy`` or ``numpy``.

    Returns
    -------
    tuple
        Gradient ``Σ_i a_i c_i`` (k,), fixed-weights Hessian (k, k), ``B`` per group
        (G, m, k), ``H`` per group (G, m, m), ``d`` per group (G, m) and the per-row
        gradients ``c`` (rows, k).
    """
    k = tangents.shape[0]
    rows, m = q.shape
    num_groups = row_weights.shape[1]
    c = xp.sum(tangents * r[None], axis=-1).T  # (rows, k)
    wr = row_total[:, None] * r
    # Contractions written as plain 2-D matrix products and single-operand reductions:
    # XLA:CPU runs those as GEMMs, while multi-operand einsums over (rows, m) become slow
    # naive loops; and B is built without a (rows, m, k) temporary.
    flat = tangents.reshape(k, -1)
    fixed = (flat * wr.reshape(-1)) @ flat.T - (c * row_total[:, None]).T @ c + second
    cross, gram = [], []
    for g in range(num_groups):
        wq = q * row_weights[:, g : g + 1]
        cross.append(xp.sum(tangents * wq[None], axis=1).T - wq.T @ c)
        gram.append(wq.T @ q)
    return row_total @ c, fixed, xp.stack(cross), xp.stack(gram), row_weights.T @ q, c


def profile_curvature(
    log_lik_fn: Callable[[jax.Array, Any], jax.Array],
    theta: jax.Array,
    data: Any,
    row_weights: jax.Array,
    *,
    init_mixing: jax.Array | None = None,
    row_chunk: Any = "auto",
    solver_options: dict | None = None,
) -> ProfileCurvature:
    """Profile log-likelihood, gradient, exact Hessian and scores, row chunk by row chunk.

    Parameters
    ----------
    log_lik_fn : callable
        ``log_lik_fn(theta, data) -> (rows, m)``. It must act row by row: row ``i`` of the
        output may depend only on row ``i`` of every data leaf that has ``n`` leading rows
        (other leaves are passed whole to every chunk).
    theta : Array of shape (k,)
        Flat parameter vector.
    data : pytree
        Data passed to ``log_lik_fn``.
    row_weights : Array of shape (n, G)
        Row weights per group (see :func:`~._profile.group_weights`).
    init_mixing : Array of shape (G, m), optional
        Warm start for the solver (e.g. the weights at the previous iterate).
    row_chunk : "auto", int or None
        Rows per chunk (``None``: all rows at once).
    solver_options : dict, optional
        Keyword options for :func:`~numpyro_semipar.npmle.mixsqp`.

    Returns
    -------
    ProfileCurvature
    """
    n, num_groups = row_weights.shape
    k = theta.shape[0]
    a = jnp.sum(row_weights, axis=1)
    live = a > 0
    m = jax.eval_shape(log_lik_fn, theta, data).shape[1]
    size = chunk_rows(n, m, k, row_chunk)

    # The full (n, m) matrix, chunk by chunk (the model's own temporaries stay chunk-sized).
    chunked, shared, num_chunks = _split(data, n, size)
    if num_chunks == 1:
        log_lik = log_lik_fn(theta, data)
    else:
        blocks = jax.lax.map(lambda c: log_lik_fn(theta, _merge(c, shared)), chunked)
        log_lik = blocks.reshape((-1, m))[:n]
    # Zero-weight rows get a finite placeholder (they may be -inf everywhere).
    log_lik = jnp.where(live[:, None], log_lik, 0.0)

    options = dict(solver_options or {})
    init = jnp.ones((num_groups, m)) if init_mixing is None else warm_start(init_mixing, jnp)

    def solve(weights_g, init_g):
        masked = jnp.where((weights_g > 0)[:, None], log_lik, 0.0)
        result = mixsqp(masked, weights_g, init_weights=init_g, warn=False, **options)
        return result.mixing_weights, result.kkt_residual

    if num_groups == 1:
        mixing, kkt = solve(row_weights[:, 0], init[0])
        mixing, kkt = mixing[None], kkt[None]
    else:
        mixing, kkt = jax.vmap(solve)(row_weights.T, init)
    mixing = jax.lax.stop_gradient(mixing)

    member = (row_weights > 0).astype(log_lik.dtype)
    log_p_rows = safe_log(member @ mixing)  # (n, m): each row's own group weights
    log_u = logsumexp(log_lik + log_p_rows, axis=1)
    log_u = jnp.where(live, log_u, 0.0)
    loglik = jnp.sum(jnp.where(live, a * log_u, 0.0))

    def chunk_terms(data_c, weights_c, log_p_c, log_u_c):
        a_c = jnp.sum(weights_c, axis=1)
        live_c = a_c > 0

        def f(th):
            return log_lik_fn(th, data_c)

        ell, lin = jax.linearize(f, theta)
        usable = live_c[:, None] & (ell > -jnp.inf)
        ell = jnp.where(live_c[:, None], ell, 0.0)
        tangents = jax.vmap(lin)(jnp.eye(k, dtype=theta.dtype))  # (k, rows, m)
        tangents = jnp.where(usable[None], tangents, 0.0)
        r = jnp.where(usable, jnp.exp(ell + log_p_c - log_u_c[:, None]), 0.0)
        q = jnp.where(usable, ratio_matrix(ell, log_u_c), 0.0)
        second = weighted_second_derivatives(f, theta, a_c[:, None] * r, usable)
        return chunk_statistics(tangents, second, r, q, a_c, weights_c, xp=jnp)

    if num_chunks == 1:
        grad, fixed, cross, gram, d, c = chunk_terms(data, row_weights, log_p_rows, log_u)
    else:
        pad = num_chunks * size - n

        def blocked(x):
            x = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1))
            return x.reshape((num_chunks, size) + x.shape[1:])

        def body(carry, xs):
            data_c, weights_c, log_p_c, log_u_c = xs
            out = chunk_terms(_merge(data_c, shared), weights_c, log_p_c, log_u_c)
            carry = jax.tree.map(jnp.add, carry, out[:-1])
            return carry, out[-1]

        zeros = (
            jnp.zeros(k),
            jnp.zeros((k, k)),
            jnp.zeros((num_groups, m, k)),
            jnp.zeros((num_groups, m, m)),
            jnp.zeros((num_groups, m)),
        )
        xs = (chunked, blocked(row_weights), blocked(log_p_rows), blocked(log_u))
        (grad, fixed, cross, gram, d), c = jax.lax.scan(body, zeros, xs)
        c = c.reshape((-1, k))[:n]

    totals = jnp.sum(row_weights, axis=0)
    support = support_from_gap(mixing, d, totals[:, None], _SUPPORT_GAP)
    dp = jax.vmap(support_solve)(gram, cross, support)  # (G, m, k)
    correction = jnp.einsum("gmk,gml->kl", cross, dp)
    hessian = fixed + correction
    hessian = 0.5 * (hessian + hessian.T)
    q = jnp.where(live[:, None], ratio_matrix(log_lik, log_u), 0.0)
    scores = a[:, None] * c + jnp.einsum("ng,nm,gmk->nk", row_weights, q, dp)
    return ProfileCurvature(
        loglik=loglik,
        mixing_weights=mixing,
        gradient=grad,
        hessian=hessian,
        hessian_known_mixing=0.5 * (fixed + fixed.T),
        scores=scores,
        kkt_residual=jnp.max(kkt),
    )
