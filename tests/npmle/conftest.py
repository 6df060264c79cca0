"""Shared fixtures for the NPMLE tests."""

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

DATA = "/work/shared/data/npmle/"

# Optimal objectives -sum_i a_i log(L_i p) (weights normalised to sum to one), from the notes
# (independent solver, KKT residual below 4e-11).
REFERENCE_OPTIMA = {
    "tacks": 2.000861571543,
    "simdata_n20000_m20": 0.198913553934611,
    "flashr_example": 0.786947905550,
    "ashr_example": 0.696534713002,
    "smashr_example": 0.055473629047,
    "ashr_binom_example": 0.763506342737,
    "mashr_example": 0.559668209931,
}


@pytest.fixture(autouse=True, scope="module")
def _single_threaded_lapack():
    # The small dense factorisations inside the solver are slower, not faster, with
    # multi-threaded OpenBLAS on a busy 2-core machine.
    with threadpool_limits(1):
        yield


def load_reference(name):
    """Return (log_lik, weights or None, optimum) for a reference problem."""
    if name.endswith(".csv.gz") or name == "simdata_n20000_m20":
        lik = pd.read_csv(DATA + "simdata_n20000_m20.csv.gz", header=None).to_numpy()
        weights = None
    else:
        d = np.load(DATA + name + ".npz")
        lik = d["L"]
        weights = d["w"] if "w" in d.files else None
    with np.errstate(divide="ignore"):
        log_lik = np.log(lik)
    return log_lik, weights, REFERENCE_OPTIMA[name]


def gaussian_location_problem(rng, n, m, atoms=(-2.0, 0.5, 3.0), probs=(0.3, 0.5, 0.2)):
    """Log-likelihood matrix of a Gaussian location mixture on an equally spaced grid."""
    z = rng.choice(np.asarray(atoms), size=n, p=np.asarray(probs))
    x = z + rng.normal(size=n)
    grid = np.linspace(x.min(), x.max(), m)
    return -0.5 * (x[:, None] - grid[None, :]) ** 2 - 0.5 * np.log(2 * np.pi)


def kkt_check(log_lik, weights, p):
    """Independent numpy KKT residual at p (weights normalised), over all coordinates."""
    log_lik = np.asarray(log_lik, dtype=np.float64)
    n = log_lik.shape[0]
    a = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    a = a / a.sum()
    rowmax = log_lik.max(axis=1, keepdims=True)
    lik = np.exp(log_lik - rowmax)
    u = lik @ p
    d = (a / np.where(a > 0, u, 1.0) * (a > 0)) @ lik
    above = np.max(np.maximum(d - 1, 0))
    on = np.max(np.where(p > 0, np.abs(d - 1), 0))
    return max(above, on), d
