"""The one-asset HANK of sequence-jacobian as a host log posterior on US data.

The model is ``sequence_jacobian.examples.hank`` (Auclert, Bardóczy, Rognlie & Straub 2021):
households with idiosyncratic skill risk and one liquid asset (government bonds), sticky
prices (Rotemberg NKPC), a Taylor rule without smoothing and a fiscal rule that pays the
interest on a constant debt. Two structural shocks, each AR(1): the monetary policy shock
``rstar`` and TFP ``Z``. The likelihood is Gaussian in the time domain: impulse responses from
the general-equilibrium sequence-space Jacobian ``G`` give the autocovariances
(``estimation.all_covariances``) and ``estimation.log_likelihood`` evaluates the data's density
with a dense Cholesky factor.

What costs what, and what is cached (per process: every Dask worker keeps its own caches):

* the elasticity of intertemporal substitution ``eis`` changes the steady state (``beta`` and
  ``vphi`` are recalibrated to the same targets) and the household block's Jacobian: the
  expensive evaluation (seconds);
* the Taylor coefficient ``phi`` and the NKPC slope ``kappa`` leave the steady state alone
  (inflation is zero there) but change ``G``: with the household Jacobian cached, ``G`` is
  re-solved from the simple blocks only;
* shock persistences, shock sizes and measurement errors only change the impulse responses'
  AR(1) filters and the covariance: the cheap evaluation.

Observables (demeaned over the sample; the model has no trend growth and zero steady-state
inflation):

* ``100 Δlog(real GDP per capita)`` ↔ ``100 (dY_t − dY_{t−1})`` (``Y = 1`` in steady state);
* annualised CPI inflation ``infl`` ↔ ``400 dπ_t`` (π is quarterly net inflation);
* the 3-month T-bill rate ``tbilrate`` ↔ ``400 di_t`` with the nominal rate the Taylor rule
  sets in quarter t, ``i_t = r*_t + φ π_t`` (the model's ``r`` is the ex-post real rate
  ``(1 + i_{t−1})/(1 + π_t) − 1``).

With two shocks and three observables the covariance would be singular: each observable has
its own Gaussian measurement error, estimated.
"""

from __future__ import annotations

import functools
import math
import time
from collections import OrderedDict
from typing import Any

import numpy as np
from scipy import special, stats

__all__ = [
    "HANK_PARAM_NAMES",
    "HankPosterior",
    "hank_priors",
    "load_hank_data",
]

#: Estimated parameters, in the order of the flat parameter vector.
HANK_PARAM_NAMES: tuple[str, ...] = (
    "eis",
    "phi",
    "kappa",
    "rho_rstar",
    "rho_Z",
    "sigma_rstar",
    "sigma_Z",
    "me_dY",
    "me_pi",
    "me_i",
)

# Calibration of sequence_jacobian.examples.hank.dag(); eis, phi and kappa are estimated.
_CALIBRATION = {
    "r": 0.005,
    "rstar": 0.005,
    "eis": 0.5,
    "frisch": 0.5,
    "B": 5.6,
    "mu": 1.2,
    "rho_s": 0.966,
    "sigma_s": 0.5,
    "kappa": 0.1,
    "phi": 1.5,
    "Y": 1.0,
    "Z": 1.0,
    "pi": 0.0,
    "nS": 2,
    "amax": 150,
    "nA": 10,
}
_UNKNOWNS_SS = {"beta": 0.986, "vphi": 0.8}
_TARGETS_SS = {"asset_mkt": 0.0, "NE": 1.0}
_UNKNOWNS = ["w", "Y", "pi"]
_TARGETS = ["asset_mkt", "goods_mkt", "nkpc_res"]
_EXOGENOUS = ["rstar", "Z"]
# The household's inputs that move in general equilibrium.
_HOUSEHOLD_INPUTS = ["r", "w", "Div", "Tax"]


def _gamma(mean: float, sd: float):
    return stats.gamma(a=(mean / sd) ** 2, scale=sd**2 / mean)


