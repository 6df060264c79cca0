"""Run every benchmark script in this folder (``make bench``).

Each script prints its table and appends nothing by itself: copy the figures into RESULTS.md
with the machine and date.
"""

import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).parent

if __name__ == "__main__":
    scripts = sorted(p for p in HERE.glob("bench_*.py"))
    failed = []
    for script in scripts:
        print(f"\n=== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(script.name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")
