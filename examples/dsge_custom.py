"""A user's own DSGE through the general interface: hybrid NK with cost-push and demand shocks.

The model is not built into the package: it is written here as its canonical-form matrices and
observation equation (``numpyro_semipar.models.dsge.LinearREModel``), then estimated on US data
(1984Q1–2007Q4, the last quarter's output growth treated as not yet released) by the posterior
mode and adaptive random-walk MH, and analysed like in Dynare: impulse responses with posterior
bands, forecast-error variance decomposition, smoothed shocks, historical shock decomposition
and forecasts from the ragged edge.

Run: python examples/dsge_custom.py --out examples/out         (full settings, a few minutes)
     python examples/dsge_custom.py --quick --out /tmp/custom  (smoke test)
"""

import argparse
import pathlib
import time

import numpy as np

SAMPLE = ("1984Q1", "2007Q4")
PARAM_NAMES = (
    "tau",
    "kappa",
    "iota",
    "psi1",
    "psi2",
    "rho_R",
    "rho_d",
    "rho_mu",
    "sigma_d",
    "sigma_mu",
    "sigma_R",
    "gamma_Q",
    "pi_A",
    "r_A",
)
#: A determinate start inside the posterior's bulk (BFGS refines it).
START = dict(tau=2.0, kappa=0.1, iota=0.3, psi1=1.8, psi2=0.3, rho_R=0.8, rho_d=0.8)
START |= dict(rho_mu=0.5, sigma_d=0.5, sigma_mu=0.2, sigma_R=0.2, gamma_Q=0.5, pi_A=3.0, r_A=1.0)
SHOCKS = ("demand", "cost-push", "policy")
OBSERVABLES = ("output growth", "inflation", "interest rate")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: shorter sample, Laplace draws at the mode instead of MH",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("examples/out"))
    parser.add_argument("--no-plots", action="store_true")
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- the user's model
def system_matrices(theta):
    r"""Canonical form ``A E x' + B x + C x₋₁ + E u = 0`` for ``x = (y, π, R)``.

    IS curve      y_t = E y_{t+1} − (R_t − E π_{t+1})/τ + d_t
    Phillips      π_t = β/(1+βι) E π_{t+1} + ι/(1+βι) π_{t−1} + κ y_t + μ_t
    Taylor rule   R_t = ρ_R R_{t−1} + (1−ρ_R)(ψ1 π_t + ψ2 y_t) + ε_{R,t}

    with ``u = (d, μ, ε_R)``, ``Φ = diag(ρ_d, ρ_μ, 0)``: demand and cost-push shocks are AR(1),
    the policy shock is white noise. Indexation ``ι`` puts lagged inflation in ``C``.
    """
    import jax.numpy as jnp

    tau, kappa, iota = theta["tau"], theta["kappa"], theta["iota"]
    psi1, psi2, rho_r = theta["psi1"], theta["psi2"], theta["rho_R"]
    beta = 1.0 / (1.0 + theta["r_A"] / 400.0)
    forward, backward = beta / (1.0 + beta * iota), iota / (1.0 + beta * iota)
    zero, one = jnp.zeros_like(tau), jnp.ones_like(tau)
    A = jnp.stack(
        [
            jnp.stack([-one, -1.0 / tau, zero]),
            jnp.stack([zero, -forward, zero]),
            jnp.stack([zero, zero, zero]),
        ]
    )
    B = jnp.stack(
        [
            jnp.stack([one, zero, 1.0 / tau]),
            jnp.stack([-kappa, one, zero]),
            jnp.stack([-(1 - rho_r) * psi2, -(1 - rho_r) * psi1, one]),
        ]
    )
    C = jnp.stack(
        [
            jnp.stack([zero, zero, zero]),
            jnp.stack([zero, -backward, zero]),
            jnp.stack([zero, zero, -rho_r]),
        ]
    )
    E = -jnp.eye(3) * one
    Phi = jnp.diag(jnp.stack([theta["rho_d"], theta["rho_mu"], zero]))
    return A, B, C, E, Phi


