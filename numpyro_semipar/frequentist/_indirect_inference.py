"""Indirect inference (Gouriéroux, Monfort & Renault 1993; Smith 1993)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .._params import param_layout
from .._x64 import float64
from ._smm import SMM

__all__ = ["IndirectInference"]


class IndirectInference(SMM):
    """Wald-type indirect inference: match auxiliary estimates on data and on simulations.

    θ̂ minimises ``(β̂ - β̃_S(θ))ᵀ Ω (β̂ - β̃_S(θ))`` where β̂ is the auxiliary estimate on the
    data and β̃_S(θ) the average auxiliary estimate over S simulated data sets of the same
    length, made with common random numbers. This is :class:`SMM` with the auxiliary estimator
    as the moment function, so everything there applies: autodiff Jacobians B = ∂β̃/∂θᵀ
    through the simulator and the auxiliary estimator, root-finding when the auxiliary model
    has as many parameters as the structural one, the optimal Ω (``weighting="optimal"``:
    the inverse covariance of the auxiliary estimates across simulations at a first-step
    estimate), the covariance ``(1 + 1/S)(BᵀΩB)⁻¹BᵀΩVΩB(BᵀΩB)⁻¹`` and, when over-identified
    with the optimal Ω, the over-identification test ``T·S/(1+S)`` times the criterion (in
    ``result.j_test``).

    Parameters
    ----------
    simulate : callable or CallbackSimulator
        ``simulate(params, draws_s) -> one simulated data set`` (same length as the data).
    auxiliary : callable
        ``auxiliary(data_set) -> (P,)`` auxiliary estimator in JAX, e.g.
        ``lambda y: ar_coefficients(y, 3)`` or an OLS / probit / logit from
        :mod:`numpyro_semipar.moments`.
    draws : array or pytree of arrays
        Common random numbers with a leading S axis.
    auxiliary_names : list of str, optional
        Names of the auxiliary parameters.
    **kwargs
        Passed to :class:`SMM` (``optimizer``, ``rtol``, ``atol``, ``max_steps``).

    Notes
    -----
    Works with x64 disabled (NumPyro's default float32): :meth:`fit` switches float64 on
    around its own work and returns float64 results, without changing JAX's global setting.
    Calling it inside a ``jit``/``vmap`` trace started in float32 is not supported; see
    :class:`~numpyro_semipar.Float64RequiredError`.

    Examples
    --------
    MA(1) through an AR(1) auxiliary model (binding function b(θ) = θ/(1+θ²)):

    >>> def simulate(params, eps):
    ...     return eps[1:] + params["theta"] * eps[:-1]
    >>> ii = IndirectInference(simulate, lambda y: ar_coefficients(y, 1), draws)  # doctest: +SKIP
    >>> ii.fit(y, {"theta": 0.3}).summary()  # doctest: +SKIP
    """

    estimator_name = "IndirectInference"

    def __init__(
        self,
        simulate: Callable,
        auxiliary: Callable,
        draws: Any,
        *,
        auxiliary_names: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if "error" in kwargs:
            raise TypeError("IndirectInference compares auxiliary estimates by difference only")
        super().__init__(
            simulate, auxiliary, draws, error="difference", moment_names=auxiliary_names, **kwargs
        )
        self.auxiliary = auxiliary

    def binding_function(self, params: Mapping[str, Any]) -> np.ndarray:
        """Average auxiliary estimate over the S simulated data sets at ``params``.

        Parameters
        ----------
        params : dict
            Structural parameter values.

        Returns
        -------
        array of shape (P,)
            β̃_S(θ), the simulated binding function (it converges to b(θ) as S·T grows).
        """
        layout = param_layout(params)
        with float64():
            fns = self._functions(layout)
            flat = layout.ravel(params)
            # errors against a zero "data" vector are the simulated auxiliary estimates.
            probe = np.asarray(fns["sim_errors"](flat, self.draws, 0.0))
        return probe.mean(axis=0)
