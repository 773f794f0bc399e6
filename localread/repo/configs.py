"""YAML configuration files that the code loads, read as data: never imported, never run.

`ConfigFiles` answers what the graph asks about them: which files a script's loader
call reads (`find`: a literal path, root- or script-relative; `flag_value`: the value
the README's command passes to a flag, else the flag's argparse default, see `flags`;
`fallback`: the one YAML file of the nearest `configs/` folder), and each file's
nodes (`tree`), with their line numbers. A file is read once, when first asked for,
with PyYAML's composer: it builds nodes and never constructs Python objects, so no
tag of the file can run anything.

The files may be careless or hostile, so reading has limits: a file over
MAX_CONFIG_BYTES, one that is not YAML or nests too deeply, or one whose aliases
expand to more than MAX_CONFIG_NODES nodes (a "billion laughs") is left out with one
note in `notes` ("path: why"), which the analysis shows with the other files it left
out.
"""

from __future__ import annotations

import posixpath
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

import yaml

from localread.repo.flags import argparse_default, command_value, flag_names

# Real configs are a few KiB; PyYAML's pure-Python reader (the C one recurses without
# a limit on nesting) takes about a second for 128 KiB of dense YAML.
MAX_CONFIG_BYTES = 128 * 1024
# Nodes of one file, as written and once aliases are expanded; real configs hold a few
# thousand.
MAX_CONFIG_NODES = 50_000
CONFIG_SUFFIXES = (".yaml", ".yml")
CONFIG_FOLDERS = ("configs", "config")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class NodeKind(StrEnum):
    """What a YAML node holds."""

    MAPPING = "mapping"
    SEQUENCE = "sequence"
    SCALAR = "scalar"


class ConfigEntry(NamedTuple):
    """One entry of a mapping (key as written) or a sequence (key: its index), with
    the index of its node in the tree and the line its key is on (1-based)."""

    key: str
    node: int
    line: int


class ConfigNode(NamedTuple):
    """A node: its kind, its line (1-based), a scalar's text, a collection's entries."""

    kind: NodeKind
    line: int
    value: str
    entries: tuple[ConfigEntry, ...]


class ConfigTree(NamedTuple):
    """The nodes of one YAML file, aliases expanded (each node has one parent);
    nodes[0] is the document's root (an empty mapping for an empty file)."""

    path: str
    nodes: tuple[ConfigNode, ...]

    def entry(self, node: int, key: str) -> ConfigEntry | None:
        """The entry under key of a mapping (or index of a sequence), or None."""
        for found in self.nodes[node].entries:
            if found.key == key:
                return found
        return None


class ConfigFiles:
    """The YAML files of a repository (paths: relative POSIX paths from the scan) and
    the README commands that run its scripts (commands: script path -> command)."""

    def __init__(self, root: Path, paths: list[str], commands: dict[str, str] | None = None) -> None:
        self.root = root
        self.paths = frozenset(paths)
        self.commands = dict(commands or {})
        self.notes: list[str] = []
        self._trees: dict[str, ConfigTree | None] = {}
        self._noted: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.paths)

    def note(self, line: str) -> None:
        """One note per distinct line."""
        if line not in self._noted:
            self._noted.add(line)
            self.notes.append(line)

    def find(self, script: str, value: str) -> str | None:
        """The YAML file a path value names, as written from the repository root (how
        scripts are run) or from the script's folder; None when it names none."""
        value = value.strip()
        if not value or value.startswith("/") or "\0" in value:
            return None
        folder = posixpath.dirname(script)
        for base in ("", folder):
            path = posixpath.normpath(posixpath.join(base, value))
            if path in self.paths:
                return path
        return None

    def flag_value(self, script: str, source: bytes, dest: str) -> str | None:
        """What a run of script gives `args.<dest>`: the value its README command
        passes, else the flag's argparse default in source."""
        flags = flag_names(dest)
        return command_value(self.commands.get(script), flags) or argparse_default(source, flags)

    def fallback(self, script: str) -> str | None:
        """The one YAML file under the `configs/` (or `config/`) folder nearest to the
        script, from its own folder up to the root; None when there are several."""
        folder = posixpath.dirname(script)
        while True:
            for name in CONFIG_FOLDERS:
                prefix = f"{folder}/{name}/" if folder else f"{name}/"
                found = [p for p in self.paths if p.startswith(prefix)]
                if found:
                    return found[0] if len(found) == 1 else None
            if not folder:
                return None
            folder = posixpath.dirname(folder)

    def tree(self, path: str) -> ConfigTree | None:
        """The nodes of a listed YAML file, read once; None (and a note) when it cannot
        be read or is over a limit."""
        if path in self._trees:
            return self._trees[path]
        tree = None
        if path in self.paths:
            tree, why = self._read(path)
            if why is not None:
                self.note(f"{path}: {why}, not read as a config")
        self._trees[path] = tree
        return tree

    def _read(self, path: str) -> tuple[ConfigTree | None, str | None]:
        try:
            with open(self.root / path, "rb") as fh:
                data = fh.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            return None, (exc.strerror or str(exc)).lower()
        if len(data) > MAX_CONFIG_BYTES:
            return None, f"over {MAX_CONFIG_BYTES >> 10} KiB"
        try:
            root = _first_document(data)
        except _TooManyNodes:
            return None, f"more than {MAX_CONFIG_NODES:,} nodes"
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            return None, f"not valid YAML{where}"
        except RecursionError:
            return None, "nested too deeply"
        return _tree(path, root)


