"""Maximum likelihood for NumPyro regression models, checked against statsmodels.

Run: python examples/regression.py --num-obs 500 --seed 0 --out examples/out
"""

import argparse
import pathlib

import numpy as np


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-obs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("examples/out"))
    parser.add_argument("--no-plots", action="store_true")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    import statsmodels.api as sm

    from numpyro_semipar.frequentist import MaximumLikelihood

    def linear(x, y=None):
        beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([x.shape[1]]))
        sigma = numpyro.sample("sigma", dist.HalfNormal(5.0))
        with numpyro.plate("obs", x.shape[0]):
            numpyro.sample("y", dist.Normal(x @ beta, sigma), obs=y)

    def poisson(x, y=None):
        beta = numpyro.sample("beta", dist.Normal(0.0, 5.0).expand([x.shape[1]]))
        with numpyro.plate("obs", x.shape[0]):
            numpyro.sample("y", dist.Poisson(jnp.exp(x @ beta)), obs=y)

    rng = np.random.default_rng(args.seed)
    n = args.num_obs
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.uniform(-1, 1, size=n)])
    y = x @ np.array([1.0, -0.5, 2.0]) + (0.5 + np.abs(x[:, 2])) * rng.normal(size=n)

    print("Gaussian linear regression, robust (sandwich) covariance")
    result = MaximumLikelihood(linear, cov_type="sandwich").fit(x, y)
    print(result.summary())
    ols = sm.OLS(y, x).fit(cov_type="HC0")
    gap = np.max(np.abs(result.params["beta"] - ols.params))
    se_gap = np.max(np.abs(result.std_errors["beta"] / ols.bse - 1))
    print(f"max |beta - OLS| = {gap:.2e}; max relative SE gap to HC0 = {se_gap:.2e}\n")

    counts = rng.poisson(np.exp(x @ np.array([0.5, 0.3, -0.7]))).astype(float)
    print("Poisson regression, observed-information covariance")
    pois = MaximumLikelihood(poisson).fit(x, counts)
    print(pois.summary())
    glm = sm.GLM(counts, x, family=sm.families.Poisson()).fit(tol=1e-12)
    print(f"max |beta - GLM| = {np.max(np.abs(pois.params['beta'] - glm.params)):.2e}")

    if not args.no_plots:
        import arviz as az

        args.out.mkdir(parents=True, exist_ok=True)
        pc = az.plot_forest(result.to_arviz(), combined=True)
        pc.savefig(args.out / "regression_forest.png")
        print(f"forest plot written to {args.out / 'regression_forest.png'}")
    return result


if __name__ == "__main__":
    import numpyro

    numpyro.enable_x64()
    main()
