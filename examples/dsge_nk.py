"""An–Schorfheide New Keynesian DSGE on US data (1984Q1–2007Q4), estimated with every kernel.

Runs the posterior mode and Hessian, adaptive random-walk MH, multi-proposal MH, the surrogate
workflow (exploration → archive → MLP surrogate → delayed acceptance, exact) and plain surrogate
MH (approximate), and NUTS; compares posterior means and sds with a long NUTS reference run
(``benchmarks/data/dsge_nk_reference.json``, made by ``--reference``), ESS per second, exact
likelihood evaluations, wall time and the surrogate's wrong-accept/reject rates. Writes the table
to stdout and to a marked section of ``benchmarks/RESULTS.md`` (full settings only) and saves
trace, forest and pair plots.

Run: python examples/dsge_nk.py --out examples/out           (full settings, ≤ 10 min on 2 cores)
     python examples/dsge_nk.py --quick --out /tmp/dsge      (smoke test, < 1 min)
     python examples/dsge_nk.py --reference                  (long NUTS reference run)
"""

import argparse
import json
import os
import pathlib
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "benchmarks" / "data" / "dsge_nk_reference.json"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SAMPLE = ("1984Q1", "2007Q4")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings (smoke test)")
    parser.add_argument("--reference", action="store_true", help="long NUTS reference run only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-chains", type=int, default=None, help="default 2 (quick: 1)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("examples/out"))
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    return parser.parse_args(argv)


class Problem:
    """The model, data, unconstrained log density and the map back to parameters."""

    def __init__(self, quick=False):
        import jax
        import jax.numpy as jnp
        from numpyro.infer import init_to_value
        from numpyro.infer.util import initialize_model

        from numpyro_semipar.models import dsge

        self.dsge = dsge
        start, end = ("1998Q1", "2007Q4") if quick else SAMPLE
        y, self.dates = dsge.load_us_data(start, end)
        self.y = jnp.asarray(y)
        self.model = dsge.an_schorfheide_model
        self.names = list(dsge.PARAM_NAMES)
        info = initialize_model(
            jax.random.key(0),
            self.model,
            model_args=(self.y,),
            init_strategy=init_to_value(values=dsge.POSTERIOR_BULK_START),
            dynamic_args=True,
            validate_grad=False,
        )
        self.z0 = info.param_info.z
        potential = info.potential_fn(self.y)
        self.logdensity = jax.jit(lambda z: -potential(z))
        self._postprocess = jax.jit(jax.vmap(info.postprocess_fn(self.y)))

    def constrained(self, z_draws):
        """Map a dict of unconstrained draws (leading axis) to a (n, 13) array of parameters."""
        values = self._postprocess(z_draws)
        return np.column_stack([np.asarray(values[n]).reshape(-1) for n in self.names])


def posterior_mode(problem):
    """BFGS mode of the unconstrained log posterior, the Hessian there and Laplace moments.

    :func:`numpyro_semipar.frequentist.find_mode` with scipy's BFGS driving the jitted gradient
    and the Hessian by central differences of that gradient (26 more calls): one compiled
    program in all. optimistix's compiled BFGS loop and an exact ``jax.hessian`` through the
    solver and the filter would each take longer to compile than the whole search runs.
    """
    import jax

    from numpyro_semipar.frequentist import find_mode

    started = time.perf_counter()
    result = find_mode(
        problem.logdensity,
        problem.z0,
        rtol=1e-8,
        atol=1e-8,
        max_steps=500,
        hessian="finite-difference",
        optimizer="scipy",
        warn=False,
    )
    seconds = time.perf_counter() - started
    flat, unravel = jax.flatten_util.ravel_pytree(result.position)
    # Laplace approximation in the unconstrained space, mapped to the parameters by simulation.
    rng = np.random.default_rng(0)
    draws = rng.multivariate_normal(np.asarray(flat), result.covariance, size=4000)
    theta = problem.constrained(jax.vmap(unravel)(draws))
    position = jax.tree.map(jax.numpy.asarray, result.position)
    return {
        "position": position,
        "logdensity": result.logdensity,
        "num_steps": result.num_steps,
        "converged": result.converged,
        "theta_mode": problem.constrained(jax.tree.map(lambda v: v[None], position))[0],
        "laplace_mean": theta.mean(axis=0),
        "laplace_sd": theta.std(axis=0),
        "seconds": seconds,
        "covariance": result.covariance,
    }


def laplace_result(problem, mode):
    """The posterior mode with its Laplace covariance, as a frequentist-style result.

    The inverse Hessian lives in the unconstrained space; the delta method (central
    differences of the constraining transform, one batched call) maps it to the parameters.
    """
    import jax

    from numpyro_semipar.reporting import EstimationResult

    flat, unravel = jax.flatten_util.ravel_pytree(mode["position"])
    flat = np.asarray(flat)
    h = 1e-6 * (1.0 + np.abs(flat))
    steps = np.concatenate([flat + np.diag(h), flat - np.diag(h)])
    theta = problem.constrained(jax.vmap(unravel)(jax.numpy.asarray(steps)))
    k = flat.size
    jacobian = ((theta[:k] - theta[k:]) / (2.0 * h[:, None])).T
    return EstimationResult(
        params=dict(zip(problem.names, np.asarray(mode["theta_mode"]), strict=True)),
        cov=jacobian @ np.asarray(mode["covariance"]) @ jacobian.T,
        estimator="posterior mode (Laplace)",
        nobs=len(problem.y),
        converged=mode["converged"],
        cov_type="inverse Hessian, delta method",
        num_iter=mode["num_steps"],
    )


def run_nuts(problem, key, num_warmup, num_samples, num_chains, init=None):
    """NUTS (dense mass matrix) from the mode: the gradient-based reference."""
    from numpyro.infer import MCMC, NUTS, init_to_value

    kernel = NUTS(
        problem.model,
        dense_mass=True,
        target_accept_prob=0.85,
        init_strategy=init_to_value(values=init or problem.dsge.POSTERIOR_BULK_START),
    )
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="sequential",
        progress_bar=False,
    )
    started, cpu = time.perf_counter(), time.process_time()
    mcmc.run(key, problem.y, extra_fields=("num_steps", "diverging"))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    extra = mcmc.get_extra_fields(group_by_chain=True)
    steps, divergences = int(np.sum(extra["num_steps"])), int(np.sum(extra["diverging"]))
    return mcmc, (seconds, cpu), steps, divergences


