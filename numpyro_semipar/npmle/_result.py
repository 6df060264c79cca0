"""Result type and status codes shared by :func:`mixsqp` and :func:`em`."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from jax import Array

__all__ = ["MixSQPResult", "SolverStatus", "status_message"]


class SolverStatus:
    """Integer status codes reported in :attr:`MixSQPResult.status`.

    Attributes
    ----------
    CONVERGED : int
        The full KKT conditions hold to the tolerance.
    MAX_ITER : int
        The iteration limit was reached first.
    LINE_SEARCH_FAILED : int
        The backtracking line search found no sufficient decrease above the minimum step
        (the iterate is usually optimal to rounding; see ``kkt_residual``).
    INVALID_INPUT : int
        Non-finite input detected inside a traced computation (NaN or ``+inf`` entries, a row
        that is ``-inf`` everywhere, bad weights); outside ``jit`` such input raises instead.
    """

    CONVERGED = 0
    MAX_ITER = 1
    LINE_SEARCH_FAILED = 2
    INVALID_INPUT = 3


_MESSAGES = {
    SolverStatus.CONVERGED: "converged: KKT conditions hold over all coordinates",
    SolverStatus.MAX_ITER: "maximum number of iterations reached before convergence",
    SolverStatus.LINE_SEARCH_FAILED: "line search found no sufficient decrease",
    SolverStatus.INVALID_INPUT: "invalid input: NaN/+inf entries, an all -inf row or bad weights",
}


def status_message(status) -> str | list[str]:
    """Translate a status code (or an array of them, e.g. from ``vmap``) to text."""
    codes = np.asarray(status)
    if codes.ndim == 0:
        return _MESSAGES.get(int(codes), f"unknown status {int(codes)}")
    return [status_message(c) for c in codes.reshape(-1)]


class MixSQPResult(NamedTuple):
    """Solution of the mixture-weights problem ``max_p sum_i w_i log sum_j p_j exp(l_ij)``.

    A NamedTuple, hence a JAX pytree: results of ``jax.vmap(mixsqp)`` carry a leading batch
    axis on every field.

    Attributes
    ----------
    mixing_weights : Array of shape (m,)
        The optimal weights ``p`` (non-negative, summing to one).
    loglik : Array
        Total weighted log-likelihood ``sum_i w_i log sum_j p_j exp(l_ij)`` at ``p``, with the
        weights as given (not normalised; all ones by default).
    converged : Array, bool
        Whether the full KKT conditions hold to the tolerance.
    num_iter : Array, int
        Outer iterations taken (SQP iterations for :func:`mixsqp`, EM steps for :func:`em`).
    kkt_residual : Array
        ``max(max_j (d_j - 1)_+, max_{j: p_j > 0} |d_j - 1|)`` with
        ``d_j = sum_i a_i exp(l_ij) / sum_k p_k exp(l_ik)`` and ``a`` the weights normalised to
        sum to one: zero exactly at the optimum.
    status : Array, int
        A :class:`SolverStatus` code; :attr:`message` gives it in words.
    """

    mixing_weights: Array
    loglik: Array
    converged: Array
    num_iter: Array
    kkt_residual: Array
    status: Array

    @property
    def message(self) -> str | list[str]:
        """Solver status in words (a list for batched results)."""
        return status_message(self.status)

    @classmethod
    def from_solver(cls, mixing_weights, loglik, num_iter, status, kkt_residual) -> MixSQPResult:
        """Assemble a result from a solver's outputs (``converged`` derived from ``status``)."""
        return cls(
            mixing_weights=mixing_weights,
            loglik=loglik,
            converged=status == SolverStatus.CONVERGED,
            num_iter=num_iter,
            kkt_residual=kkt_residual,
            status=status,
        )
