"""Benchmark: numpyro_semipar.npmle.mixsqp vs R mixsqp vs EM on Gaussian-location mixtures.

Problem (the issue's spec): three atoms, unit noise, an equally spaced grid of m points over
the data range; log-likelihood matrix n x m. Every solver runs in a fresh subprocess per
configuration so that peak memory is its own: VmHWM from /proc/self/status, reset through
/proc/self/clear_refs after the data are loaded and a first (compiling) solve, with glibc's
mmap threshold pinned (``MALLOC_MMAP_THRESHOLD_``) and ``malloc_trim`` called before the reset
so that memory freed by the first solve is not silently reused. For the JAX solvers the
compiled program's temporary allocation (``memory_analysis().temp_size_in_bytes``, exact
and noise-free) is reported too. Times are wall-clock per solve: "compile" is the first call
minus a warm call (JAX only), "warm" the median of warm calls.

The objective of every solution is recomputed here, in numpy, in log space, and so is its
KKT residual over all grid points (``max_j (d_j - 1)_+`` and ``|d_j - 1|`` on the support).

R mixsqp runs when ``Rscript`` and the R package are installed
(``apt-get install -y --no-install-recommends r-cran-mixsqp``); otherwise it is skipped
with a message. ``R-mixsqp`` uses R's default control (the timing comparison); by default R
replaces L by a truncated SVD computed by irlba from a random start (``tol.svd = 1e-6``)
and checks convergence on the support only. ``R-mixsqp-tight`` solves the exact problem
to tight tolerances (``R_TIGHT_CONTROL``), the accuracy comparison.

``--cold`` measures a user's first call instead (issue 17): for each engine of ``mixsqp``
("auto", which solves small concrete problems on the host, and "jax", the compiled solver),
``--cold-repeats`` fresh processes (64-bit floats left off, as a NumPyro user starts) that
import NumPy, JAX and the package, build the problem, solve it once, then 200 more times warm.
Reported: import time, first solve, the whole process from interpreter start to the first
result, warm median, backend compilations, and the objective (the same optimum is checked).

Usage::

    .venv/bin/python benchmarks/bench_mixsqp.py                     # all three sizes
    .venv/bin/python benchmarks/bench_mixsqp.py --sizes 20000x100 --repeats 2
    .venv/bin/python benchmarks/bench_mixsqp.py --cold --sizes 300x25,2000x100
"""

from __future__ import annotations

import argparse
import ctypes
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
# R mixsqp control for the accuracy comparison: the exact matrix (no truncated SVD), no eps
# added inside the logarithms, tolerances 100x tighter than the defaults and QPs solved to
# the end (maxiter.activeset = m + 1 as in our default; R's is min(20, m + 1); ``m`` is the
# R script's variable). R still tests convergence on the support only.
R_TIGHT_CONTROL = (
    "tol.svd = 0, eps = 0, convtol.sqp = 1e-10, convtol.activeset = 1e-12, "
    "maxiter.activeset = m + 1"
)
# Allocations at least this large are mmapped and returned to the OS when freed (glibc
# otherwise raises the threshold after the first free and keeps later buffers resident), so
# that VmHWM sees the peak of every solve.
MMAP_THRESHOLD = str(1 << 16)

R_SCRIPT = r"""
args <- commandArgs(TRUE)
n <- as.integer(args[2]); m <- as.integer(args[3]); repeats <- as.integer(args[4])
control <- c(list(verbose = FALSE), eval(parse(text = paste0("list(", args[5], ")"))))
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
  times[k] <- system.time(fit <- mixsqp(L, control = control))[["elapsed"]]
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
    """Return freed heap to the OS and reset VmHWM, so the next peak is the solve's own."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc: freed memory stays mapped, peaks read a little high
        print("malloc_trim unavailable (not glibc)", file=sys.stderr)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # no Linux procfs: VmHWM keeps the compilation's peak
        print("cannot reset VmHWM: peak figures include compilation", file=sys.stderr)


