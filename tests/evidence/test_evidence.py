"""Evidence estimators against closed-form marginal likelihoods.

References (none computed by the package): the marginal distribution of the data in conjugate
Gaussian models (a multivariate normal, scipy), the Poisson–Gamma evidence (gamma functions),
and Stirling's formula, which is what the Laplace approximation of the Gamma integral reduces to.
"""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
import scipy.stats
from numpyro.infer import MCMC, NUTS
from scipy.special import gammaln

from numpyro_semipar.evidence import (
    EvidenceResult,
    bridge_sampling_evidence,
    compare,
    harmonic_mean_evidence,
    laplace_evidence,
)

# ---------------------------------------------------------------- models and closed forms

SIGMA, PRIOR_MEAN, PRIOR_SD = 1.5, 0.5, 2.0
Y_NORMAL = np.random.default_rng(1).normal(1.0, SIGMA, size=20)


def normal_mean_model(y):
    mu = numpyro.sample("mu", dist.Normal(PRIOR_MEAN, PRIOR_SD))
    numpyro.sample("y", dist.Normal(mu, SIGMA), obs=y)


def normal_mean_evidence(y):
    n = y.size
    cov = SIGMA**2 * np.eye(n) + PRIOR_SD**2 * np.ones((n, n))
    return scipy.stats.multivariate_normal(np.full(n, PRIOR_MEAN), cov).logpdf(y)


BETA_SD = 1.5
_rng = np.random.default_rng(2)
X_REG = _rng.normal(size=(30, 10))
Y_REG = X_REG @ _rng.normal(size=10) + _rng.normal(size=30)


def regression_model(x, y):
    beta = numpyro.sample("beta", dist.Normal(0.0, BETA_SD).expand([x.shape[1]]).to_event(1))
    numpyro.sample("y", dist.Normal(x @ beta, 1.0), obs=y)


def regression_evidence(x, y):
    cov = np.eye(y.size) + BETA_SD**2 * x @ x.T
    return scipy.stats.multivariate_normal(np.zeros(y.size), cov).logpdf(y)


A, B = 2.0, 1.0
Y_COUNTS = np.random.default_rng(3).poisson(3.0, size=15)


def poisson_gamma_model(y):
    lam = numpyro.sample("lam", dist.Gamma(A, B))
    numpyro.sample("y", dist.Poisson(lam), obs=y)


def poisson_gamma_parts(y):
    """Constant, shape α and rate β with log p(y) = constant + log Γ(α) − α log β."""
    constant = A * np.log(B) - gammaln(A) - gammaln(y + 1).sum()
    return constant, A + y.sum(), B + y.size


def poisson_gamma_evidence(y):
    constant, alpha, beta = poisson_gamma_parts(y)
    return constant + gammaln(alpha) - alpha * np.log(beta)


def _nuts(model, *args, seed=0, num_samples=4000):
    mcmc = MCMC(NUTS(model), num_warmup=500, num_samples=num_samples, progress_bar=False)
    mcmc.run(jax.random.key(seed), *args)
    return mcmc


@pytest.fixture(scope="module")
def normal_run():
    return _nuts(normal_mean_model, jnp.asarray(Y_NORMAL))


@pytest.fixture(scope="module")
def regression_run():
    return _nuts(regression_model, jnp.asarray(X_REG), jnp.asarray(Y_REG), seed=1)


@pytest.fixture(scope="module")
def poisson_run():
    return _nuts(poisson_gamma_model, jnp.asarray(Y_COUNTS), seed=2)


# ---------------------------------------------------------------- Laplace


def test_laplace_is_exact_for_the_conjugate_normal_model():
    result = laplace_evidence(model=normal_mean_model, model_args=(jnp.asarray(Y_NORMAL),))
    assert result.converged and result.method == "laplace" and np.isnan(result.std_error)
    np.testing.assert_allclose(
        result.log_evidence, normal_mean_evidence(Y_NORMAL), rtol=0, atol=1e-8
    )


def test_laplace_is_exact_for_the_10d_gaussian_regression(regression_run):
    result = laplace_evidence(regression_run)
    np.testing.assert_allclose(
        result.log_evidence, regression_evidence(X_REG, Y_REG), rtol=0, atol=1e-8
    )
    # The mode is the conjugate posterior mean.
    precision = X_REG.T @ X_REG + np.eye(10) / BETA_SD**2
    np.testing.assert_allclose(
        result.diagnostics["mode"]["beta"], np.linalg.solve(precision, X_REG.T @ Y_REG), atol=1e-6
    )


