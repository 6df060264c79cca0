r"""The An–Schorfheide (2007) small New Keynesian model on US data, with its priors.

Log-linearised around the balanced-growth path (all variables in percent deviations):

.. math::

    y_t &= E_t y_{t+1} - \tfrac{1}{\tau}(R_t - E_t\pi_{t+1} - E_t z_{t+1})
           + g_t - E_t g_{t+1}\\
    \pi_t &= \beta E_t \pi_{t+1} + \kappa (y_t - g_t)\\
    R_t &= \rho_R R_{t-1} + (1-\rho_R)\psi_1 \pi_t + (1-\rho_R)\psi_2 (y_t - g_t)
           + \sigma_R \varepsilon_{R,t}\\
    g_t &= \rho_g g_{t-1} + \sigma_g \varepsilon_{g,t}, \qquad
    z_t = \rho_z z_{t-1} + \sigma_z \varepsilon_{z,t},

with ``β = 1/(1 + r^(A)/400)``. Observables (Herbst & Schorfheide 2016, ch. 2):
quarterly per-capita output growth ``γ^(Q) + y_t − y_{t−1} + z_t``, annualised inflation
``π^(A) + 4π_t`` and the annualised interest rate ``π^(A) + r^(A) + 4γ^(Q) + 4R_t``.
The priors are those of Herbst & Schorfheide (2016), the textbook version of An & Schorfheide
(2007, Econometric Reviews 26): the prior is truncated to the determinacy region by giving
indeterminate parameters zero density.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import transforms

from ._linear_re import LinearREModel
from ._solve import SOLVE_STATUS
from ._state_space import StateSpace

__all__ = [
    "AN_SCHORFHEIDE",
    "PARAM_NAMES",
    "POSTERIOR_BULK_START",
    "StateSpace",
    "an_schorfheide_model",
    "an_schorfheide_priors",
    "count_status",
    "load_us_data",
    "log_likelihood",
    "log_prior",
    "prior_mean",
    "state_space",
    "system_matrices",
    "unconstrained_draws",
]

#: Structural parameters, in the order used by flat vectors.
PARAM_NAMES = (
    "tau",
    "kappa",
    "psi1",
    "psi2",
    "r_A",
    "pi_A",
    "gamma_Q",
    "rho_R",
    "rho_g",
    "rho_z",
    "sigma_R",
    "sigma_g",
    "sigma_z",
)


def _gamma(mean, sd):
    # Gamma with given mean and standard deviation: shape = (m/s)², rate = m/s².
    return dist.Gamma((mean / sd) ** 2, mean / sd**2)


def _inverse_gamma_hs(s, nu):
    # Herbst–Schorfheide IG(s, ν) on σ: p(σ) ∝ σ^{-ν-1} exp(-ν s² / 2σ²), i.e. σ² ~ IG(ν/2, ν s²/2).
    return dist.TransformedDistribution(
        dist.InverseGamma(nu / 2.0, nu * s**2 / 2.0), transforms.PowerTransform(0.5)
    )


def an_schorfheide_priors() -> dict[str, dist.Distribution]:
    """Prior distributions of the 13 parameters (Herbst & Schorfheide 2016).

    Returns
    -------
    dict
        ``{name: numpyro distribution}`` in :data:`PARAM_NAMES` order. Shock standard deviations
        are in percent and follow the inverse-gamma ``IG(s, ν)`` of Herbst & Schorfheide.
    """
    return {
        "tau": _gamma(2.0, 0.5),
        "kappa": dist.Uniform(0.0, 1.0),
        "psi1": _gamma(1.5, 0.25),
        "psi2": _gamma(0.5, 0.25),
        "r_A": _gamma(0.5, 0.5),
        "pi_A": _gamma(7.0, 2.0),
        "gamma_Q": dist.Normal(0.4, 0.2),
        "rho_R": dist.Uniform(0.0, 1.0),
        "rho_g": dist.Uniform(0.0, 1.0),
        "rho_z": dist.Uniform(0.0, 1.0),
        "sigma_R": _inverse_gamma_hs(0.4, 4.0),
        "sigma_g": _inverse_gamma_hs(1.0, 4.0),
        "sigma_z": _inverse_gamma_hs(0.5, 4.0),
    }


#: A determinate point inside the 1984–2007 posterior's bulk: BFGS from the prior mean stalls in
#: the flat region where the fit is poor, so the mode finders start here.
POSTERIOR_BULK_START: dict[str, float] = {
    "tau": 2.5,
    "kappa": 0.5,
    "psi1": 1.8,
    "psi2": 0.5,
    "r_A": 0.5,
    "pi_A": 3.0,
    "gamma_Q": 0.5,
    "rho_R": 0.8,
    "rho_g": 0.95,
    "rho_z": 0.8,
    "sigma_R": 0.3,
    "sigma_g": 0.8,
    "sigma_z": 0.4,
}


def prior_mean() -> dict[str, float]:
    """Prior means (inverse-gamma means by ``E σ = s √(ν/2) Γ((ν−1)/2) / Γ(ν/2)``).

    Returns
    -------
    dict
        ``{name: float}``; a determinate parameter point.
    """
    from scipy.special import gammaln

    def ig_mean(s, nu):
        return float(s * np.sqrt(nu / 2.0) * np.exp(gammaln((nu - 1) / 2) - gammaln(nu / 2)))

    return {
        "tau": 2.0,
        "kappa": 0.5,
        "psi1": 1.5,
        "psi2": 0.5,
        "r_A": 0.5,
        "pi_A": 7.0,
        "gamma_Q": 0.4,
        "rho_R": 0.5,
        "rho_g": 0.5,
        "rho_z": 0.5,
        "sigma_R": ig_mean(0.4, 4.0),
        "sigma_g": ig_mean(1.0, 4.0),
        "sigma_z": ig_mean(0.5, 4.0),
    }


def load_us_data(start: str = "1959Q2", end: str = "2009Q3") -> tuple[np.ndarray, list[str]]:
    """US quarterly observables from ``statsmodels.datasets.macrodata`` (1959Q2–2009Q3).

    Parameters
    ----------
    start, end : str
        First and last quarter kept (inclusive), e.g. ``"1984Q1"``. The full data set starts in
        1959Q1, which is lost to differencing.

    Returns
    -------
    y : array of shape (n_periods, 3)
        Columns: per-capita real GDP growth ``100 Δlog(realgdp/pop)`` (quarterly percent),
        annualised CPI inflation ``infl = 400 Δlog(cpi)`` and the 3-month T-bill rate
        ``tbilrate`` (annual percent).
    dates : list of str
        Labels such as ``"1959Q2"``.
    """
    from statsmodels.datasets import macrodata

    frame = macrodata.load_pandas().data
    per_capita = np.log(frame["realgdp"].to_numpy() / frame["pop"].to_numpy())
    growth = 100.0 * np.diff(per_capita)
    inflation = frame["infl"].to_numpy()[1:]
    rate = frame["tbilrate"].to_numpy()[1:]
    y = np.column_stack([growth, inflation, rate]).astype(np.float64)
    years, quarters = frame["year"].to_numpy()[1:], frame["quarter"].to_numpy()[1:]
    dates = [f"{int(a)}Q{int(b)}" for a, b in zip(years, quarters, strict=True)]
    for name, label in (("start", start), ("end", end)):
        if label not in dates:
            raise ValueError(
                f"{name}={label!r} is not a quarter of the data ({dates[0]}–{dates[-1]})"
            )
    i, j = dates.index(start), dates.index(end)
    if j < i + 10:
        raise ValueError(f"the sample {start}–{end} is too short (fewer than 11 quarters)")
    return y[i : j + 1], dates[i : j + 1]


def system_matrices(theta):
    """Canonical-form matrices ``A E x' + B x + C x₋₁ + E u = 0``, ``u = Φ u₋₁ + ε``.

    Parameters
    ----------
    theta : dict
        Parameters by name (:data:`PARAM_NAMES`).

    Returns
    -------
    A, B, C : arrays of shape (3, 3)
        For ``x = (y, π, R)``.
    E : array of shape (3, 3)
        For ``u = (g, z, ε_R)``.
    Phi : array of shape (3, 3)
        ``diag(ρ_g, ρ_z, 0)``.
    """
    tau, kappa = theta["tau"], theta["kappa"]
    psi1, psi2, rho_r = theta["psi1"], theta["psi2"], theta["rho_R"]
    rho_g, rho_z = theta["rho_g"], theta["rho_z"]
    beta = 1.0 / (1.0 + theta["r_A"] / 400.0)
    zero = jnp.zeros_like(tau)
    one = jnp.ones_like(tau)
    # Rows: Euler equation, Phillips curve, Taylor rule (expected g', z' folded in via Φ).
    A = jnp.stack(
        [jnp.stack([-one, -1.0 / tau, zero]), jnp.stack([zero, -beta, zero]), jnp.zeros(3)]
    )
    B = jnp.stack(
        [
            jnp.stack([one, zero, 1.0 / tau]),
            jnp.stack([-kappa, one, zero]),
            jnp.stack([-(1 - rho_r) * psi2, -(1 - rho_r) * psi1, one]),
        ]
    )
    C = jnp.stack([jnp.zeros(3), jnp.zeros(3), jnp.stack([zero, zero, -rho_r])])
    E = jnp.stack(
        [
            jnp.stack([-(1.0 - rho_g), -rho_z / tau, zero]),
            jnp.stack([kappa, zero, zero]),
            jnp.stack([(1 - rho_r) * psi2, zero, -one]),
        ]
    )
    Phi = jnp.diag(jnp.stack([rho_g, rho_z, zero]))
    return A, B, C, E, Phi


def _observation(theta):
    """``(d, Z)`` on the state ``(y, π, R, g, z, ε_R, y₋₁)``: growth, inflation, interest rate."""
    k = 7
    Z = jnp.zeros((3, k))
    Z = Z.at[0, 0].set(1.0).at[0, 6].set(-1.0).at[0, 4].set(1.0).at[1, 1].set(4.0)
    Z = Z.at[2, 2].set(4.0)
    gq, pa, ra = theta["gamma_Q"], theta["pi_A"], theta["r_A"]
    d = jnp.stack([gq, pa, pa + ra + 4.0 * gq])
    return d, Z


def _shock_cov(theta):
    """``Ω = diag(σ_g², σ_z², σ_R²)`` for the innovations of ``u = (g, z, ε_R)``."""
    return jnp.diag(jnp.stack([theta["sigma_g"], theta["sigma_z"], theta["sigma_R"]]) ** 2)


#: The An–Schorfheide model as an instance of the general interface (output's lag is a state for
#: the output-growth observable).
AN_SCHORFHEIDE = LinearREModel(
    system_matrices,
    _observation,
    _shock_cov,
    lagged=(0,),
    variable_names=("y", "pi", "R"),
    exogenous_names=("g", "z", "eps_R"),
    observable_names=("output growth", "inflation", "interest rate"),
)


def state_space(theta) -> StateSpace:
    """Solve the model and build its state-space form (state ``(y, π, R, g, z, ε_R, y₋₁)``).

    Parameters
    ----------
    theta : dict
        Parameters by name.

    Returns
    -------
    StateSpace
    """
    return AN_SCHORFHEIDE._state_space(theta)


def log_likelihood(theta, y):
    """Kalman-filter log-likelihood and solver status.

    Parameters
    ----------
    theta : dict
        Parameters by name.
    y : array of shape (n_periods, 3)
        Observables (see :func:`load_us_data`); NaN marks a missing entry.

    Returns
    -------
    loglik : float array
        ``-inf`` outside the determinacy region (never NaN).
    status : int array
        Solver status code.
    """
    # Strongly typed float arrays: Python floats (weakly typed) would make a second program.
    dtype = jnp.result_type(float)
    theta = {name: jnp.asarray(value, dtype) for name, value in theta.items()}
    return _log_likelihood(theta, jnp.asarray(y, dtype))


# Jitted at module level so that eager calls (NumPyro runs the model outside ``jit`` to set up
# every kernel) hit one compiled program instead of compiling each scan and solve afresh; under
# an outer transformation the jit is inlined.
_log_likelihood = jax.jit(AN_SCHORFHEIDE._log_likelihood)


def unconstrained_draws(samples) -> jax.Array:
    """Map constrained draws to the flat unconstrained space the MH kernels move in.

    Parameters
    ----------
    samples : dict
        Arrays of shape (n,) per parameter name (e.g. ``mcmc.get_samples()``).

    Returns
    -------
    array of shape (n, 13)
        Columns in sorted parameter order, as ``ravel_pytree`` flattens a position dict. The
        prior supports give the transforms, so no model (and no Kalman filter) is run.
    """
    priors = an_schorfheide_priors()
    return jnp.stack(
        [transforms.biject_to(priors[n].support).inv(samples[n]) for n in sorted(PARAM_NAMES)],
        axis=1,
    )


def log_prior(theta):
    """Log prior density (constrained space, no Jacobian); ``-inf`` outside the support.

    Parameters
    ----------
    theta : dict
        Parameters by name.

    Returns
    -------
    float array
    """
    total = 0.0
    for name, prior in an_schorfheide_priors().items():
        value = jnp.asarray(theta[name])
        inside = prior.support(value)
        # Evaluate at a safe point outside the support so that no NaN enters the sum or gradient.
        safe = jnp.where(inside, value, _SAFE_VALUE[name])
        total = total + jnp.where(inside, prior.log_prob(safe), -jnp.inf)
    return total


_SAFE_VALUE = {name: 0.5 for name in PARAM_NAMES} | {"psi1": 1.5, "tau": 2.0, "pi_A": 7.0}


def count_status(status) -> dict[str, int]:
    """Count solver outcomes (a diagnostic for indeterminacy and no-solution regions).

    Parameters
    ----------
    status : array of int
        Status codes from :func:`log_likelihood` over many evaluations.

    Returns
    -------
    dict
        ``{description: count}`` for every code in ``SOLVE_STATUS``.
    """
    status = np.asarray(status).ravel()
    return {label: int(np.sum(status == code)) for code, label in SOLVE_STATUS.items()}


def an_schorfheide_model(y):
    """NumPyro model: the An–Schorfheide priors and the Kalman-filter likelihood of ``y``.

    Parameters
    ----------
    y : array of shape (n_periods, 3)
        Observables (see :func:`load_us_data`).

    Notes
    -----
    The likelihood enters through ``numpyro.factor("loglik", ...)``; indeterminate parameters
    get ``-inf``. The model has no deterministic sites, so the posterior draws are exactly the 13
    parameters (count solver outcomes with :func:`log_likelihood` and :func:`count_status`).
    """
    theta = {name: numpyro.sample(name, prior) for name, prior in an_schorfheide_priors().items()}
    ll, _ = log_likelihood(theta, y)
    numpyro.factor("loglik", ll)
