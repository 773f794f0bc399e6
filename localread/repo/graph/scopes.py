"""Scopes: which chunk a name lives in, how a name is looked up, what parameters bind.

Python's rules, statically: a name used in a function is searched in the function,
the enclosing functions (not class bodies) and the module, then the module's star
imports and the builtins; the main block reads the module's names; `global` sends a
binding to the module. `self` is the first positional parameter of a method; its type
is the classes of the receivers the method is called on (`self_types`).
"""

from __future__ import annotations

import ast

from localread.data import ChunkKind
from localread.repo.graph.atoms import CLASS, EMPTY, INSTANCE
from localread.repo.graph.library import BUILTINS
from localread.repo.graph.parse import parse_params, quick_params, scan_param_names
from localread.repo.graph.solver import (
    ANNOTATION,
    CONFIG_ARG,
    FIXED,
    FLOWS,
    NODE,
    SELF,
    VAR,
    Solver,
)
from localread.repo.graph.state import UNSET, ParamName, Scope

_POSITIONAL = ("positional", "positional_only")


class Scopes(Solver):
    """Scope structure, name lookup and parameters."""

    __slots__ = ()

    def setup_scopes(self) -> None:
        """A Scope for every scope record of every file, matched to its chunk."""
        final: dict[tuple[str, str, str, int, int], str] = {}
        for chunk in self.chunks.values():
            final[(chunk.path, chunk.kind.value, chunk.name, chunk.start, chunk.end)] = chunk.id
        for fi, fs in enumerate(self.files):
            ids: list[str] = []
            for si, rec in enumerate(fs.scopes):
                if si == 0:
                    sid = final.get((fs.path, "module", rec.name, rec.start_line, rec.end_line))
                    if sid is None:
                        sid = next((c.id for c in self.chunks.values()
                                    if c.path == fs.path and c.kind is ChunkKind.MODULE), rec.chunk)
                else:
                    sid = None
                    wanted = (("main",) if rec.kind == "main" else ("class",) if rec.kind == "class"
                              else ("function", "method"))
                    for chunk_kind in wanted:
                        sid = final.get((fs.path, chunk_kind, rec.name, rec.start_line, rec.end_line))
                        if sid is not None:
                            break
                    if sid is None:
                        sid = rec.chunk
                ids.append(sid)
                chunk = self.chunks.get(sid)
                scope = Scope(sid, self.intern(sid), rec.kind, fi, ids[0], rec,
                              chunk.decorators if chunk else ())
                self.scopes[sid] = scope
                self.by_n[scope.n] = scope
            self.file_scopes.append(ids)
            self.module_of_path[fs.path] = ids[0]
            for si, rec in enumerate(fs.scopes):
                if si:
                    self.scopes[ids[si]].parent = ids[rec.parent] if rec.parent >= 0 else ids[0]
        for scope in self.scopes.values():
            scope.chain = self.search_chain(scope)
            if scope.kind == "function":
                parent = self.scopes.get(scope.parent) if scope.parent else None
                if parent is not None and parent.kind == "class":
                    scope.cls = parent.id

    def search_chain(self, scope: Scope) -> tuple[str, ...]:
        """Scopes searched for a name used in scope: itself, enclosing functions (class
        bodies are not searched from nested functions), the module."""
        if scope.kind in ("module", "main"):
            return (scope.module,)
        chain = [scope.id]
        seen = {scope.id}  # a parent link back into the chain must not loop forever
        sid = scope.parent
        while sid is not None and sid != scope.module and sid not in seen:
            seen.add(sid)
            s = self.scopes[sid]
            if s.kind == "function":
                chain.append(sid)
            sid = s.parent
        chain.append(scope.module)
        return tuple(chain)

    def names_scope(self, fi: int, si: int) -> Scope:
        """The scope whose names code in scope record si of file fi binds and reads."""
        scope = self.scopes[self.file_scopes[fi][si]]
        return self.scopes[scope.module] if scope.kind == "main" else scope

    def self_class(self, scope: Scope, name: str) -> str | None:
        """The class whose instance `name` is in scope (the `self` of a method, also
        seen from functions nested in it), or None."""
        s: Scope | None = scope
        while s is not None and s.kind == "function":
            params = self.params(s)
            if s.cls is not None:
                if (params and params[0][0].name == name and params[0][0].kind in _POSITIONAL
                        and not s.static and not s.classmethod):
                    return s.cls
                return None
            if name in s.names or name in s.param_names:
                return None
            s = self.scopes.get(s.parent) if s.parent else None
        return None

    def cls_class(self, scope: Scope, name: str) -> str | None:
        """The class that `name` is in a classmethod (its first parameter), or None."""
        if scope.kind != "function" or scope.cls is None or not scope.classmethod:
            return None
        params = self.params(scope)
        return scope.cls if params and params[0][0].name == name else None

    def is_self(self, scope_id: str, name: str) -> bool:
        scope = self.scopes[scope_id]
        return scope.kind == "function" and self.self_class(scope, name) is not None

    # ---- parameters ---------------------------------------------------------------

    def param_names(self, scope: Scope) -> frozenset[str]:
        """The names a function's parameters bind (cheap: no parse)."""
        if scope.params is None and not scope.param_names and scope.rec.params[0] >= 0:
            fs = self.files[scope.file]
            scope.param_names = scan_param_names(fs.source[scope.rec.params[0]:scope.rec.params[1]])
        return scope.param_names

    def params(self, scope: Scope) -> list[tuple[ParamName, ast.arg | None, ast.expr | None]]:
        """Parameters of a function scope (parsed once); registers their sources: the
        class for `self`/`cls`, else the annotation, the default, (phase 2) the
        arguments passed and what configs that build the function give it."""
        if scope.params is not None:
            return scope.params
        scope.params = []
        if scope.kind != "function" or scope.rec.params[0] < 0:
            return scope.params
        fs = self.files[scope.file]
        text = fs.source[scope.rec.params[0]:scope.rec.params[1]].decode("utf-8", "replace")
        args = quick_params(text) or parse_params(text)
        if args is None:
            return scope.params
        out: list[tuple[ParamName, ast.arg | None, ast.expr | None]] = []
        positional = [*args.posonlyargs, *args.args]
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        for i, (arg, default) in enumerate(zip(positional, defaults)):
            kind = "positional_only" if i < len(args.posonlyargs) else "positional"
            out.append((ParamName(arg.arg, kind), arg, default))
        if args.vararg is not None:
            out.append((ParamName(args.vararg.arg, "var_positional"), None, None))
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            out.append((ParamName(arg.arg, "keyword_only"), arg, default))
        if args.kwarg is not None:
            out.append((ParamName(args.kwarg.arg, "var_keyword"), None, None))
        scope.params = out
        scope.param_names = frozenset(p[0].name for p in out)
        implicit_cls = scope.rec.name in ("__new__", "__init_subclass__", "__class_getitem__")
        cls_n = self.scopes[scope.cls].n if scope.cls is not None else 0
        for i, (param, arg, default) in enumerate(out):
            lst = self.sources.setdefault((VAR, scope.id, param.name), [])
            if i == 0 and scope.cls is not None and not scope.static and param.kind in _POSITIONAL:
                if scope.classmethod or implicit_cls:
                    lst.append((FIXED, frozenset(((CLASS, cls_n),))))
                else:
                    lst.append((SELF, scope.id))
                continue
            if i == 0 and scope.cls is None and param.kind in _POSITIONAL:
                lst.append((SELF, scope.id))  # a module function bound as a method
            if arg is not None and arg.annotation is not None:
                lst.append((ANNOTATION, arg.annotation, scope.id))
            if default is not None:
                lst.append((NODE, default, scope.id, ()))
            if param.kind in ("positional", "positional_only", "keyword_only", "var_keyword"):
                lst.append((FLOWS, scope.id, i, param.name, param.kind))
            if self.configs_on and param.kind in ("positional", "positional_only", "keyword_only"):
                lst.append((CONFIG_ARG, scope.id, param.name))
        return out

    # ---- dispatch through self ------------------------------------------------------

    def self_types(self, fid: str) -> frozenset:
        """The `self` of a method: an instance of each class it is called on (a subclass
        calling an inherited method: `self.p_mean_variance(...)` in the base's method
        runs the subclass's override). A method no call reaches with a receiver gets,
        once the calls are solved (`enable_self_fallback`), its own class and the
        subclasses of it that are built."""
        found = self.receivers.get(fid)
        if found:
            return frozenset((INSTANCE, n) for n in found)
        cls = self.scopes[fid].cls
        if not self.self_fallback or cls is None:
            return EMPTY
        out = {(INSTANCE, self.scopes[cls].n)}
        out.update((INSTANCE, n) for n in self.built_subclasses.get(cls, ()))
        return frozenset(out)

    def add_receiver(self, fid: str, recv: int, alias: bool = False) -> None:
        """A call runs method fid on an instance of the class recv. alias: fid is a
        module function that a class body binds by name, as a method (`decode =
        decode_function`; not `staticmethod(f)`)."""
        scope = self.scopes.get(fid)
        if scope is None or scope.kind != "function" or scope.static or scope.classmethod:
            return
        if scope.cls is None and not alias:
            return
        found = self.receivers.setdefault(fid, set())
        if recv in found or (scope.cls is not None and scope.cls not in self.mro_in_repo(self.by_n[recv].id)):
            return
        params = self.params(scope)
        if not params or params[0][0].kind not in _POSITIONAL:
            return
        found.add(recv)
        self.enqueue((VAR, fid, params[0][0].name))

    def enable_self_fallback(self) -> None:
        """Phase 3: the `self` of a method that no call reaches with a receiver is an
        instance of its class, or of a subclass built somewhere."""
        self.self_fallback = True
        built: dict[str, set[int]] = {}
        for n in self.built:
            cid = self.by_n[n].id
            for base in self.mro_in_repo(cid)[1:]:
                built.setdefault(base, set()).add(n)
        self.built_subclasses = built
        for sid, scope in self.scopes.items():
            if scope.kind == "function" and scope.params and not self.receivers.get(sid):
                key = (VAR, sid, scope.params[0][0].name)
                if any(src[0] == SELF for src in self.sources.get(key, ())):
                    self.enqueue(key)

    # ---- names ----------------------------------------------------------------------

    def name_types(self, scope: str, name: str) -> frozenset:
        """The types of a name used in scope."""
        found = self.lookup(scope, name)
        if found is None:
            return EMPTY
        if type(found) is tuple:
            return self.read(found)  # type: ignore[arg-type]
        return found  # type: ignore[return-value]

    def lookup(self, scope_id: str, name: str) -> tuple | frozenset | None:
        """The variable a name refers to in scope: a (VAR, scope, name) key, fixed types
        (builtins, names from an external star import), or None (defined nowhere)."""
        memo_key = (scope_id, name)
        found = self.lookups.get(memo_key, UNSET)
        if found is not UNSET:
            return found  # type: ignore[return-value]
        scope = self.scopes[scope_id]
        chain = (scope.module,) if name in scope.globals else scope.chain
        found = None
        for sid in chain:
            s = self.scopes[sid]
            if s.kind == "function":
                if name in s.names or name in (s.param_names or self.param_names(s)):
                    found = (VAR, sid, name)
                    break
            elif name in s.names:
                found = (VAR, sid, name)
                break
        if found is None:
            found = self.star_name(scope.module, name)
        if found is None and name in BUILTINS:
            found = frozenset((self.external(f"builtins.{name}"),))
        self.lookups[memo_key] = found
        return found
