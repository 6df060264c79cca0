"""A Dynare-style posterior table for any MCMC run: moments, HPD intervals, modes, diagnostics."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._params import flat_names
from .._warnings import ConvergenceWarning
from .._x64 import float64

__all__ = ["geweke_z", "posterior_report"]

#: |z| beyond which a bounded parameter's mode counts as on the edge of its support (a logit of
#: 12 is 1 − 6e-6 of the way to the bound).
_EDGE = 12.0

_COLUMNS = (
    "mean",
    "median",
    "sd",
    "hdi_lower",
    "hdi_upper",
    "mode",
    "mode_unconstrained",
    "r_hat",
    "ess_bulk",
    "ess_tail",
    "inefficiency",
    "geweke_z",
)


def posterior_report(
    posterior: Any,
    model: Callable | None = None,
    *,
    model_args: tuple = (),
    model_kwargs: Mapping[str, Any] | None = None,
    group_by_chain: bool = False,
    hdi_prob: float = 0.9,
    geweke_first: float = 0.1,
    geweke_last: float = 0.5,
    modes: bool = True,
):
    """Tabulate a posterior run: moments, HPD intervals, both modes and convergence diagnostics.

    Parameters
    ----------
    posterior : numpyro.infer.MCMC, xarray.DataTree or dict
        A finished ``MCMC`` run (its model and arguments are used for the modes unless given),
        an ArviZ ``DataTree`` with a ``posterior`` group (e.g. ``arviz.from_numpyro(mcmc)``), or
        a dict of draws, ``(num_draws, ...)`` per variable or ``(num_chains, num_draws, ...)``
        with ``group_by_chain=True``.
    model : callable, optional
        The NumPyro model, for the modes (not needed with an ``MCMC``; without a model the mode
        columns are NaN).
    model_args, model_kwargs
        The model's arguments (data).
    group_by_chain : bool
        Whether a dict of draws has a leading chain axis.
    hdi_prob : float in (0, 1)
        Probability mass of the highest-posterior-density intervals (``arviz.hdi``).
    geweke_first, geweke_last : float
        Fractions of each chain compared by Geweke's test (first 10% against last 50%).
    modes : bool
        Compute the modes (two BFGS runs on the model's log density).

    Returns
    -------
    EstimationSummary
        A :class:`pandas.DataFrame` (one row per scalar parameter, ``beta[0]`` for vector
        sites) that prints with a header. Columns:

        - ``mean``, ``median``, ``sd`` (``ddof=1``) over all draws;
        - ``hdi_lower``, ``hdi_upper``: shortest interval with ``hdi_prob`` of the draws;
        - ``mode``: the posterior mode in the model's own parameters θ, the maximiser of
          ``p(y | θ) p(θ)`` (no Jacobian), as Dynare and papers report it; found by BFGS over
          the unconstrained ``z`` with ``θ = T(z)``, which maximises the same function. Where
          the supremum lies on the boundary of the support (``|z| > 12`` for a bounded
          parameter), the header names the parameters: there is no interior mode;
        - ``mode_unconstrained``: the maximiser ``ẑ`` of the density of ``z = T⁻¹(θ)``, which
          includes ``log |det J_T(z)|`` (what NumPyro samples and what the Laplace evidence
          uses), reported in the model's parameters as ``T(ẑ)``;
        - ``r_hat``: rank-normalised split R-hat (Vehtari et al. 2021, ``arviz.rhat``); one
          chain is split in two halves first, so that it is defined;
        - ``ess_bulk``, ``ess_tail``: ArviZ's bulk and tail (5%/95%) effective sample sizes;
        - ``inefficiency``: draws / ESS with the autocorrelation ESS of the mean
          (``arviz.ess(method="mean")``), Dynare's inefficiency factor (the integrated
          autocorrelation time);
        - ``geweke_z``: Geweke's (1992) z-score, see :func:`geweke_z`.

        Variables that are not latent sites of the model (deterministic sites) get NaN modes.
    """
    import pandas as pd

    from .._posterior_density import unpack_posterior
    from ._summary import EstimationSummary

    if not 0.0 < float(hdi_prob) < 1.0:
        raise ValueError(f"hdi_prob must lie in (0, 1), got {hdi_prob!r}")
    samples, model, model_args, model_kwargs = _draws(
        posterior, model, model_args, model_kwargs, group_by_chain, unpack_posterior
    )
    first = next(iter(samples.values()))
    num_chains, num_draws = first.shape[:2]
    if num_draws < 20:
        raise ValueError(f"posterior has {num_draws} draws per chain: at least 20 are needed")
    mode_values, mode_note = {}, "not computed (no model given)" if model is None else "off"
    if modes and model is not None:
        mode_values, mode_note = _modes(samples, model, model_args, model_kwargs)

    rows, names = [], []
    for name, draws in samples.items():
        shape = draws.shape[2:]
        columns = draws.reshape(num_chains, num_draws, -1)
        for k, label in enumerate(flat_names(name, shape)):
            x = columns[:, :, k]
            mode = mode_values.get(name, {})
            rows.append(
                _row(
                    x,
                    hdi_prob,
                    geweke_first,
                    geweke_last,
                    np.ravel(mode["mode"])[k] if mode else np.nan,
                    np.ravel(mode["mode_unconstrained"])[k] if mode else np.nan,
                )
            )
            names.append(label)
    table = pd.DataFrame(rows, index=pd.Index(names, name="parameter"), columns=list(_COLUMNS))
    header = [
        ("Posterior draws", f"{num_chains} chain(s) x {num_draws}"),
        ("HPD intervals", f"{hdi_prob:.0%}"),
        ("mode", "argmax of p(y|theta) p(theta) over the model's parameters (no Jacobian)"),
        (
            "mode_unconstrained",
            "argmax of the density of z = T^-1(theta) (with log|det J|), as T(z)",
        ),
        ("Modes", mode_note),
        ("Geweke z", f"first {geweke_first:.0%} vs last {geweke_last:.0%} of each chain"),
        ("Inefficiency", "draws / ESS (integrated autocorrelation time)"),
    ]
    return EstimationSummary(table, header=header)


def geweke_z(draws, first: float = 0.1, last: float = 0.5) -> float:
    r"""Geweke's (1992) convergence z-score of a scalar quantity over one or more chains.

    Compares the mean of the first ``first`` share of each chain with the mean of the last
    ``last`` share:

    .. math:: z = \frac{\bar x_A - \bar x_B}{\sqrt{\hat S_A(0)/n_A + \hat S_B(0)/n_B}},

    where :math:`\hat S(0)/n`, the variance of a window mean, is estimated as the window's
    variance over its effective sample size (``arviz.ess(method="mean")``, i.e. the spectral
    density at zero from the autocorrelations). With several chains the window means are
    averaged over chains and their variances added (divided by the number of chains squared),
    so that ``z`` is again standard normal under convergence.

    Parameters
    ----------
    draws : array of shape (num_draws,) or (num_chains, num_draws)
    first, last : float
        Window shares, ``first + last <= 1``.

    Returns
    -------
    float
    """
    import arviz

    if not (0.0 < first < 1.0 and 0.0 < last < 1.0 and first + last <= 1.0):
        raise ValueError(
            f"geweke windows must satisfy 0 < first, last and first + last <= 1, got first="
            f"{first!r}, last={last!r}"
        )
    x = np.atleast_2d(np.asarray(draws, np.float64))
    n = x.shape[1]
    n_a, n_b = int(first * n), int(last * n)
    if n_a < 4:
        raise ValueError(f"Geweke's first window has {n_a} draws (chain of {n}): too short")
    means, variances = [], []
    for window in (x[:, :n_a], x[:, n - n_b :]):
        means.append(window.mean(axis=1).mean())
        per_chain = [
            np.var(w, ddof=1) / float(arviz.ess(w[None], method="mean")) if np.ptp(w) else 0.0
            for w in window
        ]
        variances.append(np.sum(per_chain) / x.shape[0] ** 2)
    scale = np.sqrt(variances[0] + variances[1])
    return float((means[0] - means[1]) / scale) if scale > 0 else float("nan")


def _row(x, hdi_prob, geweke_first, geweke_last, mode, mode_unconstrained):
    """One table row for the scalar draws ``x`` of shape (num_chains, num_draws)."""
    import arviz

    flat = x.ravel()
    lower, upper = np.asarray(arviz.hdi(flat, prob=hdi_prob))
    split = x if x.shape[0] > 1 else x[:, : 2 * (x.shape[1] // 2)].reshape(2, -1)
    constant = np.ptp(flat) == 0.0
    ess_mean = np.nan if constant else float(arviz.ess(x, method="mean"))
    return [
        flat.mean(),
        np.median(flat),
        flat.std(ddof=1),
        lower,
        upper,
        mode,
        mode_unconstrained,
        np.nan if constant else float(arviz.rhat(split)),
        np.nan if constant else float(arviz.ess(x)),
        np.nan if constant else float(arviz.ess(x, method="tail", prob=(0.05, 0.95))),
        flat.size / ess_mean,
        np.nan if constant else geweke_z(x, geweke_first, geweke_last),
    ]


def _draws(posterior, model, model_args, model_kwargs, group_by_chain, unpack_posterior):
    """Draws by chain (dict of numpy arrays) and the model, from any supported input."""
    # An ArviZ DataTree (itself a Mapping of groups) or a legacy InferenceData.
    tree_posterior = None
    children = getattr(posterior, "children", None)
    if children is not None and "posterior" in children:
        tree_posterior = children["posterior"]
    elif hasattr(posterior, "groups") and hasattr(posterior, "posterior"):
        tree_posterior = posterior.posterior
    if tree_posterior is not None:
        dataset = (
            tree_posterior.to_dataset() if hasattr(tree_posterior, "to_dataset") else tree_posterior
        )
        samples = {}
        for name, array in dataset.data_vars.items():
            order = ("chain", "draw", *[d for d in array.dims if d not in ("chain", "draw")])
            samples[str(name)] = np.asarray(array.transpose(*order).values)
        return samples, model, model_args, dict(model_kwargs or {})
    if isinstance(posterior, Mapping) and model is None:
        # No model: only the table of draws (no modes).
        samples = {}
        for name, value in posterior.items():
            value = np.asarray(value)
            samples[name] = value if group_by_chain else value[None]
        return samples, None, model_args, dict(model_kwargs or {})
    samples, model, model_args, model_kwargs = unpack_posterior(
        posterior, model, model_args, model_kwargs, group_by_chain=group_by_chain
    )
    return {k: np.asarray(v) for k, v in samples.items()}, model, model_args, model_kwargs


def _modes(samples, model, model_args, model_kwargs):
    """Both posterior modes by site, and a note on their convergence."""
    import jax.numpy as jnp

    from .._posterior_density import posterior_density, unconstrained_draws
    from ..frequentist._mode import find_mode

    with float64():
        latent_first = {k: v[0, 0] for k, v in samples.items()}
        density = posterior_density(model, model_args, model_kwargs, init_values=latent_first)
        latent = {n: samples[n] for n in density.layout.names}
        start = jnp.asarray(unconstrained_draws(density, latent).mean(axis=(0, 1)))

        def log_joint_of_z(z):
            return density.log_joint(density.to_constrained(z))

        found, notes = {}, []
        for column, objective in [
            ("mode", log_joint_of_z),
            ("mode_unconstrained", density.logdensity),
        ]:
            result = find_mode(objective, start, optimizer="scipy", hessian=None, warn=False)
            theta = np.asarray(density.to_constrained(jnp.asarray(result.position)))
            found[column] = density.layout.unravel_numpy(theta)
            edge = density.bounded & (np.abs(np.asarray(result.position)) > _EDGE)
            if edge.any():
                labels = density.unconstrained_layout.flat_names
                names = [label for label, flag in zip(labels, edge, strict=True) if flag]
                notes.append(
                    f"{column} at the edge of the support for {', '.join(names)} (the supremum "
                    "lies on the boundary: no interior mode)"
                )
            if not result.converged:
                notes.append(f"{column} did not converge ({result.message})")
                warnings.warn(
                    f"posterior_report: the {column} search did not converge: {result.message}; "
                    "a mode on the boundary of the support (e.g. a correlation -> 1) has no "
                    "interior maximiser",
                    ConvergenceWarning,
                    stacklevel=3,
                )
        by_site = {
            name: {column: found[column][name] for column in found} for name in density.layout.names
        }
        return by_site, "; ".join(notes) if notes else "both converged (BFGS), interior"
