"""Run the C-Lasso / PPC iterations for a batch of penalties, with a progress bar."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._deprecation import renamed_arguments
from ._classo_step import classo_init, classo_run, unit_coefficients

__all__ = [
    "PathFit",
    "initial_centres",
    "kmeans",
    "run_penalties",
    "seed_from_key",
    "small_linear_algebra",
]

_CHUNK = 10  # outer iterations per compiled call: the progress bar's granularity


@contextlib.contextmanager
def small_linear_algebra() -> Iterator[None]:
    """Run the enclosed block with single-threaded BLAS/LAPACK.

    Every decomposition here is small (T × T eigenproblems, p × p solves): a threaded BLAS only
    adds synchronisation, and on a loaded machine a 50 × 50 eigendecomposition went from about
    1 ms to 40 ms with two OpenBLAS threads. The previous limits are restored on exit.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def seed_from_key(rng_key) -> int:
    """Derive an integer seed (for scikit-learn's k-means) from a JAX key (default: key 0).

    Hashes the key's raw bits with NumPy's ``SeedSequence``: ``jax.random.randint`` would
    compile a threefry program (0.3-0.9 s of a fresh process) to produce one integer.
    """
    if rng_key is None:
        rng_key = np.zeros(2, np.uint32)  # the raw bits of jax.random.key(0)
    if isinstance(rng_key, jax.Array) and jax.dtypes.issubdtype(rng_key.dtype, jax.dtypes.prng_key):
        rng_key = jax.random.key_data(rng_key)
    words = np.asarray(rng_key, dtype=np.uint32).ravel()
    return int(np.random.SeedSequence(words.tolist()).generate_state(1)[0] & 0x7FFFFFFF)


