"""Su-Ju grouped panel benchmark against the seed package ``groupedpaneldatamodels==0.1.2``.

Design (both implementations see the same data): p = 2 regressors, three groups with shares
0.3 / 0.3 / 0.4 and slopes (0.4, 1.6), (1, 1), (1.6, 0.4), two common factors that also enter
the regressors (x_it = N(0, I) + 0.5 (λ_iᵀF_t, λ_i1 F_t2)), ε ~ N(0, 1);
(N, T) in {(100, 20), (200, 50)}.

* numpyro_semipar ``SuJu``: (a) the true G = 3 and R = 2 with c = 0.5 (what the seed is given),
  (b) the same with c chosen by the IC on the 10-point SSP grid, (c) everything chosen by the
  information criteria (groups 1..4, factors 0..3, c on the grid). Timings are warm (each fit
  run once before timing); the first call's compilation time is reported separately.
* seed: ``groupedpaneldatamodels.models.su_ju.interactive_effects_estimation`` with G = 3,
  R = 2 and its default kappa = 0.1 (``pip install groupedpaneldatamodels==0.1.2`` into the
  venv by hand; skipped with a message when missing). It is slow (L-BFGS-B with finite
  differences over N·p + p variables), so it runs once per configuration, with ``max_iter``
  as given by ``--seed-max-iter`` (its default is 1000).

Metrics: wall time, correct-classification rate (best label matching), RMSE of the group
coefficients (post-Lasso for SuJu, the seed's penalised α̂ as it reports them).

Run: python benchmarks/bench_panel.py [--seed-max-iter 1000 --repeats 3]
"""

import argparse
import itertools
import time

import numpy as np

ALPHA = np.array([[0.4, 1.6], [1.0, 1.0], [1.6, 0.4]])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--configs", default="100x20,200x50")
    parser.add_argument(
        "--seed-max-iter", default="1000,1000", help="max_iter of the seed per configuration"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-seed", action="store_true")
    return parser.parse_args(argv)


def simulate(n, t, seed):
    rng = np.random.default_rng(seed)
    share = int(0.3 * n)
    groups = np.r_[np.zeros(share, int), np.ones(share, int), np.full(n - 2 * share, 2)]
    lam = rng.normal(size=(n, 2))
    f = rng.normal(size=(t, 2))
    common = lam @ f.T
    x = rng.normal(size=(n, t, 2)) + 0.5 * np.stack([common, lam[:, :1] * f[:, 1][None, :]], -1)
    y = np.einsum("itp,ip->it", x, ALPHA[groups]) + common + rng.normal(size=(n, t))
    return y, x, groups


def score(coefs, labels, groups):
    """Best-matching classification rate and RMSE (labels permuted to fit the truth)."""
    best = (-1.0, np.inf)
    for perm in itertools.permutations(range(3)):
        perm = np.asarray(perm)
        if coefs.shape[0] != 3:
            break
        rate = np.mean(perm[labels] == groups)
        rmse = np.sqrt(np.mean((coefs[np.argsort(perm)] - ALPHA) ** 2))
        if rate > best[0]:
            best = (rate, rmse)
    return best


def run_ours(y, x, groups, repeats, **kwargs):
    import jax

    from numpyro_semipar.frequentist import SuJu

    model = SuJu(progress_bar=False, **kwargs)
    start = time.perf_counter()
    res = model.fit(y, x, rng_key=jax.random.key(0))
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        res = model.fit(y, x, rng_key=jax.random.key(0))
        times.append(time.perf_counter() - start)
    rate, rmse = score(res.group_coefficients, res.groups, groups)
    return min(times), first, rate, rmse, res


def run_seed(y, x, groups, max_iter):
    try:
        from groupedpaneldatamodels.models.su_ju import interactive_effects_estimation
    except ImportError:
        return None
    n, t, p = x.shape
    start = time.perf_counter()
    beta, alpha, _, _, _ = interactive_effects_estimation(
        y[..., None], x, n, t, p, 3, 2, max_iter=max_iter
    )
    elapsed = time.perf_counter() - start
    dist = ((beta.T[:, None, :] - alpha.T[None, :, :]) ** 2).sum(-1)
    labels = np.argmin(dist, axis=1)
    rate, rmse = score(alpha.T, labels, groups)
    return elapsed, rate, rmse


def main(argv=None):
    args = parse_args(argv)
    configs = [tuple(int(v) for v in c.split("x")) for c in args.configs.split(",")]
    seed_iters = [int(v) for v in args.seed_max_iter.split(",")]
    rows = []
    for (n, t), seed_iter in zip(configs, seed_iters, strict=True):
        y, x, groups = simulate(n, t, args.seed)
        for label, kwargs in [
            ("SuJu G=3 R=2 c=0.5", dict(num_groups=3, num_factors=2, c=0.5)),
            ("SuJu G=3 R=2 c by IC", dict(num_groups=3, num_factors=2, c=None)),
            (
                "SuJu all by IC",
                dict(num_groups="ic", num_factors="ic", max_groups=4, max_factors=3),
            ),
        ]:
            warm, first, rate, rmse, res = run_ours(y, x, groups, args.repeats, **kwargs)
            note = f"G={res.num_groups} R={res.num_factors} c={res.c:.3g}"
            rows.append((n, t, label, warm, first, rate, rmse, note))
            print(rows[-1], flush=True)
        if args.skip_seed:
            continue
        out = run_seed(y, x, groups, seed_iter)
        if out is None:
            print("groupedpaneldatamodels is not installed: seed skipped")
            continue
        rows.append((n, t, f"seed max_iter={seed_iter}", out[0], out[0], out[1], out[2], "G=3 R=2"))
        print(rows[-1], flush=True)
    print("\n| N | T | estimator | time (s) | first call (s) | classification | RMSE | notes |")
    print("|---|---|---|---|---|---|---|---|")
    for n, t, label, warm, first, rate, rmse, note in rows:
        print(
            f"| {n} | {t} | {label} | {warm:.3g} | {first:.3g} | {rate:.3f} | {rmse:.4f} | {note} |"
        )
    return rows


if __name__ == "__main__":
    main()
