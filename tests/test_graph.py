"""Symbol graph: call targets, edges, unresolved calls and facts, on small fixture repos.

Each test reads one fixture under tests/fixtures/resolve_*/ (scan, tree-sitter parse,
chunks, `extract_file`, `build_graph`; nothing in the fixture is imported or run) and
asserts the exact repo chunk ids a call resolves to.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from localread.data import Chunk, ChunkKind, EdgeKind
from localread.repo import graph as graph_mod
from localread.repo.chunks import extract_chunks, parse
from localread.repo.graph import CallSite, Graph
from localread.repo.scan import read_source, scan

FIXTURES = Path(__file__).parent / "fixtures"


def build(root: Path) -> Graph:
    """The graph of a repository, built stage by stage as analysis.analyze does."""
    result = scan(root)
    chunks: dict[str, Chunk] = {}
    symbols: dict[str, graph_mod.FileSymbols] = {}
    for source_file in result.files:
        source = read_source(result.root, source_file.path)
        tree = parse(source)
        file_chunks = extract_chunks(tree, source, source_file.path, source_file.module)
        for chunk in file_chunks.chunks:
            chunks[chunk.id] = chunk
        symbols[source_file.path] = graph_mod.extract_file(tree, source, source_file, file_chunks.chunks)
    return graph_mod.build_graph(result, chunks, symbols)


@cache
def fixture(name: str) -> Graph:
    return build(FIXTURES / name)


def site(graph: Graph, caller: str, text: str, nth: int = 0) -> CallSite:
    """The nth call in caller whose callee is written `text`."""
    found = [s for s in graph.calls.get(caller, []) if s.text == text]
    assert len(found) > nth, f"no call {text!r} in {caller}: {[s.text for s in graph.calls.get(caller, [])]}"
    return found[nth]


def targets(graph: Graph, caller: str, text: str, nth: int = 0) -> tuple[str, ...]:
    return site(graph, caller, text, nth).targets


def edges(graph: Graph, kind: EdgeKind, source: str | None = None) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in graph.edges if e.kind is kind and (source is None or e.source == source)}


# --------------------------------------------------------------------------------------
# Imports and layouts (resolve_imports: flat layout, scripts/, tools/, top-level module)
# --------------------------------------------------------------------------------------


def test_reexport_chain_through_two_package_inits() -> None:
    # segkit/__init__ <- segkit/models/__init__ (star import) <- segmenter.py (__all__)
    g = fixture("resolve_imports")
    assert targets(g, "scripts.demo", "build_segmenter") == ("segkit.models.segmenter.build_segmenter",)
    call = site(g, "scripts.demo", "Segmenter")
    assert call.targets == ("segkit.models.segmenter.Segmenter",)
    assert call.kind is EdgeKind.INSTANTIATES


def test_import_a_b_as_c() -> None:
    g = fixture("resolve_imports")
    assert targets(g, "scripts.demo", "seg.build_segmenter") == ("segkit.models.segmenter.build_segmenter",)


def test_plain_import_then_dotted_path_through_submodules() -> None:
    g = fixture("resolve_imports")
    assert targets(g, "scripts.demo", "segkit.models.segmenter.build_segmenter") == (
        "segkit.models.segmenter.build_segmenter",
    )
    # `from .utils import misc` in segkit/__init__ re-exports a module.
    assert targets(g, "scripts.demo", "segkit.misc.normalize") == ("segkit.utils.misc.normalize",)
    assert targets(g, "scripts.demo", "tools.pad") == ("segkit.utils.misc.pad",)


def test_aliased_reexport() -> None:
    g = fixture("resolve_imports")
    call = site(g, "scripts.demo", "Block")
    assert call.targets == ("segkit.models.blocks.ConvBlock",)


def test_relative_imports_one_and_two_levels() -> None:
    g = fixture("resolve_imports")
    assert targets(g, "segkit.models.segmenter.Segmenter.__init__", "blocks.ConvBlock") == (
        "segkit.models.blocks.ConvBlock",
    )
    assert targets(g, "segkit.models.segmenter.Segmenter.forward", "misc.pad") == ("segkit.utils.misc.pad",)
    assert targets(g, "segkit.models.segmenter.Segmenter.forward", "norm") == ("segkit.utils.misc.normalize",)


def test_script_folder_is_on_sys_path() -> None:
    g = fixture("resolve_imports")
    # scripts/demo.py `import helpers` is scripts/helpers.py, tools/convert.py's is tools/helpers.py.
    assert targets(g, "scripts.demo", "helpers.load_image") == ("scripts.helpers.load_image",)
    assert targets(g, "tools.convert", "load_image") == ("tools.helpers.load_image",)


def test_top_level_module() -> None:
    g = fixture("resolve_imports")
    assert targets(g, "scripts.demo", "toputil.seed_everything") == ("toputil.seed_everything",)


def test_all_limits_star_import_and_missing_name_is_unresolved() -> None:
    g = fixture("resolve_imports")
    call = site(g, "scripts.demo", "hidden_helper")
    assert call.targets == () and call.external is None
    assert call in g.unresolved


def test_external_calls_are_named_not_targets() -> None:
    g = fixture("resolve_imports")
    conv = site(g, "segkit.models.blocks.ConvBlock.__init__", "nn.Conv2d")
    assert conv.targets == () and conv.external == "torch.nn.Conv2d"
    assert site(g, "segkit.models.blocks.ConvBlock.forward", "self.conv").external == "torch.nn.Conv2d.__call__"
    assert site(g, "segkit.models.blocks.ConvBlock.__init__", "super().__init__").external == "torch.nn.Module.__init__"
    assert not [s for s in g.unresolved if s.caller.startswith("segkit")]


def test_import_edges_and_imported_names() -> None:
    g = fixture("resolve_imports")
    imports = edges(g, EdgeKind.IMPORTS)
    assert ("segkit", "segkit.models") in imports
    assert ("segkit.models", "segkit.models.segmenter") in imports
    assert ("scripts.demo", "scripts.helpers") in imports
    assert ("tools.convert", "tools.helpers") in imports
    assert "segkit.models.segmenter" in g.imports["scripts.demo"]
    assert "torch.nn" in g.imports["segkit.models.blocks"]
    assert g.import_names["scripts.demo"]["seg"] == "segkit.models.segmenter"
    assert g.import_names["segkit.models.segmenter"]["norm"] == "segkit.utils.misc.normalize"
