"""Latent grouped slopes with interactive fixed effects: Bai IFE, C-Lasso and Su-Ju.

Simulates the Su-Shi-Phillips three-group design with two common factors that also drive the
regressors, then fits (1) Bai's homogeneous-slope interactive-effects estimator, (2) C-Lasso with
unit fixed effects (which ignores the factors), and (3) Su-Ju with the number of groups, the
number of factors and the tuning constant chosen by information criteria.

Run: python examples/grouped_panel.py --num-units 200 --num-periods 50 --seed 0 --out examples/out
"""

import argparse
import pathlib

import numpy as np

ALPHA = np.array([[0.4, 1.6], [1.0, 1.0], [1.6, 0.4]])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-units", type=int, default=200)
    parser.add_argument("--num-periods", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("examples/out"))
    parser.add_argument("--no-plots", action="store_true")
    return parser.parse_args(argv)


def simulate(n, t, seed):
    rng = np.random.default_rng(seed)
    share = int(0.3 * n)
    groups = np.r_[np.zeros(share, int), np.ones(share, int), np.full(n - 2 * share, 2)]
    loadings = rng.normal(size=(n, 2))
    factors = rng.normal(size=(t, 2))
    common = loadings @ factors.T
    x = rng.normal(size=(n, t, 2))
    x += 0.5 * np.stack([common, loadings[:, :1] * factors[:, 1][None, :]], axis=-1)
    y = np.einsum("itp,ip->it", x, ALPHA[groups]) + common + rng.normal(size=(n, t))
    return y, x, groups


def main(argv=None):
    args = parse_args(argv)
    import jax

    from numpyro_semipar.frequentist import CLasso, InteractiveEffects, SuJu

    y, x, groups = simulate(args.num_units, args.num_periods, args.seed)
    key = jax.random.key(args.seed)
    small = args.num_units < 100  # tiny test settings: fixed numbers instead of a search

    print("Bai (2009), homogeneous slopes (misspecified here: slopes differ by group)")
    bai = InteractiveEffects(2 if small else "ic", max_factors=3).fit(y, x, rng_key=key)
    print(bai.summary(), f"\nfactors chosen by Bai-Ng IC1: {bai.num_factors}\n")

    print("C-Lasso with unit fixed effects only (ignores the factors)")
    classo = CLasso(3, c=0.5).fit(y, x, rng_key=key)
    print(classo.group_summary, "\n")

    print("Su-Ju: groups, factors and lambda chosen by information criteria (fixed when tiny)")
    if small:
        suju = SuJu(3, 2, c=0.5).fit(y, x, rng_key=key)
    else:
        suju = SuJu("ic", "ic", max_groups=4, max_factors=3).fit(y, x, rng_key=key)
    print(suju.summary())
    print(suju.group_summary)
    print(f"groups: {suju.num_groups}, factors: {suju.num_factors}, c = {suju.c:.3g}")
    for name, res in [("C-Lasso", classo), ("Su-Ju", suju)]:
        if res.num_groups == 3:
            rate = np.mean(res.groups == groups)
            rmse = np.sqrt(np.mean((res.group_coefficients - ALPHA) ** 2))
            print(f"{name:8s} correct classification {rate:.3f}, RMSE {rmse:.4f}")

    if not args.no_plots:
        import arviz as az

        args.out.mkdir(parents=True, exist_ok=True)
        pc = az.plot_forest(suju.to_arviz(), combined=True)
        pc.savefig(args.out / "grouped_panel_forest.png")
        print(f"forest plot written to {args.out / 'grouped_panel_forest.png'}")
    return suju


if __name__ == "__main__":
    import numpyro

    numpyro.enable_x64()
    main()
