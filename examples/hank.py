"""One-asset HANK on US data through the surrogate workflow, evaluations spread over Dask.

The model is sequence-jacobian's one-asset HANK (``numpyro_semipar.models.hank``); its log
posterior is a host (NumPy/numba) function of 10 parameters: the elasticity of intertemporal
substitution ``eis`` (changes the steady state and the household Jacobian: seconds per
evaluation), the Taylor coefficient and NKPC slope (re-solve the general-equilibrium Jacobian
from the cached household Jacobian), shock persistences and sizes and measurement errors
(cheap). The run:

1. **Mode**: scipy BFGS with forward-difference gradients, each gradient one parallel batch of
   ``d + 1`` evaluations, all archived (``ARCHIVE/mode``);
2. **exploration**: multi-proposal MH on the exact posterior, every candidate archived, each
   iteration's proposals evaluated in parallel on the Dask cluster;
3. **surrogate** training, then **exact delayed acceptance** (surrogate transition), all through
   :func:`numpyro_semipar.mcmc.surrogate_posterior`.

Kill it at any point and run the same command again: everything archived is looked up, not
re-evaluated. Progress (evaluations done, rate, ETA) goes to stderr.

Run: python examples/hank.py --out examples/out/hank                 (full settings; see docs)
     python examples/hank.py --quick --workers 2 --out /tmp/hank       (smallest setting)
     python examples/hank.py --scheduler tcp://host:8786 --archive runs/hank ...
     python examples/hank.py --measure-costs                           (one cheap, one expensive)
     python examples/hank.py --cheap-only --out /tmp/hank_cheap        (eis, phi, kappa fixed)
"""

import argparse
import json
import os
import pathlib
import sys
import time

# One BLAS thread per process, as Dask gives its workers: the likelihood's dense Cholesky
# (3 x 96 observations) and the GE Jacobian's solves are small, and a multithreaded OpenBLAS on
# a loaded machine made a cheap evaluation in this process 0.12 s instead of 2.5 ms. Set before
# NumPy loads (it matters with --workers 0 and --measure-costs).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

#: Parameters held at HANK_START by --fix-household and by --cheap-only.
FIXED_BY_OPTION = {"fix_household": ("eis",), "cheap_only": ("eis", "phi", "kappa")}

SETTINGS = {
    "quick": {
        "sample": ("2002Q1", "2007Q4"),
        "horizon": 40,
        "mode_steps": 1,
        "num_proposals": 2,
        "num_exploration_warmup": 2,
        # More draws than parameters: the surrogate's Gaussian baseline is fitted to them.
        "num_exploration": 12,
        "num_warmup": 4,
        "num_samples": 8,
        "num_surrogate_steps": 5,
        "holdout_fraction": 0.25,
        "num_chains": 1,
        "surrogate_options": {"num_epochs": 20, "hidden_sizes": (16, 16), "batch_size": 16},
        # A dozen draws of a stuck 10-D chain have no full-rank covariance for the Gaussian
        # baseline: the quick run trains on the log density itself (the seed's recipe).
        "surrogate_baseline": None,
        "num_batch_candidates": 0,
    },
    "full": {
        "sample": ("1984Q1", "2007Q4"),
        "horizon": 200,
        "mode_steps": 30,
        "num_proposals": 8,
        "num_exploration_warmup": 100,
        "num_exploration": 150,
        "num_warmup": 200,
        "num_samples": 1000,
        "num_surrogate_steps": 50,
        "holdout_fraction": 0.2,
        "num_chains": 2,
        "surrogate_options": {"activation": "silu", "num_epochs": 300},
        "surrogate_baseline": "gaussian",
        # Overdispersed training candidates drawn around the exploration draws (one parallel
        # batch; see surrogate_posterior): none by default.
        "num_batch_candidates": 0,
    },
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smallest setting (tests, CI)")
    parser.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="LocalCluster workers (default: the number of cores; 0: evaluate in this process)",
    )
    parser.add_argument("--archive", type=pathlib.Path, default=None, help="default OUT/archive")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("examples/out/hank"))
    parser.add_argument("--seed", type=int, default=0)
    fixing = parser.add_mutually_exclusive_group()
    fixing.add_argument(
        "--fix-household",
        action="store_true",
        help="fix eis: phi, kappa (GE Jacobian re-solved) and the cheap parameters move",
    )
    fixing.add_argument(
        "--cheap-only",
        action="store_true",
        help="fix eis, phi and kappa: only shock and measurement parameters move (all "
        "Jacobians cached; the configuration of the exactness benchmark)",
    )
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument(
        "--measure-costs", action="store_true", help="time one cheap and one expensive evaluation"
    )
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 0:
        parser.error(f"--workers must be 0 or more, got {args.workers}")
    return args


