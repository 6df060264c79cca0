r"""The second-order term of the Laplace expansion of a log integral.

For :math:`I = \int e^{h(x)}\,dx` with mode :math:`\hat x` and
:math:`-\nabla^2 h(\hat x) = LL^\top`, write :math:`g(w) = h(\hat x + L^{-\top} w)`, whose
Hessian at 0 is :math:`-I`. Expanding :math:`g` to fourth order and integrating against the
standard normal (Isserlis' theorem) gives

.. math::

    \log I = \underbrace{h(\hat x) + \tfrac d2\log 2\pi - \tfrac12\log\det(-\nabla^2 h)}_
    {\text{Laplace}} + \underbrace{\tfrac18\sum_{ab} g_{aabb}
    + \tfrac18\sum_c\Bigl(\sum_a g_{aac}\Bigr)^2 + \tfrac1{12}\sum_{abc} g_{abc}^2}_
    {\text{second-order term}} + O(n^{-2}),

the classical correction (Tierney, Kass & Kadane 1989; Shun & McCullagh 1995), which is
:math:`O(n^{-1})` for :math:`n` observations. For :math:`\int \exp(\alpha z - \beta e^z)\,dz`
it is :math:`1/(12\alpha)`, the first term of Stirling's series.

The third and fourth derivatives come from central differences of the Hessian along the
whitened axes (:math:`2d` Hessians), so the term costs no compilation beyond the Hessian's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["second_order_laplace_term"]


def second_order_laplace_term(
    hessian_at: Callable[[np.ndarray], np.ndarray],
    mode: np.ndarray,
    neg_hessian: np.ndarray,
    *,
    step: float = 1e-2,
) -> tuple[float, dict[str, float]]:
    r"""Compute the second-order term of the Laplace expansion (module notes) and its parts.

    Parameters
    ----------
    hessian_at : callable
        ``x -> ∇²h(x)`` as a ``(d, d)`` array.
    mode : ndarray of shape (d,)
        The mode of ``h``.
    neg_hessian : ndarray of shape (d, d)
        ``-∇²h`` at the mode (positive definite).
    step : float
        Central-difference step in whitened units (posterior standard deviations): the
        truncation error is :math:`O(\text{step}^2)`, the rounding error of the fourth
        derivative :math:`O(\epsilon/\text{step}^2)`.

    Returns
    -------
    term : float
        The second-order term; add it to the Laplace approximation of ``log I``.
    parts : dict
        ``quartic`` (:math:`\frac18\sum g_{aabb}`), ``cubic_traces``
        (:math:`\frac18\sum_c(\sum_a g_{aac})^2`) and ``cubic_squares``
        (:math:`\frac1{12}\sum g_{abc}^2`).
    """
    mode = np.asarray(mode, dtype=np.float64)
    d = mode.size
    # U = L^{-T} with -H = L L^T, so that U^T (-H) U = I.
    whiten = np.linalg.inv(np.linalg.cholesky(neg_hessian)).T
    third = np.empty((d, d, d))
    quartic_trace = 0.0
    for a in range(d):
        shift = step * whiten[:, a]
        plus = whiten.T @ hessian_at(mode + shift) @ whiten
        minus = whiten.T @ hessian_at(mode - shift) @ whiten
        third[a] = (plus - minus) / (2 * step)
        # The whitened Hessian at the mode is -I, whose trace is -d.
        quartic_trace += (np.trace(plus) + 2.0 * d + np.trace(minus)) / step**2
    # Differencing along axis a gives g_abc for all (b, c); average the six orderings.
    third = sum(third.transpose(p) for p in _PERMUTATIONS) / 6.0
    traces = np.einsum("aac->c", third)
    parts = {
        "quartic": quartic_trace / 8.0,
        "cubic_traces": float(traces @ traces) / 8.0,
        "cubic_squares": float(np.sum(third**2)) / 12.0,
    }
    return float(sum(parts.values())), parts


_PERMUTATIONS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
