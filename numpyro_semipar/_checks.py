"""Host-side checks of user data that name the argument, leaf and index of a bad value.

Estimators call these at entry, before any compilation, so that NaN data is reported as NaN
data instead of surfacing later as a "non-finite objective" or a "did not converge" message.
Traced values (inside ``jit``) are skipped: their values are not known.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

__all__ = ["check_no_nan", "find_nan", "nan_data_sets"]


def find_nan(tree: Any) -> tuple[str, tuple[int, ...]] | None:
    """First NaN in the concrete floating-point leaves of a pytree.

    Parameters
    ----------
    tree : pytree
        Arrays, scalars or nested containers of them.

    Returns
    -------
    (str, tuple of int) or None
        The leaf's path (``""`` for a bare array, ``"['y']"`` for a dict entry) and the
        index of its first NaN, or None when there is none.
    """
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    for path, leaf in leaves:
        if isinstance(leaf, jax.core.Tracer):
            continue
        try:
            values = np.asarray(leaf)
        except (TypeError, ValueError):  # not array-like: nothing to check
            continue
        if not (np.issubdtype(values.dtype, np.floating) or np.iscomplexobj(values)):
            continue
        mask = np.isnan(values)
        if mask.any():
            index = tuple(int(i) for i in np.argwhere(mask)[0]) if values.ndim else ()
            return jax.tree_util.keystr(path), index
    return None


def check_no_nan(tree: Any, name: str = "data", *, batched: bool = False) -> None:
    """Raise a ValueError naming the leaf and index of the first NaN in ``tree``.

    Parameters
    ----------
    tree : pytree
        The data.
    name : str
        The argument's name in the message.
    batched : bool
        Whether the leading axis of every leaf indexes data sets (``fit_batch``): the message
        then names the data set.

    Raises
    ------
    ValueError
        ``tree`` holds a NaN.
    """
    found = find_nan(tree)
    if found is None:
        return
    path, index = found
    where = f"{name}{path}[{', '.join(map(str, index))}]" if index else f"{name}{path}"
    if batched and index:
        raise ValueError(
            f"data set {index[0]} has NaN: {where} is NaN (leading axis = data set); drop or "
            "impute the missing values of that data set"
        )
    raise ValueError(f"{where} is NaN: drop or impute missing values before fitting")


def nan_data_sets(tree: Any) -> list[int]:
    """Return the indices along the leading axis (data sets) of a stacked pytree with NaN."""
    flags = None
    for leaf in jax.tree.leaves(tree):
        values = np.asarray(leaf)
        if values.ndim == 0 or not np.issubdtype(values.dtype, np.floating):
            continue
        rows = np.isnan(values).reshape(values.shape[0], -1).any(axis=1)
        flags = rows if flags is None else flags | rows
    return [] if flags is None else [int(r) for r in np.flatnonzero(flags)]