def make_posterior(settings, fix_household=False, cheap_only=False):
    """The log posterior of the settings' sample and horizon, with the options' parameters fixed.

    ``fix_household`` fixes ``eis``; ``cheap_only`` fixes ``eis``, ``phi`` and ``kappa`` (at
    ``HANK_START``), leaving the 7 shock and measurement-error parameters.
    """
    from numpyro_semipar.models.hank import HANK_START, HankPosterior, load_hank_data

    if fix_household and cheap_only:
        raise ValueError("fix_household and cheap_only are exclusive; cheap_only also fixes eis")
    data, dates = load_hank_data(*settings["sample"])
    names = FIXED_BY_OPTION["cheap_only" if cheap_only else "fix_household"]
    fixed = {n: HANK_START[n] for n in names} if (fix_household or cheap_only) else None
    return HankPosterior(data, horizon=settings["horizon"], fixed=fixed), dates


class Progress:
    """Evaluations done, rate and ETA, printed to stderr at most every few seconds."""

    def __init__(self, expected: int, every: float = 5.0):
        self.expected, self.every = int(expected), every
        self.done = 0
        self.started = time.perf_counter()
        self._last = -np.inf

    def add(self, n: int, stage: str) -> None:
        self.done += int(n)
        now = time.perf_counter()
        if n and now - self._last >= self.every:
            self._last = now
            elapsed = now - self.started
            rate = self.done / elapsed if elapsed > 0 else np.nan
            left = max(self.expected - self.done, 0)
            eta = left / rate if rate > 0 else np.nan
            print(
                f"[{stage}] exact evaluations this run: {self.done} (about {self.expected} "
                f"expected); {rate:.2f}/s; ETA {eta / 60:.1f} min",
                file=sys.stderr,
                flush=True,
            )


def progress_archive(path, progress, stage):
    """A CandidateArchive that reports every batch it has to evaluate (archive misses)."""
    from numpyro_semipar.mcmc import CandidateArchive

    class ProgressArchive(CandidateArchive):
        def evaluate(self, logdensity_fn, positions, **kwargs):
            before = len(self)
            values = super().evaluate(logdensity_fn, positions, **kwargs)
            progress.add(len(self) - before, stage() if callable(stage) else stage)
            return values

    return ProgressArchive(path)


def find_host_mode(posterior, z0, archive, executor, max_steps):
    """BFGS on the host log posterior, each gradient one parallel archived batch.

    Forward differences (step 1e-4 in the unconstrained space): ``d + 1`` evaluations per
    gradient, all independent, all archived, so a killed search replays from the archive.
    """
    from scipy import optimize

    d = z0.shape[0]
    step = 1e-4

    def value_and_gradient(z):
        batch = np.vstack([z, z + step * np.eye(d)])
        values = archive.evaluate(posterior, batch, executor=executor)
        if not np.all(np.isfinite(values)):
            # Outside the support: a large value with a gradient pointing back to the start.
            return 1e10, z - z0
        return -values[0], -(values[1:] - values[0]) / step

    result = optimize.minimize(
        value_and_gradient, z0, jac=True, method="BFGS", options={"maxiter": int(max_steps)}
    )
    covariance = np.asarray(result.hess_inv, dtype=np.float64)
    covariance = 0.5 * (covariance + covariance.T)
    # Few BFGS steps leave hess_inv near its identity start: keep it positive and moderate.
    eigenvalues, vectors = np.linalg.eigh(covariance)
    covariance = (vectors * np.clip(eigenvalues, 1e-4, 0.25)) @ vectors.T
    return result.x, covariance, result


