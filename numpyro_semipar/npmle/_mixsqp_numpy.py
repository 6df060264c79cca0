"""``mixsqp_numpy``: the mixSQP solver of :func:`~._mixsqp.mixsqp` in NumPy, for the host engine.

The JAX :func:`~._mixsqp.mixsqp` is one jitted program: it runs under ``jit``/``vmap`` and is
differentiable, but XLA:CPU compiles each of its fused kernels with LLVM (over a hundred for
mixSQP, about 15 ms each), so a one-off solve spends seconds compiling. The host engine of
``ProfileMLE`` (:mod:`._profile_host`) solves for the mixture weights many times per fit on
concrete arrays and needs no tracing, so it uses this port instead: the same algorithm, step
for step, on float64 NumPy arrays with BLAS doing the (n, m) passes and LAPACK the (m, m)
factorisations, and no compilation at all. Use :func:`~._mixsqp.mixsqp` for anything that has
to be jitted, vmapped or differentiated.

It reproduces ``mixsqp(..., low_rank=False)``: same defaults, status codes, EM warm start,
exact-Hessian SQP iterations, active-set QP (working-set start, Jacobi-scaled ridge Cholesky,
EM-step fallback), Armijo line search and ``zero_small`` repair; the iterates agree with the
JAX solver's up to rounding. Rows of weight zero are dropped before the solve (the JAX solver
carries them with zero weight), which changes only the work done.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack
from scipy.special import logsumexp

from ._active_set import _RIDGE_GROWTH, _RIDGE_MAX_TRIES, _RIDGE_START, _SHRINKING_GRADIENT
from ._result import MixSQPResult, SolverStatus
from ._rowblocks import _TINY_MARGINAL, DEFAULT_BLOCK_SIZE, block_shape
from ._sqp import SQPOptions, sqp_options
from ._validation import check_problem

__all__ = ["mixsqp_numpy"]

_TINY = np.finfo(np.float64).tiny
# Rows per block of the fused GEMV pass (u = L x and d = L^T (a / u) while the block is in
# cache): about 1 MiB of L, the L2 size here; 20 ms instead of 27 ms for 1e5 x 200.
_PASS_BYTES = 1 << 20


class _Problem:
    """The row-normalised likelihood of the positively weighted rows, and what goes with it.

    ``values`` is ``L = exp(log_lik - rowmax)`` over the ``live`` rows only, ``a`` their
    weights normalised to sum to one (over all rows), ``fixed`` the columns with zero
    likelihood for every live row; ``blocks`` and ``pass_blocks`` are the row slices of the
    Hessian's and of the GEMV passes.
    """

    __slots__ = ("values", "a", "sqrt_a", "rowmax", "live", "fixed", "blocks", "pass_blocks")

    def __init__(self, log_lik: np.ndarray, weights: np.ndarray):
        live = np.flatnonzero(weights > 0)
        all_live = live.size == weights.size
        n, m = live.size, log_lik.shape[1]
        self.blocks = _slices(n, DEFAULT_BLOCK_SIZE)
        self.pass_blocks = _slices(n, max(256, _PASS_BYTES // (8 * m)))
        # Normalised block by block into the one (n, m) array the solver keeps, so that the
        # peak is that array plus one block whatever the input's dtype or the rows dropped.
        values = np.empty((n, m))
        rowmax = np.empty(n)
        colmax = np.zeros(m)
        for s in self.blocks:
            raw = log_lik[s] if all_live else log_lik[live[s]]
            out = values[s]
            rowmax[s] = raw.max(axis=1)  # finite: check_problem rejects NaN, +inf, all -inf
            np.subtract(raw, rowmax[s, None], out=out)
            np.exp(out, out=out)
            # XLA:CPU flushes subnormals to zero; so does this port (subnormal operands also
            # slow BLAS down by orders of magnitude).
            np.copyto(out, 0.0, where=out < _TINY)
            np.maximum(colmax, out.max(axis=0), out=colmax)
        self.values, self.rowmax, self.live = values, rowmax, live
        self.a = weights[live] / np.sum(weights)
        self.sqrt_a = np.sqrt(self.a)
        self.fixed = ~(colmax > 0)

    def em_pass(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``u = L x`` and ``d = L^T (a / u)``, by row blocks (GEMVs, no (n, m) temporary)."""
        if len(self.pass_blocks) == 1:
            u = self.values @ x
            return u, (self.a / u) @ self.values
        u = np.empty(self.values.shape[0])
        d = np.zeros(x.size)
        for s in self.pass_blocks:
            block = self.values[s]
            u[s] = block @ x
            d += (self.a[s] / u[s]) @ block
        return u, d

    def hessian(self, u: np.ndarray) -> np.ndarray:
        """``H = L^T diag(a / u^2) L`` as ``S^T S`` (a SYRK) by row blocks of ``S``."""
        scale = self.sqrt_a / u
        m = self.values.shape[1]
        hess = np.zeros((m, m))
        # One buffer for every block: a fresh product per block would hold two at a time.
        buffer = np.empty((self.blocks[0].stop, m))
        for s in self.blocks:
            scaled = np.multiply(self.values[s], scale[s, None], out=buffer[: s.stop - s.start])
            hess += scaled.T @ scaled
        return hess


