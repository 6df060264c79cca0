r"""Laplace approximation of the evidence at the posterior mode.

.. math::

    \log p(y) \approx \log \tilde p(\hat z) + \tfrac{d}{2}\log 2\pi
    - \tfrac12 \log\det\bigl(-\nabla^2 \log \tilde p(\hat z)\bigr),

where :math:`\tilde p` is the unnormalised posterior density of the parameters in the chosen
parametrisation and :math:`\hat z` its mode. The integral :math:`p(y) = \int \tilde p` is the
same in every parametrisation, provided the density carries the change of variables; the
Laplace approximation of it is not, because it replaces :math:`\tilde p` by a Gaussian.

Default: the **unconstrained** space :math:`z = T^{-1}(\theta) \in \mathbb R^d` (NumPyro's
``biject_to`` of each site's support), with :math:`\log\tilde p(z) = \log p(y\mid T(z)) +
\log p(T(z)) + \log|\det J_T(z)|`. This is correct because the Jacobian term makes
:math:`\int_{\mathbb R^d} \tilde p(z)\,dz = \int p(y\mid\theta)p(\theta)\,d\theta` exactly,
and the Gaussian approximation is integrated over all of :math:`\mathbb R^d`, the same domain
as :math:`\tilde p` (in the constrained space a Gaussian leaks mass outside the support, and
the mode may sit on the boundary, where the Hessian is not finite: the An–Schorfheide posterior
does). The mode is that of the unconstrained density, *not* the posterior mode of θ.

The approximation error is :math:`O(n^{-1})`; its leading term, the second-order term of the
Laplace expansion (:func:`second_order_laplace_term`, from third and fourth derivatives at the
mode), is always computed and reported: ``order=1`` returns the classical approximation (Dynare's
number) with the term as its error indicator, ``order=2`` adds it. On the Poisson–Gamma model
the term is exactly the first term of Stirling's series, :math:`1/(12\alpha)`.

``parametrisation="constrained"`` gives Dynare's variant: the mode of
:math:`p(y\mid\theta)p(\theta)` over θ (no Jacobian) and the Hessian in θ; valid only for an
interior mode.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._posterior_density import posterior_density, unconstrained_draws, unpack_posterior
from .._warnings import ConvergenceWarning
from .._x64 import float64
from ._laplace_correction import second_order_laplace_term
from ._result import EvidenceResult

__all__ = ["laplace_evidence"]

_PARAMETRISATIONS = ("unconstrained", "constrained")


def laplace_evidence(
    posterior: Any = None,
    model: Callable | None = None,
    *,
    model_args: tuple = (),
    model_kwargs: Mapping[str, Any] | None = None,
    group_by_chain: bool = False,
    init_params: Mapping[str, Any] | None = None,
    parametrisation: str = "unconstrained",
    hessian: str = "exact",
    order: int = 1,
) -> EvidenceResult:
    """Laplace approximation of the log evidence at the mode (see the module notes).

    Parameters
    ----------
    posterior : numpyro.infer.MCMC or dict or None
        Optional: a finished ``MCMC`` run or a dict of draws; only used to start the mode search
        at the posterior mean (and, for an ``MCMC``, to take the model and its arguments).
    model : callable, optional
        The NumPyro model (required unless ``posterior`` is an ``MCMC``).
    model_args, model_kwargs
        The model's arguments (data).
    group_by_chain : bool
        Whether a samples dict has a leading chain axis.
    init_params : dict, optional
        Start of the mode search (constrained values); default: posterior mean of the
        unconstrained draws, or the prior medians without draws.
    parametrisation : {"unconstrained", "constrained"}
        Where the Gaussian approximation is made (module notes): the unconstrained space with
        the transforms' log-Jacobian (default, exact for Gaussian posteriors of unconstrained
        parameters), or the model's own parameters (Dynare's choice; needs an interior mode).
    hessian : {"exact", "finite-difference"}
        Hessian by ``jax.hessian`` or by central differences of the gradient (cheaper to compile
        for log densities with long scans, e.g. a Kalman filter).
    order : {1, 2}
        1: the classical Laplace approximation; 2: plus the second-order term of the expansion
        (module notes). The term is computed either way, from ``2d`` further Hessians.

    Returns
    -------
    EvidenceResult
        ``std_error`` is NaN (no sampling error). ``diagnostics``: ``mode`` (dict, the model's
        parameters at the mode used), ``log_density_at_mode``, ``log_det_neg_hessian``,
        ``second_order_term`` (the leading approximation error of the order-1 estimate, with
        the opposite sign), ``second_order_parts``, ``order``, ``parametrisation``,
        ``mode_converged``, ``message``.
    """
    from ..frequentist._mode import find_mode, hessian_function

    if parametrisation not in _PARAMETRISATIONS:
        raise ValueError(
            f"parametrisation must be 'unconstrained' or 'constrained', got {parametrisation!r}"
        )
    if hessian not in ("exact", "finite-difference"):
        raise ValueError(f"hessian must be 'exact' or 'finite-difference', got {hessian!r}")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    with float64():
        samples, model, model_args, model_kwargs = unpack_posterior(
            posterior,
            model,
            model_args,
            model_kwargs,
            group_by_chain=group_by_chain,
            allow_none=True,
        )
        first = None if samples is None else {k: np.asarray(v)[0, 0] for k, v in samples.items()}
        density = posterior_density(
            model, model_args, model_kwargs, init_values=init_params or first
        )
        if init_params is not None:
            start = density.to_unconstrained(density.layout.ravel(init_params))
        elif samples is not None:
            start = jnp.asarray(unconstrained_draws(density, samples).mean(axis=(0, 1)))
        else:
            start = density.init_unconstrained
        if parametrisation == "unconstrained":
            objective = density.logdensity
        else:

            def objective(z):
                return density.log_joint(density.to_constrained(z))

        mode = find_mode(
            objective, jnp.asarray(start, jnp.float64), optimizer="scipy", hessian=None, warn=False
        )
        z_hat = jnp.asarray(mode.position)
        if parametrisation == "unconstrained":
            logdensity, point = density.logdensity, z_hat
        else:
            logdensity, point = density.log_joint, density.to_constrained(z_hat)
        value_and_grad = jax.jit(jax.value_and_grad(logdensity))
        hessian_at = hessian_function(logdensity, value_and_grad, hessian)
        value = float(value_and_grad(point)[0])
        neg_hessian = -hessian_at(point)
        d = neg_hessian.shape[0]
        neg_hessian = (neg_hessian + neg_hessian.T) / 2.0
        sign, log_det = np.linalg.slogdet(neg_hessian)
        definite = bool(sign > 0 and np.all(np.linalg.eigvalsh(neg_hessian) > 0))
        log_z = value + 0.5 * d * np.log(2 * np.pi) - 0.5 * log_det if definite else np.nan
        term, parts = np.nan, {}
        if definite:
            term, parts = second_order_laplace_term(hessian_at, np.asarray(point), neg_hessian)
            log_z = log_z + (term if order == 2 else 0.0)
        converged = bool(mode.converged and definite and np.isfinite(log_z))
        message = mode.message if definite else "the Hessian at the mode is not negative definite"
        if not converged:
            warnings.warn(
                f"Laplace approximation ({parametrisation}) unreliable: {message}",
                ConvergenceWarning,
                stacklevel=2,
            )
        theta_hat = density.layout.unravel_numpy(np.asarray(density.to_constrained(z_hat)))
        return EvidenceResult(
            method="laplace",
            log_evidence=float(log_z),
            std_error=float("nan"),
            converged=converged,
            num_draws=0,
            diagnostics={
                "mode": theta_hat,
                "log_density_at_mode": float(value),
                "log_det_neg_hessian": float(log_det),
                "second_order_term": float(term),
                "second_order_parts": parts,
                "order": order,
                "parametrisation": parametrisation,
                "mode_converged": bool(mode.converged),
                "message": message,
            },
        )
