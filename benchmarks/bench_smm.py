"""SMM benchmark: 6 parameters, N = 5000, S = 200, against scipy and estimagic.

Model: y = b0 + b1 x1 + b2 x2 + exp(g0 + g1 x1) (z + a (z² - 1)), z ~ N(0, 1), with x fixed.
Eight moments: E[y w], E[y² w] for w in (1, x1, x2), E[y³], E[y³ x1]. All three
implementations use the same common random numbers, the same moments and the same fixed
weight W = Σ̂⁻¹ (Σ̂ the influence-function covariance of the data moments), so they minimise
the same criterion g(θ)ᵀ W g(θ):

* numpyro_semipar ``SMM``: JAX simulator, autodiff gradient, BFGS (optimistix), autodiff
  Jacobian, (1 + 1/S) sandwich standard errors;
* scipy: NumPy simulator, L-BFGS-B with finite-difference gradients, standard errors from a
  central finite-difference Jacobian (what a hand-written Evans-style script does);
* estimagic ``estimate_msm`` (``pip install estimagic``; skipped when missing): NumPy
  simulator, its L-BFGS-B and its numerical Jacobian and sandwich.

Timings are warm (each run once before timing; JAX compilation is reported separately).

Run: python benchmarks/bench_smm.py [--num-obs 5000 --num-sims 200 --repeats 3]
"""

import argparse
import time

import numpy as np

TRUE = np.array([1.0, 0.5, -0.5, -0.3, 0.4, 0.15])
NAMES = ["b0", "b1", "b2", "g0", "g1", "a"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-obs", type=int, default=5000)
    parser.add_argument("--num-sims", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def np_simulate(theta, x1, x2, z):
    b0, b1, b2, g0, g1, a = theta
    return b0 + b1 * x1 + b2 * x2 + np.exp(g0 + g1 * x1) * (z + a * (z**2 - 1.0))


def np_contributions(y, x1, x2):
    # per-observation moment contributions, shape (..., N, 8)
    y2, y3 = y**2, y**3
    return np.stack([y, y * x1, y * x2, y2, y2 * x1, y2 * x2, y3, y3 * x1], axis=-1)


def timed(fn, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv=None):
    args = parse_args(argv)
    import jax
    import jax.numpy as jnp
    from scipy import optimize

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
    print(f"N = {n}, S = {s}, K = 6, R = 8; {jax.devices()[0].platform} JAX backend")

    # --- numpyro_semipar ---------------------------------------------------------------
    x1j, x2j = jnp.asarray(x1), jnp.asarray(x2)

    def simulate(p, zs):
        theta = p["theta"]
        return np_simulate_jax(theta, x1j, x2j, zs)

    def moments(yy):
        return jnp.mean(jnp_contributions(yy, x1j, x2j), axis=0)

    smm = SMM(simulate, moments, z)

    def ours():
        return smm.fit(y, {"theta": start}, weighting=weight)

    t0 = time.perf_counter()
    ours()
    first = time.perf_counter() - t0
    t_ours, res = timed(ours, args.repeats)
    theta_ours, se_ours = res.flat_params, res.flat_std_errors
    crit_ours = res.objective
    print(f"numpyro_semipar: first call {first:.2f} s (compilation), warm {t_ours:.3f} s")
    # the same fit with the data-based Σ̂ (influence functions) in the sandwich, as the peers do
    res_infl = smm.fit(
        y,
        {"theta": start},
        weighting=weight,
        omega=lambda d: np_contributions(np.asarray(d), x1, x2),
    )
    se_infl = res_infl.flat_std_errors

    # --- scipy L-BFGS-B + finite differences ------------------------------------------
    def np_errors(theta):
        return np_contributions(np_simulate(theta, x1, x2, z), x1, x2).mean(axis=(0, 1)) - m_data

    def np_criterion(theta):
        g = np_errors(theta)
        return g @ weight @ g

    def scipy_fit():
        opt = optimize.minimize(
            np_criterion, start, method="L-BFGS-B", options={"maxiter": 5000, "ftol": 1e-14}
        )
        jac = optimize.approx_fprime(opt.x, np_errors, 1e-6)
        bread = np.linalg.inv(jac.T @ weight @ jac)
        cov = bread @ jac.T @ weight @ ((1 + 1 / s) * sigma) @ weight @ jac @ bread
        return opt, np.sqrt(np.diag(cov))

    t_scipy, (opt, se_scipy) = timed(scipy_fit, max(1, args.repeats - 1))
    print(f"scipy L-BFGS-B + FD: {t_scipy:.3f} s ({opt.nfev} criterion evaluations)")

    # --- estimagic ----------------------------------------------------------------------
    t_em = theta_em = se_em = crit_em = None
    try:
        import estimagic as em
    except ImportError:
        print("estimagic is not installed (pip install estimagic): skipped")
    else:

        def simulate_moments(theta):
            return np_contributions(np_simulate(theta, x1, x2, z), x1, x2).mean(axis=(0, 1))

        def em_fit():
            return em.estimate_msm(
                simulate_moments,
                m_data,
                sigma,
                start,
                optimize_options="scipy_lbfgsb",
                weights="optimal",
            )

        t_em, em_res = timed(em_fit, max(1, args.repeats - 1))
        theta_em = np.asarray(em_res.params)
        se_em = np.asarray(em_res.se())
        crit_em = np_criterion(theta_em)
        print(f"estimagic estimate_msm: {t_em:.3f} s")

    print("\nestimates and standard errors")
    print("(ours: SE with simulated Σ at θ̂ [default] / with the data's influence Σ̂)")
    header = f"{'':4s}{'ours':>32s}{'scipy':>22s}{'estimagic':>22s}"
    print(header)
    for k, name in enumerate(NAMES):
        row = f"{name:4s}{theta_ours[k]:11.5f} ({se_ours[k]:.5f}/{se_infl[k]:.5f})"
        row += f"{opt.x[k]:11.5f} ({se_scipy[k]:.5f})"
        if theta_em is not None:
            row += f"{theta_em[k]:11.5f} ({se_em[k]:.5f})"
        print(row)
    print(f"criterion: ours {crit_ours:.10g}, scipy {opt.fun:.10g}", end="")
    print(f", estimagic {crit_em:.10g}" if crit_em is not None else "")
    print(f"max |theta_ours - theta_scipy| = {np.max(np.abs(theta_ours - opt.x)):.2e}")
    if theta_em is not None:
        print(f"max |theta_ours - theta_estimagic| = {np.max(np.abs(theta_ours - theta_em)):.2e}")
    print(f"speed-up vs scipy: {t_scipy / t_ours:.1f}x", end="")
    print(f", vs estimagic: {t_em / t_ours:.1f}x" if t_em is not None else "")


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