def test_laplace_parametrisations_reduce_to_stirling_on_the_poisson_gamma_model():
    # log p(y) = c + log Γ(α) − α log β. In z = log λ the integrand is exp(αz − βe^z), whose
    # Laplace approximation replaces log Γ(α) by Stirling's (α − ½) log α − α + ½ log 2π; in λ
    # (no Jacobian) the integrand λ^(α−1) e^(−βλ) gives Stirling for (α − 1)!. The two differ
    # exactly by the Jacobian term, so both identities check its handling.
    y = jnp.asarray(Y_COUNTS)
    constant, alpha, beta = poisson_gamma_parts(Y_COUNTS)
    unconstrained = laplace_evidence(model=poisson_gamma_model, model_args=(y,))
    k = alpha - 1.0
    stirling_z = (alpha - 0.5) * np.log(alpha) - alpha + 0.5 * np.log(2 * np.pi)
    stirling_lam = k * np.log(k) - k + 0.5 * np.log(2 * np.pi * k)
    np.testing.assert_allclose(
        unconstrained.log_evidence, constant + stirling_z - alpha * np.log(beta), atol=1e-8
    )
    constrained = laplace_evidence(
        model=poisson_gamma_model, model_args=(y,), parametrisation="constrained"
    )
    np.testing.assert_allclose(
        constrained.log_evidence, constant + stirling_lam - alpha * np.log(beta), atol=1e-8
    )
    for parametrisation, exact in [("unconstrained", unconstrained), ("constrained", constrained)]:
        by_differences = laplace_evidence(
            model=poisson_gamma_model,
            model_args=(y,),
            parametrisation=parametrisation,
            hessian="finite-difference",
        )
        np.testing.assert_allclose(by_differences.log_evidence, exact.log_evidence, atol=1e-6)
    # Modes: λ = α/β of the unconstrained density, (α − 1)/β of the posterior of λ.
    np.testing.assert_allclose(unconstrained.diagnostics["mode"]["lam"], alpha / beta, rtol=1e-7)
    np.testing.assert_allclose(constrained.diagnostics["mode"]["lam"], k / beta, rtol=1e-7)
    # Both are close to the truth (Stirling's error 1/(12α)).
    truth = poisson_gamma_evidence(Y_COUNTS)
    assert abs(unconstrained.log_evidence - truth) < 1 / (12 * alpha) * 1.01


@pytest.mark.parametrize("hessian", ["exact", "finite-difference"])
@pytest.mark.parametrize("parametrisation", ["unconstrained", "constrained"])
def test_second_order_laplace_term_is_the_next_term_of_stirlings_series(parametrisation, hessian):
    # Stirling's series: log Γ(α) = (α − ½) log α − α + ½ log 2π + 1/(12α) − 1/(360α³) + …
    # The second-order term of the expansion in z = log λ is 1/(12α) exactly; in λ (the Gamma
    # integral for (α − 1)! = Γ(k + 1), k = α − 1) it is 1/(12k). With it the error drops from
    # 1/(12α) ≈ 1.8e-3 to Stirling's next term, 1/(360α³) ≈ 2.7e-8 (α = 47).
    y = jnp.asarray(Y_COUNTS)
    _, alpha, _ = poisson_gamma_parts(Y_COUNTS)
    first, second = (
        laplace_evidence(
            model=poisson_gamma_model,
            model_args=(y,),
            parametrisation=parametrisation,
            hessian=hessian,
            order=order,
        )
        for order in (1, 2)
    )
    n = alpha if parametrisation == "unconstrained" else alpha - 1.0
    term = second.diagnostics["second_order_term"]
    np.testing.assert_allclose(term, 1 / (12 * n), rtol=1e-4)
    assert first.diagnostics["second_order_term"] == term and first.diagnostics["order"] == 1
    np.testing.assert_allclose(second.log_evidence, first.log_evidence + term, rtol=0, atol=1e-12)
    error = second.log_evidence - poisson_gamma_evidence(Y_COUNTS)
    assert abs(error) < 10 / (360 * n**3), error


def test_second_order_term_vanishes_for_a_gaussian_posterior():
    result = laplace_evidence(model=normal_mean_model, model_args=(jnp.asarray(Y_NORMAL),), order=2)
    assert abs(result.diagnostics["second_order_term"]) < 1e-6
    np.testing.assert_allclose(result.log_evidence, normal_mean_evidence(Y_NORMAL), atol=1e-6)