def chain_draws(problem, mcmc):
    """(chains, draws, 13) parameter draws of a NumPyro MCMC run.

    ``get_samples`` already returns constrained values (the kernels apply the model's
    ``postprocess_fn``): stack them, do not transform again.
    """
    z = mcmc.get_samples(group_by_chain=True)
    return np.stack([np.asarray(z[n]) for n in problem.names], axis=-1)


def moments(draws, names):
    """Means, sds, their Monte Carlo standard errors and bulk ESS per parameter (ArviZ)."""
    import arviz as az

    flat = draws.reshape(-1, draws.shape[-1])
    if not np.all(np.isfinite(draws)):  # a diverged (approximate) chain: nothing to summarise
        nan = np.full(len(names), np.nan)
        return {"mean": nan, "sd": nan, "mcse_mean": nan, "mcse_sd": nan, "ess": nan}
    tree = az.from_dict({"posterior": {n: draws[..., i] for i, n in enumerate(names)}})
    ess = az.ess(tree, method="bulk")
    mcse_mean = az.mcse(tree, method="mean")
    mcse_sd = az.mcse(tree, method="sd")

    def values(ds):
        ds = ds["posterior"] if "posterior" in ds else ds
        return np.array([float(ds[n]) for n in names])

    flat = draws.reshape(-1, draws.shape[-1])
    return {
        "mean": flat.mean(axis=0),
        "sd": flat.std(axis=0, ddof=1),
        "mcse_mean": values(mcse_mean),
        "mcse_sd": values(mcse_sd),
        "ess": values(ess),
    }


