"""Bad-input catalogue, part 1: NPMLE core, distributions, reporting, models and panel.

Tiny data only, and (nearly) every case fails at entry before any compilation; see
tests/_catalogue.py for the three kinds of case. Part 2 (estimators, samplers' tools) is in
tests/test_bad_inputs_estimators.py.
"""

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest
import scipy.stats

from numpyro_semipar import ConvergenceWarning
from numpyro_semipar.distributions import ProfiledMixture
from numpyro_semipar.models import LinearFactor
from numpyro_semipar.models.dsge import kalman_filter, kalman_loglik, solve_discrete_lyapunov
from numpyro_semipar.npmle import em, mixsqp, profile_loglik
from numpyro_semipar.panel import CLasso, InteractiveEffects, SuJu, as_panel_data
from numpyro_semipar.reporting import EstimationResult
from tests._catalogue import Raises, Returns, Warns, ids, run_case

RNG = np.random.default_rng(19)
LL = -0.5 * (RNG.normal(size=(4, 1)) - np.linspace(-1.0, 1.0, 3)[None, :]) ** 2


def with_entry(array, index, value):
    out = np.array(array, dtype=np.float64, copy=True)
    out[index] = value
    return out


# ---------------------------------------------------------------- NPMLE core (mixsqp, em)
def _solver_cases(name, solver):
    return [
        Raises(f"{name}-1d", lambda: solver(LL[0]), ValueError, r"log_lik must be a 2-D array"),
        Raises(f"{name}-empty-rows", lambda: solver(LL[:0]), ValueError, r"at least one row"),
        Raises(
            f"{name}-nan-entry",
            lambda: solver(with_entry(LL, (1, 2), np.nan)),
            ValueError,
            r"log_lik\[1, 2\] is NaN \(row 1, column 2\)",
        ),
        Raises(
            f"{name}-plus-inf",
            lambda: solver(with_entry(LL, (0, 1), np.inf)),
            ValueError,
            r"log_lik\[0, 1\] is \+inf",
        ),
        Raises(
            f"{name}-row-all-minus-inf",
            lambda: solver(with_entry(LL, (2, slice(None)), -np.inf)),
            ValueError,
            r"row 2 of log_lik is -inf in every column",
        ),
        Raises(f"{name}-complex", lambda: solver(LL + 0j), TypeError, r"log_lik must be real"),
        Raises(
            f"{name}-strings",
            lambda: solver(LL.astype(str)),
            TypeError,
            r"log_lik must be a numeric array; got dtype <U",
        ),
        Raises(
            f"{name}-weights-shape",
            lambda: solver(LL, np.ones(3)),
            ValueError,
            r"weights must have shape \(4,\)",
        ),
        Raises(
            f"{name}-weights-nan",
            lambda: solver(LL, with_entry(np.ones(4), 1, np.nan)),
            ValueError,
            r"weights\[1\] = nan is not finite",
        ),
        Raises(
            f"{name}-weights-negative",
            lambda: solver(LL, with_entry(np.ones(4), 2, -1.0)),
            ValueError,
            r"weights\[2\] = -1.0 is negative",
        ),
        Raises(f"{name}-weights-zero", lambda: solver(LL, np.zeros(4)), ValueError, r"all zero"),
        Raises(
            f"{name}-init-shape",
            lambda: solver(LL, init_weights=np.ones(2)),
            ValueError,
            r"init_weights must have shape \(3,\)",
        ),
        Raises(
            f"{name}-init-negative",
            lambda: solver(LL, init_weights=np.array([-1.0, 1.0, 1.0])),
            ValueError,
            r"init_weights\[0\] = -1.0 must be finite and non-negative",
        ),
        Warns(
            f"{name}-float32",
            lambda: solver(LL.astype(np.float32)),
            UserWarning,
            r"log_lik has dtype float32: its entries carry only about 6 significant digits",
        ),
    ]


