"""The `make demo` entry point: runs each showcase example with its default settings.

Each example is also runnable on its own (see `examples/` and the docs).
"""

import importlib.util
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).parent

# (script, arguments): later issues add their showcase here.
DEMOS = [
    ("regression.py", ["--num-obs", "500"]),
    ("linear_factor.py", ["--bayes-obs", "300", "--num-warmup", "150", "--num-samples", "150"]),
    ("evans_smm.py", ["--num-warmup", "300", "--num-samples", "600"]),
]


def run(script: str, argv: list[str]) -> None:
    spec = importlib.util.spec_from_file_location(script.removesuffix(".py"), HERE / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    start = time.perf_counter()
    print(f"\n{'#' * 78}\n# {script} {' '.join(argv)}\n{'#' * 78}")
    module.main(argv)
    print(f"[{script} finished in {time.perf_counter() - start:.1f} s]")


if __name__ == "__main__":
    import numpyro

    numpyro.enable_x64()
    selected = sys.argv[1:]
    for script, argv in DEMOS:
        if not selected or script in selected:
            run(script, argv)
