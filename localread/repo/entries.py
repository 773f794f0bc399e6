"""Entry points: where a person starts running, and so starts reading, a repository.

`find_entries(scan, chunks)` returns EntryPoints best first. Sources: console and GUI
scripts (setup.py `entry_points=` literal, setup.cfg, `[project.scripts]`),
`__main__.py`, files with a `__main__` guard, files in scripts/tools/demo/examples
folders, top-level scripts, commands quoted in README code blocks, the README's own
```python usage (a virtual module, see scan.read_source), `hubconf.py` (torch.hub),
and notebooks. What the README tells the user to do comes first, in README order.

`entry_runs(module, chunks)` says what else runs an entry besides its own code: the
test functions of a test module (what pytest runs) and the public functions of
`hubconf.py` (what torch.hub calls); `pytest_fixtures` the fixtures a test asks for.
Nothing is executed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from localread.data import Chunk, ChunkKind
from localread.repo.scan import (
    SCRIPT_DIRS,
    Scan,
    python_blocks,
    read_pyproject,
    read_setup_cfg,
    setup_py_keywords,
)

if TYPE_CHECKING:
    from localread.repo.graph import Graph


@dataclass(frozen=True, slots=True)
class EntryWeights:
    """Score of each kind of evidence that a file is an entry point."""

    readme_command: float = 10.0  # the README tells the user to run it: the strongest signal
    readme_python: float = 10.0  # the README's ```python usage of the package: as strong
    readme_order_bonus: float = 1.0  # earlier README commands first (scaled down by position)
    torch_hub: float = 2.5  # hubconf.py: how torch.hub users load the models
    console_script: float = 4.0  # installed command
    dunder_main: float = 3.0  # `python -m pkg`
    main_guard: float = 2.0  # written to be run
    script_dir: float = 1.5  # lives in scripts/, tools/, demo/, examples/
    top_level_script: float = 1.0  # a .py at the root next to setup.py
    notebook: float = 1.0
    demo_name: float = 1.0  # demo/run/main/infer/predict/train in the name
    test_file: float = -6.0  # tests are run by pytest, not read as the way in


WEIGHTS = EntryWeights()
_DEMO_WORDS = re.compile(r"(demo|run|main|infer|predict|inference|train|eval|example|app|quickstart)")
# Scripts that fetch or convert data: the README runs them first, nobody reads them first.
_DATA_PREP = re.compile(r"(^|_)(prepare|download|preprocess|convert|fetch|make_data)")


@dataclass(slots=True)
class EntryPoint:
    """path: the file (relative). chunk: the chunk a tour starts from. command: how it
    is run, when known. kinds: the evidence, strongest first."""

    path: str
    chunk: str
    command: str | None
    score: float
    kinds: list[str] = field(default_factory=list)
    shown: int | None = None  # where the README first shows it (0: first), if it does

    @property
    def kind(self) -> str:
        return self.kinds[0] if self.kinds else "script"


def find_entries(scan: Scan, chunks: dict[str, Chunk]) -> list[EntryPoint]:
    by_path: dict[str, list[Chunk]] = {}
    for chunk in chunks.values():
        by_path.setdefault(chunk.path, []).append(chunk)
    module_of_path = {path: cs[0] for path, cs in by_path.items() if cs[0].kind is ChunkKind.MODULE}
    module_by_name = {c.id: c for c in module_of_path.values()}
    found: dict[str, EntryPoint] = {}

    def add(path: str, kind: str, weight: float, command: str | None = None, chunk: str | None = None) -> None:
        module = module_of_path.get(path)
        if module is None:
            return
        entry = found.get(path)
        if entry is None:
            entry = found[path] = EntryPoint(path=path, chunk=chunk or module.id, command=None, score=0.0)
        entry.score += weight
        if kind not in entry.kinds:
            entry.kinds.append(kind)
        if command and (entry.command is None or (kind == "readme" and entry.shown is None)):
            entry.command = command
        if chunk and kind == "console_script":
            entry.chunk = chunk

    for name, target in sorted(console_scripts(scan.root, scan.layout.packaging).items()):
        module_name, _, func = target.partition(":")
        module = module_by_name.get(module_name.strip())
        if module is None:
            continue
        func_id = f"{module.id}.{func.strip()}" if func.strip() else module.id
        add(module.path, "console_script", WEIGHTS.console_script, name, func_id if func_id in chunks else None)

    for path, cs in sorted(by_path.items()):
        if path.endswith(".ipynb"):
            continue  # run in Jupyter, never as `python x.ipynb`: the notebook loop below
        module = cs[0]
        name = path.rsplit("/", 1)[-1]
        top = path.split("/")[0]
        is_test = top in ("tests", "test") or name.startswith("test_") or name == "conftest.py"
        has_guard = any(c.kind is ChunkKind.MAIN for c in cs)
        if name == "__main__.py":
            package = module.id.rsplit(".", 1)[0] if "." in module.id else module.id
            add(path, "__main__", WEIGHTS.dunder_main, f"python -m {package}")
        if has_guard:
            add(path, "main_guard", WEIGHTS.main_guard, _run_command(path, module.id, module_of_path))
        if "/" in path and top in SCRIPT_DIRS and not is_test and not name.startswith("_"):
            add(path, "script_dir", WEIGHTS.script_dir, _run_command(path, module.id, module_of_path))
        top_level = "/" not in path and name.endswith(".py") and name not in ("setup.py", "conftest.py") and not name.startswith("_")
        if top_level and (has_guard or not _defines_only(cs)):
            add(path, "top_level_script", WEIGHTS.top_level_script, f"python {path}")
        if path in found:
            if _DEMO_WORDS.search(name.lower()):
                found[path].score += WEIGHTS.demo_name
            if is_test:
                found[path].score += WEIGHTS.test_file

    for notebook in scan.layout.notebooks:
        add(notebook, "notebook", WEIGHTS.notebook, f"jupyter notebook {notebook}")

    hub = module_of_path.get("hubconf.py")
    if hub is not None:
        functions = [c for c, _ in entry_runs(hub, chunks)]
        if functions:
            add("hubconf.py", "torch_hub", WEIGHTS.torch_hub, f"torch.hub.load('.', '{functions[0].name}', source='local')")

    # What the README shows, in README order: its commands and its Python usage.
    readme = scan.layout.readme
    shown = _readme_command_lines(scan.root, readme)
    usage = _readme_usage_line(scan.root, readme, module_of_path, module_by_name)
    if usage is not None:
        shown = sorted([*shown, (usage, None)], key=lambda item: item[0])
    scripts = console_scripts(scan.root, scan.layout.packaging)
    for position, (_line, command) in enumerate(shown):
        bonus = WEIGHTS.readme_order_bonus / (1 + position)
        path = readme if command is None else _command_target(command, module_of_path, module_by_name, scripts)
        if path is None:
            continue
        if command is None:
            add(path, "readme_python", WEIGHTS.readme_python + bonus)
        else:
            add(path, "readme", WEIGHTS.readme_command + bonus, command)
        if path in found and found[path].shown is None:
            found[path].shown = position

    for entry in found.values():
        entry.kinds.sort(key=_KIND_ORDER.index)
    return sorted(found.values(), key=_rank)


def _rank(entry: EntryPoint) -> tuple:
    """What the README shows first, in README order (the author's own way in; a data
    preparation script after the others), then the rest by score."""
    if entry.shown is None:
        return (2, 0, -entry.score, entry.path)
    prep = bool(_DATA_PREP.search(entry.path.rsplit("/", 1)[-1].lower()))
    return (1 if prep else 0, entry.shown, -entry.score, entry.path)


_KIND_ORDER = [
    "readme", "readme_python", "console_script", "__main__", "main_guard", "torch_hub", "script_dir",
    "top_level_script", "notebook",
]


def _defines_only(chunks: list[Chunk]) -> bool:
    """A module whose file is all definitions (a library module, not a script)."""
    return len(chunks) > 1 and all(c.kind is not ChunkKind.MAIN for c in chunks)


def _run_command(path: str, module: str, paths: set[str] | dict) -> str:
    """`python -m pkg.mod` for a file inside a package (relative imports need it),
    `python path` for a plain script."""
    folder = path.rsplit("/", 1)[0] if "/" in path else ""
    if folder and f"{folder}/__init__.py" in paths:
        return f"python -m {module}"
    return f"python {path}"


def console_scripts(root: Path, packaging: list[str]) -> dict[str, str]:
    """name -> "module:function" from pyproject, setup.cfg and setup.py (as literals)."""
    out: dict[str, str] = {}
    if "pyproject.toml" in packaging:
        data = read_pyproject(root)
        project = data.get("project", {})
        for section in ("scripts", "gui-scripts"):
            for name, target in (project.get(section) or {}).items():
                if isinstance(target, str):
                    out[name] = target
        for name, target in (data.get("tool", {}).get("poetry", {}).get("scripts") or {}).items():
            if isinstance(target, str):
                out[name] = target
    if "setup.cfg" in packaging:
        cfg = read_setup_cfg(root)
        if cfg is not None and cfg.has_section("options.entry_points"):
            for key in ("console_scripts", "gui_scripts"):
                if cfg.has_option("options.entry_points", key):
                    out.update(_parse_entry_lines(cfg.get("options.entry_points", key).splitlines()))
    if "setup.py" in packaging:
        entry_points = setup_py_keywords(root).get("entry_points")
        if isinstance(entry_points, dict):
            for key in ("console_scripts", "gui_scripts"):
                value = entry_points.get(key) or []
                lines = value.splitlines() if isinstance(value, str) else list(value)
                out.update(_parse_entry_lines([str(v) for v in lines]))
    return out


def _parse_entry_lines(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        name, sep, target = line.partition("=")
        if sep and name.strip() and target.strip():
            out[name.strip()] = target.strip().split()[0]
    return out


_FENCE = re.compile(r"^\s*(```|~~~)")


def readme_commands(root: Path, readme: str | None) -> list[str]:
    """Shell commands in the README's code blocks (fenced, indented, or `$ `-prefixed),
    in order, with prompts stripped and continuation lines joined."""
    return [command for _line, command in _readme_command_lines(root, readme)]


def _readme_usage_line(
    root: Path, readme: str | None, module_of_path: dict[str, Chunk], module_by_name: dict[str, Chunk]
) -> int | None:
    """The first line of the README's ```python blocks when they import the repository
    (`import pkg`, `from pkg import ...`) and localread reads them as a module."""
    if readme is None or readme not in module_of_path:
        return None
    try:
        text = (root / readme).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    tops = {name.split(".")[0] for name in module_by_name if module_by_name[name].path != readme}
    for first, code in python_blocks(text):
        for line in code:
            found = _IMPORT.match(line)
            if found and (found.group(1) or found.group(2)).split(".")[0] in tops:
                return first
    return None


_IMPORT = re.compile(r"\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))")


def _readme_command_lines(root: Path, readme: str | None) -> list[tuple[int, str]]:
    """readme_commands with the line each command starts on."""
    if readme is None:
        return []
    try:
        text = (root / readme).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    commands: list[tuple[int, str]] = []
    in_fence = False
    pending = ""
    python_fence = False
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if _FENCE.match(raw):
            in_fence = not in_fence
            python_fence = in_fence and bool(_PYTHON_FENCE.match(raw))
            pending = ""
            continue
        if python_fence:
            continue  # Python code, read as the README's usage module, not commands
        line = raw.strip()
        is_code = in_fence or raw.startswith(("    ", "\t")) or line.startswith("$ ")
        if not is_code:
            continue
        # reStructuredText `::` blocks and Markdown indented blocks look the same here.
        if line.startswith(("$ ", "> ", "% ")):
            line = line[2:].strip()
        if pending:
            line = pending + " " + line
            pending = ""
        else:
            start = number
        if line.endswith("\\"):
            pending = line[:-1].strip()
            continue
        if line and not line.startswith("#"):
            commands.append((start, line))
    return commands


_PYTHON_FENCE = re.compile(r"^\s*(```+|~~~+)\s*\{?\.?(python3?|py|pycon)\b", re.IGNORECASE)


def _command_target(
    command: str,
    module_of_path: dict[str, Chunk],
    module_by_name: dict[str, Chunk],
    scripts: dict[str, str],
) -> str | None:
    """The repo file a README command runs, if any."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        words = command.split()
    # Skip env assignments and launchers: `CUDA_VISIBLE_DEVICES=0 python ...`, `torchrun ...`.
    while words and ("=" in words[0] and not words[0].startswith("-")):
        words = words[1:]
    if not words:
        return None
    head = words[0]
    if head in scripts:
        module = module_by_name.get(scripts[head].partition(":")[0].strip())
        return module.path if module else None
    if re.fullmatch(r"(python[0-9.]*|py|torchrun|accelerate|deepspeed|uv|poetry|pipenv)", head):
        rest = [w for w in words[1:] if w not in ("run", "launch")]
        for i, word in enumerate(rest):
            if word == "-m" and i + 1 < len(rest):
                name = rest[i + 1]
                module = module_by_name.get(name) or module_by_name.get(name + ".__main__")
                if module is not None:
                    return module.path
                # A launcher (`python -m torch.distributed.launch ... main.py`): read on.
                continue
            if word.endswith(".py"):
                path = word.removeprefix("./")
                return path if path in module_of_path else None
            if word.startswith("-"):
                continue
        return None
    if head.endswith(".py"):
        path = head.removeprefix("./")
        return path if path in module_of_path else None
    return None


