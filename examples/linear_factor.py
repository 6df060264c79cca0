"""Semi-parametric linear factor model (the spmlex README example), ML and Bayes.

Y_it = λ_t X*_i + e_it, t = 1..3, λ_1 = 1, e_it ~ N(0, σ_t²), X* with an unknown distribution F
(truth: atoms -3, 0, 5 with probabilities 0.3, 0.5, 0.2). F is estimated non-parametrically on a
grid and profiled out: first by `ProfileMLE` (standard errors from the profile Hessian, which
includes the cost of not knowing F), then in a Bayesian posterior for (λ, log σ) with NUTS on a
NumPyro model whose likelihood is a `ProfiledMixture`.

Run: python examples/linear_factor.py --num-obs 2000 --grid-size 75 --out examples/out
"""

import argparse
import pathlib
import time

import numpy as np

TRUE_COEF = np.array([1.5, 0.3])
TRUE_LOG_SD = np.array([0.0, 0.2, -0.3])
ATOMS, PROBS = np.array([-3.0, 0.0, 5.0]), np.array([0.3, 0.5, 0.2])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-obs", type=int, default=2000)
    parser.add_argument("--grid-size", type=int, default=75, help="grid points on [-6, 6]")
    parser.add_argument("--bayes-obs", type=int, default=500, help="observations used by NUTS")
    parser.add_argument("--bayes-grid-size", type=int, default=25)
    parser.add_argument("--num-warmup", type=int, default=300)
    parser.add_argument("--num-samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("examples/out"))
    parser.add_argument("--no-plots", action="store_true")
    return parser.parse_args(argv)


def simulate(rng, n):
    x = rng.choice(ATOMS, size=n, p=PROBS)
    loadings = np.concatenate([[1.0], TRUE_COEF])
    return x[:, None] * loadings + np.exp(TRUE_LOG_SD) * rng.normal(size=(n, 3))


def bayesian_model(y, grid, predict=False):
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from numpyro_semipar.distributions import ProfiledMixture

    coef = numpyro.sample("coef", dist.Normal(1.0, 2.0).expand([2]))
    log_sd = numpyro.sample("log_sd", dist.Normal(0.0, 1.0).expand([3]))
    loadings = jnp.concatenate([jnp.ones(1), coef])
    components = dist.Normal(grid[:, None] * loadings, jnp.exp(log_sd)).to_event(1)
    mixture = ProfiledMixture(components, data=y)
    numpyro.deterministic("mixing_weights", mixture.mixing_weights)
    numpyro.sample("y", mixture, obs=None if predict else y)


def main(argv=None):
    args = parse_args(argv)
    import arviz as az
    import jax
    import jax.numpy as jnp
    import numpyro
    from numpyro.infer import MCMC, NUTS

    from numpyro_semipar.frequentist import ProfileMLE

    rng = np.random.default_rng(args.seed)
    y = simulate(rng, args.num_obs)
    grid = np.linspace(-6.0, 6.0, args.grid_size)
    from numpyro_semipar.models import LinearFactor

    print(f"ProfileMLE: n = {args.num_obs}, {args.grid_size}-point grid on [-6, 6]")
    start = time.perf_counter()
    result = ProfileMLE(grid).fit(LinearFactor(jnp.ones(2), jnp.zeros(3)), y)
    print(f"(fit in {time.perf_counter() - start:.2f} s including compilation)")
    print(result.summary())
    print(f"truth: coef = {TRUE_COEF}, log_sd = {TRUE_LOG_SD}")
    naive = np.sqrt(np.diag(np.linalg.inv(-result.hessian_known_mixing)))
    print("SE ratio profile / F-known:", np.round(result.flat_std_errors / naive, 3))
    mixing = result.mixing
    atoms = mixing.weights > 0.005
    print("estimated F (points with weight > 0.005):")
    for point, weight in zip(mixing.support[atoms], mixing.weights[atoms], strict=True):
        print(f"  {point:6.2f}  {weight:.3f}")

    if not args.no_plots:
        import matplotlib.pyplot as plt

        args.out.mkdir(parents=True, exist_ok=True)
        ax = result.plot_cdf(true_support=ATOMS, true_weights=PROBS)
        ax.set_title("Linear factor model: estimated and true F")
        ax.figure.savefig(args.out / "linear_factor_cdf.png", dpi=100)
        plt.close(ax.figure)
        print(f"CDF plot written to {args.out / 'linear_factor_cdf.png'}")

    nb = min(args.bayes_obs, args.num_obs)
    bayes_grid = jnp.linspace(-6.0, 6.0, args.bayes_grid_size)
    print(f"\nNUTS with F profiled out: n = {nb}, {args.bayes_grid_size}-point grid")
    mcmc = MCMC(
        NUTS(bayesian_model),
        num_warmup=args.num_warmup,
        num_samples=args.num_samples,
        progress_bar=False,
    )
    start = time.perf_counter()
    mcmc.run(jax.random.key(args.seed), jnp.asarray(y[:nb]), bayes_grid)
    print(f"(sampled in {time.perf_counter() - start:.1f} s)")
    # arviz's dimension inference reads numpyro.infer.initialization as an attribute, which is
    # missing in some import orders (seen under pytest); bind it explicitly.
    import numpyro.infer.initialization as initialization

    numpyro.infer.initialization = initialization
    tree = az.from_numpyro(mcmc, log_likelihood=True, dims={"mixing_weights": ["grid"]})
    print(az.summary(tree, var_names=["coef", "log_sd"]))
    if not args.no_plots:
        pc = az.plot_trace_dist(tree, var_names=["coef", "log_sd"])
        pc.savefig(args.out / "linear_factor_trace.png")
        print(f"trace plot written to {args.out / 'linear_factor_trace.png'}")
    return result, mcmc


if __name__ == "__main__":
    import numpyro

    numpyro.enable_x64()
    main()
