"""Binding: every file's records turned into the sources of solver keys, and its calls
into call sites.

A name's types are the union of every value bound to it: definitions, imports,
assignments (tuple patterns element by element), loop targets, `with ... as`,
walrus, annotations; `self.x = ...` binds an attribute of the class's instances,
`x[k] = v` and `x.append(v)` add to what x holds. Returns and return annotations are
what a function returns. Nothing is evaluated here.
"""

from __future__ import annotations

import ast

from localread.repo.graph.atoms import (
    CLASS,
    DICT,
    EMPTY,
    ENTER,
    FUNCTION,
    INDEX,
    ITER,
    NOTHING,
    SEQ,
    WRAP,
)
from localread.repo.graph.library import MUTATORS
from localread.repo.graph.model import FileSymbols, context_texts
from localread.repo.graph.parse import DOTTED, SELF_ATTR, SUBSCRIPT, parse_expr, quick_expr
from localread.repo.graph.solver import (
    ANNOTATION_SPAN,
    CALLEE,
    FIXED,
    IMPORT,
    INSTANCE_ATTR,
    MUTATION,
    RETURNS,
    SPAN,
    VAR,
    Solver,
    with_op,
)
from localread.repo.graph.state import Scope, Site


class Binding(Solver):
    """Sources of every key, and the call sites, from the files' records."""

    __slots__ = ()

    def bind(self, scope: Scope, name: str, source: tuple | None) -> None:
        """Bind name in scope (in the module when declared global) to a source."""
        target = self.scopes[scope.module] if name in scope.globals else scope
        target.names[name] = None
        if source is not None:
            self.sources.setdefault((VAR, target.id, name), []).append(source)

    def bind_file(self, fi: int, fs: FileSymbols) -> None:
        ids = self.file_scopes[fi]
        src = fs.source
        for si, name in fs.globals:
            self.scopes[ids[si]].globals.add(name)
        # Definitions are bound in the enclosing scope.
        for si, rec in enumerate(fs.scopes):
            if si == 0 or rec.kind == "main":
                continue
            scope = self.scopes[ids[si]]
            parent = self.names_scope(fi, max(rec.parent, 0))
            if any(d.endswith((".setter", ".deleter")) for d in scope.decorators):
                continue
            if rec.kind == "class":
                self.def_names.add(rec.name)
                atom = (CLASS, scope.n)
            else:
                if parent.kind == "class":
                    self.method_names.add(rec.name)
                elif parent.kind == "module":
                    self.def_names.add(rec.name)
                atom = (FUNCTION, scope.n, 0, 0)
            self.bind(parent, rec.name, (FIXED, frozenset((atom,))))
        for si, _line, items in fs.imports:
            scope = self.names_scope(fi, si)
            for item in items:
                if item.kind == "star":
                    if scope.kind == "module":
                        scope.stars.append(item)
                    continue
                self.bind(scope, item.local, (IMPORT, fi, item))
        for si, name in fs.bound:
            self.bind(self.names_scope(fi, si), name, None)
        # What functions return: `return` values, and the return annotation.
        for si, start, end, value_type in fs.returns:
            sid = ids[si]
            if self.scopes[sid].kind == "function":
                self.sources.setdefault((RETURNS, sid), []).append((SPAN, fi, start, end, sid, value_type, ()))
        for si, rec in enumerate(fs.scopes):
            if rec.kind == "function" and rec.returns[0] >= 0:
                sid = ids[si]
                self.sources.setdefault((RETURNS, sid), []).append(
                    (ANNOTATION_SPAN, fi, rec.returns[0], rec.returns[1], sid)
                )
        for si, name, start, end, value_type in fs.walrus:
            scope = self.names_scope(fi, si)
            self.bind(scope, name, (SPAN, fi, start, end, scope.id, value_type, ()))
        for si, left_start, left_end, start, end, value_type in fs.loops:
            scope = self.names_scope(fi, si)
            value = (SPAN, fi, start, end, scope.id, value_type, ((ITER,),))
            self.bind_target(fi, scope, left_start, left_end, None, value)
        for si, alias_start, alias_end, start, end, value_type in fs.withs:
            scope = self.names_scope(fi, si)
            value = (SPAN, fi, start, end, scope.id, value_type, ((ENTER,),))
            self.bind_target(fi, scope, alias_start, alias_end, None, value)
        for rec in fs.assigns:
            self.bind_assignment(fi, src, rec)

    def bind_assignment(self, fi: int, src: bytes, rec: tuple) -> None:
        """`left = right`, `left: type = right`, `left += right` (other augmented
        operators give no type the resolver uses)."""
        si, _line, ls, le, ltype, rs, re_, ts, te, op, rtype = rec
        scope = self.names_scope(fi, si)
        if op != "=" and op not in ("+=", "|="):
            return
        value = (SPAN, fi, rs, re_, scope.id, rtype, ()) if rs >= 0 else None
        ann = (ANNOTATION_SPAN, fi, ts, te, scope.id) if ts >= 0 else None
        if ltype == "identifier":
            name = src[ls:le].decode("utf-8", "replace")
            if scope.kind == "class" and ann is not None:
                # A field declaration (`x: Model`): instances have it (dataclasses).
                self.sources.setdefault((INSTANCE_ATTR, scope.id, name), []).append(ann)
                if value is None:
                    return
                ann = None
            if name == "__all__" and scope.kind == "module" and value is not None:
                scope.all_nodes.append((fi, rs, re_))
            self.bind(scope, name, value)
            if ann is not None:
                self.bind(scope, name, ann)
        elif ltype == "attribute":
            self.write_spans.add((fi, ls))
            found = SELF_ATTR.match(src[ls:le].decode("utf-8", "replace"))
            if found is None:
                return
            owner = self.self_class(scope, found.group(1))
            if owner is None:
                cls = self.cls_class(scope, found.group(1))
                if cls is not None:  # `cls.x = ...` in a classmethod: a class attribute
                    if value is not None:
                        self.bind(self.scopes[cls], found.group(2), value)
                    if ann is not None:
                        self.bind(self.scopes[cls], found.group(2), ann)
                return
            lst = self.sources.setdefault((INSTANCE_ATTR, owner, found.group(2)), [])
            if value is not None:
                lst.append(value)
            if ann is not None:
                lst.append(ann)
        elif ltype == "subscript" and value is not None:
            self.bind_item(fi, scope, ls, le, value)
        elif value is not None:
            self.bind_target(fi, scope, ls, le, None, value)

    def bind_target(self, fi: int, scope: Scope, start: int, end: int, node: ast.expr | None,
                    source: tuple) -> None:
        """Bind the names of an assignment target (a name or a nested tuple pattern)."""
        if node is None:
            text = self.files[fi].source[start:end].decode("utf-8", "replace")
            if text.isidentifier():
                self.bind(scope, text, source)
                return
            node = parse_expr(text)
            if node is None:
                return
        if isinstance(node, ast.Name):
            self.bind(scope, node.id, source)
        elif isinstance(node, (ast.Tuple, ast.List)):
            n = len(node.elts)
            starred = any(isinstance(e, ast.Starred) for e in node.elts)
            for i, elt in enumerate(node.elts):
                if isinstance(elt, ast.Starred):
                    self.bind_target(fi, scope, 0, 0, elt.value, with_op(source, (NOTHING,)))
                    continue
                op = (ITER,) if starred else (INDEX, i, n)
                self.bind_target(fi, scope, 0, 0, elt, with_op(source, op))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner = self.self_class(scope, node.value.id)
            if owner is not None:
                self.sources.setdefault((INSTANCE_ATTR, owner, node.attr), []).append(source)

    def bind_item(self, fi: int, scope: Scope, start: int, end: int, value: tuple) -> None:
        """`x[k] = v`: v joins what x holds (a dict, or a list when k is an int)."""
        text = self.files[fi].source[start:end].decode("utf-8", "replace")
        found = SUBSCRIPT.match(text)
        if found is None:
            return
        base = quick_expr(found.group(1))
        key = self.container_key(scope, base) if base is not None else None
        if key is None:
            return
        kind = SEQ if found.group(2).strip().lstrip("-").isdigit() else DICT
        self.sources.setdefault(key, []).append(with_op(value, (WRAP, kind)))

    def container_key(self, scope: Scope, node: ast.expr) -> tuple | None:
        """The variable a mutated container lives in: a name or `self.attr`."""
        if isinstance(node, ast.Name):
            found = self.lookup(scope.id, node.id)
            return found if type(found) is tuple else None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner = self.self_class(scope, node.value.id)
            if owner is not None:
                return (INSTANCE_ATTR, owner, node.attr)
        return None

    def mutation(self, fi: int, names: str, site_index: int, base: str, method: str, args_start: int,
                 args_end: int) -> None:
        """`x.append(v)` and friends: v joins what x holds."""
        arg_index, ops = MUTATORS[method]
        node = quick_expr(base)
        key = self.container_key(self.scopes[names], node) if node is not None else None
        if key is not None:
            self.sources.setdefault(key, []).append((MUTATION, site_index, arg_index, ops))
        if method in ("extend", "append") and base == "__all__":
            self.scopes[self.scopes[names].module].all_nodes.append((fi, args_start, args_end))

    def add_sites(self, fi: int, fs: FileSymbols) -> None:
        """The file's calls and decorator applications as call sites."""
        ids = self.file_scopes[fi]
        names_ids = [self.names_scope(fi, si).id for si in range(len(ids))]
        src = fs.source
        contexts = context_texts(fs.contexts)
        sites, site_keys, key_sites, call_at = self.sites, self.site_keys, self.key_sites, self.call_at
        dotted = DOTTED.match
        new_site = tuple.__new__
        for si, line, func_start, func_end, func_type, args_start, args_end, ctx in fs.calls:
            text = src[func_start:func_end].decode("utf-8", "replace")
            names = names_ids[si]
            site_index = len(sites)
            call_at[(fi, func_start, args_end)] = site_index
            sites.append(new_site(Site, (fi, names, ids[si], line, func_start, text, func_type,
                                         (func_start, func_end), (args_start, args_end), EMPTY,
                                         contexts[ctx] if ctx >= 0 else "", False)))
            # Equal dotted callees in one scope have equal types: one key for all.
            if (func_type == "identifier" or func_type == "attribute") and dotted(text):
                key: tuple = (CALLEE, names, text)
                same = key_sites.get(key)
                if same is None:
                    key_sites[key] = [site_index]
                else:
                    same.append(site_index)
                if func_type == "attribute":
                    base, _, method = text.rpartition(".")
                    if method in MUTATORS:
                        self.mutation(fi, names, site_index, base, method, args_start, args_end)
            else:
                key = (CALLEE, site_index)
                key_sites[key] = [site_index]
            site_keys.append(key)

        for si, line, start, end, decorated in fs.decorators:
            if decorated < 0:
                continue
            target = self.scopes[ids[decorated]]
            atom = (CLASS, target.n) if target.kind == "class" else (FUNCTION, target.n, 0, 0)
            names_scope = self.names_scope(fi, si)
            text = src[start:end].decode("utf-8", "replace")
            key = (CALLEE, len(self.sites))
            self.site_keys.append(key)
            self.key_sites[key] = [len(self.sites)]
            self.sites.append(new_site(Site, (fi, names_scope.id, ids[si], line, start, text, "decorator",
                                              (start, end), (-1, -1), frozenset((atom,)), "", True)))
