"""The spmlex README estimation as a whole process: where each second goes (issue 17).

Each repeat is a fresh interpreter (``python -c``) that imports what a user's script would,
simulates the README data, runs ``ProfileMLE(grid).fit`` (host engine, the default) and prints
timestamps from interpreter start: imports of NumPy, JAX, the package's ``frequentist`` and
``models`` modules, the fit (with its backend compilations counted), and ``summary()``. The
parent reports medians and the whole process's wall time as seen from outside (interpreter
start-up and exit included). spmlex took 13.5-14.4 s for the same estimation as a process
(issue 17; 18.2 s for the fit alone in ../shared/notes/npmle.md).

Usage::

    python benchmarks/bench_readme_process.py [--repeats 5]
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
t["numpy"] = time.perf_counter()
import jax
import jax.numpy as jnp
t["jax"] = time.perf_counter()
from numpyro_semipar.frequentist import ProfileMLE
from numpyro_semipar.models import LinearFactor
t["package"] = time.perf_counter()
compiles = {"count": 0, "seconds": 0.0}
def listen(event, duration, **_):
    if event == "/jax/core/compile/backend_compile_duration":
        compiles["count"] += 1
        compiles["seconds"] += duration
jax.monitoring.register_event_duration_secs_listener(listen)
rng = np.random.default_rng(0)
x = rng.choice([-3.0, 0.0, 5.0], size=2000, p=[0.3, 0.5, 0.2])
y = x[:, None] * np.array([1.0, 1.5, 0.3]) + np.exp([0.0, 0.2, -0.3]) * rng.normal(size=(2000, 3))
grid = np.linspace(-6.0, 6.0, 75)
start = LinearFactor(jnp.ones(2), jnp.zeros(3))
t["data"] = time.perf_counter()
result = ProfileMLE(grid).fit(start, y)
t["fit"] = time.perf_counter()
summary = result.summary()
t["summary"] = time.perf_counter()
out = {k: v - t["start"] for k, v in t.items()}
out.update(compiles=compiles["count"], compile_seconds=compiles["seconds"],
           coef=np.asarray(result.params["coef"]).tolist())
print("RESULT", out)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    runs = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _WORKER],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=os.path.dirname(HERE)),
            check=True,
        )
        run = ast.literal_eval(proc.stdout.strip().splitlines()[-1][7:])
        run["process"] = time.perf_counter() - t0
        runs.append(run)
        print(
            f"  process {run['process']:.2f} s: numpy {run['numpy']:.2f}, jax "
            f"{run['jax'] - run['numpy']:.2f}, package {run['package'] - run['jax']:.2f}, fit "
            f"{run['fit'] - run['data']:.2f} ({run['compiles']} compiles, "
            f"{run['compile_seconds']:.2f} s), summary {run['summary'] - run['fit']:.2f}; "
            f"coef {run['coef']}",
            flush=True,
        )
    print(f"load average at end: {os.getloadavg()}")
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "coef"}
    print(
        f"median: whole process {med['process']:.2f} s; imports {med['package']:.2f} s (numpy "
        f"{med['numpy']:.2f}, jax {med['jax'] - med['numpy']:.2f}, package "
        f"{med['package'] - med['jax']:.2f}); fit {med['fit'] - med['data']:.2f} s "
        f"({med['compiles']:.0f} compiles, {med['compile_seconds']:.2f} s); summary "
        f"{med['summary'] - med['fit']:.2f} s; interpreter start-up and exit "
        f"{med['process'] - med['summary']:.2f} s"
    )


if __name__ == "__main__":
    main()
