"""SMM benchmark: 6 parameters, N = 5000, S = 200, against scipy and estimagic.

Model: y = b0 + b1 x1 + b2 x2 + exp(g0 + g1 x1) (z + a (z² - 1)), z ~ N(0, 1), with x fixed.
Eight moments: E[y w], E[y² w] for w in (1, x1, x2), E[y³], E[y³ x1]. All three
implementations use the same common random numbers, the same moment code (per-observation
contributions averaged over observations and simulations), the same start and the same fixed
weight W = Σ̂⁻¹ (Σ̂ the influence-function covariance of the data moments), so they minimise
the same criterion g(θ)ᵀ W g(θ):

* numpyro_semipar ``SMM``: JAX simulator, simulated moments as a chunked fused reduction over
  S, BFGS with an autodiff gradient (optimistix), autodiff Jacobian, (1 + 1/S) sandwich;
* scipy: NumPy simulator, L-BFGS-B with finite-difference gradients, standard errors from a
  finite-difference Jacobian (what a hand-written Evans-style script does);
* estimagic ``estimate_msm`` (``pip install estimagic``; skipped when missing): NumPy
  simulator, its L-BFGS-B with numerical derivatives and its numerical Jacobian and sandwich.

Both peers run L-BFGS-B with optimagic's default stopping rule (relative criterion change
≤ 2e-9, projected gradient ≤ 1e-5; scipy's ``ftol``/``gtol`` mean the same), which reaches
the optimum that our BFGS (rtol 1e-10) finds to about 9 significant digits of the criterion;
the table prints the criteria so that this can be checked. Timings are wall and CPU seconds;
ours are warm (best of ``--repeats`` after one call that includes compilation, reported as
"first call"), the peers' are one run each (no compilation to amortise).

Run: python benchmarks/bench_smm.py [--num-obs 5000 --num-sims 200 --repeats 3]
     [--skip-scipy] [--skip-estimagic]
"""

import argparse
import os
import time

import numpy as np

