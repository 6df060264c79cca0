"""Gradient-free MH kernels: ESS per second and per target evaluation.

Samplers: ``RandomWalkMH`` (adaptive), ``MultiProposalMH`` (N = 4, 16, 64), BlackJAX's
``normal_random_walk`` at its best isotropic scale (found on a grid, the grid search not
timed), NumPyro's ``SA`` and ``AIES``, and emcee (skipped with a message when not installed;
it is not a dependency: ``pip install emcee``).

Targets: ``gauss10``, a 10-D correlated Gaussian with condition number 100; ``expensive``, the
same Gaussian plus a deterministic busy computation (a ``lax.fori_loop`` of small matrix-vector
products, the shape of a Kalman filter) calibrated to about 1 ms per evaluation, so the kernels
pay for evaluations as they would on a DSGE posterior. The busy value enters the log density
as ``busy - busy`` (exactly zero, but XLA cannot remove it), so the posterior is the Gaussian.

Timings are the fastest of three identical runs (emcee: one run, since it appends to its
chain). Every sampler runs one chain (AIES and emcee: an ensemble of ``2 d`` walkers) through its
warm-up/adaptation, then a sampling phase that is timed warm (compiled beforehand).
ESS is the minimum over coordinates of NumPyro's ``effective_sample_size``; for ensembles the
walkers are treated as chains. For MultiProposalMH the ESS of the chain of NumPyro samples (one
per iteration) is the headline figure; the ESS of all N draws per iteration is shown as
"ESS (all draws)".

Usage::

    python benchmarks/bench_mh_kernels.py [--target gauss10|expensive|all] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import time

os.environ.setdefault("CI", "1")  # no numpyro progress bars

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import blackjax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from numpyro.diagnostics import effective_sample_size  # noqa: E402
from numpyro.infer import AIES, MCMC, SA  # noqa: E402

from numpyro_semipar.mcmc import MultiProposalMH, RandomWalkMH  # noqa: E402
from numpyro_semipar.mcmc.blackjax import multi_proposal_draws  # noqa: E402

DIMENSION = 10


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=["gauss10", "expensive", "all"], default="all")
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cost-ms", type=float, default=1.0, help="target cost per evaluation")
    parser.add_argument("--out", type=str, default=None, help="folder for results.json")
    return parser.parse_args(argv)


# ----------------------------------------------------------------------------- targets
def gaussian_target(dimension=DIMENSION, condition=100.0, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dimension, dimension)))
    eigenvalues = np.geomspace(1.0, condition, dimension) / np.sqrt(condition)
    covariance = (q * eigenvalues) @ q.T
    mean = rng.normal(size=dimension)
    precision = jnp.asarray(np.linalg.inv(covariance))
    mean_j = jnp.asarray(mean)

    def logdensity(x):
        r = x - mean_j
        return -0.5 * r @ precision @ r

    return logdensity, mean, covariance


def busy_work(num_loops: int, size: int = 8):
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(size, size))
    matrix = jnp.asarray(0.9 * matrix / np.max(np.abs(np.linalg.eigvals(matrix))))

    def busy(x):
        def body(i, v):
            return jnp.tanh(matrix @ v + 1e-3 * x[i % x.shape[0]])

        return jnp.sum(jax.lax.fori_loop(0, num_loops, body, jnp.tanh(x[:size])))

    return busy


def expensive_target(cost_ms: float):
    logdensity, mean, covariance = gaussian_target()
    x0 = jnp.asarray(mean)

    def make(num_loops):
        busy = busy_work(num_loops)

        def expensive(x):
            value = busy(x)
            return logdensity(x) + (value - value)

        return expensive

    def cost(fn, repeats=200):
        jitted = jax.jit(fn)
        jitted(x0).block_until_ready()
        start = time.perf_counter()
        for _ in range(repeats):
            out = jitted(x0)
        out.block_until_ready()
        return (time.perf_counter() - start) / repeats * 1e3

    per_loop = cost(make(2000), 50) / 2000
    num_loops = max(10, int(cost_ms / per_loop))
    fn = make(num_loops)
    measured = cost(fn, 100)
    batch = {}
    for n in (4, 16, 64):
        batched = jax.vmap(fn)
        xs = jnp.broadcast_to(x0, (n, DIMENSION))
        jitted = jax.jit(batched)
        jitted(xs).block_until_ready()
        start = time.perf_counter()
        for _ in range(20):
            out = jitted(xs)
        out.block_until_ready()
        batch[n] = (time.perf_counter() - start) / 20 * 1e3
    return fn, mean, covariance, {"num_loops": num_loops, "cost_ms": measured, "batch_ms": batch}


# ----------------------------------------------------------------------------- helpers
def min_ess(draws):
    draws = np.asarray(draws, dtype=np.float64)
    if draws.ndim == 2:
        draws = draws[None]
    return float(np.min(effective_sample_size(draws)))


def timed(fn, repeats=3):
    """Run ``fn`` ``repeats`` times; return its output and the fastest wall time.

    The minimum over repeats is the least contaminated by other processes on a shared machine.
    """
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        jax.block_until_ready(out)
        best = min(best, time.perf_counter() - start)
    return out, best


def run_numpyro(kernel, init, num_warmup, num_samples, seed, num_chains=1, collect=None):
    """Warm up with ``MCMC.warmup``, then time ``kernel.sample`` in a jitted ``lax.scan``.

    ``MCMC.run`` re-traces and recompiles its collection loop on every call, so timing it
    would include compilation; the scan runs exactly the same transition without the driver.
    """
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=1,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.warmup(jax.random.key(seed), init_params=init)
    state = mcmc.post_warmup_state
    collect = collect or (lambda s: s.z)

    @jax.jit
    def sample(state):
        def body(s, _):
            s = kernel.sample(s, (), {})
            return s, collect(s)

        return jax.lax.scan(body, state, None, length=num_samples)[1]

    sample(state)  # compile
    return timed(lambda: sample(state))


def record(name, draws, seconds, evaluations, **extra):
    ess = min_ess(draws)
    row = {
        "sampler": name,
        "min_ess": ess,
        "seconds": seconds,
        "evaluations": int(evaluations),
        "ess_per_second": ess / seconds,
        "ess_per_1000_evaluations": 1000 * ess / evaluations,
    }
    row.update(extra)
    print(
        f"  {name:<28} ESS {ess:8.1f}  time {seconds:7.2f}s  ESS/s {ess / seconds:9.1f}  "
        f"ESS/1000 evals {1000 * ess / evaluations:7.2f}"
        + "".join(f"  {k} {v:.3g}" for k, v in extra.items() if isinstance(v, float)),
        flush=True,
    )
    return row


# ----------------------------------------------------------------------------- samplers
def bench_random_walk(logdensity, init, warmup, samples, seed):
    kernel = RandomWalkMH(potential_fn=lambda x: -logdensity(x))
    (draws, evaluations, accept), seconds = run_numpyro(
        kernel,
        init,
        warmup,
        samples,
        seed,
        collect=lambda s: (s.z, s.num_evaluations, s.accept_prob),
    )
    return record(
        "RandomWalkMH (adaptive)",
        draws,
        seconds,
        np.sum(evaluations),
        acceptance=float(np.mean(accept)),
    )


def bench_multi_proposal(logdensity, init, warmup, samples, seed, num_proposals):
    kernel = MultiProposalMH(potential_fn=lambda x: -logdensity(x), num_proposals=num_proposals)
    (samples_, evaluations, accept, points, indices), seconds = run_numpyro(
        kernel,
        init,
        warmup,
        samples,
        seed,
        collect=lambda s: (s.z, s.num_evaluations, s.accept_prob, s.info.points, s.info.indices),
    )
    draws = np.asarray(multi_proposal_draws(points, indices))
    return record(
        f"MultiProposalMH (N={num_proposals})",
        samples_,
        seconds,
        np.sum(evaluations),
        ess_all_draws=min_ess(draws.reshape(1, -1, DIMENSION)),
        acceptance=float(np.mean(accept)),
    )


def bench_blackjax_grid(logdensity, init, samples, seed, grid):
    def run(sigma, key, num):
        algorithm = blackjax.normal_random_walk(logdensity, sigma * jnp.ones(DIMENSION))
        state = algorithm.init(init)

        def body(s, k):
            s, info = algorithm.step(k, s)
            return s, s.position

        return jax.lax.scan(body, state, jax.random.split(key, num))[1]

    run_jit = jax.jit(run, static_argnums=2)
    best = None
    for sigma in grid:
        draws = run_jit(sigma, jax.random.key(seed), samples)
        ess = min_ess(draws)
        if best is None or ess > best[1]:
            best = (sigma, ess)
    sigma = best[0]
    run_jit(sigma, jax.random.key(seed + 1), samples).block_until_ready()
    draws, seconds = timed(lambda: run_jit(sigma, jax.random.key(seed + 2), samples))
    return record("BlackJAX normal_random_walk", draws, seconds, samples, best_sigma=float(sigma))


def bench_sa(logdensity, init, warmup, samples, seed):
    draws, seconds = run_numpyro(
        SA(potential_fn=lambda x: -logdensity(x)), init, warmup, samples, seed
    )
    return record("NumPyro SA", draws, seconds, samples)


def bench_aies(logdensity, init, warmup, samples, seed):
    walkers = 2 * DIMENSION
    rng = np.random.default_rng(seed)
    inits = jnp.asarray(init + 0.1 * rng.normal(size=(walkers, DIMENSION)))
    draws, seconds = run_numpyro(
        AIES(potential_fn=lambda x: -logdensity(x)),
        inits,
        warmup,
        samples,
        seed,
        num_chains=walkers,
    )
    draws = np.swapaxes(np.asarray(draws), 0, 1)  # (walkers, draws, d)
    return record("NumPyro AIES (20 walkers)", draws, seconds, samples * walkers)


def bench_emcee(logdensity, init, warmup, samples, seed):
    try:
        import emcee
    except ImportError:
        print("  emcee not installed: skipped (pip install emcee)", flush=True)
        return None
    walkers = 2 * DIMENSION
    batched = jax.jit(jax.vmap(logdensity))

    def log_prob(xs):
        return np.asarray(batched(jnp.asarray(xs)))

    rng = np.random.default_rng(seed)
    p0 = init + 0.1 * rng.normal(size=(walkers, DIMENSION))
    sampler = emcee.EnsembleSampler(walkers, DIMENSION, log_prob, vectorize=True)
    state = sampler.run_mcmc(p0, warmup, progress=False)
    sampler.reset()
    _, seconds = timed(lambda: sampler.run_mcmc(state, samples, progress=False), repeats=1)
    draws = np.swapaxes(sampler.get_chain(), 0, 1)
    return record("emcee (20 walkers, vectorized)", draws, seconds, samples * walkers)


def run_target(name, logdensity, mean, args, sizes):
    print(f"\n## {name}", flush=True)
    init = jnp.asarray(mean)
    rows = []
    warmup, samples = sizes["warmup"], sizes["samples"]
    rows.append(bench_random_walk(logdensity, init, warmup, samples, args.seed))
    for n in (4, 16, 64):
        mp_samples = max(200, samples // sizes["mp_divisor"])
        rows.append(bench_multi_proposal(logdensity, init, warmup // 2, mp_samples, args.seed, n))
    rows.append(bench_blackjax_grid(logdensity, init, sizes["blackjax"], args.seed, sizes["grid"]))
    rows.append(bench_sa(logdensity, init, sizes["sa_warmup"], samples, args.seed))
    rows.append(bench_aies(logdensity, init, warmup // 4, samples // 4, args.seed))
    row = bench_emcee(logdensity, init, warmup // 4, samples // 4, args.seed)
    if row is not None:
        rows.append(row)
    return rows


def main(argv=None):
    args = parse_args(argv)
    results = {"device": str(jax.devices()[0]), "jax": jax.__version__}
    grid = np.geomspace(0.05, 2.0, 12)
    if args.target in ("gauss10", "all"):
        logdensity, mean, _ = gaussian_target()
        sizes = {
            "warmup": 5000,
            "samples": 50000,
            "mp_divisor": 4,
            "blackjax": 200000,
            "grid": grid,
            "sa_warmup": 20000,
        }
        if args.quick:
            sizes.update(warmup=500, samples=2000, blackjax=4000, grid=grid[::4], sa_warmup=500)
        results["gauss10"] = run_target("gauss10", logdensity, mean, args, sizes)
    if args.target in ("expensive", "all"):
        fn, mean, _, calibration = expensive_target(args.cost_ms)
        print(f"\ncalibration: {calibration}", flush=True)
        results["expensive_calibration"] = calibration
        sizes = {
            "warmup": 2000,
            "samples": 4000,
            "mp_divisor": 4,
            "blackjax": 4000,
            "grid": np.geomspace(0.1, 0.6, 4),
            "sa_warmup": 2000,
        }
        if args.quick:
            sizes.update(
                warmup=200, samples=400, blackjax=400, grid=sizes["grid"][:1], sa_warmup=200
            )
        results["expensive"] = run_target("expensive (~1 ms)", fn, mean, args, sizes)
    if args.out:
        path = pathlib.Path(args.out)
        path.mkdir(parents=True, exist_ok=True)
        (path / "results.json").write_text(json.dumps(results, indent=2, default=float))
    return results


if __name__ == "__main__":
    main()
