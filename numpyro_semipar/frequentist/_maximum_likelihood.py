"""Maximum likelihood (and posterior mode) for any NumPyro model."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._deprecation import renamed_arguments
from .._warnings import IdentificationWarning
from .._x64 import float64
from ..reporting import EstimationResult
from ._mode import check_optimizer, find_mode, inverse_information
from ._numpyro_model import model_likelihood

__all__ = ["MaximumLikelihood", "covariance_from_scores"]

_COVARIANCES = ("hessian", "sandwich", "opg")


@renamed_arguments(kind="cov_type")
def covariance_from_scores(
    hessian: np.ndarray, scores: np.ndarray | None, cov_type: str, names: list[str]
) -> np.ndarray:
    """Covariance of an M-estimator from its Hessian and per-observation scores.

    Parameters
    ----------
    hessian : array of shape (k, k)
        Hessian of the total log-likelihood at the estimate.
    scores : array of shape (n, k) or None
        Per-observation scores (needed for ``"sandwich"`` and ``"opg"``).
    cov_type : {"hessian", "sandwich", "opg"}
        ``inv(-H)``; ``inv(H) (SᵀS) inv(H)`` (robust, HC0 for linear regression); or
        ``inv(SᵀS)``.
    names : list of str
        Parameter names, used when reporting unidentified parameters.

    Returns
    -------
    array of shape (k, k)
        The covariance; NaN rows/columns for unidentified parameters (with a warning).
    """
    if cov_type not in _COVARIANCES:
        raise ValueError(f"cov_type must be one of {_COVARIANCES}, got {cov_type!r}")
    information = -np.asarray(hessian)
    evals = np.linalg.eigvalsh((information + information.T) / 2.0)
    if evals.size and evals.min() < -1e-8 * max(abs(evals).max(), 1.0):
        warnings.warn(
            "the Hessian is not negative definite at the estimate (not a local maximum; "
            f"smallest information eigenvalue {evals.min():.3g}): covariance set to NaN",
            IdentificationWarning,
            stacklevel=3,
        )
        return np.full_like(information, np.nan)
    bread, unidentified = inverse_information(information, names)
    if unidentified:
        warnings.warn(
            "the information matrix is singular at the estimate; not identified: "
            + ", ".join(unidentified),
            IdentificationWarning,
            stacklevel=3,
        )
    if cov_type == "hessian":
        return bread
    meat = np.asarray(scores).T @ np.asarray(scores)
    if cov_type == "opg":
        cov, bad = inverse_information(meat, names)
        if bad and not unidentified:
            warnings.warn(
                "the outer product of scores is singular; not identified: " + ", ".join(bad),
                IdentificationWarning,
                stacklevel=3,
            )
        return cov
    return bread @ meat @ bread


class MaximumLikelihood:
    """Maximum likelihood estimation of a NumPyro model.

    Latent sample (and ``numpyro.param``) sites are the parameters and their priors are ignored;
    observed sites give the log-likelihood. Optimisation is by BFGS (optimistix, or scipy's with
    ``optimizer="scipy"``) in the unconstrained space, in float64; covariances are computed in
    the constrained space.

    Parameters
    ----------
    model : callable
        A NumPyro model.
    cov_type : {"hessian", "sandwich", "opg"}
        ``"hessian"``: inverse observed information; ``"sandwich"``: robust
        ``H⁻¹(SᵀS)H⁻¹`` from per-observation scores (HC0 for a linear regression); ``"opg"``:
        inverse outer product of the scores.
    map : bool
        If True, add the log prior densities of the latent sites (evaluated in the constrained
        space, no Jacobian) and find the posterior mode instead.
    rtol, atol : float
        BFGS tolerances.
    max_steps : int
        BFGS iteration limit.
    optimizer : {"optimistix", "scipy"}
        BFGS implementation (see :func:`find_mode`): ``"scipy"`` drives the jitted gradient
        from the host and skips compiling optimistix's loop, which pays when the
        log-likelihood is slow to compile and fast to run.

    Notes
    -----
    Works with x64 disabled (NumPyro's default float32): :meth:`fit` switches float64 on
    around its own work and returns float64 results, without changing JAX's global setting.
    Calling it inside a ``jit``/``vmap`` trace started in float32 is not supported; see
    :class:`~numpyro_semipar.Float64RequiredError`.

    Examples
    --------
    >>> import numpyro, numpyro.distributions as dist
    >>> def model(x, y=None):
    ...     beta = numpyro.sample("beta", dist.Normal(0, 10).expand([x.shape[1]]))
    ...     sigma = numpyro.sample("sigma", dist.HalfNormal(5))
    ...     numpyro.sample("y", dist.Normal(x @ beta, sigma), obs=y)
    >>> result = MaximumLikelihood(model).fit(x, y)  # doctest: +SKIP
    >>> result.summary()  # doctest: +SKIP
    """

    @renamed_arguments(covariance="cov_type")
    def __init__(
        self,
        model: Callable,
        *,
        cov_type: str = "hessian",
        map: bool = False,  # noqa: A002 - the issue's name for posterior-mode finding
        rtol: float = 1e-10,
        atol: float = 1e-10,
        max_steps: int = 5000,
        optimizer: str = "optimistix",
    ) -> None:
        if not callable(model):
            raise TypeError(f"model must be a NumPyro model (callable), got {type(model).__name__}")
        if cov_type not in _COVARIANCES:
            raise ValueError(f"cov_type must be one of {_COVARIANCES}, got {cov_type!r}")
        self.model = model
        self.cov_type = cov_type
        self.map = bool(map)
        check_optimizer(optimizer)
        self.rtol, self.atol, self.max_steps = rtol, atol, max_steps
        self.optimizer = optimizer

    def fit(
        self,
        *model_args: Any,
        init_params: Mapping[str, Any] | None = None,
        rng_key: jax.Array | None = None,
        **model_kwargs: Any,
    ) -> EstimationResult:
        """Estimate the parameters.

        Parameters
        ----------
        *model_args, **model_kwargs
            Passed to the model (data, covariates).
        init_params : dict, optional
            Starting values by site name (constrained space). Default: the prior medians.
        rng_key : jax.random key, optional
            Key for tracing the model and for the default start (NumPyro's
            ``init_to_median`` draws 15 prior samples). Without one the fit uses
            ``jax.random.key(0)``, deliberately: the same call gives the same start and the
            same result (as in statsmodels); the estimate depends on the key only through the
            start, i.e. within the solver tolerance. Pass a key to vary the start.

        Returns
        -------
        EstimationResult
            With ``params`` in the constrained space, ``cov`` of type ``self.cov_type``,
            ``loglik`` (the maximised log-likelihood), ``nobs`` and convergence status;
            ``dims`` names the dimensions of sites drawn inside named plates by the plate, as
            ``arviz.from_numpyro`` does.
        """
        with float64():
            model_args = jax.tree.map(_as_float64, model_args)
            model_kwargs = jax.tree.map(_as_float64, model_kwargs)
            problem = model_likelihood(
                self.model,
                model_args,
                model_kwargs,
                init_params=init_params,
                include_prior=self.map,
                rng_key=rng_key,
            )
            names = list(problem.layout.flat_names)
            start_value = problem.loglik(problem.init_constrained)
            if not bool(jnp.isfinite(start_value)):
                raise ValueError(
                    f"the log-likelihood is {float(start_value)} at the starting point "
                    f"{dict(zip(names, problem.init_constrained.tolist(), strict=True))}; "
                    "pass init_params inside the support"
                )
            scale = float(problem.nobs)

            def objective(flat_unconstrained):
                # Mean log-likelihood: gradients of order one whatever the sample size.
                return problem.loglik(problem.to_constrained(flat_unconstrained)) / scale

            z0 = problem.to_unconstrained(problem.init_constrained)
            # The covariance comes from the constrained-space Hessian below: the mode search's
            # own (unconstrained) curvature is not needed.
            mode = find_mode(
                objective,
                z0,
                rtol=self.rtol,
                atol=self.atol,
                max_steps=self.max_steps,
                hessian=None,
                optimizer=self.optimizer,
            )
            theta = problem.to_constrained(jnp.asarray(mode.position))
            loglik = float(problem.loglik(theta))
            # Jitted: eager jax.hessian/jacfwd dispatch (and compile) every primitive one by one.
            hessian = np.asarray(jax.jit(jax.hessian(problem.loglik))(theta))
            scores = None
            if self.cov_type != "hessian":
                scores = np.asarray(jax.jit(jax.jacfwd(problem.pointwise_loglik))(theta))
            cov = covariance_from_scores(hessian, scores, self.cov_type, names)
            return EstimationResult(
                params=problem.layout.unravel_numpy(theta),
                cov=cov,
                estimator="MaximumLikelihood" + (" (posterior mode)" if self.map else ""),
                nobs=problem.nobs,
                loglik=None if self.map else loglik,
                converged=mode.converged,
                objective=-loglik / scale,
                objective_name=(
                    "negative mean log posterior" if self.map else "negative mean log-likelihood"
                ),
                cov_type=self.cov_type,
                message=mode.message,
                num_iter=mode.num_steps,
                extra={
                    "hessian": hessian,
                    "scores": scores,
                    "gradient_norm": mode.gradient_norm,
                    "observed_sites": problem.observed_sites,
                },
                # Plate names as dimension names, as arviz.from_numpyro gives them.
                dims=problem.dims or None,
            )


def _as_float64(x):
    if isinstance(x, np.ndarray | jax.Array) and jnp.issubdtype(x.dtype, jnp.floating):
        return jnp.asarray(x, dtype=jnp.float64)
    return x
