"""Posterior report: every column against an independent computation.

References: NumPy moments, a hand-written shortest interval, the AR(1) process's known
autocorrelation time (ESS, inefficiency) and spectral density (Geweke), a hand-written
rank-normalised split R-hat (Vehtari et al. 2021, eqs. in section 4), and the closed-form
posterior modes of the Poisson–Gamma model in both parametrisations.
"""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
import scipy.stats
from numpyro.infer import MCMC, NUTS

from numpyro_semipar.reporting import geweke_z, posterior_report

RHO = 0.5


def ar1_chains(seed, num_chains, num_draws, rho=RHO):
    """Stationary AR(1) chains with unit variance: IAT (1 + ρ)/(1 − ρ)."""
    rng = np.random.default_rng(seed)
    x = np.empty((num_chains, num_draws))
    x[:, 0] = rng.normal(size=num_chains)
    shocks = rng.normal(size=(num_chains, num_draws)) * np.sqrt(1 - rho**2)
    for t in range(1, num_draws):
        x[:, t] = rho * x[:, t - 1] + shocks[:, t]
    return x


def shortest_interval(x, prob):
    s = np.sort(x)
    k = int(np.floor(prob * s.size))
    i = int(np.argmin(s[k:] - s[: s.size - k]))
    return s[i], s[i + k]


def classic_rhat(chains):
    n = chains.shape[1]
    within = chains.var(axis=1, ddof=1).mean()
    between = n * chains.mean(axis=1).var(ddof=1)
    return np.sqrt(((n - 1) / n * within + between / n) / within)


def rank_split_rhat(x):
    half = x.shape[1] // 2
    split = np.concatenate([x[:, :half], x[:, x.shape[1] - half :]])

    def z_scale(a):
        ranks = scipy.stats.rankdata(a, method="average").reshape(a.shape)
        return scipy.stats.norm.ppf((ranks - 0.375) / (a.size + 0.25))

    bulk = classic_rhat(z_scale(split))
    tail = classic_rhat(z_scale(np.abs(split - np.median(split))))
    return max(bulk, tail)


@pytest.fixture(scope="module")
def ar1_report():
    draws = {
        "x": ar1_chains(0, 4, 10_000),
        "v": np.random.default_rng(1).normal(size=(4, 10_000, 2)),
    }
    return draws, posterior_report(draws, group_by_chain=True)


def test_moments_and_hpd_intervals(ar1_report):
    draws, table = ar1_report
    assert list(table.index) == ["x", "v[0]", "v[1]"]
    for label, x in [("x", draws["x"]), ("v[0]", draws["v"][..., 0]), ("v[1]", draws["v"][..., 1])]:
        flat = x.ravel()
        np.testing.assert_allclose(table.loc[label, "mean"], flat.mean(), rtol=1e-12)
        np.testing.assert_allclose(table.loc[label, "median"], np.median(flat), rtol=1e-12)
        np.testing.assert_allclose(table.loc[label, "sd"], flat.std(ddof=1), rtol=1e-12)
        lower, upper = shortest_interval(flat, 0.9)
        np.testing.assert_allclose(
            table.loc[label, ["hdi_lower", "hdi_upper"]], [lower, upper], atol=2e-3
        )
        # And the standard normal's 90% HPD interval, ±1.6449.
        np.testing.assert_allclose([lower, upper], [-1.6449, 1.6449], atol=0.06)
    assert table[["mode", "mode_unconstrained"]].isna().all().all()  # no model: no modes
    assert "not computed" in str(table)


def test_inefficiency_and_ess_match_the_ar1_autocorrelation_time(ar1_report):
    _, table = ar1_report
    iat = (1 + RHO) / (1 - RHO)
    np.testing.assert_allclose(table.loc["x", "inefficiency"], iat, rtol=0.1)
    np.testing.assert_allclose(table.loc["x", "ess_bulk"], 40_000 / iat, rtol=0.1)
    np.testing.assert_allclose(table.loc["v[0]", "inefficiency"], 1.0, rtol=0.1)
    # Tail indicators are less autocorrelated than the draws themselves.
    assert 0.8 * 40_000 / iat < table.loc["x", "ess_tail"] < 40_000


