"""Deciding whether a flat log density is JAX-traceable, without mistaking bad input for it.

:func:`~numpyro_semipar.mcmc.surrogate_posterior` traces a user's log density once: a function
that JAX cannot trace (NumPy, numba) is then run on the host through a callback. A JAX log
density called with a starting point of the wrong length also fails to trace, but with a shape
error; treating that as "not JAX" sent it to the host callback, where it failed again with an
opaque "CpuCallback error" (issue 19). Only the errors JAX raises when a tracer reaches
non-JAX code mean "host function"; any other failure is evaluated once on the host to tell a
host function from a bad ``init_params``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np

__all__ = ["is_jax_logdensity"]

# What JAX raises when a tracer reaches NumPy, Python control flow or int()/float().
_HOST_SIGNS = (
    jax.errors.TracerArrayConversionError,
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
)


def is_jax_logdensity(fn: Callable, position, name: str = "init_params") -> bool:
    """Whether ``fn`` can be traced by JAX at ``position``; raise if ``position`` is wrong.

    Parameters
    ----------
    fn : callable
        Log density of a flat position ``(d,) -> scalar``.
    position : array of shape (d,)
        The starting point.
    name : str
        The starting point's argument name, for messages.

    Returns
    -------
    bool
        True when :func:`jax.eval_shape` traces ``fn`` to a scalar; False for a host (NumPy,
        numba...) function that runs on a concrete float64 array.

    Raises
    ------
    ValueError
        ``position`` is not a vector, ``fn`` returns something other than a scalar, or ``fn``
        fails on ``position`` both traced and concrete (a wrong length, say): the message
        names ``name``, its shape and the error.
    """
    position = np.asarray(position, dtype=np.float64)
    if position.ndim != 1:
        raise ValueError(f"{name} must be a (d,) vector for a log density; got {position.shape}")
    try:
        out = jax.eval_shape(fn, position)
    except _HOST_SIGNS:
        return False
    except Exception as traced_error:  # noqa: BLE001 - told apart by a concrete call below
        try:
            value = fn(position.copy())
        except Exception as error:  # noqa: BLE001 - re-raised with the argument named
            raise ValueError(
                f"the log density fails at {name} (shape {position.shape}): "
                f"{type(error).__name__}: {error}. Check that {name} has the length the log "
                "density expects."
            ) from traced_error
        _check_scalar(np.shape(value), name, position.shape)
        return False
    _check_scalar(getattr(out, "shape", None), name, position.shape)
    return True


def _check_scalar(shape, name: str, position_shape) -> None:
    if shape is None or int(np.prod(shape)) != 1:
        raise ValueError(
            f"the log density must return a scalar; at {name} (shape {position_shape}) it "
            f"returns shape {shape}"
        )
