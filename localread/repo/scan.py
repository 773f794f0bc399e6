"""Walk a repository: which files to read, how it is laid out, how it installs.

`scan(root)` returns a `Scan`: the Python files (relative POSIX paths, sorted) with
their dotted module names, the auxiliary files the other stages read (READMEs,
notebooks, packaging files, YAML configs), the layout, and counts of what was
skipped. Notebooks, and a Markdown README with ```python blocks, are read as Python
too (`read_source`).
Nothing in the repository is imported or executed; packaging files are read as text
or parsed as literals (`packaging`).

The repository may be careless or hostile, so the walk has limits, and counts (with
a note saying which and why) everything it leaves out: folders the system refuses
(permission, name too long), folders deeper than MAX_DEPTH, symbolic links that
resolve outside the repository (never followed: `ln -s /usr usr` reads nothing of
/usr), broken or looping links, files over MAX_FILE_BYTES, binary files, notebook
cells that are not text. It never raises for what it finds inside the repository.
"""

from __future__ import annotations

import ast
import errno
import json
import os
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pathspec

from localread.data import Counts
from localread.errors import LocalreadError
from localread.repo.configs import CONFIG_SUFFIXES
from localread.repo.packaging import (
    MAX_README_BYTES,
    problem,
    read_pyproject,
    read_setup_cfg,
    setup_py_keywords,
)

MAX_FILE_BYTES = 1 << 20
# Notebooks carry their outputs (images); only the code cells are read.
MAX_NOTEBOOK_BYTES = 16 << 20
MAX_NOTEBOOK_CELLS = 10_000
# Brackets open at once. A notebook nests about five; JSON near the recursion limit
# is refused before it is decoded, as a decoder that far down the stack can leave
# finalizers run by the collector there without room to run.
MAX_NOTEBOOK_NESTING = 100
# Possessive, so an unterminated string costs one pass, not one per quote after it.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
BINARY_SNIFF_BYTES = 8192
# Folders below the root. Real repositories stay far below; deeper trees are generated
# or hostile (2,500 levels exceed the system's path length).
MAX_DEPTH = 64
MAX_GITIGNORE_BYTES = 256 * 1024

# Folders nobody wants read: VCS, virtualenvs, caches, build outputs, vendored deps.
DEFAULT_EXCLUDES = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", "venv", "env", ".env", ".tox", ".nox",
        "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache",
        ".ipynb_checkpoints", "build", "dist", ".eggs", "site-packages", ".idea", ".vscode",
    }
)
README_NAMES = ("README.md", "README.rst", "README.txt", "README", "readme.md", "Readme.md")
SCRIPT_DIRS = ("scripts", "tools", "bin", "demo", "demos", "examples", "example", "apps", "tests")
PACKAGING_NAMES = ("setup.py", "setup.cfg", "pyproject.toml")