# ---------------------------------------------------------------- sampling-based estimators

CASES = [
    ("normal_run", lambda: normal_mean_evidence(Y_NORMAL)),
    ("regression_run", lambda: regression_evidence(X_REG, Y_REG)),
    ("poisson_run", lambda: poisson_gamma_evidence(Y_COUNTS)),
]


@pytest.mark.parametrize(("run", "truth"), CASES, ids=[c[0] for c in CASES])
def test_modified_harmonic_mean_recovers_the_evidence(run, truth, request):
    result = harmonic_mean_evidence(request.getfixturevalue(run))
    assert result.converged and result.num_draws == 4000
    assert 0 < result.std_error < 0.1
    assert abs(result.log_evidence - truth()) <= 4 * result.std_error, result
    assert abs(result.diagnostics["fraction_inside"] - 0.5) < 0.1
    for tau, value in result.diagnostics["log_evidence_by_tau"].items():
        se = result.diagnostics["std_error_by_tau"][tau]
        assert abs(value - truth()) <= 4 * se, (tau, value, se)


@pytest.mark.parametrize(("run", "truth"), CASES, ids=[c[0] for c in CASES])
def test_bridge_sampling_recovers_the_evidence(run, truth, request):
    result = bridge_sampling_evidence(jax.random.key(5), request.getfixturevalue(run))
    assert result.converged and result.diagnostics["num_iter"] < 100
    assert 0 < result.std_error < 0.05
    assert abs(result.log_evidence - truth()) <= 4 * result.std_error, result


@pytest.mark.slow
def test_error_estimates_match_the_spread_over_repeated_runs():
    # The reported standard errors against the actual spread of estimates over independent
    # chains (Poisson–Gamma, short chains so that the spread is measurable).
    y = jnp.asarray(Y_COUNTS)
    mcmc = MCMC(
        NUTS(poisson_gamma_model),
        num_warmup=300,
        num_samples=400,
        num_chains=8,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(10), y)
    chains = mcmc.get_samples(group_by_chain=True)["lam"]
    mhm, bridge = [], []
    for c in range(chains.shape[0]):
        draws = {"lam": chains[c]}
        mhm.append(harmonic_mean_evidence(draws, poisson_gamma_model, model_args=(y,)))
        bridge.append(
            bridge_sampling_evidence(jax.random.key(c), draws, poisson_gamma_model, model_args=(y,))
        )
    for results in (mhm, bridge):
        spread = np.std([r.log_evidence for r in results], ddof=1)
        reported = np.sqrt(np.mean([r.std_error**2 for r in results]))
        # A chi-square with 7 degrees of freedom: the ratio lies in (0.45, 1.6) with 95%.
        assert 0.35 < spread / reported < 2.0, (spread, reported)


def test_samples_dict_by_chain_gives_the_same_answer_as_the_mcmc_object(poisson_run):
    samples = poisson_run.get_samples(group_by_chain=True)
    from_dict = harmonic_mean_evidence(
        samples, poisson_gamma_model, model_args=(jnp.asarray(Y_COUNTS),), group_by_chain=True
    )
    from_mcmc = harmonic_mean_evidence(poisson_run)
    np.testing.assert_allclose(from_dict.log_evidence, from_mcmc.log_evidence, rtol=1e-12)
    flat = harmonic_mean_evidence(
        poisson_run.get_samples(), poisson_gamma_model, model_args=(jnp.asarray(Y_COUNTS),)
    )
    np.testing.assert_allclose(flat.log_evidence, from_mcmc.log_evidence, rtol=1e-12)


def test_compare_ranks_models_and_gives_bayes_factors(poisson_run):
    good = bridge_sampling_evidence(jax.random.key(0), poisson_run)
    bad = EvidenceResult("bridge", good.log_evidence - np.log(3.0), 0.02, True, 100, {})
    table = compare({"bad": bad, "good": good})
    assert list(table.index) == ["good", "bad"]
    np.testing.assert_allclose(table["log_bayes_factor"], [0.0, np.log(3.0)])
    np.testing.assert_allclose(table["posterior_probability"], [0.75, 0.25])
    np.testing.assert_allclose(table.loc["bad", "log_bf_std_error"], np.hypot(0.02, good.std_error))
    weighted = compare({"bad": bad, "good": good}, prior_probabilities={"bad": 3, "good": 1})
    np.testing.assert_allclose(weighted["posterior_probability"], [0.5, 0.5])


