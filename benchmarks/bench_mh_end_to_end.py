"""RandomWalkMH against BlackJAX's random walk end to end: fresh processes, compilation included.

``bench_mh_kernels.py`` times the samplers warm, inside one compiled loop. A user's first run
also pays for imports, tracing and XLA compilation; this script measures that run. Target: the
10-D correlated Gaussian of ``bench_mh_kernels.py`` (condition number 100), as a flat
``potential_fn``. Every measurement is a fresh Python process that imports what it needs,
builds the target, runs the sampler once and computes the minimum ESS over coordinates
(NumPyro's ``effective_sample_size``):

``RandomWalkMH``
    ``MCMC(RandomWalkMH(potential_fn=...), num_warmup=W, num_samples=S).run(...)`` from the
    target's start, identity initial covariance (the kernel adapts it).
``BlackJAX``
    ``blackjax.normal_random_walk`` with an isotropic scale, ``W + S`` steps in a jitted
    ``lax.scan``, ESS of the last ``S``. Its scale is the best of a grid (chosen beforehand in a
    separate process by min-ESS on a warm run; that search is not counted): the peer at its
    best isotropic tuning.

Reported per sampler (medians over ``--repeats`` processes): the sampler's wall time from
building it to the draws (tracing and compilation included; imports excluded), the process's
wall time including imports, the backend compilations and their seconds (JAX's monitoring
event), min ESS, and min-ESS per second of sampler wall time.

Usage::

    python benchmarks/bench_mh_end_to_end.py [--repeats 5] [--warmup 5000] [--samples 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

START = time.perf_counter()
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The grid of bench_mh_kernels: np.geomspace(0.05, 2.0, 12).
GRID = tuple(0.05 * 40 ** (k / 11) for k in range(12))


def _target():
    import jax.numpy as jnp
    import numpy as np

    # The same construction as bench_mh_kernels.gaussian_target (seed 0).
    rng = np.random.default_rng(0)
    dimension, condition = 10, 100.0
    q, _ = np.linalg.qr(rng.normal(size=(dimension, dimension)))
    eigenvalues = np.geomspace(1.0, condition, dimension) / np.sqrt(condition)
    covariance = (q * eigenvalues) @ q.T
    mean = rng.normal(size=dimension)
    precision = jnp.asarray(np.linalg.inv(covariance))
    mean_j = jnp.asarray(mean)

    def logdensity(x):
        r = x - mean_j
        return -0.5 * r @ precision @ r

    return logdensity, np.zeros(dimension), mean


def _compile_counter():
    import jax

    stats = {"count": 0, "seconds": 0.0}

    def listener(event, duration, **_):
        if event == "/jax/core/compile/backend_compile_duration":
            stats["count"] += 1
            stats["seconds"] += duration

    jax.monitoring.register_event_duration_secs_listener(listener)
    return stats


def worker(sampler: str, warmup: int, samples: int, seed: int, sigma: float) -> dict:
    os.environ.setdefault("CI", "1")  # no progress bars
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from numpyro.diagnostics import effective_sample_size

    if sampler == "RandomWalkMH":
        from numpyro.infer import MCMC

        from numpyro_semipar.mcmc import RandomWalkMH
    else:
        import blackjax
        import jax.numpy as jnp
    imported = time.perf_counter()
    stats = _compile_counter()
    logdensity, init, mean = _target()
    begin = time.perf_counter()
    if sampler == "RandomWalkMH":
        kernel = RandomWalkMH(potential_fn=lambda x: -logdensity(x))
        mcmc = MCMC(kernel, num_warmup=warmup, num_samples=samples, progress_bar=False)
        mcmc.run(jax.random.key(seed), init_params=jax.numpy.asarray(init))
        draws = np.asarray(mcmc.get_samples())
    else:
        algorithm = blackjax.normal_random_walk(logdensity, sigma * jnp.ones(init.size))

        @jax.jit
        def run(key):
            def body(state, k):
                state, _ = algorithm.step(k, state)
                return state, state.position

            state = algorithm.init(jnp.asarray(init))
            return jax.lax.scan(body, state, jax.random.split(key, warmup + samples))[1]

        draws = np.asarray(run(jax.random.key(seed)))[warmup:]
    seconds = time.perf_counter() - begin
    ess = float(np.min(effective_sample_size(draws[None])))
    return {
        "sampler": sampler,
        "seconds": seconds,
        "process_seconds": time.perf_counter() - START,
        "import_seconds": imported - START,
        "compiles": stats["count"],
        "compile_seconds": stats["seconds"],
        "min_ess": ess,
        "ess_per_second": ess / seconds,
        "max_abs_mean_error": float(np.max(np.abs(draws.mean(0) - mean))),
    }


def grid_search(samples: int, seed: int) -> float:
    """The isotropic scale with the largest min-ESS (warm runs, one process; not timed)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import blackjax
    import jax.numpy as jnp
    import numpy as np
    from numpyro.diagnostics import effective_sample_size

    logdensity, init, _ = _target()

    @jax.jit
    def run(sigma, key):
        algorithm = blackjax.normal_random_walk(logdensity, sigma * jnp.ones(init.size))

        def body(state, k):
            state, _ = algorithm.step(k, state)
            return state, state.position

        state = algorithm.init(jnp.asarray(init))
        return jax.lax.scan(body, state, jax.random.split(key, samples))[1]

    scores = {}
    for sigma in GRID:
        draws = np.asarray(run(sigma, jax.random.key(seed)))[samples // 5 :]
        scores[sigma] = float(np.min(effective_sample_size(draws[None])))
    print("  BlackJAX grid (sigma: min ESS):", {k: round(v, 1) for k, v in scores.items()})
    return max(scores, key=scores.get)


def _spawn(*args) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, __file__, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--worker", nargs=2, metavar=("SAMPLER", "SIGMA"), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.grid:
        print(json.dumps({"sigma": grid_search(args.warmup + args.samples, args.seed)}))
        return
    if args.worker:
        sampler, sigma = args.worker
        print(json.dumps(worker(sampler, args.warmup, args.samples, args.seed, float(sigma))))
        return
    import numpy as np

    print(f"load average at start: {os.getloadavg()}", flush=True)
    common = ("--warmup", args.warmup, "--samples", args.samples)
    sigma = _spawn("--grid", *common, "--seed", 99)["sigma"]
    print(f"BlackJAX best isotropic scale: {sigma}", flush=True)
    rows = {"RandomWalkMH": [], "BlackJAX": []}
    for repeat in range(args.repeats):
        for sampler in rows:
            row = _spawn("--worker", sampler, sigma, *common, "--seed", repeat)
            rows[sampler].append(row)
            print(
                f"  {sampler:<13} wall {row['seconds']:.2f}s"
                f" (process {row['process_seconds']:.2f}s)"
                f"  compiles {row['compiles']} ({row['compile_seconds']:.2f}s)"
                f"  min ESS {row['min_ess']:.0f}  ESS/s {row['ess_per_second']:.0f}",
                flush=True,
            )
    print(f"load average at end: {os.getloadavg()}")
    print("| sampler | sampler wall (s) | process wall (s) | compiles (s) | min ESS | min-ESS/s |")
    print("|---|---:|---:|---:|---:|---:|")
    medians = {}
    for sampler, runs in rows.items():
        med = {k: float(np.median([r[k] for r in runs])) for k in runs[0] if k != "sampler"}
        medians[sampler] = med
        print(
            f"| {sampler} | {med['seconds']:.2f} | {med['process_seconds']:.2f} | "
            f"{med['compiles']:.0f} ({med['compile_seconds']:.2f}) | {med['min_ess']:.0f} | "
            f"{med['ess_per_second']:.0f} |"
        )
    ratio = medians["RandomWalkMH"]["ess_per_second"] / medians["BlackJAX"]["ess_per_second"]
    print(f"RandomWalkMH / BlackJAX min-ESS/s (medians): {ratio:.2f}x")


if __name__ == "__main__":
    main()
