"""Flows: the types of arguments passed at repo call sites, into the parameters.

Phase 1 only counts, per repo function, the call sites that reach it. Phase 2
(`enable_flows`) lets arguments flow into the functions that at most `MAX_CALLERS`
sites reach (decorator applications not counted): a utility called from everywhere
keeps its declared types only. `**kwargs` receives a dict of the keywords passed and
of the dicts passed with `**`.
"""

from __future__ import annotations

import ast

from localread.repo.graph.atoms import CLASS, DICT, EMPTY, FUNCTION, SEQ, UNKNOWN_CALLABLE, shallow
from localread.repo.graph.solver import FLOW, VAR, Solver

# A function called from more call sites than this is a library-style utility: its
# parameters keep their declared types only (the union of every caller's arguments
# would resolve its calls to everything, and cost the most to compute).
MAX_CALLERS = 6
# A parameter that receives more functions than this is a generic callback slot.
MAX_FLOW_FUNCS = 64


class Flows(Solver):
    """Argument flows into parameters."""

    __slots__ = ()

    def param_flows(self, fid: str, index: int, name: str, kind: str) -> frozenset:
        """Types of the arguments that repo call sites pass to this parameter.

        Each (site, parameter) pair is its own FLOW key; their values are accumulated
        into `flow_acc` as they change, so a parameter that many sites reach costs one
        union per change. The first read activates the parameter: flows are computed
        only for parameters whose types are asked for.
        """
        key = (VAR, fid, name)
        if not self.flows_on:
            self.param_reads[key] = None
            return EMPTY
        if fid not in self.flow_enabled:
            return EMPTY
        active = self.active_params.setdefault(fid, {})
        if key not in active:
            active[key] = (index, name, kind)
            for site_index, bound in self.incoming.get(fid, ()):
                self.enqueue((FLOW, site_index, bound, fid, index, name, kind))
        return self.flow_acc.get(key, EMPTY)

    def flow_value(self, site_index: int, bound: int, index: int, name: str, kind: str) -> frozenset:
        """The type of the argument one call site passes to one parameter."""
        site = self.sites[site_index]
        if site.decorator:
            return site.const_args if kind != "keyword_only" and index - bound == 0 else EMPTY
        call = self.site_call(site)
        if call is None:
            return EMPTY
        if kind == "var_keyword":
            return self.kwargs_value(call, site.scope)
        node = None
        if kind != "keyword_only":
            pos = index - bound
            if 0 <= pos:
                for i, arg in enumerate(call.args):
                    if isinstance(arg, ast.Starred):
                        break
                    if i == pos:
                        node = arg
                        break
        if node is None:
            for kw in call.keywords:
                if kw.arg == name:
                    node = kw.value
                    break
        return self.types_of(node, site.scope) if node is not None else EMPTY

    def kwargs_value(self, call: ast.Call, scope: str) -> frozenset:
        """What `**kwargs` receives: a dict of the keywords passed (those that name
        another parameter too) and of the dicts passed with `**`."""
        out: set = set()
        named = [kw for kw in call.keywords if kw.arg is not None]
        if named:
            values = self.union_of([kw.value for kw in named], scope)
            keyed = self.keyed_entries(((kw.arg, kw.value) for kw in named), scope)  # type: ignore[misc]
            out.add((DICT, self.intern("builtins.dict"), shallow(values), keyed))
        for kw in call.keywords:
            if kw.arg is None:
                out.update(a for a in self.types_of(kw.value, scope) if a[0] == DICT)
        return frozenset(out)

    def flow_changed(self, key: tuple, atoms: frozenset) -> None:
        """A flow's value grew: add it to its parameter's accumulated types."""
        _, _site, _bound, fid, _index, name, _kind = key
        param = (VAR, fid, name)
        acc = self.flow_acc.get(param, EMPTY)
        grown = acc | atoms
        if grown == acc:
            return
        funcs = [a for a in grown if a[0] == FUNCTION]
        # A parameter that receives many different functions is a generic callback
        # slot (a dispatcher's): calls through it are not resolved.
        if len(funcs) > MAX_FLOW_FUNCS or (funcs and UNKNOWN_CALLABLE in grown):
            grown = frozenset(a for a in grown if a[0] != FUNCTION) | {UNKNOWN_CALLABLE}
            if grown == acc:
                return
        self.flow_acc[param] = self.normalized(grown)
        self.enqueue(param)

    def enable_flows(self) -> None:
        """Phase 2: flows into the parameters of functions with few callers."""
        self.flows_on = True
        for fid, incoming in self.incoming.items():
            callers = sum(1 for site_index, _ in incoming if not self.sites[site_index].decorator)
            if callers <= MAX_CALLERS:
                self.flow_enabled.add(fid)
        for key in self.param_reads:
            if key[1] in self.flow_enabled:
                self.enqueue(key)

    def site_changed(self, index: int, atoms: list[tuple]) -> None:
        """New callee types at a site: its arguments flow into the parameters of the
        repo functions it reaches (counted in phase 1, flowing in phase 2)."""
        flowed = self.flowed.setdefault(index, set())
        for atom in atoms:
            if atom[0] == CLASS:
                self.built.add(atom[1])
            for fid, bound, recv in self.flow_targets(atom):
                if bound and recv:
                    self.add_receiver(fid, recv)
                if (fid, bound) in flowed:
                    continue
                flowed.add((fid, bound))
                self.incoming.setdefault(fid, {})[(index, bound)] = None
                if self.flows_on and fid in self.flow_enabled:
                    for param_index, name, kind in self.active_params.get(fid, {}).values():
                        self.enqueue((FLOW, index, bound, fid, param_index, name, kind))

    def flow_targets(self, atom: tuple) -> list[tuple[str, int, int]]:
        """The functions a call of atom passes its arguments to: (id, bound, receiver)."""
        if atom[0] == CLASS:
            return [(f, 1, atom[1]) for f in self.member_functions(self.by_n[atom[1]].id, "__init__")]
        funcs = self.called_functions(atom)
        if atom[0] == SEQ:
            return funcs[:1]  # nn.Sequential: the input goes to the first module only
        return funcs
