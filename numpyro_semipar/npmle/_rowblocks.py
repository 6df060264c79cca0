"""Row-normalised likelihood matrix stored in row blocks, and the passes the solvers make over it.

Every solver iteration needs a few reductions over the (n, m) likelihood matrix
``L_ij = exp(log_lik_ij - max_k log_lik_ik)``: ``u = L x``, ``d = L^T (a / u)`` and, for SQP,
``H = L^T diag(a / u^2) L``. Storing ``L`` as ``(num_blocks, block_size, m)`` lets one
``lax.scan`` compute all three while a block is in cache, without any (n, m) temporary
beyond ``L`` itself (so peak memory stays near twice the input matrix).

On CPU, XLA does not fuse an elementwise producer into a reduction over a large array (it
materialises the producer, e.g. an (n, m) boolean for ``jnp.isnan(x).any()``), so every
reduction over an (n, m) quantity here is written as a scan over row blocks.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
from jax import Array, lax

__all__ = [
    "RowBlocks",
    "make_row_blocks",
    "inspect_blocks",
    "matvec",
    "feasible_start",
    "em_pass",
    "newton_pass",
    "safe_ratio",
    "total_loglik",
]

# Rows per block: 4096 rows x 100 columns of float64 is ~3 MB, small enough to stay in cache for
# the fused passes and large enough that the per-block overhead of ``lax.scan`` is negligible.
DEFAULT_BLOCK_SIZE = 4096


class RowBlocks(NamedTuple):
    """The row-normalised likelihood matrix in row blocks.

    Attributes
    ----------
    values : Array of shape (num_blocks, block_size, m)
        ``exp(log_lik - rowmax)``, in [0, 1] with a 1 in every real row; padding rows are 1.
    weights : Array of shape (num_blocks, block_size)
        Row weights normalised to sum to one; 0 for padding rows.
    """

    values: Array
    weights: Array


def block_shape(n: int, block_size: int) -> tuple[int, int]:
    """Return ``(num_blocks, rows_per_block)`` covering ``n`` rows with the least padding."""
    num_blocks = max(1, math.ceil(n / block_size))
    rows = math.ceil(n / num_blocks)
    return num_blocks, rows


def make_row_blocks(
    log_lik: Array, weights: Array, block_size: int = DEFAULT_BLOCK_SIZE
) -> tuple[RowBlocks, Array]:
    """Row-normalise ``log_lik`` in log space and split it into row blocks.

    Parameters
    ----------
    log_lik : Array of shape (n, m)
        Log-likelihood matrix (entries may be ``-inf``).
    weights : Array of shape (n,)
        Non-negative row weights (any scale).
    block_size : int
        Target rows per block.

    Returns
    -------
    blocks : RowBlocks
        The blocked matrix, with weights normalised to sum to one.
    rowmax : Array of shape (n,)
        The per-row maximum that was subtracted (0 for rows that are ``-inf`` everywhere).
    """
    n, m = log_lik.shape
    num_blocks, rows = block_shape(n, block_size)
    pad = num_blocks * rows - n
    rowmax = jnp.max(log_lik, axis=1)
    rowmax = jnp.where(jnp.isfinite(rowmax), rowmax, 0.0)
    # Padding rows get log-likelihood 0 (likelihood 1) and weight 0: they never divide by zero
    # and contribute nothing.
    centred = jnp.pad(log_lik - rowmax[:, None], ((0, pad), (0, 0)))
    values = jnp.exp(centred).reshape(num_blocks, rows, m)
    total = jnp.sum(weights)
    wts = jnp.pad(weights / total, (0, pad)).reshape(num_blocks, rows)
    return RowBlocks(values, wts), rowmax


def inspect_blocks(blocks: RowBlocks) -> tuple[Array, Array]:
    """One pass over ``L``: the columns in play and whether the input was invalid.

    Returns
    -------
    nonzero : Array of shape (m,), bool
        Columns with positive likelihood for some positively weighted row (the others get
        weight zero).
    invalid : Array, bool
        Some entry of ``L`` is not finite (a NaN or ``+inf`` log-likelihood) or some row is
        zero everywhere (a row of ``-inf``; padding rows are ones).
    """
    m = blocks.values.shape[-1]

    def body(carry, blk):
        mass, bad = carry
        values, a = blk
        mass = mass + (a > 0).astype(values.dtype) @ values
        bad = bad | jnp.any(~jnp.isfinite(values)) | jnp.any(jnp.max(values, axis=1) <= 0)
        return (mass, bad), None

    init = (jnp.zeros(m, blocks.values.dtype), jnp.asarray(False))
    (mass, bad), _ = lax.scan(body, init, blocks)
    return mass > 0, bad


# Below this a row's ``u_i = L_i p`` may have lost digits to underflow (its terms are products
# of entries and weights down to the float64 subnormal range): the value is then recomputed
# in log space from ``log_lik``.
_TINY_MARGINAL = 1e-280


def _log_marginal_rows(log_lik: Array, p: Array, block_size: int) -> Array:
    """``log sum_j p_j exp(l_ij)`` per row, by row blocks of ``log_lik`` (no (n, m) temporary).

    Blocks have a fixed size; the last one starts at ``n - block_size`` and overlaps its
    predecessor, so no padded copy of ``log_lik`` is needed.
    """
    n = log_lik.shape[0]
    size = min(block_size, n)
    num_blocks = -(-n // size)
    positive = p > 0
    log_p = jnp.where(positive, jnp.log(jnp.where(positive, p, 1.0)), -jnp.inf)

    def block(k):
        rows = lax.dynamic_slice_in_dim(log_lik, jnp.minimum(k * size, n - size), size)
        z = rows + log_p
        zmax = jnp.max(z, axis=1)
        shift = jnp.where(jnp.isfinite(zmax), zmax, 0.0)
        return shift + jnp.log(jnp.sum(jnp.exp(z - shift[:, None]), axis=1))

    out = lax.map(block, jnp.arange(num_blocks))
    overlap = num_blocks * size - n
    return jnp.concatenate([out[:-1].reshape(-1), out[-1, overlap:]])


def total_loglik(
    log_lik: Array,
    weights: Array,
    rowmax: Array,
    u: Array,
    p: Array,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Array:
    """``sum_i w_i log sum_j p_j exp(l_ij)`` from ``u = L p`` and the row maxima.

    ``log sum_j p_j exp(l_ij) = rowmax_i + log u_i``; only when some positively weighted row
    has ``u_i`` near the underflow threshold is the value recomputed in log space, block by
    block, from ``log_lik`` (at the optimum ``u_i >= w_i / sum(w)``, so this is rare).

    Parameters
    ----------
    log_lik : Array of shape (n, m)
    weights : Array of shape (n,)
        Row weights as given (not normalised); rows of weight zero contribute nothing.
    rowmax : Array of shape (n,)
        Row maxima subtracted by :func:`make_row_blocks`.
    u : Array of shape (n,)
        ``L p`` (unblocked).
    p : Array of shape (m,)
        Mixing weights.
    block_size : int
        Rows per block of the log-space fallback.
    """
    positive = weights > 0

    def total(log_u):
        return jnp.sum(jnp.where(positive, weights * jnp.where(positive, log_u, 0.0), 0.0))

    def from_u(_):
        return total(rowmax + jnp.log(jnp.where(positive, u, 1.0)))

    def in_log_space(_):
        return total(_log_marginal_rows(log_lik, p, block_size))

    tiny = jnp.any(positive & ~(u >= _TINY_MARGINAL))
    return lax.cond(tiny, in_log_space, from_u, None)


def unblock(x: Array, n: int) -> Array:
    """Flatten a ``(num_blocks, block_size)`` array back to its first ``n`` rows."""
    return x.reshape(-1)[:n]


def safe_ratio(a: Array, u: Array) -> Array:
    """Return ``a / u`` where ``a > 0`` and 0 elsewhere (zero-weight rows may have ``u = 0``)."""
    positive = a > 0
    return jnp.where(positive, a / jnp.where(positive, u, 1.0), 0.0)


def matvec(blocks: RowBlocks, x: Array) -> Array:
    """Return ``u = L x`` in block shape ``(num_blocks, block_size)``."""
    return jnp.einsum("kbm,m->kb", blocks.values, x)


def feasible_start(blocks: RowBlocks, x: Array, fixed: Array) -> Array:
    """Return ``x``, or the uniform start over the columns not ``fixed`` if ``x`` is unusable.

    A start that gives some positively weighted row zero likelihood (a warm start from an
    earlier solution whose support misses a new row, or mass only on ``fixed`` columns) makes
    the first EM step ``0 * inf = NaN``; so does one that is not a distribution at all.
    """
    starved = jnp.any((blocks.weights > 0) & ~(matvec(blocks, x) > 0))
    default = jnp.where(fixed, 0.0, 1.0)
    return jnp.where(starved, default / jnp.sum(default), x)


def rmatvec(blocks: RowBlocks, v: Array) -> Array:
    """Return ``L^T v`` for ``v`` in block shape ``(num_blocks, block_size)``.

    A scan over the blocks, as in :func:`em_pass`: one einsum over all of ``L`` makes XLA copy
    it into a layout for the product (a second (n, m) array).
    """
    m = blocks.values.shape[-1]

    def body(total, blk):
        values, v_blk = blk
        return total + v_blk @ values, None

    return lax.scan(body, jnp.zeros(m, blocks.values.dtype), (blocks.values, v))[0]


def em_pass(blocks: RowBlocks, x: Array) -> tuple[Array, Array]:
    """One pass over ``L``: ``u = L x`` and ``d = L^T (a / u)`` (the EM multiplier)."""
    m = blocks.values.shape[-1]

    def body(d, blk):
        values, a = blk
        u = values @ x
        return d + safe_ratio(a, u) @ values, u

    d, u = lax.scan(body, jnp.zeros(m, blocks.values.dtype), blocks)
    return u, d


def newton_pass(blocks: RowBlocks, x: Array) -> tuple[Array, Array, Array]:
    """One pass over ``L``: ``u = L x``, ``d = L^T (a/u)`` and ``H = L^T diag(a/u^2) L``."""
    m = blocks.values.shape[-1]

    def body(carry, blk):
        d, hess = carry
        values, a = blk
        u = values @ x
        c = safe_ratio(a, u)
        d = d + c @ values
        # The barrier keeps XLA from fusing the scaling into the matrix product, which would
        # replace the optimised GEMM by a naive loop (about 5x slower on CPU).
        scaled = lax.optimization_barrier(values * safe_ratio(c, u)[:, None])
        hess = hess + lax.dot_general(scaled, values, (((0,), (0,)), ((), ())))
        return (d, hess), u

    init = (jnp.zeros(m, blocks.values.dtype), jnp.zeros((m, m), blocks.values.dtype))
    (d, hess), u = lax.scan(body, init, blocks)
    return u, d, hess


def lowrank_newton_pass(
    blocks: RowBlocks, basis: Array, projected: Array, x: Array
) -> tuple[Array, Array, Array]:
    """Like :func:`newton_pass` with ``H`` from the projection of ``L`` onto ``basis``.

    ``H ~= V (Z^T diag(a/u^2) Z) V^T`` with ``Z = L V`` (``projected``, computed once) and
    ``V`` (m, r) orthonormal: the Hessian of the truncated-SVD approximation of ``L`` (Kim et
    al. 2020, section 3.3), at O(n r^2) instead of O(n m^2) per iteration. The gradient
    ``d`` stays exact, so only the convergence rate depends on the approximation.
    """
    m = blocks.values.shape[-1]
    r = basis.shape[1]

    def body(carry, blk):
        d, small = carry
        values, a, z = blk
        u = values @ x
        c = safe_ratio(a, u)
        d = d + c @ values
        scaled = lax.optimization_barrier(z * safe_ratio(c, u)[:, None])
        small = small + lax.dot_general(scaled, z, (((0,), (0,)), ((), ())))
        return (d, small), u

    init = (jnp.zeros(m, blocks.values.dtype), jnp.zeros((r, r), blocks.values.dtype))
    (d, small), u = lax.scan(body, init, (blocks.values, blocks.weights, projected))
    return u, d, basis @ small @ basis.T


# Rows used to estimate the right singular vectors of L for the low-rank Hessian: the basis
# only has to span the rows well (it sets the convergence rate, not the answer).
BASIS_SAMPLE_ROWS = 8192


def low_rank_factor(blocks: RowBlocks, rank: int) -> tuple[Array, Array]:
    """Top ``rank`` right singular vectors ``V`` of ``L`` and the projection ``Z = L V``.

    ``V`` comes from the eigendecomposition of ``L_s^T L_s`` over up to 8192 evenly spaced
    rows with positive weight; ``Z`` has shape ``(num_blocks, block_size, rank)``.
    """
    nb, b, m = blocks.values.shape
    step = max(1, (nb * b) // BASIS_SAMPLE_ROWS)
    sample = blocks.values.reshape(nb * b, m)[::step]
    keep = (blocks.weights.reshape(nb * b)[::step] > 0)[:, None]
    sample = jnp.where(keep, sample, 0.0)
    _, vecs = jnp.linalg.eigh(sample.T @ sample)
    basis = vecs[:, ::-1][:, :rank]
    return basis, jnp.einsum("kbm,mr->kbr", blocks.values, basis)
