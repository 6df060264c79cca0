"""Renamed keyword arguments: the old spelling keeps working for one release, with a warning."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["renamed_arguments", "warn_renamed"]

_F = TypeVar("_F", bound=Callable[..., Any])


def warn_renamed(owner: str, old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``owner``'s keyword ``old`` is now spelled ``new``."""
    warnings.warn(
        f"{owner}({old}=...) is deprecated and will be removed in the next release: "
        f"use {new}= instead",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def renamed_arguments(**renames: str) -> Callable[[_F], _F]:
    """Accept the old spelling of renamed keyword arguments, with a ``DeprecationWarning``.

    Parameters
    ----------
    **renames : str
        ``old_name="new_name"`` pairs.

    Returns
    -------
    callable
        A decorator. The wrapped function receives the value under its new name; passing both
        spellings is a ``TypeError``. ``inspect.signature`` (and so Sphinx) shows the new names.

    Examples
    --------
    >>> @renamed_arguments(max_iter="max_steps")
    ... def solve(x, *, max_steps=100):
    ...     return max_steps
    >>> solve(1, max_iter=5)  # doctest: +SKIP
    DeprecationWarning: solve(max_iter=...) is deprecated ...: use max_steps= instead
    """

    def decorate(function: _F) -> _F:
        owner = function.__qualname__.removesuffix(".__init__")

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{owner}() got both {old}= and its new spelling {new}=: pass only "
                            f"{new}="
                        )
                    warn_renamed(owner, old, new)
                    kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
