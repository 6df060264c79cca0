"""Long exact adaptive random-walk Metropolis reference for the HANK's cheap configuration.

The exactness check of the surrogate workflow on the one-asset HANK (issue 20) needs a
posterior computed by a method that shares nothing with the package's samplers. This script
is that reference, written in plain NumPy: the adaptive Metropolis of Haario, Saksman &
Tamminen (2001) on the unconstrained log posterior of
:class:`numpyro_semipar.models.hank.HankPosterior` (only the log density comes from the
package).

Configuration ("cheap"): ``eis``, ``phi`` and ``kappa`` fixed at ``HANK_START``, so the
household and general-equilibrium Jacobians are computed once per process and cached; the 7
shock persistences, shock sizes and measurement errors are estimated on 1984Q1–2007Q4 with
``T = 200`` (the example's full settings).

Algorithm, per chain:

1. start: the BFGS mode (finite-difference gradients, computed once in the driver) plus twice
   a draw from ``N(0, H⁻¹)`` (BFGS's inverse Hessian): over-dispersed starts;
2. warm-up: Gaussian random walk with covariance ``2.38²/d · (Σ_t + ε I)``, where ``Σ_t`` is
   the empirical covariance of the second half of the chain's history so far (forgetting the
   transient from the over-dispersed start), recomputed every 100 iterations after the first
   ``t0`` (before: BFGS's ``H⁻¹``);
3. sampling: the proposal frozen at the end of warm-up; every draw kept.

Chains run in separate processes (``--processes``), each with its own NumPy generator seeded
from ``--seed``. Diagnostics are arviz's: split R-hat, bulk and tail ESS, MCSE of the mean
and the sd, for every parameter on its own scale and in the unconstrained space. The summary,
the evaluation count, the wall time, the machine and the command go to
``benchmarks/data/hank_cheap_reference.json``.

Run (``PYTHONPATH=.`` so that this checkout's package is imported):
     PYTHONPATH=. python benchmarks/bench_hank_reference.py --num-chains 4 --processes 2 \\
         --num-warmup 5000 --num-samples 80000 --overwrite
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import pathlib
import platform
import sys
import time

# One BLAS thread per process, as in a Dask worker (distributed sets these for its workers):
# a multithreaded OpenBLAS on a loaded 2-core machine made the 288 x 288 Cholesky of the
# likelihood take 0.12 s instead of under 2 ms. Set before NumPy loads; spawned chains inherit.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "data" / "hank_cheap_reference.json"
#: The parameters held fixed in the cheap configuration (at ``HANK_START``).
CHEAP_FIXED = ("eis", "phi", "kappa")
SAMPLE = ("1984Q1", "2007Q4")
HORIZON = 200


def cheap_posterior(sample=SAMPLE, horizon=HORIZON):
    """The cheap configuration's log posterior (eis, phi, kappa fixed at ``HANK_START``)."""
    from numpyro_semipar.models.hank import HANK_START, HankPosterior, load_hank_data

    data, _ = load_hank_data(*sample)
    return HankPosterior(data, horizon=horizon, fixed={k: HANK_START[k] for k in CHEAP_FIXED})


def constrained_draws(posterior, draws: np.ndarray) -> dict[str, np.ndarray]:
    """Map unconstrained draws (chains, draws, d) to ``{name: (chains, draws)}`` parameters."""
    from numpyro_semipar.models.hank import to_parameters

    chains, num, _ = draws.shape
    out = {name: np.empty((chains, num)) for name in posterior.names}
    for c in range(chains):
        for i in range(num):
            theta, _ = to_parameters(posterior.full_vector(draws[c, i]))
            for name in posterior.names:
                out[name][c, i] = theta[name]
    return out


