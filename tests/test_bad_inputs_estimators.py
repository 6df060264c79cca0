"""Bad-input catalogue, part 2: frequentist estimators and the samplers' tools.

(The samplers' run-time checks live with the samplers' own tests.) Tiny data; every case but
the ProfileMLE ones fails at entry before any compilation. See tests/_catalogue.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from flax import nnx

from numpyro_semipar.frequentist import SMM, MaximumLikelihood, ProfileMLE, covariance_from_scores
from numpyro_semipar.mcmc import (
    MLP,
    CandidateArchive,
    Surrogate,
    load_surrogate,
    surrogate_posterior,
    train_surrogate,
)
from numpyro_semipar.mcmc._logdensity_checks import is_jax_logdensity
from numpyro_semipar.models import LinearFactor
from tests._catalogue import Raises, Returns, ids, run_case

RNG = np.random.default_rng(1919)


def with_entry(array, index, value):
    out = np.array(array, dtype=np.float64, copy=True)
    out[index] = value
    return out


# ---------------------------------------------------------------- SMM
DRAWS = RNG.normal(size=(4, 20))
SMM_DATA = 1.0 + RNG.normal(size=20)


def location_scale(params, u):
    return params["mu"] + params["sigma"] * u


def mean_and_variance(x):
    return jnp.stack([jnp.mean(x), jnp.var(x)])


def smm(moments=mean_and_variance, simulate=location_scale):
    return SMM(simulate, moments, DRAWS)


START = {"mu": 0.0, "sigma": 1.0}

SMM_CASES = [
    Raises(
        "smm-empty-init-params",
        lambda: smm().fit(SMM_DATA, {}),
        ValueError,
        r"init_params holds no parameter \(got \{\}\)",
    ),
    Raises(
        "smm-init-params-missing-a-site",
        lambda: smm().fit(SMM_DATA, {"mu": 0.0}),
        ValueError,
        r"simulate\(params, draws\) looked up 'sigma' but init_params names only \['mu'\]",
    ),
    Raises(
        "smm-empty-data",
        lambda: smm().fit(SMM_DATA[:0], START),
        ValueError,
        r"data has no observations \(leading axis of length 0, shapes \[\(0,\)\]\)",
    ),
    Raises(
        "smm-nan-data",
        lambda: smm().fit(with_entry(SMM_DATA, 3, np.nan), START),
        ValueError,
        r"data\[3\] is NaN, and data moment m\[0\] is nan",
    ),
    Raises(
        "smm-more-parameters-than-moments",
        lambda: smm(moments=lambda x: jnp.mean(x)[None]).fit(SMM_DATA, START),
        ValueError,
        r"1 moments cannot identify 2 parameters \['mu', 'sigma'\]",
    ),
    Raises("smm-init-params-list-empty", lambda: smm().fit(SMM_DATA, []), ValueError, r"is empty"),
    Raises(
        "smm-multistart-different-names",
        lambda: smm().fit(SMM_DATA, [START, {"mu": 0.0}]),
        ValueError,
        r"init_params\[1\] has different parameters than init_params\[0\]",
    ),
    Raises(
        "smm-weighting-unknown",
        lambda: smm().fit(SMM_DATA, START, weighting="best"),
        ValueError,
        r"weighting must be one of .* got 'best'",
    ),
    Raises(
        "smm-omega-unknown",
        lambda: smm().fit(SMM_DATA, START, omega="jackknife"),
        ValueError,
        r"omega must be one of .* got 'jackknife'",
    ),
    Raises(
        "smm-bootstrap-without-key",
        lambda: smm().fit(SMM_DATA, START, omega="bootstrap"),
        ValueError,
        r"omega='bootstrap' needs rng_key",
    ),
    Raises(
        "smm-covariance-unknown",
        lambda: smm().fit(SMM_DATA, START, cov_type="robust"),
        ValueError,
        r"cov_type must be 'sandwich' or 'optimal', got 'robust'",
    ),
    Raises(
        "smm-weight-indefinite",
        lambda: smm().fit(SMM_DATA, START, weighting=np.diag([1.0, -2.0])),
        ValueError,
        r"weight must be positive semi-definite and non-zero; its eigenvalues range from -2 "
        r"to 1",
    ),
    Raises(
        "smm-weight-nan",
        lambda: smm().fit(SMM_DATA, START, weighting=with_entry(np.eye(2), (0, 1), np.nan)),
        ValueError,
        r"weight\[0, 1\] = nan is not finite",
    ),
    Raises(
        "smm-weight-shape",
        lambda: smm().fit(SMM_DATA, START, weighting=np.eye(3)),
        ValueError,
        r"weight must have shape \(2, 2\), got \(3, 3\)",
    ),
    Raises(
        "smm-simulate-not-callable",
        lambda: SMM(None, mean_and_variance, DRAWS),
        TypeError,
        r"simulate must be callable, got NoneType",
    ),
    Raises(
        "smm-error-kind",
        lambda: SMM(location_scale, mean_and_variance, DRAWS, error="ratio"),
        ValueError,
        r"error must be one of .* got 'ratio'",
    ),
    Raises(
        "smm-optimizer",
        lambda: SMM(location_scale, mean_and_variance, DRAWS, optimizer="bfgs"),
        ValueError,
        r"optimizer must be 'nelder-mead' or 'l-bfgs-b', got 'bfgs'",
    ),
]


# ---------------------------------------------------------------- MaximumLikelihood
def normal_model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(5.0))
    numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


def discrete_model(y):
    z = numpyro.sample("z", dist.Bernoulli(0.5))
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    numpyro.sample("y", dist.Normal(mu + z, 1.0), obs=y)


def prior_only(y):
    numpyro.sample("mu", dist.Normal(0.0, 10.0))


ML_Y = RNG.normal(size=12)

ML_CASES = [
    Raises(
        "ml-nan-data",
        lambda: MaximumLikelihood(normal_model).fit(with_entry(ML_Y, 5, np.nan)),
        ValueError,
        r"observed site 'y': data\[5\] is NaN",
    ),
    Raises(
        "ml-discrete-latent-site",
        lambda: MaximumLikelihood(discrete_model).fit(ML_Y),
        ValueError,
        r"latent site 'z' is discrete \(BernoulliProbs\)",
    ),
    Raises(
        "ml-init-outside-support",
        lambda: MaximumLikelihood(normal_model).fit(ML_Y, init_params={"mu": 0.0, "sigma": -1.0}),
        ValueError,
        r"init_params\['sigma'\] = -1.0 is outside the support of site 'sigma'",
    ),
    Raises(
        "ml-init-unknown-site",
        lambda: MaximumLikelihood(normal_model).fit(ML_Y, init_params={"mu": 0.0, "sd": 1.0}),
        ValueError,
        r"init_params names \['sd'\], which the model has no latent site for; its latent "
        r"sites are \['mu', 'sigma'\]",
    ),
    Raises(
        "ml-no-observed-site",
        lambda: MaximumLikelihood(prior_only).fit(ML_Y),
        ValueError,
        r"the model has no observed site",
    ),
    Raises(
        "ml-model-not-callable",
        lambda: MaximumLikelihood("model"),
        TypeError,
        r"model must be a NumPyro model \(callable\), got str",
    ),
    Raises(
        "ml-covariance-unknown",
        lambda: MaximumLikelihood(normal_model, cov_type="robust"),
        ValueError,
        r"cov_type must be one of .* got 'robust'",
    ),
    Raises(
        "covariance-from-scores-kind",
        lambda: covariance_from_scores(np.eye(2), None, "hc3", ["a", "b"]),
        ValueError,
        r"cov_type must be one of .* got 'hc3'",
    ),
]

# ---------------------------------------------------------------- ProfileMLE
FACTOR = LinearFactor(jnp.array([1.0]), jnp.zeros(2))
PY = RNG.normal(size=(3, 10, 2))

PROFILE_CASES = [
    Raises(
        "profile-mle-nan-data",
        lambda: ProfileMLE(np.linspace(-2.0, 2.0, 5)).fit(
            FACTOR, with_entry(PY[0], (5, 1), np.nan)
        ),
        ValueError,
        r"data\[5, 1\] is NaN: drop or impute",
    ),
    Raises(
        "profile-mle-batch-one-nan-data-set",
        lambda: ProfileMLE(np.linspace(-2.0, 2.0, 5)).fit_batch(
            FACTOR, with_entry(PY, (2, 4, 0), np.nan)
        ),
        ValueError,
        r"data set 2: data\[4, 0\] is NaN",
    ),
    Raises(
        "profile-mle-wrong-width",
        lambda: ProfileMLE(np.linspace(-2.0, 2.0, 5)).fit(FACTOR, np.hstack([PY[0], PY[0]])),
        ValueError,
        r"data y must have shape \(n, 2\)",
    ),
    Raises(
        "profile-mle-grid-nan",
        lambda: ProfileMLE(with_entry(np.linspace(-2.0, 2.0, 5), 2, np.nan)),
        ValueError,
        r"grid has non-finite entries",
    ),
    Raises(
        "profile-mle-grid-3d",
        lambda: ProfileMLE(np.zeros((2, 2, 2))),
        ValueError,
        r"grid must have shape \(m,\) or \(m, d\), got \(2, 2, 2\)",
    ),
    Raises(
        "profile-mle-cov-type",
        lambda: ProfileMLE(np.zeros(3), cov_type="robust"),
        ValueError,
        r"cov_type must be one of .* got 'robust'",
    ),
]


# ---------------------------------------------------------------- candidate archive
def archive3(tmp_path):
    return CandidateArchive(tmp_path / "archive", dim=3)


def foreign_chunk(tmp_path):
    archive = archive3(tmp_path)
    archive.append(np.ones((1, 3)), np.zeros(1))
    other = CandidateArchive(tmp_path / "other")
    other.append(np.ones((1, 2)), np.zeros(1))
    for chunk in (tmp_path / "other").glob("chunk-*.npz"):
        # A later sequence number, so the archive's own chunk (dim 3) is read first.
        chunk.rename(tmp_path / "archive" / chunk.name.replace("chunk-00000000", "chunk-00000009"))
    return CandidateArchive(tmp_path / "archive")


ARCHIVE_CASES = [
    Raises(
        "archive-wrong-columns",
        lambda p: archive3(p).append(np.zeros((2, 2)), np.zeros(2)),
        ValueError,
        r"positions has 2 columns but the archive stores dim=3",
    ),
    Raises(
        "archive-nan-position",
        lambda p: archive3(p).append(with_entry(np.zeros((3, 3)), (1, 2), np.nan), np.zeros(3)),
        ValueError,
        r"positions row 1 is not finite",
    ),
    Raises(
        "archive-nan-log-density",
        lambda p: archive3(p).append(np.eye(3), with_entry(np.zeros(3), 0, np.nan)),
        ValueError,
        r"log_densities row 0 is NaN",
    ),
    Raises(
        "archive-length-mismatch",
        lambda p: archive3(p).append(np.eye(3), np.zeros(2)),
        ValueError,
        r"log_densities has 2 entries for 3 positions",
    ),
    Raises(
        "archive-3d-positions",
        lambda p: archive3(p).lookup(np.zeros((2, 2, 3))),
        ValueError,
        r"positions must be a 2-D array \(n, dim\); got shape \(2, 2, 3\)",
    ),
    Raises(
        "archive-chunk-of-another-dimension",
        foreign_chunk,
        ValueError,
        r"chunk chunk-00000009-[0-9a-f]{32}\.npz has dim 2, the archive has dim 3",
    ),
    Returns(
        "archive-minus-inf-is-kept",
        lambda p: archive3(p).append(np.eye(3), np.array([0.0, -np.inf, 1.0])),
        lambda n: (n == 3) or pytest.fail(f"stored {n} rows"),
    ),
]


# ---------------------------------------------------------------- surrogates
def tiny_surrogate(dim=2):
    graphdef, params = nnx.split(MLP(dim, (4,), "tanh", rngs=nnx.Rngs(0)), nnx.Param)
    ones = jnp.ones(dim, jnp.float32)
    return Surrogate(graphdef, params, 0 * ones, ones, jnp.float32(0.0), jnp.float32(1.0))


def saved(tmp_path, damage=None):
    path = tmp_path / "surrogate.npz"
    tiny_surrogate().save(path)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "text":
        path.write_text("not a surrogate")
    return path


def _same_values(loaded):
    x = jnp.array([[0.3, -0.2], [1.0, 2.0]])
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(tiny_surrogate()(x)))


NAN_VALUES = np.full(10, np.nan)
SURROGATE_CASES = [
    Raises(
        "surrogate-wrong-dimension",
        lambda p: tiny_surrogate()(jnp.zeros(3)),
        ValueError,
        r"position has shape \(3,\) but the surrogate was trained on dim=2",
    ),
    Raises(
        "surrogate-scalar-position",
        lambda p: tiny_surrogate()(jnp.float32(1.0)),
        ValueError,
        r"position has shape \(\) but the surrogate was trained on dim=2",
    ),
    Raises(
        "surrogate-dict-without-layout",
        lambda p: tiny_surrogate()({"a": 1.0, "b": 2.0}),
        TypeError,
        r"this surrogate was trained on flat positions",
    ),
    Raises(
        "load-surrogate-truncated",
        lambda p: load_surrogate(saved(p, "truncate")),
        ValueError,
        r"surrogate.npz is not a readable surrogate file \(BadZipFile",
    ),
    Raises(
        "load-surrogate-not-npz",
        lambda p: load_surrogate(saved(p, "text")),
        ValueError,
        r"surrogate.npz is not a readable surrogate file",
    ),
    Raises(
        "load-surrogate-missing",
        lambda p: load_surrogate(p / "nowhere.npz"),
        FileNotFoundError,
        r"nowhere.npz",
    ),
    Returns("save-load-round-trip", lambda p: load_surrogate(saved(p)), _same_values),
    Raises(
        "train-surrogate-all-nan",
        lambda p: train_surrogate(np.zeros((10, 2)), NAN_VALUES),
        ValueError,
        r"too few usable candidates to train a surrogate: only 0 of 10 have a finite log "
        r"density and position \(e.g. row 0: "
        r"log_densities\[0\] = nan\)",
    ),
    Raises(
        "train-surrogate-positions-1d",
        lambda p: train_surrogate(np.zeros(10), np.zeros(10)),
        ValueError,
        r"positions must be a 2-D array \(n, dim\); got shape \(10,\)",
    ),
    Raises(
        "train-surrogate-values-shape",
        lambda p: train_surrogate(np.zeros((10, 2)), np.zeros(9)),
        ValueError,
        r"log_densities must have shape \(10,\); got \(9,\)",
    ),
    Raises(
        "train-surrogate-validation-fraction",
        lambda p: train_surrogate(np.zeros((10, 2)), np.zeros(10), validation_fraction=1.0),
        ValueError,
        r"validation_fraction must be in \(0, 1\), got 1.0",
    ),
    Raises(
        "train-surrogate-optimizer",
        lambda p: train_surrogate(np.zeros((10, 2)), np.zeros(10), optimizer="sgd"),
        ValueError,
        r"optimizer must be 'muon' or 'adamw', got 'sgd'",
    ),
]


# ---------------------------------------------------------------- surrogate_posterior entry
def jax_gaussian(x):
    return -0.5 * jnp.sum((x - jnp.ones(3)) ** 2)


def numpy_gaussian(x):
    return float(-0.5 * np.sum(np.asarray(x) ** 2))


KEY = jax.random.key(0)
WORKFLOW_CASES = [
    Raises(
        "jax-logdensity-wrong-init-length",
        lambda p: is_jax_logdensity(jax_gaussian, np.zeros(2)),
        ValueError,
        r"the log density fails at init_params \(shape \(2,\)\): TypeError: .*Check that "
        r"init_params has the length the log density expects",
    ),
    Raises(
        "logdensity-returns-vector",
        lambda p: is_jax_logdensity(lambda x: x**2, np.zeros(3)),
        ValueError,
        r"the log density must return a scalar; at init_params \(shape \(3,\)\) it returns "
        r"shape \(3,\)",
    ),
    Raises(
        "logdensity-init-matrix",
        lambda p: is_jax_logdensity(jax_gaussian, np.zeros((2, 3))),
        ValueError,
        r"init_params must be a \(d,\) vector for a log density; got \(2, 3\)",
    ),
    Returns(
        "jax-logdensity-is-jax",
        lambda p: is_jax_logdensity(jax_gaussian, np.zeros(3)),
        lambda out: out is True or pytest.fail("not recognised as JAX"),
    ),
    Returns(
        "numpy-logdensity-is-host",
        lambda p: is_jax_logdensity(numpy_gaussian, np.zeros(3)),
        lambda out: out is False or pytest.fail("a NumPy function taken for JAX"),
    ),
    Raises(
        "surrogate-posterior-method",
        lambda p: surrogate_posterior(
            jax_gaussian, rng_key=KEY, init_params=np.zeros(3), method="x"
        ),
        ValueError,
        r"method must be 'delayed_acceptance' or 'surrogate', got 'x'",
    ),
    Raises(
        "surrogate-posterior-holdout",
        lambda p: surrogate_posterior(
            jax_gaussian, rng_key=KEY, init_params=np.zeros(3), holdout_fraction=1.0
        ),
        ValueError,
        r"holdout_fraction must be in \(0, 1\), got 1.0",
    ),
]

CASES = SMM_CASES + ML_CASES + PROFILE_CASES
PATH_CASES = ARCHIVE_CASES + SURROGATE_CASES + WORKFLOW_CASES


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)


@pytest.mark.parametrize("case", PATH_CASES, ids=ids(PATH_CASES))
def test_bad_input_with_files(case, tmp_path):
    # These calls take the test's own directory (archives and surrogate files).
    call = case.call
    run_case(type(case)(**{**case.__dict__, "call": lambda: call(tmp_path)}))