def _beta(mean: float, sd: float):
    common = mean * (1.0 - mean) / sd**2 - 1.0
    return stats.beta(mean * common, (1.0 - mean) * common)


class _InverseGammaHS:
    """Herbst–Schorfheide IG(s, ν) on σ: p(σ) ∝ σ^{−ν−1} exp(−ν s²/2σ²)."""

    def __init__(self, s: float, nu: float):
        self.s, self.nu = float(s), float(nu)

    def logpdf(self, sigma: float) -> float:
        s, nu = self.s, self.nu
        return (
            math.log(2.0)
            - special.gammaln(nu / 2.0)
            + (nu / 2.0) * math.log(nu * s**2 / 2.0)
            - (nu + 1.0) * math.log(sigma)
            - nu * s**2 / (2.0 * sigma**2)
        )


def hank_priors() -> dict[str, Any]:
    """Priors in the usual DSGE forms (objects with a ``logpdf``), keyed by parameter.

    ``eis`` Gamma(0.5, 0.1); ``phi − 1`` Gamma(0.5, 0.25) (the Taylor principle, ``φ > 1``,
    holds by construction); ``kappa`` Gamma(0.1, 0.05); persistences Beta(0.5, 0.2); shock
    standard deviations IG(s, 4) of Herbst & Schorfheide with ``s = 0.5`` (``sigma_rstar``, in
    annualised percentage points of the policy rate) and ``s = 0.5`` (``sigma_Z``, percent of
    TFP); measurement errors IG(0.2, 4) in the observables' units. Gamma and Beta are given by
    mean and standard deviation.

    Returns
    -------
    dict
        ``{name: distribution}`` in :data:`HANK_PARAM_NAMES` order; ``phi``'s entry is the
        prior of ``phi − 1``.
    """
    return {
        "eis": _gamma(0.5, 0.1),
        "phi": _gamma(0.5, 0.25),
        "kappa": _gamma(0.1, 0.05),
        "rho_rstar": _beta(0.5, 0.2),
        "rho_Z": _beta(0.5, 0.2),
        "sigma_rstar": _InverseGammaHS(0.5, 4.0),
        "sigma_Z": _InverseGammaHS(0.5, 4.0),
        "me_dY": _InverseGammaHS(0.2, 4.0),
        "me_pi": _InverseGammaHS(0.2, 4.0),
        "me_i": _InverseGammaHS(0.2, 4.0),
    }


@functools.cache
def _process_priors() -> dict[str, Any]:
    # Frozen scipy distributions take about 1 ms each to build: once per process (like the
    # Jacobian caches below), not per evaluation, where they were 5 of a cheap evaluation's 7.5 ms.
    return hank_priors()


def load_hank_data(start: str = "1984Q1", end: str = "2007Q4") -> tuple[np.ndarray, list[str]]:
    """Demeaned US output growth, inflation and T-bill rate (statsmodels' macrodata).

    Parameters
    ----------
    start, end : str
        First and last quarter kept, e.g. ``"1984Q1"``.

    Returns
    -------
    y : array of shape (n_periods, 3)
        Columns ``100 Δlog(realgdp/pop)``, ``infl`` (annualised CPI inflation, percent) and
        ``tbilrate`` (annual percent), each minus its sample mean.
    dates : list of str
    """
    from ..dsge import load_us_data

    y, dates = load_us_data(start, end)
    return y - y.mean(axis=0), dates


# Transforms from the unconstrained vector z to the parameters, with log |dθ/dz|.
_POSITIVE = {"eis", "kappa", "sigma_rstar", "sigma_Z", "me_dY", "me_pi", "me_i"}
_UNIT = {"rho_rstar", "rho_Z"}


