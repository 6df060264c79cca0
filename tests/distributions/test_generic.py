"""NumPyro's generic distribution tests, adapted to the package's three distributions.

Ported from ``test/test_distributions.py`` of pyro-ppl/numpyro (``test_dist_shape``,
``test_infer_shapes``, ``test_log_prob`` shapes, ``test_jit_log_likelihood``,
``test_log_prob_gradient``, ``test_vmap_dist``, ``test_distribution_constraints``,
``test_dist_pytree``), table-driven over :data:`CASES`, each run in float64 and in float32
(x64 disabled, NumPyro's default). Differences from NumPyro's versions: the distributions take
non-array arguments (components, simulators), so each case builds the distribution from a few
array parameters ``theta``; ``infer_shapes`` gets a distribution argument itself (its
``shape()`` cannot separate batch and event dimensions); gradients are checked against
central finite differences in float64 and against the float64 gradient in float32.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.distributions import constraints
from numpyro.distributions.batch_util import vmap_over

from numpyro_semipar.distributions import ProfiledMixture, SMMLikelihood, SyntheticLikelihood

RNG = np.random.default_rng(18)
NUM_OBS, GRID_SIZE = 12, 9
GRID = np.linspace(-3.0, 3.0, GRID_SIZE)
Y_MIX = np.concatenate([-1.5 + 0.5 * RNG.normal(size=6), 1.0 + 0.5 * RNG.normal(size=6)])
Y_PAIR = Y_MIX[:, None] * np.array([1.0, 1.5]) + 0.3 * RNG.normal(size=(NUM_OBS, 2))
NUM_SIMS, N = 30, 25
SHOCKS = RNG.normal(size=(NUM_SIMS, N))
DATA = 1.0 + 2.0 * RNG.normal(size=N)
WEIGHT = np.array([[0.5, 0.1], [0.1, 0.2]])
SIGMA = {"sigma": constraints.positive}


def fresh(x):
    """A new JAX array from a module constant.

    JAX 0.12 caches the device copy of a NumPy constant captured by ``jit`` without regard to
    the x64 setting, so reusing one NumPy object in both precisions would leak float32 arrays
    into the float64 runs; a fresh copy sidesteps that cache.
    """
    return jnp.asarray(np.array(x))


def simulate(params, z):
    return params["mu"] + params["sigma"] * z


def mean_var(x):
    return jnp.stack([x.mean(), x.var()])


def summaries(x):
    return jnp.stack([x.mean(), jnp.log(x.var()), jnp.mean((x - x.mean()) ** 3)])


class Case(NamedTuple):
    """``cls(*args, **kwargs)`` with ``(args, kwargs) = make(*theta)``; ``oob`` is invalid."""

    name: str
    cls: type
    make: Callable[..., tuple[tuple, dict]]
    theta: tuple[float, ...]
    oob: tuple[float, ...]
    value: Any  # the data scored in the gradient checks


def _normal(scale):
    return (dist.Normal(fresh(GRID), scale),), {"data": fresh(Y_MIX)}


def _lognormal(scale):
    comp = dist.LogNormal(fresh(GRID) / 3.0, scale)
    return (comp,), {"data": fresh(np.exp(Y_MIX / 3.0))}


def _pair(scale):
    comp = dist.Normal(fresh(GRID)[:, None] * jnp.array([1.0, 1.5]), scale).to_event(1)
    return (comp,), {"data": fresh(Y_PAIR)}


def _smm(mu, sigma):
    params = {"mu": mu, "sigma": sigma}
    args = (simulate, mean_var, fresh(SHOCKS), params, fresh(WEIGHT))
    return args, {"param_constraints": SIGMA}


def _synthetic(mu, sigma):
    params = {"mu": mu, "sigma": sigma}
    args = (simulate, summaries, fresh(SHOCKS), params)
    return args, {"shrinkage": 0.2, "param_constraints": SIGMA}


CASES = [
    Case("profiled_normal", ProfiledMixture, _normal, (0.8,), (-0.8,), Y_MIX),
    Case("profiled_pair", ProfiledMixture, _pair, (0.9,), (0.0,), Y_PAIR),
    Case("smm", SMMLikelihood, _smm, (0.8, 2.3), (0.8, -2.3), DATA),
    Case("synthetic", SyntheticLikelihood, _synthetic, (0.8, 2.3), (0.8, -2.3), DATA),
]
IDS = [c.name for c in CASES]
# The event-shaped mixture shares the solver path of profiled_normal: skipped where costly.
CORE = [c for c in CASES if c.name != "profiled_pair"]
CORE_IDS = [c.name for c in CORE]
LOGNORMAL = Case("profiled_lognormal", ProfiledMixture, _lognormal, (0.5,), (-0.5,), None)


@pytest.fixture(params=["float64", "float32"])
def x64(request):
    """Run the test body with x64 on (the test default) or off (NumPyro's default)."""
    enabled = request.param == "float64"
    with jax.enable_x64(enabled):
        yield enabled


def build(case: Case, *theta, convert=jnp.asarray, **extra):
    args, kwargs = case.make(*(convert(t) for t in theta))
    return case.cls(*args, **kwargs, **extra)


def _float_dtype(x64: bool):
    return jnp.float64 if x64 else jnp.float32


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dist_shape_and_log_prob_shape(case, x64):
    d = build(case, *case.theta)
    assert d.sample(jax.random.key(0)).shape == d.batch_shape + d.event_shape
    # (3, 4): as many observations as the profiled data (one compiled solver).
    for prepend in [(3, 4)]:
        samples = d.sample(jax.random.key(0), prepend)
        assert samples.shape == prepend + d.batch_shape + d.event_shape
        assert samples.dtype == _float_dtype(x64)
        log_prob = d.log_prob(samples)
        assert log_prob.shape == prepend + d.batch_shape
        assert log_prob.dtype == _float_dtype(x64)
        assert bool(jnp.all(jnp.isfinite(log_prob)))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_infer_shapes(case, x64):
    args, kwargs = case.make(*(jnp.asarray(t) for t in case.theta))
    d = case.cls(*args, **kwargs)

    def shape(a):
        return a if isinstance(a, dist.Distribution) else getattr(a, "shape", ())

    shapes = [shape(a) for a in args]
    kw = {k: shape(v) for k, v in kwargs.items()}
    assert type(d).infer_shapes(*shapes, **kw) == (d.batch_shape, d.event_shape)
    if case.cls is not ProfiledMixture:
        assert d.event_shape == (N,)  # the issue: () was reported
    else:
        # NumPyro passes a distribution argument as its shape(): univariate components only.
        component = args[0]
        if not component.event_shape:
            assert type(d).infer_shapes(component.shape()) == (d.batch_shape, d.event_shape)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jit_log_likelihood_and_pytree(case, x64):
    samples = build(case, *case.theta).sample(jax.random.key(0), (3, 4))

    def log_likelihood(*theta):
        return build(case, *theta).log_prob(samples)

    expected = log_likelihood(*case.theta)
    actual = jax.jit(log_likelihood)(*case.theta)
    tol = 1e-10 if x64 else 2e-5
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)
    # flatten/unflatten: a distribution returned from jit scores and samples the same
    d = build(case, *case.theta)
    d_jit = jax.jit(lambda: build(case, *case.theta))()
    np.testing.assert_allclose(d_jit.log_prob(samples), d.log_prob(samples), rtol=tol, atol=tol)
    key = jax.random.key(1)
    np.testing.assert_allclose(d_jit.sample(key), d.sample(key), rtol=tol)


