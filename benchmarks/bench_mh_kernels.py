"""Gradient-free MH kernels: ESS per second and per target evaluation.

Samplers: ``RandomWalkMH`` (adaptive), ``MultiProposalMH`` (N = 4, 16, 64; the batch evaluated
with ``jax.vmap`` and, for N = 4 on the expensive targets, as ``threads``, split over a
2-thread pool), BlackJAX's
``normal_random_walk`` at its best isotropic scale (found on a grid, the grid search not
timed), NumPyro's ``SA`` and ``AIES``, and emcee (skipped with a message when not installed;
it is not a dependency: ``pip install emcee``).

Targets:

``gauss10``
    A 10-D correlated Gaussian with condition number 100.
``expensive``
    The same Gaussian plus a Kalman filter (state dimension 4, one observable, a transition
    matrix that depends on the position) whose length is calibrated to about 1 ms per
    evaluation. The busy value enters the log density as ``busy - busy`` (exactly zero, but XLA
    cannot remove it), so the posterior is the Gaussian and the moments are known.
``dsge``
    The An–Schorfheide NK model's log posterior (``numpyro_semipar.models.dsge``, US data
    1984Q1–2007Q4 as in ``examples/dsge_nk.py``, 13 unconstrained parameters): a QZ-free
    solver and a 7-state Kalman filter, about 0.5 ms per evaluation. Every sampler starts at the
    mode with the inverse Hessian as its proposal covariance (Dynare style); moments are
    checked against the long NUTS reference ``benchmarks/data/dsge_nk_reference.json``.

Before sampling, the script prints what one evaluation and a batch of N ∈ {4, 16, 64} cost
(``jax.vmap``, and chunks on 2 threads), wall and CPU time. Every sampler runs one chain (AIES and
emcee: an ensemble of ``2 d`` walkers) through its warm-up/adaptation, then a sampling phase
that is timed warm (compiled beforehand): wall time, fastest of ``--repeats`` runs, and the CPU
time of the whole process (all threads) in that run. ESS is the minimum over coordinates of
NumPyro's ``effective_sample_size``; for ensembles the walkers are treated as chains. For
MultiProposalMH the ESS of the chain of NumPyro samples (one per iteration) is the headline
figure; the ESS of all N draws per iteration is shown as "ESS (all draws)", and the
Rao-Blackwellised estimator of the posterior mean is credited with its mean-ESS
``Var_π(x) · ESS(g) / Var(g)`` for ``g_t = Σ_j p_tj x_tj`` ("RB mean-ESS"). ``max|z|`` is the
largest ESS-gated error of the posterior means, ``|mean − μ| / √(σ²/ESS + mcse_ref²)``, over
coordinates (below 5 is agreement).

Usage::

    python benchmarks/bench_mh_kernels.py [--target gauss10,expensive,dsge] [--samplers core|all]

``--target expensive,dsge --samplers core`` (RandomWalkMH and MultiProposalMH only) is the
"1 ms posterior" comparison of issue 6 (about 5 minutes of CPU time on a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
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
from numpyro_semipar.mcmc.blackjax import multi_proposal_draws, threaded_evaluator  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DIMENSION = 10
NUM_THREADS = 2
TARGETS = ("gauss10", "expensive", "dsge")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target",
        default="gauss10,expensive,dsge",
        help="comma-separated subset of " + str(TARGETS),
    )
    parser.add_argument(
        "--samplers",
        choices=["core", "all"],
        default="all",
        help="core: RandomWalkMH and MultiProposalMH only; all: also the peers",
    )
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per sampler")
    parser.add_argument("--cost-ms", type=float, default=1.0, help="synthetic cost per evaluation")
    parser.add_argument("--out", type=str, default=None, help="folder for results.json")
    args = parser.parse_args(argv)
    args.targets = [t.strip() for t in args.target.split(",") if t.strip()]
    if args.targets == ["all"]:
        args.targets = list(TARGETS)
    bad = [t for t in args.targets if t not in TARGETS]
    if bad:
        parser.error(f"unknown target(s) {bad}; choose from {TARGETS}")
    return args


# ----------------------------------------------------------------------------- targets
class Target:
    """A flat-vector log density with what the checks need."""

    def __init__(self, name, logdensity, init, mean, variance, covariance=None, **extra):
        self.name = name
        self.logdensity = logdensity
        self.init = jnp.asarray(init)
        self.dimension = int(self.init.shape[0])
        self.mean = np.asarray(mean)
        self.variance = np.asarray(variance)
        self.covariance = covariance  # initial proposal covariance (None: identity)
        self.reference_mcse = np.zeros_like(self.mean)
        self.constrain = None  # flat draws (..., d) -> parameters (..., k) for the checks
        self.extra = extra


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


def busy_work(num_steps: int, size: int = 4):
    """A Kalman filter (state dimension 4, one observable) over ``num_steps`` periods.

    The transition matrix depends on the position, as in a DSGE likelihood; the data are fixed
    noise. Its value is discarded by the caller (``value - value``).
    """
    rng = np.random.default_rng(1)
    data = jnp.asarray(rng.normal(size=num_steps))
    loading = jnp.asarray(rng.normal(size=(size * size, DIMENSION)) / np.sqrt(DIMENSION))
    observation = jnp.asarray(rng.normal(size=size))
    noise = 0.1 * jnp.eye(size)

    def busy(x):
        transition = 0.45 * jnp.tanh(loading @ x).reshape(size, size)

        def step(carry, y):
            mean, cov, loglik = carry
            mean = transition @ mean
            cov = transition @ cov @ transition.T + noise
            error = y - observation @ mean
            variance = observation @ cov @ observation + 0.5
            gain = cov @ observation / variance
            mean = mean + gain * error
            cov = cov - jnp.outer(gain, observation @ cov)
            return (mean, cov, loglik - 0.5 * (jnp.log(variance) + error**2 / variance)), None

        init = (jnp.zeros(size), jnp.eye(size), jnp.zeros(()))
        return jax.lax.scan(step, init, data)[0][2]

    return busy


def eval_cost(fn, x0, batch=None, mode="vmap", repeats=10):
    """Fastest (wall, CPU) milliseconds of one call: one evaluation or a batch of ``batch``."""
    if batch is None:
        jitted = jax.jit(fn)
        xs = x0
    else:
        xs = x0 + 1e-3 * jax.random.normal(jax.random.key(0), (batch,) + x0.shape, x0.dtype)
        if mode == "vmap":
            jitted = jax.jit(jax.vmap(fn))
        else:
            evaluate = threaded_evaluator(NUM_THREADS)
            jitted = jax.jit(lambda a: evaluate(fn, a))
    jax.block_until_ready(jitted(xs))
    best_wall = best_cpu = np.inf
    for _ in range(5):  # fastest of five timings: the least disturbed by other processes
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeats):
            out = jitted(xs)
        jax.block_until_ready(out)
        cpu = time.process_time() - cpu
        best_wall = min(best_wall, (time.perf_counter() - wall) / repeats * 1e3)
        best_cpu = min(best_cpu, cpu / repeats * 1e3)
    return best_wall, best_cpu


def cost_table(fn, x0, sizes=(4, 16, 64)):
    """What one evaluation and batches cost (wall and CPU ms; ratios to one evaluation)."""
    one = eval_cost(fn, x0)
    table = {"one": one}
    for n in sizes:
        for mode in ("vmap", "threads"):
            table[f"{mode} N={n}"] = eval_cost(fn, x0, n, mode, repeats=max(2, 40 // n))
    print(f"  one evaluation: wall {one[0]:.3f} ms, CPU {one[1]:.3f} ms", flush=True)
    for key, (wall, cpu) in table.items():
        if key != "one":
            print(
                f"  batch {key:<14} wall {wall:7.2f} ms ({wall / one[0]:5.1f}x one)  "
                f"CPU {cpu:7.2f} ms ({cpu / one[1]:5.1f}x)",
                flush=True,
            )
    return {k: {"wall_ms": v[0], "cpu_ms": v[1]} for k, v in table.items()}


def expensive_target(cost_ms: float) -> Target:
    logdensity, mean, covariance = gaussian_target()
    x0 = jnp.asarray(mean)

    def make(num_loops):
        busy = busy_work(num_loops)

        def expensive(x):
            value = busy(x)
            return logdensity(x) + (value - value)

        return expensive

    per_step = eval_cost(make(400), x0, repeats=20)[1] / 400
    num_steps = max(10, int(cost_ms / per_step))
    return Target(
        "expensive",
        make(num_steps),
        mean,
        mean,
        np.diag(covariance),
        kalman_steps=num_steps,
    )


def dsge_target() -> Target:
    """The An–Schorfheide log posterior on the example's data, started at the mode."""
    from jax.flatten_util import ravel_pytree
    from numpyro.infer import init_to_value
    from numpyro.infer.util import initialize_model

    from numpyro_semipar.mcmc.blackjax import mode_start
    from numpyro_semipar.models import dsge

    start = dsge.POSTERIOR_BULK_START
    y, _ = dsge.load_us_data("1984Q1", "2007Q4")
    y = jnp.asarray(y)
    info = initialize_model(
        jax.random.key(0),
        dsge.an_schorfheide_model,
        model_args=(y,),
        init_strategy=init_to_value(values=start),
        dynamic_args=True,
    )
    potential = info.potential_fn(y)
    flat0, unravel = ravel_pytree(info.param_info.z)

    def logdensity(x):
        return -potential(unravel(x))

    mode, covariance = mode_start(jax.jit(logdensity), flat0)
    postprocess = jax.jit(jax.vmap(info.postprocess_fn(y)))
    names = list(dsge.PARAM_NAMES)

    def constrain(flat_draws):
        flat_draws = np.asarray(flat_draws)
        lead = flat_draws.shape[:-1]
        values = postprocess(jax.vmap(unravel)(flat_draws.reshape(-1, flat_draws.shape[-1])))
        return np.stack([np.asarray(values[n]).reshape(lead) for n in names], axis=-1)

    reference = json.loads((ROOT / "benchmarks/data/dsge_nk_reference.json").read_text())
    target = Target(
        "dsge",
        logdensity,
        mode,
        reference["mean"],
        np.asarray(reference["sd"]) ** 2,
        covariance=covariance,
        periods=int(y.shape[0]),
    )
    target.reference_mcse = np.asarray(reference["mcse_mean"])
    target.constrain = constrain
    return target


