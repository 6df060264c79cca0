"""Three posteriordb posteriors as NumPyro models, with their Stan reference draws.

Translations of the Stan programs in ``shared/data/posteriordb`` (provenance in
``shared/data/SOURCES.md``). Stan semantics kept: ``real<lower=0> sigma; sigma ~ cauchy(0, c)``
is ``HalfCauchy(c)`` (the truncation constant does not matter); every other statement maps one
to one. The reference draws are 10 chains x 1000 thinned Stan NUTS draws (bulk ESS about 10,000).
"""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist


def _data_folder() -> Path:
    here = Path(__file__).resolve()
    for root in (here.parents[3] / "shared", Path("/work/shared")):
        folder = root / "data" / "posteriordb"
        if folder.is_dir():
            return folder
    raise FileNotFoundError("shared/data/posteriordb not found beside the repository")


def ark(K, T, y):
    """arK: AR(K) with intercept; alpha, beta ~ N(0, 10), sigma ~ half-Cauchy(0, 2.5)."""
    y = jnp.asarray(y)
    alpha = numpyro.sample("alpha", dist.Normal(0.0, 10.0))
    beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([K]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    # mu_t = alpha + sum_k beta_k y_{t-k}, t = K+1..T (1-based).
    lags = jnp.stack([y[K - k : T - k] for k in range(1, K + 1)], axis=-1)
    mu = alpha + lags @ beta
    numpyro.sample("y", dist.Normal(mu, sigma), obs=y[K:])


def arma11(T, y):
    """ARMA(1, 1) with err[0] = 0; mu ~ N(0, 10), phi, theta ~ N(0, 2), sigma ~ half-Cauchy."""
    y = jnp.asarray(y)
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    phi = numpyro.sample("phi", dist.Normal(0.0, 2.0))
    theta = numpyro.sample("theta", dist.Normal(0.0, 2.0))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    first = y[0] - (mu + phi * mu)

    def step(previous_error, pair):
        previous_y, current_y = pair
        error = current_y - (mu + phi * previous_y + theta * previous_error)
        return error, error

    _, errors = jax.lax.scan(step, first, (y[:-1], y[1:]))
    errors = jnp.concatenate([first[None], errors])
    numpyro.factor("err", dist.Normal(0.0, sigma).log_prob(errors).sum())


def eight_schools_noncentered(J, y, sigma):
    """Eight schools, non-centred: theta = mu + tau * theta_trans."""
    theta_trans = numpyro.sample("theta_trans", dist.Normal(0.0, 1.0).expand([J]).to_event(1))
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    theta = numpyro.deterministic("theta", theta_trans * tau + mu)
    numpyro.sample("y", dist.Normal(theta, jnp.asarray(sigma)), obs=jnp.asarray(y))


POSTERIORS = {
    "arK-arK": (ark, ("K", "T", "y")),
    "arma-arma11": (arma11, ("T", "y")),
    "eight_schools-eight_schools_noncentered": (eight_schools_noncentered, ("J", "y", "sigma")),
}


def load(name):
    """Return ``(model, args, reference)``; ``reference`` maps 'site[i]' to (10, 1000) draws."""
    folder = _data_folder()
    model, arg_names = POSTERIORS[name]
    data = json.loads((folder / f"{name}.data.json").read_text())
    args = tuple(
        data[key] if isinstance(data[key], int) else np.asarray(data[key], float)
        for key in arg_names
    )
    with np.load(folder / f"{name}.reference_draws.npz") as archive:
        reference = {key: np.asarray(archive[key]) for key in archive.files}
    return model, args, reference


def flatten_samples(samples):
    """Map {site: (chains, draws, ...)} to {'site[i]' (1-based, Stan style): (chains, draws)}."""
    flat = {}
    for site, values in samples.items():
        values = np.asarray(values)
        if values.ndim == 2:
            flat[site] = values
        else:
            for index in range(values.shape[2]):
                flat[f"{site}[{index + 1}]"] = values[:, :, index]
    return flat


def compare_to_reference(samples, reference):
    """Per reference parameter: z of the mean (by the draws' own ESS) and the ratio of sds.

    ``z = (mean - reference mean) / (reference sd / sqrt(ESS))`` with ESS the bulk ESS of our
    draws (split chains), as the validation criterion of the issue defines it.
    """
    from numpyro.diagnostics import effective_sample_size

    ours = flatten_samples(samples)
    rows = {}
    for key, ref in reference.items():
        draws = ours[key]
        ess = float(effective_sample_size(draws))
        ref_mean, ref_sd = float(ref.mean()), float(ref.std())
        z = (float(draws.mean()) - ref_mean) / (ref_sd / np.sqrt(ess))
        rows[key] = {"z": z, "sd_ratio": float(draws.std()) / ref_sd, "ess": ess}
    return rows


def assert_agrees(samples, reference, *, max_z=4.0, sd_tolerance=0.10, min_ess=100.0):
    """Max |z| <= 4 and every sd within 10%, on at least ``min_ess`` effective draws."""
    rows = compare_to_reference(samples, reference)
    table = "\n".join(
        f"  {key:12s} z={row['z']:+6.2f} sd ratio={row['sd_ratio']:.3f} ess={row['ess']:.0f}"
        for key, row in rows.items()
    )
    assert all(row["ess"] >= min_ess for row in rows.values()), f"ESS too small:\n{table}"
    assert all(abs(row["z"]) <= max_z for row in rows.values()), f"means off:\n{table}"
    assert all(abs(row["sd_ratio"] - 1.0) <= sd_tolerance for row in rows.values()), (
        f"sds off:\n{table}"
    )
    return rows
