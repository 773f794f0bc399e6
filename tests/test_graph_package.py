"""The graph package's own contracts: per-file records (their fields, and how they
travel between processes), the tags as enums with plain-name aliases, the collector
pause, and degenerate repositories (empty files, syntax errors, no calls)."""

from __future__ import annotations

import gc
import pickle
import typing
from pathlib import Path

import pytest

from localread.data import EdgeKind
from localread.repo import analysis
from localread.repo.chunks import extract_chunks, parse
from localread.repo.gcpause import gc_paused
from localread.repo.graph import FileSymbols, ScopeRec, atoms, extract_file, model, solver
from localread.repo.scan import read_source, scan
from tests.helpers import FIXTURES, write_repo


def _symbols(root: Path) -> dict[str, FileSymbols]:
    result = scan(root)
    out = {}
    for source_file in result.files:
        source = read_source(result.root, source_file.path)
        tree = parse(source)
        chunks = extract_chunks(tree, source, source_file.path, source_file.module).chunks
        out[source_file.path] = extract_file(tree, source, source_file, chunks)
    return out


@pytest.mark.parametrize("enum, module", [
    (atoms.Atom, atoms), (atoms.Op, atoms), (solver.Key, solver), (solver.Source, solver),
])
def test_each_tag_has_its_plain_name(enum: type, module: object) -> None:
    # The hot loops use module-level plain values; one bound to the wrong member (the
    # unpacking is positional) would silently change every result.
    for member in enum:
        plain = getattr(module, member.name)
        assert enum(plain) is member and type(plain) in (int, str)


def test_record_types_follow_the_fields_of_file_symbols() -> None:
    hints = typing.get_type_hints(FileSymbols, vars(model))
    lists = [name for name in FileSymbols._fields if typing.get_origin(hints[name]) is list]
    assert lists == list(FileSymbols._fields[3:])
    assert [typing.get_args(hints[name])[0] for name in lists] == list(model._RECORD_TYPES)


def test_file_symbols_pickle_back_to_the_same_records() -> None:
    symbols = _symbols(FIXTURES / "resolve_types")
    assert symbols
    for fs in symbols.values():
        back = pickle.loads(pickle.dumps(fs, protocol=pickle.HIGHEST_PROTOCOL))
        assert back == fs
        for name, records, rec_type in zip(FileSymbols._fields[3:], back[3:], model._RECORD_TYPES):
            assert all(type(r) is rec_type for r in records), name
    sizes = {name: sum(len(getattr(fs, name)) for fs in symbols.values()) for name in FileSymbols._fields[3:]}
    assert sizes["calls"] and sizes["assigns"] and sizes["scopes"]


def test_records_are_named() -> None:
    fs = next(iter(_symbols(FIXTURES / "resolve_types").values()))
    assert isinstance(fs.scopes[0], ScopeRec) and fs.scopes[0].kind == "module"
    call = fs.calls[0]
    text = fs.source[call.func_start:call.func_end].decode()
    assert text and call.args_end > call.args_start >= call.func_end


def test_gc_paused_restores_what_it_found() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), gc_paused():
        raise ValueError
    assert gc.isenabled()


def test_degenerate_files_give_an_empty_graph(tmp_path: Path) -> None:
    repo = write_repo(tmp_path, {
        "empty.py": "",
        "broken.py": "def (:\n  return ]\n",
        "only_constants.py": "X = 1\nY: int\n",
        "lone.py": "import os\nfrom . import nothing\nfrom .missing import *\n",
    })
    result = analysis.analyze(repo, jobs=1)
    graph = result.graph
    assert graph.edges == [] and graph.unresolved == []
    assert set(graph.imports) == {"empty", "broken", "only_constants", "lone"}
    assert graph.imports["lone"] == [".missing.*", "nothing", "os"]
    assert graph.facts["only_constants"].params == ()


def test_a_self_referencing_class_and_a_call_cycle_resolve(tmp_path: Path) -> None:
    repo = write_repo(tmp_path, {
        "cycle.py": """
            class Node(Node):
                def visit(self):
                    return self.visit()

            def ping(n):
                return pong(n)

            def pong(n):
                return ping(n)
        """,
    })
    graph = analysis.analyze(repo, jobs=1).graph
    calls = {(e.source, e.target) for e in graph.edges if e.kind is EdgeKind.CALLS}
    assert calls == {("cycle.Node.visit", "cycle.Node.visit"), ("cycle.ping", "cycle.pong"),
                     ("cycle.pong", "cycle.ping")}
