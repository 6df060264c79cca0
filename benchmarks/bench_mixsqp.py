"""Benchmark: numpyro_semipar.npmle.mixsqp vs R mixsqp vs EM on Gaussian-location mixtures.

Problem (the issue's spec): three atoms, unit noise, an equally spaced grid of m points over
the data range; log-likelihood matrix n x m. Every solver runs in a fresh subprocess per
configuration so that peak memory (VmHWM from /proc/self/status, reset through
/proc/self/clear_refs after the data are loaded) is its own. Times are wall-clock per solve:
"compile" is the first call minus a warm call (JAX only), "warm" the median of warm calls.
The objective of every solution is recomputed here, in numpy, in log space.

R mixsqp runs when ``Rscript`` and the R package are installed
(``apt-get install -y --no-install-recommends r-cran-mixsqp``); otherwise it is skipped
with a message.

Usage::

    .venv/bin/python benchmarks/bench_mixsqp.py                     # all three sizes
    .venv/bin/python benchmarks/bench_mixsqp.py --sizes 20000x100 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ATOMS = np.array([-2.0, 0.5, 3.0])
PROBS = np.array([0.3, 0.5, 0.2])
HERE = os.path.dirname(os.path.abspath(__file__))

R_SCRIPT = r"""
args <- commandArgs(TRUE)
n <- as.integer(args[2]); m <- as.integer(args[3]); repeats <- as.integer(args[4])
suppressPackageStartupMessages(library(mixsqp))
status <- function(key) {
  s <- readLines("/proc/self/status")
  as.numeric(gsub("[^0-9]", "", s[grep(paste0("^", key, ":"), s)])) / 1024
}
con <- file(args[1], "rb")
L <- matrix(readBin(con, "double", n * m), n, m, byrow = TRUE)
close(con)
invisible(gc())
cat("5", file = "/proc/self/clear_refs")
rss0 <- status("VmRSS")
times <- numeric(repeats)
for (k in seq_len(repeats)) {
  times[k] <- system.time(fit <- mixsqp(L, control = list(verbose = FALSE)))[["elapsed"]]
}
peak <- status("VmHWM") - rss0
cat(sprintf("TIMES %s\n", paste(times, collapse = " ")))
cat(sprintf("PEAK %f\n", peak))
cat(sprintf("STATUS %s\n", fit$status))
cat(sprintf("X %s\n", paste(sprintf("%.17g", fit$x), collapse = " ")))
"""


def simulate(n: int, m: int, seed: int) -> np.ndarray:
    """Log-likelihood matrix of the benchmark problem."""
    rng = np.random.default_rng(seed)
    x = rng.choice(ATOMS, size=n, p=PROBS) + rng.normal(size=n)
    grid = np.linspace(x.min(), x.max(), m)
    return -0.5 * (x[:, None] - grid[None, :]) ** 2 - 0.5 * np.log(2 * np.pi)


def loglik(log_lik: np.ndarray, p: np.ndarray) -> float:
    """sum_i log sum_j p_j exp(l_ij), in log space."""
    with np.errstate(divide="ignore"):
        z = log_lik + np.log(np.maximum(p, 0.0))[None, :]
    zmax = z.max(axis=1, keepdims=True)
    return float(np.sum(zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))))


def _status(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return float(line.split()[1]) / 1024.0  # MiB
    return float("nan")


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def worker(args) -> None:
    """Run one JAX solver on the saved problem and print a JSON line."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from numpyro_semipar.npmle import em, mixsqp

    log_lik = jax.device_put(np.load(args.data))
    if args.worker == "jax-mixsqp":
        solve = lambda: mixsqp(log_lik, warn=False)  # noqa: E731
    elif args.worker == "jax-mixsqp-fullH":
        solve = lambda: mixsqp(log_lik, low_rank=False, warn=False)  # noqa: E731
    else:
        solve = lambda: em(log_lik, max_iter=args.em_iter, tol=0.0, warn=False)  # noqa: E731
    t0 = time.perf_counter()
    res = jax.block_until_ready(solve())
    first = time.perf_counter() - t0
    _reset_peak()
    rss0 = _status("VmRSS")
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = jax.block_until_ready(solve())
        times.append(time.perf_counter() - t0)
    peak = _status("VmHWM") - rss0
    warm = float(np.median(times))
    out = {
        "times": times,
        "compile": max(first - warm, 0.0),
        "peak_mib": peak,
        "num_iter": int(res.num_iter),
        "kkt": float(res.kkt_residual),
        "x": np.asarray(res.mixing_weights).tolist(),
    }
    print("RESULT " + json.dumps(out))