def observation(theta):
    """Growth ``γ + y_t − y_{t−1}``, inflation ``π^A + 4π_t``, rate ``π^A + r^A + 4γ + 4R_t``.

    The state is ``(y, π, R, d, μ, ε_R, y₋₁)`` (``lagged=(0,)`` adds ``y₋₁``).
    """
    import jax.numpy as jnp

    Z = jnp.zeros((3, 7))
    Z = Z.at[0, 0].set(1.0).at[0, 6].set(-1.0).at[1, 1].set(4.0).at[2, 2].set(4.0)
    gq, pa, ra = theta["gamma_Q"], theta["pi_A"], theta["r_A"]
    return jnp.stack([gq, pa, pa + ra + 4.0 * gq]), Z


def shock_cov(theta):
    """Independent innovations with standard deviations ``σ_d, σ_μ, σ_R``."""
    import jax.numpy as jnp

    sd = jnp.stack([theta["sigma_d"], theta["sigma_mu"], theta["sigma_R"]])
    return jnp.diag(sd**2)


def build_model():
    """The user's model through the package's general interface."""
    from numpyro_semipar.models import dsge

    return dsge.LinearREModel(
        system_matrices,
        observation,
        shock_cov,
        lagged=(0,),
        variable_names=("y", "pi", "R"),
        exogenous_names=("d", "mu", "eps_R"),
        observable_names=OBSERVABLES,
    )


def priors():
    """Priors in the style of Herbst & Schorfheide (2016), ch. 2."""
    import numpyro.distributions as dist
    from numpyro.distributions import transforms

    def gamma(mean, sd):
        return dist.Gamma((mean / sd) ** 2, mean / sd**2)

    def inverse_gamma(s, nu=4.0):  # p(σ) ∝ σ^{−ν−1} exp(−ν s²/2σ²)
        return dist.TransformedDistribution(
            dist.InverseGamma(nu / 2.0, nu * s**2 / 2.0), transforms.PowerTransform(0.5)
        )

    return {
        "tau": gamma(2.0, 0.5),
        "kappa": gamma(0.2, 0.1),
        "iota": dist.Beta(2.0, 2.0),
        "psi1": gamma(1.5, 0.25),
        "psi2": gamma(0.5, 0.25),
        "rho_R": dist.Beta(4.0, 2.0),
        "rho_d": dist.Beta(4.0, 2.0),
        "rho_mu": dist.Beta(2.0, 2.0),
        "sigma_d": inverse_gamma(0.5),
        "sigma_mu": inverse_gamma(0.2),
        "sigma_R": inverse_gamma(0.2),
        "gamma_Q": dist.Normal(0.4, 0.2),
        "pi_A": gamma(4.0, 2.0),
        "r_A": gamma(1.0, 0.5),
    }


# ------------------------------------------------------------------------------- estimation
def estimate(model, y, args):
    """Posterior mode (BFGS in the unconstrained space), then random-walk MH started there."""
    import jax
    import jax.flatten_util
    import jax.numpy as jnp
    from numpyro.distributions.transforms import biject_to
    from numpyro.infer import MCMC, init_to_value
    from numpyro.infer.util import constrain_fn, potential_energy

    from numpyro_semipar.frequentist import find_mode
    from numpyro_semipar.mcmc import RandomWalkMH

    prior = priors()
    numpyro_model = model.numpyro_model(prior)
    # The unconstrained log posterior by hand from the priors' supports (NumPyro's
    # initialize_model would run the model eagerly to check the start, which costs more here).
    to_constrained = {n: biject_to(p.support) for n, p in prior.items()}
    z0 = {n: to_constrained[n].inv(jnp.asarray(START[n])) for n in PARAM_NAMES}
    logdensity = jax.jit(lambda z: -potential_energy(numpyro_model, (y,), {}, z))

    def constrained(z):
        return constrain_fn(numpyro_model, (y,), {}, z, return_deterministic=True)

    mode = find_mode(
        logdensity,
        z0,
        rtol=1e-8,
        atol=1e-8,
        max_steps=500,
        hessian="finite-difference",
        optimizer="scipy",
        warn=False,
    )
    at_mode = constrained(mode.position)
    print(f"posterior mode (unconstrained density): converged={bool(mode.converged)}")
    print("  " + ", ".join(f"{n}={float(at_mode[n]):.3f}" for n in PARAM_NAMES))

    covariance = np.asarray(mode.covariance)
    if args.quick:
        # Smoke test: Laplace draws (normal at the mode in the unconstrained space, mapped back)
        # stand in for the posterior, which saves compiling and running the sampler.
        flat, unravel = jax.flatten_util.ravel_pytree(mode.position)
        rng = np.random.default_rng(args.seed)
        z = rng.multivariate_normal(np.asarray(flat), covariance, size=200)
        draws = jax.jit(jax.vmap(lambda v: constrained(unravel(v))))(jnp.asarray(z))
        return {k: np.asarray(v) for k, v in draws.items()}, "Laplace approximation at the mode"
    kernel = RandomWalkMH(
        numpyro_model,
        covariance=covariance,
        init_strategy=init_to_value(values={n: jnp.asarray(at_mode[n]) for n in PARAM_NAMES}),
    )
    mcmc = MCMC(kernel, num_warmup=3000, num_samples=10000, progress_bar=False)
    mcmc.run(jax.random.key(args.seed), y)
    draws = {k: np.asarray(v) for k, v in mcmc.get_samples().items()}
    return draws, "random-walk MH from the mode (3,000 warm-up, 10,000 draws)"