def _dead_column_gets_no_weight(result):
    assert bool(result.converged)
    assert float(result.mixing_weights[1]) == 0.0
    np.testing.assert_allclose(float(np.sum(result.mixing_weights)), 1.0, atol=1e-12)


NPMLE = [
    *_solver_cases("mixsqp", mixsqp),
    *_solver_cases("em", em),
    Raises(
        "mixsqp-init-all-zero",
        lambda: mixsqp(LL, init_weights=np.zeros(3)),
        ValueError,
        r"init_weights must have a positive entry",
    ),
    Warns(
        "em-not-converged",
        lambda: em(LL, max_steps=1),
        ConvergenceWarning,
        r"em did not converge: maximum number of iterations reached .*\(1 steps\), KKT "
        r"residual 0\.\d+ \(tol 1e-06\)",
        lambda result: not bool(result.converged) or pytest.fail("reported converged"),
    ),
    # A grid point impossible for every observation is a valid problem: it gets weight 0.
    Returns(
        "mixsqp-column-all-minus-inf",
        lambda: mixsqp(with_entry(LL, (slice(None), 1), -np.inf)),
        _dead_column_gets_no_weight,
    ),
]

# ---------------------------------------------------------------- profile likelihood
FACTOR = LinearFactor(jnp.array([1.0, 0.5]), jnp.zeros(3))  # a 3-period model
Y3 = RNG.normal(size=(6, 3))
GRID = jnp.linspace(-3.0, 3.0, 5)

PROFILE = [
    Raises(
        "profile-data-too-narrow",
        lambda: profile_loglik(FACTOR, Y3[:, :2], GRID),
        ValueError,
        r"data y must have shape \(n, 3\), one column per period .* got shape \(6, 2\)",
    ),
    Raises(
        "profile-data-too-wide",
        lambda: profile_loglik(FACTOR, np.hstack([Y3, Y3]), GRID),
        ValueError,
        r"data y must have shape \(n, 3\).*\(6, 6\)",
    ),
    Raises(
        "profile-coef-inconsistent",
        lambda: profile_loglik(LinearFactor(jnp.ones(3), jnp.zeros(3)), Y3, GRID),
        ValueError,
        r"coef must have shape \(2,\) for T = 3 periods",
    ),
    Raises(
        "profile-no-lclk",
        lambda: profile_loglik(object(), Y3, GRID),
        TypeError,
        r"model must have a method lclk",
    ),
    Raises(
        "profile-data-nan",
        lambda: profile_loglik(FACTOR, with_entry(Y3, (3, 1), np.nan), GRID),
        ValueError,
        r"NaN at row 3",
    ),
    Raises(
        "profile-weights-negative",
        lambda: profile_loglik(FACTOR, Y3, GRID, weights=with_entry(np.ones(6), 1, -2.0)),
        ValueError,
        r"weights must be finite and non-negative; row 1 has -2.0",
    ),
    Raises(
        "profile-weights-shape",
        lambda: profile_loglik(FACTOR, Y3, GRID, weights=np.ones(5)),
        ValueError,
        r"weights must have shape \(6,\)",
    ),
    Raises(
        "profile-groups-float",
        lambda: profile_loglik(FACTOR, Y3, GRID, groups=np.zeros(6)),
        TypeError,
        r"group labels must be integers",
    ),
    Raises(
        "profile-groups-empty-group",
        lambda: profile_loglik(FACTOR, Y3, GRID, groups=np.array([0, 0, 0, 2, 2, 2])),
        ValueError,
        r"group 1 has no observation",
    ),
    Raises(
        "profile-groups-dummies-two-ones",
        lambda: profile_loglik(FACTOR, Y3, GRID, groups=np.ones((6, 2), dtype=int)),
        ValueError,
        r"exactly one 1 per row; row 0 is \[1, 1\]",
    ),
]

