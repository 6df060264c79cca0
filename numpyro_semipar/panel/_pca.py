"""Principal-component factor extraction with the normalisation FᵀF/T = I."""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["annihilator", "principal_factors"]


def principal_factors(residuals: jnp.ndarray, num_factors: int):
    """Estimate factors and loadings of an (N, T) residual matrix by principal components.

    Parameters
    ----------
    residuals : array of shape (N, T)
        The matrix ``E`` with rows ``Y_i - X_i beta_i``.
    num_factors : int
        Number of factors ``R`` (static; ``0`` gives empty factors).

    Returns
    -------
    factors : array of shape (T, R)
        ``sqrt(T)`` times the top-``R`` eigenvectors of ``EᵀE``, so ``FᵀF/T = I``. Signs are
        fixed (the largest-magnitude entry of each column is positive) so results are
        deterministic.
    loadings : array of shape (N, R)
        ``E F / T``, the least-squares loadings given ``F``.
    eigenvalues : array of shape (T,)
        Eigenvalues of ``EᵀE / (N T)`` in decreasing order.
    """
    _, t = residuals.shape
    gram = residuals.T @ residuals / residuals.size
    gram = (gram + gram.T) / 2.0
    evals, evecs = jnp.linalg.eigh(gram)
    evals, evecs = evals[::-1], evecs[:, ::-1]
    vectors = evecs[:, :num_factors]
    pivot = jnp.take_along_axis(vectors, jnp.argmax(jnp.abs(vectors), axis=0)[None, :], axis=0)
    vectors = vectors * jnp.where(pivot < 0, -1.0, 1.0)
    factors = jnp.sqrt(t) * vectors
    loadings = residuals @ factors / t
    return factors, loadings, evals


def annihilator(factors: jnp.ndarray, xp=jnp) -> jnp.ndarray:
    """Return ``M_F = I - F (FᵀF)⁻¹ Fᵀ`` for factors normalised as ``FᵀF/T = I``.

    ``xp=numpy`` for host code outside a compiled program (each eager JAX operation there
    compiles a program of its own).
    """
    t = factors.shape[0]
    return xp.eye(t, dtype=factors.dtype) - factors @ factors.T / t