def to_parameters(z) -> tuple[dict[str, float], float]:
    """Map an unconstrained vector to the parameters and the log-Jacobian of the map.

    ``exp`` for positive parameters, ``1 + exp`` for ``phi``, the logistic function for the
    persistences.

    Parameters
    ----------
    z : array of shape (10,)

    Returns
    -------
    theta : dict
    log_jacobian : float
    """
    z = np.asarray(z, dtype=np.float64)
    if z.shape != (len(HANK_PARAM_NAMES),):
        raise ValueError(f"z must have shape ({len(HANK_PARAM_NAMES)},); got {z.shape}")
    theta = {}
    for name, value in zip(HANK_PARAM_NAMES, z, strict=True):
        value = float(value)
        if name in _UNIT:
            theta[name] = float(special.expit(value))
        elif name == "phi":
            theta[name] = 1.0 + math.exp(value)
        else:
            theta[name] = math.exp(value)
    return theta, float(np.sum(_coordinate_log_jacobians(z)))


def _coordinate_log_jacobians(z: np.ndarray) -> np.ndarray:
    """``log |dθ_i/dz_i|`` for every coordinate of a full (10,) unconstrained vector."""
    # exp and 1 + exp have log-derivative z; the logistic function log σ(z) + log σ(−z).
    terms = np.array(z, dtype=np.float64)
    for i, name in enumerate(HANK_PARAM_NAMES):
        if name in _UNIT:
            terms[i] = -np.logaddexp(0.0, -z[i]) - np.logaddexp(0.0, z[i])
    return terms


def to_unconstrained(theta: dict[str, float]) -> np.ndarray:
    """Inverse of :func:`to_parameters`."""
    out = []
    for name in HANK_PARAM_NAMES:
        value = float(theta[name])
        if name in _UNIT:
            out.append(float(special.logit(value)))
        elif name == "phi":
            out.append(math.log(value - 1.0))
        else:
            out.append(math.log(value))
    return np.array(out)


#: A starting point (in the parameters) inside the prior's bulk.
HANK_START = {
    "eis": 0.5,
    "phi": 1.5,
    "kappa": 0.1,
    "rho_rstar": 0.7,
    "rho_Z": 0.9,
    "sigma_rstar": 0.5,
    "sigma_Z": 0.5,
    "me_dY": 0.3,
    "me_pi": 0.3,
    "me_i": 0.3,
}

# Per-process caches (each Dask worker has its own): model objects, steady states and household
# Jacobians by (eis, T), general-equilibrium Jacobians by (eis, phi, kappa, T).
_MODEL: dict[str, Any] = {}
_HOUSEHOLD_CACHE: OrderedDict = OrderedDict()
_G_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 8
#: What this process computed: log posterior calls, steady states, household and GE Jacobians.
COUNTERS = {
    "evaluations": 0,
    "steady_states": 0,
    "household_jacobians": 0,
    "ge_jacobians": 0,
    "likelihoods": 0,
}
#: Seconds this process spent in each part (steady states, household Jacobians, GE Jacobians,
#: impulse responses and likelihood).
SECONDS = {"steady_state": 0.0, "household_jacobian": 0.0, "ge_jacobian": 0.0, "likelihood": 0.0}


def _model() -> dict[str, Any]:
    """Build the blocks of ``sequence_jacobian.examples.hank.dag`` once per process."""
    if not _MODEL:
        from sequence_jacobian import create_model
        from sequence_jacobian.examples import hank

        household = hank.hh.add_hetinputs([hank.transfers, hank.wages, hank.make_grids])
        household = household.add_hetoutputs([hank.labor_supply])
        blocks = [household, hank.firm, hank.monetary, hank.fiscal, hank.mkt_clearing]
        _MODEL["household"] = household
        _MODEL["model"] = create_model([*blocks, hank.nkpc], name="One-Asset HANK")
        _MODEL["model_ss"] = create_model([*blocks, hank.nkpc_ss], name="One-Asset HANK SS")
    return _MODEL


def _remember(cache: OrderedDict, key, value) -> None:
    cache[key] = value
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