def _slices(n: int, block_size: int) -> list[slice]:
    num_blocks, rows = block_shape(n, block_size)
    return [slice(k * rows, min((k + 1) * rows, n)) for k in range(num_blocks)]


def _kkt_residual(x: np.ndarray, d: np.ndarray) -> float:
    # The NumPy twin of _sqp.kkt_residual (which would dispatch JAX ops on NumPy input).
    excess = d - 1.0
    on_support = np.abs(excess[x > 0])
    return float(max(np.max(excess, initial=0.0), np.max(on_support, initial=0.0)))


def _zero_small(prob: _Problem, x: np.ndarray, u_lower: np.ndarray, threshold: float):
    """``zero_small`` of :func:`~._sqp.sqp_solve`: zero weights below ``threshold``.

    Never a live row's last support: rows whose lower bound ``u_lower`` on ``L x`` exceeds
    ``m * threshold`` keep mass after zeroing, so the exact repair runs only if some row is
    at risk.
    """
    zeroed = np.where(prob.fixed | (x < threshold), 0.0, x)
    if not np.any(u_lower <= x.size * threshold):
        return zeroed
    broken = ~(prob.values @ zeroed > 0)
    restore = broken.astype(np.float64) @ prob.values > 0
    return np.where(restore & ~prob.fixed, x, zeroed)


class _RidgeCholesky:
    """``_active_set._masked_cholesky_solve``: ``H_FF p_F = rhs_F`` with ``p = 0`` off ``F``.

    The solve is on the Jacobi-scaled ``D^{-1/2} H_FF D^{-1/2}`` (the ridge is then relative to
    each column's own curvature), plus a ridge starting at ``_RIDGE_START`` and growing until
    LAPACK factorises it. Only the free sub-matrix is factored (the JAX version factors the
    full matrix with an identity block elsewhere: the same numbers). The scaled matrix is
    formed once per QP; only a column whose curvature underflowed to zero takes its scale
    from the free set (the largest free diagonal entry), and is rescaled per solve.
    """

    def __init__(self, hess: np.ndarray):
        self.hess = hess
        self.diag = np.diagonal(hess).copy()
        self.curved = self.diag > 0
        inv_sqrt = 1.0 / np.sqrt(np.where(self.curved, self.diag, 1.0))
        self.inv_sqrt = inv_sqrt
        self.scaled = hess * inv_sqrt[:, None] * inv_sqrt[None, :]

    def solve(self, rhs: np.ndarray, free: np.ndarray) -> np.ndarray:
        p = np.zeros_like(rhs)
        idx = np.flatnonzero(free)
        k = idx.size
        if k == 0:
            return p
        inv_sqrt = self.inv_sqrt[idx]
        if self.curved[idx].all():
            mat = self.scaled[idx[:, None], idx]
        else:
            largest = max(float(self.diag[idx].max()), 1e-300)
            scale = np.where(self.curved[idx], self.diag[idx], largest)
            inv_sqrt = 1.0 / np.sqrt(scale)
            mat = self.hess[idx[:, None], idx] * inv_sqrt[:, None] * inv_sqrt[None, :]
        rhs_scaled = rhs[idx] * inv_sqrt
        ridge = _RIDGE_START
        for _ in range(_RIDGE_MAX_TRIES + 1):
            # mat is symmetric, so its transpose is the Fortran-ordered copy LAPACK wants.
            trial = mat.T.copy(order="K")
            trial.flat[:: k + 1] += ridge
            chol, info = lapack.dpotrf(trial, lower=1, overwrite_a=1, clean=0)
            if info == 0 and np.isfinite(np.diagonal(chol)).all():
                sol = lapack.dpotrs(chol, rhs_scaled, lower=1)[0]
                break
            ridge *= _RIDGE_GROWTH
        else:  # never factorised (non-finite input only): the identity, as in the JAX solver
            sol = rhs_scaled
        p[idx] = sol * inv_sqrt
        return p