__all__ = [
    "Layout", "Notebook", "Scan", "SourceFile", "module_name", "notebook_source", "read_notebook",
    "read_pyproject", "read_setup_cfg", "read_source", "scan", "setup_py_keywords",
]


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A Python file to read: its path relative to the repo and its dotted module name."""

    path: str
    module: str
    size: int


@dataclass(slots=True)
class Layout:
    """How the repository is organised and installed."""

    install: str | None = None
    packaging: list[str] = field(default_factory=list)  # setup.py, setup.cfg, pyproject.toml
    packages: list[str] = field(default_factory=list)  # top-level package names
    src_layout: bool = False
    top_level_modules: list[str] = field(default_factory=list)
    script_dirs: list[str] = field(default_factory=list)
    readme: str | None = None
    notebooks: list[str] = field(default_factory=list)
    project_name: str | None = None
    configs: list[str] = field(default_factory=list)  # .yaml/.yml files, read when code loads them


@dataclass(slots=True)
class Scan:
    root: Path
    files: list[SourceFile]
    layout: Layout
    counts: Counts


def scan(root: Path) -> Scan:
    """Walk `root` and describe it.

    Raises LocalreadError when root is missing, not a folder, or unreadable.
    """
    root = _check_root(root)
    counts = Counts()
    py_paths: list[tuple[str, int]] = []
    notebooks: list[tuple[str, int]] = []
    configs: list[str] = []
    found = _walk(root, counts)
    for rel, size in found:
        if rel.endswith(CONFIG_SUFFIXES):
            configs.append(rel)  # sizes are checked when the code loads one (configs)
            continue
        if rel.endswith(".ipynb"):
            if size > MAX_NOTEBOOK_BYTES:
                counts.skipped_large += 1
                counts.note(f"{rel}: over {MAX_NOTEBOOK_BYTES >> 20} MiB, not read")
            else:
                notebooks.append((rel, size))
            continue
        if not rel.endswith(".py"):
            continue
        if size > MAX_FILE_BYTES:
            counts.skipped_large += 1
            counts.note(f"{rel}: over {MAX_FILE_BYTES >> 20} MiB, not read")
            continue
        try:
            with open(root / rel, "rb") as fh:
                head = fh.read(BINARY_SNIFF_BYTES)
        except OSError as exc:
            _refused(counts, rel, exc)
            continue
        if b"\0" in head:
            counts.skipped_binary += 1
            counts.note(f"{rel}: binary, not read")
            continue
        py_paths.append((rel, size))
    py_paths.sort()
    rels = {p for p, _ in py_paths}
    src_layout = any(p.startswith("src/") for p in rels)
    rooted = rooted_packages(root, rels, src_layout)
    files = [SourceFile(p, module_name(p, rels, src_layout, rooted), s) for p, s in py_paths]
    notebooks.sort()
    files += [SourceFile(n, _notebook_module(n), s) for n, s in notebooks]
    present = dict(found)
    readme = next((name for name in README_NAMES if name in present), None)
    if readme is not None and readme.endswith(".md") and present[readme] <= MAX_FILE_BYTES:
        try:
            with open(root / readme, "rb") as fh:
                has_code = bool(python_blocks(fh.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")))
        except OSError:
            has_code = False
        if has_code:
            files.append(SourceFile(readme, readme[: -len(".md")], present[readme]))
    counts.files = len(files)
    layout = _layout(root, files, src_layout, [n for n, _ in notebooks], present, counts)
    layout.configs = sorted(configs)
    return Scan(root=root, files=files, layout=layout, counts=counts)


def _notebook_module(path: str) -> str:
    return path[: -len(".ipynb")].replace("/", ".").replace("-", "_")


class Notebook(NamedTuple):
    """The code of a notebook as one Python source, and what of it was left out."""

    source: bytes
    skipped: tuple[str, ...]


def read_notebook(data: bytes) -> Notebook:
    """The code cells of a Jupyter notebook as one Python source, each cell introduced
    by a `# %% [cell N]` line; IPython magics and shell escapes become comments.

    A cell whose source is not text, and cells past MAX_NOTEBOOK_CELLS, are left out
    and named in `skipped`. Raises ValueError for a file that is not notebook JSON.
    """
    if _nesting(data) > MAX_NOTEBOOK_NESTING:
        raise ValueError(f"JSON nested more than {MAX_NOTEBOOK_NESTING} levels deep")
    try:
        notebook = json.loads(data.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise ValueError("no list of cells")  # noqa: TRY004 - bad file content, as json.loads raises
    out: list[str] = []
    skipped: list[str] = []
    cells = notebook["cells"]
    if len(cells) > MAX_NOTEBOOK_CELLS:
        skipped.append(f"{len(cells) - MAX_NOTEBOOK_CELLS:,} cells after the first {MAX_NOTEBOOK_CELLS:,} left out")
    for n, cell in enumerate(cells[:MAX_NOTEBOOK_CELLS], 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            text = "".join(source)
        elif isinstance(source, str):
            text = source
        else:
            skipped.append(f"cell {n} left out (its source is not text)")
            continue
        out.append(f"# %% [cell {n}]")
        for line in text.splitlines():
            stripped = line.lstrip()
            out.append("# " + line if stripped.startswith(("%", "!")) else line)
    return Notebook(("\n".join(out) + "\n").encode("utf-8", errors="replace"), tuple(skipped))


def _nesting(data: bytes) -> int:
    """How many brackets of `data` are open at most, outside its JSON strings."""
    brackets = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", data))
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def notebook_source(data: bytes) -> bytes:
    """The code cells of a notebook as one Python source (see read_notebook)."""
    return read_notebook(data).source


_FENCE_OPEN = re.compile(r"^(\s*)(```+|~~~+)\s*\{?\.?(python3?|py|pycon)\b", re.IGNORECASE)


def python_blocks(text: str) -> list[tuple[int, list[str]]]:
    """The ```python (```py, ```pycon) blocks of a Markdown text that parse as Python:
    (first code line, 1-based; the code lines, dedented, doctest prompts removed and
    their output blanked so that lines keep their numbers)."""
    blocks: list[tuple[int, list[str]]] = []
    lines = text.splitlines()
    n = 0
    while n < len(lines):
        opening = _FENCE_OPEN.match(lines[n])
        n += 1
        if opening is None:
            continue
        fence = opening.group(2)
        start = n
        while n < len(lines) and not lines[n].lstrip().startswith(fence[:3]):
            n += 1
        code = textwrap.dedent("\n".join(lines[start:n])).split("\n") if n > start else []
        n += 1
        if any(line.lstrip().startswith(">>>") for line in code):
            code = [_doctest_line(line) for line in code]
        try:
            ast.parse("\n".join(code))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # not Python (a shell session, a fragment): not code to read
        if any(line.strip() for line in code):
            blocks.append((start + 1, code))
    return blocks


def _doctest_line(line: str) -> str:
    stripped = line.lstrip()
    for prompt in (">>> ", "... "):
        if stripped.startswith(prompt):
            return stripped[len(prompt) :]
    return ""  # the output a doctest shows, not code


def readme_source(text: str) -> bytes:
    """A Markdown README as Python: the code of its ```python blocks at their own line
    numbers, every other line blank, so that a step says `README.md:17`."""
    lines = [""] * (text.count("\n") + 1)
    for first, code in python_blocks(text):
        for offset, line in enumerate(code):
            lines[first - 1 + offset] = line
    return ("\n".join(lines).rstrip("\n") + "\n").encode("utf-8")


def read_source(root: Path, path: str) -> bytes:
    """The bytes localread parses for a file: the file itself, a notebook's code, or
    the Python blocks of a Markdown README. Raises OSError when it cannot be read,
    ValueError for a broken notebook."""
    data = (root / path).read_bytes()
    if path.endswith(".ipynb"):
        return notebook_source(data)
    if path.endswith(".md"):
        return readme_source(data.decode("utf-8", errors="replace"))
    return data


def _check_root(root: Path) -> Path:
    try:
        resolved = root.resolve(strict=True)
    except FileNotFoundError:
        raise LocalreadError(f"{root}: no such folder") from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: symlink loop on older Pythons
        raise LocalreadError(f"{root}: cannot be opened ({exc.__class__.__name__}: {exc})") from None
    try:
        is_dir = resolved.is_dir()
    except OSError as exc:
        raise LocalreadError(f"{root}: cannot be opened ({exc.strerror})") from None
    if not is_dir:
        raise LocalreadError(f"{root}: is a file, not a folder; pass the repository folder")
    if not os.access(resolved, os.R_OK | os.X_OK):
        raise LocalreadError(f"{root}: permission denied; localread needs to read the folder")
    return resolved


def _refused(counts: Counts, rel: str, exc: OSError) -> None:
    """A file or folder the system would not let us read (or a link loop)."""
    if exc.errno == errno.ELOOP:
        counts.skipped_links += 1
        counts.note(f"{rel} (a broken or looping link)")
        return
    if exc.errno == errno.ENAMETOOLONG:
        counts.skipped_deep += 1
        counts.note(f"{_short(rel)}: path too long for the system, not read")
        return
    counts.skipped_unreadable += 1
    counts.note(f"{rel}: {(exc.strerror or str(exc)).lower()}")


def _short(rel: str) -> str:
    return rel if len(rel) <= 80 else rel[:40] + "..." + rel[-30:]


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


Specs = tuple[tuple[str, pathspec.PathSpec], ...]


def _walk(root: Path, counts: Counts) -> list[tuple[str, int]]:
    """Regular files under root (relative POSIX path, size), honouring .gitignore files
    and default excludes. Symbolic links are followed only where they resolve inside
    root, each folder once; everything left out is counted in `counts`."""
    out: list[tuple[str, int]] = []
    root_text = str(root)
    seen_dirs: set[tuple[int, int]] = set()
    # Each stack entry: (absolute dir, relative prefix, ignore specs in force, depth)
    stack: list[tuple[Path, str, Specs, int]] = [(root, "", (), 0)]
    while stack:
        folder, prefix, specs, depth = stack.pop()
        try:
            st = folder.stat()
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            _refused(counts, prefix or "./", exc)
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            counts.skipped_links += 1
            counts.note(f"{prefix} (a second link to a folder already read)")
            continue
        seen_dirs.add(key)
        specs = _with_gitignore(folder, prefix, specs, entries, counts)
        for entry in entries:
            rel = prefix + entry.name
            try:
                is_link = entry.is_symlink()
                if is_link and not _inside(os.path.realpath(entry.path), root_text):
                    counts.skipped_links += 1
                    counts.note(f"{rel} -> {os.path.realpath(entry.path)} (outside the repository)")
                    continue
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
            except OSError as exc:
                _refused(counts, rel, exc)
                continue
            if is_dir:
                if entry.name in DEFAULT_EXCLUDES or entry.name.endswith(".egg-info"):
                    continue
                if _ignored(specs, rel + "/"):
                    continue
                if depth + 1 > MAX_DEPTH:
                    counts.skipped_deep += 1
                    counts.note(f"{_short(rel)}/: more than {MAX_DEPTH} folders deep, not read")
                    continue
                stack.append((Path(entry.path), rel + "/", specs, depth + 1))
            elif is_file:
                if _ignored(specs, rel):
                    continue
                try:
                    size = entry.stat().st_size
                except OSError as exc:
                    _refused(counts, rel, exc)
                    continue
                out.append((rel, size))
            elif is_link:
                counts.skipped_links += 1
                counts.note(f"{rel} (a broken or looping link)")
    return out


def _with_gitignore(folder: Path, prefix: str, specs: Specs, entries: list[os.DirEntry], counts: Counts) -> Specs:
    """specs plus this folder's .gitignore, when it is a regular file of the repository."""
    entry = next((e for e in entries if e.name == ".gitignore"), None)
    if entry is None:
        return specs
    try:
        if entry.is_symlink() or not entry.is_file():
            return specs
        with open(entry.path, "rb") as fh:
            data = fh.read(MAX_GITIGNORE_BYTES)
    except OSError as exc:
        _refused(counts, prefix + ".gitignore", exc)
        return specs
    lines = data.decode("utf-8", errors="replace").splitlines()
    return specs + ((prefix, pathspec.GitIgnoreSpec.from_lines(lines)),)


