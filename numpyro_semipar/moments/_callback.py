"""Simulators written outside JAX (NumPy, numba), evaluated through ``jax.pure_callback``.

Dynamic-programming models are often simulated by NumPy or numba code. Wrapping such a
function in :class:`CallbackSimulator` lets the SMM and indirect-inference estimators call it
from JAX code: all S simulated data sets are produced by one callback (vectorised over the
draws). Callbacks have no derivative, so estimators switch to derivative-free optimisation or to
finite differences with steps scaled to the parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._host_callback import pure_callback

__all__ = ["CallbackSimulator"]


class CallbackSimulator:
    """A NumPy/numba simulator usable wherever a JAX simulator is expected.

    Parameters
    ----------
    fn : callable
        ``fn(params, draws_s) -> data set`` with NumPy inputs (``params`` a dict of NumPy arrays,
        ``draws_s`` one slice of the draws); or, with ``vectorized=True``,
        ``fn(params, draws) -> stacked data sets`` with a leading S axis.
    result_shape : tuple of int or jax.ShapeDtypeStruct
        Shape of ONE simulated data set (float64).
    vectorized : bool
        Whether ``fn`` already handles the leading S axis (a numba ``prange`` loop, say).

    Examples
    --------
    >>> def simulate_np(params, u):  # NumPy / scipy code
    ...     return scipy.stats.norm.ppf(u, params["mu"], params["sigma"])
    >>> simulator = CallbackSimulator(simulate_np, result_shape=(161,))  # doctest: +SKIP
    >>> SMM(simulator, moments, draws)  # doctest: +SKIP
    """

    def __init__(self, fn: Callable, result_shape, *, vectorized: bool = False) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        if isinstance(result_shape, jax.ShapeDtypeStruct):
            result_shape = result_shape.shape
        self.fn = fn
        self.result_shape = tuple(int(s) for s in result_shape)
        self.vectorized = bool(vectorized)

    def _run_all(self, params, draws) -> np.ndarray:
        params = jax.tree.map(np.asarray, params)
        draws = jax.tree.map(np.asarray, draws)
        if self.vectorized:
            out = np.asarray(self.fn(params, draws), dtype=np.float64)
        else:
            num = jax.tree.leaves(draws)[0].shape[0]
            out = np.stack(
                [
                    np.asarray(self.fn(params, jax.tree.map(lambda d, s=s: d[s], draws)), float)
                    for s in range(num)
                ]
            )
        num = jax.tree.leaves(draws)[0].shape[0]
        expected = (num, *self.result_shape)
        if out.shape != expected:
            raise ValueError(
                f"the callback simulator returned shape {out.shape}, expected {expected}"
            )
        return out

    def simulate_all(self, params, draws) -> jax.Array:
        """Simulate all S data sets in one callback; returns shape ``(S, *result_shape)``."""
        num = jax.tree.leaves(draws)[0].shape[0]
        spec = jax.ShapeDtypeStruct((num, *self.result_shape), jnp.float64)
        return pure_callback(self._run_all, spec, params, draws)

    def __call__(self, params, draws_s) -> jax.Array:
        """Simulate one data set (a callback; batched calls run sequentially)."""
        spec = jax.ShapeDtypeStruct(self.result_shape, jnp.float64)

        def one(p, d):
            return np.asarray(self.fn(jax.tree.map(np.asarray, p), np.asarray(d)), np.float64)

        return pure_callback(one, spec, params, draws_s, vmap_method="sequential")
