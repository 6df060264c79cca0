r"""Linear rational-expectations solver without QZ: cyclic reduction with an implicit derivative.

The model is written in the canonical second-order form

.. math::

    A\,\mathbb{E}_t x_{t+1} + B x_t + C x_{t-1} + E u_t = 0,
    \qquad u_t = \Phi u_{t-1} + \varepsilon_t,

with ``n`` endogenous variables ``x`` and ``m`` exogenous processes ``u`` (expectations of
future ``u`` already folded into ``E`` through ``E[u_{t+1}] = Φ u_t``). The stable solution is
``x_t = P x_{t-1} + Q u_t`` where ``P`` is the minimal solvent of ``A P² + B P + C = 0``
(Blanchard–Kahn: its ``n`` eigenvalues are the smallest of the pencil) and
``(A P + B) Q + A Q Φ = -E``.

JAX has no QZ decomposition, so ``P`` comes from cyclic reduction (Bini & Meini; Dynare's
``cycle_reduction``), which converges quadratically whenever the eigenvalues of the pencil split
at the unit circle. Determinacy is read off the factorisation
``A λ² + B λ + C = (λ A + A P + B)(λ I − P)``: the model is determinate iff ``ρ(P) < 1`` and
``ρ((A P + B)⁻¹ A) < 1`` (the remaining ``n`` eigenvalues lie outside the unit circle).
Derivatives of ``P`` are given by the implicit-function theorem (a Sylvester equation), so the
loop itself is never differentiated and ``jax.grad`` works through the solver.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..._deprecation import renamed_arguments

__all__ = ["SOLVE_STATUS", "RESolution", "solve_re", "solve_quadratic"]

#: Meaning of :attr:`RESolution.status` codes.
SOLVE_STATUS = {
    0: "determinate",
    1: "indeterminate (too many stable roots)",
    2: "no stable solution (too few stable roots)",
    3: "solver failure (cyclic reduction did not converge or singular system)",
}


class RESolution(NamedTuple):
    """Solution ``x_t = P x_{t-1} + Q u_t`` of a linear rational-expectations model.

    Attributes
    ----------
    P : array of shape (n, n)
        Transition matrix of the endogenous variables (zeros where ``status != 0``).
    Q : array of shape (n, m)
        Impact matrix of the exogenous processes (zeros where ``status != 0``).
    status : int array
        0 determinate, 1 indeterminate, 2 no stable solution, 3 solver failure; see
        :data:`SOLVE_STATUS`.
    residual : float array
        Max-abs residual of ``A P² + B P + C`` before masking.
    num_iter : int array
        Cyclic-reduction iterations used.
    """

    P: jax.Array
    Q: jax.Array
    status: jax.Array
    residual: jax.Array
    num_iter: jax.Array


def _cyclic_reduction(A, B, C, tol, max_iter):
    """Minimal solvent of ``A X² + B X + C = 0`` (Dynare's ``cycle_reduction`` recursion)."""
    n = A.shape[0]

    def cond(carry):
        _, _, _, _, it, crit = carry
        # The first pass always runs; afterwards stop on convergence or on overflow.
        return (it == 0) | ((it < max_iter) & (crit > tol) & jnp.isfinite(crit))

    def body(carry):
        a0, a1, a2, ahat1, it, _ = carry
        # [a0; a2] a1⁻¹ [a0, a2] in one solve: four products of the recursion.
        right = jnp.linalg.solve(a1, jnp.concatenate([a0, a2], axis=1))
        t0, t2 = right[:, :n], right[:, n:]
        a1_new = a1 - a0 @ t2 - a2 @ t0
        ahat1_new = ahat1 - a2 @ t0
        a0_new = -a0 @ t0
        a2_new = -a2 @ t2
        # Converged once either outer coefficient has vanished: the other updates then stop.
        crit = jnp.minimum(jnp.max(jnp.abs(a0_new)), jnp.max(jnp.abs(a2_new)))
        return a0_new, a1_new, a2_new, ahat1_new, it + 1, crit

    init = (C, B, A, B, jnp.asarray(0), jnp.asarray(jnp.inf, dtype=B.dtype))
    _, _, _, ahat1, it, crit = jax.lax.while_loop(cond, body, init)
    X = -jnp.linalg.solve(ahat1, C)
    return X, it, crit


def _spectral_radius(M):
    # Eigenvalues only decide a discrete status: no derivative is needed (or wanted).
    return jnp.max(jnp.abs(jnp.linalg.eigvals(jax.lax.stop_gradient(M))))


@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4))
def _solve_quadratic_impl(A, B, C, tol, max_iter):
    n = A.shape[0]
    X, it, crit = _cyclic_reduction(A, B, C, tol, max_iter)
    residual = jnp.max(jnp.abs(A @ X @ X + B @ X + C))
    finite = jnp.all(jnp.isfinite(X)) & jnp.isfinite(residual)
    scale = 1.0 + jnp.max(jnp.abs(A)) + jnp.max(jnp.abs(B)) + jnp.max(jnp.abs(C))
    ok = finite & (residual < 1e-8 * scale) & (crit <= tol)
    Xs = jnp.where(ok, X, 0.0)
    F = A @ Xs + B
    Fs = jnp.where(ok, F, jnp.eye(n, dtype=F.dtype))
    rho_p = _spectral_radius(Xs)
    # Remaining roots are 1/eig(-(AP+B)⁻¹A); singular AP+B means an infinite-modulus root is
    # missing from the stable block, treated below as failure.
    M = jnp.linalg.solve(Fs, A)
    rho_rest = jnp.where(jnp.all(jnp.isfinite(M)), _spectral_radius(M), jnp.inf)
    status = jnp.where(
        ~ok | ~jnp.isfinite(rho_rest),
        3,
        jnp.where(rho_p >= 1.0, 2, jnp.where(rho_rest >= 1.0, 1, 0)),
    )
    return jnp.where(status == 0, Xs, 0.0), status, residual, it