def worker(args) -> None:
    """Run one JAX solver on the saved problem and print a JSON line."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from numpyro_semipar.npmle import em, mixsqp
    from numpyro_semipar.npmle._mixsqp import _resolve_rank

    log_lik = jax.device_put(np.load(args.data))
    if args.worker == "jax-mixsqp":
        rank = _resolve_rank("auto", log_lik, None, 1e-6, False)

        def solve(x, low_rank="auto"):
            return mixsqp(x, low_rank=low_rank, warn=False, engine="jax")

    elif args.worker == "jax-mixsqp-fullH":
        rank = False

        def solve(x, low_rank=None):
            return mixsqp(x, low_rank=False, warn=False, engine="jax")

    else:
        rank = None

        def solve(x, low_rank=None):
            return em(x, max_steps=args.em_iter, tol=0.0, warn=False)

    t0 = time.perf_counter()
    res = jax.block_until_ready(solve(log_lik))
    first = time.perf_counter() - t0
    _reset_peak()
    rss0 = _status("VmRSS")
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = jax.block_until_ready(solve(log_lik))
        times.append(time.perf_counter() - t0)
    peak = _status("VmHWM") - rss0
    warm = float(np.median(times))
    # The same solve compiled as one program (the rank "auto" chose, fixed): the temporary
    # buffers XLA assigns besides the input.
    compiled = jax.jit(lambda x: solve(x, low_rank=rank)).lower(log_lik).compile()
    temp_mib = compiled.memory_analysis().temp_size_in_bytes / 2**20
    out = {
        "times": times,
        "compile": max(first - warm, 0.0),
        "peak_mib": peak,
        "temp_mib": temp_mib,
        "num_iter": int(res.num_iter),
        "x": np.asarray(res.mixing_weights).tolist(),
    }
    print("RESULT " + json.dumps(out))


_COLD_WORKER = r"""
import time
start = time.perf_counter()
import sys
import numpy as np
import jax
from numpyro_semipar.npmle import mixsqp
imported = time.perf_counter()
compiles = [0]
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **_: compiles.__setitem__(0, compiles[0] + 1)
    if event == "/jax/core/compile/backend_compile_duration" else None
)
engine, n, m, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(seed)
x = rng.choice([-2.0, 0.5, 3.0], size=n, p=[0.3, 0.5, 0.2]) + rng.normal(size=n)
grid = np.linspace(x.min(), x.max(), m)
log_lik = -0.5 * (x[:, None] - grid[None, :]) ** 2 - 0.5 * np.log(2 * np.pi)
built = time.perf_counter()
res = mixsqp(log_lik, engine=engine)
value = float(res.loglik)
first = time.perf_counter() - built
done = time.perf_counter()
first_compiles = compiles[0]
warm = []
for _ in range(200):
    t = time.perf_counter()
    float(mixsqp(log_lik, engine=engine).loglik)
    warm.append(time.perf_counter() - t)
print("RESULT", {"import": imported - start, "first": first, "to_result": done - start,
    "warm": float(np.median(warm)), "compiles": first_compiles, "loglik": value,
    "converged": bool(res.converged), "num_iter": int(res.num_iter)})
