"""Members: classes, their MROs, and what `value.name` and `value[key]` are.

Phase 0 (`solve_bases`) types every base class and fixes the MROs (C3, external bases
as leaves). After it, an attribute of an instance is found in the first repo class of
the MRO whose body binds it (methods bound to the receiver, properties read as their
getter's return), else among what `self.name = ...` assigned, else on the external
base class. An nn.ModuleDict's attributes are its entries (by key when its keys are
literal strings), and `d["key"]` is the entry of that key; so are a YAML config's
(`configured`).
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
    MISSING,
    MODULE,
    NAMESPACE,
    SEQ,
    SUPER,
    TUPLE,
    WRAPPED,
    elements,
    keyed_value,
)
from localread.repo.graph.library import CONTAINER_METHODS, MODULE_DICT, is_module_base
from localread.repo.graph.parse import parse_expr, quick_call
from localread.repo.graph.solver import BASE, INSTANCE_ATTR, NODE, SPAN, VAR, Solver
from localread.repo.graph.state import UNSET

MAX_DOTS = 8  # longer external dotted names widen to "unknown"


class Members(Solver):
    """Classes and attribute lookup."""

    __slots__ = ()

    def solve_bases(self) -> None:
        """Phase 0: the base classes of every class, then MROs (fixed from here on)."""
        class_ids = sorted(sid for sid, s in self.scopes.items() if s.kind == "class")
        for cid in class_ids:
            scope = self.scopes[cid]
            span = scope.rec.bases
            count = 0
            if span[0] >= 0:
                text = self.files[scope.file].source[span[0]:span[1]].decode("utf-8", "replace")
                call = quick_call(text) or parse_expr(f"_{text}")
                if isinstance(call, ast.Call):
                    parent = self.scopes[scope.parent] if scope.parent else self.scopes[scope.module]
                    names = self.scopes[parent.module] if parent.kind == "main" else parent
                    for arg in call.args:
                        if isinstance(arg, ast.Starred):
                            continue
                        self.sources[(BASE, cid, count)] = [(NODE, arg, names.id, ())]
                        count += 1
            self.bases[cid] = [EMPTY] * count
        for cid in class_ids:
            for i in range(len(self.bases[cid])):
                self.read((BASE, cid, i))
        self.run()
        for cid in class_ids:
            self.bases[cid] = [self.values.get((BASE, cid, i), EMPTY) for i in range(len(self.bases[cid]))]
        for cid in class_ids:
            self.linearize(cid, ())

    def base_entries(self, cid: str) -> list[str]:
        """Direct bases in order: repo class ids, or "x:dotted" for external classes."""
        out: list[str] = []
        for atoms in self.bases.get(cid, []):
            for a in sorted(atoms):
                if a[0] == CLASS and self.by_n[a[1]].id != cid:
                    out.append(self.by_n[a[1]].id)
                elif a[0] == EXTERNAL and a != self.unknown_external:
                    out.append(f"x:{self.strs[a[1]]}")
        return list(dict.fromkeys(out))

    def linearize(self, cid: str, stack: tuple[str, ...]) -> tuple[str, ...]:
        """C3 linearization over repo classes, with external bases as leaves; a cycle or
        an inconsistent order falls back to depth-first, left to right."""
        done = self.mro.get(cid)
        if done is not None:
            return done
        if cid in stack:
            return (cid,)
        bases = self.base_entries(cid)
        seqs = [list(self.linearize(b, (*stack, cid))) if not b.startswith("x:") else [b] for b in bases]
        seqs.append(list(bases))
        result = [cid]
        work = [s for s in seqs if s]
        consistent = True
        while work:
            for seq in work:
                head = seq[0]
                if not any(head in s[1:] for s in work):
                    break
            else:
                consistent = False
                break
            result.append(head)
            work = [[x for x in s if x != head] for s in work]
            work = [s for s in work if s]
        if not consistent:
            result = [cid]
            for seq in seqs:
                for x in seq:
                    if x not in result:
                        result.append(x)
        mro = tuple(result)
        self.mro[cid] = mro
        self.repo_mro[cid] = tuple(x for x in mro if not x.startswith("x:"))
        self.module_like[cid] = any(x.startswith("x:") and is_module_base(x[2:]) for x in mro)
        return mro

    def mro_in_repo(self, cid: str) -> tuple[str, ...]:
        """The repo classes of cid's MRO (cid alone before phase 0 has fixed it)."""
        return self.repo_mro.get(cid) or (cid,)

    def external_base(self, cid: str) -> str | None:
        """The first external class in cid's MRO, or None."""
        for x in self.mro.get(cid, ()):
            if x.startswith("x:"):
                return x[2:]
        return None

    def owner(self, cid: str, name: str, skip_first: bool = False) -> str | None:
        """The first repo class in cid's MRO whose body binds name (MROs are fixed
        after phase 0, class bodies are static: memoized)."""
        key = (cid, name, skip_first)
        found = self.owners.get(key, UNSET)
        if found is not UNSET:
            return found  # type: ignore[return-value]
        found = None
        mro = self.mro_in_repo(cid)
        for c in mro[1:] if skip_first else mro:
            scope = self.scopes.get(c)
            if scope is not None and name in scope.names:
                found = c
                break
        if self.mro:
            self.owners[key] = found
        return found

    def member_functions(self, cid: str, name: str) -> list[str]:
        """The repo functions that `name` of class cid is, sorted."""
        owner = self.owner(cid, name)
        if owner is None:
            return []
        return sorted(self.by_n[a[1]].id for a in self.read((VAR, owner, name)) if a[0] == FUNCTION)

    def bind_members(self, atoms: frozenset, recv: int, via_instance: bool) -> frozenset:
        """Class members as read through a receiver: methods get how many leading
        parameters are bound (self through an instance, cls for a classmethod)."""
        out = set()
        for a in atoms:
            if a[0] == FUNCTION:
                scope = self.by_n.get(a[1])
                if scope is not None and scope.static:
                    out.add((FUNCTION, a[1], 0, recv))
                elif scope is not None and scope.classmethod:
                    out.add((FUNCTION, a[1], 1, recv))
                else:
                    out.add((FUNCTION, a[1], 1 if via_instance else 0, recv))
            else:
                out.add(a)
        return frozenset(out)

    def instance_attribute(self, atom: tuple, name: str) -> frozenset:
        """`instance.name` for an INSTANCE or WRAPPED atom."""
        cls = self.by_n[atom[1]]
        cid = cls.id
        owner = self.owner(cid, name)
        members = self.read((VAR, owner, name)) if owner is not None else EMPTY
        if members:
            props = [a for a in members if a[0] == FUNCTION and self.by_n[a[1]].property]
            if props:
                out: frozenset = EMPTY
                for p in props:
                    self.add_receiver(self.by_n[p[1]].id, atom[1])
                    out = out | self.returns(self.by_n[p[1]].id, atom[1])
                return out
            # A method read through an instance runs on it when called; so does a
            # module function the class body names (`decode = decode_function`).
            alias = all(src[0] == SPAN and src[5] in ("identifier", "attribute")
                        for src in self.sources.get((VAR, owner, name), ()))
            for a in members:
                if a[0] == FUNCTION:
                    self.add_receiver(self.by_n[a[1]].id, atom[1], alias)
        found = False
        out = EMPTY
        for c in self.mro_in_repo(cid):
            key = (INSTANCE_ATTR, c, name)
            if key in self.sources:
                found = True
                out = out | self.read(key)
        if owner is not None:
            return out | self.bind_members(members, atom[1], True)
        if found:
            return out
        ext = self.external_base(cid)
        if ext is not None:
            return frozenset(((EXTERNAL_METHOD, self.intern(f"{ext}.{name}"), atom),))
        return EMPTY

    def class_attribute(self, n: int, name: str) -> frozenset:
        """`Class.name` for the repo class n."""
        cid = self.by_n[n].id
        owner = self.owner(cid, name)
        if owner is not None:
            return self.bind_members(self.read((VAR, owner, name)), n, False)
        ext = self.external_base(cid)
        if ext is not None:
            # Bound to the repo class: an inherited `from_*` constructor returns it.
            return frozenset(((EXTERNAL_METHOD, self.intern(f"{ext}.{name}"), (CLASS, n)),))
        return EMPTY

    def super_attribute(self, atom: tuple, name: str) -> frozenset:
        """`super().name`: the next class in the MRO that has it."""
        n, recv = atom[1], atom[2]
        cid = self.by_n[n].id
        owner = self.owner(cid, name, skip_first=True)
        if owner is not None:
            return self.bind_members(self.read((VAR, owner, name)), n, recv == INSTANCE)
        for x in self.mro.get(cid, ())[1:]:
            if x.startswith("x:"):
                dotted = self.intern(f"{x[2:]}.{name}")
                if recv == INSTANCE:
                    return frozenset(((EXTERNAL_METHOD, dotted, (INSTANCE, n)),))
                return frozenset(((EXTERNAL, dotted),))
        return EMPTY

    def attribute_types(self, atoms: frozenset, name: str) -> frozenset:
        """`value.name` for every type of the value."""
        out: frozenset = EMPTY
        for a in atoms:
            got = self.attribute(a, name)
            if got:
                out = out | got
        return out

    def attribute(self, atom: tuple, name: str) -> frozenset:
        """`value.name` for one type of the value."""
        kind = atom[0]
        if kind == EXTERNAL:
            if atom == self.unknown_external:
                return frozenset((atom,))
            key = (atom[1], name)
            n = self.xattrs.get(key)
            if n is None:
                dotted = self.strs[atom[1]]
                n = self.unknown_external[1] if dotted.count(".") >= MAX_DOTS else self.intern(
                    f"{dotted}.{name}")
                self.xattrs[key] = n
            return frozenset(((EXTERNAL, n),))
        if kind == INSTANCE:
            if name == "__class__":
                return frozenset(((CLASS, atom[1]),))
            return self.instance_attribute(atom, name)
        if kind == MODULE:
            return self.module_attr(self.strs[atom[1]], name)
        if kind == WRAPPED:
            if name == "module":
                return frozenset(((INSTANCE, atom[1]),))
            return self.instance_attribute(atom, name)
        if kind == CLASS:
            return self.class_attribute(atom[1], name)
        if kind == EXTERNAL_RESULT:
            dotted = self.strs[atom[1]]
            # An instance of an external class (capitalised, by convention): its method.
            if dotted.rsplit(".", 1)[-1][:1].isupper():
                return self.attribute((EXTERNAL, atom[1]), name)
            return EMPTY
        if kind == SEQ or kind == DICT or kind == TUPLE:
            if name in CONTAINER_METHODS:
                return frozenset(((CONTAINER_METHOD, atom, self.intern(name)),))
            if kind == DICT and self.strs[atom[1]] in MODULE_DICT:
                # `self.transformer.h`: a ModuleDict's modules are its attributes.
                found = keyed_value(atom, self.intern(name))
                return atom[2] if found is None else found
            return EMPTY
        if kind == SUPER:
            return self.super_attribute(atom, name)
        if kind == CONFIG:
            return self.config_attribute(atom, name)
        if kind == MISSING:
            if atom == self.unknown_missing or self.strs[atom[1]].count(".") >= MAX_DOTS:
                return frozenset((self.unknown_missing,))
            return frozenset(((MISSING, self.intern(f"{self.strs[atom[1]]}.{name}")),))
        return EMPTY

    def item_types(self, atom: tuple, index: ast.expr) -> frozenset:
        """`value[index]` for one type of the value."""
        kind = atom[0]
        if kind == SEQ:
            return frozenset((atom,)) if isinstance(index, ast.Slice) else atom[2]
        if kind == DICT:
            if isinstance(index, ast.Constant) and isinstance(index.value, str):
                found = keyed_value(atom, self.intern(index.value))
                if found is not None:
                    return found
            return atom[2]
        if kind == TUPLE:
            if isinstance(index, ast.Constant) and isinstance(index.value, int):
                i = index.value
                return atom[1][i] if -len(atom[1]) <= i < len(atom[1]) else EMPTY
            if isinstance(index, ast.Slice):
                return EMPTY
            return elements(frozenset((atom,)))
        if kind == NAMESPACE:
            return self.public_callables(self.by_n[atom[1]].id)
        if kind == CONFIG:
            return self.config_item(atom, index)
        if kind == INSTANCE or kind == WRAPPED:
            out: frozenset = EMPTY
            for f in self.member_functions(self.by_n[atom[1]].id, "__getitem__"):
                out = out | self.returns(f, atom[1])
            return out
        return EMPTY
