"""Every renamed keyword: the old spelling warns, names the new one, and gives the same result."""

from __future__ import annotations

import copy
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from numpyro_semipar.frequentist import (
    SMM,
    MaximumLikelihood,
    ProfileMLE,
    covariance_from_scores,
)
from numpyro_semipar.models import LinearFactor
from numpyro_semipar.models.dsge import solve_quadratic, solve_re
from numpyro_semipar.moments import common_random_numbers
from numpyro_semipar.npmle import em, mixsqp
from numpyro_semipar.panel import (
    CLasso,
    InteractiveEffects,
    SuJu,
    bai_fit,
    grouped_interactive_effects,
    heterogeneous_interactive_effects,
    kmeans,
    solve_block,
)

RNG = np.random.default_rng(0)
LOG_LIK = np.log(RNG.uniform(0.05, 1.0, size=(30, 6)))
PANEL_X = RNG.normal(size=(12, 10, 2))
PANEL_Y = PANEL_X @ np.array([1.0, -0.5]) + 0.3 * RNG.normal(size=(12, 10))
QUAD = (0.2 * np.eye(2), -np.eye(2) + 0.1, 0.3 * np.eye(2))
SMM_DATA = 1.0 + 2.0 * RNG.normal(size=200)
SMM_DRAWS = common_random_numbers(jax.random.key(1), 10, (200,), distribution="normal")


def _linear_model(x, y=None):
    beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([x.shape[1]]))
    sigma = numpyro.sample("sigma", dist.HalfNormal(5.0))
    numpyro.sample("y", dist.Normal(x @ beta, sigma), obs=y)


def _smm_simulate(params, z):
    return params["mu"] + params["sigma"] * z


def _smm_moments(x):
    return jnp.stack([x.mean(), jnp.mean(x**2), jnp.mean(jnp.abs(x - x.mean()))])


@functools.cache
def _compiled_smm() -> SMM:
    return SMM(_smm_simulate, _smm_moments, SMM_DRAWS, progress_bar=False)


def _smm(progress_bar: bool = True) -> SMM:
    # A copy of one estimator (so one compilation serves every row), configured as if built
    # with ``SMM(..., progress_bar=progress_bar)``.
    smm = copy.copy(_compiled_smm())
    smm.progress_bar = progress_bar
    return smm


SMM_START = {"mu": 0.5, "sigma": 1.5}


def _profile_batch(**options):
    # Two small data sets of the linear factor model, factor on {-2, 0, 2}.
    rng = np.random.default_rng(5)
    factor = rng.choice([-2.0, 0.0, 2.0], size=(2, 150, 1))
    data = factor * np.array([1.0, 1.5, 0.3]) + rng.normal(size=(2, 150, 3))
    start = LinearFactor(jnp.array([1.0, 1.0]), jnp.zeros(3))
    return ProfileMLE(np.linspace(-3.0, 3.0, 7), engine="host", **options), start, data


class Renamed(NamedTuple):
    """``old()`` and ``new()`` compute the same thing with the old and the new spelling."""

    old_name: str
    new_name: str
    old: Any
    new: Any


