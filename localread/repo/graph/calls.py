"""Calls: which repo functions a call runs, and what it returns.

Calling a class builds an instance; calling an instance runs `__call__`, or `forward`
for an nn.Module; an nn.Sequential runs each module it holds. A function returns the
union of its `return` values and its return annotation, with `self`/`cls` read as the
receiver's class. Externals return EXTERNAL_RESULT, except the library calls whose
result depends on their arguments (`library.NEEDS_ARGS`); a helper that returns the
object a literal dotted string names (`get_obj_from_str("pkg.mod.Class")`) returns
that repo object; a config loader or builder, what `configured` reads.
"""

from __future__ import annotations

import ast

from localread.repo.graph.atoms import (
    CLASS,
    CONFIG,
    CONTAINER_METHOD,
    DICT,
    EMPTY,
    EXTERNAL,
    EXTERNAL_METHOD,
    EXTERNAL_RESULT,
    FUNCTION,
    INSTANCE,
    MODULE,
    NAMESPACE,
    SEQ,
    SUPER,
    TUPLE,
    WRAPPED,
    elements,
    keyed_value,
    mapping_values,
    shallow,
)
from localread.repo.graph.library import (
    CONFIG_BUILDERS,
    CONFIG_BUILDERS_EXTERNAL,
    CONFIG_LOADERS,
    CONFIG_PASSING,
    DICT_BUILTINS,
    DP_WRAPPERS,
    IDENTITY,
    MODULE_LIST,
    NEEDS_ARGS,
    OBJECT_FROM_STRING,
    OBJECT_FROM_STRING_EXTERNAL,
    SELF_RETURNING,
    SEQ_BUILTINS,
    SEQUENTIAL,
    is_accelerate_prepare,
)
from localread.repo.graph.parse import DOTTED, parse_expr, quick_call
from localread.repo.graph.solver import RETURNS, Solver
from localread.repo.graph.state import UNSET, Site

# Repo helpers whose result depends on the call's arguments (site_result passes them).
NAMED_HELPERS = OBJECT_FROM_STRING | CONFIG_BUILDERS