TRUE = np.array([1.0, 0.5, -0.5, -0.3, 0.4, 0.15])
NAMES = ["b0", "b1", "b2", "g0", "g1", "a"]
#: optimagic's default L-BFGS-B stopping rule, given explicitly to both peers
FTOL_REL, GTOL_ABS = 2e-9, 1e-5


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-obs", type=int, default=5000)
    parser.add_argument("--num-sims", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-scipy", action="store_true", help="skip the scipy peer")
    parser.add_argument("--skip-estimagic", action="store_true", help="skip estimagic")
    return parser.parse_args(argv)


def np_simulate(theta, x1, x2, z):
    b0, b1, b2, g0, g1, a = theta
    return b0 + b1 * x1 + b2 * x2 + np.exp(g0 + g1 * x1) * (z + a * (z**2 - 1.0))


def np_contributions(y, x1, x2):
    # per-observation moment contributions, shape (..., N, 8)
    y2, y3 = y**2, y**3
    return np.stack([y, y * x1, y * x2, y2, y2 * x1, y2 * x2, y3, y3 * x1], axis=-1)


def clock(fn):
    """Run ``fn`` once; return (wall s, CPU s, output)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def best_of(fn, repeats):
    runs = [clock(fn) for _ in range(max(1, repeats))]
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[-1][2]


def main(argv=None):
    args = parse_args(argv)
    import jax
    import jax.numpy as jnp
    from scipy import optimize

    from numpyro_semipar._x64 import float64
    from numpyro_semipar.frequentist import SMM
    from numpyro_semipar.moments import common_random_numbers, influence_moment_covariance

    jax.config.update("jax_enable_x64", True)
    n, s = args.num_obs, args.num_sims
    rng = np.random.default_rng(args.seed)
    x1, x2 = rng.normal(size=n), rng.uniform(-1, 1, size=n)
    y = np_simulate(TRUE, x1, x2, rng.normal(size=n))
    z = np.asarray(
        common_random_numbers(jax.random.key(args.seed + 1), s, (n,), distribution="normal")
    )
    m_data = np_contributions(y, x1, x2).mean(axis=0)
    sigma = influence_moment_covariance(np_contributions(y, x1, x2))
    weight = np.linalg.inv(sigma)
    # a naive start every method shares: mean and log-sd of y, everything else zero
    start = np.array([y.mean(), 0.0, 0.0, np.log(y.std()), 0.0, 0.0])
    load = os.getloadavg()[0]
    print(
        f"N = {n}, S = {s}, K = 6, R = 8; {jax.devices()[0].platform} JAX backend, "
        f"{os.cpu_count()} CPUs, load average {load:.1f} at start"
    )
    rows = []

    # --- numpyro_semipar ---------------------------------------------------------------
    x1j, x2j = jnp.asarray(x1), jnp.asarray(x2)

    def simulate(p, zs):
        return np_simulate_jax(p["theta"], x1j, x2j, zs)

    def moments(yy):
        return jnp.mean(jnp_contributions(yy, x1j, x2j), axis=0)

    smm = SMM(simulate, moments, z)

    def ours():
        return smm.fit(y, {"theta": start}, weighting=weight)

    first_wall, first_cpu, _ = clock(ours)
    wall, cpu, res = best_of(ours, args.repeats)
    theta_ours, se_ours, crit_ours = res.flat_params, res.flat_std_errors, res.objective
    first = f"first call {first_wall:.1f} s wall / {first_cpu:.1f} s CPU"
    rows.append(("numpyro_semipar SMM", wall, cpu, f"{res.num_iter} BFGS steps", crit_ours,
                 theta_ours, first))  # fmt: skip
    # the same fit with the data-based Σ̂ (influence functions) in the sandwich, as the peers do
    res_infl = smm.fit(
        y,
        {"theta": start},
        weighting=weight,
        omega=lambda d: np_contributions(np.asarray(d), x1, x2),
    )
    se_infl = res_infl.flat_std_errors
    profile = profile_ours(smm, res, y, weight, start, float64, cpu)

    # --- scipy L-BFGS-B + finite differences ------------------------------------------
    count = [0]

    def np_moments(theta):
        count[0] += 1
        return np_contributions(np_simulate(theta, x1, x2, z), x1, x2).mean(axis=(0, 1))

    def np_criterion(theta):
        g = np_moments(theta) - m_data
        return g @ weight @ g

    se_scipy = None
    if args.skip_scipy:
        print("scipy: skipped (--skip-scipy)")
    else:

        def scipy_fit():
            opt = optimize.minimize(
                np_criterion,
                start,
                method="L-BFGS-B",
                options={"ftol": FTOL_REL, "gtol": GTOL_ABS, "maxiter": 5000},
            )
            jac = central_differences(np_moments, opt.x)
            bread = np.linalg.inv(jac.T @ weight @ jac)
            cov = bread @ jac.T @ weight @ ((1 + 1 / s) * sigma) @ weight @ jac @ bread
            return opt, np.sqrt(np.diag(cov))

        count[0] = 0
        t_wall, t_cpu, (opt, se_scipy) = clock(scipy_fit)
        rows.append(("scipy L-BFGS-B + FD", t_wall, t_cpu, f"{count[0]} criterion evals",
                     np_criterion(opt.x), opt.x, opt.message))  # fmt: skip

    # --- estimagic ----------------------------------------------------------------------
    se_em = theta_em = None
    try:
        if args.skip_estimagic:
            raise ImportError
        import estimagic as em
    except ImportError:
        print("estimagic: skipped (not installed, `pip install estimagic`, or --skip-estimagic)")
    else:

        def em_fit():
            return em.estimate_msm(
                np_moments,
                m_data,
                sigma,
                start,
                optimize_options={
                    "algorithm": "scipy_lbfgsb",
                    "algo_options": {
                        "convergence_ftol_rel": FTOL_REL,
                        "convergence_gtol_abs": GTOL_ABS,
                    },
                },
                weights="optimal",
            )

        count[0] = 0
        t_wall, t_cpu, em_res = clock(lambda: _with_se(em_fit()))
        em_res, se_em = em_res
        theta_em = np.asarray(em_res.params)
        rows.append(("estimagic estimate_msm", t_wall, t_cpu, f"{count[0]} criterion evals",
                     np_criterion(theta_em), theta_em, ""))  # fmt: skip

    print(f"load average {os.getloadavg()[0]:.1f} at the end\n")
    print("| implementation | wall s | CPU s | work | criterion | max abs diff θ vs ours | "
          "speed-up (wall / CPU) |")  # fmt: skip
    print("|---|---:|---:|---|---:|---:|---:|")
    for name, t_wall, t_cpu, work, crit, theta, note in rows:
        diff = np.max(np.abs(theta - theta_ours))
        speed = f"{t_wall / wall:.1f}× / {t_cpu / cpu:.1f}×" if name != rows[0][0] else "—"
        extra = f" ({note})" if name == rows[0][0] else ""
        print(f"| {name}{extra} | {t_wall:.2f} | {t_cpu:.2f} | {work} | {crit:.10f} | "
              f"{diff:.1e} | {speed} |")  # fmt: skip
    print(
        "\nours, CPU s of the pieces (a warm fit = 2 evaluates + the solve + the rest): "
        + ", ".join(f"{k} {v:.3f}" for k, v in profile.items())
    )

    print("\nstandard errors at the common optimum")
    print("| | " + " | ".join(NAMES) + " |")
    print("|---|" + "---:|" * len(NAMES))
    table = [("ours, default (Σ simulated at θ̂, × (1 + 1/S))", se_ours),
             ("ours, `omega=` data influence functions", se_infl),
             ("scipy (same sandwich, data Σ̂, FD Jacobian)", se_scipy),
             ("estimagic (data Σ̂, no 1 + 1/S factor)", se_em)]  # fmt: skip
    for label, se in table:
        if se is not None:
            print(f"| {label} | " + " | ".join(f"{v:.5f}" for v in se) + " |")


def central_differences(fn, x, rel_step=1e-6):
    """Central-difference Jacobian of ``fn`` at ``x`` with steps scaled to the parameters."""
    cols = []
    for k in range(x.size):
        h = rel_step * max(abs(x[k]), 1.0)
        up, down = x.copy(), x.copy()
        up[k] += h
        down[k] -= h
        cols.append((fn(up) - fn(down)) / (2.0 * h))
    return np.stack(cols, axis=1)


def _with_se(res):
    # estimagic computes the covariance lazily: include it in the timed call
    return res, np.asarray(res.se())


def profile_ours(smm, res, y, weight, start, float64, total_cpu):
    """CPU seconds of the pieces of one warm fit, and of one criterion and value+gradient."""
    import jax
    import jax.numpy as jnp

    from numpyro_semipar._params import param_layout

    layout = param_layout({"theta": res.flat_params})
    with float64():
        fns = smm._functions(layout)
        box = np.full(res.flat_params.size, np.inf)
        start = jnp.asarray(start)  # unbounded: the solver's space is θ itself
        flat, w = jnp.asarray(res.flat_params), jnp.asarray(weight)
        m_data = jnp.asarray(smm.data_moments(y))
        crit = fns["criterion"]
        vg = jax.jit(jax.value_and_grad(lambda f: crit(f, smm.draws, m_data, w)))
        pieces = {
            "one criterion": lambda: crit(flat, smm.draws, m_data, w),
            "one value+gradient": lambda: vg(flat),
            "one evaluate (g, R×K Jacobian, S×R errors)": lambda: fns["evaluate"](
                flat, smm.draws, m_data
            ),
            f"BFGS solve ({res.num_iter} steps)": lambda: fns["minimise"](
                start, smm.draws, m_data, w, jnp.asarray(-box), jnp.asarray(box)
            ),
        }
        out = {}
        for key, fn in pieces.items():
            jax.block_until_ready(fn())
            out[key] = min(clock(lambda fn=fn: jax.block_until_ready(fn()))[1] for _ in range(3))
    evaluate = out["one evaluate (g, R×K Jacobian, S×R errors)"]
    solve = out[f"BFGS solve ({res.num_iter} steps)"]
    out["rest of the fit (data moments, covariance, Python)"] = max(
        total_cpu - solve - 2 * evaluate, 0.0
    )
    return out


def np_simulate_jax(theta, x1, x2, z):
    import jax.numpy as jnp

    b0, b1, b2, g0, g1, a = (theta[i] for i in range(6))
    return b0 + b1 * x1 + b2 * x2 + jnp.exp(g0 + g1 * x1) * (z + a * (z**2 - 1.0))


def jnp_contributions(y, x1, x2):
    import jax.numpy as jnp

    y2, y3 = y**2, y**3
    return jnp.stack([y, y * x1, y * x2, y2, y2 * x1, y2 * x2, y3, y3 * x1], axis=-1)


if __name__ == "__main__":
    main()