# ---------------------------------------------------------------- distributions
COMPONENTS = dist.Normal(jnp.linspace(-2.0, 2.0, 5), 1.0)

DISTRIBUTIONS = [
    Raises(
        "profiled-mixture-nan-value",
        lambda: ProfiledMixture(COMPONENTS).log_prob(with_entry(np.zeros(8), 5, np.nan)),
        ValueError,
        r"value\[5\] is NaN",
    ),
    Raises(
        "profiled-mixture-nan-data",
        lambda: ProfiledMixture(COMPONENTS, data=with_entry(np.zeros(8), 2, np.nan)).mixing_weights,
        ValueError,
        r"data\[2\] is NaN",
    ),
    Raises(
        "profiled-mixture-not-a-distribution",
        lambda: ProfiledMixture(jnp.zeros(5)),
        TypeError,
        r"component_distribution must be a numpyro Distribution",
    ),
    Raises(
        "profiled-mixture-no-grid-axis",
        lambda: ProfiledMixture(dist.Normal(0.0, 1.0)),
        ValueError,
        r"component_distribution needs a batch dimension over the grid",
    ),
    Raises(
        "profiled-mixture-no-data-for-weights",
        lambda: ProfiledMixture(COMPONENTS).mixing_weights,
        ValueError,
        r"build ProfiledMixture\(component, data=y\)",
    ),
]

# ---------------------------------------------------------------- reporting
PARAMS = {"a": 1.0, "b": 2.0}


def _unidentified_is_nan(result):
    se = result.flat_std_errors
    assert se[0] == 1.0 and np.isnan(se[1])
    draws = result.to_arviz(num_draws=50)["posterior"]
    assert np.isnan(draws["b"].values).all() and np.isfinite(draws["a"].values).all()


REPORTING = [
    Raises(
        "result-negative-variance",
        lambda: EstimationResult(PARAMS, np.diag([1.0, -4.0]), "X"),
        ValueError,
        r"cov\[1, 1\] = -4 is not a valid variance \(parameter 'b'\)",
    ),
    Raises(
        "result-infinite-variance",
        lambda: EstimationResult(PARAMS, np.diag([np.inf, 1.0]), "X"),
        ValueError,
        r"cov\[0, 0\] = inf is not a valid variance \(parameter 'a'\)",
    ),
    Raises(
        "result-nan-covariance-of-identified",
        lambda: EstimationResult(PARAMS, np.array([[1.0, np.nan], [np.nan, 1.0]]), "X"),
        ValueError,
        r"cov\[0, 1\] = nan is not finite although the variances of 'a' and 'b' are",
    ),
    Raises(
        "result-cov-shape",
        lambda: EstimationResult(PARAMS, np.eye(3), "X"),
        ValueError,
        r"cov has shape \(3, 3\), expected \(2, 2\)",
    ),
    Raises(
        "result-params-not-dict",
        lambda: EstimationResult([1.0, 2.0], None, "X"),
        TypeError,
        r"params must be a dict",
    ),
    Warns(
        "result-indefinite-covariance-to-arviz",
        lambda: EstimationResult(PARAMS, np.array([[1.0, 2.0], [2.0, 1.0]]), "X").to_arviz(
            num_draws=50
        ),
        UserWarning,
        r"cov is not positive semi-definite: smallest eigenvalue -1 \(largest 3\)",
    ),
    Raises(
        "result-to-arviz-no-draws",
        lambda: EstimationResult(PARAMS, np.eye(2), "X").to_arviz(num_draws=0),
        ValueError,
        r"num_draws must be positive, got 0",
    ),
    Raises(
        "result-conf-int-level",
        lambda: EstimationResult(PARAMS, np.eye(2), "X").conf_int(level=1.5),
        ValueError,
        r"level must lie in \(0, 1\), got 1.5",
    ),
    # NaN marks a parameter that is not identified: NaN standard error, NaN draws, rest intact.
    Returns(
        "result-unidentified-parameter",
        lambda: EstimationResult(PARAMS, np.array([[1.0, np.nan], [np.nan, np.nan]]), "X"),
        _unidentified_is_nan,
    ),
]