def _leaves(value) -> list[np.ndarray]:
    # Compare results of any kind: EstimationResults by estimates and covariance, estimator
    # objects by their configuration, solver outputs leaf by leaf.
    if hasattr(value, "flat_params"):
        return [value.flat_params, value.cov, np.float64(value.objective)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    if isinstance(value, CLasso | SuJu | InteractiveEffects | SMM | ProfileMLE):
        return [np.asarray(v, dtype=object) for v in sorted(vars(value).items(), key=str)]
    return [np.asarray(leaf) for leaf in jax.tree.leaves(value)]


CASES = [
    Renamed(
        "covariance",
        "cov_type",
        lambda: MaximumLikelihood(_linear_model, covariance="sandwich", optimizer="scipy").fit(
            PANEL_X[0], PANEL_Y[0]
        ),
        lambda: MaximumLikelihood(_linear_model, cov_type="sandwich", optimizer="scipy").fit(
            PANEL_X[0], PANEL_Y[0]
        ),
    ),
    Renamed(
        "kind",
        "cov_type",
        lambda: covariance_from_scores(-np.eye(2), np.eye(2), kind="opg", names=["a", "b"]),
        lambda: covariance_from_scores(-np.eye(2), np.eye(2), cov_type="opg", names=["a", "b"]),
    ),
    Renamed(
        "covariance",
        "cov_type",
        lambda: _smm(progress_bar=False).fit(SMM_DATA, SMM_START, covariance="sandwich"),
        lambda: _smm(progress_bar=False).fit(SMM_DATA, SMM_START, cov_type="sandwich"),
    ),
    Renamed(
        "max_iterations",
        "max_weight_updates",
        lambda: _smm(progress_bar=False).fit(
            SMM_DATA, SMM_START, weighting="iterated", max_iterations=2
        ),
        lambda: _smm(progress_bar=False).fit(
            SMM_DATA, SMM_START, weighting="iterated", max_weight_updates=2
        ),
    ),
    Renamed(
        "progress_bar",
        "progress_bar",
        lambda: _smm().fit(SMM_DATA, SMM_START, progress_bar=False),
        lambda: _smm(progress_bar=False).fit(SMM_DATA, SMM_START),
    ),
    Renamed(
        "progress_bar",
        "progress_bar",
        lambda: (lambda e, s, d: e.fit_batch(s, d, progress_bar=False))(*_profile_batch()),
        lambda: (lambda e, s, d: e.fit_batch(s, d))(*_profile_batch(progress_bar=False)),
    ),
    Renamed(
        "max_iter",
        "max_steps",
        lambda: mixsqp(LOG_LIK, max_iter=3, warn=False),
        lambda: mixsqp(LOG_LIK, max_steps=3, warn=False),
    ),
    Renamed(
        "max_iter_activeset",
        "max_active_set_steps",
        lambda: mixsqp(LOG_LIK, max_steps=3, max_iter_activeset=2, warn=False),
        lambda: mixsqp(LOG_LIK, max_steps=3, max_active_set_steps=2, warn=False),
    ),
    Renamed(
        "max_iter",
        "max_steps",
        lambda: em(LOG_LIK, max_iter=5, warn=False),
        lambda: em(LOG_LIK, max_steps=5, warn=False),
    ),
    Renamed(
        "max_iter",
        "max_steps",
        lambda: bai_fit(PANEL_Y, PANEL_X, jnp.zeros(2), num_factors=1, max_iter=3),
        lambda: bai_fit(PANEL_Y, PANEL_X, jnp.zeros(2), num_factors=1, max_steps=3),
    ),
    Renamed(
        "max_iter",
        "max_steps",
        lambda: heterogeneous_interactive_effects(PANEL_Y, PANEL_X, num_factors=1, max_iter=3),
        lambda: heterogeneous_interactive_effects(PANEL_Y, PANEL_X, num_factors=1, max_steps=3),
    ),
    Renamed(
        "max_iter",
        "max_steps",
        lambda: (
            grouped_interactive_effects(
                PANEL_Y, PANEL_X, np.arange(12) % 2, 2, 1, max_iter=3
            ).coefficients
        ),
        lambda: (
            grouped_interactive_effects(
                PANEL_Y, PANEL_X, np.arange(12) % 2, 2, 1, max_steps=3
            ).coefficients
        ),
    ),
    Renamed(
        "max_iter",
        "max_steps",
        lambda: solve_block(
            jnp.tile(jnp.eye(2), (12, 1, 1)),
            jnp.asarray(PANEL_X[:, 0]),
            jnp.ones(12),
            0.05,
            jnp.zeros((12, 2)),
            2.0 * jnp.ones(12),
            max_iter=4,
        ),
        lambda: solve_block(
            jnp.tile(jnp.eye(2), (12, 1, 1)),
            jnp.asarray(PANEL_X[:, 0]),
            jnp.ones(12),
            0.05,
            jnp.zeros((12, 2)),
            2.0 * jnp.ones(12),
            max_steps=4,
        ),
    ),
    Renamed(
        "max_iter",
        "max_steps",
        lambda: kmeans(PANEL_X[:, 0], 2, seed=0, max_iter=2),
        lambda: kmeans(PANEL_X[:, 0], 2, seed=0, max_steps=2),
    ),
    Renamed(
        "max_iter",
        "max_steps",
        lambda: solve_quadratic(*QUAD, max_iter=2),
        lambda: solve_quadratic(*QUAD, max_steps=2),
    ),
    Renamed(
        "max_iter",
        "max_steps",
        lambda: solve_re(*QUAD, np.eye(2), np.zeros((2, 2)), max_iter=50),
        lambda: solve_re(*QUAD, np.eye(2), np.zeros((2, 2)), max_steps=50),
    ),
    Renamed("max_iter", "max_steps", lambda: CLasso(2, max_iter=7), lambda: CLasso(2, max_steps=7)),
    Renamed(
        "max_iter", "max_steps", lambda: SuJu(2, 1, max_iter=7), lambda: SuJu(2, 1, max_steps=7)
    ),
    Renamed(
        "max_iter",
        "max_steps",
        lambda: InteractiveEffects(1, max_iter=7),
        lambda: InteractiveEffects(1, max_steps=7),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.old_name}->{c.new_name}")
def test_old_spelling_warns_and_gives_the_same_result(case):
    new = case.new()
    with pytest.warns(DeprecationWarning, match=rf"\b{case.old_name}=.*{case.new_name}"):
        old = case.old()
    old_leaves, new_leaves = _leaves(old), _leaves(new)
    assert len(old_leaves) == len(new_leaves) > 0
    for a, b in zip(old_leaves, new_leaves, strict=True):
        if a.dtype == object:
            assert a.tolist() == b.tolist()
        else:
            np.testing.assert_array_equal(a, b)


def test_constructor_settings_use_the_new_name():
    # The old spelling sets the attribute that the estimator reads under its new name.
    with pytest.warns(DeprecationWarning, match="max_steps"):
        assert CLasso(2, max_iter=7).max_steps == 7
    with pytest.warns(DeprecationWarning, match="cov_type"):
        assert MaximumLikelihood(_linear_model, covariance="opg").cov_type == "opg"


def test_both_spellings_at_once_is_an_error():
    with pytest.raises(TypeError, match="both max_iter= and its new spelling max_steps="):
        mixsqp(LOG_LIK, max_iter=3, max_steps=4)
