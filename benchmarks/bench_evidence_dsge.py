"""Log marginal likelihood of the An–Schorfheide posterior by three estimators.

The three estimators of :mod:`numpyro_semipar.evidence` on one NUTS run (dense mass matrix,
several chains run one after the other), with the pairwise differences in units of their
combined standard errors, then the posterior report. Results are recorded by hand in
``benchmarks/RESULTS.md``.

Run: python benchmarks/bench_evidence_dsge.py --num-chains 4 --num-warmup 500 --num-samples 2000
"""

import argparse
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC, NUTS, init_to_value

from numpyro_semipar.evidence import (
    bridge_sampling_evidence,
    harmonic_mean_evidence,
    laplace_evidence,
)
from numpyro_semipar.models import dsge
from numpyro_semipar.reporting import posterior_report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--start", default="1998Q1")
    parser.add_argument("--end", default="2007Q4")
    parser.add_argument("--num-chains", type=int, default=4)
    parser.add_argument("--num-warmup", type=int, default=500)
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the figures to this file")
    parser.add_argument(
        "--save-draws",
        default=None,
        help="write the posterior draws (by chain) to this .npz file, e.g. the test fixture "
        "tests/evidence/data/an_schorfheide_nuts_draws.npz",
    )
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)

    y, _ = dsge.load_us_data(args.start, args.end)
    init = init_to_value(values={k: jnp.asarray(v) for k, v in dsge.POSTERIOR_BULK_START.items()})
    mcmc = MCMC(
        NUTS(dsge.an_schorfheide_model, init_strategy=init, dense_mass=True),
        num_warmup=args.num_warmup,
        num_samples=args.num_samples,
        num_chains=args.num_chains,
        chain_method="sequential",
        progress_bar=False,
    )
    t0 = time.perf_counter()
    mcmc.run(jax.random.key(args.seed), jnp.asarray(y))
    seconds = {"nuts": time.perf_counter() - t0}

    results = {}
    for name, estimate in [
        ("laplace", lambda: laplace_evidence(mcmc, hessian="finite-difference")),
        ("harmonic_mean", lambda: harmonic_mean_evidence(mcmc)),
        ("bridge", lambda: bridge_sampling_evidence(jax.random.key(args.seed + 1), mcmc)),
    ]:
        t0 = time.perf_counter()
        results[name] = estimate()
        seconds[name] = time.perf_counter() - t0

    if args.save_draws:
        draws = mcmc.get_samples(group_by_chain=True)
        np.savez_compressed(
            args.save_draws,
            command=" ".join(
                [
                    "python benchmarks/bench_evidence_dsge.py",
                    *(sys.argv[1:] if argv is None else argv),
                ]
            ),
            **{name: np.asarray(value) for name, value in draws.items()},
        )
    laplace = results["laplace"]
    term = laplace.diagnostics["second_order_term"]
    print(
        f"Laplace second-order term {term:+.3f} "
        f"(parts {laplace.diagnostics['second_order_parts']}); "
        f"Laplace order 2: {laplace.log_evidence + term:.3f}"
    )
    print(f"sample {args.start}-{args.end}, NUTS {args.num_chains} x {args.num_samples} draws")
    print("| estimator | log evidence | std. error | converged | seconds |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r.log_evidence:.3f} | {r.std_error:.3f} | {r.converged} "
            f"| {seconds[name]:.1f} |"
        )
    print(f"NUTS: {seconds['nuts']:.1f} s")
    names = list(results)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            ra, rb = results[a], results[b]
            se = np.hypot(np.nan_to_num(ra.std_error), np.nan_to_num(rb.std_error))
            diff = ra.log_evidence - rb.log_evidence
            print(f"{a} - {b}: {diff:+.3f} ({diff / se:+.1f} combined se)")
    hm = results["harmonic_mean"].diagnostics
    print("harmonic mean by tau:", {t: round(v, 3) for t, v in hm["log_evidence_by_tau"].items()})
    print("bridge diagnostics:", results["bridge"].diagnostics)
    print(posterior_report(mcmc))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {
                    "args": vars(args),
                    "seconds": seconds,
                    "results": {
                        n: {"log_evidence": r.log_evidence, "std_error": r.std_error}
                        for n, r in results.items()
                    },
                },
                handle,
                indent=1,
            )


if __name__ == "__main__":
    main()
