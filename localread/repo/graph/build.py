"""`build_graph`: the phases of the resolution, over every file's symbols.

Setup binds every name to its sources and makes every call site. Phase 0 types the
base classes and fixes the MROs (members). Phase 1 solves every call site, without
argument flows. Phase 2 lets arguments flow into the parameters of the functions that
phase 1 found few callers for (flows). Phase 3 gives the `self` of the methods that no
call reached with a receiver their own class (scopes). Then the Graph is collected
(results, facts).

The parts of the `Resolver`, by the question each answers:
  scopes       where a name lives, what parameters and `self` are
  bind         what each statement binds: the sources of every key
  modules      imports, a module's attributes, star imports, `__all__`
  expressions  the types of an expression or an annotation
  members      classes and MROs, `value.name`, `value[key]`
  calls        what a call runs and returns (library calls: library.py)
  configured   YAML configs the code loads, and what their `target:` builds
  flows        arguments flowing into parameters
  results      call sites, edges, unresolved calls; facts: the facts card's data
"""

from __future__ import annotations

from localread.data import Chunk
from localread.repo.configs import ConfigFiles
from localread.repo.gcpause import gc_paused
from localread.repo.graph.bind import Binding
from localread.repo.graph.calls import Calls
from localread.repo.graph.configured import Configured
from localread.repo.graph.expressions import Expressions
from localread.repo.graph.facts import FactGathering
from localread.repo.graph.flows import Flows
from localread.repo.graph.members import Members
from localread.repo.graph.model import FileSymbols, Graph
from localread.repo.graph.modules import Modules
from localread.repo.graph.results import Results
from localread.repo.graph.scopes import Scopes
from localread.repo.graph.solver import BASE
from localread.repo.scan import Scan


class Resolver(Scopes, Binding, Modules, Expressions, Members, Calls, Configured, Flows, Results, FactGathering):
    """Every part of the resolution over one set of tables (see `state`)."""

    __slots__ = ()

    def setup(self) -> None:
        self.setup_scopes()
        for fi, fs in enumerate(self.files):
            self.bind_file(fi, fs)
        for fi, fs in enumerate(self.files):
            self.add_sites(fi, fs)


def build_graph(scan: Scan, chunks: dict[str, Chunk], symbols: dict[str, FileSymbols],
                configs: ConfigFiles | None = None) -> Graph:
    """The repository's symbol graph from every file's symbols (configs: the YAML
    files the code may load, with the README commands that run its scripts; default:
    the scan's, with no commands; notes on the files left out are added to it).

    Resolution is static and never a guess: what cannot be resolved is left unresolved
    and counted. Deterministic: files, sites and edges are processed and returned in
    sorted order.
    """
    # The build allocates millions of small tuples that live until it returns; the
    # cyclic collector would walk them all again and again (it doubled the build
    # time), and the build makes no garbage cycles worth collecting.
    with gc_paused():
        return _build(scan, chunks, symbols, configs)


def _build(scan: Scan, chunks: dict[str, Chunk], symbols: dict[str, FileSymbols],
           configs: ConfigFiles | None) -> Graph:
    resolver = Resolver(scan, chunks, symbols, configs)
    resolver.setup()
    # Phase 0: base classes and MROs.
    resolver.solve_bases()
    # Types read while bases were solved saw no MRO yet: start the next phase clean.
    resolver.values = {k: v for k, v in resolver.values.items() if k[0] == BASE}
    resolver.readers = {}
    resolver.param_reads = {}
    # Phase 1: every call site, without flows into parameters.
    for key in resolver.key_sites:
        resolver.enqueue(key)
    resolver.run()
    # Phase 2: flows into the parameters of functions with few callers.
    resolver.enable_flows()
    resolver.run()
    # Phase 3: `self` in the methods that no call reaches with a receiver.
    resolver.enable_self_fallback()
    resolver.run()
    return resolver.collect()
