"""Moment error vectors: differences or percent deviations from the data moments."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = ["ERROR_KINDS", "as_float", "check_data_moments", "moment_errors"]

ERROR_KINDS = ("difference", "percent")


def moment_errors(model_moments, data_moments, kind: str = "difference"):
    """Error vector between model (simulated) moments and data moments.

    Parameters
    ----------
    model_moments : array of shape (..., R)
        Simulated moments (one data set, or their average over the S simulations).
    data_moments : array of shape (R,)
        Moments of the observed data.
    kind : {"difference", "percent"}
        ``m_model - m_data``, or the percent deviation ``(m_model - m_data) / m_data`` used by
        Evans' textbook (scale free, undefined when a data moment is zero).

    Returns
    -------
    array of shape (..., R)
    """
    if kind == "difference":
        return model_moments - data_moments
    if kind == "percent":
        return (model_moments - data_moments) / data_moments
    raise ValueError(f"error must be one of {ERROR_KINDS}, got {kind!r}")


def check_data_moments(data_moments, kind: str, names: list[str]) -> None:
    """Validate data moments: finite, and non-zero for percent errors.

    Parameters
    ----------
    data_moments : array of shape (R,)
        Moments of the observed data.
    kind : {"difference", "percent"}
        Error kind that will be used.
    names : list of str
        Moment names for the error message.
    """
    if kind not in ERROR_KINDS:
        raise ValueError(f"error must be one of {ERROR_KINDS}, got {kind!r}")
    m = np.asarray(data_moments)
    if m.ndim != 1:
        raise ValueError(f"moments(data) must return a vector (R,), got shape {m.shape}")
    for r, value in enumerate(m):
        if not np.isfinite(value):
            raise ValueError(f"data moment {names[r]} is not finite ({value})")
        if kind == "percent" and value == 0.0:
            raise ValueError(
                f"data moment {names[r]} is zero: percent errors are undefined; "
                "use error='difference'"
            )


def as_float(x):
    """Cast to the default float dtype (float64 under x64).

    Boolean means are float32 in JAX even with x64 enabled, which changes an SMM criterion in
    the 8th digit; every moment helper casts through this function first.
    """
    return jnp.asarray(x, dtype=jnp.result_type(float))