def posterior_table(draws):
    """Mean, sd and the 90% equal-tailed interval per parameter."""
    import pandas as pd

    rows = {
        n: {
            "mean": draws[n].mean(),
            "sd": draws[n].std(),
            "5%": np.quantile(draws[n], 0.05),
            "95%": np.quantile(draws[n], 0.95),
        }
        for n in PARAM_NAMES
    }
    return pd.DataFrame(rows).T


# ---------------------------------------------------------------------------------- outputs
def main(argv=None):
    args = parse_args(argv)
    import jax
    import jax.numpy as jnp
    import numpyro

    from numpyro_semipar.models import dsge

    numpyro.enable_x64()
    started = time.perf_counter()
    y, dates = dsge.load_us_data(*(("1996Q1", SAMPLE[1]) if args.quick else SAMPLE))
    y = y.copy()
    y[-1, 0] = np.nan  # ragged edge: the last quarter's GDP is not released yet
    model = build_model()

    samples, method = estimate(model, jnp.asarray(y), args)
    status = samples.pop("solver_status")
    print(
        f"posterior draws: {method}; {len(status)} draws, determinate: {np.mean(status == 0):.0%}"
    )
    samples = {n: v[status == 0] for n, v in samples.items()}
    table = posterior_table(samples)
    print(table.round(3).to_string())
    theta = {n: float(samples[n].mean()) for n in PARAM_NAMES}

    horizon = 20
    thin = max(1, len(samples["tau"]) // 200)
    thinned = {n: samples[n][::thin] for n in PARAM_NAMES}
    bands, _ = model.impulse_response_bands(thinned, horizon, probs=(0.05, 0.5, 0.95))
    horizons = (1, 4, 8, 40)
    fevd = np.asarray(model.variance_decomposition(theta, horizons))
    print("forecast-error variance shares at the posterior mean (rows: observable, horizon):")
    for o, name in enumerate(OBSERVABLES):
        for i, h in enumerate(horizons):
            shares = ", ".join(f"{s}={fevd[i, o, j]:.2f}" for j, s in enumerate(SHOCKS))
            print(f"  {name:>14} h={h:>2}: {shares}")
    smoothed = model.smooth(theta, y)
    history = model.historical_decomposition(theta, y)
    fc = model.forecast(theta, y, 8)
    # Posterior predictive bands: parameter and shock uncertainty together.
    fc_bands = model.forecast_bands(jax.random.key(args.seed + 1), thinned, y, 8)
    # Output growth is γ + y_t − y_{t−1}: the smoothed state gives the unreleased quarter.
    nowcast = smoothed.state_mean[-1, 0] - smoothed.state_mean[-1, 6] + theta["gamma_Q"]
    print(f"nowcast of {dates[-1]} output growth (not in the data): {float(nowcast):.2f}")
    print("forecast of inflation, next 4 quarters:", np.round(np.asarray(fc.mean[:4, 1]), 2))
    print(f"total time {time.perf_counter() - started:.1f} s")

    if not args.no_plots:
        args.out.mkdir(parents=True, exist_ok=True)
        plot_all(args.out, bands, fevd, horizons, smoothed, history, fc_bands, y, dates)
    return {"table": table, "fevd": fevd, "bands": bands, "smoothed": smoothed}


def plot_all(out, bands, fevd, horizons, smoothed, history, fc_bands, y, dates):
    """Impulse responses with bands, variance shares, smoothed shocks, decomposition, forecast."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    quarters = np.arange(bands.shape[1])
    fig, axes = plt.subplots(3, 3, figsize=(10, 8), sharex=True)
    for j, shock in enumerate(SHOCKS):
        for o, name in enumerate(OBSERVABLES):
            ax = axes[o, j]
            ax.fill_between(quarters, bands[0, :, j, o], bands[2, :, j, o], alpha=0.3)
            ax.plot(quarters, bands[1, :, j, o])
            ax.axhline(0.0, color="k", lw=0.5)
            ax.set_title(f"{name} ← {shock}", fontsize=9)
    fig.suptitle("Impulse responses to one-sd shocks (median, 90% posterior band)")
    fig.tight_layout()
    fig.savefig(out / "dsge_custom_irf.png")

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.5), sharey=True)
    for o, name in enumerate(OBSERVABLES):
        bottom = np.zeros(len(horizons))
        for j, shock in enumerate(SHOCKS):
            axes[o].bar([str(h) for h in horizons], fevd[:, o, j], bottom=bottom, label=shock)
            bottom += fevd[:, o, j]
        axes[o].set_title(name)
        axes[o].set_xlabel("horizon (quarters)")
    axes[0].legend()
    fig.suptitle("Forecast-error variance decomposition (posterior mean parameters)")
    fig.tight_layout()
    fig.savefig(out / "dsge_custom_fevd.png")

    t = np.arange(len(dates))
    ticks = t[:: max(1, len(t) // 6)]
    fig, axes = plt.subplots(3, 1, figsize=(9, 6), sharex=True)
    for j, shock in enumerate(SHOCKS):
        axes[j].plot(t, np.asarray(smoothed.shocks[:, j]))
        axes[j].axhline(0.0, color="k", lw=0.5)
        axes[j].set_ylabel(shock)
    axes[-1].set_xticks(ticks, [dates[i] for i in ticks])
    fig.suptitle("Smoothed structural shocks")
    fig.tight_layout()
    fig.savefig(out / "dsge_custom_shocks.png")

    fig, ax = plt.subplots(figsize=(9, 4))
    o = 1  # inflation
    parts = np.asarray(history.shocks[:, :, o])
    positive, negative = np.zeros(len(t)), np.zeros(len(t))
    components = [(shock, parts[:, j]) for j, shock in enumerate(SHOCKS)]
    components.append(("initial state", np.asarray(history.initial_state[:, o])))
    for label, value in components:  # positive parts stack up, negative parts down
        base = np.where(value >= 0, positive, negative)
        ax.bar(t, value, bottom=base, label=label, width=1.0)
        positive += np.clip(value, 0, None)
        negative += np.clip(value, None, 0)
    ax.plot(t, y[:, o] - float(history.constant[o]), "k", label="data − mean")
    ax.set_xticks(ticks, [dates[i] for i in ticks])
    ax.legend(fontsize=8)
    ax.set_title("Historical decomposition of inflation (deviation from its mean)")
    fig.tight_layout()
    fig.savefig(out / "dsge_custom_historical.png")

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.5))
    ahead = np.arange(len(t), len(t) + fc_bands.shape[1])
    for o, name in enumerate(OBSERVABLES):
        axes[o].plot(t[-16:], y[-16:, o], "k")
        axes[o].plot(ahead, fc_bands[1, :, o])
        axes[o].fill_between(ahead, fc_bands[0, :, o], fc_bands[2, :, o], alpha=0.3)
        axes[o].set_title(name)
    fig.suptitle("Forecasts: posterior predictive median and 90% band")
    fig.tight_layout()
    fig.savefig(out / "dsge_custom_forecast.png")
    plt.close("all")


if __name__ == "__main__":
    main()
