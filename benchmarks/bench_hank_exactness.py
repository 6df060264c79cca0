"""Exactness and cost of the HANK surrogate workflow against a long adaptive-Metropolis reference.

On the cheap configuration of the one-asset HANK (``examples/hank.py --cheap-only``: ``eis``,
``phi`` and ``kappa`` fixed, the 7 shock and measurement parameters estimated, 1984Q1–2007Q4,
``T = 200``) this script

1. runs the example's whole pipeline (mode search, multi-proposal exploration on a Dask
   ``LocalCluster``, surrogate training, exact delayed acceptance in its surrogate-transition
   form) through ``examples/hank.py``'s ``main`` on a fresh archive;
2. compares its posterior with the stored reference
   ``benchmarks/data/hank_cheap_reference.json`` (``bench_hank_reference.py``): for every
   parameter ``z = (mean_w − mean_ref) / sqrt(mcse_w² + mcse_ref²)`` (pass: max ``|z| ≤ 4``)
   and the ratio of posterior standard deviations (pass: within 10%);
3. reports exact evaluations per effective sample (smallest bulk ESS over the parameters) and
   wall seconds per effective sample for both: for the workflow, every evaluation the workers
   made (mode search, exploration, sampling, held-out checks) and the pipeline's wall time
   (numba compilation on the workers included, cluster start-up reported apart); for the
   reference, its mode search, warm-up and draws;
4. with ``--speedup``, times the exploration stage alone with 1 and with 2 Dask workers (same
   settings and seeds, fresh archives; the final stages cut short), and checks that both
   archives hold the same positions and values.

Run (``PYTHONPATH=.`` so that this checkout's package is imported):
     PYTHONPATH=. python benchmarks/bench_hank_exactness.py --speedup \\
         --json benchmarks/data/hank_cheap_exactness.json
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import pathlib
import platform
import sys
import tempfile
import time

# One BLAS thread per process (as in the Dask workers); see bench_hank_reference.py.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "benchmarks" / "data" / "hank_cheap_reference.json"

#: The workflow's settings on the cheap configuration: the example's full settings with longer
#: final chains (the surrogate-transition kernel's draws are what the comparison needs).
WORKFLOW_SETTINGS = {"num_chains": 2, "num_warmup": 200, "num_samples": 2500}
#: The speed-up runs: the same mode search and exploration, then the shortest final stages.
SPEEDUP_SETTINGS = {
    "num_warmup": 0,
    "num_samples": 20,
    "num_surrogate_steps": 1,
    "surrogate_options": {"num_epochs": 5},
}


def load_example():
    """Import ``examples/hank.py`` as a module."""
    spec = importlib.util.spec_from_file_location("hank_example", ROOT / "examples" / "hank.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_reference_module():
    spec = importlib.util.spec_from_file_location(
        "bench_hank_reference", ROOT / "benchmarks" / "bench_hank_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_workflow(example, folder: pathlib.Path, workers: int, seed: int, settings: dict):
    """One run of the example's pipeline on a fresh archive; accounting and wall time."""
    argv = ["--cheap-only", "--workers", str(workers), "--seed", str(seed), "--no-plots"]
    argv += ["--out", str(folder / "out"), "--archive", str(folder / "archive")]
    started = time.perf_counter()
    accounting = example.main(argv, settings=settings)
    accounting["total_wall_seconds"] = time.perf_counter() - started
    return accounting


def workflow_draws(out: pathlib.Path) -> dict[str, np.ndarray]:
    """The workflow's posterior draws on the parameters' scale, ``{name: (chains, draws)}``."""
    import xarray as xr

    tree = xr.open_datatree(out / "hank_posterior.nc")
    posterior = tree["posterior"]
    return {name: np.asarray(posterior[name].values) for name in posterior.data_vars}


def compare(workflow: dict, reference: dict) -> dict[str, dict[str, float]]:
    """z statistics of the means and ratios of the standard deviations, by parameter."""
    rows = {}
    for name, ref in reference.items():
        ours = workflow[name]
        se = np.hypot(ours["mcse_mean"], ref["mcse_mean"])
        rows[name] = {
            "mean_workflow": ours["mean"],
            "mean_reference": ref["mean"],
            "z": (ours["mean"] - ref["mean"]) / se,
            "sd_workflow": ours["sd"],
            "sd_reference": ref["sd"],
            "sd_ratio": ours["sd"] / ref["sd"],
            # The sd ratio's own Monte Carlo error, to judge a miss of the 10% band.
            "sd_ratio_mcse": ours["sd"]
            / ref["sd"]
            * np.hypot(ours["mcse_sd"] / ours["sd"], ref["mcse_sd"] / ref["sd"]),
            "ess_bulk_workflow": ours["ess_bulk"],
            "r_hat_workflow": ours["r_hat"],
            # Tails (information, not part of the check).
            **{
                f"{q}_{who}": source[q]
                for q in ("q02", "q98")
                for who, source in (("workflow", ours), ("reference", ref))
                if q in source
            },
        }
    return rows


