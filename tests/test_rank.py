"""Ranking: PageRank over real symbol graphs of small repositories, degenerate graphs
(empty, one node, cycles), the named priors, and determinism."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from localread.repo.analysis import analyze
from localread.repo.graph import Graph
from localread.repo.rank import WEIGHTS, core_symbols, rank_symbols
from tests.helpers import EXAMPLE, write_repo


def _ranks(tmp_path: Path, files: dict[str, str]) -> dict[str, float]:
    return rank_symbols(analyze(write_repo(tmp_path, files)).graph)


def test_an_empty_graph_ranks_nothing() -> None:
    assert rank_symbols(Graph(chunks={}, edges=[], calls={}, unresolved=[])) == {}


def test_a_single_module_gets_all_the_rank(tmp_path: Path) -> None:
    ranks = _ranks(tmp_path, {"only.py": "X = 1\n"})
    assert list(ranks) == ["only"]
    assert ranks["only"] == pytest.approx(1.0)


def test_a_cycle_converges_and_the_ranks_sum_to_one(tmp_path: Path) -> None:
    ranks = _ranks(tmp_path, {
        "loop.py": """
            def ping(n):
                return pong(n - 1) if n else 0

            def pong(n):
                return ping(n - 1) if n else 1

            def self_loop(n):
                return self_loop(n - 1) if n else 2
            """,
    })
    assert sum(ranks.values()) == pytest.approx(1.0)
    # The two halves of a cycle with the same shape rank the same.
    assert ranks["loop.ping"] == pytest.approx(ranks["loop.pong"])
    assert all(value > 0 for value in ranks.values())


def test_what_many_call_ranks_above_what_nobody_calls(tmp_path: Path) -> None:
    ranks = _ranks(tmp_path, {
        "core.py": """
            def encode(x):
                return x

            def unused(x):
                return x
            """,
        "a.py": "from core import encode\n\ndef run_a(x):\n    return encode(x)\n",
        "b.py": "from core import encode\n\ndef run_b(x):\n    return encode(x)\n",
    })
    assert ranks["core.encode"] > ranks["core.unused"]
    assert ranks["core.encode"] > ranks["a.run_a"]


def test_private_and_test_code_start_with_less_weight(tmp_path: Path) -> None:
    ranks = _ranks(tmp_path, {
        "lib.py": "def public(x):\n    return x\n\ndef _private(x):\n    return x\n",
        "tests/test_lib.py": "def test_public():\n    assert True\n",
    })
    assert ranks["lib.public"] > ranks["lib._private"]
    assert ranks["tests.test_lib.test_public"] < ranks["lib._private"]


def test_weights_are_named_and_change_the_ranking(tmp_path: Path) -> None:
    graph = analyze(write_repo(tmp_path, {
        "lib.py": "def public(x):\n    return x\n\ndef _private(x):\n    return x\n",
    })).graph
    flat = replace(WEIGHTS, private_prior=1.0)
    assert rank_symbols(graph, flat)["lib._private"] == pytest.approx(rank_symbols(graph, flat)["lib.public"])
    assert rank_symbols(graph)["lib._private"] < rank_symbols(graph)["lib.public"]


def test_ranking_the_example_is_deterministic_and_core_symbols_are_code() -> None:
    graph = analyze(EXAMPLE).graph
    first, second = rank_symbols(graph), rank_symbols(graph)
    assert first == second and list(first) == sorted(first)
    core = core_symbols(graph, first, limit=5)
    assert len(core) == 5
    assert all(graph.chunks[c].kind.value in ("class", "function", "method") for c in core)
    assert [first[c] for c in core] == sorted((first[c] for c in core), reverse=True)
