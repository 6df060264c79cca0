"""A neural-network surrogate of an expensive log density (Flax NNX, trained with optax).

The seed recipe (Kase, Rigato & Rottner 2024) regresses the log posterior on the parameters with a
3 × 128 CELU MLP, AdamW and a cosine-annealed learning rate, batch 100, 1000 epochs, after dropping
the 20% of candidates with the lowest log posterior. :func:`train_surrogate` keeps that model but
trains much faster: inputs are whitened (principal axes of their covariance) and outputs
standardised, the weight matrices are trained with Muon (orthogonalised momentum; AdamW remains
available), batches are larger, each epoch is one jitted :func:`jax.lax.scan` over mini-batches
on the split NNX state (no Python per step), and training stops early once the validation error
stops improving.

The trained :class:`Surrogate` is an :class:`equinox.Module` (a pytree) whose ``__call__`` is a
pure, jittable log density of a flat position or of a parameter dict.
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
from flax import nnx

from .._params import ParamLayout
from .._progress import progress
from ._mlp import MLP

__all__ = ["MLP", "Surrogate", "TrainingInfo", "load_surrogate", "train_surrogate"]


class TrainingInfo(NamedTuple):
    """How a surrogate was trained and how well it fits (original log-density units).

    Attributes
    ----------
    validation_rmse, validation_r2 : float
        Root mean squared error and R² on the held-out validation set (best epoch).
    train_rmse : float
        RMSE on the training set at the best epoch.
    num_epochs, best_epoch : int
        Epochs run (early stopping may end before the budget) and the epoch kept.
    num_train, num_validation, num_trimmed, num_nonfinite : int
        Sizes of the splits; candidates dropped by trimming and for a non-finite log density.
    seconds : float
        Training wall time (including compilation).
    history : tuple of float
        Validation RMSE after each epoch.
    hidden_sizes : tuple of int
        Architecture.
    activation : str
        Activation function.
    history_seconds : tuple of float
        Wall seconds since the start of training at the end of each epoch (``history``'s
        clock).
    cpu_seconds : float
        Process CPU seconds of the training (a steadier measure on a shared machine).
    whitening : str
        Input transformation (see :func:`train_surrogate`).
    optimizer : str
        ``"muon"`` or ``"adamw"``.
    batch_size : int
        Mini-batch size used.
    learning_rate : float
        Peak learning rate used.
    """

    validation_rmse: float
    validation_r2: float
    train_rmse: float
    num_epochs: int
    best_epoch: int
    num_train: int
    num_validation: int
    num_trimmed: int
    num_nonfinite: int
    seconds: float
    history: tuple[float, ...]
    hidden_sizes: tuple[int, ...]
    activation: str
    history_seconds: tuple[float, ...] = ()
    cpu_seconds: float = 0.0
    whitening: str = "standardize"
    optimizer: str = "adamw"
    batch_size: int = 0
    learning_rate: float = 0.0


class Surrogate(eqx.Module):
    """A trained surrogate log density: standardise, MLP, unstandardise.

    Call it on a flat position of shape (..., dim) or, when it knows the parameter layout, on a
    dict of (unconstrained) site values; the result has the position's floating dtype. It is a
    pytree and a pure function, so it can be closed over or passed through :func:`jax.jit`.

    Attributes
    ----------
    graphdef : flax.nnx.GraphDef
        Structure of the network (static).
    params : flax.nnx.State
        Network weights (float32).
    input_mean, input_scale : array of shape (dim,)
        Centring and per-coordinate scaling of the inputs.
    output_mean, output_scale : array
        Standardisation of the log density.
    layout : ParamLayout or None
        Names and shapes of the parameter dict the flat position stands for (static).
    info : TrainingInfo or None
        Training report (static).
    input_transform : array of shape (dim, dim) or None
        Whitening applied after centring, ``(x - input_mean) @ input_transform`` (then
        ``input_scale`` is ignored); ``None``: ``(x - input_mean) / input_scale``.
    """

    graphdef: Any = eqx.field(static=True)
    params: Any
    input_mean: jax.Array
    input_scale: jax.Array
    output_mean: jax.Array
    output_scale: jax.Array
    layout: ParamLayout | None = eqx.field(static=True, default=None)
    info: TrainingInfo | None = eqx.field(static=True, default=None)
    input_transform: jax.Array | None = None

    @property
    def dim(self) -> int:
        """Dimension of the flat position."""
        return int(self.input_mean.shape[0])

    def flat_logdensity(self, position: jax.Array) -> jax.Array:
        """Surrogate log density of flat positions of shape (..., dim)."""
        position = jnp.asarray(position)
        if position.ndim == 0 or position.shape[-1] != self.dim:
            raise ValueError(
                f"position has shape {position.shape} but the surrogate was trained on "
                f"dim={self.dim} coordinates: pass an array of shape (..., {self.dim})"
            )
        if not jnp.issubdtype(position.dtype, jnp.floating):
            position = position.astype(jnp.float32)
        # Centre in the position's own precision (float64 positions far from the origin keep
        # their digits), then evaluate the network in float32.
        x = (position - self.input_mean.astype(position.dtype)).astype(jnp.float32)
        if self.input_transform is None:
            x = x / self.input_scale
        else:
            x = x @ self.input_transform
        y = nnx.merge(self.graphdef, self.params)(x)
        out = self.output_mean + self.output_scale * y
        return out.astype(position.dtype)

    def __call__(self, position) -> jax.Array:
        """Surrogate log density of a flat position (..., dim) or of a parameter dict."""
        if isinstance(position, Mapping):
            if self.layout is None:
                raise TypeError(
                    "this surrogate was trained on flat positions; pass a (dim,) array or train "
                    "with layout= to call it on a parameter dict"
                )
            position = self.layout.ravel(position)
        return self.flat_logdensity(position)

    @property
    def logdensity_fn(self):
        """The surrogate as a plain function ``position -> log density`` (jittable)."""
        return self.__call__

    def save(self, path: str | os.PathLike) -> None:
        """Write the surrogate to one ``.npz`` file (weights, scaling and metadata as JSON)."""
        pure = nnx.to_pure_dict(self.params)
        arrays = {
            "param" + jax.tree_util.keystr(p): np.asarray(v)
            for p, v in jax.tree_util.tree_flatten_with_path(pure)[0]
        }
        hidden = [int(a.shape[-1]) for k, a in arrays.items() if "hidden" in k and "kernel" in k]
        metadata = {
            "format": "numpyro_semipar.Surrogate/1",
            "in_features": self.dim,
            "hidden_sizes": hidden,
            "activation": self.info.activation if self.info else _activation_of(self),
            "info": self.info._asdict() if self.info else None,
            "layout": (
                {
                    "names": list(self.layout.names),
                    "shapes": [list(s) for s in self.layout.shapes],
                    "flat_names": list(self.layout.flat_names),
                }
                if self.layout
                else None
            ),
        }
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                __metadata__=np.array(json.dumps(metadata)),
                input_mean=np.asarray(self.input_mean),
                input_scale=np.asarray(self.input_scale),
                output_mean=np.asarray(self.output_mean),
                output_scale=np.asarray(self.output_scale),
                **(
                    {}
                    if self.input_transform is None
                    else {"input_transform": np.asarray(self.input_transform)}
                ),
                **arrays,
            )
        os.replace(tmp, path)


def _activation_of(surrogate: Surrogate) -> str:
    return nnx.merge(surrogate.graphdef, surrogate.params).activation


def load_surrogate(path: str | os.PathLike) -> Surrogate:
    """Read a surrogate written by :meth:`Surrogate.save`.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file.

    Returns
    -------
    Surrogate
    """
    try:
        # Our own handle: np.load leaks its file when the zip directory is unreadable.
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
            metadata = json.loads(str(data["__metadata__"]))
            files = {k: np.asarray(data[k]) for k in data.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as error:
        raise ValueError(
            f"{path} is not a readable surrogate file ({type(error).__name__}: {error}); it may "
            "be truncated or not written by Surrogate.save"
        ) from error
    model = MLP(
        metadata["in_features"],
        tuple(metadata["hidden_sizes"]),
        metadata["activation"],
        rngs=nnx.Rngs(0),
    )
    graphdef, params = nnx.split(model, nnx.Param)
    pure = nnx.to_pure_dict(params)
    pure = jax.tree_util.tree_map_with_path(
        lambda p, _: jnp.asarray(files["param" + jax.tree_util.keystr(p)]), pure
    )
    nnx.replace_by_pure_dict(params, pure)
    info = metadata["info"]
    if info is not None:
        info["history"] = tuple(info["history"])
        info["hidden_sizes"] = tuple(info["hidden_sizes"])
        info["history_seconds"] = tuple(info.get("history_seconds", ()))
        info = TrainingInfo(**info)
    layout = metadata["layout"]
    if layout is not None:
        layout = ParamLayout(
            tuple(layout["names"]),
            tuple(tuple(s) for s in layout["shapes"]),
            tuple(layout["flat_names"]),
        )
    return Surrogate(
        graphdef=graphdef,
        params=params,
        input_mean=jnp.asarray(files["input_mean"], jnp.float32),
        input_scale=jnp.asarray(files["input_scale"], jnp.float32),
        output_mean=jnp.asarray(files["output_mean"], jnp.float32),
        output_scale=jnp.asarray(files["output_scale"], jnp.float32),
        layout=layout,
        info=info,
        input_transform=(
            jnp.asarray(files["input_transform"], jnp.float32)
            if "input_transform" in files
            else None
        ),
    )


def _whitening(x: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Return ``(scale, transform)``: ``x / scale`` or ``x @ transform`` has unit covariance."""
    scale = x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    if method == "standardize":
        return scale, None
    # Correlations are whitened on the correlation matrix (scale-free), so a coordinate in the
    # thousands next to one in the thousandths does not spoil the eigen/Cholesky factorisation.
    corr = np.atleast_2d(np.cov(x / scale, rowvar=False))
    corr = 0.5 * (corr + corr.T)
    if method == "pca":
        eigenvalues, vectors = np.linalg.eigh(corr)
        # Directions without spread (perfectly collinear coordinates) are left unscaled.
        eigenvalues = np.maximum(eigenvalues, 1e-8 * max(float(eigenvalues.max()), 1e-300))
        transform = vectors / np.sqrt(eigenvalues)
    else:  # cholesky
        dim = corr.shape[0]
        factor = np.linalg.cholesky(corr + 1e-8 * np.eye(dim))
        transform = np.linalg.inv(factor).T
    return np.ones_like(scale), transform / scale[:, None]


