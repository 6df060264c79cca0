"""A NumPyro model and its posterior draws seen as flat vectors, in both parametrisations.

The marginal-likelihood estimators (:mod:`numpyro_semipar.evidence`) and the posterior report
(:func:`numpyro_semipar.reporting.posterior_report`) need the same things from a run: the
draws as one flat array per chain, and two log densities of a flat vector,

* the *unconstrained* log density ``log p(y | T(z)) + log p(T(z)) + log |det J_T(z)|`` of
  ``z = T⁻¹(θ)`` in ℝᵈ (NumPyro's negative potential energy, what NUTS samples), whose
  integral over ℝᵈ is the evidence ``p(y)``;
* the *constrained* log joint ``log p(y | θ) + log p(θ)`` of the model's own parameters θ
  (no Jacobian), whose maximiser is the posterior mode as Dynare and papers report it.

``T`` maps each latent site to its support (``biject_to(site.support)``), as NumPyro does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions.transforms import IdentityTransform
from numpyro.infer import init_to_median, init_to_value
from numpyro.infer.util import initialize_model, log_density

from ._params import ParamLayout, param_layout, site_transform

__all__ = ["PosteriorDensity", "posterior_density", "unconstrained_draws", "unpack_posterior"]


class PosteriorDensity(NamedTuple):
    """Flat-vector view of a NumPyro posterior.

    Attributes
    ----------
    layout : ParamLayout
        Latent sites (constrained shapes) in the model's order; flat names for reports.
    unconstrained_layout : ParamLayout
        The same sites in the unconstrained space (shapes may differ, e.g. a simplex).
    logdensity : callable
        Flat unconstrained ``z`` -> unnormalised log posterior density of ``z`` (with the
        transforms' log-Jacobian); JAX-traceable.
    log_joint : callable
        Flat constrained ``θ`` -> ``log p(y | θ) + log p(θ)`` (no Jacobian); JAX-traceable.
    to_constrained, to_unconstrained : callable
        Flat bijections ``z -> θ`` and ``θ -> z``; JAX-traceable.
    init_unconstrained : array
        Flat unconstrained point the model was traced at (``init_values`` or prior medians).
    bounded : numpy array of bool
        Per flat unconstrained element: whether its site's support is not all of ℝ (its
        transform is not the identity), so that ``|z| → ∞`` is an edge of the support.
    """

    layout: ParamLayout
    unconstrained_layout: ParamLayout
    logdensity: Callable
    log_joint: Callable
    to_constrained: Callable
    to_unconstrained: Callable
    init_unconstrained: jax.Array
    bounded: np.ndarray


def unpack_posterior(
    posterior: Any,
    model: Callable | None,
    model_args: tuple,
    model_kwargs: Mapping[str, Any] | None,
    *,
    group_by_chain: bool,
    allow_none: bool = False,
) -> tuple[dict[str, np.ndarray] | None, Callable, tuple, dict]:
    """Draws by chain, model and its arguments from an MCMC object or a samples dict.

    Parameters
    ----------
    posterior : numpyro.infer.MCMC or dict or None
        A finished ``MCMC`` run (its model and arguments are used unless given), or a dict of
        draws (``(num_draws, ...)`` per site, or ``(num_chains, num_draws, ...)`` when
        ``group_by_chain``).
    model : callable or None
        The NumPyro model; required with a samples dict.
    model_args, model_kwargs
        The model's arguments (taken from the MCMC run when ``posterior`` is one and these are
        empty).
    group_by_chain : bool
        Whether a samples dict has a leading chain axis.
    allow_none : bool
        Accept ``posterior=None`` (then only the model is used).

    Returns
    -------
    samples : dict of arrays (num_chains, num_draws, ...) or None
    model, model_args, model_kwargs
    """
    from numpyro.infer import MCMC

    model_kwargs = dict(model_kwargs or {})
    if isinstance(posterior, MCMC):
        if getattr(posterior, "_states", None) is None:
            raise ValueError("posterior is an MCMC object that has not been run: call .run first")
        samples = posterior.get_samples(group_by_chain=True)
        if model is None:
            model = posterior.sampler.model
            model_args = model_args or tuple(posterior._args)
            model_kwargs = model_kwargs or dict(posterior._kwargs)
    elif posterior is None and allow_none:
        samples = None
    elif isinstance(posterior, Mapping):
        samples = {}
        for name, value in posterior.items():
            value = np.asarray(value)
            if not group_by_chain:
                value = value[None]
            if value.ndim < 2:
                raise ValueError(
                    f"posterior[{name!r}] has shape {np.shape(posterior[name])}: expected "
                    "(num_chains, num_draws, ...) with group_by_chain=True"
                )
            samples[name] = value
    else:
        raise TypeError(
            "posterior must be a numpyro.infer.MCMC that has been run or a dict of draws, got "
            f"{type(posterior).__name__}"
        )
    if model is None or not callable(model):
        raise TypeError(f"model must be a NumPyro model (a callable), got {model!r}")
    if not isinstance(model_args, tuple):
        raise TypeError(f"model_args must be a tuple, got {type(model_args).__name__}")
    return samples, model, model_args, model_kwargs


def posterior_density(
    model: Callable,
    model_args: tuple = (),
    model_kwargs: Mapping[str, Any] | None = None,
    *,
    init_values: Mapping[str, Any] | None = None,
) -> PosteriorDensity:
    """Trace a NumPyro model and return its flat log densities and bijections.

    Parameters
    ----------
    model : callable
        NumPyro model.
    model_args, model_kwargs
        Its arguments (data).
    init_values : dict, optional
        A point in the support (constrained values) to trace at; prior medians otherwise.

    Returns
    -------
    PosteriorDensity
    """
    model_kwargs = dict(model_kwargs or {})
    strategy = init_to_median() if init_values is None else init_to_value(values=init_values)
    try:
        info = initialize_model(
            jax.random.key(0),
            model,
            init_strategy=strategy,
            model_args=model_args,
            model_kwargs=model_kwargs,
            validate_grad=False,
        )
    except (ValueError, RuntimeError) as error:
        where = "the prior medians" if init_values is None else f"{dict(init_values)}"
        raise ValueError(
            f"the model cannot be evaluated at {where} ({error}): pass draws or init_params "
            "inside the model's support"
        ) from error
    trace = info.model_trace
    names = [n for n in trace if n in info.param_info.z]
    transforms = {name: site_transform(trace[name]) for name in names}
    z0 = {n: info.param_info.z[n] for n in names}
    theta0 = {n: (transforms[n](v) if transforms[n] is not None else v) for n, v in z0.items()}
    layout = param_layout(theta0)
    unc_layout = param_layout(z0)
    potential_fn = info.potential_fn

    def apply(values, inverse):
        out = {}
        for n, v in values.items():
            t = transforms[n]
            out[n] = v if t is None else (t.inv(v) if inverse else t(v))
        return out

    def to_constrained(z):
        return layout.ravel(apply(unc_layout.unravel(z), inverse=False))

    def to_unconstrained(theta):
        return unc_layout.ravel(apply(layout.unravel(theta), inverse=True))

    def logdensity(z):
        return -potential_fn(unc_layout.unravel(z))

    def log_joint(theta):
        return log_density(model, model_args, model_kwargs, layout.unravel(theta))[0]

    return PosteriorDensity(
        layout,
        unc_layout,
        logdensity,
        log_joint,
        to_constrained,
        to_unconstrained,
        unc_layout.ravel(z0),
        np.concatenate(
            [
                np.full(
                    np.size(z0[n]), not isinstance(transforms[n], (IdentityTransform, type(None)))
                )
                for n in names
            ]
        ),
    )


def unconstrained_draws(density: PosteriorDensity, samples: Mapping[str, Any]) -> np.ndarray:
    """Map draws ``(num_chains, num_draws, ...)`` per site to flat unconstrained draws.

    Returns
    -------
    array of shape (num_chains, num_draws, d)
    """
    missing = [n for n in density.layout.names if n not in samples]
    if missing:
        raise ValueError(
            f"the posterior draws lack the model's latent site(s) {missing}; they have "
            f"{sorted(samples)}"
        )
    first = np.asarray(samples[density.layout.names[0]])
    chains, draws = first.shape[:2]
    flat = np.concatenate(
        [
            np.reshape(np.asarray(samples[n], np.float64), (chains * draws, -1))
            for n in density.layout.names
        ],
        axis=1,
    )
    z = np.asarray(jax.jit(jax.vmap(density.to_unconstrained))(jnp.asarray(flat)))
    if not np.all(np.isfinite(z)):
        bad = int(np.sum(~np.all(np.isfinite(z), axis=1)))
        raise ValueError(
            f"{bad} posterior draw(s) lie outside the model's support (their unconstrained "
            "values are not finite): pass draws from this model"
        )
    return z.reshape(chains, draws, -1)
