"""Module index and import resolution, the way Python finds modules, without running them.

`parse_imports(text, line)` turns the text of one import statement into `ImportItem`s
(one per name it binds). `ModuleIndex(paths)` indexes the repository's files by path;
`resolve_absolute(dotted, from_path)` and `resolve_relative(level, dotted, from_path)`
return a `ModuleRef` (a repo file, or a folder acting as an implicit namespace
package) or None when the module is not in the repository.

Search order for absolute imports follows `sys.path` as a repository is run:

- a file outside any package (a script, a notebook) is run from its own folder, so
  that folder comes first (`scripts/demo.py` doing `import utils` gets
  `scripts/utils.py`);
- then the repository root, `src/` in a src layout, and the parent folder of every
  top-level package (a package nested in a plain folder, `code/pkg/__init__.py`).

Files inside a package do not search their own folder: Python 3 has no implicit
relative imports, and a sibling `logging.py` must not hide the standard library.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from posixpath import dirname


@dataclass(frozen=True, slots=True)
class ImportItem:
    """One name an import statement binds.

    kind: "module" (`import a.b` binds `a`; `import a.b as c` binds `c` to `a.b`),
    "from" (`from m import x as y` binds `y`), "star" (`from m import *`, local "").
    module: the dotted module as written, without leading dots ("" for `from . import x`).
    name: the imported name for "from"; for "module" the dotted module the local name
    stands for (`a` for `import a.b`, `a.b` for `import a.b as c`).
    level: number of leading dots (0 for absolute imports).
    """

    local: str
    kind: str
    module: str
    name: str
    level: int
    line: int


def parse_imports(text: str, line: int) -> list[ImportItem]:
    """The names bound by one `import`/`from ... import` statement (its source text).

    Text that does not parse (a syntax error in the repository) binds nothing.
    """
    try:
        tree = ast.parse(text.strip())
    except (SyntaxError, ValueError):
        return []
    if not tree.body:
        return []
    stmt = tree.body[0]
    out: list[ImportItem] = []
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.asname:
                out.append(ImportItem(alias.asname, "module", alias.name, alias.name, 0, line))
            else:
                top = alias.name.split(".", 1)[0]
                out.append(ImportItem(top, "module", alias.name, top, 0, line))
    elif isinstance(stmt, ast.ImportFrom):
        module = stmt.module or ""
        for alias in stmt.names:
            if alias.name == "*":
                out.append(ImportItem("", "star", module, "*", stmt.level, line))
            else:
                out.append(
                    ImportItem(alias.asname or alias.name, "from", module, alias.name, stmt.level, line)
                )
    return out


@dataclass(frozen=True, slots=True)
class ModuleRef:
    """A module found in the repository: `path` of its file, or of a folder without
    `__init__.py` (an implicit namespace package, `is_namespace`)."""

    path: str
    is_namespace: bool = False

    @property
    def is_package(self) -> bool:
        return self.is_namespace or self.path.endswith("__init__.py")

    @property
    def folder(self) -> str:
        """The folder that holds its submodules (packages only) or the file."""
        return self.path if self.is_namespace else dirname(self.path)


class ModuleIndex:
    """The repository's Python files by path, and the `sys.path` roots to search."""

    def __init__(self, paths: list[str], src_layout: bool = False, root_name: str = "") -> None:
        self.paths: frozenset[str] = frozenset(paths)
        folders: set[str] = set()
        for path in paths:
            folder = dirname(path)
            while folder and folder not in folders:
                folders.add(folder)
                folder = dirname(folder)
        self.folders: frozenset[str] = frozenset(folders)
        roots: set[str] = set()
        for path in paths:
            if not path.endswith("/__init__.py"):
                continue
            top = dirname(path)
            while dirname(top) and f"{dirname(top)}/__init__.py" in self.paths:
                top = dirname(top)
            roots.add(dirname(top))
        # A repository that is itself a package (its root has `__init__.py`) is imported
        # by its folder's name from the parent folder: `root_package.x` is `x` here.
        self.root_package: str | None = root_name if "__init__.py" in self.paths and root_name else None
        ordered = [""]
        if src_layout:
            ordered.append("src")
        ordered.extend(sorted(r for r in roots if r not in ("", "src")))
        self.roots: tuple[str, ...] = tuple(ordered)

    def in_package(self, path: str) -> bool:
        """Whether the file is a module of a regular package (its folder has `__init__.py`)."""
        folder = dirname(path)
        return f"{folder}/__init__.py" in self.paths if folder else "__init__.py" in self.paths

    def find(self, folder: str, dotted: str) -> ModuleRef | None:
        """The module `dotted` under `folder` ("" for the repository root)."""
        rel = dotted.replace(".", "/")
        base = f"{folder}/{rel}" if folder else rel
        if not rel:
            base = folder
            if not base:
                return None
        elif f"{base}.py" in self.paths:
            return ModuleRef(f"{base}.py")
        if f"{base}/__init__.py" in self.paths:
            return ModuleRef(f"{base}/__init__.py")
        if base in self.folders:
            return ModuleRef(base, is_namespace=True)
        return None

    def search_folders(self, from_path: str) -> tuple[str, ...]:
        """sys.path as seen from a file, first match wins. When the root is itself a
        package, its folder is not on sys.path (its parent is): `import typing` in it
        is the standard library even beside a `typing.py`."""
        roots = self.roots if self.root_package is None else tuple(r for r in self.roots if r)
        if self.in_package(from_path):
            return roots
        own = dirname(from_path)
        return (own, *[r for r in roots if r != own])

    def resolve_absolute(self, dotted: str, from_path: str) -> ModuleRef | None:
        """`import dotted` from the file at from_path, or None when not in the repo."""
        if self.root_package is not None:
            if dotted == self.root_package:
                return ModuleRef("__init__.py")
            if dotted.startswith(self.root_package + "."):
                return self.find("", dotted[len(self.root_package) + 1 :])
        for folder in self.search_folders(from_path):
            ref = self.find(folder, dotted)
            if ref is not None:
                return ref
        return None

    def resolve_relative(self, level: int, dotted: str, from_path: str) -> ModuleRef | None:
        """`from .{level dots}dotted import ...` in the file at from_path.

        The anchor is the file's folder, one folder up per extra dot. Scripts outside
        a package get the same folder arithmetic (Python would refuse the import; the
        folder is still the only thing it can mean).
        """
        folder = dirname(from_path)
        for _ in range(level - 1):
            if not folder:
                return None
            folder = dirname(folder)
        if not dotted:
            init = f"{folder}/__init__.py" if folder else "__init__.py"
            if init in self.paths:
                return ModuleRef(init)
            # The repository root, or a plain folder: a namespace of its modules.
            return ModuleRef(folder, is_namespace=True)
        return self.find(folder, dotted)

    def submodule(self, ref: ModuleRef, name: str) -> ModuleRef | None:
        """The submodule `name` of a package, or None."""
        if not ref.is_package:
            return None
        return self.find(ref.folder, name)
