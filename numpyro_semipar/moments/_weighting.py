"""Weighting matrices for simulated moments and the moment covariances they come from.

The optimal weighting matrix is the inverse of the covariance Ω of the moment errors. Ω can be
estimated from the S simulated data sets at a first-step estimate (centered: the usual choice;
uncentered: Evans' textbook), from per-observation influence contributions of the data moments,
or by bootstrapping the data. A singular Ω (for example bin shares that sum to one) is reported
with the moments involved instead of being pseudo-inverted silently.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import as_float

__all__ = [
    "bootstrap_moment_covariance",
    "collinear_moments",
    "diagonal_weight",
    "identity_weight",
    "influence_moment_covariance",
    "optimal_weight",
    "simulated_moment_covariance",
]


def identity_weight(num_moments: int) -> np.ndarray:
    """Identity weighting matrix of size R."""
    return np.eye(int(num_moments))


def _names(num: int, names) -> list[str]:
    return list(names) if names is not None else [f"m[{r}]" for r in range(num)]


def _check_square(omega, argument: str = "omega") -> np.ndarray:
    omega = np.asarray(omega, dtype=np.float64)
    if omega.ndim != 2 or omega.shape[0] != omega.shape[1]:
        raise ValueError(f"{argument} must be a square (R, R) matrix, got shape {omega.shape}")
    if not np.all(np.isfinite(omega)):
        r, c = np.argwhere(~np.isfinite(omega))[0]
        raise ValueError(f"{argument} has a non-finite entry at row {r}, column {c}")
    return (omega + omega.T) / 2.0


def collinear_moments(omega, moment_names=None, *, rcond: float = 1e-10) -> list[list[str]]:
    """Find the groups of moments that are (nearly) collinear under a moment covariance.

    Parameters
    ----------
    omega : array of shape (R, R)
        Moment covariance.
    moment_names : list of str, optional
        Names used in the report (default ``m[0]``, ...).
    rcond : float
        Eigenvalues below ``rcond * max(eigenvalue)`` count as zero.

    Returns
    -------
    list of list of str
        One group per near-null direction: the moments with weight in it. Empty when Ω is
        regular.
    """
    omega = _check_square(omega)
    names = _names(omega.shape[0], moment_names)
    evals, evecs = np.linalg.eigh(omega)
    scale = max(float(np.max(np.abs(evals))), np.finfo(float).tiny)
    groups = []
    for j in np.flatnonzero(evals <= rcond * scale):
        vec = np.abs(evecs[:, j])
        groups.append([names[r] for r in np.flatnonzero(vec > 1e-3 * vec.max())])
    return groups


def optimal_weight(omega, moment_names=None, *, rcond: float = 1e-10) -> np.ndarray:
    """Inverse of a moment covariance, refusing to pseudo-invert a singular one.

    Parameters
    ----------
    omega : array of shape (R, R)
        Covariance of the moment errors.
    moment_names : list of str, optional
        Names used in the error message.
    rcond : float
        Relative eigenvalue threshold below which Ω counts as singular.

    Returns
    -------
    array of shape (R, R)
        ``inv(omega)``.

    Raises
    ------
    ValueError
        If Ω is singular; the message names the collinear moments (drop one of each group, as
        for bin shares that sum to one).
    """
    omega = _check_square(omega)
    groups = collinear_moments(omega, moment_names, rcond=rcond)
    if groups:
        described = "; ".join("{" + ", ".join(g) + "}" for g in groups)
        raise ValueError(
            "the moment covariance is singular, so the optimal weighting matrix does not exist; "
            f"collinear moments: {described}. Drop one moment of each group (bin shares that "
            "sum to one are collinear) instead of using a pseudo-inverse"
        )
    return np.linalg.inv(omega)


def diagonal_weight(omega, moment_names=None) -> np.ndarray:
    """Diagonal weighting matrix ``diag(1 / diag(omega))``.

    Parameters
    ----------
    omega : array of shape (R, R)
        Moment covariance (only its diagonal is used).
    moment_names : list of str, optional
        Names used in the error message.

    Returns
    -------
    array of shape (R, R)
    """
    omega = _check_square(omega)
    names = _names(omega.shape[0], moment_names)
    diag = np.diag(omega)
    for r, value in enumerate(diag):
        if not value > 0.0:
            raise ValueError(f"moment {names[r]} has zero variance: diagonal weight undefined")
    return np.diag(1.0 / diag)


def simulated_moment_covariance(sim_errors, *, centered: bool = True) -> np.ndarray:
    """Covariance of the moment errors across the S simulated data sets.

    Parameters
    ----------
    sim_errors : array of shape (S, R)
        Error vector of each simulated data set (its moments against the data moments).
    centered : bool
        Centered covariance ``(1/(S-1)) Σ (e_s - ē)(e_s - ē)ᵀ`` (the unbiased variance of one
        data set's moments, the usual estimate), or Evans' uncentered ``(1/S) E Eᵀ`` which also
        contains the squared mean error.

    Returns
    -------
    array of shape (R, R)
        Covariance of the moments of one simulated data set.
    """
    e = np.asarray(sim_errors, dtype=np.float64)
    if e.ndim != 2:
        raise ValueError(f"sim_errors must have shape (S, R), got {e.shape}")
    if centered:
        if e.shape[0] < 2:
            raise ValueError("a centered moment covariance needs at least 2 simulated data sets")
        e = e - e.mean(axis=0)
        return e.T @ e / (e.shape[0] - 1)
    return e.T @ e / e.shape[0]


def influence_moment_covariance(contributions) -> np.ndarray:
    """Covariance of data moments that are sample means of per-observation contributions.

    Parameters
    ----------
    contributions : array of shape (N, R)
        Per-observation influence contributions ψ_i of the R data moments (for a mean, x_i; for
        a variance, (x_i - x̄)²).

    Returns
    -------
    array of shape (R, R)
        ``cov(ψ) / N``: the covariance of the data moment vector.
    """
    psi = np.asarray(contributions, dtype=np.float64)
    if psi.ndim != 2:
        raise ValueError(f"contributions must have shape (N, R), got {psi.shape}")
    centered = psi - psi.mean(axis=0)
    return centered.T @ centered / psi.shape[0] ** 2


def bootstrap_moment_covariance(rng_key, data, moments, num_bootstrap: int = 500) -> np.ndarray:
    """Covariance of the data moments by the nonparametric bootstrap over observations.

    Parameters
    ----------
    rng_key : jax.Array
        A ``jax.random.key``.
    data : array or pytree of arrays
        Observed data, observations along the leading axis of every leaf.
    moments : callable
        ``data -> (R,)`` moment function (JAX).
    num_bootstrap : int
        Number of bootstrap resamples.

    Returns
    -------
    array of shape (R, R)
        Bootstrap covariance of the data moment vector.
    """
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("data is empty")
    n = int(np.shape(leaves[0])[0])
    index = jax.random.randint(rng_key, (int(num_bootstrap), n), 0, n)
    resample = jax.jit(
        jax.vmap(lambda idx: as_float(moments(jax.tree.map(lambda x: jnp.asarray(x)[idx], data))))
    )
    boot = np.asarray(resample(index), dtype=np.float64)
    centered = boot - boot.mean(axis=0)
    return centered.T @ centered / (boot.shape[0] - 1)