def is_test_path(path: str) -> bool:
    """A file pytest collects: under tests/ or test/, or named test_*.py / *_test.py."""
    name = path.rsplit("/", 1)[-1]
    return path.split("/")[0] in ("tests", "test") or name.startswith("test_") or name.endswith("_test.py")


def entry_runs(module: Chunk, chunks: dict[str, Chunk]) -> list[tuple[Chunk, str]]:
    """What runs an entry module besides its own code, in source order, each with the
    reason: the test functions and test methods of a test module (what pytest runs),
    the public functions of hubconf.py (what `torch.hub.load` calls). [] otherwise."""
    if module.kind is not ChunkKind.MODULE:
        return []
    own = sorted((c for c in chunks.values() if c.module == module.id), key=lambda c: c.start)
    if module.path == "hubconf.py":
        return [
            (c, f"a torch.hub entry point: `torch.hub.load(..., '{c.name}')` calls it")
            for c in own
            if c.kind is ChunkKind.FUNCTION and c.parent == module.id and not c.name.startswith("_")
        ]
    if not is_test_path(module.path) or module.path.endswith("conftest.py"):
        return []
    out = []
    for c in own:
        if is_pytest_test(c, chunks):
            where = f"`{chunks[c.parent].qualname}` in " if c.kind is ChunkKind.METHOD else ""
            out.append((c, f"a test pytest runs from {where}`{module.path}`"))
    return out


