"""The fixed point: keys, their sources, and the worklist that solves them.

A key is a tuple whose first item is its `Key` tag; its value is a frozenset of atoms,
the union of what its sources give (`Source`). Values only grow. A key read while
another is computed records that reader, and is computed on demand (nested at most
`MAX_DEPTH` deep, then deferred to the worklist); when a value grows, its readers are
queued again, until nothing changes.
"""

from __future__ import annotations

import ast
from enum import StrEnum

from localread.repo.graph.atoms import (
    CALLABLE_KINDS,
    EMPTY,
    ENTER,
    INDEX,
    INSTANCE,
    ITER,
    SEQ,
    TUPLE,
    VALUES,
    WRAP,
    WRAPPED,
    elements,
    mapping_values,
    shallow,
)
from localread.repo.graph.parse import DOTTED_BYTES
from localread.repo.graph.state import BuildState

MAX_DEPTH = 50  # nested on-demand evaluations before deferring to the worklist


class Key(StrEnum):
    """The kinds of solver key; each comment gives the key tuple after the tag."""

    VAR = "var"  # (scope id, name): a name bound in a scope
    INSTANCE_ATTR = "instance_attr"  # (class id, name): an attribute set on instances (`self.x = ...`)
    RETURNS = "returns"  # (function id,): what calling the function returns
    BASE = "base"  # (class id, position): one base class in a class statement
    CALLEE = "callee"  # (names scope id, dotted text) shared by equal callees, or (site index,)
    FLOW = "flow"  # (site, bound, function id, param index, name, kind): an argument's types
    CONFIGURED = "configured"  # (site index,): the config mappings a builder call builds from


class Source(StrEnum):
    """The kinds of source of a key's value; each comment gives the tuple after the tag."""

    FIXED = "fixed"  # (atoms,): known when bound (a def, a class, the `self` of a method)
    SPAN = "span"  # (file, start, end, scope id, node type, ops): an expression in a file
    IMPORT = "import"  # (file, ImportItem): what an import binds
    FLOWS = "flows"  # (function id, param index, name, kind): arguments passed (phase 2)
    ANNOTATION_SPAN = "annotation_span"  # (file, start, end, scope id): an annotation in a file
    ANNOTATION = "annotation"  # (ast node, scope id): an annotation already parsed
    NODE = "node"  # (ast node, scope id, ops): an expression already parsed
    MUTATION = "mutation"  # (site index, argument index, ops): `x.append(v)` puts v in x
    SELF = "self"  # (method id,): the `self` of a method, the receivers it is called on
    CONFIG_ARG = "config_arg"  # (function id, name): what configs that build it give a parameter


# The tags by name as plain strs, for the hot paths (as in atoms: exact strs compare
# through the interpreter's fast paths). `Key(tag)` and `Source(tag)` name a tag.
VAR, INSTANCE_ATTR, RETURNS, BASE, CALLEE, FLOW, CONFIGURED = (tag.value for tag in Key)
FIXED, SPAN, IMPORT, FLOWS, ANNOTATION_SPAN, ANNOTATION, NODE, MUTATION, SELF, CONFIG_ARG = (
    tag.value for tag in Source)


def with_op(source: tuple, op: tuple) -> tuple:
    """A SPAN or NODE source with one more op applied to its value."""
    return source[:-1] + (source[-1] + (op,),)


