"""``mixsqp``: maximum-likelihood mixture weights on a fixed grid, pure JAX, differentiable."""

from __future__ import annotations

import functools
import math
import warnings
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from .._deprecation import renamed_arguments
from .._warnings import ConvergenceWarning
from .._x64 import float64, to_session_dtypes
from ._derivatives import active_support, optimal_value, weights_tangent
from ._mixsqp_numpy import solve_checked as solve_on_host
from ._result import MixSQPResult, SolverStatus, status_message
from ._rowblocks import em_pass, inspect_blocks, make_row_blocks, total_loglik, unblock
from ._sqp import SQPOptions, kkt_residual, sqp_options, sqp_solve
from ._validation import check_problem, problem_arrays

__all__ = ["mixsqp", "choose_rank", "envelope_tangent"]

# "auto" low rank: only for tall matrices (the truncated SVD costs about one Hessian) whose
# numerical rank is at most this fraction of m (below that the low-rank Hessian is cheaper).
_AUTO_MIN_ROWS_PER_COLUMN = 50
_AUTO_MAX_RANK_FRACTION = 0.5
# Rows used to estimate the numerical rank before the solve (the basis itself uses all rows).
_RANK_SAMPLE_ROWS = 4096
# engine="auto" solves concrete problems with at most this many entries (n * m) on the host
# (NumPy/LAPACK, no compilation). Measured on the 2-core CPU (benchmarks/RESULTS.md, issue
# 17): the JAX solver compiles for 1.5-4 s per shape; warm, the host solver matches it up to
# about 2000 x 200 and takes about 0.1 s (twice the JAX time) at 20000 x 50, so at this size a
# user would need some 50 calls of one shape before the compilation paid off. Larger
# problems (where the host is 5x slower warm: 1.7 s against 9 s at 100000 x 100, and the
# low-rank Hessian helps) stay on the compiled solver.
_HOST_MAX_ENTRIES = 1_000_000
_ENGINES = ("auto", "jax", "host")


class _Config(NamedTuple):
    sqp: SQPOptions
    support_gap_tol: float


def _bad_weights(weights: Array) -> Array:
    return jnp.any(~jnp.isfinite(weights) | (weights < 0)) | ~(jnp.sum(weights) > 0)


def envelope_tangent(log_lik, weights, mixing_weights, dlog_lik, dweights) -> Array:
    """Tangent of ``sum_i w_i log sum_j p_j exp(l_ij)`` at optimal ``p`` (envelope theorem).

    The rule of :func:`~numpyro_semipar.npmle._derivatives.optimal_value` (it ignores the
    tangent of ``p``); written as a JVP of that function so that it can be differentiated
    again.
    """
    return jax.jvp(
        lambda ll, w: optimal_value(ll, w, mixing_weights), (log_lik, weights), (dlog_lik, dweights)
    )[1]


@functools.partial(jax.jit, static_argnums=3)
def _solve_impl(log_lik, weights, init, config: _Config):
    # Every pass over the (n, m) matrix is a scan over row blocks of the normalised matrix
    # L (the one (n, m) array the solver allocates): see the notes in _rowblocks.
    n = log_lik.shape[0]
    blocks, rowmax = make_row_blocks(log_lik, weights)
    nonzero, bad_entries = inspect_blocks(blocks)
    x, num_iter, status = sqp_solve(blocks, init, ~nonzero, config.sqp)
    p = x / jnp.sum(x)
    u, d = em_pass(blocks, p)
    kkt = kkt_residual(p, d)
    converged = kkt <= config.sqp.tol
    status = jnp.where(
        converged,
        SolverStatus.CONVERGED,
        jnp.where(status == SolverStatus.CONVERGED, SolverStatus.MAX_ITER, status),
    )
    value = total_loglik(log_lik, weights, rowmax, unblock(u, n), p)
    invalid = bad_entries | _bad_weights(weights)
    p = jnp.where(invalid, jnp.nan, p)
    value = jnp.where(invalid, jnp.nan, value)
    kkt = jnp.where(invalid, jnp.nan, kkt)
    status = jnp.where(invalid, SolverStatus.INVALID_INPUT, status)
    return p, value, num_iter, status.astype(jnp.int32), kkt


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _solve(log_lik, weights, init, config: _Config):
    return _solve_impl(log_lik, weights, init, config)


@_solve.defjvp
def _solve_jvp(config, primals, tangents):
    log_lik, weights, init = primals
    dlog_lik, dweights, _ = tangents
    out = _solve(log_lik, weights, init, config)
    p = out[0]
    support = active_support(log_lik, weights, p, config.support_gap_tol)
    dp = weights_tangent(log_lik, weights, p, dlog_lik, dweights, support)
    dvalue = envelope_tangent(log_lik, weights, p, dlog_lik, dweights)
    int_zero = np.zeros((), dtype=jax.dtypes.float0)
    return out, (dp, dvalue, int_zero, int_zero, jnp.zeros_like(out[4]))


