"""The README Quickstart and every ```python block of the docs run as written, with x64 off.

Blocks are grouped per page and run in order in one fresh interpreter (a page reads like a
notebook: a later block may use an earlier block's names), with ``JAX_ENABLE_X64=0`` as in a
fresh NumPyro program and a temporary working directory. A block that is deliberately not
runnable is preceded by ``<!-- skip-snippet: reason -->``; the skipped blocks are counted
against ``EXPECTED_SKIPS``, so skipping one more is a visible change to this file.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_SKIP = re.compile(r"<!--\s*skip-snippet:\s*(?P<reason>[^>]*?)\s*-->\s*$")

# Page -> number of blocks marked skip-snippet (each with its reason in the page).
EXPECTED_SKIPS = {
    "docs/examples/dsge_custom.md": 1,
    "docs/mcmc_kernels.md": 2,
    "docs/panel_effects.md": 1,
    "docs/surrogate_workflow.md": 3,
}


def _blocks(text: str) -> list[tuple[int, str, str | None]]:
    """(line number, code, skip reason or None) of every ```python block of ``text``."""
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").splitlines()
        skip = _SKIP.search(before[-1]) if before else None
        if skip is not None and not skip.group("reason"):
            raise AssertionError(f"line {line}: skip-snippet needs a reason")
        found.append((line, match.group(1), skip.group("reason") if skip else None))
    return found


def _readme_quickstart() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return section


def _pages() -> dict[str, str]:
    pages = {"README.md (Quickstart)": _readme_quickstart()}
    for path in sorted(DOCS.rglob("*.md")):
        if "_build" in path.parts or "_generated" in path.parts:
            continue
        text = path.read_text()
        if "```python" in text:
            pages[str(path.relative_to(REPO_ROOT))] = text
    return pages


PAGES = _pages()


def test_skipped_blocks_are_counted_and_give_a_reason():
    skips = {
        name: sum(reason is not None for _, _, reason in _blocks(text))
        for name, text in PAGES.items()
    }
    assert {name: n for name, n in skips.items() if n} == EXPECTED_SKIPS
    assert _blocks(PAGES["README.md (Quickstart)"]), "README has no Quickstart code"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_snippets_run_with_x64_off(page, tmp_path):
    blocks = [(line, code) for line, code, reason in _blocks(PAGES[page]) if reason is None]
    if not blocks:
        pytest.fail(f"{page}: every block is skipped; drop it from the docs or make one run")
    # Each block announces itself on stderr, so a failure names the block's line in the page.
    script = "\n".join(
        f"import sys as _sys; print({f'--- {page}, line {line}'!r}, file=_sys.stderr)\n{code}"
        for line, code in blocks
    )
    env = {
        **os.environ,
        "JAX_ENABLE_X64": "0",
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert out.returncode == 0, f"{page} failed:\n{out.stderr[-4000:]}"