def reference_run(args):
    """Long NUTS run written to ``benchmarks/data/dsge_nk_reference.json``."""
    import jax

    problem = Problem()
    mode = posterior_mode(problem)
    init = dict(zip(problem.names, mode["theta_mode"].tolist(), strict=True))
    num_warmup, num_samples, num_chains = 500, 2500, 2
    mcmc, (seconds, _), steps, divergences = run_nuts(
        problem, jax.random.key(12345), num_warmup, num_samples, num_chains, init=init
    )
    draws = chain_draws(problem, mcmc)
    stats = moments(draws, problem.names)
    payload = {
        "description": "NUTS reference posterior of the An-Schorfheide model, 1984Q1-2007Q4",
        "command": "python examples/dsge_nk.py --reference",
        "settings": {
            "sampler": "numpyro NUTS, dense mass, target_accept_prob=0.85, start at the mode",
            "num_warmup": num_warmup,
            "num_samples": num_samples,
            "num_chains": num_chains,
        },
        "seconds": seconds,
        "gradient_evaluations": steps,
        "divergences": divergences,
        "names": problem.names,
        "mode": mode["theta_mode"].tolist(),
        "log_posterior_at_mode": mode["logdensity"],
        **{k: v.tolist() for k, v in stats.items()},
    }
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE.write_text(json.dumps(payload, indent=1) + "\n")
    print(json.dumps(payload, indent=1))
    return payload


def settings(quick):
    """Run lengths (per chain) of every method; ``quick`` for the smoke test."""
    if quick:
        return {
            # Compilation dominates a miniature run: the rows whose kernels the unit tests cover
            # on their own (multi-proposal MH, k = 1 delayed acceptance, NUTS) are left out.
            "rwmh": (100, 200),
            "mpmh": None,
            "num_proposals": 4,
            "explore": (100, 400),
            "batch_candidates": 2000,
            "surrogate": {
                "hidden_sizes": (64, 64),
                "activation": "silu",
                "num_epochs": 40,
                "progress_bar": False,
            },
            "surrogate_steps": 20,
            "transition": (50, 200),
            "heldout_proposals": 1,
            "da": None,
            "smh": (50, 300),
            "num_importance": 100,
            "nuts": None,
        }
    return {
        "rwmh": (1000, 10000),
        "mpmh": (300, 1200),
        "num_proposals": 16,
        "explore": (1000, 3000),
        "batch_candidates": 20000,
        "surrogate": {"activation": "silu", "num_epochs": 100, "progress_bar": False},
        "surrogate_steps": 100,
        "transition": (300, 3000),
        "heldout_proposals": 4,
        "da": (1000, 10000),
        "smh": (1000, 20000),
        "num_importance": 500,
        "nuts": (200, 500),
    }


def run_mh(problem, kernel, key, num_warmup, num_samples, num_chains, init, chain_method):
    """Run a NumPyro MH kernel; return draws, wall time, exact evaluations and acceptance."""
    from numpyro.infer import MCMC

    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method=chain_method,
        progress_bar=False,
    )
    started, cpu = time.perf_counter(), time.process_time()
    mcmc.run(key, problem.y, init_params=init)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    extra = mcmc.get_extra_fields(group_by_chain=True)
    # Warm-up evaluations count too: the number of evaluations per post-warm-up iteration is
    # recorded, the warm-up ones are the same per iteration for the non-screening kernels.
    evaluations = np.asarray(extra["num_evaluations"])
    per_iteration = evaluations.mean()
    return {
        "mcmc": mcmc,
        "draws": chain_draws(problem, mcmc),
        "seconds": seconds,
        "cpu": cpu,
        "evaluations": int(round(per_iteration * num_chains * (num_warmup + num_samples))),
        "acceptance": float(np.mean(extra["accept_prob"])),
    }


def stacked(tree, num_chains):
    """Stack one unconstrained start per chain."""
    import jax
    import jax.numpy as jnp

    if num_chains == 1:
        return tree
    return jax.tree.map(lambda v: jnp.stack([jnp.asarray(v)] * num_chains), tree)


def compare(stats, reference):
    """Largest |z| of means and sds against the reference, with both Monte Carlo errors."""
    z_mean = (stats["mean"] - reference["mean"]) / np.hypot(
        stats["mcse_mean"], reference["mcse_mean"]
    )
    z_sd = (stats["sd"] - reference["sd"]) / np.hypot(stats["mcse_sd"], reference["mcse_sd"])
    return float(np.max(np.abs(z_mean))), float(np.max(np.abs(z_sd)))