def choose_rank(log_lik, weights=None, *, tol_svd: float = 1e-6) -> int:
    """Numerical rank of the row-normalised likelihood matrix, as used by ``low_rank=True``.

    Counts the singular values of ``exp(l - rowmax)`` (on up to 4096 evenly spaced rows with
    positive weight) that are at least ``tol_svd`` times the largest.

    Parameters
    ----------
    log_lik : array of shape (n, m)
        Log-likelihood matrix (concrete, not traced).
    weights : array of shape (n,), optional
        Row weights; rows of weight zero are ignored.
    tol_svd : float
        Relative singular-value threshold (R mixsqp's ``tol.svd``).

    Returns
    -------
    int
        The rank, between 1 and m.
    """
    values = np.asarray(log_lik)
    # Sample row indices first, so that only the sampled rows are ever copied.
    rows = (
        np.arange(values.shape[0]) if weights is None else np.flatnonzero(np.asarray(weights) > 0)
    )
    step = max(1, rows.size // _RANK_SAMPLE_ROWS)
    sample = values[rows[::step]].astype(np.float64)
    rowmax = np.max(sample, axis=1, keepdims=True)
    rowmax = np.where(np.isfinite(rowmax), rowmax, 0.0)
    s = np.linalg.svd(np.exp(sample - rowmax), compute_uv=False)
    return max(1, int(np.sum(s >= tol_svd * s[0])))


def _resolve_rank(low_rank, log_lik, weights, tol_svd, traced: bool) -> int:
    n, m = np.shape(log_lik)
    if low_rank is False or low_rank is None:
        return 0
    if isinstance(low_rank, bool) or low_rank == "auto":
        if traced:
            if low_rank is True:
                raise ValueError(
                    "low_rank=True chooses the rank from the data, which needs a concrete "
                    "log_lik; under jit/vmap/grad pass an integer rank (low_rank=r) instead"
                )
            return 0
        if low_rank == "auto" and n < _AUTO_MIN_ROWS_PER_COLUMN * m:
            return 0
        rank = choose_rank(log_lik, weights, tol_svd=tol_svd)
        # Round up to a multiple of 8 so nearby ranks share one compiled solver.
        rank = min(m, 8 * math.ceil(rank / 8))
        if low_rank == "auto" and rank > _AUTO_MAX_RANK_FRACTION * m:
            return 0
        return rank
    if isinstance(low_rank, int | np.integer) and 1 <= int(low_rank) <= m:
        return int(low_rank)
    raise ValueError(
        f"low_rank must be 'auto', True, False or an integer rank in [1, {m}]; got {low_rank!r}"
    )


def _on_host(engine: str, traced: bool, low_rank, n: int, m: int) -> bool:
    """Whether this call runs the NumPy solver (see ``engine`` in :func:`mixsqp`)."""
    if engine not in _ENGINES:
        raise ValueError(f"engine must be one of {_ENGINES}; got {engine!r}")
    exact_hessian = low_rank is False or low_rank is None or low_rank == "auto"
    if engine == "host":
        if traced:
            raise TypeError(
                "engine='host' needs concrete arrays; under jit/vmap/grad use engine='auto' "
                "or 'jax'"
            )
        if not exact_hessian:
            raise ValueError(
                f"engine='host' has no low-rank Hessian; got low_rank={low_rank!r} (pass "
                "low_rank=False or 'auto', or engine='jax')"
            )
        return True
    return engine == "auto" and not traced and exact_hessian and n * m <= _HOST_MAX_ENTRIES


@functools.cache
def _blas_controller():
    # Created once (inspecting the loaded BLAS libraries takes about 1 ms); limit() is cheap.
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _host_result(log_lik, weights, init_weights, sqp: SQPOptions) -> MixSQPResult:
    """Solve with the NumPy solver; fields as NumPy arrays of the JAX solver's dtypes.

    NumPy, not JAX, arrays: moving six small results to the device and reading them back
    waits on JAX's runtime threads, which cost more than the whole solve when the CPU is
    busy (median 16-18 ms against 1.8 ms for a 300 x 25 problem on the loaded 2-core machine).
    """
    # One BLAS thread: at these sizes threads gain little on an idle machine and lose badly
    # on a busy one (2000 x 100: 219 ms with OpenBLAS's default threads, 25 ms with one, on the
    # shared 2-core machine).
    with _blas_controller().limit(limits=1, user_api="blas"):
        result = solve_on_host(log_lik, weights, init_weights, sqp)
    dtypes = (np.float64, np.float64, np.bool_, np.int64, np.float64, np.int32)
    return MixSQPResult(*(np.asarray(v, dtype=t) for v, t in zip(result, dtypes, strict=True)))


@renamed_arguments(max_iter="max_steps", max_iter_activeset="max_active_set_steps")
def mixsqp(
    log_lik,
    weights=None,
    *,
    init_weights=None,
    tol: float = 1e-8,
    max_steps: int = 1000,
    max_active_set_steps: int | None = None,
    num_em_iter: int = 10,
    tol_activeset: float = 1e-10,
    zero_threshold_solution: float = 1e-8,
    zero_threshold_searchdir: float = 1e-14,
    sufficient_decrease: float = 0.01,
    step_size_reduce: float = 0.75,
    min_step_size: float = 1e-8,
    low_rank: bool | int | Literal["auto"] = "auto",
    tol_svd: float = 1e-6,
    support_gap_tol: float = 1e-6,
    warn: bool = True,
    engine: Literal["auto", "jax", "host"] = "auto",
) -> MixSQPResult:
    r"""Maximum-likelihood mixture weights on a fixed grid by mixSQP.

    Solves :math:`\max_{p \in \Delta_m} \sum_i w_i \log \sum_j p_j \exp(\ell_{ij})`, the
    Kiefer--Wolfowitz NPMLE of a mixing distribution on a grid of ``m`` points, with the
    sequential-quadratic-programming method of Kim, Carbonetto, Stephens & Anitescu (2020):
    an EM warm start, then Newton steps whose non-negative QP is solved by an active-set
    method, with a backtracking line search. Rows are normalised in log space, so
    log-likelihoods far below the float64 underflow threshold are fine. Convergence is judged
    on the full KKT conditions over all grid points.

    Works under ``jax.jit`` and ``jax.vmap`` (a batch of problems of one shape), and
    is differentiable with respect to ``log_lik`` and ``weights``. The ``loglik`` field is
    differentiated by the envelope theorem (gradient ``w_i r_ij``, with ``r`` the posterior
    responsibilities of :func:`log_responsibilities`) and ``mixing_weights`` by implicit
    differentiation of the KKT conditions on the active support; both rules are themselves
    differentiable, so ``jax.hessian`` of a composite ``theta -> log_lik(theta) -> loglik``
    is exact (away from the points where a grid point enters or leaves the support).

    Parameters
    ----------
    log_lik : array of shape (n, m)
        Log-likelihood :math:`\ell_{ij}` of observation ``i`` at grid point ``j``. Entries may
        be ``-inf`` (zero likelihood) but no row may be ``-inf`` everywhere; NaN and ``+inf``
        are errors.
    weights : array of shape (n,), optional
        Non-negative row weights (frequency weights; zero allowed). Default: all ones.
    init_weights : array of shape (m,), optional
        Starting mixing weights (any positive scale; zeros allowed, e.g. an earlier solution).
        Default: uniform over the grid points with positive likelihood for some row, which
        also replaces a start that gives some positively weighted row zero likelihood.
    tol : float
        Convergence tolerance on the KKT residual (R ``convtol.sqp``).
    max_steps : int
        Maximum number of SQP iterations (R ``maxiter.sqp``).
    max_active_set_steps : int, optional
        Maximum active-set iterations per QP. Default ``m + 1`` (R uses ``min(20, m + 1)``;
        solving each QP fully costs O(m^3) but saves passes over the n x m matrix).
    num_em_iter : int
        EM iterations before SQP starts (R ``numiter.em``).
    tol_activeset : float
        Tolerance on the QP multipliers (R ``convtol.activeset``).
    zero_threshold_solution : float
        Weights below this are set to zero after each step (R ``zero.threshold.solution``),
        except a row's last support: a positively weighted row keeps positive likelihood.
    zero_threshold_searchdir : float
        QP search directions smaller than this count as zero (R ``zero.threshold.searchdir``).
    sufficient_decrease, step_size_reduce, min_step_size : float
        Armijo constant, backtracking factor and smallest step of the line search (R
        ``suffdecr``, ``stepsizereduce``, ``minstepsize``).
    low_rank : {"auto", True, False} or int
        Hessian from a truncated SVD of the likelihood matrix: an integer fixes the rank;
        ``True`` picks it from ``tol_svd``; ``"auto"`` does so when ``n >= 50 m`` and the rank
        is at most ``m / 2``, and uses the exact Hessian otherwise (and always under
        ``jit``/``vmap``/``grad``, where the rank cannot depend on the data). The gradient and
        the convergence test always use the exact matrix, so the solution is as accurate
        either way.
    tol_svd : float
        Relative singular-value threshold for the rank (R ``tol.svd``).
    support_gap_tol : float
        For the derivative of ``mixing_weights``: a grid point with positive weight counts as
        active when ``1 - d_j / sum(w) <= support_gap_tol``.
    warn : bool
        Emit a :class:`~numpyro_semipar.ConvergenceWarning` when the solver did not converge
        (only outside ``jit``/``vmap``, where the flag is concrete).
    engine : {"auto", "jax", "host"}
        ``"jax"``: the compiled solver (the only one under ``jit``/``vmap``/``grad``).
        ``"host"``: the same algorithm in NumPy/LAPACK (exact Hessian), for concrete input
        only; nothing is compiled, so a one-off solve of a small problem takes milliseconds
        instead of the seconds XLA needs to compile the solver for each new shape.
        ``"auto"`` (default): the host solver for concrete input with at most 1,000,000
        entries (``n * m``) and ``low_rank`` ``"auto"`` or ``False``, the compiled one
        otherwise. Both return the same fields with the same dtypes (NumPy arrays from the
        host, JAX arrays from the compiled solver) and the same optimum; their iterates agree
        up to rounding. Pass ``"jax"`` when solving very many
        problems of one shape, where the compiled solver's warm speed pays for its compilation.

    Returns
    -------
    MixSQPResult
        ``mixing_weights``, ``loglik`` (weighted total, weights as given), ``converged``,
        ``num_iter`` (SQP iterations), ``kkt_residual``, ``status`` (see ``message``).

    Notes
    -----
    With 64-bit floats disabled (NumPyro's default), a call on concrete arrays still solves in
    float64: the input is converted on the host (exactly, for float32 input) and the solver
    runs under ``jax.enable_x64``. The result's arrays are then returned in the session's
    dtypes (float32, int32), so that they mix with the rest of a float32 program without
    dtype warnings; ``converged`` and ``kkt_residual`` describe the float64 solve. Float32
    input is the only kind such a session can create, so it draws no precision warning there.
    Inside ``jit``/``vmap``/``grad`` with x64 disabled the solver cannot switch to float64 and
    raises :class:`~numpyro_semipar.Float64RequiredError` at entry; use
    :class:`~numpyro_semipar.distributions.ProfiledMixture` (which solves on the host in that
    case) or call ``numpyro.enable_x64()``.

    Raises
    ------
    ValueError
        Bad shapes; NaN or ``+inf`` entries, rows that are ``-inf`` everywhere, negative or
        non-finite weights (named by row/column; checked when the input is concrete — under
        ``jit`` such input gives ``status == SolverStatus.INVALID_INPUT`` and NaN weights);
        float32 input inside a traced computation with 64-bit floats disabled.

    Warns
    -----
    UserWarning
        ``log_lik`` or ``weights`` is float32 while 64-bit floats are enabled (precision is
        limited by the input; pass float64).
    ConvergenceWarning
        The KKT residual is above ``tol`` at the end.

    Examples
    --------
    >>> import numpy as np
    >>> from numpyro_semipar.npmle import mixsqp
    >>> rng = np.random.default_rng(0)
    >>> data = rng.choice([-2.0, 2.0], size=500) + rng.normal(size=500)
    >>> grid = np.linspace(-4, 4, 41)
    >>> log_lik = -0.5 * (data[:, None] - grid[None, :]) ** 2 - 0.5 * np.log(2 * np.pi)
    >>> res = mixsqp(log_lik)
    >>> bool(res.converged), round(float(res.mixing_weights.sum()), 12)
    (True, 1.0)
    """
    n, m, traced = check_problem(log_lik, weights, init_weights)
    host = _on_host(engine, traced, low_rank, n, m)
    rank = 0 if host else _resolve_rank(low_rank, log_lik, weights, tol_svd, traced)
    config = _Config(
        sqp_options(
            m,
            max_iter=max_steps,
            max_iter_activeset=max_active_set_steps,
            num_em_iter=num_em_iter,
            tol=tol,
            tol_activeset=tol_activeset,
            zero_threshold_solution=zero_threshold_solution,
            zero_threshold_searchdir=zero_threshold_searchdir,
            sufficient_decrease=sufficient_decrease,
            step_size_reduce=step_size_reduce,
            min_step_size=min_step_size,
            rank=rank,
        ),
        float(support_gap_tol),
    )
    with float64():
        if host:
            result = _host_result(log_lik, weights, init_weights, config.sqp)
        else:
            ll, w, init = problem_arrays(log_lik, weights, init_weights)
            p, loglik, num_iter, status, kkt = _solve(ll, w, init, config)
            result = MixSQPResult.from_solver(p, loglik, num_iter, status, kkt)
    if not traced:
        result = to_session_dtypes(result)
    num_iter, kkt = result.num_iter, result.kkt_residual
    if warn and not traced and not bool(result.converged):
        warnings.warn(
            f"mixsqp did not converge: {status_message(result.status)} after "
            f"{int(num_iter)} iterations, KKT residual {float(kkt):.3g} (tol {tol:.3g})",
            ConvergenceWarning,
            stacklevel=2,
        )
    return result