def _split_data(rng_key, positions, values, trim_fraction, validation_fraction):
    if positions.ndim != 2:
        raise ValueError(f"positions must be a 2-D array (n, dim); got shape {positions.shape}")
    if values.shape != (positions.shape[0],):
        raise ValueError(
            f"log_densities must have shape ({positions.shape[0]},); got {values.shape}"
        )
    if not 0.0 <= trim_fraction < 1.0:
        raise ValueError(f"trim_fraction must be in [0, 1), got {trim_fraction}")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    finite = np.isfinite(values) & np.all(np.isfinite(positions), axis=1)
    num_nonfinite = int((~finite).sum())
    if finite.sum() < 3:
        first = int(np.flatnonzero(~finite)[0]) if num_nonfinite else 0
        raise ValueError(
            f"too few usable candidates to train a surrogate: only {int(finite.sum())} of "
            f"{values.shape[0]} have a finite log density and position (e.g. row {first}: "
            f"log_densities[{first}] = "
            f"{values[first] if values.size else 'n/a'}); a surrogate needs at least 3"
        )
    positions, values = positions[finite], values[finite]
    num_trimmed = 0
    if trim_fraction > 0:
        cutoff = np.quantile(values, trim_fraction)
        keep = values >= cutoff
        num_trimmed = int((~keep).sum())
        positions, values = positions[keep], values[keep]
    n = positions.shape[0]
    num_validation = max(1, int(round(validation_fraction * n)))
    if n - num_validation < 2:
        raise ValueError(f"too few usable candidates to train a surrogate ({n})")
    order = np.asarray(jax.random.permutation(rng_key, n))
    val, train = order[:num_validation], order[num_validation:]
    return (
        positions[train],
        values[train],
        positions[val],
        values[val],
        num_trimmed,
        num_nonfinite,
    )


