"""The house rules that keep the rooms findable: no module over about 600 lines, each
package says what it owns, and no stage imports the layers above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "localread"
MAX_LINES = 600
# The layers above a stage: what repo/, llm/ and the core modules must never import.
ABOVE = {
    "repo": ("localread.commands", "localread.render", "localread.summarize", "localread.llm", "localread.store"),
    "llm": ("localread.commands", "localread.render", "localread.summarize", "localread.repo"),
    "render": ("localread.commands",),
    "summarize": ("localread.commands", "localread.render"),
    "paper": ("localread.commands", "localread.render"),
}
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_module_is_over_600_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines: split it along its seams"


@pytest.mark.parametrize(
    "path", sorted(p for p in PACKAGE.rglob("__init__.py")), ids=lambda p: p.parent.relative_to(PACKAGE.parent).as_posix()
)
def test_each_package_says_what_it_owns(path: Path) -> None:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert doc, f"{path.parent.name}/__init__.py needs a docstring: what the room owns, what it may import"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("room", sorted(ABOVE))
def test_no_stage_imports_the_layers_above_it(room: str) -> None:
    bad = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in sorted((PACKAGE / room).rglob("*.py"))
        for name in sorted(_imports(path))
        if name.startswith(ABOVE[room])
    ]
    assert not bad, "\n".join(bad)