def run_jax(solver, data, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", solver, "--data", data]
    cmd += ["--repeats", str(args.repeats), "--em-iter", str(args.em_iter)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=os.path.dirname(HERE))
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{solver} failed:\n{proc.stderr[-2000:]}")


def run_r(log_lik, tmp, args):
    rowmax = log_lik.max(axis=1, keepdims=True)
    path = os.path.join(tmp, "lik.bin")
    np.exp(log_lik - rowmax).astype("<f8").tofile(path)
    script = os.path.join(tmp, "run.R")
    with open(script, "w") as f:
        f.write(R_SCRIPT)
    n, m = log_lik.shape
    proc = subprocess.run(
        ["Rscript", script, path, str(n), str(m), str(args.r_repeats)],
        capture_output=True,
        text=True,
    )
    out = {}
    for line in proc.stdout.splitlines():
        key, _, rest = line.partition(" ")
        out[key] = rest
    if "X" not in out:
        raise RuntimeError(f"R mixsqp failed:\n{proc.stderr[-2000:]}")
    return {
        "times": [float(t) for t in out["TIMES"].split()],
        "compile": 0.0,
        "peak_mib": float(out["PEAK"]),
        "num_iter": -1,
        "kkt": float("nan"),
        "status": out["STATUS"],
        "x": [float(v) for v in out["X"].split()],
    }


def r_available() -> bool:
    if shutil.which("Rscript") is None:
        print("Rscript not found: skipping R mixsqp (apt-get install r-cran-mixsqp)")
        return False
    ok = subprocess.run(
        ["Rscript", "-e", "suppressPackageStartupMessages(library(mixsqp))"],
        capture_output=True,
    )
    if ok.returncode != 0:
        print("R package mixsqp not installed: skipping R mixsqp")
        return False
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000x100,100000x100,100000x200")
    parser.add_argument("--repeats", type=int, default=3, help="warm JAX solves per config")
    parser.add_argument("--r-repeats", type=int, default=1)
    parser.add_argument("--em-iter", type=int, default=300, help="EM steps (fixed count)")
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--solvers", default="jax-mixsqp,jax-mixsqp-fullH,jax-em,R-mixsqp")
    parser.add_argument("--out", default=None, help="write the table as JSON here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return None
    solvers = args.solvers.split(",")
    use_r = "R-mixsqp" in solvers and r_available()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            n, m = (int(v) for v in size.split("x"))
            log_lik = simulate(n, m, args.seed)
            data = os.path.join(tmp, "log_lik.npy")
            np.save(data, log_lik)
            input_mib = log_lik.nbytes / 2**20
            results = {}
            for solver in solvers:
                if solver == "R-mixsqp":
                    if use_r:
                        results[solver] = run_r(log_lik, tmp, args)
                else:
                    results[solver] = run_jax(solver, data, args)
            values = {k: loglik(log_lik, np.asarray(r["x"])) for k, r in results.items()}
            best = max(values.values())
            for solver, r in results.items():
                row = {
                    "size": f"{n}x{m}",
                    "solver": solver,
                    "warm_s": float(np.median(r["times"])),
                    "compile_s": r["compile"],
                    "loglik": values[solver],
                    "rel_gap": (best - values[solver]) / abs(best),
                    "peak_extra_mib": r["peak_mib"],
                    "peak_over_input": (input_mib + r["peak_mib"]) / input_mib,
                    "num_iter": r["num_iter"],
                    "kkt": r["kkt"],
                }
                rows.append(row)
                print(
                    f"{row['size']:>11} {solver:>17}  warm {row['warm_s']:8.3f} s  "
                    f"compile {row['compile_s']:6.2f} s  rel. gap {row['rel_gap']:9.2e}  "
                    f"peak +{row['peak_extra_mib']:7.1f} MiB ({row['peak_over_input']:.2f}x input)"
                    f"  iters {row['num_iter']}",
                    flush=True,
                )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
