r"""Bridge sampling estimate of the evidence (Meng & Wong 1996; Gronau et al. 2017).

With the unnormalised posterior :math:`\tilde p` (unconstrained space, with the transforms'
log-Jacobian), a proposal density :math:`g` and the optimal bridge function, the evidence
:math:`r = p(y)` solves Meng & Wong's fixed point

.. math::

    r^{(t+1)} = \frac{\frac1{N_2}\sum_j \frac{\ell_{2,j}}{s_1\ell_{2,j} + s_2 r^{(t)}}}
                     {\frac1{N_1}\sum_i \frac{1}{s_1\ell_{1,i} + s_2 r^{(t)}}},
    \qquad \ell = \tilde p / g,

over :math:`N_1` posterior draws and :math:`N_2` proposal draws (:math:`s_1 = N_1^{\rm eff}/
(N_1^{\rm eff}+N_2)`, :math:`s_2 = 1 - s_1`, with the effective number of posterior draws as in
the ``bridgesampling`` R package). As in Gronau et al., :math:`g` is the normal with the mean and
covariance of the first half of each chain, and the scheme runs on the second half, so that
:math:`g` does not depend on the draws it is evaluated at. Everything is computed in log space.

The error estimate is Frühwirth-Schnatter's (2004) relative mean-squared error

.. math::

    \mathrm{RE}^2 = \frac{V_g(f_1)}{N_2\,E_g(f_1)^2}
                  + \frac{\rho_{f_2}(0)}{N_1}\frac{V_{\rm post}(f_2)}{E_{\rm post}(f_2)^2},
    \quad f_1 = \frac{p}{s_1 p + s_2 g},\; f_2 = \frac{g}{s_1 p + s_2 g},

with :math:`p = \tilde p / \hat r` and :math:`\rho_{f_2}(0) = N_1/\mathrm{ESS}(f_2)` the
integrated autocorrelation time of :math:`f_2` along the chains (the proposal draws are
independent). :math:`\mathrm{RE}` is the standard error of :math:`\log p(y)` to first order.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

from .._warnings import ConvergenceWarning
from .._x64 import float64
from ._draws import effective_sample_size, prepare_draws
from ._result import EvidenceResult

__all__ = ["bridge_sampling_evidence"]


def bridge_sampling_evidence(
    rng_key: jax.Array,
    posterior: Any,
    model: Callable | None = None,
    *,
    model_args: tuple = (),
    model_kwargs: Mapping[str, Any] | None = None,
    group_by_chain: bool = False,
    num_proposal: int | None = None,
    tol: float = 1e-10,
    max_iter: int = 1000,
) -> EvidenceResult:
    """Bridge sampling estimate of the log evidence with a normal proposal (module notes).

    Parameters
    ----------
    rng_key : jax.Array
        Key for the proposal draws.
    posterior : numpyro.infer.MCMC or dict
        A finished ``MCMC`` run (its model and arguments are used unless given) or a dict of
        posterior draws of the model's latent sites (constrained values).
    model : callable, optional
        The NumPyro model (required with a samples dict).
    model_args, model_kwargs
        The model's arguments (data).
    group_by_chain : bool
        Whether a samples dict has a leading chain axis ``(num_chains, num_draws, ...)``.
    num_proposal : int, optional
        Number of proposal draws ``N₂``; default the number of posterior draws in the
        second halves (``N₁``).
    tol : float
        Stop when successive ``log r`` differ by less than ``tol`` (relative change of ``r``).
    max_iter : int
        Iteration limit of the fixed-point scheme.

    Returns
    -------
    EvidenceResult
        ``std_error`` is the square root of Frühwirth-Schnatter's relative mean-squared error.
        ``diagnostics``: ``relative_mse``, ``num_iter``, ``num_posterior`` (``N₁``),
        ``num_proposal`` (``N₂``), ``ess_posterior`` (median ESS of the parameters over the
        second halves, used for ``s₁``), ``ess_f2``, ``num_nonfinite_proposal`` (proposal draws
        where the log density is not finite, counted as zero density).
    """
    if num_proposal is not None and (not isinstance(num_proposal, int) or num_proposal < 2):
        raise ValueError(f"num_proposal must be an integer >= 2, got {num_proposal!r}")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol!r}")
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    with float64():
        draws = prepare_draws(
            posterior, model, model_args, model_kwargs, group_by_chain, min_draws=20
        )
        z, log_p = draws.z, draws.logdensity
        half = z.shape[1] // 2
        fit, z_post, log_p_post = z[:, :half], z[:, half:], log_p[:, half:]
        d = z.shape[-1]
        mean = fit.reshape(-1, d).mean(axis=0)
        cov = np.atleast_2d(np.cov(fit.reshape(-1, d), rowvar=False))
        chol = np.linalg.cholesky(cov)
        n1 = log_p_post.size
        n2 = n1 if num_proposal is None else num_proposal
        z_prop = mean + jax.random.normal(rng_key, (n2, d), jnp.float64) @ chol.T
        log_p_prop = np.asarray(draws.batched_logdensity(z_prop))
        nonfinite = ~np.isfinite(log_p_prop)
        log_p_prop = np.where(nonfinite, -np.inf, log_p_prop)

        def log_g(x):
            white = np.linalg.solve(chol, (np.asarray(x) - mean).T).T
            return (
                -0.5 * np.sum(white**2, axis=-1)
                - 0.5 * d * np.log(2 * np.pi)
                - np.sum(np.log(np.diag(chol)))
            )

        l1 = (log_p_post - log_g(z_post.reshape(-1, d)).reshape(log_p_post.shape)).ravel()
        l2 = log_p_prop - log_g(z_prop)
        ess_post = float(np.median([effective_sample_size(z_post[..., k]) for k in range(d)]))
        log_s1 = np.log(ess_post / (ess_post + n2))
        log_s2 = np.log(n2 / (ess_post + n2))
        lstar = float(np.median(l1))
        a, b = l2 - lstar, l1 - lstar
        log_r, converged, num_iter = 0.0, False, 0
        for num_iter in range(1, max_iter + 1):  # noqa: B007 - the count is reported
            num = logsumexp(a - np.logaddexp(log_s1 + a, log_s2 + log_r)) - np.log(n2)
            den = logsumexp(-np.logaddexp(log_s1 + b, log_s2 + log_r)) - np.log(n1)
            new = float(num - den)
            if not np.isfinite(new):
                break
            step = abs(new - log_r)
            log_r = new
            if step < tol:
                converged = True
                break
        log_z = log_r + lstar
        f1 = np.exp(-np.logaddexp(log_s1, log_s2 - (l2 - log_z)))
        f2 = np.exp(-np.logaddexp(log_s1 + l1 - log_z, log_s2)).reshape(log_p_post.shape)
        ess_f2 = effective_sample_size(f2)
        relative_mse = float(
            np.var(f1, ddof=1) / (n2 * np.mean(f1) ** 2)
            + np.var(f2, ddof=1) / (ess_f2 * np.mean(f2) ** 2)
        )
        if not converged:
            warnings.warn(
                f"bridge sampling did not converge in {num_iter} iterations (last log r {log_r!r})",
                ConvergenceWarning,
                stacklevel=2,
            )
        return EvidenceResult(
            method="bridge",
            log_evidence=float(log_z),
            std_error=float(np.sqrt(relative_mse)),
            converged=converged,
            num_draws=int(log_p.size),
            diagnostics={
                "relative_mse": relative_mse,
                "num_iter": num_iter,
                "num_posterior": int(n1),
                "num_proposal": int(n2),
                "ess_posterior": ess_post,
                "ess_f2": float(ess_f2),
                "num_nonfinite_proposal": int(nonfinite.sum()),
            },
        )