def test_split_rhat_is_the_rank_normalised_formula():
    stuck = ar1_chains(2, 4, 2_000) + np.array([[0.0], [0.0], [0.0], [1.0]])
    table = posterior_report({"x": stuck}, group_by_chain=True)
    np.testing.assert_allclose(table.loc["x", "r_hat"], rank_split_rhat(stuck), rtol=1e-10)
    assert table.loc["x", "r_hat"] > 1.05
    # One chain is split into halves first (then split again).
    one = ar1_chains(3, 1, 2_000)
    single = posterior_report({"x": one[0]})
    np.testing.assert_allclose(
        single.loc["x", "r_hat"], rank_split_rhat(one.reshape(2, -1)), rtol=1e-10
    )


def test_geweke_z_matches_the_ar1_spectral_density():
    # Known long-run variance of a unit-variance AR(1): S(0) = (1 + ρ)/(1 − ρ).
    x = ar1_chains(4, 1, 20_000)[0]
    x[:2_000] += 0.15  # a shift of the first window
    long_run = (1 + RHO) / (1 - RHO)
    z_true = (x[:2_000].mean() - x[10_000:].mean()) / np.sqrt(long_run / 2_000 + long_run / 10_000)
    assert z_true > 3
    np.testing.assert_allclose(geweke_z(x), z_true, rtol=0.1)
    # Several chains: means averaged, variances of the means added over chains squared.
    chains = ar1_chains(5, 3, 20_000)
    a, b = chains[:, :2_000].mean(), chains[:, 10_000:].mean()
    z_chains = (a - b) / np.sqrt((long_run / 2_000 + long_run / 10_000) / 3)
    assert abs(geweke_z(chains) - z_chains) < 0.15 * max(1.0, abs(z_chains))
    table = posterior_report({"x": x})
    np.testing.assert_allclose(table.loc["x", "geweke_z"], geweke_z(x), rtol=1e-12)


A, B = 2.0, 1.0
Y_COUNTS = np.random.default_rng(3).poisson(3.0, size=15)


def poisson_gamma_model(y):
    lam = numpyro.sample("lam", dist.Gamma(A, B))
    numpyro.deterministic("twice", 2 * lam)
    numpyro.sample("y", dist.Poisson(lam), obs=y)


def test_modes_in_both_parametrisations_are_the_closed_forms():
    # Posterior λ ~ Gamma(α, β): mode (α − 1)/β in λ; the density of z = log λ has its mode at
    # log(α/β), reported as λ = α/β.
    import arviz

    mcmc = MCMC(NUTS(poisson_gamma_model), num_warmup=300, num_samples=1000, progress_bar=False)
    mcmc.run(jax.random.key(0), jnp.asarray(Y_COUNTS))
    alpha, beta = A + Y_COUNTS.sum(), B + Y_COUNTS.size
    for table in (
        posterior_report(mcmc),
        posterior_report(
            arviz.from_numpyro(mcmc),
            poisson_gamma_model,
            model_args=(jnp.asarray(Y_COUNTS),),
        ),
    ):
        np.testing.assert_allclose(table.loc["lam", "mode"], (alpha - 1) / beta, rtol=1e-6)
        np.testing.assert_allclose(table.loc["lam", "mode_unconstrained"], alpha / beta, rtol=1e-6)
        assert np.isnan(table.loc["twice", "mode"])  # a deterministic site has no mode
        np.testing.assert_allclose(
            table.loc["twice", "mean"], 2 * table.loc["lam", "mean"], rtol=1e-12
        )
        assert "both converged" in str(table)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="hdi_prob must lie in"):
        posterior_report({"x": np.zeros(100)}, hdi_prob=90)
    with pytest.raises(ValueError, match="at least 20 are needed"):
        posterior_report({"x": np.zeros(10)})
    with pytest.raises(ValueError, match="geweke windows"):
        geweke_z(np.zeros(100), first=0.6, last=0.6)


def bernoulli_model(y):
    p = numpyro.sample("p", dist.Uniform(0.0, 1.0))
    numpyro.sample("y", dist.Bernoulli(probs=p), obs=y)


def test_a_mode_on_the_edge_of_the_support_is_reported_as_such():
    # All successes: the posterior of p is Beta(n + 1, 1), increasing up to p = 1 (no interior
    # mode); the density of logit p is p^(n+1) (1 − p), with its mode at p = (n + 1)/(n + 2).
    y = jnp.ones(8)
    mcmc = MCMC(NUTS(bernoulli_model), num_warmup=300, num_samples=1000, progress_bar=False)
    mcmc.run(jax.random.key(1), y)
    table = posterior_report(mcmc)
    np.testing.assert_allclose(table.loc["p", "mode_unconstrained"], 9 / 10, rtol=1e-6)
    assert table.loc["p", "mode"] > 1 - 1e-5
    assert "mode at the edge of the support for p" in str(table)