# ---------------------------------------------------------------- Kalman filter
KT = np.array([[0.6, 0.1], [0.0, 0.4]])
KV = np.diag([1.0, 0.5])
KZ = np.array([[1.0, 0.0], [0.5, 1.0]])
KD = np.array([0.1, -0.2])
KH = 0.1 * np.eye(2)
KY = RNG.normal(size=(4, 2))


def _exact_gaussian_loglik(y):
    """log p(observed entries of y) from the joint Gaussian of all 4 x 2 observations."""
    sigma = np.asarray(solve_discrete_lyapunov(KT, KV))
    n = y.shape[0]
    cov_s = np.zeros((2 * n, 2 * n))
    for t in range(n):
        for u in range(n):
            lag = np.linalg.matrix_power(KT, abs(t - u)) @ sigma
            cov_s[2 * t : 2 * t + 2, 2 * u : 2 * u + 2] = lag if t >= u else lag.T
    big_z = np.kron(np.eye(n), KZ)
    cov_y = big_z @ cov_s @ big_z.T + np.kron(np.eye(n), KH)
    flat = y.reshape(-1)
    seen = ~np.isnan(flat)
    mean = np.tile(KD, n)[seen]
    return scipy.stats.multivariate_normal(mean, cov_y[np.ix_(seen, seen)]).logpdf(flat[seen])


def _kalman(y):
    return float(kalman_loglik(y, KD, KZ, KT, KV, KH))


def _close_to(expected):
    return lambda value: np.testing.assert_allclose(value, expected, rtol=1e-10)


KALMAN = [
    Returns("kalman-complete-data", lambda: _kalman(KY), _close_to(_exact_gaussian_loglik(KY))),
    Returns(
        "kalman-one-missing-entry",
        lambda: _kalman(with_entry(KY, (1, 0), np.nan)),
        _close_to(_exact_gaussian_loglik(with_entry(KY, (1, 0), np.nan))),
    ),
    Returns(
        "kalman-missing-period",
        lambda: _kalman(with_entry(KY, (3, slice(None)), np.nan)),
        _close_to(_kalman(KY[:3])),
    ),
    Returns("kalman-all-missing", lambda: _kalman(np.full((3, 2), np.nan)), _close_to(0.0)),
    Returns(
        "kalman-filter-missing-keeps-prediction",
        lambda: kalman_filter(with_entry(KY, (0, slice(None)), np.nan), KD, KZ, KT, KV, KH),
        lambda r: np.testing.assert_allclose(np.asarray(r.filtered_mean[0]), 0.0, atol=1e-15),
    ),
    Raises(
        "kalman-infinite-observation",
        lambda: _kalman(with_entry(KY, (2, 1), np.inf)),
        ValueError,
        r"y\[2, 1\] = inf \(period 2, observable 1\) is infinite; mark a missing observation",
    ),
    Raises(
        "kalman-wrong-width",
        lambda: _kalman(KY[:, :1]),
        ValueError,
        r"y must have shape \(n_periods, 2\), one column per row of Z; got shape \(4, 1\)",
    ),
]

# ---------------------------------------------------------------- panel
N, T = 6, 5
PX = RNG.normal(size=(N, T, 1))
PY = PX[..., 0] + RNG.normal(size=(N, T))
FRAME = pd.DataFrame(
    {
        "id": np.repeat(np.arange(N), T),
        "t": np.tile(np.arange(T), N),
        "y": PY.reshape(-1),
        "x": PX.reshape(-1),
    }
)

