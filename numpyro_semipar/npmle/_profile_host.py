"""Profile log-likelihood and its derivatives with the solver on the host (NumPy).

:func:`~._profile_derivatives.profile_curvature` is pure JAX, so a fit built on it is one
compiled program. On CPU that program costs seconds to compile: XLA compiles every fused
kernel with LLVM, about 15 ms each, and mixSQP's loops alone make over a hundred kernels. For
one fit that compilation dominates the run time, so :func:`profile_curvature_host` does the
same computation with the mixture weights solved by :func:`~._mixsqp_numpy.mixsqp_numpy` and
every sum assembled in NumPy; only the model's own log-likelihood and derivatives are compiled
(two small programs, passed in as callables). The formulas are the shared
:func:`~._profile_derivatives.chunk_statistics` and
:func:`~._derivatives.support_solve`, so both engines compute the same quantities.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
import scipy.linalg
from scipy.special import logsumexp

from ._derivatives import _MAX_EXPONENT, support_solve
from ._mixsqp_numpy import mixsqp_numpy
from ._profile_derivatives import _SUPPORT_GAP, ProfileCurvature, chunk_statistics, warm_start
from ._rowblocks import _TINY_MARGINAL

__all__ = ["ModelPrograms", "RowChunks", "split_rows", "profile_curvature_host"]


class ModelPrograms(NamedTuple):
    """The model's compiled pieces, called once per chunk of rows.

    Attributes
    ----------
    log_lik : callable
        ``log_lik(theta, data_chunk) -> (rows, m)`` log-likelihood matrix.
    derivatives : callable
        ``derivatives(theta, data_chunk, wr) -> (tangents, second)``: the forward-mode
        Jacobian ``(k, rows, m)`` of the chunk's log-likelihoods and
        ``Σ_ij wr_ij ∂²ℓ_ij`` (k, k) over the entries with ``ℓ_ij > -inf``.
    """

    log_lik: Callable[[Any, Any], Any]
    derivatives: Callable[[Any, Any, Any], Any]


class RowChunks(NamedTuple):
    """The data split into equal chunks of rows (the last one padded by repeating its row).

    Attributes
    ----------
    data : list of pytrees
        One data pytree per chunk; leaves without ``n`` leading rows are shared.
    size : int
        Rows per chunk.
    num_rows : int
        ``n``, the rows before padding.
    """

    data: list
    size: int
    num_rows: int


def split_rows(data: Any, num_rows: int, size: int) -> RowChunks:
    """Split the leaves with ``num_rows`` leading rows into chunks of ``size`` rows, in NumPy.

    The split happens on the host: eager JAX indexing would compile a program per shape.
    """
    num_chunks = math.ceil(num_rows / size)
    if num_chunks == 1:
        return RowChunks([data], num_rows, num_rows)
    pad = num_chunks * size - num_rows

    def rows(x):
        return hasattr(x, "shape") and len(x.shape) >= 1 and x.shape[0] == num_rows

    def chunk(x, c):
        if not rows(x):
            return x
        x = np.asarray(x)
        if pad:
            x = np.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1), mode="edge")
        return x[c * size : (c + 1) * size]

    chunks = [jax.tree.map(lambda x, c=c: chunk(x, c), data) for c in range(num_chunks)]
    return RowChunks(chunks, size, num_rows)


def _padded(x: np.ndarray, rows: int) -> np.ndarray:
    if x.shape[0] == rows:
        return x
    return np.pad(x, [(0, rows - x.shape[0])] + [(0, 0)] * (x.ndim - 1))


def _posterior(log_lik, p_rows, usable):
    """Return ``log u_i``, ``r_ij = p_ij exp(ℓ_ij) / u_i`` and ``q_ij = exp(ℓ_ij) / u_i``.

    ``r`` and ``q`` are zero off ``usable``. One exponential of the row-normalised matrix
    replaces the three of a log-space computation; rows with a tiny marginal are redone in log
    space.
    """
    rowmax = np.max(log_lik, axis=1)
    rowmax = np.where(np.isfinite(rowmax), rowmax, 0.0)
    scaled = np.exp(log_lik - rowmax[:, None])
    u = np.einsum("ij,ij->i", scaled, p_rows)
    # Rows whose scaled marginal may have lost digits to underflow (outliers far from the
    # fitted support) are redone in log space.
    tiny = ~(u >= _TINY_MARGINAL)
    with np.errstate(divide="ignore"):
        log_u = rowmax + np.log(u)
        q = scaled / np.where(tiny, 1.0, u)[:, None]
    if np.any(tiny):
        rows = np.flatnonzero(tiny)
        with np.errstate(divide="ignore"):
            log_u[rows] = logsumexp(log_lik[rows] + np.log(p_rows[rows]), axis=1)
        finite = np.isfinite(log_u[rows])[:, None]
        expo = np.where(finite, log_lik[rows] - log_u[rows, None], -np.inf)
        q[rows] = np.exp(np.minimum(expo, _MAX_EXPONENT))
    q = np.where(usable, q, 0.0)
    return log_u, p_rows * q, q


def profile_curvature_host(
    programs: ModelPrograms,
    theta: np.ndarray,
    chunks: RowChunks,
    row_weights: np.ndarray,
    *,
    init_mixing: np.ndarray | None = None,
    solver_options: dict | None = None,
) -> ProfileCurvature:
    """Profile log-likelihood, gradient, exact Hessian and scores, with a NumPy solver.

    The same quantities as :func:`~._profile_derivatives.profile_curvature` (see its
    docstring for the formulas), as NumPy arrays.

    Parameters
    ----------
    programs : ModelPrograms
        The model's compiled log-likelihood and derivative programs.
    theta : ndarray of shape (k,)
        Flat parameter vector.
    chunks : RowChunks
        The data in chunks of rows (:func:`split_rows`).
    row_weights : ndarray of shape (n, G)
        Row weights per group (see :func:`~._profile.group_weights`).
    init_mixing : ndarray of shape (G, m), optional
        Warm start for the solver (e.g. the weights at the previous iterate).
    solver_options : dict, optional
        Keyword options for :func:`~._mixsqp_numpy.mixsqp_numpy`.

    Returns
    -------
    ProfileCurvature
        With NumPy arrays.
    """
    n, num_groups = row_weights.shape
    size = chunks.size
    a = row_weights.sum(axis=1)
    live = a > 0
    log_lik = np.concatenate([np.asarray(programs.log_lik(theta, c)) for c in chunks.data])[:n]
    # Zero-weight rows get a finite placeholder (they may be -inf everywhere).
    log_lik = np.where(live[:, None], log_lik, 0.0)
    m = log_lik.shape[1]

    options = dict(solver_options or {})
    init = np.ones((num_groups, m)) if init_mixing is None else warm_start(init_mixing, np)
    mixing = np.empty((num_groups, m))
    kkt = np.empty(num_groups)
    for g in range(num_groups):
        # No masking of the other groups' rows (as the JAX engine needs): mixsqp_numpy drops
        # rows of weight zero before it looks at them.
        result = mixsqp_numpy(log_lik, row_weights[:, g], init_weights=init[g], **options)
        mixing[g], kkt[g] = result.mixing_weights, result.kkt_residual

    member = (row_weights > 0).astype(np.float64)
    usable = live[:, None] & (log_lik > -np.inf)
    log_u, r, q = _posterior(log_lik, member @ mixing, usable)
    log_u = np.where(live, log_u, 0.0)
    loglik = float(np.sum(np.where(live, a * log_u, 0.0)))
    wr = a[:, None] * r

    k = theta.shape[0]
    totals = [np.zeros(k), np.zeros((k, k)), np.zeros((num_groups, m, k))]
    totals += [np.zeros((num_groups, m, m)), np.zeros((num_groups, m))]
    rows_c = []
    for index, data_c in enumerate(chunks.data):
        rows = slice(index * size, min((index + 1) * size, n))
        count = rows.stop - rows.start
        tangents, second = programs.derivatives(theta, data_c, _padded(wr[rows], size))
        tangents = np.where(usable[rows][None], np.asarray(tangents)[:, :count], 0.0)
        stats = chunk_statistics(
            tangents, np.asarray(second), r[rows], q[rows], a[rows], row_weights[rows], xp=np
        )
        for total, term in zip(totals, stats[:-1], strict=True):
            total += term
        rows_c.append(stats[-1])
    grad, fixed, cross, gram, d = totals
    c = np.concatenate(rows_c)

    group_totals = row_weights.sum(axis=0)
    support = (mixing > 0) & (d >= group_totals[:, None] * (1.0 - _SUPPORT_GAP))
    dp = np.stack(
        [
            support_solve(gram[g], cross[g], support[g], xp=np, linalg=scipy.linalg)
            for g in range(num_groups)
        ]
    )
    hessian = fixed + np.einsum("gmk,gml->kl", cross, dp)
    scores = a[:, None] * c
    for g in range(num_groups):
        scores += (q * row_weights[:, g : g + 1]) @ dp[g]
    return ProfileCurvature(
        loglik=np.asarray(loglik),
        mixing_weights=mixing,
        gradient=grad,
        hessian=0.5 * (hessian + hessian.T),
        hessian_known_mixing=0.5 * (fixed + fixed.T),
        scores=scores,
        kkt_residual=np.asarray(np.max(kkt)),
    )