def _ignored(specs: Specs, rel: str) -> bool:
    return any(
        rel.startswith(base) and spec.match_file(rel[len(base) :]) for base, spec in specs
    )


def module_name(path: str, all_paths: set[str], src_layout: bool = False,
                rooted: frozenset[str] = frozenset()) -> str:
    """Dotted module name of a file, as Python would import it.

    Inside a package (folders with `__init__.py`), the name runs from the top package,
    or from the root when the top package's folder is in `rooted` (see
    `rooted_packages`); a file outside any package gets its path-derived name
    (`scripts/demo.py` -> `scripts.demo`); `src/` is not part of the name in a src
    layout.
    """
    parts = path[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    # Walk up from the file's folder while folders are regular packages.
    folders = path.split("/")[:-1]
    top = len(folders)
    while top > 0 and "/".join(folders[:top]) + "/__init__.py" in all_paths:
        top -= 1
    if top == len(folders) or top == 0 or "/".join(folders[: top + 1]) in rooted:
        # Not in a package, a package at the repo root, or one below namespace folders
        # that the repository imports from the root: path-derived from the root.
        start = 0
    else:
        start = top
    if src_layout and start == 0 and parts and parts[0] == "src" and len(parts) > 1:
        start = 1
    name = ".".join(parts[start:])
    return name or path[:-3].replace("/", ".")


def rooted_packages(root: Path, paths: set[str], src_layout: bool = False) -> frozenset[str]:
    """The folders of the regular packages nested below namespace folders (no
    `__init__.py`) that the repository's own code names from the root: for
    `ldm/models/diffusion/__init__.py` under a bare `ldm/models/`, a file that writes
    `ldm.models.diffusion` (`from ldm.models.diffusion.ddim import DDIMSampler`, with
    the root on sys.path). Their modules are named as that import names them; a
    package nobody names so keeps its own name (`code/pkg/`, run from `code/`). Files
    are read only when such a package exists."""
    candidates: dict[str, bytes] = {}
    for path in paths:
        if not path.endswith("/__init__.py"):
            continue
        folder = path[: -len("/__init__.py")]
        parent = folder.rpartition("/")[0]
        if not parent or f"{parent}/__init__.py" in paths:
            continue
        rel = folder[4:] if src_layout and folder.startswith("src/") else folder
        if "/" in rel:
            candidates[folder] = rel.replace("/", ".").encode()
    if not candidates:
        return frozenset()
    names = sorted(candidates.values(), key=len, reverse=True)
    pattern = re.compile(rb"(?<![\w.])(" + b"|".join(re.escape(n) for n in names) + rb")(?!\w)")
    found: set[bytes] = set()
    for path in sorted(paths):
        try:
            text = (root / path).read_bytes()
        except OSError:
            continue
        found.update(m.group(1) for m in pattern.finditer(text))
        if len(found) == len(candidates):
            break
    return frozenset(folder for folder, name in candidates.items() if name in found)


def _layout(
    root: Path,
    files: list[SourceFile],
    src_layout: bool,
    notebooks: list[str],
    present: dict[str, int],
    counts: Counts,
) -> Layout:
    """The layout from what the walk found (present: path -> size), so a packaging file
    or README that is a link out of the repository is never read."""
    layout = Layout(src_layout=src_layout, notebooks=notebooks)
    for name in PACKAGING_NAMES:
        if name in present:
            layout.packaging.append(name)
            why = problem(root, name)
            if why is not None:
                counts.skipped_invalid += 1
                counts.note(why)
    for name in README_NAMES:
        if name in present:
            if present[name] > MAX_README_BYTES:
                counts.skipped_large += 1
                counts.note(f"{name}: over {MAX_README_BYTES >> 20} MiB, not read for commands")
            else:
                layout.readme = name
            break
    base = "src/" if src_layout else ""
    packages: set[str] = set()
    for f in files:
        rest = f.path[len(base) :] if f.path.startswith(base) else None
        if rest is None:
            continue
        if rest.count("/") == 1 and rest.endswith("/__init__.py"):
            packages.add(rest.split("/")[0])
        elif "/" not in rest and rest.endswith(".py") and rest not in ("setup.py", "conftest.py"):
            layout.top_level_modules.append(rest[:-3])
    layout.packages = sorted(packages)
    layout.script_dirs = sorted(
        {f.path.split("/")[0] for f in files if "/" in f.path and f.path.split("/")[0] in SCRIPT_DIRS}
    )
    layout.project_name = _project_name(root, layout.packaging)
    layout.install = _install_command(root, layout.packaging, present)
    return layout



def _project_name(root: Path, packaging: list[str]) -> str | None:
    if "pyproject.toml" in packaging:
        data = read_pyproject(root)
        name = data.get("project", {}).get("name") or data.get("tool", {}).get("poetry", {}).get("name")
        if isinstance(name, str):
            return name
    if "setup.cfg" in packaging:
        cfg = read_setup_cfg(root)
        if cfg is not None and cfg.has_option("metadata", "name"):
            return cfg.get("metadata", "name")
    if "setup.py" in packaging:
        value = setup_py_keywords(root).get("name")
        if isinstance(value, str):
            return value
    return None


def _install_command(root: Path, packaging: list[str], present: dict[str, int]) -> str | None:
    steps: list[str] = []
    for req in ("requirements.txt", "requirements/requirements.txt"):
        if req in present:
            steps.append(f"pip install -r {req}")
            break
    installable = "setup.py" in packaging or "setup.cfg" in packaging
    if "pyproject.toml" in packaging:
        data = read_pyproject(root)
        installable = installable or "project" in data or "build-system" in data
    if installable:
        steps.append("pip install -e .")
    if not steps and "environment.yml" in present:
        steps.append("conda env create -f environment.yml")
    return " && ".join(steps) or None