def _solve_qp(hess, grad, x, fixed, *, max_iter: int, tol: float, zero_searchdir: float):
    """Port of :func:`~._active_set.solve_nonnegative_qp`; returns ``(step, done)``.

    Minimises ``0.5 s^T H s + g^T s`` subject to ``x + s >= 0`` by the primal active-set
    method, starting with the zero coordinates, the fixed ones and those with gradient above
    ``_SHRINKING_GRADIENT`` held at zero; a QP cut short whose step does not descend returns
    the EM step ``-x * g``.
    """
    x = np.where(fixed, 0.0, np.maximum(x, 0.0))
    working = fixed | (x <= 0.0) | (grad > _SHRINKING_GRADIENT)
    releasable = ~fixed
    step = np.where(working, -x, 0.0)
    factor = _RidgeCholesky(hess)
    done = at_minimum = False
    for _ in range(max_iter):
        qgrad = hess @ step + grad
        if at_minimum:
            small = True  # the last step was unblocked: no need to solve again
        else:
            p = factor.solve(-qgrad, ~working)
            small = float(np.max(np.abs(p))) <= zero_searchdir
        if small:
            # Minimal over the free set: release the working coordinate with the most
            # negative multiplier (the QP gradient there), or stop if none is negative.
            lam = np.where(working & releasable, qgrad, np.inf)
            j = int(np.argmin(lam))
            if lam[j] >= -tol:
                done = True
                break
            working[j] = False
            at_minimum = False
            continue
        # Go towards the free-set minimiser as far as feasibility allows.
        decreasing = ~working & (p < 0)
        ratio = np.full_like(p, np.inf)
        ratio[decreasing] = -(x[decreasing] + step[decreasing]) / p[decreasing]
        k = int(np.argmin(ratio))
        blocked = ratio[k] < 1.0
        step = np.maximum(step + (ratio[k] if blocked else 1.0) * p, -x)
        if blocked:
            step[k] = -x[k]
            working[k] = True
        at_minimum = not blocked
    if not done and not (grad @ step < 0.0):
        step = -x * grad
    return step, done


def _objective_change(a, inv_u, l_dir, sum_step, alpha):
    # _sqp._objective_change: f(x + alpha s) - f(x) with log1p, so that a tiny change is
    # not lost to cancellation between two values of order one.
    arg = np.maximum(alpha * (inv_u * l_dir), -1.0)
    return float(-(a @ np.log1p(arg)) + alpha * sum_step)


def _sqp(prob: _Problem, x0: np.ndarray, opt: SQPOptions) -> tuple[np.ndarray, int, int]:
    """Run the loop of :func:`~._sqp.sqp_solve` (exact Hessian): ``(x, num_iter, status)``."""
    x = np.where(prob.fixed, 0.0, x0)
    x = x / np.sum(x)
    # A start that gives some row zero likelihood (all its mass on fixed columns, or zeros on
    # a row's whole support: a warm start after the likelihood moved) makes the first EM step
    # 0 * inf = NaN: as in the JAX solver (_rowblocks.feasible_start), it is replaced by the
    # default start, uniform over the columns in play.
    u, d = prob.em_pass(x)
    if not np.all(u > 0):
        x = np.where(prob.fixed, 0.0, 1.0 / np.count_nonzero(~prob.fixed))
        u, d = prob.em_pass(x)
    for _ in range(opt.num_em_iter):
        x = x * d
        u, d = prob.em_pass(x)
    x = _zero_small(prob, x, u, opt.zero_threshold_solution)
    if opt.max_iter <= 0:
        return x, 0, SolverStatus.MAX_ITER
    c = opt.sufficient_decrease
    num_iter = 0
    while True:
        # The gradient first: the Hessian (the O(n m^2) part) is not needed once converged.
        u, d = prob.em_pass(x)
        if _kkt_residual(x, d) <= opt.tol:
            return x, num_iter, SolverStatus.CONVERGED
        grad = 1.0 - d
        direction, _ = _solve_qp(
            prob.hessian(u),
            grad,
            x,
            prob.fixed,
            max_iter=opt.max_iter_activeset,
            tol=opt.tol_activeset,
            zero_searchdir=opt.zero_threshold_searchdir,
        )
        slope = float(grad @ direction)
        l_dir = prob.values @ direction
        sum_step = float(np.sum(direction))
        inv_u = 1.0 / u
        alpha = 1.0
        delta = _objective_change(prob.a, inv_u, l_dir, sum_step, alpha)
        while not (delta <= c * alpha * slope) and alpha >= opt.min_step_size:
            alpha *= opt.step_size_reduce
            delta = _objective_change(prob.a, inv_u, l_dir, sum_step, alpha)
        num_iter += 1
        if not (delta <= c * alpha * slope and slope < 0):
            return x, num_iter, SolverStatus.LINE_SEARCH_FAILED
        # Clipping at zero only raises L x above u + alpha L s: a lower bound.
        x_step = np.maximum(x + alpha * direction, 0.0)
        x = _zero_small(prob, x_step, u + alpha * l_dir, opt.zero_threshold_solution)
        if num_iter >= opt.max_iter:
            return x, num_iter, SolverStatus.MAX_ITER


