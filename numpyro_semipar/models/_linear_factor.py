"""The linear factor model of the spmlex README, the running example of the profile likelihood."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

__all__ = ["LinearFactor"]


class LinearFactor(eqx.Module):
    """``Y_it = λ_t X*_i + e_it``, ``e_it ~ N(0, σ_t²)``, ``λ_1 = 1``, ``X*`` on a grid.

    The spmlex-style structural model: its array fields are the parameters ``θ`` and
    :meth:`lclk` gives the (n, m) log-likelihood of each observation at each grid point of the
    unobserved ``X*``, whose distribution :func:`numpyro_semipar.npmle.profile_loglik` and
    :class:`numpyro_semipar.frequentist.ProfileMLE` profile out.

    Parameters
    ----------
    coef : array of shape (T - 1,)
        Loadings ``λ_2, ..., λ_T`` (``λ_1 = 1`` normalises the scale of ``X*``).
    log_sd : array of shape (T,)
        ``log σ_t``.
    """

    coef: jax.Array
    log_sd: jax.Array

    def lclk(self, y: jax.Array, grid: jax.Array) -> jax.Array:
        """Log-likelihood of each row of ``y`` (n, T) at each grid point (m,): shape (n, m).

        Raises
        ------
        ValueError
            ``y`` is not (n, T) with T the length of ``log_sd``, ``coef`` is not (T - 1,), or
            ``grid`` is not one-dimensional (shapes are static, so this holds under ``jit``).
        """
        num_periods = self.log_sd.shape[0] if jnp.ndim(self.log_sd) == 1 else None
        if num_periods is None:
            raise ValueError(f"log_sd must be a vector (T,); got shape {jnp.shape(self.log_sd)}")
        if jnp.shape(self.coef) != (num_periods - 1,):
            raise ValueError(
                f"coef must have shape ({num_periods - 1},) for T = {num_periods} periods "
                f"(log_sd has {num_periods} entries); got shape {jnp.shape(self.coef)}"
            )
        if jnp.ndim(y) != 2 or jnp.shape(y)[1] != num_periods:
            raise ValueError(
                f"data y must have shape (n, {num_periods}), one column per period of the "
                f"model (log_sd has {num_periods} entries); got shape {jnp.shape(y)}"
            )
        if jnp.ndim(grid) != 1:
            raise ValueError(f"grid must be a vector (m,); got shape {jnp.shape(grid)}")
        loadings = jnp.concatenate([jnp.ones(1), self.coef])
        inv_sd = jnp.exp(-self.log_sd)
        out = -jnp.sum(self.log_sd) - 0.5 * y.shape[1] * jnp.log(2 * jnp.pi)
        # One (n, m) term per period instead of an (n, m, T) array summed over its last axis:
        # XLA:CPU runs a reduction over a short minor axis as a scalar loop, 17x slower here
        # (n = 2000, m = 75, T = 3), and every derivative of the profile likelihood pays it.
        for t in range(y.shape[1]):
            z = (y[:, t, None] - grid[None, :] * loadings[t]) * inv_sd[t]
            out = out - 0.5 * z**2
        return out