@renamed_arguments(max_iter="max_steps")
def kmeans(points: np.ndarray, num_groups: int, seed: int, num_starts: int = 10, max_steps=100):
    """Lloyd's k-means with k-means++ seeding and several starts; returns (centres, labels).

    A small NumPy implementation: scikit-learn's threaded k-means costs far more than the
    C-Lasso iterations themselves at these sizes.
    """
    points = np.asarray(points, dtype=np.float64)
    rng = np.random.default_rng(seed)
    n = points.shape[0]
    best = (np.inf, None, None)
    for _ in range(num_starts):
        centres = points[[rng.integers(n)]]
        for _ in range(1, num_groups):
            d2 = np.min(((points[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
            prob = d2 / d2.sum() if d2.sum() > 0 else np.full(n, 1.0 / n)
            centres = np.vstack([centres, points[rng.choice(n, p=prob)]])
        for _ in range(max_steps):
            labels = np.argmin(((points[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
            new = np.array(
                [
                    points[labels == k].mean(0) if np.any(labels == k) else centres[k]
                    for k in range(num_groups)
                ]
            )
            if np.allclose(new, centres, rtol=0.0, atol=1e-12):
                break
            centres = new
        inertia = np.sum((points - centres[labels]) ** 2)
        if inertia < best[0]:
            best = (inertia, centres, labels)
    return best[1], best[2]


def initial_centres(beta: np.ndarray, num_groups: int, seed: int) -> np.ndarray:
    """k-means centres of the preliminary slopes, ordered lexicographically."""
    centres, _ = kmeans(beta, num_groups, seed)
    return centres[np.lexsort(centres.T[::-1])]


class PathFit(NamedTuple):
    """C-Lasso output for each penalty of a batch (leading axis = penalty).

    Attributes
    ----------
    alpha : ndarray (M, K, p)
        Penalised group centres.
    beta : ndarray (M, N, p)
        Per-unit C-Lasso estimates.
    groups : ndarray (M, N)
        Assignment (exact shrinkage, else the nearest centre).
    shrunk : ndarray (M, N)
        Whether the unit was shrunk exactly onto its centre.
    factors : ndarray (M, T, R)
    num_iter : ndarray (M,)
    converged : ndarray (M,)
    """

    alpha: np.ndarray
    beta: np.ndarray
    groups: np.ndarray
    shrunk: np.ndarray
    factors: np.ndarray
    num_iter: np.ndarray
    converged: np.ndarray


@partial(jax.jit, static_argnames=("num_factors", "num_steps", "block_max_steps", "unit_effects"))
def _run_batch(
    states,
    y,
    x,
    penalties,
    tol,
    observed=None,
    *,
    num_factors,
    num_steps,
    block_max_steps,
    unit_effects=False,
):
    def run(state, penalty):
        return classo_run(
            state,
            y,
            x,
            penalty,
            num_factors=num_factors,
            num_steps=num_steps,
            tol=tol,
            block_max_steps=block_max_steps,
            observed=observed,
            unit_effects=unit_effects,
        )

    # lax.map, not vmap: each penalty stops at its own convergence, and batched tiny linear
    # algebra inside while loops is far slower on CPU than running the problems in sequence.
    return jax.lax.map(lambda args: run(*args), (states, penalties))


@partial(jax.jit, static_argnames=("num_penalties",))
def _initial_states(beta_tilde, centres, factors0, num_groups, *, num_penalties):
    single = classo_init(beta_tilde, centres, factors0, num_groups)
    return jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (num_penalties, *leaf.shape)), single)


@partial(jax.jit, static_argnames=("relative",))
def _assign_units(alpha, delta, num_groups, *, relative):
    assign = partial(unit_coefficients, relative=relative)
    return jax.vmap(assign, in_axes=(0, 0, None))(alpha, delta, num_groups)


def run_penalties(
    y,
    x,
    beta_tilde,
    factors0,
    centres,
    penalties,
    *,
    num_factors: int,
    max_iter: int,
    tol: float,
    block_max_steps: int = 2000,
    padded_groups: int = 0,
    relative_distance: bool = False,
    bar=None,
    observed=None,
    unit_effects: bool = False,
) -> PathFit:
    """Run C-Lasso (``num_factors = 0``) or PPC C-Lasso for every penalty ``λ/N`` in a batch.

    All penalties start from the same preliminary estimates ``beta_tilde`` (N, p), factors
    ``factors0`` (T, R) and centres (K, p); the batch runs as one jitted loop over penalties,
    in chunks of ten outer iterations so that ``bar`` (a tqdm bar) can advance. Centres are
    padded to ``padded_groups`` rows so that one compilation serves every number of groups.
    Units shrunk onto no centre go to the nearest one, in relative distance
    ``||β_i - α_k|| / ||α_k||`` when ``relative_distance`` (see :func:`unit_coefficients`).
    ``observed`` and ``unit_effects`` are for unbalanced panels (see :func:`classo_run`).
    """
    # NumPy arrays go straight into the compiled programs: jnp.asarray would compile a copy
    # program per shape, and eager glue one program per operation (a fresh process pays
    # 20-300 ms for each).
    penalties = np.asarray(penalties, dtype=np.float64)
    m = penalties.shape[0]
    centres = np.asarray(centres)
    num_groups = centres.shape[0]
    padded = max(num_groups, padded_groups)
    if padded > num_groups:
        centres = np.concatenate([centres, np.zeros((padded - num_groups, centres.shape[1]))])
    states = _initial_states(beta_tilde, centres, factors0, num_groups, num_penalties=m)
    done = 0
    while done < max_iter:
        steps = min(_CHUNK, max_iter - done)
        states = _run_batch(
            states,
            y,
            x,
            penalties,
            tol,
            num_factors=num_factors,
            num_steps=steps,
            block_max_steps=block_max_steps,
            **(
                {}
                if observed is None
                else {"observed": np.asarray(observed), "unit_effects": unit_effects}
            ),
        )
        done += steps
        if bar is not None:
            bar.update(steps)
        if bool(np.all(np.asarray(states.change) <= tol)):
            break
    beta, groups, shrunk = _assign_units(
        states.alpha, states.delta, num_groups, relative=relative_distance
    )
    return PathFit(
        alpha=np.asarray(states.alpha)[:, :num_groups],
        beta=np.asarray(beta),
        groups=np.asarray(groups),
        shrunk=np.asarray(shrunk),
        factors=np.asarray(states.factors),
        num_iter=np.asarray(states.num_iter),
        converged=np.asarray(states.change) <= tol,
    )