def _total_loglik(log_lik, weights, prob: _Problem, u: np.ndarray, p: np.ndarray) -> float:
    """``sum_i w_i log sum_j p_j exp(l_ij)``, as :func:`~._rowblocks.total_loglik`.

    From ``rowmax + log u``, unless some ``u_i`` is so small that it may have lost digits to
    underflow: then all rows are recomputed in log space from ``log_lik``, block by block.
    """
    if np.all(u >= _TINY_MARGINAL):
        log_u = prob.rowmax + np.log(u)
    else:
        support = np.flatnonzero(p > 0)
        log_p = np.log(p[support])
        log_u = np.empty_like(u)
        for s in prob.blocks:
            rows = log_lik[prob.live[s]][:, support]
            log_u[s] = logsumexp(rows + log_p, axis=1)
    return float(weights[prob.live] @ log_u)


def mixsqp_numpy(log_lik, weights=None, *, init_weights=None, **options) -> MixSQPResult:
    r"""Maximum-likelihood mixture weights on a fixed grid by mixSQP, in NumPy.

    Solves :math:`\max_{p \in \Delta_m} \sum_i w_i \log \sum_j p_j \exp(\ell_{ij})` exactly
    as :func:`~numpyro_semipar.npmle.mixsqp` with ``low_rank=False`` does (see there for the
    method and the options), on concrete arrays and without any JAX compilation: the solver
    of the host engine. It cannot be jitted, vmapped or differentiated.

    Parameters
    ----------
    log_lik : array of shape (n, m)
        Log-likelihood matrix; entries may be ``-inf`` but no row may be ``-inf`` everywhere;
        NaN and ``+inf`` are errors.
    weights : array of shape (n,), optional
        Non-negative row weights; rows of weight zero are dropped. Default: all ones.
    init_weights : array of shape (m,), optional
        Starting mixing weights (any positive scale). Default: uniform over the grid points
        with positive likelihood for some row.
    **options
        The solver options of :func:`~numpyro_semipar.npmle.mixsqp`, with the same defaults:
        ``tol``, ``max_iter``, ``max_iter_activeset`` (default ``m + 1``), ``num_em_iter``,
        ``tol_activeset``, ``zero_threshold_solution``, ``zero_threshold_searchdir``,
        ``sufficient_decrease``, ``step_size_reduce``, ``min_step_size``. There is no
        low-rank Hessian.

    Returns
    -------
    MixSQPResult
        With NumPy values: ``mixing_weights`` a float64 array summing to one, ``loglik`` and
        ``kkt_residual`` floats (``loglik`` with the weights as given), ``converged`` a bool,
        ``num_iter`` and ``status`` ints. No warning is issued when it did not converge.

    Raises
    ------
    ValueError
        Bad shapes; NaN or ``+inf`` entries, rows that are ``-inf`` everywhere, negative or
        non-finite weights (named by row/column).
    TypeError
        Traced (JAX) input: use :func:`~numpyro_semipar.npmle.mixsqp` there; an unknown
        option, or ``rank``.
    """
    n, m, traced = check_problem(log_lik, weights, init_weights)
    if traced:
        raise TypeError("mixsqp_numpy needs concrete arrays; under jit/vmap/grad use mixsqp")
    if "rank" in options:
        raise TypeError("mixsqp_numpy has no low-rank Hessian (option 'rank')")
    return solve_checked(log_lik, weights, init_weights, sqp_options(m, **options))


def solve_checked(log_lik, weights, init_weights, opt: SQPOptions) -> MixSQPResult:
    """:func:`mixsqp_numpy` on inputs that :func:`~._validation.check_problem` accepted.

    The host engine of :func:`~._mixsqp.mixsqp` calls this directly, so that the inputs are
    checked once. ``opt`` must have ``rank == 0`` (exact Hessian).
    """
    n, m = np.shape(log_lik)
    log_lik = np.asarray(log_lik)  # no copy; converted to float64 block by block
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    x0 = np.ones(m) if init_weights is None else np.asarray(init_weights, dtype=np.float64)
    # log1p(-1) in the line search (a step that empties a row) and a / u^2 overflowing for a
    # row of negligible likelihood give infinities that the algorithm handles, as the JAX
    # solver does without warnings.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        prob = _Problem(log_lik, w)
        x, num_iter, status = _sqp(prob, x0, opt)
        p = x / np.sum(x)
        u, d = prob.em_pass(p)
        kkt = _kkt_residual(p, d)
        value = _total_loglik(log_lik, w, prob, u, p)
    if kkt <= opt.tol:
        status = SolverStatus.CONVERGED
    elif status == SolverStatus.CONVERGED:
        status = SolverStatus.MAX_ITER
    return MixSQPResult.from_solver(p, value, num_iter, int(status), kkt)
