"""Expressions: the types of an expression, evaluated lazily in a scope.

Names, dotted names and calls are read straight from the source spans (a call's value
comes from its call site); anything else goes through Python's `ast` on the span's
text, parsed once and only when a type is asked for. Annotations declare instances
(`model: Model` means an instance of Model).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from localread.repo.graph.atoms import (
    CALLABLE_KINDS,
    CLASS,
    DICT,
    EMPTY,
    EXTERNAL,
    EXTERNAL_RESULT,
    INSTANCE,
    MISSING,
    SEQ,
    TUPLE,
    elements,
    shallow,
)
from localread.repo.graph.library import ANN_DICT, ANN_SAME, ANN_SEQ, TYPING_MODULES
from localread.repo.graph.parse import DOTTED_BYTES, parse_expr
from localread.repo.graph.solver import Solver
from localread.repo.graph.state import UNSET

# Node types whose value has no type the resolver uses (numbers, arithmetic, tests).
NO_VALUE_TYPES = frozenset({
    "integer", "float", "true", "false", "none", "binary_operator", "comparison_operator",
    "not_operator", "unary_operator", "ellipsis",
})


class Expressions(Solver):
    """Types of expressions and annotations."""

    __slots__ = ()

    def parsed_expr(self, fi: int, start: int, end: int) -> ast.expr | None:
        """The expression at files[fi].source[start:end], parsed once."""
        key = (fi, start, end)
        node = self.exprs.get(key, UNSET)
        if node is UNSET:
            node = parse_expr(self.files[fi].source[start:end].decode("utf-8", "replace"))
            self.exprs[key] = node
        return node  # type: ignore[return-value]

    def types_of_span(self, fi: int, start: int, end: int, scope: str, node_type: str) -> frozenset:
        """The types of the expression at source[start:end], whose tree-sitter node type
        is known: names, dotted names and calls are read without parsing (a call's
        value comes from its call site), the rest through `ast`."""
        if node_type in NO_VALUE_TYPES:
            return EMPTY
        if node_type == "string" or node_type == "concatenated_string":
            return self.str_atom
        text = self.files[fi].source[start:end]
        if node_type == "identifier":
            return self.name_types(scope, text.decode("utf-8", "replace"))
        if node_type == "attribute" and DOTTED_BYTES.match(text):
            return self.types_of_dotted(text.decode(), scope)
        if node_type == "call":
            site = self.call_at.get((fi, start, end))
            if site is not None:
                return self.site_result(site)
        node = self.parsed_expr(fi, start, end)
        return self.types_of(node, scope) if node is not None else EMPTY

    def types_of(self, node: ast.expr, scope: str) -> frozenset:
        """The types of an expression evaluated in scope."""
        t = type(node)
        if t is ast.Name:
            return self.name_types(scope, node.id)
        if t is ast.Attribute:
            base = self.types_of(node.value, scope)
            return self.attribute_types(base, node.attr) if base else EMPTY
        if t is ast.Call:
            func = self.types_of(node.func, scope)
            out: frozenset = EMPTY
            for a in func:
                got = self.call_result(a, node, scope)
                if got:
                    out = out | got
            return out
        if t is ast.Subscript:
            base = self.types_of(node.value, scope)
            out = EMPTY
            for a in base:
                got = self.item_types(a, node.slice)
                if got:
                    out = out | got
            return out
        if t is ast.List or t is ast.Set:
            origin = "builtins.list" if t is ast.List else "builtins.set"
            return frozenset(((SEQ, self.intern(origin), shallow(self.union_of(node.elts, scope))),))
        if t is ast.Tuple:
            if any(isinstance(e, ast.Starred) for e in node.elts):
                elems = shallow(self.union_of(node.elts, scope))
                return frozenset(((SEQ, self.intern("builtins.tuple"), elems),))
            return frozenset(((TUPLE, tuple(shallow(self.types_of(e, scope)) for e in node.elts)),))
        if t is ast.Dict:
            values = self.union_of([v for v in node.values if v is not None], scope)
            keys = [k.value if isinstance(k, ast.Constant) and isinstance(k.value, str) else None
                    for k in node.keys]
            if keys and None not in keys:
                keyed = self.keyed_entries(zip(keys, node.values), scope)  # type: ignore[arg-type]
                return frozenset(((DICT, self.intern("builtins.dict"), shallow(values), keyed),))
            return frozenset(((DICT, self.intern("builtins.dict"), shallow(values)),))
        if t is ast.ListComp or t is ast.SetComp or t is ast.GeneratorExp:
            return frozenset(((SEQ, self.intern("builtins.list"), shallow(self.types_of(node.elt, scope))),))
        if t is ast.DictComp:
            return frozenset(((DICT, self.intern("builtins.dict"), shallow(self.types_of(node.value, scope))),))
        if t is ast.IfExp:
            return self.types_of(node.body, scope) | self.types_of(node.orelse, scope)
        if t is ast.BoolOp:
            return self.union_of(node.values, scope)
        if t is ast.Await or t is ast.NamedExpr:
            return self.types_of(node.value, scope)
        if t is ast.Starred:
            return elements(self.types_of(node.value, scope))
        if t is ast.Constant:
            return self.str_atom if isinstance(node.value, str) else EMPTY
        if t is ast.JoinedStr:
            return self.str_atom
        if t is ast.Lambda:
            # `lambda x: normalize(x)` runs what its body calls: calling the lambda is
            # calling that (its own parameters are bound in the enclosing scope).
            if isinstance(node.body, ast.Call):
                return frozenset(a for a in self.types_of(node.body.func, scope) if a[0] in CALLABLE_KINDS)
            return EMPTY
        return EMPTY

    def keyed_entries(self, pairs: Iterable[tuple[str, ast.expr]], scope: str, base: tuple = ()) -> tuple:
        """The entries of a dict with literal string keys, (key str n, atoms) in key
        order; pairs: (key, value node), later keys replacing earlier ones and base."""
        entries = dict(base)
        for key, value in pairs:
            entries[self.intern(key)] = shallow(self.types_of(value, scope))
        return tuple(sorted(entries.items(), key=lambda kv: self.strs[kv[0]]))

    def union_of(self, nodes: list, scope: str) -> frozenset:
        """The union of the types of several expressions (a starred one: its elements)."""
        out: frozenset = EMPTY
        for n in nodes:
            if isinstance(n, ast.Starred):
                got = elements(self.types_of(n.value, scope))
            else:
                got = self.types_of(n, scope)
            if got:
                out = out | got
        return out

    def types_of_dotted(self, text: str, scope: str) -> frozenset:
        """The types of `a.b.c`, attribute by attribute."""
        parts = text.split(".")
        atoms = self.name_types(scope, parts[0])
        for part in parts[1:]:
            if not atoms:
                return EMPTY
            atoms = self.attribute_types(atoms, part)
        return atoms

    def annotation_types(self, node: ast.expr, scope: str, depth: int = 0) -> frozenset:
        """The instance types an annotation declares (`Model`, `"Model"`,
        `Optional[Model]`, `list[Block]`, `dict[str, Head]`, `tuple[A, B]`, `type[M]`)."""
        if depth > 4:
            return EMPTY
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                inner = parse_expr(node.value)
                return self.annotation_types(inner, scope, depth + 1) if inner is not None else EMPTY
            return EMPTY
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return (self.annotation_types(node.left, scope, depth + 1)
                    | self.annotation_types(node.right, scope, depth + 1))
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.instances_named(self.types_of(node, scope))
        if not isinstance(node, ast.Subscript):
            return EMPTY
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        out: frozenset = EMPTY
        for base in self.types_of(node.value, scope):
            if base[0] == CLASS:  # a generic repo class, `Registry[Model]`
                out = out | {(INSTANCE, base[1])}
                continue
            if base[0] != EXTERNAL:
                continue
            dotted = self.strs[base[1]]
            if not dotted.startswith(TYPING_MODULES):
                continue
            last = dotted.rsplit(".", 1)[-1]
            if last in ("Optional", "Union"):
                for arg in args:
                    out = out | self.annotation_types(arg, scope, depth + 1)
            elif last in ANN_SAME:
                out = out | self.annotation_types(args[0], scope, depth + 1)
            elif last in ("Tuple", "tuple"):
                if any(isinstance(a, ast.Constant) and a.value is Ellipsis for a in args):
                    elems = self.annotation_types(args[0], scope, depth + 1)
                    out = out | {(SEQ, self.intern("builtins.tuple"), elems)}
                else:
                    out = out | {(TUPLE, tuple(self.annotation_types(a, scope, depth + 1) for a in args))}
            elif last in ANN_SEQ:
                out = out | {(SEQ, self.intern("builtins.list"), self.annotation_types(args[0], scope, depth + 1))}
            elif last in ANN_DICT:
                out = out | {(DICT, self.intern("builtins.dict"), self.annotation_types(args[-1], scope, depth + 1))}
            elif last in ("Type", "type"):
                out = out | frozenset((CLASS, a[1]) for a in self.annotation_types(args[0], scope, depth + 1)
                                      if a[0] == INSTANCE)
        return out

    def instances_named(self, atoms: frozenset) -> frozenset:
        """What an annotation naming these types declares: a class stands for its
        instances, an external class for its results (typing names for nothing)."""
        out = set()
        for a in atoms:
            if a[0] == CLASS:
                out.add((INSTANCE, a[1]))
            elif a[0] == EXTERNAL and a != self.unknown_external:
                if not self.strs[a[1]].startswith(("typing.", "typing_extensions.")):
                    out.add((EXTERNAL_RESULT, a[1]))
            elif a[0] == MISSING:
                out.add(a)
        return frozenset(out)