def is_pytest_test(chunk: Chunk, chunks: dict[str, Chunk]) -> bool:
    """Whether pytest collects chunk as a test: a `test*` function of a test module
    (not conftest.py), or a `test*` method of a `Test*` class of one."""
    if not chunk.name.startswith("test") or not is_test_path(chunk.path) or chunk.path.endswith("conftest.py"):
        return False
    if chunk.kind is ChunkKind.FUNCTION:
        return chunk.parent == chunk.module
    cls = chunks.get(chunk.parent) if chunk.kind is ChunkKind.METHOD and chunk.parent is not None else None
    return cls is not None and cls.parent == chunk.module and cls.name.startswith("Test")


def conftests(chunks: dict[str, Chunk]) -> dict[str, str]:
    """The conftest.py modules of a repository: path -> module id (for pytest_fixtures)."""
    return {c.path: c.id for c in chunks.values() if c.kind is ChunkKind.MODULE and c.path.endswith("conftest.py")}


def pytest_fixtures(test: Chunk, chunks: dict[str, Chunk], graph: Graph, conftest_modules: dict[str, str]) -> list[Chunk]:
    """The fixtures a test function asks for by parameter name, defined in its module or
    in a conftest.py of its folder or the folders above (conftest_modules: see
    `conftests`), in parameter order."""
    facts = graph.facts.get(test.id)
    if facts is None:
        return []
    folder = test.path.rsplit("/", 1)[0] if "/" in test.path else ""
    homes = {test.module}
    while True:
        conftest = conftest_modules.get(f"{folder}/conftest.py" if folder else "conftest.py")
        if conftest is not None:
            homes.add(conftest)
        if not folder:
            break
        folder = folder.rsplit("/", 1)[0] if "/" in folder else ""
    out = []
    for param in facts.params:
        for home in sorted(homes):
            fixture = chunks.get(f"{home}.{param.name}")
            if fixture is not None and any(d.split("(")[0] in ("pytest.fixture", "fixture") for d in fixture.decorators):
                out.append(fixture)
                break
    return out