class Solver(BuildState):
    """Reads, computes and re-queues keys until their values stop growing."""

    __slots__ = ()

    def read(self, key: tuple) -> frozenset:
        """The key's value so far (computed now if it never was); the key being
        computed is recorded as its reader."""
        reader = self.reader
        if reader is not None:
            readers = self.readers.get(key)
            if readers is None:
                self.readers[key] = {reader: None}
            else:
                readers[reader] = None
        value = self.values.get(key)
        if value is not None:
            return value
        if key in self.active:
            return EMPTY
        if self.depth >= MAX_DEPTH:
            self.enqueue(key)
            return EMPTY
        self.compute(key)
        return self.values.get(key, EMPTY)

    def enqueue(self, key: tuple) -> None:
        if key not in self.queued:
            self.queued.add(key)
            self.queue.append(key)

    def run(self) -> None:
        """Compute queued keys until the queue is empty."""
        queue, queued = self.queue, self.queued
        while queue:
            key = queue.popleft()
            queued.discard(key)
            self.compute(key)

    def compute(self, key: tuple) -> None:
        previous = self.reader
        self.reader = key
        self.active.add(key)
        self.depth += 1
        try:
            new = self.evaluate(key)
        except RecursionError:
            # An expression nested deeper than the interpreter's stack: left unresolved.
            new = EMPTY
        finally:
            self.depth -= 1
            self.active.discard(key)
            self.reader = previous
        old = self.values.get(key)
        if old is not None:
            if new <= old:
                return
            new = self.normalized(old | new)
            if new == old:
                return
        else:
            new = self.normalized(new)
        self.values[key] = new
        kind = key[0]
        if kind == CALLEE:
            grown = new - old if old is not None else new
            # Only callables can send arguments anywhere.
            callables = [a for a in grown if a[0] in CALLABLE_KINDS]
            if callables:
                for index in self.key_sites[key]:
                    self.site_changed(index, callables)
            if self.configs_on and any(self.is_builder(a) for a in grown):
                for index in self.key_sites[key]:
                    self.enqueue((CONFIGURED, index))
        elif kind == FLOW:
            self.flow_changed(key, new)
        elif kind == CONFIGURED:
            self.configured_changed(key[1], new - old if old is not None else new)
        if (old is not None or new) and key in self.readers:
            for r in self.readers[key]:
                self.enqueue(r)

    def evaluate(self, key: tuple) -> frozenset:
        kind = key[0]
        if kind == CALLEE:
            if len(key) == 3:
                _, scope, dotted = key
                return self.types_of_dotted(dotted, scope)
            return self.site_callee(self.sites[key[1]])
        if kind == FLOW:
            _, site_index, bound, _function, index, name, param_kind = key
            return self.flow_value(site_index, bound, index, name, param_kind)
        if kind == CONFIGURED:
            return self.built_from_config(key[1])
        if kind == VAR:
            scope = self.scopes.get(key[1])
            if scope is not None and scope.kind == "function" and scope.params is None:
                self.params(scope)
        out: frozenset = EMPTY
        for source in self.sources.get(key, ()):
            got = self.eval_source(source)
            if got:
                out = out | got
        return out

    def eval_source(self, src: tuple) -> frozenset:
        """The types one source gives (see `Source` for the layouts)."""
        kind = src[0]
        if kind == FIXED:
            return src[1]
        if kind == SPAN:
            _, fi, start, end, scope, node_type, ops = src
            atoms = self.types_of_span(fi, start, end, scope, node_type)
            return self.apply_ops(atoms, ops) if ops and atoms else atoms
        if kind == IMPORT:
            return self.import_types(src[1], src[2])
        if kind == FLOWS:
            _, function, index, name, param_kind = src
            return self.param_flows(function, index, name, param_kind)
        if kind == ANNOTATION_SPAN:
            _, fi, start, end, scope = src
            text = self.files[fi].source[start:end]
            if DOTTED_BYTES.match(text):
                return self.instances_named(self.types_of_dotted(text.decode(), scope))
            node = self.parsed_expr(fi, start, end)
            return self.annotation_types(node, scope) if node is not None else EMPTY
        if kind == ANNOTATION:
            return self.annotation_types(src[1], src[2])
        if kind == NODE:
            _, node, scope, ops = src
            atoms = self.types_of(node, scope)
            return self.apply_ops(atoms, ops) if ops and atoms else atoms
        if kind == SELF:
            return self.self_types(src[1])
        if kind == CONFIG_ARG:
            return self.config_arg(src[1], src[2])
        if kind == MUTATION:
            _, site_index, arg_index, ops = src
            site = self.sites[site_index]
            call = self.site_call(site)
            if call is None or arg_index >= len(call.args) or isinstance(call.args[arg_index], ast.Starred):
                return EMPTY
            return self.apply_ops(self.types_of(call.args[arg_index], site.scope), ops)
        return EMPTY

    def apply_ops(self, atoms: frozenset, ops: tuple) -> frozenset:
        """The value after each op in turn (see `atoms.Op`)."""
        for op in ops:
            name = op[0]
            if name == ITER:
                atoms = elements(atoms)
            elif name == INDEX:
                i, n = op[1], op[2]
                out: set = set()
                for a in atoms:
                    if a[0] == TUPLE:
                        if len(a[1]) == n:
                            out.update(a[1][i])
                    elif a[0] == SEQ:
                        out.update(a[2])
                atoms = frozenset(out)
            elif name == WRAP:
                atoms = frozenset(((op[1], 0, shallow(atoms)),))
            elif name == VALUES:
                atoms = mapping_values(atoms)
            elif name == ENTER:
                out = set()
                for a in atoms:
                    if a[0] == INSTANCE or a[0] == WRAPPED:
                        cid = self.by_n[a[1]].id
                        for f in self.member_functions(cid, "__enter__"):
                            out.update(self.returns(f, a[1]))
                atoms = frozenset(out)
            else:  # NOTHING
                atoms = EMPTY
            if not atoms:
                return EMPTY
        return atoms
