"""SuJu's first fit as a whole process: imports, compilation and fit (issue 17).

Each repeat is a fresh interpreter that imports NumPy, JAX and ``numpyro_semipar.frequentist``,
simulates the ``bench_panel.py`` design at N = 100, T = 20 (three groups, two factors), fits
``SuJu(3, 2, c=0.5)`` once and reports the seconds of each part and the number of XLA
compilations (a count that, unlike the seconds, does not depend on the machine's load).
``--repo`` runs another checkout (e.g. an older commit in a worktree) the same way, so that
two versions can be compared in one session.

Run: python benchmarks/bench_suju_cold.py [--repeats 5] [--repo PATH]
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

_WORKER = r"""
import time
t = {"start": time.perf_counter()}
import numpy as np
import jax
jax.config.update("jax_enable_x64", True)
t["jax"] = time.perf_counter()
from numpyro_semipar.frequentist import SuJu
t["package"] = time.perf_counter()
compiles = {"count": 0, "seconds": 0.0}
def listen(event, duration, **_):
    if event == "/jax/core/compile/backend_compile_duration":
        compiles["count"] += 1
        compiles["seconds"] += duration
jax.monitoring.register_event_duration_secs_listener(listen)
sys_path = __import__("sys").path
sys_path.insert(0, BENCH_DIR)
from bench_panel import ALPHA, score, simulate
y, x, groups = simulate(100, 20, 0)
t["data"] = time.perf_counter()
res = SuJu(3, 2, c=0.5, progress_bar=False).fit(y, x, rng_key=jax.random.key(0))
t["fit"] = time.perf_counter()
rate, rmse = score(np.asarray(res.params["alpha"]), res.groups, groups)
out = {k: v - t["start"] for k, v in t.items()}
out.update(compiles=compiles["count"], compile_seconds=compiles["seconds"])
out.update(rate=float(rate), rmse=float(rmse))
print("RESULT", out)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--repo", default=os.path.dirname(HERE), help="checkout to import")
    args = parser.parse_args(argv)
    print(f"repo {args.repo}; load average at start: {os.getloadavg()}", flush=True)
    worker = _WORKER.replace("BENCH_DIR", repr(HERE))
    runs = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", worker],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=args.repo),
            check=True,
            cwd=args.repo,
        )
        run = ast.literal_eval(proc.stdout.strip().splitlines()[-1][7:])
        run["process"] = time.perf_counter() - t0
        runs.append(run)
        print(
            f"  process {run['process']:.2f} s: imports {run['package']:.2f}, fit "
            f"{run['fit'] - run['data']:.2f} ({run['compiles']} compiles, "
            f"{run['compile_seconds']:.2f} s); classified {run['rate']:.3f}, "
            f"RMSE {run['rmse']:.4f}",
            flush=True,
        )
    print(f"load average at end: {os.getloadavg()}")
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(
        f"median: whole process {med['process']:.2f} s; imports {med['package']:.2f} s; fit "
        f"{med['fit'] - med['data']:.2f} s ({med['compiles']:.0f} compiles, "
        f"{med['compile_seconds']:.2f} s)"
    )


if __name__ == "__main__":
    main()
