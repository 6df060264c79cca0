r"""The linear Gaussian state space of a solved rational-expectations model.

A solution ``x_t = P x_{t-1} + Q u_t`` with ``u_t = Φ u_{t-1} + ε_t``, ``ε_t ~ N(0, Ω)``, is
written on the state ``s_t = (x_t, u_t, x_{t-1}[lagged])`` (the lagged block holds only the
endogenous variables whose lag enters the observation equation, e.g. output for output growth):

.. math::

    s_t = T s_{t-1} + L \varepsilon_t, \qquad
    T = \begin{pmatrix} P & Q\Phi & 0\\ 0 & \Phi & 0\\ S & 0 & 0\end{pmatrix},\quad
    L = \begin{pmatrix} Q\\ I_m\\ 0\end{pmatrix},

with ``S`` selecting the lagged rows of ``I_n``, state innovation covariance ``V = L Ω Lᵀ``, and
observations ``y_t = d + Z s_t + e_t``, ``e_t ~ N(0, H)``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._solve import RESolution

__all__ = ["StateSpace", "solved_state_space"]


class StateSpace(NamedTuple):
    """Linear Gaussian state space ``s_t = T s_{t-1} + L ε_t``, ``y_t = d + Z s_t + e_t``.

    Attributes
    ----------
    d : array of shape (p,)
        Measurement constants.
    Z : array of shape (p, k)
        Measurement loadings.
    T : array of shape (k, k)
        State transition.
    V : array of shape (k, k)
        State innovation covariance ``L Ω Lᵀ``.
    status : int array
        Solver status (:data:`~numpyro_semipar.models.dsge.SOLVE_STATUS`; 0 = determinate).
    H : array of shape (p, p)
        Measurement-error covariance (zeros without measurement error).
    loading : array of shape (k, m)
        ``L``: the impact of the structural shocks ``ε_t`` on the state.
    shock_cov : array of shape (m, m)
        ``Ω``: the covariance of the structural shocks.
    """

    d: jax.Array
    Z: jax.Array
    T: jax.Array
    V: jax.Array
    status: jax.Array
    H: jax.Array | None = None
    loading: jax.Array | None = None
    shock_cov: jax.Array | None = None


def solved_state_space(
    solution: RESolution, Phi, shock_cov, d, Z, H=None, lagged: tuple[int, ...] = ()
) -> StateSpace:
    """Assemble the state space of a solved model (see the module docstring for the layout).

    Parameters
    ----------
    solution : RESolution
        ``P`` and ``Q`` from :func:`~numpyro_semipar.models.dsge.solve_re`.
    Phi : array of shape (m, m)
        Autoregressive matrix of the exogenous processes.
    shock_cov : array of shape (m, m)
        Covariance ``Ω`` of the innovations ``ε_t``.
    d : array of shape (p,)
        Measurement constants.
    Z : array of shape (p, n + m + len(lagged))
        Measurement loadings on ``(x_t, u_t, x_{t-1}[lagged])``.
    H : array of shape (p, p), optional
        Measurement-error covariance (default zero).
    lagged : tuple of int
        Indices of the endogenous variables whose lag is part of the state.

    Returns
    -------
    StateSpace
    """
    P, Q = solution.P, solution.Q
    n, m = Q.shape
    k = n + m + len(lagged)
    T = jnp.zeros((k, k), dtype=P.dtype)
    T = T.at[:n, :n].set(P).at[:n, n : n + m].set(Q @ Phi).at[n : n + m, n : n + m].set(Phi)
    for row, var in enumerate(lagged):
        T = T.at[n + m + row, var].set(1.0)
    loading = jnp.concatenate(
        [Q, jnp.eye(m, dtype=Q.dtype), jnp.zeros((len(lagged), m), dtype=Q.dtype)], axis=0
    )
    V = loading @ shock_cov @ loading.T
    p = Z.shape[0]
    H = jnp.zeros((p, p), dtype=T.dtype) if H is None else H
    return StateSpace(
        d=d, Z=Z, T=T, V=V, status=solution.status, H=H, loading=loading, shock_cov=shock_cov
    )