def main(argv=None):
    """Run the comparison; the samplers' warnings are printed with the results, not raised.

    A :class:`~numpyro_semipar.SamplerWarning` (e.g. a quick-mode surrogate too rough to screen
    much, so delayed acceptance tempers it) is part of what the example shows.
    """
    import warnings

    from numpyro_semipar import SamplerWarning

    with warnings.catch_warnings():
        warnings.simplefilter("always", SamplerWarning)
        return _main(argv)


def _main(argv=None):
    args = parse_args(argv)
    import jax
    import numpyro

    numpyro.enable_x64()
    if args.reference:
        return reference_run(args)

    from numpyro_semipar.mcmc import (
        DelayedAcceptanceMH,
        MultiProposalMH,
        RandomWalkMH,
        SurrogateMH,
        importance_diagnostics,
        surrogate_logdensity,
        surrogate_posterior,
    )

    config = settings(args.quick)
    load_before = os.getloadavg()[0]
    chains = args.num_chains or (1 if args.quick else 2)
    keys = jax.random.split(jax.random.key(args.seed), 8)
    problem = Problem(quick=args.quick)
    print(f"An–Schorfheide NK model, {problem.dates[0]}–{problem.dates[-1]} ({len(problem.y)} q.)")

    # 1. Mode and Hessian (Dynare-style start of every MH kernel).
    mode = posterior_mode(problem)
    print(
        f"mode: log posterior {mode['logdensity']:.3f}, {mode['num_steps']} BFGS "
        f"steps, converged={mode['converged']}, {mode['seconds']:.1f} s"
    )
    cov = mode["covariance"]
    start = stacked(mode["position"], chains)
    rows = {}

    def done(name):
        row = rows[name]
        print(f"{name}: {row['seconds']:.1f} s, {row['evaluations']} exact evaluations", flush=True)

    # 2. Adaptive random-walk MH (Haario covariance + Robbins–Monro scale, from the mode).
    w, n = config["rwmh"]
    rows["RandomWalkMH"] = run_mh(
        problem,
        RandomWalkMH(problem.model, covariance=cov),
        keys[0],
        w,
        n,
        chains,
        start,
        "sequential",
    )
    done("RandomWalkMH")
    # 3. Multi-proposal MH: N proposals per iteration, evaluated as one vmapped batch.
    if config["mpmh"] is not None:
        w, n = config["mpmh"]
        rows[f"MultiProposalMH (N={config['num_proposals']})"] = run_mh(
            problem,
            MultiProposalMH(problem.model, num_proposals=config["num_proposals"], covariance=cov),
            keys[1],
            w,
            n,
            chains,
            start,
            "sequential",
        )
        done(f"MultiProposalMH (N={config['num_proposals']})")

    # 4. Surrogate workflow: exploration RWMH with candidate archive → MLP on the residual of a
    # Gaussian → surrogate transition: each proposal is the end point of k MH steps on the
    # surrogate, accepted with the exact ratio π(y)π̃(x)/[π(x)π̃(y)] (one exact evaluation).
    w_explore, n_explore = config["explore"]
    w, n = config["transition"]
    k = config["surrogate_steps"]
    workflow = surrogate_posterior(
        problem.model,
        problem.y,
        rng_key=keys[2],
        init_params=mode["position"],
        covariance=cov,
        find_mode=False,
        num_exploration_warmup=w_explore,
        num_exploration=n_explore,
        num_warmup=w,
        num_samples=n,
        num_chains=chains,
        num_surrogate_steps=k,
        num_heldout_proposals=config["heldout_proposals"],
        num_batch_candidates=config["batch_candidates"],
        surrogate_options=config["surrogate"],
        progress_bar=False,
    )
    diag = workflow.diagnostics
    transition = workflow.sampler
    setup = {
        "setup_seconds": diag["setup_seconds"],
        "setup_cpu": diag["setup_cpu_seconds"],
        "setup_evaluations": diag["num_exact_evaluations_exploration"],
        "wrong": (diag["wrong_accept"], diag["wrong_reject"]),
    }
    name = f"Surrogate transition (k={k})"
    rows[name] = {
        "mcmc": transition,
        "draws": chain_draws(problem, transition),
        "seconds": diag["sampling_seconds"],
        "cpu": diag["sampling_cpu_seconds"],
        "evaluations": diag["num_exact_evaluations_sampling"],
        "acceptance": float(np.mean(transition.get_extra_fields()["accept_prob"])),
        **setup,
    }
    done(name)
    print(
        f"  setup (exploration + training): {diag['setup_seconds']:.1f} s wall, "
        f"{diag['setup_cpu_seconds']:.1f} s CPU",
        flush=True,
    )
    surrogate_fn = surrogate_logdensity(workflow.surrogate)
    adapted = _adapted(transition.last_state.adaptation_state, chains)
    da_start = transition.last_state.z

    # 4b. Classic delayed acceptance (k = 1) with the same surrogate: the surrogate screens one
    # random-walk proposal, survivors are evaluated exactly. A lower overall acceptance target
    # makes bigger moves, most rejected by the surrogate alone (Sherlock, Thiery & Golightly 2021).
    if config["da"] is not None:
        w, n = config["da"]
        rows["Surrogate + DA (k=1)"] = run_mh(
            problem,
            DelayedAcceptanceMH(
                problem.model, surrogate=surrogate_fn, covariance=adapted, target_acceptance=0.1
            ),
            keys[3],
            w,
            n,
            chains,
            da_start,
            "sequential",
        )
        rows["Surrogate + DA (k=1)"].update(setup)
        done("Surrogate + DA (k=1)")

    # 5. Plain MH on the surrogate (the seed's method): fast, approximate; checked by importance
    # reweighting of a thinned subset with the exact posterior (Pareto k̂).
    w, n = config["smh"]
    smh = run_mh(
        problem,
        SurrogateMH(problem.model, surrogate=surrogate_fn, covariance=adapted),
        keys[4],
        w,
        n,
        chains,
        da_start,
        "vectorized",
    )
    # get_samples() is constrained; the surrogate and the exact log density live on the
    # unconstrained space.
    flat = np.asarray(problem.dsge.unconstrained_draws(smh["mcmc"].get_samples()))
    subset = flat[:: max(1, len(flat) // config["num_importance"])]
    unravel = jax.flatten_util.ravel_pytree(mode["position"])[1]
    exact = np.asarray(jax.vmap(lambda x: problem.logdensity(unravel(x)))(subset))
    try:
        pareto_k = float(
            importance_diagnostics(
                subset, log_target=exact, surrogate_fn=workflow.surrogate.flat_logdensity
            ).pareto_k
        )
    except ValueError:  # every draw outside the exact support: the surrogate failed outright
        pareto_k = float("inf")
    smh.update(setup, evaluations=len(subset), pareto_k=pareto_k)
    rows["SurrogateMH (approximate)"] = smh
    done("SurrogateMH (approximate)")

    # 6. NUTS (the solver is differentiable: implicit derivative of cyclic reduction).
    if config["nuts"] is not None:
        w, n = config["nuts"]
        init = dict(zip(problem.names, mode["theta_mode"].tolist(), strict=True))
        mcmc, (seconds, cpu), steps, divergences = run_nuts(
            problem, keys[5], w, n, chains, init=init
        )
        rows["NUTS"] = {
            "mcmc": mcmc,
            "draws": chain_draws(problem, mcmc),
            "seconds": seconds,
            "cpu": cpu,
            "evaluations": steps,
            "acceptance": float("nan"),
            "divergences": divergences,
        }
        done("NUTS")

    reference = None
    if REFERENCE.exists() and not args.quick:
        reference = {
            k: np.asarray(v)
            for k, v in json.loads(REFERENCE.read_text()).items()
            if k in ("mean", "sd", "mcse_mean", "mcse_sd")
        }
    table = report(problem, mode, rows, reference, diag)
    print(table)
    if not args.quick and not args.no_results:
        write_results(table, args, config, load_before)
    if not args.no_plots:
        plots(problem, rows, laplace_result(problem, mode), args.out, jax.random.key(args.seed))
    return rows


def _adapted(adaptation, chains):
    """Adapted proposal covariance of the first chain (NumPy)."""
    import jax

    from numpyro_semipar.mcmc.blackjax import adapted_covariance

    if chains > 1:
        adaptation = jax.tree.map(lambda a: a[0], adaptation)
    return np.asarray(adapted_covariance(adaptation))


def report(problem, mode, rows, reference, diag):
    """Markdown tables: cost and accuracy per method, then posterior means (sds)."""
    lines = [
        "| method | wall s | CPU s | setup wall / CPU s | exact evals (+ setup) | min ESS "
        "| exact evals / ESS (incl. setup) | wall s / ESS (incl. setup) "
        "| CPU s / ESS (incl. setup) | accept | max abs z mean / sd | wrong acc. / rej. % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    per_method, cost = {}, {}
    for name, row in rows.items():
        stats = moments(row["draws"], problem.names)
        per_method[name] = stats
        min_ess = float(np.min(stats["ess"]))
        setup, setup_cpu = row.get("setup_seconds", 0.0), row.get("setup_cpu", 0.0)
        setup_evals = row.get("setup_evaluations", 0)
        cost[name] = {
            "evals": (row["evaluations"] / min_ess, (row["evaluations"] + setup_evals) / min_ess),
            "wall": (row["seconds"] / min_ess, (row["seconds"] + setup) / min_ess),
            "cpu": (row["cpu"] / min_ess, (row["cpu"] + setup_cpu) / min_ess),
        }
        z = compare(stats, reference) if reference is not None else (np.nan, np.nan)
        wrong = row.get("wrong")
        wrong_text = f"{100 * wrong[0]:.2f} / {100 * wrong[1]:.2f}" if wrong else "–"
        evals = f"{row['evaluations']}" + (f" (+ {setup_evals})" if setup_evals else "")
        c = cost[name]
        lines.append(
            f"| {name} | {row['seconds']:.1f} | {row['cpu']:.1f} | {setup:.1f} / {setup_cpu:.1f} "
            f"| {evals} | {min_ess:.0f} | {c['evals'][0]:.2f} ({c['evals'][1]:.2f}) "
            f"| {c['wall'][0]:.4f} ({c['wall'][1]:.4f}) | {c['cpu'][0]:.4f} ({c['cpu'][1]:.4f}) "
            f"| {row['acceptance']:.2f} | {z[0]:.1f} / {z[1]:.1f} | {wrong_text} |"
        )
    lines.append("")
    base = cost["RandomWalkMH"]

    def ratio(name, kind):
        mine = cost[name][kind]
        return f"{base[kind][0] / mine[0]:.1f}× ({base[kind][1] / mine[1]:.1f}×)"

    lines.append(
        "Cost per effective sample (min ESS over parameters) relative to RandomWalkMH, higher is "
        "better, as exact evaluations / wall time / CPU time, (in brackets) setup included: "
        + "; ".join(
            f"{name} {ratio(name, 'evals')} / {ratio(name, 'wall')} / {ratio(name, 'cpu')}"
            for name in rows
            if name != "RandomWalkMH"
        )
        + "."
    )
    extras = [
        f"surrogate (MLP on the residual of a Gaussian): validation RMSE "
        f"{diag['validation_rmse']:.3f}, R² {diag['validation_r2']:.4f}, "
        f"{diag['num_training_candidates']} training candidates, "
        f"training {diag['training_seconds']:.1f} s; sd of log π̃ − log π on held-out states and "
        f"proposals {diag['heldout_error_sd']:.3f}",
        f"wrong accept / reject on {diag['num_heldout_steps']} held-out steps "
        f"(exploration states, proposals from the transition kernel's surrogate random walk, "
        f"{diag['num_exact_evaluations_diagnostics']} exact evaluations not counted above): "
        f"{100 * diag['wrong_accept']:.2f}% / {100 * diag['wrong_reject']:.2f}%, expected "
        f"{100 * diag['expected_wrong_accept']:.2f}% / {100 * diag['expected_wrong_reject']:.2f}%"
        f"; on the exploration's own held-out steps "
        f"{100 * diag['exploration_wrong_accept']:.2f}% / "
        f"{100 * diag['exploration_wrong_reject']:.2f}%",
    ]
    if "pareto_k" in rows.get("SurrogateMH (approximate)", {}):
        extras.append(
            f"SurrogateMH importance-reweighting Pareto k̂ = "
            f"{rows['SurrogateMH (approximate)']['pareto_k']:.2f}"
        )
    if "divergences" in rows.get("NUTS", {}):
        extras.append(f"NUTS divergences: {rows['NUTS']['divergences']}")
    lines.append("; ".join(extras) + ".")
    lines.append("")
    header = ["parameter", "mode", "Laplace"] + (["reference"] if reference is not None else [])
    header += list(rows)
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for i, name in enumerate(problem.names):
        cells = [
            name,
            f"{mode['theta_mode'][i]:.3f}",
            f"{mode['laplace_mean'][i]:.3f} ({mode['laplace_sd'][i]:.3f})",
        ]
        if reference is not None:
            cells.append(f"{reference['mean'][i]:.3f} ({reference['sd'][i]:.3f})")
        cells += [f"{per_method[m]['mean'][i]:.3f} ({per_method[m]['sd'][i]:.3f})" for m in rows]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


MARK_BEGIN = "<!-- dsge_nk: begin (written by examples/dsge_nk.py) -->"
MARK_END = "<!-- dsge_nk: end -->"


def write_results(table, args, config, load_before):
    """Replace (or append) this example's marked section of ``benchmarks/RESULTS.md``."""
    import platform

    import jax

    section = "\n".join(
        [
            MARK_BEGIN,
            "## DSGE flagship: An–Schorfheide NK model, every kernel (`examples/dsge_nk.py`)",
            "",
            f"Date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
            f"{platform.machine()}, {os.cpu_count()} CPUs, jax {jax.__version__}; command "
            f"`python examples/dsge_nk.py --seed {args.seed} --num-chains {args.num_chains or 2}`.",
            f"Settings (warm-up, draws) per chain: {json.dumps(config)}. Chains run "
            "sequentially (vectorized for SurrogateMH). Times include compilation. Load average "
            f"during the run: {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
            "(2 cores; above ~2 the machine was shared and wall times are inflated: CPU times, "
            "all threads of this process, are the fairer comparison then).",
            "`setup` is what the surrogate rows need first: the archived exploration run (an "
            "adaptive RWMH on the exact posterior) and the surrogate training, measured by the "
            "workflow; `(incl. setup)` adds it to the row's own cost. `z` compares means and sds "
            "with the long NUTS reference (`benchmarks/data/dsge_nk_reference.json`) in units of "
            "the combined Monte Carlo error. Wrong accept / reject: held-out steps (definition "
            "in the surrogate workflow docs), share of all held-out steps.",
            "",
            table,
            MARK_END,
        ]
    )
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if MARK_BEGIN in text and MARK_END in text:
        head, rest = text.split(MARK_BEGIN, 1)
        tail = rest.split(MARK_END, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)
    print(f"results written to {RESULTS}")


def plots(problem, rows, laplace, out, rng_key):
    """Trace (surrogate transition), forest (all methods and the mode) and pair (NUTS) plots.

    The methods run different numbers of iterations; ArviZ's forest of several models needs
    one chain/draw shape, so each posterior is thinned (evenly) to the shortest run, and the
    Laplace result is drawn with that shape by ``plot_forest_compare``.
    """
    import arviz as az

    from numpyro_semipar.reporting import plot_forest_compare

    out.mkdir(parents=True, exist_ok=True)
    num_draws = min(row["draws"].shape[1] for row in rows.values())

    def tree(draws):
        keep = np.linspace(0, draws.shape[1] - 1, num_draws).round().astype(int)
        return az.from_dict(
            {"posterior": {n: draws[:, keep, i] for i, n in enumerate(problem.names)}}
        )

    trees = {name: tree(row["draws"]) for name, row in rows.items()}
    transition = next(tree for name, tree in trees.items() if name.startswith("Surrogate trans"))
    az.plot_trace_dist(transition, compact=False).savefig(out / "dsge_nk_trace.png")
    forest = plot_forest_compare({**trees, "Mode + Laplace": laplace}, rng_key=rng_key)
    forest.savefig(out / "dsge_nk_forest.png")
    paired = trees.get("NUTS", transition)
    az.plot_pair(paired, var_names=["tau", "kappa", "psi1", "psi2", "rho_R"]).savefig(
        out / "dsge_nk_pair.png"
    )
    print(f"plots written to {out}")


if __name__ == "__main__":
    main()
