"""Results: the solved types turned into the Graph: call sites, edges, unresolved calls.

Edges: calls and instantiations at every resolved site, property reads (`self.prop`
runs its getter), imports, inheritance and overrides, and references (a repo function
or class named without being called). A site that resolves to nothing is listed as
unresolved only when it looks like a call into the repository; so is one that builds
from a config whose target names nothing in a repo package.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_left
from collections.abc import Iterator

from localread.data import ChunkKind, Edge, EdgeKind
from localread.repo.graph.atoms import CLASS, DICT, EMPTY, FUNCTION, REPO_KINDS
from localread.repo.graph.expressions import NO_VALUE_TYPES
from localread.repo.graph.model import CallSite, Graph, context_texts
from localread.repo.graph.parse import DOTTED, REF_CHAIN, STRINGS, quick_expr
from localread.repo.graph.solver import VAR, Solver
from localread.repo.graph.state import Site

# Values not scanned for references: no names in them, or a call, whose arguments are
# scanned as the call's.
_NOT_SCANNED = NO_VALUE_TYPES | {"call", "string", "concatenated_string", "lambda"}


class Results(Solver):
    """The Graph from the solved values."""

    __slots__ = ()

    def collect(self) -> Graph:
        chunks = self.chunks
        edges: set[Edge] = set()
        rows: dict[str, list[tuple[int, int, CallSite]]] = {}
        unresolved: list[tuple[str, int, int, CallSite]] = []
        per_key: dict[tuple, tuple[tuple[str, ...], str | None, EdgeKind, list[bool]]] = {}
        paths = [f.path for f in self.files]
        values = self.values
        calls_kind, inst_kind = EdgeKind.CALLS, EdgeKind.INSTANTIATES
        for i, site in enumerate(self.sites):
            key = self.site_keys[i]
            resolved = per_key.get(key)
            if resolved is None:
                targets, external = self.call_targets(values.get(key, EMPTY))
                kinds = [chunks[t].kind is ChunkKind.CLASS for t in targets]
                kind = inst_kind if targets and all(kinds) else calls_kind
                resolved = (tuple(targets), external, kind, kinds)
                per_key[key] = resolved
            targets, external, kind, kinds = resolved
            if site.decorator and not targets and (
                external is not None or not self.looks_repo(site, values.get(key, EMPTY))
            ):
                continue  # applying a library decorator is not a call worth listing
            text = site.text
            if "\n" in text or "  " in text:
                text = " ".join(text.split())
            keyed = self.registry_keys(site) if site.func_type == "subscript" and len(targets) > 1 else ()
            configured, missing = self.configured_targets(i) if self.configs_on else ((), False)
            if configured:
                targets = tuple(sorted({*targets, *(cid for cid, _ in configured)}))
                kinds = [chunks[t].kind is ChunkKind.CLASS for t in targets]
                kind = inst_kind if all(kinds) else calls_kind
            call = CallSite(site.caller, site.line, text, targets, kind, site.context, external, keyed,
                            tuple(configured))
            rows.setdefault(site.caller, []).append((site.line, site.pos, call))
            path = paths[site.file]
            if missing:
                unresolved.append((path, site.line, site.pos, call))  # a config's target names nothing
            if not targets:
                if external is None and self.looks_repo(site, values.get(key, EMPTY)):
                    unresolved.append((path, site.line, site.pos, call))
                continue
            for target, is_class in zip(targets, kinds):
                edges.add(Edge(site.caller, target, inst_kind if is_class else calls_kind, path, site.line))
        for call, path, pos in self.property_calls():
            rows.setdefault(call.caller, []).append((call.line, pos, call))
            for target in call.targets:
                edges.add(Edge(call.caller, target, EdgeKind.CALLS, path, call.line))
        imports, import_names = self.import_edges(edges)
        shadowed = self.shadowed_imports(import_names)
        self.class_edges(edges)
        self.reference_edges(edges)
        calls = {caller: [row[2] for row in sorted(lst, key=lambda row: (row[0], row[1]))]
                 for caller, lst in sorted(rows.items())}
        unresolved.sort(key=lambda row: (row[0], row[1], row[2]))
        ordered = sorted(edges, key=lambda e: (e.source, e.line, e.target, e.kind.value, e.path))
        constructed: dict[str, set[str]] = {}
        for edge in ordered:
            if edge.kind is EdgeKind.INSTANTIATES:
                constructed.setdefault(edge.target, set()).add(edge.source)
        facts = self.chunk_facts(constructed)
        return Graph(chunks=chunks, edges=ordered, calls=calls, unresolved=[row[3] for row in unresolved],
                     imports=imports, import_names=import_names, shadowed=shadowed, facts=facts)

    def registry_keys(self, site: Site) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """`REGISTRY[key](...)` with a computed key on a dict whose keys are literal
        strings: the targets of each key (see `CallSite.keyed`)."""
        node = self.parsed_expr(site.file, site.func_span[0], site.func_span[1])
        if not isinstance(node, ast.Subscript) or isinstance(node.slice, (ast.Constant, ast.Slice)):
            return ()
        entries: dict[str, set[str]] = {}
        for a in self.types_of(node.value, site.scope):
            if a[0] != DICT or len(a) != 4:
                continue
            for n, atoms in a[3]:
                entries.setdefault(self.strs[n], set()).update(self.call_targets(atoms)[0])
        keyed = tuple((key, tuple(sorted(targets))) for key, targets in sorted(entries.items()) if targets)
        return keyed if len(keyed) > 1 else ()

    def looks_repo(self, site: Site, atoms: frozenset) -> bool:
        """Whether an unresolved site looks like a call into the repository: its callee
        has repo types, or is rooted in `self`, in a name defined nowhere, or in a value
        with repo types (a repo module, class, instance)."""
        if any(a[0] in REPO_KINDS for a in atoms):
            return True
        if site.decorator:
            return False
        if (site.func_type == "identifier" or site.func_type == "attribute") and DOTTED.match(site.text):
            node: ast.expr | None = quick_expr(site.text)
        else:
            node = self.parsed_expr(site.file, site.func_span[0], site.func_span[1])
        if node is None:
            return False
        if isinstance(node, ast.Name):
            return self.lookup(site.scope, node.id) is None
        if isinstance(node, ast.Subscript):
            # `REGISTRY[key](...)`: a registry that is a repo global or on self.
            base = node.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                if any(a[0] in REPO_KINDS for a in self.types_of(base, site.scope)):
                    return True
                base = base.value
            if not isinstance(base, ast.Name):
                return False
            found = self.lookup(site.scope, base.id)
            if found is None:
                return True
            return type(found) is tuple and (
                self.scopes[found[1]].kind == "module" or self.is_self(site.scope, base.id)
            )
        if not isinstance(node, ast.Attribute):
            return False
        # `a.b.c(...)`: the attribute is missing on a repo value somewhere down the
        # chain of attributes, or the chain starts at self or at an undefined name. A
        # call or subscript result of unknown type ends the chain: not counted.
        receiver = node.value
        while True:
            if any(a[0] in REPO_KINDS for a in self.types_of(receiver, site.scope)):
                return True
            if isinstance(receiver, ast.Attribute):
                receiver = receiver.value
                continue
            if isinstance(receiver, ast.Name):
                return self.lookup(site.scope, receiver.id) is None or self.is_self(site.scope, receiver.id)
            return False

    def property_calls(self) -> Iterator[tuple[CallSite, str, int]]:
        """Reading `self.prop` runs the property's getter: a call."""
        for fi, fs in enumerate(self.files):
            ids = self.file_scopes[fi]
            contexts = None
            for si, ctx, name, pos, line in fs.self_attrs:
                if name not in self.method_names or (fi, pos) in self.write_spans:
                    continue
                scope = self.scopes[ids[si]]
                if scope.kind != "function":
                    continue
                cid = self.self_class(scope, "self")
                owner = self.owner(cid, name) if cid is not None else None
                if owner is None:
                    continue
                props = sorted(self.by_n[a[1]].id for a in self.read((VAR, owner, name))
                               if a[0] == FUNCTION and self.by_n[a[1]].property)
                if not props:
                    continue
                if contexts is None:
                    contexts = context_texts(fs.contexts)
                yield (CallSite(scope.id, line, f"self.{name}", tuple(props), EdgeKind.CALLS,
                                contexts[ctx] if ctx >= 0 else "", None), fs.path, pos)

    def import_edges(self, edges: set[Edge]) -> tuple[dict[str, list[str]], dict[str, dict[str, str]]]:
        """IMPORTS edges between repo modules; per module the dotted names it imports
        and its {local name: dotted name}."""
        imports: dict[str, list[str]] = {}
        names: dict[str, dict[str, str]] = {}
        for fi, fs in enumerate(self.files):
            module = self.file_scopes[fi][0]
            dotted_all: set[str] = set()
            local: dict[str, str] = {}
            for rec in sorted(fs.imports, key=lambda rec: rec.line):
                for item in rec.items:
                    targets: list[str] = []
                    if item.kind == "module":
                        ref = self.resolve_module(fi, 0, item.module)
                        dotted = item.module
                        if ref is not None:
                            targets.append(self.module_id(ref))
                        bound = item.name
                    else:
                        ref = self.resolve_module(fi, item.level, item.module)
                        if ref is not None:
                            base = self.module_dotted(ref)
                            targets.append(self.module_id(ref))
                            sub = self.index.submodule(ref, item.name) if item.kind == "from" else None
                            if sub is not None:
                                targets.append(self.module_id(sub))
                        else:
                            base = "." * item.level + item.module
                        dotted = f"{base}.{item.name}" if base else item.name
                        bound = dotted
                    dotted_all.add(dotted)
                    if item.kind != "star":
                        local[item.local] = bound
                    for target in targets:
                        if target != module and target in self.chunks:
                            edges.add(Edge(module, target, EdgeKind.IMPORTS, fs.path, rec.line))
            imports[module] = sorted(dotted_all)
            names[module] = dict(sorted(local.items()))
        return imports, names

    def shadowed_imports(self, import_names: dict[str, dict[str, str]]) -> dict[str, tuple[str, ...]]:
        """Per function chunk, the module's imported names that a local binding hides:
        there `name.attr` is an attribute of the local value, not of the import."""
        out: dict[str, tuple[str, ...]] = {}
        for sid, scope in self.scopes.items():
            if scope.kind != "function" or sid not in self.chunks:
                continue
            imported = import_names.get(scope.module)
            if not imported:
                continue
            hidden: set[str] = set()
            for link in scope.chain[:-1]:
                s = self.scopes[link]
                hidden.update(n for n in imported if n in s.names or n in self.param_names(s))
            hidden.difference_update(scope.globals)
            if hidden:
                out[sid] = tuple(sorted(hidden))
        return out

    def class_edges(self, edges: set[Edge]) -> None:
        """INHERITS edges to repo bases, OVERRIDES edges to the method overridden."""
        for cid in sorted(self.mro):
            chunk = self.chunks.get(cid)
            if chunk is None:
                continue
            for base in self.base_entries(cid):
                if not base.startswith("x:") and base in self.chunks:
                    edges.add(Edge(cid, base, EdgeKind.INHERITS, chunk.path, chunk.start))
        for sid, scope in self.scopes.items():
            if scope.cls is None or sid not in self.chunks:
                continue
            name = scope.rec.name
            owner = self.owner(scope.cls, name, skip_first=True)
            if owner is None:
                continue
            for a in sorted(self.read((VAR, owner, name))):
                if a[0] != FUNCTION:
                    continue
                base = self.by_n[a[1]]
                if base.id in self.chunks and base.cls == owner:
                    chunk = self.chunks[sid]
                    edges.add(Edge(sid, base.id, EdgeKind.OVERRIDES, chunk.path, chunk.start))

    def reference_edges(self, edges: set[Edge]) -> None:
        """Repo functions and classes named without being called: stored in a registry,
        aliased, passed as an argument (`partial(f)`, `register(f)`), returned.

        The values of assignments, returns and call arguments are scanned for names
        (string literals removed) that end in a repo function, method or class name;
        each is then resolved in its scope, exactly, like any other name.
        """
        functions = {n.encode() for n in self.def_names}
        methods = {n.encode() for n in self.method_names}
        if not functions and not methods:
            return
        memo: dict[tuple[str, str], list[str]] = {}
        for fi, fs in enumerate(self.files):
            ids = self.file_scopes[fi]
            src = fs.source
            # A call's arguments are scanned once, as the call's; a value that is a call
            # (`x = f(g)`) is covered by them.
            spans: list[tuple[int, int, int]] = []
            spans.extend((a.scope, a.right_start, a.right_end) for a in fs.assigns
                         if a.right_start >= 0 and a.right_type not in _NOT_SCANNED)
            spans.extend((r.scope, r.start, r.end) for r in fs.returns if r.value_type not in _NOT_SCANNED)
            spans.extend((c.scope, c.args_start, c.args_end) for c in fs.calls if c.args_end - c.args_start > 2)
            newlines: list[int] | None = None
            for si, start, end in spans:
                text = src[start:end]
                if b"'" in text or b'"' in text:
                    text = STRINGS.sub(b"''", text)
                for found in REF_CHAIN.finditer(text):
                    last = found.group(2)
                    # Module-level functions and classes by any name; methods as `self.m`.
                    if last not in functions and not (last in methods and found.group(1).startswith(b"self")):
                        continue
                    chain = found.group(1).decode("utf-8", "replace")
                    scope = self.names_scope(fi, si).id
                    caller = ids[si]
                    chain = "".join(chain.split())
                    targets = memo.get((scope, chain))
                    if targets is None:
                        targets = sorted(
                            self.by_n[a[1]].id for a in self.types_of_dotted(chain, scope)
                            if (a[0] == FUNCTION or a[0] == CLASS) and self.by_n[a[1]].id in self.chunks
                        )
                        memo[(scope, chain)] = targets
                    if not targets:
                        continue
                    if newlines is None:
                        newlines = [m.start() for m in re.finditer(b"\n", src)]
                    line = bisect_left(newlines, start + found.start()) + 1
                    for target in targets:
                        if target != caller:
                            edges.add(Edge(caller, target, EdgeKind.REFERENCES, fs.path, line))