# ----------------------------------------------------------------------------- helpers
def min_ess(draws):
    draws = np.asarray(draws, dtype=np.float64)
    if draws.ndim == 2:
        draws = draws[None]
    return float(np.min(effective_sample_size(draws)))


def max_z(target, draws):
    """Largest ESS-gated error of the posterior means (draws: (chains, n, d))."""
    draws = np.asarray(draws, dtype=np.float64)
    if draws.ndim == 2:
        draws = draws[None]
    if target.constrain is not None:
        draws = target.constrain(draws)
    ess = effective_sample_size(draws)
    error = np.sqrt(target.variance / ess + target.reference_mcse**2)
    return float(np.max(np.abs(draws.mean(axis=(0, 1)) - target.mean) / error))


def timed(fn, repeats):
    """Run ``fn`` ``repeats`` times; return its output, the fastest wall time and its CPU time.

    The minimum over repeats is the least contaminated by other processes on a shared machine;
    CPU time counts every thread of this process.
    """
    best, best_cpu = np.inf, np.inf
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        out = fn()
        jax.block_until_ready(out)
        wall = time.perf_counter() - start
        if wall < best:
            best, best_cpu = wall, time.process_time() - cpu
    return out, best, best_cpu


def run_numpyro(kernel, init, num_warmup, num_samples, seed, repeats, num_chains=1, collect=None):
    """Warm up with ``MCMC.warmup``, then time ``kernel.sample`` in a jitted ``lax.scan``.

    A first ``MCMC.run`` (and any run of a new ``MCMC`` object) traces and compiles its
    collection loop, so timing it would include compilation; the scan runs exactly the same
    transition without the driver. ``bench_mh_end_to_end.py`` times the first run instead.
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

    compiled = sample.lower(state).compile()  # compile without running
    return timed(lambda: compiled(state), repeats)


def record(target, name, draws, seconds, cpu, evaluations, **extra):
    ess = min_ess(draws)
    row = {
        "sampler": name,
        "min_ess": ess,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "evaluations": int(evaluations),
        "ess_per_second": ess / seconds,
        "ess_per_cpu_second": ess / cpu,
        "ess_per_1000_evaluations": 1000 * ess / evaluations,
        "max_abs_z": max_z(target, draws),
    }
    row.update(extra)
    print(
        f"  {name:<34} ESS {ess:7.1f}  wall {seconds:6.2f}s  CPU {cpu:6.2f}s  "
        f"ESS/s {ess / seconds:8.1f}  ESS/CPU-s {ess / cpu:8.1f}  "
        f"ESS/1000 evals {1000 * ess / evaluations:6.2f}  max|z| {row['max_abs_z']:.1f}"
        + "".join(f"  {k} {v:.3g}" for k, v in extra.items() if isinstance(v, float)),
        flush=True,
    )
    return row


# ----------------------------------------------------------------------------- samplers
def bench_random_walk(target, warmup, samples, seed, repeats):
    kernel = RandomWalkMH(
        potential_fn=lambda x: -target.logdensity(x), covariance=target.covariance
    )
    (draws, evaluations, accept), seconds, cpu = run_numpyro(
        kernel,
        target.init,
        warmup,
        samples,
        seed,
        repeats,
        collect=lambda s: (s.z, s.num_evaluations, s.accept_prob),
    )
    return record(
        target,
        "RandomWalkMH (adaptive)",
        draws,
        seconds,
        cpu,
        np.sum(evaluations),
        acceptance=float(np.mean(accept)),
    )


def bench_multi_proposal(target, warmup, samples, seed, repeats, num_proposals, evaluation):
    kernel = MultiProposalMH(
        potential_fn=lambda x: -target.logdensity(x),
        num_proposals=num_proposals,
        covariance=target.covariance,
        batch_evaluation=threaded_evaluator(NUM_THREADS) if evaluation == "threads" else "vmap",
    )
    (samples_, evaluations, accept, points, indices, weights), seconds, cpu = run_numpyro(
        kernel,
        target.init,
        warmup,
        samples,
        seed,
        repeats,
        collect=lambda s: (
            s.z,
            s.num_evaluations,
            s.accept_prob,
            s.info.points,
            s.info.indices,
            s.info.weights,
        ),
    )
    d = target.dimension
    draws = np.asarray(multi_proposal_draws(points, indices))
    # Rao-Blackwellised posterior mean: the series g_t = Σ_j p_tj x_tj has a smaller variance than
    # the target's; its mean-ESS is Var_π(x) · ESS(g) / Var(g) (the ESS of the plain average that
    # would give the same Monte Carlo error). In the sampler's (unconstrained) coordinates.
    conditional = np.einsum("tj,tjd->td", np.asarray(weights), np.asarray(points))
    ess_g = effective_sample_size(conditional[None])
    variance = np.asarray(draws).reshape(-1, d).var(axis=0)
    rb_ess = float(np.min(variance * ess_g / conditional.var(axis=0)))
    return record(
        target,
        f"MultiProposalMH N={num_proposals} ({evaluation})",
        samples_,
        seconds,
        cpu,
        np.sum(evaluations),
        ess_all_draws=min_ess(draws.reshape(1, -1, d)),
        rao_blackwell_mean_ess=rb_ess,
        acceptance=float(np.mean(accept)),
    )


def bench_blackjax_grid(target, samples, seed, grid, repeats):
    d = target.dimension

    def run(sigma, key, num):
        algorithm = blackjax.normal_random_walk(target.logdensity, sigma * jnp.ones(d))
        state = algorithm.init(target.init)

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
    draws, seconds, cpu = timed(lambda: run_jit(sigma, jax.random.key(seed + 2), samples), repeats)
    return record(
        target,
        "BlackJAX normal_random_walk",
        draws,
        seconds,
        cpu,
        samples,
        best_sigma=float(sigma),
    )


def bench_sa(target, warmup, samples, seed, repeats):
    draws, seconds, cpu = run_numpyro(
        SA(potential_fn=lambda x: -target.logdensity(x)),
        target.init,
        warmup,
        samples,
        seed,
        repeats,
    )
    return record(target, "NumPyro SA", draws, seconds, cpu, samples)


def bench_aies(target, warmup, samples, seed, repeats):
    d = target.dimension
    walkers = 2 * d
    rng = np.random.default_rng(seed)
    scale = np.sqrt(np.diag(target.covariance)) if target.covariance is not None else 1.0
    inits = jnp.asarray(target.init + 0.1 * scale * rng.normal(size=(walkers, d)))
    draws, seconds, cpu = run_numpyro(
        AIES(potential_fn=lambda x: -target.logdensity(x)),
        inits,
        warmup,
        samples,
        seed,
        repeats,
        num_chains=walkers,
    )
    draws = np.swapaxes(np.asarray(draws), 0, 1)  # (walkers, draws, d)
    return record(
        target, f"NumPyro AIES ({walkers} walkers)", draws, seconds, cpu, samples * walkers
    )


def bench_emcee(target, warmup, samples, seed):
    try:
        import emcee
    except ImportError:
        print("  emcee not installed: skipped (pip install emcee)", flush=True)
        return None
    d = target.dimension
    walkers = 2 * d
    batched = jax.jit(jax.vmap(target.logdensity))

    def log_prob(xs):
        return np.asarray(batched(jnp.asarray(xs)))

    rng = np.random.default_rng(seed)
    scale = np.sqrt(np.diag(target.covariance)) if target.covariance is not None else 1.0
    p0 = np.asarray(target.init) + 0.1 * scale * rng.normal(size=(walkers, d))
    sampler = emcee.EnsembleSampler(walkers, d, log_prob, vectorize=True)
    state = sampler.run_mcmc(p0, warmup, progress=False)
    sampler.reset()
    _, seconds, cpu = timed(lambda: sampler.run_mcmc(state, samples, progress=False), 1)
    draws = np.swapaxes(sampler.get_chain(), 0, 1)
    return record(
        target, f"emcee ({walkers} walkers, vectorized)", draws, seconds, cpu, samples * walkers
    )


def run_target(target, args, sizes, repeats):
    print(f"\n## {target.name}", flush=True)
    rows = []
    warmup, samples = sizes["warmup"], sizes["samples"]
    rows.append(bench_random_walk(target, warmup, samples, args.seed, repeats))
    for n in (4, 16, 64):
        # Iterations of multi-proposal runs: samples / mp_divisor(N) (the expensive targets keep
        # the number of evaluations per run roughly fixed).
        mp_samples = max(sizes["mp_min"], samples // sizes["mp_divisor"](n))
        mp_warmup = max(sizes["mp_min"] // 2, warmup // sizes["mp_divisor"](n))
        # Threads only for N = 4, where 2 cores could make the batch cost about one evaluation
        # (and to keep the run short).
        for evaluation in sizes["evaluations"] if n <= 4 else ("vmap",):
            rows.append(
                bench_multi_proposal(
                    target, mp_warmup, mp_samples, args.seed, repeats, n, evaluation
                )
            )
    if args.samplers == "all":
        rows.append(
            bench_blackjax_grid(target, sizes["blackjax"], args.seed, sizes["grid"], repeats)
        )
        rows.append(bench_sa(target, sizes["sa_warmup"], samples, args.seed, repeats))
        rows.append(bench_aies(target, warmup // 4, samples // 4, args.seed, repeats))
        row = bench_emcee(target, warmup // 4, samples // 4, args.seed)
        if row is not None:
            rows.append(row)
    print_table(target, rows)
    return rows


def print_table(target, rows):
    """A Markdown table to paste into RESULTS.md."""
    base = rows[0]
    print(f"\n### {target.name}: ratios are ESS per second over RandomWalkMH's\n")
    print(
        "| sampler | min ESS | wall s | CPU s | ESS/s | ESS/CPU-s "
        "| ESS per 1000 evals | ratio (wall) | ratio (CPU) | max abs z | all-draws / RB ESS |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        extra = ""
        if "ess_all_draws" in row:
            extra = f"{row['ess_all_draws']:.0f} / {row['rao_blackwell_mean_ess']:.0f}"
        cpu = row["cpu_seconds"]
        cpu_text = f"{cpu:.2f}"
        print(
            f"| {row['sampler']} | {row['min_ess']:.0f} | {row['seconds']:.2f} "
            f"| {cpu_text} | {row['ess_per_second']:.1f} "
            f"| {row['min_ess'] / cpu:.1f} | {row['ess_per_1000_evaluations']:.1f} "
            f"| {row['ess_per_second'] / base['ess_per_second']:.2f} "
            f"| {row['min_ess'] / cpu / base['ess_per_cpu_second']:.2f} "
            f"| {row['max_abs_z']:.1f} | {extra} |",
            flush=True,
        )


def load_average():
    try:
        return os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        return (float("nan"),) * 3


def main(argv=None):
    args = parse_args(argv)
    results = {
        "device": str(jax.devices()[0]),
        "jax": jax.__version__,
        "cpus": os.cpu_count(),
        "load_average_start": load_average(),
    }
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    except OSError:
        commit = ""
    print(f"jax {jax.__version__}, {os.cpu_count()} CPUs, load {load_average()}, commit {commit}")
    grid = np.geomspace(0.05, 2.0, 12)
    both = ("vmap", "threads")
    if "gauss10" in args.targets:
        logdensity, mean, covariance = gaussian_target()
        target = Target("gauss10", logdensity, mean, mean, np.diag(covariance))
        sizes = {
            "warmup": 5000,
            "samples": 50000,
            "mp_divisor": lambda n: 4,
            "mp_min": 200,
            "blackjax": 200000,
            "grid": grid,
            "sa_warmup": 20000,
            "evaluations": ("vmap",),
        }
        if args.quick:
            sizes.update(warmup=500, samples=2000, blackjax=4000, grid=grid[::4], sa_warmup=500)
        results["gauss10"] = run_target(target, args, sizes, args.repeats or 3)
    expensive_sizes = {
        "warmup": 2000,
        "samples": 8000,
        "mp_divisor": lambda n: max(1, n // 4),
        "mp_min": 400,
        "blackjax": 10000,
        "grid": np.geomspace(0.1, 0.6, 4),
        "sa_warmup": 2000,
        "evaluations": both,
    }
    if args.quick:
        expensive_sizes.update(
            warmup=200, samples=400, blackjax=400, grid=expensive_sizes["grid"][:1], sa_warmup=200
        )
        expensive_sizes["mp_min"] = 100
    for name in ("expensive", "dsge"):
        if name not in args.targets:
            continue
        if name == "expensive":
            target = expensive_target(args.cost_ms)
        else:
            target = dsge_target()
            target_grid = np.geomspace(0.005, 0.1, 4)
        print(f"\n## {name}: cost of one evaluation and of batches {target.extra}", flush=True)
        costs = cost_table(target.logdensity, target.init)
        results[f"{name}_cost"] = {"costs": costs, **target.extra}
        sizes = dict(expensive_sizes)
        if name == "dsge":
            sizes["grid"] = target_grid[:1] if args.quick else target_grid
        results[name] = run_target(target, args, sizes, args.repeats or 1)
    results["load_average_end"] = load_average()
    print(f"\nload average at the end: {load_average()}", flush=True)
    if args.out:
        path = pathlib.Path(args.out)
        path.mkdir(parents=True, exist_ok=True)
        (path / "results.json").write_text(json.dumps(results, indent=2, default=float))
    return results


if __name__ == "__main__":
    main()
