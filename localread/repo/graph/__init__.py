"""The symbol graph: who imports, calls, builds, references, inherits and overrides whom.

Owns per-file symbol extraction, static name and type resolution, and the Graph's records.
May import data, repo.scan, repo.chunks, repo.imports, repo.configs and repo.gcpause; no
other stage.
"""

from localread.repo.graph.build import build_graph
from localread.repo.graph.extract import extract_file
from localread.repo.graph.model import CallSite, ChunkFacts, FileSymbols, Graph, Param, ScopeRec

__all__ = ["CallSite", "ChunkFacts", "FileSymbols", "Graph", "Param", "ScopeRec", "build_graph", "extract_file"]
