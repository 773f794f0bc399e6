"""Configured: what a YAML config that the code loads builds.

`config = OmegaConf.load(args.config)` (`library.CONFIG_LOADERS`) reads the file a
path names: a literal, a name bound to one, a file opened from one, or a flag
(`args.config`: the value the README's command passes, else the argparse default,
else the one YAML file of the `configs/` folder next to the script; `repo.configs`). Its value is the file's root node, a CONFIG atom, whose attributes
and items are its entries. A builder call (`instantiate_from_config(config.model)`,
`hydra.utils.instantiate(cfg.model)`; `library.CONFIG_BUILDERS`) on a mapping with a
`target:` (or `_target_:`) dotted string builds the repo class (or calls the repo
function) that string names, found as an import in the caller's file would find it.
The constructor's parameters receive the mapping's `params:` entries (for `_target_:`,
its other keys, whose own `_target_:` mappings Hydra builds at the same call), so the
configs nested in them (`unet_config: {target: ...}`) are what its own builder calls
build. A target naming nothing in a repo package is left unresolved; one that is no
dotted name gets a note. Nothing of the repository or of the config is run.
"""

from __future__ import annotations

import ast
import posixpath
from typing import NamedTuple

from localread.repo.configs import ConfigTree, NodeKind
from localread.repo.graph.atoms import (
    CLASS,
    CONFIG,
    CONTAINER_METHOD,
    EMPTY,
    EXTERNAL,
    FUNCTION,
    INSTANCE,
    SEQ,
    TUPLE,
)
from localread.repo.graph.library import CONFIG_BUILDERS, CONFIG_BUILDERS_EXTERNAL
from localread.repo.graph.parse import DOTTED
from localread.repo.graph.solver import CONFIGURED, NODE, SPAN, VAR, Solver

# Names and calls followed back to a config's path, at most this deep.
MAX_PATH_HOPS = 4
_TARGET_KEYS = ("_target_", "target")  # Hydra's, then the latent-diffusion family's
_CONFIG_METHODS = frozenset({"get", "pop", "values", "items", "keys"})


class ConfigTarget(NamedTuple):
    """What a config mapping names. atoms: the repo classes and functions (none for a
    library's or a missing name); place: "`target:` at configs/x.yaml:2"; hydra: a
    `_target_:` mapping (its own keys are the arguments, its nested targets built with
    it); kwargs: the node whose entries are the arguments (-1: none); missing: the
    string names nothing in a repo package."""

    atoms: frozenset
    place: str
    line: int
    hydra: bool
    kwargs: int
    missing: bool


