"""Lazy public namespaces for the subpackages (PEP 562).

Each subpackage ``__init__`` lists its public names and the private module that defines each;
:func:`attach` returns the module-level ``__getattr__``, ``__dir__`` and ``__all__`` that load
the defining module on first access. ``import numpyro_semipar.frequentist`` then costs almost
nothing, and ``from numpyro_semipar.frequentist import SMM`` loads only what ``SMM`` needs
(not the panel code, xarray or pandas of the other estimators). The signature follows
``lazy_loader.attach`` of the scientific-Python ecosystem, without adding the dependency.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping


def attach(
    package: str,
    submodules: Iterable[str] = (),
    submod_attrs: Mapping[str, Iterable[str]] | None = None,
) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """Lazy ``__getattr__``, ``__dir__`` and ``__all__`` for a package.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    submodules : iterable of str
        Public subpackages or submodules, exported under their own name (e.g. ``"blackjax"``).
    submod_attrs : mapping of str to iterable of str
        ``{relative module: [public names it defines]}``; a module path may climb out of the
        package (``"..panel"``).

    Returns
    -------
    __getattr__, __dir__, __all__
        To assign at module level in the package's ``__init__``.
    """
    submodules = list(submodules)
    origin = {name: name for name in submodules}
    for module, names in (submod_attrs or {}).items():
        for name in names:
            if name in origin:
                raise ValueError(f"{package}: public name {name!r} listed twice")
            origin[name] = module
    exported = sorted(origin)
    submodule_names = set(submodules)

    def __getattr__(name: str) -> object:
        if name not in origin:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if name in submodule_names:
            value: object = importlib.import_module(f"{package}.{name}")
        else:
            module = origin[name]
            path = module if module.startswith(".") else f".{module}"
            value = getattr(importlib.import_module(path, package), name)
        # Cache on the package so the next access is an ordinary attribute lookup.
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(exported) | set(vars(sys.modules[package])))

    return __getattr__, __dir__, exported
