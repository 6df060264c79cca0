"""Profile likelihood benchmark: the spmlex README estimation, one value_and_grad, big-n memory.

spmlex itself is not installable here (not on the package index), so its figures are quoted
from ../shared/notes/npmle.md (2-core CPU, jax 0.6, mixsqpx 0.1.4): README estimation 18.2 s
including compilation (14.4 s warm), one value_and_grad 0.245 s, an n×m×m tensor (32 GB at
n = 1e5, m = 200).

Each part runs in a fresh subprocess (so compilation is included where stated and the peak
RSS is that part's own). Run: python benchmarks/bench_profile.py
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def linear_factor(num_periods, with_beta):
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    class LinearFactor(eqx.Module):
        coef: jax.Array
        log_sd: jax.Array
        beta: jax.Array | None  # slope of a covariate in period 1 (then k = 2T parameters)

        def lclk(self, data, grid):
            y, w = data
            # As models.LinearFactor: one (n, m) term per period (see the comment there).
            loadings = jnp.concatenate([jnp.ones(1), self.coef])
            inv_sd = jnp.exp(-self.log_sd)
            out = -jnp.sum(self.log_sd) - 0.5 * num_periods * jnp.log(2 * jnp.pi)
            for t in range(num_periods):
                residual = y[:, t, None] - grid[None, :] * loadings[t]
                if t == 0 and self.beta is not None:
                    residual = residual - (self.beta * w)[:, None]
                out = out - 0.5 * (residual * inv_sd[t]) ** 2
            return out

    beta = jnp.zeros(()) if with_beta else None
    start = LinearFactor(jnp.ones(num_periods - 1), jnp.zeros(num_periods), beta)
    return LinearFactor, start


def simulate(n, num_periods, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.choice([-3.0, 0.0, 5.0], size=n, p=[0.3, 0.5, 0.2])
    loadings = np.concatenate([[1.0], np.linspace(1.5, 0.3, num_periods - 1)])
    sd = np.exp(np.linspace(0.0, -0.3, num_periods))
    w = rng.normal(size=n)
    y = x[:, None] * loadings + sd * rng.normal(size=(n, num_periods))
    y[:, 0] += 0.5 * w
    return y, w


def readme_estimation(engine):
    import jax.numpy as jnp

    from numpyro_semipar.frequentist import ProfileMLE
    from numpyro_semipar.models import LinearFactor

    rng = np.random.default_rng(0)
    x = rng.choice([-3.0, 0.0, 5.0], size=2000, p=[0.3, 0.5, 0.2])
    y = x[:, None] * np.array([1.0, 1.5, 0.3]) + np.exp([0.0, 0.2, -0.3]) * rng.normal(
        size=(2000, 3)
    )
    grid = np.linspace(-6.0, 6.0, 75)
    start = LinearFactor(jnp.ones(2), jnp.zeros(3))
    wall, cpu = time.perf_counter(), time.process_time()
    result = ProfileMLE(grid, engine=engine).fit(start, y)
    cold = (time.perf_counter() - wall, time.process_time() - cpu)
    warm = []
    for _ in range(5):
        wall, cpu = time.perf_counter(), time.process_time()
        ProfileMLE(grid, engine=engine).fit(start, y)
        warm.append((time.perf_counter() - wall, time.process_time() - cpu))
    warm = min(warm)
    return {
        "engine": engine,
        "fit_wall_s_incl_compile": cold[0],
        "fit_cpu_s_incl_compile": cold[1],
        "fit_wall_s_warm": warm[0],
        "fit_cpu_s_warm": warm[1],
        "iterations": result.num_iter,
        "converged": result.converged,
        "coef": result.params["coef"].tolist(),
        "error_variances": np.exp(2 * result.params["log_sd"]).tolist(),
        "std_errors": result.flat_std_errors.tolist(),
    }


def value_and_grad_timing(n, m, num_periods, with_beta):
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from numpyro_semipar.npmle import profile_loglik

    jax.config.update("jax_enable_x64", True)
    _, start = linear_factor(num_periods, with_beta)
    params, static = __import__("equinox").partition(start, __import__("equinox").is_array)
    flat, unravel = ravel_pytree(params)
    y, w = simulate(n, num_periods)
    data = (jnp.asarray(y), jnp.asarray(w))
    grid = jnp.linspace(-6.0, 6.0, m)

    def profile(theta):
        model = __import__("equinox").combine(unravel(theta), static)
        return profile_loglik(model, data, grid)[0]

    theta = flat.at[: num_periods - 1].set(jnp.linspace(1.5, 0.3, num_periods - 1))
    vg = jax.jit(jax.value_and_grad(profile))
    wall = time.perf_counter()
    jax.block_until_ready(vg(theta))
    out = {
        "n": n,
        "m": m,
        "k": int(flat.size),
        "value_and_grad_first_s": time.perf_counter() - wall,
    }
    times = []
    for i in range(10):
        wall = time.perf_counter()
        jax.block_until_ready(vg(theta + 1e-4 * i))
        times.append(time.perf_counter() - wall)
    out["value_and_grad_warm_median_s"] = float(np.median(times))
    out["value_and_grad_warm_min_s"] = float(np.min(times))
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def big_fit(n, m, num_periods, with_beta, engine):
    """A whole ProfileMLE fit (with the exact Hessian and scores) at large n: time and memory."""
    import equinox as eqx
    import jax.numpy as jnp

    from numpyro_semipar.frequentist import ProfileMLE

    _, start = linear_factor(num_periods, with_beta)
    params, static = eqx.partition(start, eqx.is_array)
    y, w = simulate(n, num_periods)
    data = (jnp.asarray(y), jnp.asarray(w))
    grid = np.linspace(-6.0, 6.0, m)
    wall = time.perf_counter()
    result = ProfileMLE(grid, engine=engine).fit(start, data)
    return {
        "engine": engine,
        "n": n,
        "m": m,
        "k": int(result.flat_params.size),
        "fit_s_incl_compile": time.perf_counter() - wall,
        "iterations": result.num_iter,
        "converged": result.converged,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def curvature_timing(n, m, num_periods, with_beta):
    """Value, gradient, exact Hessian and scores in one pass (what ProfileMLE evaluates)."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from numpyro_semipar.npmle._profile_derivatives import profile_curvature

    _, start = linear_factor(num_periods, with_beta)
    params, static = eqx.partition(start, eqx.is_array)
    flat, unravel = ravel_pytree(params)
    y, w = simulate(n, num_periods)
    data = (jnp.asarray(y), jnp.asarray(w))
    grid = jnp.linspace(-6.0, 6.0, m)

    def log_lik_fn(theta, data):
        return eqx.combine(unravel(theta), static).lclk(data, grid)

    def curvature(theta):
        return profile_curvature(log_lik_fn, theta, data, jnp.ones((n, 1)))

    theta = flat.at[: num_periods - 1].set(jnp.linspace(1.5, 0.3, num_periods - 1))
    wall = time.perf_counter()
    compiled = jax.jit(curvature).lower(theta).compile()
    memory = compiled.memory_analysis()
    result = jax.block_until_ready(compiled(theta))
    out = {
        "n": n,
        "m": m,
        "k": int(flat.size),
        "curvature_s_incl_compile": time.perf_counter() - wall,
        "xla_temp_gib": memory.temp_size_in_bytes / 2**30,
        "xla_args_out_gib": (memory.argument_size_in_bytes + memory.output_size_in_bytes) / 2**30,
    }
    wall = time.perf_counter()
    jax.block_until_ready(compiled(theta + 1e-4))
    out["curvature_s_warm"] = time.perf_counter() - wall
    out["hessian_finite"] = bool(np.all(np.isfinite(np.asarray(result.hessian))))
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def run_part(name, *args, env=None):
    command = [sys.executable, __file__, name, *map(str, args)]
    environment = None if env is None else {**os.environ, **env}
    completed = subprocess.run(
        command, capture_output=True, text=True, check=False, env=environment
    )
    if completed.returncode != 0:
        return {"error": completed.stderr[-2000:]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    if len(sys.argv) > 1:
        import jax

        jax.config.update("jax_enable_x64", True)
        part = sys.argv[1]
        if part == "readme":
            print(json.dumps(readme_estimation(sys.argv[2])))
        elif part == "fit":
            n, m, periods, beta = (int(a) for a in sys.argv[2:6])
            print(json.dumps(big_fit(n, m, periods, bool(beta), sys.argv[6])))
        elif part == "curvature":
            n, m, periods, beta = (int(a) for a in sys.argv[2:6])
            print(json.dumps(curvature_timing(n, m, periods, bool(beta))))
        else:
            n, m, periods, beta = (int(a) for a in sys.argv[2:6])
            print(json.dumps(value_and_grad_timing(n, m, periods, bool(beta))))
        sys.exit(0)
    load = os.getloadavg()[0]
    readme = run_part("readme", "host")
    readme_compiled = run_part("readme", "compiled")
    # JAX's persistent compilation cache: a first process fills it, a second one reads it.
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = {"JAX_COMPILATION_CACHE_DIR": cache_dir}
        run_part("readme", "compiled", env=cache)
        readme_cached = run_part("readme", "compiled", env=cache)
    small = run_part("grad", 2000, 75, 3, 0)
    big_grad = run_part("grad", 100000, 200, 5, 1)
    big_curv = run_part("curvature", 100000, 200, 5, 1)
    big_host = run_part("fit", 100000, 200, 5, 1, "host")
    big_compiled = run_part("fit", 100000, 200, 5, 1, "compiled")
    parts = {
        "readme": readme,
        "readme_compiled": readme_compiled,
        "readme_cached": readme_cached,
        "grad": small,
        "big_grad": big_grad,
        "big": big_curv,
        "big_fit_host": big_host,
        "big_fit_compiled": big_compiled,
    }
    for name, part in parts.items():
        if "error" in part:
            print(f"{name} failed:\n{part['error']}")
    print(json.dumps(parts))

    def fmt(part, key, spec):
        return format(part[key], spec) if key in part else "n/a"

    print(f"\nload average at start: {load:.1f}\n")
    print("| task | numpyro_semipar | spmlex (notes) | target |")
    print("|---|---|---|---|")
    for label, part in [
        ("`fit` (host engine, the default)", readme),
        ("compiled engine", readme_compiled),
    ]:
        print(
            f"| README estimation (n = 2000, m = 75, k = 5), {label}, fresh process, incl. "
            f"compilation | {fmt(part, 'fit_wall_s_incl_compile', '.2f')} s wall "
            f"({fmt(part, 'fit_cpu_s_incl_compile', '.2f')} s CPU), "
            f"{part.get('iterations', 'n/a')} Newton evaluations | 18.2 s | ≤ 2 s |"
        )
        print(
            f"| same, {label}, warm (best of 5) | {fmt(part, 'fit_wall_s_warm', '.2f')} s wall "
            f"({fmt(part, 'fit_cpu_s_warm', '.2f')} s CPU) | 14.4 s | |"
        )
    print(
        "| compiled engine, fresh process, JAX persistent compilation cache filled by an earlier "
        f"process | {fmt(readme_cached, 'fit_wall_s_incl_compile', '.2f')} s wall | | |"
    )
    print(
        "| one `value_and_grad` of `profile_loglik`, warm (median of 10) | "
        f"{1e3 * small.get('value_and_grad_warm_median_s', float('nan')):.1f} ms "
        "| 245 ms | ≤ 20 ms |"
    )
    print(
        "| n = 100000, m = 200, k = 10: `value_and_grad` of `profile_loglik` | "
        f"{fmt(big_grad, 'value_and_grad_warm_min_s', '.2f')} s warm, peak RSS "
        f"{fmt(big_grad, 'peak_rss_gib', '.2f')} GiB | n×m×m tensor (32 GB) | ≤ 4 GB |"
    )
    print(
        "| same: value, gradient, exact Hessian and scores (`profile_curvature`, row chunks) | "
        f"{fmt(big_curv, 'curvature_s_incl_compile', '.1f')} s incl. compilation, "
        f"{fmt(big_curv, 'curvature_s_warm', '.1f')} s warm, peak RSS "
        f"{fmt(big_curv, 'peak_rss_gib', '.2f')} GiB (XLA temporaries "
        f"{fmt(big_curv, 'xla_temp_gib', '.2f')} GiB) | no Hessian | ≤ 4 GB |"
    )
    for label, part in [("host", big_host), ("compiled", big_compiled)]:
        print(
            f"| same: the whole `ProfileMLE.fit`, {label} engine | "
            f"{fmt(part, 'fit_s_incl_compile', '.1f')} s incl. compilation, "
            f"{part.get('iterations', 'n/a')} Newton evaluations, peak RSS "
            f"{fmt(part, 'peak_rss_gib', '.2f')} GiB | | ≤ 4 GB |"
        )