def household_solution(eis: float, horizon: int):
    """Steady state and household Jacobian at ``eis`` (cached; the expensive part).

    Parameters
    ----------
    eis : float
        Elasticity of intertemporal substitution.
    horizon : int
        Truncation ``T`` of the sequence-space Jacobians.

    Returns
    -------
    ss : SteadyStateDict
    household_jacobian : JacobianDict
    """
    key = (float(eis), int(horizon))
    if key in _HOUSEHOLD_CACHE:
        _HOUSEHOLD_CACHE.move_to_end(key)
        return _HOUSEHOLD_CACHE[key]
    parts = _model()
    calibration = {**_CALIBRATION, "eis": float(eis)}
    started = time.perf_counter()
    solved = parts["model_ss"].solve_steady_state(
        calibration, dict(_UNKNOWNS_SS), _TARGETS_SS, solver="broyden_custom"
    )
    ss = parts["model"].steady_state(solved)
    COUNTERS["steady_states"] += 1
    SECONDS["steady_state"] += time.perf_counter() - started
    started = time.perf_counter()
    jacobian = parts["household"].jacobian(ss, inputs=_HOUSEHOLD_INPUTS, T=int(horizon))
    COUNTERS["household_jacobians"] += 1
    SECONDS["household_jacobian"] += time.perf_counter() - started
    _remember(_HOUSEHOLD_CACHE, key, (ss, jacobian))
    return ss, jacobian


def ge_jacobian(eis: float, phi: float, kappa: float, horizon: int):
    """General-equilibrium Jacobian ``G`` (cached; reuses the household Jacobian at ``eis``)."""
    key = (float(eis), float(phi), float(kappa), int(horizon))
    if key in _G_CACHE:
        _G_CACHE.move_to_end(key)
        return _G_CACHE[key]
    ss, household_jacobian = household_solution(eis, horizon)
    parts = _model()
    # phi and kappa do not enter the steady state (inflation is zero there): only the simple
    # blocks' Jacobians change, evaluated at the new values.
    started = time.perf_counter()
    ss = ss.copy()
    ss.update({"phi": float(phi), "kappa": float(kappa)})
    G = parts["model"].solve_jacobian(
        ss,
        _UNKNOWNS,
        _TARGETS,
        _EXOGENOUS,
        T=int(horizon),
        Js={parts["household"].name: household_jacobian},
    )
    COUNTERS["ge_jacobians"] += 1
    SECONDS["ge_jacobian"] += time.perf_counter() - started
    _remember(_G_CACHE, key, G)
    return G


def _ar1_response(jacobian: np.ndarray, rho: float, horizon: int) -> np.ndarray:
    return jacobian @ (rho ** np.arange(horizon))