def _sylvester_matrix(A, F, X):
    # vec(A dX X + F dX) = (Xᵀ ⊗ A + I ⊗ F) vec(dX), column-major vec.
    n = A.shape[0]
    return jnp.kron(X.T, A) + jnp.kron(jnp.eye(n, dtype=A.dtype), F)


@_solve_quadratic_impl.defjvp
def _solve_quadratic_jvp(tol, max_iter, primals, tangents):
    A, B, C = primals
    dA, dB, dC = tangents
    X, status, residual, it = _solve_quadratic_impl(A, B, C, tol, max_iter)
    n = A.shape[0]
    # Differentiate A X² + B X + C = 0: (A X + B) dX + A dX X = -(dA X² + dB X + dC).
    F = A @ X + B
    K = _sylvester_matrix(A, F, X)
    good = status == 0
    Ks = jnp.where(good, K, jnp.eye(n * n, dtype=K.dtype))
    rhs = -(dA @ X @ X + dB @ X + dC)
    dX = jnp.linalg.solve(Ks, rhs.T.reshape(-1)).reshape(n, n).T
    dX = jnp.where(good, dX, 0.0)
    tangent_out = (dX, _float0_zeros(status), jnp.zeros_like(residual), _float0_zeros(it))
    return (X, status, residual, it), tangent_out


def _float0_zeros(x):
    # Integer outputs carry float0 tangents.
    return np.zeros(jnp.shape(x), dtype=jax.dtypes.float0)


@renamed_arguments(max_iter="max_steps")
def solve_quadratic(A, B, C, *, tol: float = 1e-13, max_steps: int = 100):
    """Stable solvent of ``A X² + B X + C = 0`` by cyclic reduction, with Blanchard–Kahn check.

    Parameters
    ----------
    A, B, C : arrays of shape (n, n)
        Coefficients on ``E x_{t+1}``, ``x_t`` and ``x_{t-1}``.
    tol : float
        Convergence tolerance of cyclic reduction (max-abs of the vanishing coefficient).
    max_steps : int
        Iteration limit (convergence is quadratic: 20–30 iterations are typical).

    Returns
    -------
    X : array of shape (n, n)
        The minimal solvent (zeros unless ``status == 0``). Differentiable by the implicit
        function theorem.
    status : int array
        See :data:`SOLVE_STATUS`.
    residual : float array
        Max-abs residual of the matrix quadratic.
    num_iter : int array
        Iterations used.
    """
    A, B, C = (jnp.asarray(M) for M in (A, B, C))
    dtype = jnp.result_type(A, B, C, float)
    return _solve_quadratic_impl(
        A.astype(dtype), B.astype(dtype), C.astype(dtype), float(tol), int(max_steps)
    )


@renamed_arguments(max_iter="max_steps")
def solve_re(A, B, C, E, Phi, *, tol: float = 1e-13, max_steps: int = 100) -> RESolution:
    """Solve ``A E_t x_{t+1} + B x_t + C x_{t-1} + E u_t = 0`` with ``u_t = Φ u_{t-1} + ε_t``.

    Parameters
    ----------
    A, B, C : arrays of shape (n, n)
        Coefficients on expected future, current and lagged endogenous variables.
    E : array of shape (n, m)
        Coefficient on the exogenous processes (expected future ``u`` folded in via ``Φ``).
    Phi : array of shape (m, m)
        Autoregressive matrix of the exogenous processes.
    tol : float
        Cyclic-reduction tolerance.
    max_steps : int
        Cyclic-reduction iteration limit.

    Returns
    -------
    RESolution
        ``P`` and ``Q`` (zeros outside the determinacy region, so that downstream code stays
        finite), the status code and the residual. ``jax.jit``, ``jax.vmap`` and ``jax.grad``
        compatible.
    """
    A, B, C, E, Phi = (jnp.asarray(M) for M in (A, B, C, E, Phi))
    n, m = E.shape
    P, status, residual, num_iter = solve_quadratic(A, B, C, tol=tol, max_steps=max_steps)
    good = status == 0
    F = A @ P + B
    # (A P + B) Q + A Q Φ = -E  ⇔  (I ⊗ F + Φᵀ ⊗ A) vec(Q) = -vec(E).
    K = jnp.kron(jnp.eye(m, dtype=F.dtype), F) + jnp.kron(Phi.T, A)
    Ks = jnp.where(good, K, jnp.eye(n * m, dtype=K.dtype))
    Q = jnp.linalg.solve(Ks, -E.T.reshape(-1)).reshape(m, n).T
    finite_q = jnp.all(jnp.isfinite(Q))
    status = jnp.where(good & ~finite_q, 3, status)
    good = status == 0
    Q = jnp.where(good, Q, 0.0)
    return RESolution(P=P, Q=Q, status=status, residual=residual, num_iter=num_iter)
