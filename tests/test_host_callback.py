"""Host callbacks carry 64-bit operands and results exactly (numpyro_semipar._host_callback)."""

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_semipar._host_callback import debug_callback, pure_callback

# Values whose float32 rounding differs from them, in every dtype the wire encodes.
OPERANDS = {
    "f64": jnp.asarray([0.1234567891234567, -2.000000000000001, 1e300], jnp.float64),
    "i64": jnp.asarray([2**40 + 3, -(2**50) - 1], jnp.int64),
    "f32": jnp.asarray([0.25, -3.5], jnp.float32),
    "i32": jnp.asarray(7, jnp.int32),
}


def _identity_specs(tree):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)


@pytest.mark.parametrize("wrap", [lambda f: f, jax.jit], ids=["eager", "jit"])
def test_pure_callback_round_trips_every_dtype_exactly(wrap):
    seen = {}

    def host(tree):
        seen.update(tree)
        return jax.tree.map(np.copy, tree)

    out = wrap(lambda t: pure_callback(host, _identity_specs(t), t))(OPERANDS)
    for name, value in OPERANDS.items():
        assert isinstance(seen[name], np.ndarray) and seen[name].dtype == value.dtype, name
        np.testing.assert_array_equal(seen[name], np.asarray(value))
        assert out[name].dtype == value.dtype
        np.testing.assert_array_equal(np.asarray(out[name]), np.asarray(value))


@pytest.mark.parametrize("vmap_method", ["expand_dims", "sequential", "broadcast_all"])
def test_pure_callback_under_vmap(vmap_method):
    x = jnp.linspace(0.1, 0.9, 12, dtype=jnp.float64).reshape(4, 3) + 1e-12

    def one(row):
        return pure_callback(
            lambda r: np.sum(r**2, axis=-1),
            jax.ShapeDtypeStruct((), jnp.float64),
            row,
            vmap_method=vmap_method,
        )

    np.testing.assert_array_equal(
        np.asarray(jax.jit(jax.vmap(one))(x)), np.sum(np.asarray(x) ** 2, axis=-1)
    )


def test_debug_callback_gets_exact_numpy_arrays():
    seen = []
    jax.jit(lambda t: debug_callback(lambda tree: seen.append(tree), t))(OPERANDS)
    jax.effects_barrier()
    (tree,) = seen
    for name, value in OPERANDS.items():
        assert isinstance(tree[name], np.ndarray)
        np.testing.assert_array_equal(tree[name], np.asarray(value))


# With x64 off and float64 switched on only by the thread-local context (as the package does),
# XLA runs the callbacks of a sampling loop on its own threads, where JAX's plain callbacks
# round float64 operands to float32: a host log density saw float32-rounded proposals in most
# fresh processes (and exact ones in others), so the same key gave different draws.
MCMC_SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from numpyro.infer import MCMC
    from numpyro_semipar._x64 import float64
    from numpyro_semipar.mcmc import RandomWalkMH
    from numpyro_semipar.mcmc._executor import host_logdensity
    assert not jax.config.jax_enable_x64
    seen = []

    def host(theta):
        seen.append(np.array(theta))
        return -0.5 * np.sum(theta**2)

    with float64():
        f = host_logdensity(host)
        kernel = RandomWalkMH(potential_fn=lambda x: -f(x))
        mcmc = MCMC(kernel, num_warmup=100, num_samples=300, progress_bar=False)
        mcmc.run(jax.random.key(1), init_params=jnp.zeros(2), extra_fields=("info.proposal",))
    proposals = np.asarray(mcmc.get_extra_fields()["info.proposal"], np.float64)
    assert proposals.dtype == np.float64
    # The host saw the start, then every proposal (warm-up and sampling), bit for bit.
    np.testing.assert_array_equal(np.stack(seen[-300:]), proposals)
    rounded = sum(np.array_equal(s, s.astype(np.float32)) for s in seen[1:])
    assert rounded == 0, f"{rounded} of {len(seen) - 1} positions arrived rounded to float32"
    print("exact", len(seen))
    """
)


def test_host_log_density_sees_exact_float64_proposals_with_x64_off():
    completed = subprocess.run(
        [sys.executable, "-c", MCMC_SCRIPT],
        capture_output=True,
        text=True,
        env={"JAX_ENABLE_X64": "0", "JAX_PLATFORMS": "cpu", "PATH": ""},
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().splitlines()[-1] == "exact 401"