def start_executor(args):
    """A Dask client: on the given scheduler, or on a LocalCluster started here."""
    if args.workers == 0 and args.scheduler is None:
        return None, None
    from dask.distributed import Client, LocalCluster

    if args.scheduler:
        return Client(args.scheduler), None
    workers = args.workers or os.cpu_count() or 1
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    return Client(cluster), cluster


def _worker_counters():
    from numpyro_semipar.models.hank import COUNTERS

    return dict(COUNTERS)


def _warm_up(posterior, z):
    # The first call compiles sequence-jacobian's numba kernels (tens of seconds per process).
    return posterior(z)


def host_counters(client):
    """Evaluation counters summed over the workers (or this process without a cluster)."""
    if client is None:
        return _worker_counters()
    per_worker = client.run(_worker_counters)
    total = {}
    for counters in per_worker.values():
        for key, value in counters.items():
            total[key] = total.get(key, 0) + value
    return total


def measure_costs(settings, repeats=5):
    """Seconds for one cheap evaluation (shock parameters move) and one expensive one (eis)."""
    from numpyro_semipar.models.hank import SECONDS

    posterior, _ = make_posterior(settings, fix_household=False)
    z = posterior.start()
    started = time.perf_counter()
    posterior(z)
    first = time.perf_counter() - started
    rng = np.random.default_rng(0)
    costs = {"cheap": [], "policy": [], "expensive": []}
    parts = {}  # where an expensive evaluation spends its time
    names = posterior.names
    for _ in range(repeats):
        for kind, moved in (
            ("cheap", ["rho_rstar", "rho_Z", "sigma_rstar", "sigma_Z", "me_dY"]),
            ("policy", ["phi", "kappa"]),
            ("expensive", ["eis"]),
        ):
            point = z.copy()
            for name in moved:
                point[names.index(name)] += 0.05 * rng.standard_normal()
            before = dict(SECONDS)
            started = time.perf_counter()
            posterior(point)
            costs[kind].append(time.perf_counter() - started)
            if kind == "expensive":
                for part, seconds in SECONDS.items():
                    parts.setdefault(part, []).append(seconds - before[part])
    return {
        "first_call_seconds": first,
        **{f"{k}_seconds": float(np.median(v)) for k, v in costs.items()},
        "expensive_parts_seconds": {k: float(np.median(v)) for k, v in parts.items()},
        "repeats": repeats,
        "horizon": settings["horizon"],
        "sample": list(settings["sample"]),
    }


def constrained_tree(result, posterior):
    """Posterior draws on the parameters' own scale as an ArviZ DataTree."""
    import arviz as az

    from numpyro_semipar.models.hank import to_parameters

    x = np.asarray(result.datatree["posterior"]["x"].values)
    chains, draws, _ = x.shape
    values = {name: np.empty((chains, draws)) for name in posterior.names}
    for c in range(chains):
        for i in range(draws):
            theta, _ = to_parameters(posterior.full_vector(x[c, i]))
            for name in posterior.names:
                values[name][c, i] = theta[name]
    stats = result.datatree["sample_stats"]
    tree = az.from_dict(
        {
            "posterior": values,
            "sample_stats": {
                "lp": np.asarray(stats["lp"].values),
                "num_evaluations": np.asarray(stats["num_evaluations"].values),
            },
        }
    )
    tree.attrs.update(
        {k: v for k, v in result.diagnostics.items() if isinstance(v, (int, float, str))}
    )
    return tree


