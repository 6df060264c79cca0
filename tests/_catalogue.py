"""The three kinds of entry in the bad-input catalogues (tests/test_bad_inputs*.py).

Each case is one call a hostile but fair user might make, with the exact behaviour it must
have: an error of the right type whose message names the argument (and row, column or value),
a warning with the numbers, or a documented correct result.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable

import pytest


@dataclasses.dataclass(frozen=True)
class Raises:
    """``call()`` raises ``error`` with a message matching ``match`` (a regular expression)."""

    id: str
    call: Callable[[], object]
    error: type[Exception]
    match: str


@dataclasses.dataclass(frozen=True)
class Warns:
    """``call()`` warns ``category`` with a message matching ``match``; ``check`` its result."""

    id: str
    call: Callable[[], object]
    category: type[Warning]
    match: str
    check: Callable[[object], None] | None = None


@dataclasses.dataclass(frozen=True)
class Returns:
    """``call()`` returns without a warning, and ``check(result)`` passes."""

    id: str
    call: Callable[[], object]
    check: Callable[[object], None]


Case = Raises | Warns | Returns


def run_case(case: Case) -> None:
    """Run one catalogue case and assert its behaviour."""
    if isinstance(case, Raises):
        with pytest.raises(case.error, match=case.match) as info:
            case.call()
        # The exact type, not a subclass that happens to match (e.g. a KeyError is a
        # LookupError, a FileNotFoundError an OSError).
        assert type(info.value) is case.error, repr(info.value)
    elif isinstance(case, Warns):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = case.call()
        messages = [str(w.message) for w in caught if issubclass(w.category, case.category)]
        assert any(re.search(case.match, m) for m in messages), [str(w.message) for w in caught]
        if case.check is not None:
            case.check(result)
    else:
        case.check(case.call())


def ids(cases: list[Case]) -> list[str]:
    """Test ids, checked to be unique."""
    names = [c.id for c in cases]
    assert len(set(names)) == len(names), "duplicate case ids"
    return names
