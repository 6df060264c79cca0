"""Input checks for the NPMLE solvers: clear errors that name the argument, row or column.

Value checks (NaN, ``+inf``, rows that are ``-inf`` everywhere, negative weights) need
concrete arrays; under ``jit``/``vmap``/``grad`` only shapes and dtypes are checked here and the
solvers report invalid values through their status code instead.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .._x64 import require_x64, x64_enabled

__all__ = [
    "check_init_weights",
    "check_log_lik",
    "check_problem",
    "check_weights",
    "is_traced",
    "problem_arrays",
]


def is_traced(*arrays) -> bool:
    """Whether any argument is a JAX tracer (inside ``jit``, ``vmap``, ``grad``...)."""
    return any(isinstance(x, jax.core.Tracer) for x in arrays)


def _first_index(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _check_float_dtype(x, name: str) -> None:
    dtype = np.dtype(x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype)
    if np.issubdtype(dtype, np.complexfloating):
        raise TypeError(f"{name} must be real; got dtype {dtype}")
    if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise TypeError(f"{name} must be a numeric array; got dtype {dtype}")
    if np.issubdtype(dtype, np.floating) and dtype.itemsize < 8:
        if is_traced(x):
            # Inside jit/vmap/grad the solver cannot switch to float64 by itself.
            require_x64(f"the NPMLE solver (traced {name} of dtype {dtype})")
        if not x64_enabled():
            # A float32 session can create nothing else; the solver converts it on the host.
            return
        warnings.warn(
            f"{name} has dtype {dtype}: its entries carry only about "
            f"{np.finfo(dtype).precision} significant digits. The solver computes in float64, "
            "but the solution cannot be more accurate than its input; pass a float64 array "
            "(a numpy array, or a JAX array created with x64 enabled).",
            UserWarning,
            stacklevel=4,
        )


def check_log_lik(log_lik, name: str = "log_lik"):
    """Check shape, dtype and (when concrete) values of a log-likelihood matrix.

    Raises
    ------
    ValueError
        Wrong rank or an empty dimension; a NaN or ``+inf`` entry (named by row and column);
        a row that is ``-inf`` in every column (the problem is then infeasible).
    TypeError
        Complex or non-numeric dtype.
    """
    shape = np.shape(log_lik)
    if len(shape) != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n, m); got shape {shape}")
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column; got shape {shape}")
    _check_float_dtype(log_lik, name)
    if is_traced(log_lik):
        return
    values = np.asarray(log_lik)  # no copy for numpy or (CPU) JAX arrays
    # One reduction, no (n, m) temporary: numpy's max propagates NaN, so a row's maximum is
    # finite unless the row holds a NaN or +inf or is -inf everywhere; only such rows are
    # then inspected entry by entry.
    rows = np.flatnonzero(~np.isfinite(values.max(axis=1)))
    if rows.size == 0:
        return
    suspect = values[rows].astype(np.float64)
    if np.isnan(suspect).any():
        k, j = _first_index(np.isnan(suspect))
        i = int(rows[k])
        raise ValueError(f"{name}[{i}, {j}] is NaN (row {i}, column {j})")
    if np.isposinf(suspect).any():
        k, j = _first_index(np.isposinf(suspect))
        i = int(rows[k])
        raise ValueError(
            f"{name}[{i}, {j}] is +inf (row {i}, column {j}); likelihoods must be finite"
        )
    i = int(rows[0])
    raise ValueError(
        f"row {i} of {name} is -inf in every column (zero likelihood under every grid "
        "point): no mixing distribution on this grid gives it positive likelihood"
    )


def check_weights(weights, n: int, name: str = "weights"):
    """Check row weights: shape ``(n,)``, finite, non-negative, not all zero."""
    shape = np.shape(weights)
    if shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one weight per row; got shape {shape}")
    _check_float_dtype(weights, name)
    if is_traced(weights):
        return
    values = np.asarray(weights, dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}[{i}] = {values[i]} is not finite")
    if (values < 0).any():
        i = int(np.argmax(values < 0))
        raise ValueError(f"{name}[{i}] = {values[i]} is negative; weights must be >= 0")
    if not (values > 0).any():
        raise ValueError(f"{name} are all zero: at least one row needs positive weight")


def check_init_weights(init, m: int, name: str = "init_weights"):
    """Check starting weights: shape ``(m,)``, finite, non-negative, positive sum."""
    shape = np.shape(init)
    if shape != (m,):
        raise ValueError(f"{name} must have shape ({m},), one weight per column; got {shape}")
    _check_float_dtype(init, name)
    if is_traced(init):
        return
    values = np.asarray(init, dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        j = int(np.argmax(bad))
        raise ValueError(f"{name}[{j}] = {values[j]} must be finite and non-negative")
    if not (values > 0).any():
        raise ValueError(f"{name} must have a positive entry")


def as_float64(x):
    """Convert to a float64 JAX array (call inside :func:`numpyro_semipar.float64`)."""
    return jnp.asarray(x, dtype=jnp.float64)


def check_problem(log_lik, weights, init_weights) -> tuple[int, int, bool]:
    """Validate a solver's inputs; return ``(n, m, traced)``."""
    check_log_lik(log_lik)
    n, m = np.shape(log_lik)
    if weights is not None:
        check_weights(weights, n)
    if init_weights is not None:
        check_init_weights(init_weights, m)
    return n, m, is_traced(log_lik, weights, init_weights)


def problem_arrays(log_lik, weights, init_weights):
    """float64 ``(log_lik, weights, init_weights)`` with unit defaults (call under x64)."""
    n, m = np.shape(log_lik)
    w = jnp.ones(n, jnp.float64) if weights is None else as_float64(weights)
    init = jnp.ones(m, jnp.float64) if init_weights is None else as_float64(init_weights)
    return as_float64(log_lik), w, init
