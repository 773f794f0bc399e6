"""Facts: what each chunk's own code says of it (`ChunkFacts`), for the facts card.

The build keeps only plain data (`FactData`: spans into the sources, names); `Facts`
computes each chunk's `ChunkFacts` on first access, since a command reads few of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from localread.repo.graph.model import ChunkFacts, Param
from localread.repo.graph.parse import SELF_ATTR, SELF_TARGET, parse_def_params, span_text
from localread.repo.graph.solver import Solver

_UNPACKED = ("pattern_list", "tuple_pattern", "list_pattern")


@dataclass
class FactData:
    """Plain data the facts are computed from, grouped by chunk id."""

    sources: list[bytes]
    scopes: dict[str, tuple[int, tuple[int, int], tuple[int, int]]] = field(default_factory=dict)
    returned: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    raises: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    reads: dict[str, dict[str, None]] = field(default_factory=dict)  # ordered sets, source order
    writes: dict[str, dict[str, None]] = field(default_factory=dict)
    fields: dict[str, list[Param]] = field(default_factory=dict)
    constructed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    mro: dict[str, tuple[str, ...]] = field(default_factory=dict)
    decorators: dict[str, tuple[str, ...]] = field(default_factory=dict)


class FactGathering(Solver):
    """The build's part that keeps the facts' plain data."""

    __slots__ = ()

    def chunk_facts(self, constructed: dict[str, set[str]]) -> Facts:
        """The facts of every chunk; constructed: for each class, who instantiates it."""
        data = FactData(sources=[f.source for f in self.files])
        for fi, fs in enumerate(self.files):
            ids = self.file_scopes[fi]
            for si, sid in enumerate(ids):
                rec = fs.scopes[si]
                data.scopes[sid] = (fi, rec.params, rec.returns)
            src = fs.source
            for si, start, end, _ in fs.returns:
                data.returned.setdefault(ids[si], []).append((start, end))
            for si, start, end in fs.raises:
                data.raises.setdefault(ids[si], []).append((start, end))
            written_at: set[int] = set()
            writes: list[tuple[int, str, str]] = []  # (position, chunk, name)
            for si, _line, ls, le, ltype, rs, re_, ts, te, op, _ in fs.assigns:
                sid = ids[si]
                if ltype == "attribute":
                    found = SELF_ATTR.match(src[ls:le].decode("utf-8", "replace"))
                    if found is not None and found.group(1) == "self":
                        writes.append((ls, sid, found.group(2)))
                        if op == "=":
                            written_at.add(ls)
                elif ltype in _UNPACKED and op == "=":
                    # `self.a, self.b = ...`: each element that is exactly `self.name`.
                    for found in SELF_TARGET.finditer(src, ls, le):
                        writes.append((found.start(), sid, found.group(1).decode()))
                        written_at.add(found.start())
                elif ltype == "identifier" and ts >= 0 and fs.scopes[si].kind == "class":
                    data.fields.setdefault(sid, []).append(
                        Param(src[ls:le].decode("utf-8", "replace"), span_text(src, ts, te),
                              span_text(src, rs, re_) if rs >= 0 else None, "positional"))
            for _, sid, name in sorted(writes):
                data.writes.setdefault(sid, {})[name] = None
            for si, _ctx, name, pos, _line in sorted(fs.self_attrs, key=lambda rec: rec.start):
                if pos not in written_at:
                    data.reads.setdefault(ids[si], {})[name] = None
        data.constructed = {k: tuple(sorted(v)) for k, v in constructed.items()}
        data.mro = {cid: self.mro_in_repo(cid) for cid in self.mro}
        data.decorators = {sid: s.decorators for sid, s in self.scopes.items() if s.kind == "class"}
        return Facts(data)


class Facts(Mapping[str, ChunkFacts]):
    """ChunkFacts by chunk id, each computed on first access from plain data."""

    def __init__(self, data: FactData) -> None:
        self._data = data
        self._done: dict[str, ChunkFacts] = {}

    def __getitem__(self, chunk_id: str) -> ChunkFacts:
        done = self._done.get(chunk_id)
        if done is not None:
            return done
        if chunk_id not in self._data.scopes:
            raise KeyError(chunk_id)
        facts = self._compute(chunk_id)
        self._done[chunk_id] = facts
        return facts

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._data.scopes))

    def __len__(self) -> int:
        return len(self._data.scopes)

    def _params(self, chunk_id: str) -> tuple[Param, ...]:
        fi, params, _ = self._data.scopes[chunk_id]
        if params[0] < 0:
            return ()
        text = f"def _{self._data.sources[fi][params[0]:params[1]].decode('utf-8', 'replace')}: pass"
        args = parse_def_params(text)
        if args is None:
            return ()
        out: list[Param] = []
        positional = [*args.posonlyargs, *args.args]
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        for i, (arg, default) in enumerate(zip(positional, defaults)):
            kind = "positional_only" if i < len(args.posonlyargs) else "positional"
            out.append(_param(arg, default, kind, text))
        if args.vararg is not None:
            out.append(_param(args.vararg, None, "var_positional", text))
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            out.append(_param(arg, default, "keyword_only", text))
        if args.kwarg is not None:
            out.append(_param(args.kwarg, None, "var_keyword", text))
        return tuple(out)

    def _compute(self, chunk_id: str) -> ChunkFacts:
        data = self._data
        fi, _, ret = data.scopes[chunk_id]
        src = data.sources[fi]
        params = self._params(chunk_id)
        if chunk_id in data.mro:  # a class: its constructor's parameters
            params = ()
            for cid in data.mro[chunk_id]:
                init = f"{cid}.__init__"
                if init in data.scopes:
                    params = self._params(init)[1:]
                    break
            else:
                if any(d.split("(")[0].endswith("dataclass") for d in data.decorators.get(chunk_id, ())):
                    params = tuple(data.fields.get(chunk_id, ()))
        returned = tuple(dict.fromkeys(span_text(src, s, e) or "" for s, e in data.returned.get(chunk_id, ())))
        raises = []
        for s, e in data.raises.get(chunk_id, ()):
            text = span_text(src, s, e) or ""
            raises.append(text.split("(", 1)[0].strip())
        return ChunkFacts(
            id=chunk_id,
            params=params,
            returns=span_text(src, *ret) if ret[0] >= 0 else None,
            returned=returned,
            raises=tuple(dict.fromkeys(raises)),
            reads=tuple(data.reads.get(chunk_id, ())),
            writes=tuple(data.writes.get(chunk_id, ())),
            constructed_by=data.constructed.get(chunk_id, ()),
        )


def _param(arg: ast.arg, default: ast.expr | None, kind: str, text: str) -> Param:
    """A parameter with its annotation and default as written in `text` (the source
    the nodes were parsed from)."""

    def written(node: ast.expr | None) -> str | None:
        if node is None:
            return None
        segment = ast.get_source_segment(text, node)
        return " ".join(segment.split()) if segment is not None else ast.unparse(node)

    return Param(arg.arg, written(arg.annotation), written(default), kind)
