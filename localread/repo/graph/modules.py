"""Modules: what an import binds, a module's attributes, star imports and `__all__`.

A module is named by its module id, or `ns:<folder>` for a folder without
`__init__.py` (an implicit namespace package). An import that does not resolve to a
repo file is external (EXTERNAL atom), unless it is rooted in a repo package: then the
name is MISSING, counted as unresolved rather than guessed.
"""

from __future__ import annotations

import ast
from posixpath import dirname

from localread.repo.graph.atoms import CLASS, EMPTY, FUNCTION, MISSING, MODULE, NAMESPACE
from localread.repo.graph.library import BUILTINS
from localread.repo.graph.solver import IMPORT, VAR, Solver
from localread.repo.graph.state import UNSET
from localread.repo.imports import ImportItem, ModuleRef


class Modules(Solver):
    """Imports, module attributes, star imports and exports."""

    __slots__ = ()

    def resolve_module(self, fi: int, level: int, dotted: str) -> ModuleRef | None:
        """The repo module an import in file fi names (level: leading dots), or None."""
        path = self.files[fi].path
        if level:
            return self.index.resolve_relative(level, dotted, path)
        return self.index.resolve_absolute(dotted, path)

    def module_id(self, ref: ModuleRef) -> str:
        if ref.is_namespace:
            return f"ns:{ref.path}"
        return self.module_of_path.get(ref.path, f"ns:{ref.path}")

    def module_atom(self, ref: ModuleRef) -> tuple:
        return (MODULE, self.intern(self.module_id(ref)))

    def module_dotted(self, ref: ModuleRef) -> str:
        """The dotted name of a repo module or namespace folder."""
        if not ref.is_namespace and ref.path in self.module_of_path:
            return self.module_of_path[ref.path]
        folder = ref.path
        if "src" in self.index.roots and folder.startswith("src/"):
            folder = folder[4:]
        return folder.replace("/", ".")

    def repo_rooted(self, fi: int, dotted: str) -> bool:
        """Whether an absolute import that did not resolve names a repo package."""
        top = dotted.split(".", 1)[0]
        return self.index.resolve_absolute(top, self.files[fi].path) is not None

    def import_types(self, fi: int, item: ImportItem) -> frozenset:
        """What one name of an import statement in file fi is bound to."""
        if item.kind == "module":
            ref = self.resolve_module(fi, 0, item.name)
            if ref is not None:
                return frozenset((self.module_atom(ref),))
            if self.repo_rooted(fi, item.name):
                return frozenset(((MISSING, self.intern(item.name)),))
            return frozenset((self.external(item.name),))
        ref = self.resolve_module(fi, item.level, item.module)
        dotted = f"{item.module}.{item.name}" if item.module else item.name
        if ref is None:
            if item.level or self.repo_rooted(fi, item.module):
                return frozenset(((MISSING, self.intern(dotted)),))
            return frozenset((self.external(dotted),))
        module = self.module_id(ref)
        if module == self.file_scopes[fi][0]:
            # `from . import x` in a package's own __init__: x is its submodule.
            sub = self.index.submodule(ref, item.name)
            if sub is not None:
                return frozenset((self.module_atom(sub),))
        return self.module_attr(module, item.name)

    def module_attr(self, module: str, name: str) -> frozenset:
        """`module.name`: a name it binds, its `__dict__`, a submodule, a name from its
        star imports, else MISSING."""
        if module.startswith("ns:"):
            sub = self.index.find(module[3:], name)
            if sub is not None:
                return frozenset((self.module_atom(sub),))
            return frozenset(((MISSING, self.intern(f"{module}.{name}")),))
        scope = self.scopes.get(module)
        if scope is None:
            return EMPTY
        if name in scope.names:
            return self.read((VAR, module, name))
        if name == "__dict__":
            return frozenset(((NAMESPACE, scope.n),))
        path = self.files[scope.file].path
        if path.endswith("__init__.py"):
            sub = self.index.find(dirname(path), name)
            if sub is not None:
                return frozenset((self.module_atom(sub),))
        star = self.star_name(module, name)
        if star is not None:
            return self.read(star) if type(star) is tuple else star  # type: ignore[return-value]
        return frozenset(((MISSING, self.intern(f"{module}.{name}")),))

    def public_callables(self, module: str) -> frozenset:
        """The public functions and classes of a module: what a lookup by a computed
        name (`getattr(models, name)`, `models.__dict__[name]`) may give."""
        scope = self.scopes.get(module)
        if scope is None:
            return EMPTY
        out: set = set()
        names = {n for n in scope.names if not n.startswith("_")}
        names.update(n for n in self.exports(module) if not n.startswith("_"))
        for name in sorted(names):
            for a in self.module_attr(module, name):
                if a[0] == FUNCTION or a[0] == CLASS:
                    out.add(a)
        return frozenset(out)

    # ---- star imports ------------------------------------------------------------------

    def star_imports(self, module: str) -> list[tuple[str | None, str]]:
        """A module's star imports, last first: (repo module id or None, dotted)."""
        found = self.star_targets.get(module)
        if found is None:
            scope = self.scopes[module]
            found = []
            for item in reversed(scope.stars):
                ref = self.resolve_module(scope.file, item.level, item.module)
                found.append((self.module_id(ref) if ref is not None else None, item.module))
            self.star_targets[module] = found
        return found

    def star_name(self, module: str, name: str, depth: int = 0) -> tuple | frozenset | None:
        """A name a module gets from `from x import *` (the last star import that has it)."""
        memo = self.stars_memo.get((module, name), UNSET)
        if memo is not UNSET:
            return memo  # type: ignore[return-value]
        self.stars_memo[(module, name)] = None  # cycle guard
        found: tuple | frozenset | None = None
        scope = self.scopes.get(module)
        if scope is not None and scope.stars and depth < 20:
            external: str | None = None
            # The last star import that has the name wins, as in Python; but one that
            # only re-imports it (often from this very package) gives way to one that
            # defines it, so that the name does not resolve through a cycle.
            reimport: tuple | frozenset | None = None
            for target, dotted in self.star_imports(module):
                if target is None:
                    if external is None:
                        external = dotted
                    continue
                if name not in self.exports(target):
                    continue
                tscope = self.scopes.get(target)
                if tscope is not None and name in tscope.names:
                    candidate: tuple | frozenset | None = (VAR, target, name)
                    only_imported = all(src[0] == IMPORT for src in self.sources.get(candidate, ()))
                else:
                    candidate = self.star_name(target, name, depth + 1)
                    only_imported = False
                if candidate is None:
                    continue
                if not only_imported:
                    found = candidate
                    break
                if reimport is None:
                    reimport = candidate
            if found is None:
                found = reimport
            if found is None and external is not None and name not in BUILTINS:
                found = frozenset((self.external(f"{external}.{name}"),))
        self.stars_memo[(module, name)] = found
        return found

    def exports(self, module: str) -> frozenset[str]:
        """Names `from module import *` binds: `__all__` when it is a literal, else the
        public names bound in the module (its own star imports included)."""
        memo = self.exports_memo.get(module)
        if memo is not None:
            return memo
        self.exports_memo[module] = frozenset()  # cycle guard
        scope = self.scopes.get(module)
        if scope is None:
            return frozenset()
        names: set[str] = set()
        if scope.all_nodes:
            for fi, start, end in scope.all_nodes:
                node = self.parsed_expr(fi, start, end)
                if node is None:
                    continue
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                        names.add(sub.value)
                    elif isinstance(sub, ast.Attribute) and sub.attr == "__all__":
                        for a in self.types_of(sub.value, module):
                            if a[0] == MODULE:
                                names.update(self.exports(self.strs[a[1]]))
        else:
            names.update(n for n in scope.names if not n.startswith("_"))
            for target, _ in self.star_imports(module):
                if target is not None:
                    names.update(self.exports(target))
        result = frozenset(names)
        self.exports_memo[module] = result
        return result
