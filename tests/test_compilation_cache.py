"""enable_compilation_cache: opt-in, and a second process loads what the first compiled.

The setting is global to a process, so each check runs in a fresh interpreter.
"""

import json
import subprocess
import sys

import pytest

import numpyro_semipar

_SCRIPT = r"""
import json, sys
import jax, jax.numpy as jnp
import numpyro_semipar

events = {"compiles": 0, "hits": 0}
def on_duration(event, duration, **_):
    if event == "/jax/core/compile/backend_compile_duration":
        events["compiles"] += 1
def on_event(event, **_):
    if event == "/jax/compilation_cache/cache_hits":
        events["hits"] += 1
jax.monitoring.register_event_duration_secs_listener(on_duration)
jax.monitoring.register_event_listener(on_event)
before = jax.config.jax_compilation_cache_dir
jnp.ones(3).block_until_ready()  # something compiled before the cache is switched on
numpyro_semipar.enable_compilation_cache(sys.argv[1], min_compile_time_secs=0)
events["compiles"] = events["hits"] = 0
f = jax.jit(lambda x: jnp.cumsum(jnp.sin(x) * 3.25) @ jnp.cos(x))
import numpy as np
print(json.dumps({"value": float(f(np.arange(7.0))), "before": before, **events}))
"""


def _run(path):
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_the_compiled_program(tmp_path):
    first = _run(tmp_path / "cache")
    assert first["before"] is None  # importing the package did not switch it on
    assert first["compiles"] == 1 and first["hits"] == 0
    assert any((tmp_path / "cache").iterdir())
    second = _run(tmp_path / "cache")
    # Loaded, not compiled (JAX records its backend-compile event for a load too).
    assert second["hits"] == 1 and second["compiles"] == 1
    assert second["value"] == first["value"]


def test_bad_min_compile_time_is_named(tmp_path):
    with pytest.raises(ValueError, match="min_compile_time_secs must be finite and >= 0; got -1"):
        numpyro_semipar.enable_compilation_cache(tmp_path, min_compile_time_secs=-1)
