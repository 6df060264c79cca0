"""Benchmark: surrogate MH throughput and surrogate training speed (issue 7).

1. Throughput of random-walk MH on an 11-D 3×128 CELU surrogate (float32, jitted scan, warm):
   one chain, and 64 vmapped chains (``sample_surrogate_chains``). Seed: ~10,000 it/s.
2. Training on 50,000 × 11 candidates (every proposal of an exact RWMH exploration of an 11-D
   non-Gaussian posterior): our recipe (batch 128, peak lr 2e-3 with warm-up + cosine,
   standardised inputs/outputs, 80 epochs, one jitted scan per epoch) under a 60 s budget,
   against the seed's recipe (batch 100, AdamW + cosine, lr 1e-3). 1000 epochs of the seed
   recipe do not fit in a benchmark run on this machine: we run it with shorter epoch budgets
   (cosine schedule over each budget) and extrapolate the validation RMSE to 1000 epochs with
   a power law fitted to those runs (all points, and the last two: the curve flattens).

Run: ``.venv/bin/python benchmarks/bench_surrogate.py --out /tmp/bench_surrogate``
(``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from numpyro_semipar.mcmc import blackjax as nsb
from numpyro_semipar.mcmc import train_surrogate

DIM = 11


def target(x):
    """11-D posterior: banana in (x0, x1), skew in x2, correlated Gaussian rest."""
    gauss = -0.5 * jnp.sum((x[3:] - 0.3 * x[2:-1]) ** 2 / 0.5)
    banana = -0.5 * x[0] ** 2 - 0.5 * ((x[1] - 0.5 * x[0] ** 2) / 0.6) ** 2
    skew = -0.5 * x[2] ** 2 + jnp.log(jax.nn.sigmoid(3.0 * x[2]))
    return gauss + banana + skew


def candidates(rng_key, num: int):
    """Every proposal (accepted or not) of 64 RWMH chains on the exact target."""
    chains = 64
    steps = -(-num // chains)
    algorithm = nsb.random_walk(target, covariance=jnp.full(DIM, 0.6), scale=2.38 / np.sqrt(DIM))

    def one(key):
        state = algorithm.init(jnp.zeros(DIM))

        def body(state, k):
            state, info = algorithm.step(k, state)
            return state, (info.proposal, info.proposal_logdensity)

        return jax.lax.scan(body, state, jax.random.split(key, steps))[1]

    x, y = jax.jit(jax.vmap(one))(jax.random.split(rng_key, chains))
    return np.asarray(x).reshape(-1, DIM)[:num], np.asarray(y).reshape(-1)[:num]


def throughput(surrogate, quick: bool) -> dict:
    fn = surrogate.flat_logdensity
    factor = jnp.asarray(0.3 * np.eye(DIM), jnp.float32)
    results = {}
    for label, chains, steps in (
        ("one_chain", None, 20_000 if quick else 200_000),
        ("64_chains", 64, 1_000 if quick else 20_000),
    ):
        x0 = (
            jnp.zeros(DIM, jnp.float32) if chains is None else jnp.zeros((chains, DIM), jnp.float32)
        )
        t0 = time.perf_counter()
        warm = nsb.sample_surrogate_chains(jax.random.key(0), fn, x0, factor, steps)
        warm.positions.block_until_ready()
        compile_and_run = time.perf_counter() - t0
        best = np.inf
        for rep in range(3):
            t0 = time.perf_counter()
            out = nsb.sample_surrogate_chains(jax.random.key(rep + 1), fn, x0, factor, steps)
            out.positions.block_until_ready()
            best = min(best, time.perf_counter() - t0)
        draws = (chains or 1) * steps
        results[label] = {
            "steps_per_chain": steps,
            "chains": chains or 1,
            "seconds_warm_best_of_3": best,
            "draws_per_second": draws / best,
            "first_call_seconds": compile_and_run,
            "acceptance_rate": float(jnp.mean(out.acceptance_rate)),
        }
        print(label, results[label], flush=True)
    return results


def training(x, y, quick: bool) -> dict:
    key = jax.random.key(1)
    ours = train_surrogate(
        x,
        y,
        rng_key=key,
        num_epochs=10 if quick else 80,
        batch_size=128,
        learning_rate=2e-3,
        patience=None,
        progress_bar=False,
    )
    print("ours", ours.info.validation_rmse, ours.info.seconds, ours.info.num_epochs, flush=True)
    seed_runs = []
    for epochs in (2, 4) if quick else (5, 15, 45, 135):
        run = train_surrogate(
            x,
            y,
            rng_key=key,
            num_epochs=epochs,
            batch_size=100,
            learning_rate=1e-3,
            weight_decay=1e-4,
            warmup_fraction=0.0,
            patience=None,
            progress_bar=False,
        )
        seed_runs.append(
            {
                "epochs": epochs,
                "validation_rmse": run.info.validation_rmse,
                "seconds": run.info.seconds,
            }
        )
        print("seed", seed_runs[-1], flush=True)
    epochs = np.array([r["epochs"] for r in seed_runs], float)
    rmse = np.array([r["validation_rmse"] for r in seed_runs])
    slope, intercept = np.polyfit(np.log(epochs), np.log(rmse), 1)
    extrapolated = float(np.exp(intercept + slope * np.log(1000.0)))
    # the last two budgets only: the learning curve flattens, so this is the more credible one
    tail_slope = float(np.log(rmse[-1] / rmse[-2]) / np.log(epochs[-1] / epochs[-2]))
    tail_extrapolated = float(rmse[-1] * (1000.0 / epochs[-1]) ** tail_slope)
    return {
        "ours": {
            "validation_rmse": ours.info.validation_rmse,
            "validation_r2": ours.info.validation_r2,
            "seconds": ours.info.seconds,
            "epochs": ours.info.num_epochs,
            "best_epoch": ours.info.best_epoch,
        },
        "seed_recipe_runs": seed_runs,
        "seed_power_law_exponent": float(slope),
        "seed_1000_epoch_rmse_extrapolated": extrapolated,
        "seed_1000_epoch_rmse_extrapolated_last_two": tail_extrapolated,
        "ours_reaches_seed_1000": bool(
            ours.info.validation_rmse <= max(extrapolated, tail_extrapolated)
        ),
    }, ours


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench_surrogate_out"))
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--num-candidates", type=int, default=50_000)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    num = 2_000 if args.quick else args.num_candidates
    x, y = candidates(jax.random.key(0), num)
    train, surrogate = training(x, y, args.quick)
    report = {
        "machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()}",
        "jax": jax.__version__,
        "num_candidates": int(x.shape[0]),
        "training": train,
        "throughput": throughput(surrogate, args.quick),
    }
    report["load_average_end"] = os.getloadavg()
    (args.out / "bench_surrogate.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