def surrogate_fit(result, archive_path):
    """Surrogate vs exact log posterior on the held-out proposals (never used in training)."""
    import jax
    import jax.numpy as jnp

    from numpyro_semipar.mcmc import CandidateArchive

    positions, exact = CandidateArchive(archive_path / "heldout").load(finite_only=True)
    if positions.shape[0] == 0:
        return positions, exact, exact, {"num_heldout": 0}
    predicted = np.asarray(
        jax.jit(jax.vmap(result.surrogate.flat_logdensity))(jnp.asarray(positions)), np.float64
    )
    error = predicted - exact
    fit = {
        "num_heldout": int(positions.shape[0]),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "r2": float(1.0 - np.sum(error**2) / max(np.sum((exact - exact.mean()) ** 2), 1e-300)),
    }
    return positions, exact, predicted, fit


def write_outputs(result, posterior, out, accounting, args):
    """DataTree (netcdf), posterior table, plots, surrogate fit and the accounting."""
    import arviz as az

    out.mkdir(parents=True, exist_ok=True)
    tree = constrained_tree(result, posterior)
    tree.to_netcdf(out / "hank_posterior.nc")
    table = az.summary(tree)
    table.to_csv(out / "hank_posterior_table.csv")
    print(table.to_string())
    _, exact, predicted, fit = surrogate_fit(result, accounting["archive"])
    accounting["surrogate_fit_heldout"] = fit
    accounting["archive"] = str(accounting["archive"])
    (out / "hank_accounting.json").write_text(json.dumps(accounting, indent=2, default=float))
    print(json.dumps(accounting, indent=2, default=float))
    if not args.no_plots:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        az.plot_trace_dist(tree, compact=False).savefig(out / "hank_trace.png")
        az.plot_forest(tree, combined=True).savefig(out / "hank_forest.png")
        figure, axis = plt.subplots(figsize=(4, 4))
        axis.scatter(exact, predicted, s=8)
        low, high = np.min(exact), np.max(exact)
        axis.plot([low, high], [low, high], color="k", lw=0.8)
        axis.set(
            xlabel="exact log posterior",
            ylabel="surrogate",
            title=f"held-out proposals (RMSE {fit.get('rmse', np.nan):.2f})",
        )
        figure.tight_layout()
        figure.savefig(out / "hank_surrogate_fit.png")
        plt.close(figure)
    print(f"outputs written to {out}")


def expected_evaluations(settings, dimension):
    s = settings
    explore = s["num_chains"] * (s["num_exploration_warmup"] + s["num_exploration"])
    # One held-out check per proposal of each held-out exploration step.
    heldout = int(np.ceil(s["holdout_fraction"] * s["num_exploration"])) * s["num_chains"]
    heldout *= s["num_proposals"]
    sampling = s["num_chains"] * (s["num_warmup"] + s["num_samples"])
    mode = s["mode_steps"] * 3 * (dimension + 1)
    return mode + explore * s["num_proposals"] + s["num_batch_candidates"] + sampling + heldout


