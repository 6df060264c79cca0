"""Benchmark: import cost of each subpackage against ``import numpyro``.

Every statement runs in a fresh interpreter, several times, and two figures are kept per run:

- ``importtime``: the sum of the top-level cumulative times that ``python -X importtime``
  prints (microseconds of wall time spent importing, interpreter start-up excluded);
- ``CPU s``: ``time.process_time()`` around the statement in the child process.

The table shows the median (and, for importtime, the minimum: wall time on a shared machine is
noisy upwards) over the repeats and the ratio to ``import numpyro`` (the issue's
target: ``import numpyro_semipar.frequentist`` at most 1.3 times ``import numpyro``). The rows
``from ... import X`` show what a user pays once a name is used (the lazy namespace then
loads the defining module and its dependencies).

Usage::

    .venv/bin/python benchmarks/bench_imports.py              # 7 fresh processes per row
    .venv/bin/python benchmarks/bench_imports.py --repeats 5
    .venv/bin/python benchmarks/bench_imports.py --repo /path/to/older/checkout
"""

from __future__ import annotations

import argparse
import pathlib
import re
import statistics
import subprocess
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
STATEMENTS = (
    "import numpyro",
    "import numpyro_semipar.frequentist",
    "import numpyro_semipar.mcmc",
    "import numpyro_semipar.npmle",
    "import numpyro_semipar.distributions",
    "from numpyro_semipar.frequentist import SMM",
    "from numpyro_semipar.frequentist import ProfileMLE",
    "from numpyro_semipar.mcmc import RandomWalkMH",
    "from numpyro_semipar.npmle import mixsqp",
    "from numpyro_semipar.distributions import ProfiledMixture",
)
_TOP_LEVEL = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| (\S.*)$")


def measure(statement: str, repo: pathlib.Path = REPO_ROOT) -> tuple[float, float]:
    """(importtime seconds, CPU seconds) of one fresh-process run of ``statement``."""
    code = f"import time\nt0 = time.process_time()\n{statement}\nprint(time.process_time() - t0)"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        cwd=repo,
    )
    if out.returncode != 0:
        lines = [line for line in out.stderr.splitlines() if not line.startswith("import time:")]
        raise RuntimeError(f"{statement!r} failed in {repo}:\n" + "\n".join(lines[-20:]))
    # Top-level entries have no indentation before the module name; `time` itself is excluded
    # (it is imported by the timing harness, before the statement).
    total_us = sum(
        int(m.group(1))
        for line in out.stderr.splitlines()
        if (m := _TOP_LEVEL.match(line)) and m.group(2) != "time"
    )
    return total_us / 1e6, float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="fresh processes per row")
    parser.add_argument(
        "--repo",
        type=pathlib.Path,
        default=REPO_ROOT,
        help="checkout whose package is imported (e.g. an older one, for before/after)",
    )
    args = parser.parse_args(argv)
    rows = []
    for statement in STATEMENTS:
        runs = [measure(statement, args.repo) for _ in range(args.repeats)]
        imports, cpus = [r[0] for r in runs], [r[1] for r in runs]
        rows.append((statement, statistics.median(imports), min(imports), statistics.median(cpus)))
    base = rows[0]
    print(f"{args.repeats} fresh processes per row; ratios to `import numpyro`")
    print(
        "| statement | importtime median (s) | ratio | importtime min (s) | ratio "
        "| CPU s median | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for statement, median, minimum, cpu in rows:
        print(
            f"| `{statement}` | {median:.2f} | {median / base[1]:.2f} | {minimum:.2f} "
            f"| {minimum / base[2]:.2f} | {cpu:.2f} | {cpu / base[3]:.2f} |"
        )


if __name__ == "__main__":
    main()
