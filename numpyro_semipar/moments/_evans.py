"""Evans' textbook standard errors, for reproduction and comparison only.

Evans, "Computational Methods for Economists using Python" (SMM chapter) reports
``SE = sqrt(diag((1/S) inv(dᵀ W d)))`` with d a central-difference Jacobian of the percent
errors (step ``1e-4 θ``). That is only the variance due to simulation noise: the sampling
variance of the data moments is missing, so the SEs are too small by about √(S + 1), and with an
identity weight the formula is not a variance at all. Use the estimators' ``cov`` for inference.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["central_difference_jacobian", "evans_std_errors"]


def central_difference_jacobian(fun: Callable, x, *, rel_step: float = 1e-4) -> np.ndarray:
    """Central-difference Jacobian with steps ``rel_step * x`` (Evans' choice).

    Parameters
    ----------
    fun : callable
        ``(K,) -> (R,)`` function.
    x : array of shape (K,)
        Point (no entry may be zero, as the step is relative).
    rel_step : float
        Relative step.

    Returns
    -------
    array of shape (R, K)
    """
    x = np.asarray(x, dtype=np.float64)
    if np.any(x == 0.0):
        raise ValueError(f"relative steps need non-zero parameters, got {x.tolist()}")
    cols = []
    for k in range(x.size):
        h = rel_step * x[k]
        up, down = x.copy(), x.copy()
        up[k] += h
        down[k] -= h
        cols.append((np.asarray(fun(up)) - np.asarray(fun(down))) / (2.0 * h))
    return np.stack(cols, axis=1)


def evans_std_errors(
    error_fn: Callable, params, weight, num_sims: int, *, rel_step: float = 1e-4
) -> np.ndarray:
    """Evans' SMM standard errors ``sqrt(diag((1/S) inv(dᵀWd)))``.

    Parameters
    ----------
    error_fn : callable
        ``(K,) -> (R,)`` moment error vector (percent errors in the book).
    params : array of shape (K,)
        Parameter vector.
    weight : array of shape (R, R)
        Weighting matrix.
    num_sims : int
        S.
    rel_step : float
        Relative central-difference step (1e-4 in the book).

    Returns
    -------
    array of shape (K,)
        The book's standard errors. These understate the sampling uncertainty (see the module
        docstring); they are provided to reproduce published numbers only.
    """
    d = central_difference_jacobian(error_fn, params, rel_step=rel_step)
    w = np.asarray(weight, dtype=np.float64)
    cov = np.linalg.inv(d.T @ w @ d) / float(num_sims)
    return np.sqrt(np.diag(cov))