class Calls(Solver):
    """Call targets and call results."""

    __slots__ = ()

    def returns(self, fid: str, recv: int) -> frozenset:
        """What calling fid returns; `self`/`cls` of its class read as the receiver's."""
        ret = self.read((RETURNS, fid))
        if not ret or not recv:
            return ret
        func = self.scopes.get(fid)
        owner = func.cls if func is not None else None
        if owner is None:
            return ret
        owner_n = self.scopes[owner].n
        if owner_n == recv or owner not in self.mro_in_repo(self.by_n[recv].id):
            return ret
        out = set()
        for a in ret:
            if a == (INSTANCE, owner_n):
                out.add((INSTANCE, recv))
            elif a == (CLASS, owner_n):
                out.add((CLASS, recv))
            else:
                out.add(a)
        return frozenset(out)

    def called_functions(self, atom: tuple) -> list[tuple[str, int, int]]:
        """The repo functions that run when atom is called: (function id, number of
        leading parameters already bound, receiver class)."""
        kind = atom[0]
        if kind == FUNCTION:
            return [(self.by_n[atom[1]].id, atom[2], atom[3])]
        if kind == INSTANCE or kind == WRAPPED:
            cid = self.by_n[atom[1]].id
            funcs = self.member_functions(cid, "__call__")
            if not funcs and self.module_like.get(cid):
                funcs = self.member_functions(cid, "forward")
            return [(f, 1, atom[1]) for f in funcs]
        if kind == SEQ and self.strs[atom[1]] in SEQUENTIAL:
            out = []
            for a in sorted(atom[2]):
                out.extend(self.called_functions(a))
            return out
        return []

    def call_result(self, atom: tuple, node: ast.Call | None, scope: str) -> frozenset:
        """What calling one type of the callee returns (node: the call, for the
        externals whose result depends on their arguments)."""
        kind = atom[0]
        if kind == CLASS:
            return frozenset(((INSTANCE, atom[1]),))
        if kind == FUNCTION:
            name = self.by_n[atom[1]].rec.name
            if node is not None and name in OBJECT_FROM_STRING:
                named = self.named_object(node, scope)
                if named:
                    return named
            if node is not None and name in CONFIG_BUILDERS and self.configs_on:
                return self.returns(self.by_n[atom[1]].id, atom[3]) | self.configured_result(node, scope)
            return self.returns(self.by_n[atom[1]].id, atom[3])
        if kind == INSTANCE or kind == WRAPPED or kind == SEQ:
            out: frozenset = EMPTY
            for fid, _, recv in self.called_functions(atom):
                out = out | self.returns(fid, recv)
            return out
        if kind == EXTERNAL:
            if atom == self.unknown_external:
                return frozenset((atom,))
            return self.external_call(atom[1], node, scope)
        if kind == EXTERNAL_METHOD:
            method = self.strs[atom[1]].rsplit(".", 1)[-1]
            recv = atom[2]
            if recv[0] == CLASS:
                # `Model.from_pretrained(...)` inherited from a library base class (a
                # classmethod constructor, by the library's convention) builds a Model.
                if method.startswith("from_"):
                    return frozenset(((INSTANCE, recv[1]),))
                return frozenset(((EXTERNAL_RESULT, atom[1]),))
            return frozenset((recv,)) if method in SELF_RETURNING else frozenset(((EXTERNAL_RESULT, atom[1]),))
        if kind == CONTAINER_METHOD:
            return self.container_call(atom[1], self.strs[atom[2]], node, scope)
        return EMPTY

    def named_object(self, node: ast.Call, scope: str) -> frozenset:
        """`get_obj_from_str("pkg.module.Class")`, `pydoc.locate("...")`: the repo
        object a literal dotted string names (see `object_named`); EMPTY when the
        string is not literal."""
        name = node.args[0] if node.args else None
        if not isinstance(name, ast.Constant) or not isinstance(name.value, str):
            return EMPTY
        return self.object_named(name.value.strip(), self.scopes[scope].file)

    def object_named(self, dotted: str, fi: int) -> frozenset:
        """The repo class or function a dotted string names, found as an import in
        file fi would find it (never imported); EMPTY when it names nothing here."""
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            ref = self.resolve_module(fi, 0, ".".join(parts[:cut]))
            if ref is None:
                continue
            atoms = frozenset((self.module_atom(ref),))
            for part in parts[cut:]:
                atoms = self.attribute_types(atoms, part)
            return frozenset(a for a in atoms if a[0] == CLASS or a[0] == FUNCTION)
        return EMPTY

    def arg_types(self, node: ast.Call | None, i: int, scope: str) -> frozenset:
        """The types of the call's positional argument i (none past a starred one)."""
        if node is None or i >= len(node.args) or isinstance(node.args[i], ast.Starred):
            return EMPTY
        return self.types_of(node.args[i], scope)

    def needs_args(self, n: int) -> bool:
        """Whether the result of calling the external n depends on the arguments."""
        dotted = self.strs[n]
        return dotted in NEEDS_ARGS or is_accelerate_prepare(dotted)

    def external_call(self, n: int, node: ast.Call | None, scope: str) -> frozenset:
        """What calling the external n returns: its result, or for the library calls
        that keep or contain their arguments, what the arguments are."""
        result = frozenset(((EXTERNAL_RESULT, n),))
        if node is None:
            return result
        dotted = self.strs[n]
        if dotted not in NEEDS_ARGS and not dotted.startswith("accelerate."):
            return result
        if dotted in IDENTITY:
            return self.arg_types(node, 0, scope) or result
        if dotted in DP_WRAPPERS:
            inner = self.arg_types(node, 0, scope)
            return frozenset((WRAPPED, a[1]) if a[0] == INSTANCE else a for a in inner) or result
        if dotted in MODULE_LIST:
            elems = elements(self.arg_types(node, 0, scope))
            return frozenset(((SEQ, self.intern("torch.nn.ModuleList"), shallow(elems)),))
        if dotted in SEQUENTIAL:
            elems: frozenset = EMPTY
            for arg in node.args:
                if isinstance(arg, ast.Starred):
                    got = elements(self.types_of(arg.value, scope))
                else:
                    got = self.types_of(arg, scope)
                    if len(node.args) == 1 and any(a[0] == DICT for a in got):
                        got = mapping_values(got)
                elems = elems | got
            return frozenset(((SEQ, self.intern("torch.nn.Sequential"), shallow(elems)),))
        if dotted in DICT_BUILTINS:
            first = self.arg_types(node, 0, scope)
            values = mapping_values(first)
            for kw in node.keywords:
                if kw.arg is not None:
                    values = values | self.types_of(kw.value, scope)
            if dotted == "collections.defaultdict":
                return frozenset(((DICT, n, EMPTY),))
            # `dict(wte=..., h=...)`, `nn.ModuleDict({"wte": ...})`: the keys are known
            # when every one is a keyword or a literal string of the one dict passed.
            base = [a for a in first if a[0] == DICT]
            if (len(node.args) <= 1 and all(kw.arg is not None for kw in node.keywords)
                    and (not node.args or (len(first) == 1 and len(base) == 1 and len(base[0]) == 4))):
                keyed = self.keyed_entries(((kw.arg, kw.value) for kw in node.keywords), scope,
                                           base[0][3] if base else ())
                return frozenset(((DICT, n, shallow(values), keyed),))
            return frozenset(((DICT, n, shallow(values)),))
        if dotted in SEQ_BUILTINS:
            return frozenset(((SEQ, n, shallow(elements(self.arg_types(node, 0, scope)))),))
        if dotted == "builtins.enumerate":
            pair = (TUPLE, (EMPTY, shallow(elements(self.arg_types(node, 0, scope)))))
            return frozenset(((SEQ, n, frozenset((pair,))),))
        if dotted == "builtins.zip":
            parts = tuple(shallow(elements(self.arg_types(node, i, scope))) for i in range(len(node.args)))
            return frozenset(((SEQ, n, frozenset(((TUPLE, parts),))),))
        if dotted == "builtins.next":
            return elements(self.arg_types(node, 0, scope))
        if dotted == "builtins.getattr":
            if len(node.args) < 2:
                return result
            obj = self.arg_types(node, 0, scope)
            name = node.args[1]
            out: frozenset = self.arg_types(node, 2, scope)
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                return out | self.attribute_types(obj, name.value)
            for a in obj:
                if a[0] == MODULE:
                    out = out | self.public_callables(self.strs[a[1]])
            return out
        if dotted == "builtins.super":
            return self.super_call(node, scope)
        if dotted == "builtins.type":
            if len(node.args) != 1:
                return result
            return frozenset((CLASS, a[1]) for a in self.arg_types(node, 0, scope)
                             if a[0] == INSTANCE or a[0] == WRAPPED)
        if dotted == "builtins.vars":
            return frozenset((NAMESPACE, self.scopes[self.strs[a[1]]].n) for a in self.arg_types(node, 0, scope)
                             if a[0] == MODULE and self.strs[a[1]] in self.scopes)
        if dotted == "builtins.globals":
            return frozenset(((NAMESPACE, self.scopes[self.scopes[scope].module].n),))
        if dotted in OBJECT_FROM_STRING_EXTERNAL:
            return self.named_object(node, scope) or result
        if dotted in CONFIG_LOADERS or dotted in CONFIG_PASSING or dotted in CONFIG_BUILDERS_EXTERNAL:
            return self.config_call_result(dotted, node, scope) or result
        if dotted == "importlib.import_module":
            name = node.args[0] if node.args else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                ref = self.resolve_module(self.scopes[scope].file, 0, name.value)
                if ref is not None:
                    return frozenset((self.module_atom(ref),))
            return result
        if is_accelerate_prepare(dotted):
            args = tuple(self.types_of(a, scope) for a in node.args if not isinstance(a, ast.Starred))
            if len(args) == 1:
                return args[0]
            return frozenset(((TUPLE, tuple(shallow(a) for a in args)),))
        return result

    def config_call_result(self, dotted: str, node: ast.Call, scope: str) -> frozenset:
        """A library call on configs: the files a loader reads, the configs a merge is
        given, what a builder builds (see `configured`)."""
        if not self.configs_on:
            return EMPTY
        if dotted in CONFIG_LOADERS:
            return self.config_roots(node, scope)
        if dotted in CONFIG_PASSING:
            return frozenset(a for a in self.union_of(node.args, scope) if a[0] == CONFIG)
        return self.configured_result(node, scope)

    def super_call(self, node: ast.Call, scope: str) -> frozenset:
        """`super()` (the enclosing method's class) or `super(Class, obj)`."""
        if len(node.args) >= 2:
            recv = INSTANCE if any(a[0] == INSTANCE for a in self.arg_types(node, 1, scope)) else CLASS
            return frozenset((SUPER, a[1], recv) for a in self.arg_types(node, 0, scope) if a[0] == CLASS)
        s = self.scopes[scope]
        while s.kind == "function" and s.cls is None and s.parent:
            s = self.scopes[s.parent]
        if s.kind != "function" or s.cls is None:
            return EMPTY
        return frozenset(((SUPER, self.scopes[s.cls].n, CLASS if s.classmethod else INSTANCE),))

    def container_call(self, cont: tuple, method: str, node: ast.Call | None, scope: str) -> frozenset:
        """What a list's or dict's method returns (`d.get(k, default)`, `d.items()`)."""
        kind = cont[0]
        if kind == CONFIG:
            return self.config_call(cont, method, node, scope)
        if method == "copy":
            return frozenset((cont,))
        if kind == DICT:
            if method in ("get", "pop", "setdefault"):
                key = node.args[0] if node is not None and node.args else None
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    found = keyed_value(cont, self.intern(key.value))
                    if found is not None:
                        return found | self.arg_types(node, 1, scope)
                return cont[2] | self.arg_types(node, 1, scope)
            if method == "values":
                return frozenset(((SEQ, self.intern("builtins.list"), cont[2]),))
            if method == "items":
                pair = (TUPLE, (EMPTY, cont[2]))
                return frozenset(((SEQ, self.intern("builtins.list"), frozenset((pair,))),))
            return EMPTY
        if kind == SEQ and method == "pop":
            return cont[2]
        return EMPTY

    # ---- call sites ------------------------------------------------------------------------

    def site_call(self, site: Site) -> ast.Call | None:
        """The site's call as an ast.Call (callee replaced by a placeholder name)."""
        if site.args_span[0] < 0:
            return None
        key = (site.file, site.args_span[0], -site.args_span[1])
        node = self.exprs.get(key, UNSET)
        if node is UNSET:
            text = self.files[site.file].source[site.args_span[0]:site.args_span[1]].decode("utf-8", "replace")
            node = quick_call(text)
            if node is None:
                if not text.startswith("("):
                    text = f"({text})"  # a generator argument: f(x for x in y)
                parsed = parse_expr(f"_{text}")
                node = parsed if isinstance(parsed, ast.Call) else None
            self.exprs[key] = node
        return node  # type: ignore[return-value]

    def site_callee(self, site: Site) -> frozenset:
        """The types of the callee at a site."""
        if (site.func_type == "identifier" or site.func_type == "attribute") and DOTTED.match(site.text):
            return self.types_of_dotted(site.text, site.scope)
        node = self.parsed_expr(site.file, site.func_span[0], site.func_span[1])
        return self.types_of(node, site.scope) if node is not None else EMPTY

    def site_result(self, index: int) -> frozenset:
        """What the call at a site returns."""
        site = self.sites[index]
        out: frozenset = EMPTY
        for atom in self.read(self.site_keys[index]):
            if (atom[0] == EXTERNAL and self.needs_args(atom[1])) or (
                    atom[0] == FUNCTION and self.by_n[atom[1]].rec.name in NAMED_HELPERS):
                got = self.call_result(atom, self.site_call(site), site.scope)
            else:
                got = self.call_result(atom, None, site.scope)
            if got:
                out = out | got
        return out

    def call_targets(self, atoms: frozenset) -> tuple[list[str], str | None]:
        """Repo chunk ids called (classes instantiated) and the external name, if any."""
        out: set[str] = set()
        externals: set[str] = set()
        for a in atoms:
            kind = a[0]
            if kind == CLASS:
                out.add(self.by_n[a[1]].id)
            elif kind == FUNCTION or kind == INSTANCE or kind == WRAPPED or kind == SEQ:
                funcs = self.called_functions(a)
                out.update(f for f, _, _ in funcs)
                if (kind == INSTANCE or kind == WRAPPED) and not funcs:
                    cid = self.by_n[a[1]].id
                    ext = self.external_base(cid) if self.module_like.get(cid) else None
                    if ext is not None:
                        externals.add(f"{ext}.__call__")
                elif kind == SEQ and not funcs and a[1] != 0:
                    # `nn.Sequential(nn.Linear(...), nn.GELU())`: library modules only.
                    externals.add(f"{self.strs[a[1]]}.__call__")
            elif kind == EXTERNAL or kind == EXTERNAL_METHOD:
                if a != self.unknown_external:
                    externals.add(self.strs[a[1]])
            elif kind == EXTERNAL_RESULT:
                dotted = self.strs[a[1]]
                if dotted.rsplit(".", 1)[-1][:1].isupper():
                    externals.add(f"{dotted}.__call__")
            elif kind == CONTAINER_METHOD:
                cont = a[1]
                if cont[0] == CONFIG:
                    continue  # a dict or an OmegaConf config, by the loader: not said
                if cont[0] == TUPLE:
                    origin = "builtins.tuple"
                elif cont[1] == 0:
                    origin = "builtins.list" if cont[0] == SEQ else "builtins.dict"
                else:
                    origin = self.strs[cont[1]]
                externals.add(f"{origin}.{self.strs[a[2]]}")
        return sorted(t for t in out if t in self.chunks), (min(externals) if externals else None)
