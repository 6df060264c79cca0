"""The `make demo` showcase: all four capabilities of numpyro_semipar, then a summary.

1. Semi-parametric profile MLE: the linear factor model of the spmlex README, its mixing
   distribution F profiled out by mixSQP (``ProfileMLE``); figure: estimated and true CDF of F.
2. Simulated method of moments: mean and scale of a skewed distribution from three simulated
   moments with common random numbers, two-step optimal weighting and a J-test (``SMM``);
   figure: estimates with 95% intervals against the truth.
3. Grouped panel with interactive fixed effects (Su & Ju 2018, ``SuJu``): latent groups of
   slopes and two common factors; figure: the estimated group slopes (an ArviZ forest).
4. Gradient-free MCMC and a surrogate: adaptive random-walk MH (``RandomWalkMH``, a NumPyro
   kernel) on an AR(1) likelihood written as a loop, every evaluated proposal recycled to train
   a neural surrogate of the log posterior (``train_surrogate``); figures: the chains' traces
   and the surrogate against the exact log density on held-out proposals.

Each section prints its key numbers; the end repeats them with the files written. Every
figure is also what the documentation shows (``docs/conf.py`` runs ``--quick``). JAX's x64
stays as NumPyro sets it (off) unless ``--x64`` is given: the estimators switch float64 on
around their own work, the MCMC kernels run in float32.

The examples in ``examples/`` go further on each topic (``--help`` on each).
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import time

import numpy as np

HERE = pathlib.Path(__file__).parent


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="demo.py",
        description=__doc__.split("\n\n")[0],
        epilog="Sections: " + ", ".join(SECTIONS) + ". Example: python examples/demo.py --quick",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller problems (about a minute; used by the docs)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=SECTIONS, default=None, help="run only these sections"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every simulation and chain")
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=pathlib.Path("examples/out/demo"),
        help="folder for the figures (default: examples/out/demo)",
    )
    parser.add_argument("--no-plots", action="store_true", help="write no figures")
    parser.add_argument(
        "--x64", action="store_true", help="call numpyro.enable_x64() first (default: off)"
    )
    return parser.parse_args(argv)


def _load_example(script: str):
    spec = importlib.util.spec_from_file_location(script.removesuffix(".py"), HERE / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _save(fig, path: pathlib.Path, written: list[pathlib.Path]) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    written.append(path)


def profile_mle(args, written):
    """Section 1: ProfileMLE on the linear factor model, F on a grid profiled out."""
    import jax.numpy as jnp

    from numpyro_semipar.frequentist import ProfileMLE
    from numpyro_semipar.models import LinearFactor

    example = _load_example("linear_factor.py")
    n, m = (500, 40) if args.quick else (2000, 75)
    y = example.simulate(np.random.default_rng(args.seed), n)
    grid = np.linspace(-6.0, 6.0, m)
    result = ProfileMLE(grid).fit(LinearFactor(jnp.ones(2), jnp.zeros(3)), y)
    print(result.summary())
    mixing = result.mixing
    atoms = mixing.support[mixing.weights > 0.01]
    key = {
        "n, grid points": f"{n}, {m}",
        "loadings (truth 1.5, 0.3)": ", ".join(
            f"{c:.3f} ± {s:.3f}"
            for c, s in zip(
                np.ravel(result.params["coef"]), result.flat_std_errors[:2], strict=True
            )
        ),
        "F's points with weight > 1% (truth -3, 0, 5)": np.array2string(atoms, precision=2),
    }
    if not args.no_plots:
        ax = result.plot_cdf(true_support=example.ATOMS, true_weights=example.PROBS)
        ax.set_title("Profile MLE: estimated and true mixing CDF")
        _save(ax.figure, args.out / "demo_mixing_cdf.png", written)
    return key


def smm(args, written):
    """Section 2: SMM with common random numbers, optimal weighting and a J-test."""
    import jax
    import jax.numpy as jnp
    import matplotlib.pyplot as plt

    from numpyro_semipar.frequentist import SMM
    from numpyro_semipar.moments import common_random_numbers

    truth = {"mu": 1.0, "sigma": 2.0}
    n, s = (500, 20) if args.quick else (2000, 50)

    def simulate(params, u):
        # A skewed shock (a centred chi-square with 3 degrees of freedom, variance 1).
        shock = (jax.scipy.special.ndtri(u) ** 2).sum(-1)
        return params["mu"] + params["sigma"] * (shock - 3.0) / jnp.sqrt(6.0)

    def moments(x):
        centred = x - x.mean()
        return jnp.stack([x.mean(), (centred**2).mean(), (centred**3).mean() / 10.0])

    key_data, key_draws = jax.random.split(jax.random.key(args.seed))
    data = simulate(truth, jax.random.uniform(key_data, (n, 3)))
    draws = common_random_numbers(key_draws, s, (n, 3))
    estimator = SMM(simulate, moments, draws, moment_names=["mean", "variance", "skew/10"])
    result = estimator.fit(
        data,
        {"mu": 0.0, "sigma": 1.0},
        weighting="optimal",
        bounds={"sigma": (1e-3, 10.0)},
    )
    print(result.summary())
    print(f"J-test: {result.j_test}")
    names = ["mu", "sigma"]
    est = np.array([float(result.params[k]) for k in names])
    se = np.asarray(result.flat_std_errors)
    key = {
        "n, simulations": f"{n}, {s}",
        "mu, sigma (truth 1, 2)": ", ".join(
            f"{e:.3f} ± {v:.3f}" for e, v in zip(est, se, strict=True)
        ),
        "J-test p-value (3 moments, 2 parameters)": f"{result.j_test.pvalue:.3f}",
    }
    if not args.no_plots:
        fig, ax = plt.subplots(figsize=(5, 2.5))
        ax.errorbar(est, [1, 0], xerr=1.96 * se, fmt="o", capsize=4, label="SMM, 95% interval")
        ax.plot([truth[k] for k in names], [1, 0], "x", color="k", ms=9, label="truth")
        ax.set(yticks=[1, 0], yticklabels=names, title="SMM estimates (optimal weighting)")
        ax.legend(fontsize=8)
        _save(fig, args.out / "demo_smm_estimates.png", written)
    return key


def panel(args, written):
    """Section 3: Su-Ju grouped slopes with interactive fixed effects."""
    import arviz as az
    import jax

    from numpyro_semipar.frequentist import SuJu

    example = _load_example("grouped_panel.py")
    n, t = (60, 15) if args.quick else (120, 30)
    y, x, groups = example.simulate(n, t, args.seed)
    result = SuJu(3, 2, c=0.5).fit(y, x, rng_key=jax.random.key(args.seed))
    print(result.group_summary)
    # Group labels are arbitrary: score the classification under the best relabelling.
    order = [int(np.argmin(np.abs(example.ALPHA[:, 0] - g[0]))) for g in result.group_coefficients]
    correct = float(np.mean(np.asarray(order)[result.groups] == groups))
    rmse = float(np.sqrt(np.mean((result.group_coefficients - example.ALPHA[order]) ** 2)))
    key = {
        "N units, T periods": f"{n}, {t}",
        "groups, factors": f"{result.num_groups}, {result.num_factors}",
        "correct classification": f"{correct:.3f}",
        "RMSE of group slopes": f"{rmse:.4f}",
    }
    if not args.no_plots:
        pc = az.plot_forest(result.to_arviz(), combined=True)
        pc.savefig(args.out / "demo_panel_groups.png")
        written.append(args.out / "demo_panel_groups.png")
    return key


def ar1_model(y):
    """AR(1) likelihood written as a sequential loop (the shape of a Kalman filter)."""
    import jax
    import numpyro
    import numpyro.distributions as dist

    rho = numpyro.sample("rho", dist.Uniform(-1.0, 1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))

    def step(total, pair):
        previous, current = pair
        return total + dist.Normal(rho * previous, sigma).log_prob(current), None

    total, _ = jax.lax.scan(step, 0.0, (y[:-1], y[1:]))
    numpyro.factor("loglik", total)


def mcmc_and_surrogate(args, written):
    """Section 4: RandomWalkMH on an AR(1) posterior; a surrogate trained on its proposals."""
    import arviz as az
    import jax
    import jax.numpy as jnp
    import matplotlib.pyplot as plt
    import numpyro
    from numpyro.infer import MCMC

    from numpyro_semipar.mcmc import RandomWalkMH, train_surrogate

    rng = np.random.default_rng(args.seed)
    y = np.zeros(200)
    for t in range(1, 200):
        y[t] = 0.7 * y[t - 1] + 0.5 * rng.normal()
    warmup, samples = (500, 1000) if args.quick else (1500, 3000)
    mcmc = MCMC(
        RandomWalkMH(ar1_model, init_at_mode=True),
        num_warmup=warmup,
        num_samples=samples,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(
        jax.random.key(args.seed),
        jnp.asarray(y),
        extra_fields=("info.proposal", "info.proposal_logdensity"),
    )
    posterior = mcmc.get_samples()
    # arviz reads numpyro.infer.initialization as an attribute (missing in some import orders).
    import numpyro.infer.initialization as initialization

    numpyro.infer.initialization = initialization
    tree = az.from_numpyro(mcmc)
    summary = az.summary(tree, kind="all")
    print(summary)
    rate = float(tree["sample_stats"]["acceptance_rate"].mean())

    # Every evaluated proposal (unconstrained position and exact log density) is training data.
    fields = mcmc.get_extra_fields()
    proposals = fields["info.proposal"]  # a dict of sites, on the unconstrained scale
    positions = np.stack([np.ravel(proposals[k]) for k in sorted(proposals)], axis=-1)
    log_densities = np.asarray(fields["info.proposal_logdensity"]).reshape(-1)
    keep = np.isfinite(log_densities)
    positions, log_densities = positions[keep], log_densities[keep]
    heldout = rng.random(len(log_densities)) < 0.1
    surrogate = train_surrogate(
        positions[~heldout],
        log_densities[~heldout],
        rng_key=jax.random.key(args.seed + 1),
        hidden_sizes=(32, 32),
        num_epochs=20 if args.quick else 60,
        progress_bar=False,
    )
    predicted = np.asarray(surrogate(jnp.asarray(positions[heldout])))
    exact = log_densities[heldout]
    # Compare where the chain goes: the top 80% of held-out points by exact log density.
    bulk = exact >= np.quantile(exact, 0.2)
    rmse = float(np.sqrt(np.mean((predicted[bulk] - exact[bulk]) ** 2)))
    key = {
        "draws (chains x samples)": f"2 x {samples}",
        "posterior mean rho, sigma (truth 0.7, 0.5)": (
            f"{float(posterior['rho'].mean()):.3f}, {float(posterior['sigma'].mean()):.3f}"
        ),
        "R-hat max, ESS min": (
            f"{float(summary['r_hat'].max()):.3f}, {float(summary['ess_bulk'].min()):.0f}"
        ),
        "acceptance rate": f"{rate:.3f}",
        "surrogate: training points, held-out RMSE (bulk)": (
            f"{int((~heldout).sum())}, {rmse:.3f} nats"
        ),
    }
    if not args.no_plots:
        pc = az.plot_trace_dist(tree, var_names=["rho", "sigma"])
        pc.savefig(args.out / "demo_mcmc_trace.png")
        written.append(args.out / "demo_mcmc_trace.png")
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot(exact, predicted, ".", ms=3, alpha=0.6)
        lims = [float(np.quantile(exact, 0.01)), float(exact.max())]
        ax.plot(lims, lims, "k--", lw=1, label="surrogate = exact")
        ax.set(
            xlim=lims,
            ylim=lims,
            xlabel="exact log posterior",
            ylabel="surrogate",
            title="MLP surrogate on held-out proposals",
        )
        ax.legend(fontsize=8)
        _save(fig, args.out / "demo_surrogate_fit.png", written)
    return key


SECTIONS = {
    "profile-mle": ("1. NPMLE / profile MLE (ProfileMLE, mixSQP)", profile_mle),
    "smm": ("2. Simulated method of moments (SMM)", smm),
    "panel": ("3. Grouped panel with interactive effects (SuJu)", panel),
    "mcmc": (
        "4. Gradient-free MCMC and a surrogate (RandomWalkMH, train_surrogate)",
        mcmc_and_surrogate,
    ),
}


def main(argv=None):
    args = parse_args(argv)
    if args.x64:
        import numpyro

        numpyro.enable_x64()
    if not args.no_plots:
        import matplotlib

        matplotlib.use("Agg")
        args.out.mkdir(parents=True, exist_ok=True)
    written: list[pathlib.Path] = []
    report = {}
    for name, (title, section) in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        print(f"\n{'#' * 78}\n# {title}\n{'#' * 78}")
        start = time.perf_counter()
        report[title] = section(args, written)
        report[title]["seconds"] = f"{time.perf_counter() - start:.1f}"
    print(f"\n{'=' * 78}\nWhat the demo showed\n{'=' * 78}")
    for title, key in report.items():
        print(title)
        for label, value in key.items():
            print(f"    {label}: {value}")
    print("Files written:" if written else "Files written: none (--no-plots)")
    for path in written:
        print(f"    {path}")
    return report


if __name__ == "__main__":
    main()