class HankPosterior:
    """Log posterior of the one-asset HANK on US data, as a function of an unconstrained vector.

    A plain Python callable (NumPy, numba inside sequence-jacobian): evaluate it on the host,
    e.g. through :func:`numpyro_semipar.mcmc.surrogate_posterior` with a Dask executor. It
    pickles by reference to this module, so every worker process keeps its own caches (see the
    module docstring).

    Parameters
    ----------
    data : array of shape (n_periods, 3)
        Demeaned observables (:func:`load_hank_data`).
    horizon : int
        Truncation ``T`` of the impulse responses (at least ``n_periods``).
    fixed : dict, optional
        Parameters held at given values (e.g. ``{"eis": 0.5}`` for the cheap configuration);
        the vector then holds the others, in :data:`HANK_PARAM_NAMES` order.
    """

    def __init__(self, data, horizon: int = 300, fixed: dict[str, float] | None = None):
        data = np.asarray(data, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != 3:
            raise ValueError(f"data must have shape (n_periods, 3); got {data.shape}")
        if int(horizon) < data.shape[0]:
            raise ValueError(
                f"horizon must be at least the number of periods ({data.shape[0]}); got {horizon}"
            )
        fixed = dict(fixed or {})
        unknown = set(fixed) - set(HANK_PARAM_NAMES)
        if unknown:
            raise ValueError(f"fixed names unknown parameters: {sorted(unknown)}")
        self.data = data
        self.horizon = int(horizon)
        self.fixed = fixed
        self.names = [n for n in HANK_PARAM_NAMES if n not in fixed]
        self._fixed_z = to_unconstrained({**HANK_START, **fixed})
        # The fixed coordinates' log-Jacobian is a constant that, like their prior, is no part of
        # the posterior of the others.
        fixed_index = [HANK_PARAM_NAMES.index(n) for n in fixed]
        self._fixed_log_jacobian = float(
            np.sum(_coordinate_log_jacobians(self._fixed_z)[fixed_index])
        )

    @property
    def dimension(self) -> int:
        """Number of estimated parameters."""
        return len(self.names)

    def full_vector(self, z) -> np.ndarray:
        """Insert the fixed parameters into an estimated-parameter vector."""
        z = np.asarray(z, dtype=np.float64)
        if z.shape != (self.dimension,):
            raise ValueError(f"z must have shape ({self.dimension},); got {z.shape}")
        full = self._fixed_z.copy()
        full[[HANK_PARAM_NAMES.index(n) for n in self.names]] = z
        return full

    def start(self) -> np.ndarray:
        """Return the unconstrained start :data:`HANK_START` of the estimated parameters."""
        return to_unconstrained(HANK_START)[[HANK_PARAM_NAMES.index(n) for n in self.names]]

    def log_prior(self, theta: dict[str, float]) -> float:
        """Log prior density of the estimated parameters (constrained scale)."""
        total = 0.0
        for name in self.names:
            value = theta[name] - 1.0 if name == "phi" else theta[name]
            total += float(_process_priors()[name].logpdf(value))
        return total

    def log_likelihood(self, theta: dict[str, float]) -> float:
        """Gaussian time-domain log likelihood of the data at the parameters ``theta``."""
        from sequence_jacobian import estimation

        T = self.horizon
        G = ge_jacobian(theta["eis"], theta["phi"], theta["kappa"], T)
        started = time.perf_counter()
        # Shocks of one unit of the estimated standard deviations: rstar in annualised
        # percentage points (1/400), Z in percent (1/100).
        responses = np.empty((T, 3, 2))
        for column, (shock, rho, unit) in enumerate(
            (("rstar", theta["rho_rstar"], 1 / 400), ("Z", theta["rho_Z"], 1 / 100))
        ):
            dY = _ar1_response(G["Y"][shock], rho, T) * unit
            dpi = _ar1_response(G["pi"][shock], rho, T) * unit
            dshock = unit * rho ** np.arange(T) if shock == "rstar" else np.zeros(T)
            responses[:, 0, column] = 100.0 * np.diff(dY, prepend=0.0)
            responses[:, 1, column] = 400.0 * dpi
            responses[:, 2, column] = 400.0 * (dshock + theta["phi"] * dpi)
        sigmas = np.array([theta["sigma_rstar"], theta["sigma_Z"]])
        covariances = estimation.all_covariances(responses, sigmas)
        measurement = np.array([theta["me_dY"], theta["me_pi"], theta["me_i"]])
        value = float(estimation.log_likelihood(self.data, covariances, measurement))
        COUNTERS["likelihoods"] += 1
        SECONDS["likelihood"] += time.perf_counter() - started
        return value

    def __call__(self, z) -> float:
        """Log posterior at ``z`` (unconstrained, with the estimated coordinates' log-Jacobian)."""
        COUNTERS["evaluations"] += 1
        theta, log_jacobian = to_parameters(self.full_vector(z))
        log_prior = self.log_prior(theta)
        if not np.isfinite(log_prior):
            return -np.inf
        try:
            # Far from the data the household solve divides by zero on some grid points; the
            # result is then not finite and treated below, so the warnings carry nothing.
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                log_jacobian -= self._fixed_log_jacobian
                value = self.log_likelihood(theta) + log_prior + log_jacobian
        except (np.linalg.LinAlgError, ValueError, FloatingPointError, RuntimeError):
            # No steady state, a failed household solve or a covariance that is not positive
            # definite: outside the support of the model.
            return -np.inf
        return value if np.isfinite(value) else -np.inf