"""


def run_cold(args) -> list[dict]:
    """Fresh processes per engine and size: import to first result, then warm (issue 17)."""
    import ast

    rows = []
    print(f"load average at start: {os.getloadavg()}", flush=True)
    for size in args.sizes.split(","):
        n, m = (int(v) for v in size.split("x"))
        for engine in ("auto", "jax"):
            runs = []
            for _ in range(args.cold_repeats):
                t0 = time.perf_counter()
                proc = subprocess.run(
                    [sys.executable, "-c", _COLD_WORKER, engine, str(n), str(m), str(args.seed)],
                    capture_output=True,
                    text=True,
                    cwd=os.path.dirname(HERE),
                    env=dict(os.environ, PYTHONPATH=os.path.dirname(HERE)),
                )
                line = [v for v in proc.stdout.splitlines() if v.startswith("RESULT ")]
                if not line:
                    raise RuntimeError(f"cold {engine} failed:\n{proc.stderr[-2000:]}")
                run = ast.literal_eval(line[0][7:])
                run["process"] = time.perf_counter() - t0
                runs.append(run)
            med = {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
            spread = max(r["loglik"] for r in runs) - min(r["loglik"] for r in runs)
            row = {"size": size, "engine": engine, **med, "loglik_spread": spread}
            rows.append(row)
            print(
                f"{size:>9} engine={engine:<4} import {med['import']:.3f} s  first solve "
                f"{med['first']:.3f} s  start-to-result {med['to_result']:.3f} s  whole "
                f"process {med['process']:.3f} s  warm {1e3 * med['warm']:.2f} ms  compiles "
                f"{med['compiles']:.0f}  loglik {med['loglik']:.10f}  iters {med['num_iter']:.0f}",
                flush=True,
            )
    print(f"load average at end: {os.getloadavg()}")
    print(
        "| n × m | engine | import (s) | first solve (s) | start to result (s) | warm (ms) "
        "| compiles | loglik |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['size']} | {r['engine']} | {r['import']:.3f} | {r['first']:.3f} | "
            f"{r['to_result']:.3f} | {1e3 * r['warm']:.2f} | {r['compiles']:.0f} | "
            f"{r['loglik']:.10f} |"
        )
    return rows


def run_jax(solver, data, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", solver, "--data", data]
    cmd += ["--repeats", str(args.repeats), "--em-iter", str(args.em_iter)]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=MMAP_THRESHOLD)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=os.path.dirname(HERE), env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{solver} failed:\n{proc.stderr[-2000:]}")


def run_r(lik, tmp, args, control):
    path = os.path.join(tmp, "lik.bin")
    if not os.path.exists(path):
        lik.astype("<f8").tofile(path)
    script = os.path.join(tmp, "run.R")
    with open(script, "w") as f:
        f.write(R_SCRIPT)
    n, m = lik.shape
    proc = subprocess.run(
        ["Rscript", script, path, str(n), str(m), str(args.r_repeats), control],
        capture_output=True,
        text=True,
        env=dict(os.environ, MALLOC_MMAP_THRESHOLD_=MMAP_THRESHOLD),
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
        "temp_mib": float("nan"),
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


def kkt_residual(lik: np.ndarray, p: np.ndarray) -> float:
    """Full KKT residual of the relaxed problem at p (equal row weights), as mixsqp reports it."""
    d = (1.0 / (lik @ p)) @ lik / lik.shape[0]
    return float(max(np.max(np.maximum(d - 1.0, 0.0)), np.max(np.where(p > 0, abs(d - 1.0), 0.0))))


def _fmt(v, spec):
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def markdown_table(rows) -> str:
    """The rows as the Markdown table of benchmarks/RESULTS.md."""
    lines = [
        "| n × m | solver | warm (s) | compile (s) | rel. gap to best | rel. diff. vs "
        "jax-mixsqp | KKT residual | peak growth (MiB) | peak / input | compiled temp / input "
        "| SQP iters |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size'].replace('x', '×')} | {r['solver']} | {r['warm_s']:.3f} | "
            f"{_fmt(r['compile_s'] if r['solver'].startswith('jax') else None, '.2f')} | "
            f"{r['rel_gap']:.1e} | {_fmt(r['rel_diff_vs_jax'], '.1e')} | {r['kkt']:.1e} | "
            f"{r['peak_extra_mib']:.1f} | {r['peak_over_input']:.2f} | "
            f"{_fmt(r['temp_over_input'], '.2f')} | "
            f"{_fmt(r['num_iter'] if r['num_iter'] >= 0 else None, 'd')} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000x100,100000x100,100000x200")
    parser.add_argument("--repeats", type=int, default=3, help="warm JAX solves per config")
    parser.add_argument("--r-repeats", type=int, default=1)
    parser.add_argument("--em-iter", type=int, default=300, help="EM steps (fixed count)")
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument(
        "--solvers", default="jax-mixsqp,jax-mixsqp-fullH,jax-em,R-mixsqp,R-mixsqp-tight"
    )
    parser.add_argument("--out", default=None, help="write the table as JSON here")
    parser.add_argument("--cold", action="store_true", help="first-call benchmark (issue 17)")
    parser.add_argument("--cold-repeats", type=int, default=5)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return None
    if args.cold:
        return run_cold(args)
    solvers = args.solvers.split(",")
    r_controls = {"R-mixsqp": "", "R-mixsqp-tight": R_TIGHT_CONTROL}
    use_r = any(s in r_controls for s in solvers) and r_available()
    rows = []
    for size in args.sizes.split(","):
        n, m = (int(v) for v in size.split("x"))
        log_lik = simulate(n, m, args.seed)
        input_mib = log_lik.nbytes / 2**20
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "log_lik.npy")
            np.save(data, log_lik)
            for solver in solvers:
                if solver in r_controls:
                    if use_r:
                        lik = np.exp(log_lik - log_lik.max(axis=1, keepdims=True))
                        results[solver] = run_r(lik, tmp, args, r_controls[solver])
                        del lik
                else:
                    results[solver] = run_jax(solver, data, args)
        values = {k: loglik(log_lik, np.asarray(r["x"])) for k, r in results.items()}
        lik = np.exp(log_lik - log_lik.max(axis=1, keepdims=True))
        best = max(values.values())
        ours = values.get("jax-mixsqp")
        for solver, r in results.items():
            p = np.asarray(r["x"]) / np.sum(r["x"])
            row = {
                "size": f"{n}x{m}",
                "solver": solver,
                "warm_s": float(np.median(r["times"])),
                "compile_s": r["compile"],
                "loglik": values[solver],
                "rel_gap": (best - values[solver]) / abs(best),
                # Positive: this solver's objective is below jax-mixsqp's.
                "rel_diff_vs_jax": None if ours is None else (ours - values[solver]) / abs(ours),
                "kkt": kkt_residual(lik, p),
                "peak_extra_mib": r["peak_mib"],
                "peak_over_input": (input_mib + r["peak_mib"]) / input_mib,
                "temp_over_input": r["temp_mib"] / input_mib,
                "num_iter": r["num_iter"],
                "status": r.get("status", ""),
            }
            rows.append(row)
            print(
                f"{row['size']:>11} {solver:>17}  warm {row['warm_s']:8.3f} s  "
                f"compile {row['compile_s']:6.2f} s  rel. gap {row['rel_gap']:9.2e}  "
                f"KKT {row['kkt']:8.1e}  peak +{row['peak_extra_mib']:7.1f} MiB "
                f"({row['peak_over_input']:.2f}x input, compiled temp "
                f"{_fmt(row['temp_over_input'], '.2f')}x)  iters {row['num_iter']}",
                flush=True,
            )
        del lik
    print()
    print(markdown_table(rows))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