def summarise(draws: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Mean, sd, MCSEs, bulk/tail ESS, split R-hat (arviz) and quantiles of ``{name: draws}``.

    ``draws`` maps each name to an array of shape (chains, draws).
    """
    import arviz as az

    tree = az.from_dict({"posterior": draws})

    def values(result):
        group = result["posterior"] if "posterior" in result else result
        return {name: float(np.asarray(group[name])) for name in draws}

    ess_bulk = values(az.ess(tree, method="bulk"))
    ess_tail = values(az.ess(tree, method="tail"))
    rhat = values(az.rhat(tree))
    mcse_mean = values(az.mcse(tree, method="mean"))
    mcse_sd = values(az.mcse(tree, method="sd"))
    return {
        name: {
            "mean": float(np.mean(x)),
            "sd": float(np.std(x, ddof=1)),
            "mcse_mean": mcse_mean[name],
            "mcse_sd": mcse_sd[name],
            "ess_bulk": ess_bulk[name],
            "ess_tail": ess_tail[name],
            "r_hat": rhat[name],
            # Tail quantiles: not part of the check, but where two samplers disagree first.
            **{f"q{q:02d}": float(np.quantile(x, q / 100)) for q in (2, 5, 25, 50, 75, 95, 98)},
        }
        for name, x in draws.items()
    }


def find_mode(posterior, z0: np.ndarray):
    """BFGS mode of the log posterior with scipy's finite-difference gradient."""
    from scipy import optimize

    evaluations = {"n": 0}

    def negative(z):
        evaluations["n"] += 1
        value = posterior(z)
        return -value if np.isfinite(value) else 1e10

    result = optimize.minimize(negative, z0, method="BFGS", options={"gtol": 1e-4})
    covariance = np.asarray(result.hess_inv, np.float64)
    return result.x, 0.5 * (covariance + covariance.T), result, evaluations["n"]


def adaptive_metropolis_chain(task) -> dict:
    """One adaptive Metropolis chain (Haario et al. 2001), run in a worker process."""
    seed, start, covariance0, num_warmup, num_samples, sample, horizon = task
    posterior = cheap_posterior(sample, horizon)
    rng = np.random.default_rng(seed)
    d = start.shape[0]
    scale2 = 2.38**2 / d
    epsilon = 1e-8
    first_adaptation, every = 500, 100
    factor = np.linalg.cholesky(scale2 * covariance0)
    x = np.array(start, np.float64)
    log_x = posterior(x)
    evaluations = 1
    if not np.isfinite(log_x):
        raise ValueError(f"start {start} has a non-finite log posterior")
    total = num_warmup + num_samples
    history = np.empty((total, d))
    log_history = np.empty(total)
    accepted_warmup = accepted_sampling = 0
    started = time.perf_counter()
    for t in range(total):
        if t < num_warmup and t >= first_adaptation and t % every == 0:
            # Empirical covariance of the second half of the history: the over-dispersed start's
            # transient is forgotten while the adaptation keeps using ever more draws.
            window = history[t // 2 : t]
            sigma = np.cov(window, rowvar=False) + epsilon * np.eye(d)
            factor = np.linalg.cholesky(scale2 * sigma)
        y = x + factor @ rng.standard_normal(d)
        log_y = posterior(y)
        evaluations += 1
        if np.log(rng.uniform()) < log_y - log_x:
            x, log_x = y, log_y
            if t < num_warmup:
                accepted_warmup += 1
            else:
                accepted_sampling += 1
        history[t], log_history[t] = x, log_x
    return {
        "draws": history[num_warmup:],
        "log_posterior": log_history[num_warmup:],
        "evaluations": evaluations,
        "seconds": time.perf_counter() - started,
        "acceptance_warmup": accepted_warmup / max(num_warmup, 1),
        "acceptance_sampling": accepted_sampling / max(num_samples, 1),
        "proposal_covariance": (factor @ factor.T).tolist(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-chains", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--num-warmup", type=int, default=2000)
    parser.add_argument("--num-samples", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--overdispersion", type=float, default=2.0)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--save-draws", type=pathlib.Path, default=None, help=".npz file for the draws"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out file (the stored one)"
    )
    args = parser.parse_args(argv)
    if args.out.exists() and not args.overwrite:
        # The stored reference is data other benchmarks compare against: never replace it by
        # accident (e.g. from run_all.py).
        parser.error(f"--out {args.out} exists; pass --overwrite to replace it")
    for name in ("num_chains", "processes", "num_warmup", "num_samples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    command = "PYTHONPATH=. python benchmarks/bench_hank_reference.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    wall_started = time.perf_counter()
    load_before = os.getloadavg()
    posterior = cheap_posterior()
    z0 = posterior.start()
    compile_started = time.perf_counter()
    posterior(z0)  # compiles sequence-jacobian's numba kernels
    compile_seconds = time.perf_counter() - compile_started
    mode_started = time.perf_counter()
    mode, covariance, result, mode_evaluations = find_mode(posterior, z0)
    mode_seconds = time.perf_counter() - mode_started
    print(
        f"mode after {result.nit} BFGS steps, {mode_evaluations} evaluations, "
        f"{mode_seconds:.0f} s: log posterior {-result.fun:.3f}",
        file=sys.stderr,
        flush=True,
    )
    rng = np.random.default_rng(args.seed)
    factor = np.linalg.cholesky(covariance)
    starts = []
    while len(starts) < args.num_chains:
        candidate = mode + args.overdispersion * factor @ rng.standard_normal(mode.shape[0])
        if np.isfinite(posterior(candidate)):
            starts.append(candidate)
    seeds = rng.integers(0, 2**63, size=args.num_chains)
    tasks = [
        (int(s), x, covariance, args.num_warmup, args.num_samples, SAMPLE, HORIZON)
        for s, x in zip(seeds, starts, strict=True)
    ]
    chains_started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.processes) as pool:
        chains = pool.map(adaptive_metropolis_chain, tasks)
    chains_seconds = time.perf_counter() - chains_started
    draws = np.stack([c["draws"] for c in chains])
    if args.save_draws is not None:
        np.savez_compressed(args.save_draws, draws=draws, names=np.array(posterior.names))
    constrained = summarise(constrained_draws(posterior, draws))
    unconstrained = summarise({f"z_{n}": draws[..., i] for i, n in enumerate(posterior.names)})
    evaluations = int(sum(c["evaluations"] for c in chains))
    min_ess = min(v["ess_bulk"] for v in constrained.values())
    min_ess_z = min(v["ess_bulk"] for v in unconstrained.values())
    record = {
        "description": (
            "Exact adaptive Metropolis (Haario et al. 2001, plain NumPy) reference for the "
            "one-asset HANK, cheap configuration: eis, phi, kappa fixed at HANK_START; the 7 "
            "shock and measurement parameters estimated; 1984Q1-2007Q4, T=200."
        ),
        "command": command,
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "python": platform.python_version(),
        },
        "settings": {
            "fixed": {k: float(posterior.fixed[k]) for k in CHEAP_FIXED},
            "sample": list(SAMPLE),
            "horizon": HORIZON,
            "num_chains": args.num_chains,
            "processes": args.processes,
            "num_warmup": args.num_warmup,
            "num_samples": args.num_samples,
            "seed": args.seed,
            "overdispersion": args.overdispersion,
        },
        "names": posterior.names,
        "mode": mode.tolist(),
        "log_posterior_at_mode": float(-result.fun),
        "mode_bfgs_steps": int(result.nit),
        "mode_evaluations": int(mode_evaluations),
        "starts": [s.tolist() for s in starts],
        "acceptance_warmup": [c["acceptance_warmup"] for c in chains],
        "acceptance_sampling": [c["acceptance_sampling"] for c in chains],
        "chain_evaluations": evaluations,
        "chain_seconds_each": [c["seconds"] for c in chains],
        "seconds": {
            "compile": compile_seconds,
            "mode": mode_seconds,
            "chains_wall": chains_seconds,
            "total_wall": time.perf_counter() - wall_started,
        },
        "evaluations_per_ess_sampling": args.num_chains * args.num_samples / min_ess,
        "evaluations_per_ess_with_warmup": evaluations / min_ess,
        "min_ess_bulk": min_ess,
        "min_ess_bulk_unconstrained": min_ess_z,
        "max_r_hat": max(v["r_hat"] for v in constrained.values()),
        "parameters": constrained,
        "unconstrained": unconstrained,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2))
    print(json.dumps({k: v for k, v in record.items() if k != "starts"}, indent=2))
    return record


if __name__ == "__main__":
    main()