class Configured(Solver):
    """Config files: loading, reading, and what builder calls build from them."""

    __slots__ = ()

    # ---- loading --------------------------------------------------------------------

    def config_roots(self, node: ast.Call, scope: str) -> frozenset:
        """What a loader call reads: the root node of each YAML file its path names."""
        arg = _argument(node, ("file_", "stream", "path"))
        if arg is None:
            return EMPTY
        script = self.files[self.scopes[scope].file].path
        paths = {self.configs.find(script, value) for value in self.config_values(arg, scope, 0)}
        return frozenset((CONFIG, self.intern(p), 0) for p in sorted(p for p in paths if p)
                         if self.configs.tree(p) is not None)

    def config_values(self, node: ast.expr, scope: str, hops: int) -> set[str]:
        """The path strings an expression may hold ({} when none is known)."""
        if hops > MAX_PATH_HOPS:
            return set()
        if isinstance(node, ast.Constant):
            return {node.value} if isinstance(node.value, str) else set()
        if isinstance(node, (ast.BoolOp, ast.IfExp)):
            parts = node.values if isinstance(node, ast.BoolOp) else [node.body, node.orelse]
            return {v for part in parts for v in self.config_values(part, scope, hops + 1)}
        if isinstance(node, ast.Attribute):
            # `args.config`: what the command line gives the flag; with no value known,
            # the one config next to the script (a path from the root: found as is).
            fs = self.files[self.scopes[scope].file]
            value = self.configs.flag_value(fs.path, fs.source, node.attr) or self.configs.fallback(fs.path)
            return {value} if value else set()
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("open", "Path", "PurePath", "PosixPath") and node.args:
                return self.config_values(node.args[0], scope, hops + 1)
            if name in ("open", "read_text", "read_bytes") and isinstance(func, ast.Attribute):
                return self.config_values(func.value, scope, hops + 1)  # `Path(p).read_text()`
            if name == "join" and node.args:  # `os.path.join("configs", "x.yaml")`
                parts = [self.config_values(a, scope, hops + 1) for a in node.args]
                if all(len(p) == 1 for p in parts):
                    return {posixpath.join(*(next(iter(p)) for p in parts))}
            return set()
        if isinstance(node, ast.Name):
            found = self.lookup(scope, node.id)
            if type(found) is not tuple:
                return set()
            out: set[str] = set()
            for src in self.sources.get(found, ()):  # type: ignore[arg-type]
                if src[0] == SPAN:
                    value = self.parsed_expr(src[1], src[2], src[3])
                    if value is not None:
                        out |= self.config_values(value, src[4], hops + 1)
                elif src[0] == NODE:
                    out |= self.config_values(src[1], src[2], hops + 1)
            return out
        return set()

    # ---- reading ---------------------------------------------------------------------

    def config_tree(self, atom: tuple) -> ConfigTree:
        tree = self.configs.tree(self.strs[atom[1]])
        assert tree is not None  # a CONFIG atom is made only for a file that was read
        return tree

    def config_node(self, path: int, tree: ConfigTree, node: int) -> frozenset:
        """The value of a node: a mapping or a sequence is a CONFIG atom (a sequence is
        also a list of its elements, to loop over); a scalar gives no type."""
        kind = tree.nodes[node].kind
        if kind is NodeKind.SCALAR:
            return EMPTY
        atom = (CONFIG, path, node)
        if kind is NodeKind.SEQUENCE:
            items: frozenset = EMPTY
            for entry in tree.nodes[node].entries:
                items = items | self.config_node(path, tree, entry.node)
            return frozenset((atom, (SEQ, self.intern("omegaconf.ListConfig"), items)))
        return frozenset((atom,))

    def config_attribute(self, atom: tuple, name: str) -> frozenset:
        """`config.model`: the entry of a mapping; `config.get` and the like."""
        found = self._entry_value(atom, name)
        if found is not None:
            return found
        if name in _CONFIG_METHODS:
            return frozenset(((CONTAINER_METHOD, atom, self.intern(name)),))
        return EMPTY

    def _entry_value(self, atom: tuple, key: str) -> frozenset | None:
        """The value of a mapping's entry, None when it has none."""
        tree = self.config_tree(atom)
        entry = tree.entry(atom[2], key) if tree.nodes[atom[2]].kind is NodeKind.MAPPING else None
        return self.config_node(atom[1], tree, entry.node) if entry is not None else None

    def config_item(self, atom: tuple, index: ast.expr) -> frozenset:
        """`config["model"]`, `config.stages[0]`."""
        tree = self.config_tree(atom)
        if isinstance(index, ast.Constant) and isinstance(index.value, (str, int)):
            entry = tree.entry(atom[2], str(index.value))
            return self.config_node(atom[1], tree, entry.node) if entry is not None else EMPTY
        out: frozenset = EMPTY
        if tree.nodes[atom[2]].kind is NodeKind.SEQUENCE:
            for entry in tree.nodes[atom[2]].entries:
                out = out | self.config_node(atom[1], tree, entry.node)
        return out

    def config_call(self, atom: tuple, method: str, node: ast.Call | None, scope: str) -> frozenset:
        """`config.get("params", {})`, `config.values()`, `config.items()`."""
        tree = self.config_tree(atom)
        if method in ("get", "pop"):
            key = node.args[0] if node is not None and node.args else None
            default = self.arg_types(node, 1, scope)
            found = self._entry_value(atom, key.value) if isinstance(key, ast.Constant) and isinstance(
                key.value, str) else None
            return default if found is None else found | default
        values: frozenset = EMPTY
        for entry in tree.nodes[atom[2]].entries:
            values = values | self.config_node(atom[1], tree, entry.node)
        if method == "values":
            return frozenset(((SEQ, self.intern("builtins.list"), values),))
        if method == "items":
            return frozenset(((SEQ, self.intern("builtins.list"), frozenset(((TUPLE, (EMPTY, values)),))),))
        return EMPTY

    # ---- building --------------------------------------------------------------------

    def is_builder(self, atom: tuple) -> bool:
        """Whether calling atom builds what a config names."""
        kind = atom[0]
        if kind == FUNCTION:
            return self.by_n[atom[1]].rec.name in CONFIG_BUILDERS
        if kind == EXTERNAL:
            return self.strs[atom[1]] in CONFIG_BUILDERS_EXTERNAL
        return False

    def config_target(self, atom: tuple, fi: int) -> ConfigTarget | None:
        """What a config mapping names, resolved from file fi; None when it names
        nothing (no target key)."""
        memo = (atom, fi)
        if memo in self.config_targets:
            return self.config_targets[memo]  # type: ignore[return-value]
        found = None
        tree = self.config_tree(atom)
        if tree.nodes[atom[2]].kind is NodeKind.MAPPING:
            for key in _TARGET_KEYS:
                entry = tree.entry(atom[2], key)
                if entry is not None:
                    found = self._target(tree, atom[2], key, entry.node, entry.line, fi)
                    break
        self.config_targets[memo] = found
        return found

    def _target(self, tree: ConfigTree, node: int, key: str, value: int, line: int, fi: int) -> ConfigTarget:
        place = f"`{key}:` at {tree.path}:{line}"
        hydra = key == "_target_"
        if hydra:
            kwargs = node
        else:
            params = tree.entry(node, "params")
            kwargs = params.node if params is not None and tree.nodes[params.node].kind is NodeKind.MAPPING else -1
        text = tree.nodes[value].value.strip() if tree.nodes[value].kind is NodeKind.SCALAR else ""
        if not DOTTED.match(text):
            self.configs.note(f"{tree.path}:{line}: the `{key}:` value is not a dotted name, not followed")
            return ConfigTarget(EMPTY, place, line, hydra, kwargs, False)
        atoms = self.object_named(text, fi)
        return ConfigTarget(atoms, place, line, hydra, kwargs, not atoms and self.repo_rooted(fi, text))

    def builds(self, target: ConfigTarget) -> frozenset:
        """What building a config's target gives: an instance of a class, what a
        function returns."""
        out: frozenset = EMPTY
        for a in target.atoms:
            if a[0] == CLASS:
                out = out | {(INSTANCE, a[1])}
            else:
                out = out | self.returns(self.by_n[a[1]].id, 0)
        return out

    def config_arguments(self, node: ast.Call, scope: str) -> frozenset:
        """The config mappings with a target that a builder call is given."""
        arg = _argument(node, ("config", "cfg", "conf"))
        if arg is None:
            return EMPTY
        fi = self.scopes[scope].file
        return frozenset(a for a in self.types_of(arg, scope)
                         if a[0] == CONFIG and self.config_target(a, fi) is not None)

    def configured_result(self, node: ast.Call, scope: str) -> frozenset:
        """What a builder call returns: what the targets of its configs build."""
        fi = self.scopes[scope].file
        out: frozenset = EMPTY
        for atom in self.config_arguments(node, scope):
            out = out | self.builds(self.config_target(atom, fi))  # type: ignore[arg-type]
        return out

    def built_from_config(self, index: int) -> frozenset:
        """The CONFIGURED key of a site: the config mappings its builder builds, the
        `_target_:` mappings nested in a Hydra one included."""
        site = self.sites[index]
        call = self.site_call(site)
        if call is None or not any(self.is_builder(a) for a in self.read(self.site_keys[index])):
            return EMPTY
        out = set()
        for atom in self.config_arguments(call, site.scope):
            out.add(atom)
            if self.config_target(atom, site.file).hydra:  # type: ignore[union-attr]
                out.update(self._nested_targets(atom, site.file))
        return frozenset(out)

    def _nested_targets(self, atom: tuple, fi: int) -> list[tuple]:
        """The `_target_:` mappings below a Hydra mapping (not below `_recursive_: false`)."""
        tree = self.config_tree(atom)
        out = []
        stack = [atom[2]]
        while stack:
            node = stack.pop()
            if node != atom[2]:
                found = self.config_target((CONFIG, atom[1], node), fi)
                if found is not None and found.hydra:
                    out.append((CONFIG, atom[1], node))
            recursive = tree.entry(node, "_recursive_")
            if recursive is not None and tree.nodes[recursive.node].value.lower() == "false":
                continue
            stack.extend(e.node for e in tree.nodes[node].entries if tree.nodes[e.node].kind is not NodeKind.SCALAR)
        return out

    def configured_changed(self, index: int, grown: frozenset) -> None:
        """New config mappings built at a site: their targets' constructors (or the
        functions) receive the mappings' arguments, on an instance of the class."""
        fi = self.sites[index].file
        for atom in grown:
            target = self.config_target(atom, fi)
            if target is None:
                continue
            for a in target.atoms:
                if a[0] == CLASS:
                    self.built.add(a[1])
                    reached = [(f, a[1]) for f in self.member_functions(self.by_n[a[1]].id, "__init__")]
                else:
                    reached = [(self.by_n[a[1]].id, 0)]
                for fid, recv in reached:
                    if recv:
                        self.add_receiver(fid, recv)
                    if target.kwargs >= 0:
                        self._give_arguments(fid, (atom[1], target.kwargs, target.hydra, fi))

    def _give_arguments(self, fid: str, arguments: tuple[int, int, bool, int]) -> None:
        given = self.config_args.setdefault(fid, set())
        if arguments in given:
            return
        given.add(arguments)
        scope = self.scopes.get(fid)
        if scope is not None:
            for param, _, _ in self.params(scope):
                self.enqueue((VAR, fid, param.name))

    def config_arg(self, fid: str, name: str) -> frozenset:
        """What the configs that build fid give its parameter name: the entry of that
        name (for Hydra, what a nested `_target_:` mapping builds)."""
        out: frozenset = EMPTY
        for path, kwargs, hydra, fi in self.config_args.get(fid, ()):
            if hydra and name.startswith("_"):
                continue
            tree = self.configs.tree(self.strs[path])
            entry = tree.entry(kwargs, name) if tree is not None else None
            if entry is None:
                continue
            if hydra:
                target = self.config_target((CONFIG, path, entry.node), fi)
                if target is not None and target.hydra:
                    out = out | self.builds(target)
                    continue
            out = out | self.config_node(path, tree, entry.node)  # type: ignore[arg-type]
        return out

    def configured_targets(self, index: int) -> tuple[list[tuple[str, str]], bool]:
        """For the Graph: the repo chunks a site builds from configs, each with where
        the config names it (in file and line order), and whether a target names
        nothing in a repo package."""
        atoms = self.values.get((CONFIGURED, index), EMPTY)
        if not atoms:
            return [], False
        fi = self.sites[index].file
        rows: list[tuple[str, int, str, str]] = []
        missing = False
        for atom in atoms:
            target = self.config_target(atom, fi)
            if target is None:
                continue
            missing = missing or target.missing
            for a in target.atoms:
                cid = self.by_n[a[1]].id
                if cid in self.chunks:
                    rows.append((self.strs[atom[1]], target.line, cid, target.place))
        rows.sort()
        return list(dict.fromkeys((cid, place) for _, _, cid, place in rows)), missing


def _argument(node: ast.Call, keywords: tuple[str, ...]) -> ast.expr | None:
    """A call's first positional argument, else the first of keywords passed."""
    if node.args:
        return None if isinstance(node.args[0], ast.Starred) else node.args[0]
    return next((kw.value for kw in node.keywords if kw.arg in keywords), None)