def archive_rows(path: pathlib.Path):
    from numpyro_semipar.mcmc import CandidateArchive

    positions, values = CandidateArchive(path).load()
    order = np.lexsort(np.column_stack([positions, values]).T[::-1])
    return positions[order], values[order]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", type=pathlib.Path, default=REFERENCE)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-samples", type=int, default=WORKFLOW_SETTINGS["num_samples"])
    parser.add_argument(
        "--batch-candidates",
        type=int,
        default=0,
        help="overdispersed training candidates (surrogate_posterior's num_batch_candidates)",
    )
    parser.add_argument("--speedup", action="store_true", help="time exploration on 1 and 2")
    parser.add_argument(
        "--compare-existing",
        action="store_true",
        help="compare the run already in WORK/workflow (its accounting and draws) instead of "
        "running the workflow again, e.g. against a newer reference",
    )
    parser.add_argument("--skip-workflow", action="store_true", help="only the speed-up runs")
    parser.add_argument("--work", type=pathlib.Path, default=None, help="default: a temp dir")
    parser.add_argument("--json", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    command = "PYTHONPATH=. python benchmarks/bench_hank_exactness.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    work = args.work or pathlib.Path(tempfile.mkdtemp(prefix="hank-exactness-"))
    example = load_example()
    summarise = load_reference_module().summarise
    reference = json.loads(args.reference.read_text())
    record = {
        "command": command,
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_average_start": os.getloadavg(),
            "python": platform.python_version(),
        },
        "reference": str(args.reference.relative_to(ROOT)),
    }

    if not args.skip_workflow:
        settings = {
            **WORKFLOW_SETTINGS,
            "num_samples": args.num_samples,
            "num_batch_candidates": args.batch_candidates,
        }
        if args.compare_existing:
            if args.work is None:
                parser.error("--compare-existing needs --work (the folder of the earlier run)")
            path = work / "workflow" / "out" / "hank_accounting.json"
            accounting = json.loads(path.read_text())
            accounting.setdefault("total_wall_seconds", accounting["wall_seconds"])
        else:
            accounting = run_workflow(example, work / "workflow", args.workers, args.seed, settings)
        summary = summarise(workflow_draws(work / "workflow" / "out"))
        rows = compare(summary, reference["parameters"])
        min_ess = min(v["ess_bulk"] for v in summary.values())
        ref_ess = reference["min_ess_bulk"]
        ref_evaluations = reference["chain_evaluations"] + reference["mode_evaluations"]
        ref_wall = reference["seconds"]["total_wall"]
        evaluations = accounting["host_evaluations_this_run"]
        wall = accounting["wall_seconds"]
        record["workflow"] = {
            "settings": settings,
            "workers": args.workers,
            "seed": args.seed,
            "accounting": {k: v for k, v in accounting.items() if k != "archive"},
            "min_ess_bulk": min_ess,
            "max_r_hat": max(v["r_hat"] for v in summary.values()),
            "parameters": summary,
        }
        record["comparison"] = rows
        record["max_abs_z"] = max(abs(r["z"]) for r in rows.values())
        record["max_sd_deviation"] = max(abs(r["sd_ratio"] - 1.0) for r in rows.values())
        record["exactness_pass"] = bool(
            record["max_abs_z"] <= 4.0 and record["max_sd_deviation"] <= 0.10
        )
        record["cost"] = {
            "workflow_exact_evaluations": evaluations,
            "workflow_evaluations_per_ess": evaluations / min_ess,
            "workflow_wall_seconds": wall,
            "workflow_wall_seconds_per_ess": wall / min_ess,
            "workflow_cluster_start_and_outputs_seconds": accounting["total_wall_seconds"] - wall,
            "reference_exact_evaluations": ref_evaluations,
            "reference_evaluations_per_ess": ref_evaluations / ref_ess,
            "reference_wall_seconds": ref_wall,
            "reference_wall_seconds_per_ess": ref_wall / ref_ess,
        }
        record["cost"]["evaluations_per_ess_ratio"] = (
            record["cost"]["reference_evaluations_per_ess"]
            / record["cost"]["workflow_evaluations_per_ess"]
        )
        record["cost"]["wall_per_ess_ratio"] = (
            record["cost"]["reference_wall_seconds_per_ess"]
            / record["cost"]["workflow_wall_seconds_per_ess"]
        )
        print(json.dumps({k: record[k] for k in ("comparison", "cost")}, indent=2))
        print(
            f"max |z| = {record['max_abs_z']:.2f}, max |sd ratio - 1| = "
            f"{record['max_sd_deviation']:.3f}: {'PASS' if record['exactness_pass'] else 'FAIL'}"
        )

    if args.speedup:
        runs = {}
        for workers in (1, 2):
            folder = work / f"speedup-{workers}"
            load = os.getloadavg()
            accounting = run_workflow(example, folder, workers, args.seed, SPEEDUP_SETTINGS)
            runs[workers] = {
                "exploration_seconds": accounting["exploration_seconds"],
                "mode_seconds": accounting["mode_seconds"],
                "num_exact_evaluations_exploration": accounting[
                    "num_exact_evaluations_exploration"
                ],
                "load_average_before": load,
                "load_average_after": os.getloadavg(),
            }
        one, two = (
            archive_rows(work / "speedup-1" / "archive"),
            archive_rows(work / "speedup-2" / "archive"),
        )
        same_positions = one[0].shape == two[0].shape and np.array_equal(one[0], two[0])
        same_support = same_positions and np.array_equal(np.isfinite(one[1]), np.isfinite(two[1]))
        finite = np.isfinite(one[1]) if same_support else None
        record["speedup"] = {
            "settings": SPEEDUP_SETTINGS,
            "runs": runs,
            "exploration_speedup_1_to_2_workers": runs[1]["exploration_seconds"]
            / runs[2]["exploration_seconds"],
            "archives_same_positions": bool(same_positions),
            "archives_same_support": bool(same_support),
            "archives_max_relative_value_difference": float(
                np.max(np.abs(one[1] - two[1])[finite] / np.abs(one[1][finite]), initial=0.0)
            )
            if same_support
            else None,
        }
        print(json.dumps(record["speedup"], indent=2))
    record["machine"]["load_average_end"] = os.getloadavg()
    if args.json is not None:
        args.json.write_text(json.dumps(record, indent=2, default=float))
    return record


if __name__ == "__main__":
    main()
