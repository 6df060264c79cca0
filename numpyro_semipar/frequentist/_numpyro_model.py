"""A NumPyro model seen as a log-likelihood over its latent sites.

Latent ``sample`` and ``param`` sites are the parameters; observed sites (including
``numpyro.factor``) make the log-likelihood. Values are substituted in the constrained space, so
Hessians and covariances are in the parameters' natural units.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.infer import init_to_median, init_to_value
from numpyro.infer.util import initialize_model

from .._checks import check_no_nan
from .._params import ParamLayout, param_layout, site_transform

__all__ = ["ModelLikelihood", "model_likelihood"]


class ModelLikelihood(NamedTuple):
    """Functions of the flat constrained parameter vector of a NumPyro model.

    Attributes
    ----------
    layout : ParamLayout
        Names and shapes of the latent sites.
    init_constrained : array
        Flat starting point (constrained space).
    to_constrained, to_unconstrained : callable
        Bijections between the flat unconstrained and constrained vectors.
    loglik : callable
        Flat constrained vector -> total log-likelihood (plus log prior when ``map=True``).
    pointwise_loglik : callable
        Flat constrained vector -> (n,) per-observation log-likelihoods.
    nobs : int
        Number of observations (length of the per-observation vector).
    observed_sites : list of str
        Names of the observed sites.
    dims : dict of str to tuple of str
        Dimension names of the latent sites that sit in named plates (as ``arviz.from_numpyro``
        names them: the plate's name, ``{site}_dim_{i}`` for the other dimensions).
    """

    layout: ParamLayout
    init_constrained: jax.Array
    to_constrained: Callable
    to_unconstrained: Callable
    loglik: Callable
    pointwise_loglik: Callable
    nobs: int
    observed_sites: list[str]
    dims: dict[str, tuple[str, ...]] | None = None


def plate_dims(name: str, site: dict, shape: tuple[int, ...]) -> tuple[str, ...] | None:
    """Dimension names of a site from its plates, or None when it sits in no plate."""
    event_dim = site["fn"].event_dim if site["type"] == "sample" else 0
    batch_ndim = len(shape) - event_dim
    names: list[str | None] = [None] * len(shape)
    for frame in site.get("cond_indep_stack", []):
        if frame.dim is not None and -batch_ndim <= frame.dim < 0:
            names[batch_ndim + frame.dim] = frame.name
    if all(n is None for n in names):
        return None
    return tuple(n if n is not None else f"{name}_dim_{i}" for i, n in enumerate(names))


def _site_log_prob(site) -> jax.Array:
    log_prob = site["fn"].log_prob(site["value"])
    if site.get("scale") is not None:
        log_prob = site["scale"] * log_prob
    return jnp.asarray(log_prob)


def check_model_inputs(model, model_args, model_kwargs, init_params, rng_key) -> None:
    """Trace the model once and name what NumPyro would report vaguely or not at all.

    Raises
    ------
    ValueError
        An ``init_params`` value outside its site's support (NumPyro would report "invalid
        scale parameter" from a later site), an ``init_params`` name that is no latent site, a
        discrete latent site (NumPyro asks for ``funsor``), or NaN in the data of an observed
        site whose log density it makes non-finite (blamed on the starting point otherwise).
    """
    init_params = dict(init_params or {})

    def check_start(site):
        name = site["name"]
        if site["type"] != "sample" or site.get("is_observed") or name not in init_params:
            return None
        value = jnp.asarray(init_params[name])
        inside = np.asarray(site["fn"].support(value))
        if not inside.all():
            where = tuple(int(i) for i in np.argwhere(~inside)[0]) if inside.ndim else ()
            shown = np.asarray(value)[where] if where else np.asarray(value)
            raise ValueError(
                f"init_params[{name!r}]{list(where) if where else ''} = {shown} is outside the "
                f"support of site {name!r} ({site['fn'].support}); pass a value inside it"
            )
        return value

    seeded = handlers.seed(model, rng_key)
    with warnings.catch_warnings():
        # NumPyro's own validation warnings on the data: the checks below say it by name.
        warnings.simplefilter("ignore")
        trace = handlers.trace(handlers.substitute(seeded, substitute_fn=check_start)).get_trace(
            *model_args, **dict(model_kwargs)
        )
    latent = [
        name
        for name, site in trace.items()
        if site["type"] in ("sample", "param") and not site.get("is_observed", False)
    ]
    unknown = sorted(set(init_params) - set(latent))
    if unknown:
        raise ValueError(
            f"init_params names {unknown}, which the model has no latent site for; its latent "
            f"sites are {latent}"
        )
    for name, site in trace.items():
        if site["type"] != "sample":
            continue
        if not site.get("is_observed", False):
            if site["fn"].is_discrete and site.get("infer", {}).get("enumerate") is None:
                raise ValueError(
                    f"latent site {name!r} is discrete ({type(site['fn']).__name__}): "
                    "MaximumLikelihood estimates continuous parameters only; sum the site out "
                    "of the model by hand, or observe it (obs=...)"
                )
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            log_prob = np.asarray(site["fn"].log_prob(site["value"]))
        # NumPyro's validation turns the log density of a NaN value into -inf, not NaN.
        if not np.isfinite(log_prob).all():
            check_no_nan(site["value"], f"observed site {name!r}: data")


def model_likelihood(
    model: Callable,
    model_args: tuple,
    model_kwargs: Mapping[str, Any],
    *,
    init_params: Mapping[str, Any] | None = None,
    include_prior: bool = False,
    rng_key: jax.Array | None = None,
) -> ModelLikelihood:
    """Analyse a NumPyro model and return its log-likelihood as flat-vector functions."""
    rng_key = jax.random.key(0) if rng_key is None else rng_key
    check_model_inputs(model, model_args, model_kwargs, init_params, rng_key)
    strategy = init_to_median() if init_params is None else init_to_value(values=init_params)
    try:
        model_info = initialize_model(
            rng_key,
            model,
            init_strategy=strategy,
            model_args=model_args,
            model_kwargs=dict(model_kwargs),
            validate_grad=False,
        )
    except RuntimeError as error:
        if "valid initial parameters" not in str(error):
            raise
        raise ValueError(
            "the log density is not finite at the starting point "
            f"(init_params={dict(init_params) if init_params else 'prior medians'}); "
            "pass init_params inside the support"
        ) from None
    trace = model_info.model_trace
    latent = {
        name: site
        for name, site in trace.items()
        if site["type"] in ("sample", "param")
        and not site.get("is_observed", False)
        and name in model_info.param_info.z
    }
    observed = [
        name for name, site in trace.items() if site["type"] == "sample" and site["is_observed"]
    ]
    if not observed:
        raise ValueError(
            "the model has no observed site: pass data with `obs=` (or use numpyro.factor) so "
            "that it defines a likelihood"
        )
    if not latent:
        raise ValueError("the model has no latent sample or param site to estimate")

    transforms = {name: site_transform(site) for name, site in latent.items()}
    unconstrained0 = {name: model_info.param_info.z[name] for name in latent}
    constrained0 = {
        name: (transforms[name](z) if transforms[name] is not None else z)
        for name, z in unconstrained0.items()
    }
    layout = param_layout(constrained0)
    unc_layout = param_layout(unconstrained0)

    def to_constrained(flat_unconstrained):
        values = unc_layout.unravel(flat_unconstrained)
        return layout.ravel(
            {n: (transforms[n](v) if transforms[n] is not None else v) for n, v in values.items()}
        )

    def to_unconstrained(flat_constrained):
        values = layout.unravel(flat_constrained)
        return unc_layout.ravel(
            {
                n: (transforms[n].inv(v) if transforms[n] is not None else v)
                for n, v in values.items()
            }
        )

    def _trace(flat_constrained):
        values = layout.unravel(flat_constrained)
        substituted = handlers.substitute(handlers.seed(model, rng_key), data=values)
        return handlers.trace(substituted).get_trace(*model_args, **model_kwargs)

    def pointwise_terms(flat_constrained):
        tr = _trace(flat_constrained)
        return {name: _site_log_prob(tr[name]) for name in observed}

    def loglik(flat_constrained):
        tr = _trace(flat_constrained)
        total = sum(jnp.sum(_site_log_prob(tr[name])) for name in observed)
        if include_prior:
            total = total + sum(
                jnp.sum(_site_log_prob(tr[name])) for name in latent if tr[name]["type"] == "sample"
            )
        return total

    shapes = {name: np.shape(v) for name, v in pointwise_terms(layout.ravel(constrained0)).items()}
    leading = {s[0] for s in shapes.values() if len(s) >= 1}

    def pointwise_loglik(flat_constrained):
        terms = pointwise_terms(flat_constrained)
        if len(leading) != 1 or any(len(s) == 0 for s in shapes.values()):
            raise ValueError(
                "per-observation log-likelihoods need every observed site to share one leading "
                f"(observation) dimension; got shapes {shapes}"
            )
        return sum(jnp.sum(t.reshape(t.shape[0], -1), axis=1) for t in terms.values())

    nobs = (
        next(iter(leading)) if len(leading) == 1 else int(sum(np.prod(s) for s in shapes.values()))
    )
    return ModelLikelihood(
        layout=layout,
        init_constrained=layout.ravel(constrained0),
        to_constrained=to_constrained,
        to_unconstrained=to_unconstrained,
        loglik=loglik,
        pointwise_loglik=pointwise_loglik,
        nobs=int(nobs),
        observed_sites=observed,
        dims={
            name: dims
            for name, shape in zip(layout.names, layout.shapes, strict=True)
            if (dims := plate_dims(name, latent[name], shape)) is not None
        },
    )