class _TooManyNodes(Exception):
    pass


class _CountingLoader(yaml.SafeLoader):
    """SafeLoader's composer, stopped after MAX_CONFIG_NODES nodes."""

    def __init__(self, stream: bytes) -> None:
        super().__init__(stream)
        self.composed = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        self.composed += 1
        if self.composed > MAX_CONFIG_NODES:
            raise _TooManyNodes
        return super().compose_node(parent, index)


def _first_document(data: bytes) -> yaml.Node | None:
    """The node tree of the first YAML document in data (None for an empty file)."""
    loader = _CountingLoader(data)
    try:
        return loader.get_node() if loader.check_node() else None
    finally:
        loader.dispose()


def _tree(path: str, root: yaml.Node | None) -> tuple[ConfigTree | None, str | None]:
    """The tree of a document's nodes, aliases expanded and counted (iteratively: a
    recursive alias is an endless tree, stopped by the count like any other)."""
    nodes: list[ConfigNode | None] = [None]
    pending: list[tuple[yaml.Node | None, int]] = [(root, 0)]
    while pending:
        node, at = pending.pop()
        line = node.start_mark.line + 1 if node is not None else 1
        if isinstance(node, yaml.ScalarNode):
            nodes[at] = ConfigNode(NodeKind.SCALAR, line, str(node.value), ())
            continue
        if isinstance(node, yaml.SequenceNode):
            kind, pairs = NodeKind.SEQUENCE, [(str(i), value, value) for i, value in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            kind, pairs = NodeKind.MAPPING, _mapping_pairs(node)
        else:
            kind, pairs = NodeKind.MAPPING, []
        if len(nodes) + len(pairs) > MAX_CONFIG_NODES:
            return None, f"its aliases expand to more than {MAX_CONFIG_NODES:,} nodes"
        entries = []
        for key, key_node, value in pairs:
            entries.append(ConfigEntry(key, len(nodes), key_node.start_mark.line + 1))
            pending.append((value, len(nodes)))
            nodes.append(None)
        nodes[at] = ConfigNode(kind, line, "", tuple(entries))
    return ConfigTree(path, tuple(nodes)), None  # type: ignore[arg-type]


def _mapping_pairs(node: yaml.MappingNode) -> list[tuple[str, yaml.Node, yaml.Node]]:
    """(key, key node, value node) of a mapping with scalar keys; a merge key
    (`<<: *base`) adds the entries of the mappings it names that the mapping does
    not set itself."""
    own: dict[str, tuple[str, yaml.Node, yaml.Node]] = {}
    merged: list[tuple[str, yaml.Node, yaml.Node]] = []
    for key_node, value in node.value:
        if key_node.tag == _MERGE_TAG:
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for source in sources:
                if isinstance(source, yaml.MappingNode):
                    merged.extend((k.value, k, v) for k, v in source.value
                                  if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE_TAG)
        elif isinstance(key_node, yaml.ScalarNode):
            own[str(key_node.value)] = (str(key_node.value), key_node, value)
    for pair in merged:
        own.setdefault(pair[0], pair)
    return list(own.values())