def train_surrogate(
    positions,
    log_densities,
    *,
    rng_key: jax.Array | None = None,
    hidden_sizes: Sequence[int] = (128, 128, 128),
    activation: str = "celu",
    trim_fraction: float = 0.2,
    validation_fraction: float = 0.1,
    num_epochs: int = 100,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    weight_decay: float = 1e-4,
    warmup_fraction: float = 0.05,
    optimizer: str = "muon",
    patience: int | None = 30,
    whitening: str = "pca",
    layout: ParamLayout | None = None,
    progress_bar: bool = True,
) -> Surrogate:
    """Train an MLP surrogate of a log density on evaluated candidates.

    Parameters
    ----------
    positions : array of shape (n, dim)
        Evaluated positions (e.g. ``CandidateArchive.load()[0]``).
    log_densities : array of shape (n,)
        Their log densities. Non-finite values are dropped.
    rng_key : jax.Array, optional
        Key for the split, the initialisation and the shuffling (default ``jax.random.key(0)``).
    hidden_sizes : sequence of int
        Hidden layer widths (seed: ``(128, 128, 128)``).
    activation : str
        Activation (seed: ``"celu"``); see :class:`MLP`.
    trim_fraction : float
        Share of candidates with the lowest log density dropped before training (seed: 0.2):
        the surrogate is only needed where the chain goes.
    validation_fraction : float
        Share held out to measure the fit and to stop early.
    num_epochs : int
        Epoch budget; the cosine learning-rate schedule spans it.
    batch_size : int, optional
        Mini-batch size (seed: 100). Default: ``n_train // 64`` clipped to [64, 512], so small
        archives still get enough steps per epoch and large ones use efficient batches.
    learning_rate : float, optional
        Peak learning rate of the warm-up + cosine schedule. Default:
        ``1.6e-2 * sqrt(batch_size / 512)`` with ``optimizer="muon"`` and
        ``2e-3 * sqrt(batch_size / 128)`` with ``"adamw"``.
    weight_decay : float
        Decoupled weight decay.
    warmup_fraction : float
        Share of the steps spent warming the learning rate up linearly.
    optimizer : {"muon", "adamw"}
        ``"muon"`` (default): :func:`optax.contrib.muon`, which orthogonalises the momentum of
        each weight matrix by Newton–Schulz iterations (biases use Adam); ``"adamw"``: the
        seed's. On 50,000 × 11 candidates, muon at batch 512 reached in 60 epochs a validation
        RMSE that AdamW did not reach in 250 (``benchmarks/RESULTS.md``).
    patience : int or None
        Stop after this many epochs without a new best validation RMSE (``None``: never).
        The weights of the best epoch are returned.
    whitening : {"pca", "cholesky", "standardize"}
        Input transformation computed on the training inputs: ``"pca"`` (default) rotates onto
        the principal axes of their covariance and scales each to unit variance,
        ``"cholesky"`` whitens with the inverse Cholesky factor, ``"standardize"`` only
        centres and scales each coordinate (the seed's). Posteriors are often strongly
        correlated (DSGE, banana): whitening gives the network uncorrelated inputs.
    layout : ParamLayout, optional
        Names and shapes of the parameter dict a flat position stands for, so the surrogate can
        be called on dicts.
    progress_bar : bool
        Show a tqdm bar over epochs (always off when the ``CI`` environment variable is set).

    Returns
    -------
    Surrogate
        The trained surrogate; ``surrogate.info`` reports validation RMSE and R².
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    if optimizer not in ("muon", "adamw"):
        raise ValueError(f"optimizer must be 'muon' or 'adamw', got {optimizer!r}")
    if whitening not in ("pca", "cholesky", "standardize"):
        raise ValueError(f"whitening must be 'pca', 'cholesky' or 'standardize', got {whitening!r}")
    rng_key = jax.random.key(0) if rng_key is None else rng_key
    split_key, init_key, shuffle_key = jax.random.split(rng_key, 3)
    positions = np.asarray(positions, dtype=np.float64)
    values = np.asarray(log_densities, dtype=np.float64).reshape(-1)
    x_train, y_train, x_val, y_val, num_trimmed, num_nonfinite = _split_data(
        split_key, positions, values, trim_fraction, validation_fraction
    )
    if layout is not None and layout.size != positions.shape[1]:
        raise ValueError(
            f"layout has {layout.size} parameters, positions have {positions.shape[1]}"
        )
    dim = x_train.shape[1]
    # The stored (float32) mean is the one used here, so training and evaluation agree.
    input_mean = x_train.mean(axis=0).astype(np.float32).astype(np.float64)
    input_scale, input_transform = _whitening(x_train - input_mean, whitening)
    output_mean = float(y_train.mean())
    output_scale = float(y_train.std()) or 1.0

    def inputs(x):
        x = x - input_mean
        return x / input_scale if input_transform is None else x @ input_transform

    f32 = jnp.float32
    xt = jnp.asarray(inputs(x_train), f32)
    yt = jnp.asarray((y_train - output_mean) / output_scale, f32)
    xv = jnp.asarray(inputs(x_val), f32)
    yv = jnp.asarray((y_val - output_mean) / output_scale, f32)

    n_train = xt.shape[0]
    if batch_size is None:
        batch_size = int(np.clip(n_train // 64, 64, 512))
    batch = int(min(batch_size, n_train))
    if learning_rate is None:
        base, reference = (1.6e-2, 512) if optimizer == "muon" else (2e-3, 128)
        learning_rate = base * float(np.sqrt(batch / reference))
    steps_per_epoch = max(1, n_train // batch)
    total_steps = max(2, int(num_epochs) * steps_per_epoch)
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=learning_rate,
        warmup_steps=max(1, int(warmup_fraction * total_steps)),
        decay_steps=total_steps,
        end_value=learning_rate * 1e-3,
    )
    if optimizer == "muon":
        # consistent_rms: muon's updates get an Adam-like RMS, so one learning rate serves the
        # matrices (muon) and the biases (Adam).
        tx = optax.contrib.muon(
            schedule,
            consistent_rms=0.2,
            weight_decay=weight_decay,
            adam_weight_decay=weight_decay,
        )
    else:
        tx = optax.adamw(schedule, weight_decay=weight_decay)
    seed = int(jax.random.randint(init_key, (), 0, 2**31 - 1))
    model = MLP(dim, tuple(hidden_sizes), activation, rngs=nnx.Rngs(seed))
    graphdef, params = nnx.split(model, nnx.Param)
    opt_state = tx.init(params)

    def loss_fn(p, x, y):
        prediction = nnx.merge(graphdef, p)(x)
        return jnp.mean((prediction - y) ** 2)

    @jax.jit
    def run_epoch(p, state, key, x, y):
        order = jax.random.permutation(key, x.shape[0])[: steps_per_epoch * batch]
        xb = x[order].reshape(steps_per_epoch, batch, -1)
        yb = y[order].reshape(steps_per_epoch, batch)

        def step(carry, data):
            p, state = carry
            loss, grads = jax.value_and_grad(loss_fn)(p, *data)
            updates, state = tx.update(grads, state, p)
            return (optax.apply_updates(p, updates), state), loss

        (p, state), losses = jax.lax.scan(step, (p, state), (xb, yb))
        return p, state, jnp.mean(losses)

    @jax.jit
    def mse(p, x, y):
        return loss_fn(p, x, y)

    best = (np.inf, params, 0)
    history, history_seconds = [], []
    epochs_run = 0
    bar = progress(range(int(num_epochs)), desc="surrogate", enabled=progress_bar)
    for epoch in bar:
        shuffle_key, key = jax.random.split(shuffle_key)
        params, opt_state, train_loss = run_epoch(params, opt_state, key, xt, yt)
        val_rmse = float(np.sqrt(float(mse(params, xv, yv)))) * output_scale
        history.append(val_rmse)
        history_seconds.append(time.perf_counter() - start)
        epochs_run = epoch + 1
        if val_rmse < best[0]:
            best = (val_rmse, params, epoch)
        bar.set_postfix(val_rmse=f"{val_rmse:.4g}", train_loss=f"{float(train_loss):.3g}")
        if not np.isfinite(val_rmse):
            raise FloatingPointError(
                f"surrogate training diverged at epoch {epoch}; lower learning_rate"
            )
        if patience is not None and epoch - best[2] >= patience:
            break
    bar.close()
    _, params, best_epoch = best
    val_pred = np.asarray(nnx.merge(graphdef, params)(xv), np.float64) * output_scale + output_mean
    train_rmse = float(np.sqrt(float(mse(params, xt, yt)))) * output_scale
    residual = val_pred - y_val
    validation_rmse = float(np.sqrt(np.mean(residual**2)))
    total = float(np.sum((y_val - y_val.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / total if total > 0 else float("nan")
    info = TrainingInfo(
        validation_rmse=validation_rmse,
        validation_r2=r2,
        train_rmse=train_rmse,
        num_epochs=epochs_run,
        best_epoch=int(best_epoch),
        num_train=int(n_train),
        num_validation=int(xv.shape[0]),
        num_trimmed=num_trimmed,
        num_nonfinite=num_nonfinite,
        seconds=time.perf_counter() - start,
        history=tuple(history),
        hidden_sizes=tuple(int(h) for h in hidden_sizes),
        activation=activation,
        history_seconds=tuple(history_seconds),
        cpu_seconds=time.process_time() - cpu_start,
        whitening=whitening,
        optimizer=optimizer,
        batch_size=batch,
        learning_rate=float(learning_rate),
    )
    return Surrogate(
        graphdef=graphdef,
        params=params,
        input_mean=jnp.asarray(input_mean, f32),
        input_scale=jnp.asarray(input_scale, f32),
        output_mean=jnp.asarray(output_mean, f32),
        output_scale=jnp.asarray(output_scale, f32),
        layout=layout,
        info=info,
        input_transform=None if input_transform is None else jnp.asarray(input_transform, f32),
    )
