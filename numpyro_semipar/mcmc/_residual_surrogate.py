"""A surrogate that learns only what a Gaussian misses: quadratic baseline + MLP residual.

A posterior's log density is close to a quadratic near its bulk (Bernstein–von Mises). Fitting
that quadratic first, from the exploration draws, and training the network of
:func:`~numpyro_semipar.mcmc.train_surrogate` on the *residual* ``log π − q`` has three effects:

* the network's target has a much smaller range, so the same network and epochs give a much
  smaller error in log-density units (the error that decides MH steps);
* far from the training data the quadratic dominates, so the surrogate decays in every direction
  instead of extrapolating linearly (a CELU network can grow without bound), which keeps a
  chain run on the surrogate — as in the surrogate transition method — near the posterior;
* the residual is clipped to the range seen in training, for the same reason.

The baseline is ``q(x) = c − ½ a ‖Lᵀ(x − m)‖²`` with ``m`` and ``(L Lᵀ)⁻¹`` the mean and
covariance of the exploration draws and ``(a, c)`` fitted by least squares to the candidates'
log densities (``a`` kept positive, so ``q`` is concave). The network sees the whitened
position ``Lᵀ(x − m)``: posterior correlations are removed before it learns anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ._surrogate import Surrogate, TrainingInfo, train_surrogate

__all__ = ["ResidualSurrogate", "train_residual_surrogate"]


class ResidualSurrogate(eqx.Module):
    """Surrogate log density ``q(x) + clip(NN(x))`` with a concave quadratic baseline ``q``.

    Call it like a :class:`~numpyro_semipar.mcmc.Surrogate`: on a flat position (..., dim) or on
    a parameter dict (flattened with :func:`jax.flatten_util.ravel_pytree`, sites sorted by
    name, the MH kernels' order). It is a pytree and a pure, jittable function.

    Attributes
    ----------
    network : Surrogate
        MLP trained on the residual ``log π − q`` as a function of the whitened position
        ``Lᵀ(x − m)``.
    mean : array of shape (dim,)
        Centre ``m`` of the baseline.
    whitening : array of shape (dim, dim)
        ``L`` with ``L Lᵀ`` the baseline's precision (inverse covariance of the draws).
    curvature, offset : float
        ``a`` and ``c`` of ``q``.
    residual_low, residual_high : float
        Range of the residuals seen in training; the network's output is clipped to it.
    info : TrainingInfo
        The network's training report, with ``validation_r2`` expressed for the log density
        (the validation error against the variance of the candidates' log densities).
    """

    network: Surrogate
    mean: jax.Array
    whitening: jax.Array
    curvature: jax.Array
    offset: jax.Array
    residual_low: jax.Array
    residual_high: jax.Array
    info: TrainingInfo | None = eqx.field(static=True, default=None)

    @property
    def dim(self) -> int:
        """Dimension of the flat position."""
        return int(self.mean.shape[0])

    def baseline(self, position: jax.Array) -> jax.Array:
        """Evaluate the quadratic baseline ``q`` at flat positions (..., dim)."""
        position = jnp.asarray(position)
        dtype = position.dtype if jnp.issubdtype(position.dtype, jnp.floating) else jnp.float32
        centred = position - self.mean.astype(dtype)
        white = centred @ self.whitening.astype(dtype)
        return self.offset.astype(dtype) - 0.5 * self.curvature.astype(dtype) * jnp.sum(
            white**2, axis=-1
        )

    def flat_logdensity(self, position: jax.Array) -> jax.Array:
        """Surrogate log density of flat positions of shape (..., dim)."""
        position = jnp.asarray(position)
        base = self.baseline(position)
        white = (position - self.mean.astype(base.dtype)) @ self.whitening.astype(base.dtype)
        residual = self.network.flat_logdensity(white).astype(base.dtype)
        low, high = self.residual_low.astype(base.dtype), self.residual_high.astype(base.dtype)
        return base + jnp.clip(residual, low, high)

    def __call__(self, position) -> jax.Array:
        """Surrogate log density of a flat position (..., dim) or of a parameter dict."""
        if isinstance(position, Mapping):
            position = ravel_pytree(dict(position))[0]
        return self.flat_logdensity(position)


def _fit_quadratic(positions, values, mean, whitening):
    """Least-squares ``(a, c)`` of ``values ≈ c − ½ a ‖Lᵀ(x − m)‖²`` with ``a > 0``."""
    squared = np.sum(((positions - mean) @ whitening) ** 2, axis=1)
    design = np.column_stack([np.ones_like(squared), -0.5 * squared])
    (offset, curvature), *_ = np.linalg.lstsq(design, values, rcond=None)
    if not curvature > 1e-3:  # never a convex (unbounded) baseline
        curvature = 1e-3
        offset = float(np.mean(values + 0.5 * curvature * squared))
    return float(offset), float(curvature)


def train_residual_surrogate(
    positions,
    log_densities,
    draws,
    *,
    rng_key: jax.Array | None = None,
    trim_fraction: float = 0.2,
    **options: Any,
) -> ResidualSurrogate:
    """Fit the quadratic baseline to ``draws`` and train the MLP on the residual.

    Parameters
    ----------
    positions : array of shape (n, dim)
        Evaluated candidates (flat, unconstrained).
    log_densities : array of shape (n,)
        Their exact log densities; non-finite ones are dropped.
    draws : array of shape (m, dim)
        Draws of the posterior (e.g. the exploration chain after warm-up): their mean and
        covariance centre and shape the baseline.
    rng_key : jax.Array, optional
        Key for :func:`~numpyro_semipar.mcmc.train_surrogate`.
    trim_fraction : float
        Share of candidates with the lowest *log density* dropped before training (the
        residual is not trimmed again).
    **options
        Other keyword arguments of :func:`~numpyro_semipar.mcmc.train_surrogate`.

    Returns
    -------
    ResidualSurrogate
    """
    x = np.asarray(positions, np.float64)
    y = np.asarray(log_densities, np.float64).reshape(-1)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(
            f"positions must be (n, dim) and log_densities (n,); got {x.shape} and {y.shape}"
        )
    if not 0.0 <= trim_fraction < 1.0:
        raise ValueError(f"trim_fraction must be in [0, 1), got {trim_fraction}")
    d = np.asarray(draws, np.float64).reshape(-1, x.shape[1])
    if d.shape[0] <= x.shape[1]:
        raise ValueError(f"draws must have more than dim={x.shape[1]} rows; got {d.shape[0]}")
    finite = np.isfinite(y) & np.all(np.isfinite(x), axis=1)
    x, y = x[finite], y[finite]
    if trim_fraction > 0:
        keep = y >= np.quantile(y, trim_fraction)
        x, y = x[keep], y[keep]
    mean = d.mean(axis=0)
    raw = np.atleast_2d(np.cov(d, rowvar=False))
    spectrum = np.linalg.eigvalsh(raw) if np.all(np.isfinite(raw)) else np.array([np.nan])
    if not (np.all(np.isfinite(spectrum)) and spectrum.min() > 1e-12 * spectrum.max() > 0):
        raise ValueError(_singular_draws_message(d))
    covariance = raw + 1e-10 * np.eye(x.shape[1])
    try:
        whitening = np.linalg.cholesky(np.linalg.inv(covariance))
    except np.linalg.LinAlgError:
        raise ValueError(_singular_draws_message(d)) from None
    offset, curvature = _fit_quadratic(x, y, mean, whitening)
    squared = np.sum(((x - mean) @ whitening) ** 2, axis=1)
    residual = y - (offset - 0.5 * curvature * squared)
    white = (x - mean) @ whitening
    network = train_surrogate(white, residual, rng_key=rng_key, trim_fraction=0.0, **options)
    info = network.info
    if info is not None:
        variance = float(np.var(y))
        r2 = 1.0 - info.validation_rmse**2 / variance if variance > 0 else float("nan")
        info = info._replace(validation_r2=r2)
    f64 = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    return ResidualSurrogate(
        network=network,
        mean=jnp.asarray(mean, f64),
        whitening=jnp.asarray(whitening, f64),
        curvature=jnp.asarray(curvature, f64),
        offset=jnp.asarray(offset, f64),
        residual_low=jnp.asarray(residual.min(), f64),
        residual_high=jnp.asarray(residual.max(), f64),
        info=info,
    )


def _singular_draws_message(draws: np.ndarray) -> str:
    """Name what makes the baseline's draws degenerate (a stuck chain, as a rule)."""
    constant = np.flatnonzero(np.ptp(draws, axis=0) == 0.0).tolist()
    distinct = np.unique(draws, axis=0).shape[0]
    return (
        f"draws: the Gaussian baseline needs draws whose covariance is positive definite, but "
        f"the {draws.shape[0]} draws ({distinct} distinct) have a singular covariance"
        + (f"; coordinates {constant} never change" if constant else "")
        + ". The exploration chain probably did not move: run a longer exploration, check its "
        "acceptance rate, or train without the baseline (surrogate_baseline=None)"
    )
