"""Progress bars for long work: tqdm, silent when not asked for or when ``CI`` is set."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

__all__ = ["progress", "show_progress"]


def show_progress(requested: bool) -> bool:
    """Return whether to show a bar: asked for, and the ``CI`` environment variable not set."""
    return bool(requested) and not os.environ.get("CI")


def progress(
    iterable: Iterable | None = None, *, total: int | None = None, desc: str, enabled: bool
) -> Any:
    """Return a tqdm bar over ``iterable`` (or of ``total`` steps), silent unless shown."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=not show_progress(enabled))