PANEL = [
    Raises(
        "panel-y-1d", lambda: as_panel_data(PY[0], PX), ValueError, r"y must have shape \(N, T\)"
    ),
    Raises(
        "panel-x-shape",
        lambda: as_panel_data(PY, PX[:, :4]),
        ValueError,
        r"x must have shape \(N, T, p\) with \(N, T\) = \(6, 5\), got \(6, 4, 1\)",
    ),
    Raises(
        "panel-y-nan",
        lambda: as_panel_data(with_entry(PY, (2, 3), np.nan), PX),
        ValueError,
        r"y contains 1 non-finite value\(s\) \(NaN or inf\); first at",
    ),
    Raises(
        "panel-x-inf",
        lambda: as_panel_data(PY, with_entry(PX, (0, 1, 0), np.inf)),
        ValueError,
        r"x contains 1 non-finite value",
    ),
    Raises("panel-no-x", lambda: as_panel_data(PY), ValueError, r"x \(regressors"),
    Raises(
        "panel-frame-duplicate-rows",
        lambda: as_panel_data(
            "y", ["x"], data=pd.concat([FRAME, FRAME.iloc[:1]]), entity="id", time="t"
        ),
        ValueError,
        r"duplicate \(entity, time\) rows, e.g. id=0, t=0 \(row 30\)",
    ),
    Raises(
        "panel-frame-unbalanced",
        lambda: as_panel_data("y", ["x"], data=FRAME.iloc[1:], entity="id", time="t"),
        ValueError,
        r"unbalanced panel: unit id=0 has 4 of 5 periods",
    ),
    Raises(
        "panel-frame-missing-column",
        lambda: as_panel_data("y", ["z"], data=FRAME, entity="id", time="t"),
        ValueError,
        r"data has no column\(s\) \['z'\]",
    ),
    Raises(
        "ife-factors-not-below-T",
        lambda: InteractiveEffects(num_factors=5).fit(PY, PX),
        ValueError,
        r"num_factors = 5 needs T > R and N > R; got N = 6, T = 5",
    ),
    Raises(
        "classo-more-groups-than-units",
        lambda: CLasso(num_groups=7, c=0.5).fit(PY, PX),
        ValueError,
        r"num_groups = 7 exceeds the number of units N = 6",
    ),
    Raises(
        "classo-bad-c",
        lambda: CLasso(num_groups=2, c=-1.0).fit(PY, PX),
        ValueError,
        r"c must be a positive number or a sequence of them, got -1.0",
    ),
    Raises(
        "classo-collinear-unit",
        lambda: CLasso(num_groups=2, c=0.5).fit(PY, with_entry(PX, (3, slice(None), 0), 1.0)),
        ValueError,
        r"the regressors of unit 3 are collinear over time",
    ),
    Raises(
        "classo-bad-jackknife-split",
        lambda: CLasso(num_groups=2, jackknife_split="middle"),
        ValueError,
        r"jackknife_split must be one of \('disjoint', 'overlap'\), got 'middle'",
    ),
    Raises(
        "classo-bad-assign",
        lambda: CLasso(num_groups=2, assign="closest"),
        ValueError,
        r"assign must be 'nearest' or 'relative', got 'closest'",
    ),
    Raises(
        "classo-bad-effects",
        lambda: CLasso(num_groups=2, effects="time"),
        ValueError,
        r"effects must be one of \('unit', 'twoway'\), got 'time'",
    ),
    Raises(
        "suju-factors-not-below-T",
        lambda: SuJu(num_groups=2, num_factors=5, c=0.5).fit(PY, PX),
        ValueError,
        r"num_factors = 5 needs T > R and N > R; got N = 6, T = 5",
    ),
    Raises(
        "suju-too-few-periods-left",
        lambda: SuJu(num_groups=2, num_factors=4, c=0.5).fit(PY, PX),
        ValueError,
        r"T - R = 1 must exceed p = 1",
    ),
]

CASES = NPMLE + PROFILE + DISTRIBUTIONS + REPORTING + KALMAN + PANEL


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)