# ---------------------------------------------------------------- bad input


def test_bad_inputs_are_named(poisson_run):
    y = jnp.asarray(Y_COUNTS)
    with pytest.raises(TypeError, match="model must be a NumPyro model"):
        harmonic_mean_evidence({"lam": np.ones(100)})
    with pytest.raises(ValueError, match=r"lack the model's latent site\(s\) \['lam'\]"):
        harmonic_mean_evidence({"mu": np.ones(100)}, poisson_gamma_model, model_args=(y,))
    with pytest.raises(ValueError, match="tau must lie in"):
        harmonic_mean_evidence(poisson_run, tau=1.5)
    with pytest.raises(ValueError, match="inside the model's support"):
        harmonic_mean_evidence({"lam": -np.ones(100)}, poisson_gamma_model, model_args=(y,))
    with pytest.raises(ValueError, match="parametrisation must be"):
        laplace_evidence(poisson_run, parametrisation="natural")
    with pytest.raises(ValueError, match="num_proposal must be"):
        bridge_sampling_evidence(jax.random.key(0), poisson_run, num_proposal=1)
    with pytest.raises(TypeError, match="posterior must be"):
        bridge_sampling_evidence(jax.random.key(0), [1, 2, 3], poisson_gamma_model)
    with pytest.raises(ValueError, match="has not been run"):
        harmonic_mean_evidence(MCMC(NUTS(poisson_gamma_model), num_warmup=1, num_samples=1))


def test_estimators_run_in_float64_when_x64_is_off(poisson_run):
    # NumPyro users start with x64 disabled: the estimators switch float64 on around their work.
    reference = [
        laplace_evidence(poisson_run),
        harmonic_mean_evidence(poisson_run),
        bridge_sampling_evidence(jax.random.key(0), poisson_run),
    ]
    with jax.enable_x64(False):
        results = [
            laplace_evidence(poisson_run),
            harmonic_mean_evidence(poisson_run),
            bridge_sampling_evidence(jax.random.key(0), poisson_run),
        ]
    for got, want in zip(results, reference, strict=True):
        np.testing.assert_allclose(got.log_evidence, want.log_evidence, rtol=1e-10)


K_RATES, A13, B13 = 13, 1.5, 1.0
Y13 = np.random.default_rng(0).poisson(1.0, size=(3, K_RATES))


def poisson_gamma_13d(y):
    lam = numpyro.sample("lam", dist.Gamma(A13, B13).expand([K_RATES]).to_event(1))
    numpyro.sample("y", dist.Poisson(lam).to_event(1), obs=y)


@pytest.mark.slow
def test_skewed_13d_constrained_posterior():
    # 13 independent Poisson–Gamma rates with small counts: a skewed 13-D posterior of positive
    # parameters (the size of the An–Schorfheide model), closed-form evidence.
    n, counts = Y13.shape[0], Y13.sum(axis=0)
    truth = (
        np.sum(
            A13 * np.log(B13)
            - gammaln(A13)
            + gammaln(A13 + counts)
            - (A13 + counts) * np.log(B13 + n)
        )
        - gammaln(Y13 + 1).sum()
    )
    run = _nuts(poisson_gamma_13d, jnp.asarray(Y13), seed=3)
    for result in (harmonic_mean_evidence(run), bridge_sampling_evidence(jax.random.key(3), run)):
        assert result.converged and result.std_error < 0.05
        assert abs(result.log_evidence - truth) <= 4 * result.std_error, (result, truth)
    # Laplace in z is only approximate here (skewed log-Gamma marginals): each of the 13
    # dimensions contributes Stirling's error, about 1/(12 α) with α = 1.5 + count.
    laplace = laplace_evidence(run)
    stirling = np.sum(
        (A13 + counts - 0.5) * np.log(A13 + counts)
        - (A13 + counts)
        + 0.5 * np.log(2 * np.pi)
        - gammaln(A13 + counts)
    )
    np.testing.assert_allclose(laplace.log_evidence - truth, stirling, atol=1e-7)
    # The second-order term restores Stirling's 1/(12α) in each of the 13 dimensions.
    alphas = A13 + counts
    np.testing.assert_allclose(
        laplace.diagnostics["second_order_term"], np.sum(1 / (12 * alphas)), rtol=1e-4
    )