def _score(case, theta, value):
    return jnp.sum(build(case, *theta).log_prob(fresh(value)))


@pytest.mark.parametrize("case", CORE, ids=CORE_IDS)
def test_log_prob_gradient(case, x64):
    theta = tuple(jnp.asarray(t) for t in case.theta)
    for i in range(len(theta)):
        actual = jax.grad(lambda *t: _score(case, t, case.value), argnums=i)(*theta)
        assert actual.dtype == _float_dtype(x64)
        if x64:
            eps = 1e-6
            up = [t + eps * (j == i) for j, t in enumerate(theta)]
            down = [t - eps * (j == i) for j, t in enumerate(theta)]
            expected = (_score(case, up, case.value) - _score(case, down, case.value)) / (2 * eps)
            np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
        else:
            # float32 gradient against the exact float64 one (finite differences in float32
            # would be the less accurate of the two).
            with jax.enable_x64(True):
                theta64 = tuple(jnp.asarray(t, dtype=jnp.float64) for t in case.theta)
                g = jax.grad(lambda *t: _score(case, t, case.value), argnums=i)(*theta64)
                expected = float(g)
            np.testing.assert_allclose(float(actual), expected, rtol=2e-3, atol=2e-3)


def test_float32_profiled_mixture_matches_float64_per_observation():
    """Per-observation log-likelihoods and scores in float32 under jit, against float64."""
    case = CASES[0]

    def pointwise(scale, value):
        return build(case, scale).log_prob(value)

    with jax.enable_x64(False):
        value32 = fresh(Y_MIX)
        assert value32.dtype == jnp.float32
        lp32 = jax.jit(pointwise)(jnp.asarray(0.8), value32)
        score32 = jax.jit(jax.jacrev(pointwise))(jnp.asarray(0.8), value32)
    lp64 = pointwise(jnp.asarray(0.8), fresh(Y_MIX))
    score64 = jax.jacrev(pointwise)(jnp.asarray(0.8), fresh(Y_MIX))
    np.testing.assert_allclose(lp32, lp64, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(score32, score64, rtol=1e-3, atol=1e-3)


def _vmappable(cls) -> list[str]:
    init = list(inspect.signature(cls.__init__).parameters)[1:]
    over = list(inspect.signature(vmap_over.dispatch(cls)).parameters)[1:]
    return [name for name in init if name in over]


def _tree_equal(a, b):
    same = jax.tree.map(lambda x, y: jnp.allclose(x, y), a, b)
    return jnp.all(jnp.stack(jax.tree.leaves(same)))


@pytest.mark.parametrize("case", CORE, ids=CORE_IDS)
def test_vmap_dist(case, x64):
    args, kwargs = case.make(*(jnp.asarray(t) for t in case.theta))
    # Keyword arguments that vmap_over knows join the positional ones.
    names = list(inspect.signature(case.cls.__init__).parameters)[1 : 1 + len(args)]
    names += [n for n in _vmappable(case.cls) if n in kwargs and n not in names]
    params = [*args, *(kwargs.pop(n) for n in names[len(args) :])]
    vmappable = [i for i, n in enumerate(names) if n in _vmappable(case.cls)]
    vmappable = [i for i in vmappable if jax.tree.leaves(params[i])]  # e.g. constraints
    assert vmappable, f"no vmap_over registered for {case.cls.__name__}"

    def make(*p):
        named = dict(zip(names[len(args) :], p[len(args) :], strict=True))
        return case.cls(*p[: len(args)], **named, **kwargs)

    d = make(*params)
    cases = [(tuple(0 if i in vmappable else None for i in range(len(params))), 0)]
    for idx in vmappable:
        # (NumPyro also maps one argument with out_axes=0; that checks JAX's broadcasting.)
        in_axes = [0 if i == idx else None for i in range(len(params))]
        cases.append((in_axes, vmap_over(d, **{names[idx]: 0})))
        if isinstance(params[idx], jax.Array) and params[idx].ndim > 0:
            in_axes1 = [1 if i == idx else None for i in range(len(params))]
            cases.append((in_axes1, vmap_over(d, **{names[idx]: 1})))
    for in_axes, out_axes in cases:
        batched = [
            jax.tree.map(lambda x, ax=ax: jnp.expand_dims(x, ax), p) if isinstance(ax, int) else p
            for p, ax in zip(params, in_axes, strict=True)
        ]
        batched_d = jax.vmap(make, in_axes=in_axes, out_axes=out_axes)(*batched)
        eq = jax.vmap(_tree_equal, in_axes=(out_axes, None))(batched_d, make(*params))
        assert bool(jnp.all(eq))
        sample = make(*params).sample(jax.random.key(0))
        batched_sample = jax.vmap(lambda bd: bd.sample(jax.random.key(0)), in_axes=(out_axes,))(
            batched_d
        )
        assert batched_sample.shape == (1, *sample.shape)
        np.testing.assert_allclose(batched_sample[0], sample, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_distribution_constraints(case, x64):
    with numpyro.validation_enabled(False):
        assert build(case, *case.oob)  # invalid parameters construct without validation
    with pytest.raises(ValueError, match="got invalid"):
        build(case, *case.oob, validate_args=True)
    with pytest.raises(ValueError, match="got invalid"):
        # omnistaging: concrete (NumPy) parameters are checked under jit too
        jax.jit(lambda: build(case, *case.oob, convert=np.asarray, validate_args=True))()
    d = build(case, *case.theta, validate_args=True)
    assert bool(jnp.all(jnp.isfinite(d.log_prob(fresh(case.value)))))


def test_invalid_sample_and_data_are_reported():
    d = build(LOGNORMAL, *LOGNORMAL.theta, validate_args=True)  # support: positive
    with pytest.raises(ValueError, match="got invalid scale"):
        build(LOGNORMAL, *LOGNORMAL.oob, validate_args=True)
    # out of the support: NumPyro's warning, then the profile is infeasible for that row
    with (
        pytest.warns(UserWarning, match="Out-of-support"),
        pytest.raises(ValueError, match="-inf at every grid point"),
    ):
        d.log_prob(jnp.array([-1.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="invalid data"):
        ProfiledMixture(dist.LogNormal(0.0, jnp.ones(3)), data=-jnp.ones(4), validate_args=True)


def test_param_constraints_structure_is_checked():
    params = {"mu": jnp.asarray(0.8), "sigma": jnp.asarray(2.3)}
    draws = fresh(SHOCKS)
    with pytest.raises(ValueError, match="'scale', which is not a key"):
        SyntheticLikelihood(simulate, summaries, draws, params, param_constraints={"scale": None})
    # One constraint for every leaf; names the offending leaf.
    with pytest.raises(ValueError, match=r"params\['mu'\]"):
        SMMLikelihood(
            simulate,
            mean_var,
            draws,
            {"mu": jnp.asarray(-1.0), "sigma": jnp.asarray(1.0)},
            fresh(WEIGHT),
            param_constraints=constraints.positive,
            validate_args=True,
        )