def main(argv=None, settings=None):
    """Run the example; ``settings`` overrides entries of the chosen SETTINGS (benchmarks)."""
    args = parse_args(argv)
    unknown = set(settings or {}) - set(SETTINGS["full"])
    if unknown:
        raise ValueError(f"settings names unknown entries: {sorted(unknown)}")
    settings = {**SETTINGS["quick" if args.quick else "full"], **(settings or {})}
    if args.measure_costs:
        costs = measure_costs(settings)
        print(json.dumps(costs, indent=2))
        return costs

    import jax

    from numpyro_semipar.mcmc import surrogate_posterior

    posterior, dates = make_posterior(
        settings, fix_household=args.fix_household, cheap_only=args.cheap_only
    )
    archive_path = args.archive or args.out / "archive"
    archive_path.mkdir(parents=True, exist_ok=True)
    print(
        f"HANK: {posterior.dimension} parameters, {dates[0]}–{dates[-1]}, T={posterior.horizon}; "
        f"archive {archive_path}",
        file=sys.stderr,
    )
    client, cluster = start_executor(args)
    try:
        started = time.perf_counter()
        z0 = posterior.start()
        if client is not None:
            client.run(_warm_up, posterior, z0)
        warm_seconds = time.perf_counter() - started
        counters_before = host_counters(client)
        progress = Progress(expected_evaluations(settings, posterior.dimension))
        stage = {"name": "mode"}
        mode_archive = progress_archive(archive_path / "mode", progress, "mode")
        rows_before = {
            "main": len(progress_archive(archive_path, progress, "")),
            "mode": len(mode_archive),
            "heldout": len(progress_archive(archive_path / "heldout", progress, "")),
        }
        mode_started = time.perf_counter()
        z_mode, covariance, mode_result = find_host_mode(
            posterior, z0, mode_archive, client, settings["mode_steps"]
        )
        mode_seconds = time.perf_counter() - mode_started
        stage["name"] = "exploration / sampling"
        archive = progress_archive(archive_path, progress, lambda: stage["name"])
        result = surrogate_posterior(
            posterior,
            rng_key=jax.random.key(args.seed),
            init_params=z_mode,
            covariance=covariance,
            jax_logdensity=False,
            names=posterior.names,
            archive=archive,
            executor=client,
            exploration="multi_proposal",
            num_proposals=settings["num_proposals"],
            num_exploration_warmup=settings["num_exploration_warmup"],
            num_exploration=settings["num_exploration"],
            num_warmup=settings["num_warmup"],
            num_samples=settings["num_samples"],
            num_chains=settings["num_chains"],
            num_surrogate_steps=settings["num_surrogate_steps"],
            holdout_fraction=settings["holdout_fraction"],
            surrogate_options=settings["surrogate_options"],
            surrogate_baseline=settings["surrogate_baseline"],
            num_batch_candidates=settings["num_batch_candidates"],
            progress_bar=False,
            check_convergence=not args.quick,
        )
        counters_after = host_counters(client)
        from numpyro_semipar.mcmc import CandidateArchive

        rows_after = {
            "main": len(CandidateArchive(archive_path)),
            "mode": len(CandidateArchive(archive_path / "mode")),
            "heldout": len(CandidateArchive(archive_path / "heldout")),
        }
        accounting = {
            "archive": archive_path,
            "workers": 0 if client is None else len(client.scheduler_info()["workers"]),
            "warm_up_seconds": warm_seconds,
            "mode_seconds": mode_seconds,
            "mode_steps": int(mode_result.nit),
            "wall_seconds": time.perf_counter() - started,
            "archive_rows_before": rows_before,
            "archive_rows_after": rows_after,
            "new_archive_rows": sum(rows_after.values()) - sum(rows_before.values()),
            "host_evaluations_this_run": counters_after["evaluations"]
            - counters_before["evaluations"],
            "host_counters_this_run": {
                k: counters_after[k] - counters_before.get(k, 0) for k in counters_after
            },
            **{
                k: result.diagnostics[k]
                for k in (
                    "num_exact_evaluations_exploration",
                    "num_exact_evaluations_sampling",
                    "num_exact_evaluations_diagnostics",
                    "num_exact_evaluations",
                    "num_training_candidates",
                    "validation_rmse",
                    "validation_r2",
                    "wrong_accept",
                    "wrong_reject",
                    "min_ess",
                    "max_rhat",
                    "exact_evaluations_per_ess",
                    "exact_evaluations_per_ess_with_exploration",
                    "exploration_evaluations_per_ess",
                    "exploration_seconds",
                    "exploration_cpu_seconds",
                    "training_seconds",
                    "setup_seconds",
                    "sampling_seconds",
                    "heldout_error_sd",
                )
            },
        }
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    write_outputs(result, posterior, args.out, accounting, args)
    return accounting


if __name__ == "__main__":
    main()
