"""mixsqp called directly in a float32 session (x64 off, as in a fresh NumPyro program).

Behaviour (documented in mixsqp's Notes): a concrete float32 call solves in float64 on the
converted input, draws no warning and returns float32 arrays; inside ``jit`` it raises
``Float64RequiredError`` at entry. Run in a fresh process, because the test session has x64 on.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

from numpyro_semipar.npmle import em, mixsqp

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

_SCRIPT = """
import json
import warnings

warnings.simplefilter("error")  # any float32 or dtype warning fails the run
import jax
import jax.numpy as jnp
import numpyro_semipar
from numpyro_semipar.npmle import em, mixsqp

x = jax.random.normal(jax.random.key(0), (300,)) + jnp.where(jnp.arange(300) % 2 == 0, -2.0, 2.0)
grid = jnp.linspace(-4.0, 4.0, 25)
log_lik = jax.scipy.stats.norm.logpdf(x[:, None] - grid[None, :])
result = mixsqp(log_lik)
em_result = em(log_lik, warn=False)
downstream = float(jnp.sum(result.mixing_weights * grid))  # mixes with float32 code silently
try:
    jax.jit(mixsqp)(log_lik)
    traced = "no error"
except numpyro_semipar.Float64RequiredError as err:
    traced = str(err)
print(json.dumps({
    "log_lik": [[float(v) for v in row] for row in log_lik],
    "weights": [float(v) for v in result.mixing_weights],
    "loglik": float(result.loglik),
    "converged": bool(result.converged),
    "dtypes": [str(result.mixing_weights.dtype), str(result.loglik.dtype),
               str(result.kkt_residual.dtype), str(em_result.mixing_weights.dtype)],
    "downstream": downstream,
    "traced": traced,
}))
"""


def test_mixsqp_in_a_float32_session_solves_in_float64_and_returns_float32():
    env = {**os.environ, "JAX_ENABLE_X64": "0"}
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["dtypes"] == ["float32"] * 4
    assert got["converged"]
    assert "numpyro.enable_x64()" in got["traced"]

    # Reference: the float64 solve (x64 on, this process) of the same float32 matrix.
    log_lik = np.asarray(got["log_lik"], dtype=np.float32).astype(np.float64)
    reference = mixsqp(log_lik)
    np.testing.assert_allclose(got["weights"], reference.mixing_weights, atol=1e-6)
    np.testing.assert_allclose(got["loglik"], reference.loglik, rtol=1e-6)
    # The float32 result still sums to one, and EM agrees on the objective's scale.
    assert abs(sum(got["weights"]) - 1.0) < 1e-5
    assert float(em(log_lik, warn=False).loglik) <= float(reference.loglik) + 1e-9
    grid = np.linspace(-4.0, 4.0, 25)
    np.testing.assert_allclose(got["downstream"], reference.mixing_weights @ grid, atol=1e-5)
