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
from tests.helpers import write_repo

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


# --------------------------------------------------------------------------------------
# Types (resolve_types): instances, self attributes, annotations, MRO, super, decorators
# --------------------------------------------------------------------------------------

TRACK = "tracker.engine.Tracker.track"
DETECT = "tracker.model.Detector.detect"


def test_instance_then_method_and_classmethod_constructors() -> None:
    g = fixture("resolve_types")
    # Annotated classmethod (-> "Detector") and unannotated `return cls(...)` both give Detector.
    assert targets(g, "scripts.run", "Detector.from_config") == ("tracker.model.Detector.from_config",)
    assert targets(g, "scripts.run", "tracker.track") == (TRACK,)
    assert targets(g, "scripts.run", "plain.detect") == (DETECT,)
    assert targets(g, "scripts.run", "Detector.version") == ("tracker.model.Detector.version",)
    assert targets(g, "tracker.model.Detector.default", "cls") == ("tracker.model.Detector",)


def test_self_attribute_set_in_init_then_used_elsewhere() -> None:
    g = fixture("resolve_types")
    assert targets(g, "tracker.model.Backbone.features", "self.encoder.encode") == ("tracker.model.Encoder.encode",)


def test_annotations_followed_through_several_hops() -> None:
    # Tracker.__init__(detector: Detector) -> Detector.__init__(backbone: Backbone)
    # -> Backbone.__init__ sets self.encoder = Encoder().
    g = fixture("resolve_types")
    assert targets(g, TRACK, "self.detector.detect") == (DETECT,)
    assert targets(g, TRACK, "self.detector.backbone.features") == ("tracker.model.Backbone.features",)
    assert targets(g, TRACK, "self.detector.backbone.encoder.encode") == ("tracker.model.Encoder.encode",)
    # Optional["Head"] as a string annotation.
    assert targets(g, TRACK, "self.detector.head.predict") == ("tracker.model.Head.predict",)


def test_methods_through_repo_base_classes_and_super() -> None:
    g = fixture("resolve_types")
    assert targets(g, DETECT, "self.reset") == ("tracker.base.Module.reset",)
    assert targets(g, "tracker.base.Module.reset", "self.clear_cache") == ("tracker.base.Module.clear_cache",)
    # MRO: Detector -> Stateful -> Module; Stateful.describe comes first. Nothing calls
    # detect_one: its self is a Detector or the FastDetector built in engine.py, whose
    # override runs then (issue 13).
    assert targets(g, "tracker.model.Detector.detect_one", "self.describe") == (
        "tracker.base.Stateful.describe", "tracker.model.FastDetector.describe",
    )
    assert targets(g, "tracker.base.Stateful.describe", "super().describe") == ("tracker.base.Module.describe",)
    assert targets(g, "tracker.model.FastDetector.describe", "super().describe") == (
        "tracker.base.Stateful.describe",
    )


def test_inherits_and_overrides_edges() -> None:
    g = fixture("resolve_types")
    assert edges(g, EdgeKind.INHERITS) == {
        ("tracker.base.Stateful", "tracker.base.Module"),
        ("tracker.model.Backbone", "tracker.base.Stateful"),
        ("tracker.model.Detector", "tracker.base.Stateful"),
        ("tracker.model.FastDetector", "tracker.model.Detector"),
    }
    assert edges(g, EdgeKind.OVERRIDES) == {
        ("tracker.base.Stateful.describe", "tracker.base.Module.describe"),
        ("tracker.model.FastDetector.describe", "tracker.base.Stateful.describe"),
    }


def test_name_bound_in_branches_has_the_union_of_types() -> None:
    g = fixture("resolve_types")
    assert targets(g, "tracker.engine.Tracker.rebuild", "detector.describe") == (
        "tracker.base.Stateful.describe",
        "tracker.model.FastDetector.describe",
    )
    # The return annotation and both branches agree on the method that runs.
    assert targets(g, "scripts.run", "make_detector(False).detect") == (DETECT,)


def test_module_level_name_visible_in_functions() -> None:
    g = fixture("resolve_types")
    assert targets(g, "tracker.engine.Tracker.rebuild", "DEFAULT_HEAD.predict") == ("tracker.model.Head.predict",)


def test_property_access_is_a_call_and_its_type_flows() -> None:
    g = fixture("resolve_types")
    prop = site(g, DETECT, "self.encoder")
    assert prop.targets == ("tracker.model.Detector.encoder",) and prop.kind is EdgeKind.CALLS
    assert targets(g, DETECT, "self.encoder.encode") == ("tracker.model.Encoder.encode",)


def test_call_outline_context() -> None:
    g = fixture("resolve_types")
    assert site(g, TRACK, "self.detector.detect").context == "for frame in frames"
    assert site(g, TRACK, "self.detector.backbone.features").context == ""
    assert site(g, "tracker.engine.make_detector", "FastDetector").context == "if fast"
    assert site(g, "tracker.engine.make_detector", "Detector").context == "else of if fast"


def test_an_outline_context_is_the_header_without_its_comment(tmp_path) -> None:
    # bm25s: `if auto_compile and ...:  # by default, we don't want to compile` showed
    # its comment in the tour's reason line.
    write_repo(tmp_path, {"m.py": """
        def a(): pass

        def f(x, warm):
            if warm and x:  # by default, we warm up
                a()
            for i in x:  # each item
                a()
            else:  # never broken
                a()
            if x:
                pass
            elif warm:  # second
                pass
            else:  # last
                a()
        """})
    contexts = [s.context for s in build(tmp_path).calls["m.f"]]
    assert contexts == ["if warm and x", "for i in x", "else of for i in x", "else of if x ... elif"]


def test_unresolved_calls_into_the_repo_are_counted_not_guessed() -> None:
    g = fixture("resolve_types")
    unresolved = {(s.caller, s.text) for s in g.unresolved}
    assert unresolved == {("scripts.run", "unknown_thing"), ("scripts.run", "tracker.no_such_method")}
    assert site(g, "scripts.run", "tracker.no_such_method").targets == ()


def test_calls_are_in_source_order() -> None:
    g = fixture("resolve_types")
    lines = [(s.line, s.text) for s in g.calls["scripts.run"]]
    assert lines == sorted(lines, key=lambda x: x[0])
    assert [t for _, t in lines][:3] == ["Detector.from_config", "Tracker", "tracker.track"]


# --------------------------------------------------------------------------------------
# nn.Module conventions (resolve_modules): forward, containers, wrappers
# --------------------------------------------------------------------------------------

VIT_FORWARD = "vitlite.vit.VisionTransformer.forward"


def test_calling_a_module_instance_runs_forward() -> None:
    g = fixture("resolve_modules")
    # Bases spelled nn.Module, torch.nn.Module and `from torch.nn import Module`.
    assert targets(g, "vitlite.layers.Block.forward", "self.attn") == ("vitlite.layers.Attention.forward",)
    assert targets(g, "vitlite.layers.Block.forward", "self.mlp") == ("vitlite.layers.Mlp.forward",)
    # A plain class with __call__ runs __call__.
    assert targets(g, VIT_FORWARD, "self.post") == ("vitlite.layers.Plain.__call__",)


def test_module_through_repo_base_class_and_super_forward() -> None:
    g = fixture("resolve_modules")
    assert targets(g, VIT_FORWARD, "blk") == ("vitlite.layers.ResidualBlock.forward",)
    assert targets(g, "vitlite.layers.ResidualBlock.forward", "super().forward") == ("vitlite.layers.Block.forward",)


def test_containers_iterated_or_indexed_run_the_forward_of_what_was_put_in() -> None:
    g = fixture("resolve_modules")
    # ModuleList of a list comprehension, iterated and indexed.
    call = site(g, VIT_FORWARD, "block")
    assert call.targets == ("vitlite.layers.Block.forward",)
    assert call.context == "for block in self.blocks"
    assert targets(g, VIT_FORWARD, "self.blocks[0]") == ("vitlite.layers.Block.forward",)
    # A plain list of two kinds: the union.
    assert targets(g, VIT_FORWARD, "stage") == ("vitlite.layers.Block.forward", "vitlite.layers.Mlp.forward")
    # Sequential runs every module it holds.
    assert targets(g, VIT_FORWARD, "self.neck") == ("vitlite.layers.Block.forward", "vitlite.layers.Head.forward")
    # ModuleDict values, through .items() in a comprehension and by key.
    assert targets(g, VIT_FORWARD, "head") == ("vitlite.layers.Head.forward", "vitlite.layers.Mlp.forward")
    # By a literal key, the entry of that key only (issue 13).
    assert targets(g, VIT_FORWARD, 'self.heads["cls"]') == ("vitlite.layers.Head.forward",)


def test_calling_a_sequential_of_library_modules_is_a_library_call(tmp_path: Path) -> None:
    (tmp_path / "block.py").write_text(
        "import torch.nn as nn\n"
        "\n"
        "\n"
        "class Block(nn.Module):\n"
        "    def __init__(self, width):\n"
        "        super().__init__()\n"
        "        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU())\n"
        "\n"
        "    def forward(self, x):\n"
        "        return x + self.mlp(x)\n"
    )
    g = build(tmp_path)
    call = site(g, "block.Block.forward", "self.mlp")
    assert call.targets == () and call.external == "torch.nn.Sequential.__call__"
    assert g.unresolved == []


def test_wrappers_keep_the_type() -> None:
    g = fixture("resolve_modules")
    main = "scripts.train.main"
    assert site(g, main, "model.to").external == "torch.nn.Module.to"
    assert targets(g, main, "compiled") == (VIT_FORWARD,)
    assert targets(g, main, "ddp") == (VIT_FORWARD,)
    assert targets(g, main, "ddp.module.forward") == (VIT_FORWARD,)
    assert targets(g, main, "dp.module") == (VIT_FORWARD,)
    assert site(g, main, "model.load_state_dict").external == "torch.nn.Module.load_state_dict"


def test_argument_types_flow_into_parameters() -> None:
    g = fixture("resolve_modules")
    call = site(g, "scripts.train.train", "model")
    assert call.targets == (VIT_FORWARD,)
    assert call.context == "for batch in data"


def test_container_method_calls_are_external() -> None:
    g = fixture("resolve_modules")
    init = "vitlite.vit.VisionTransformer.__init__"
    assert site(g, init, "self.extra.append").external == "torch.nn.ModuleList.append"
    assert site(g, init, "nn.ModuleList").external == "torch.nn.ModuleList"
    assert not g.unresolved


# --------------------------------------------------------------------------------------
# Registries and values (resolve_registry)
# --------------------------------------------------------------------------------------

BUILDERS = ("zoo.nets.convnext_tiny", "zoo.nets.resnet18")


def test_registry_dict_called_by_key_and_get() -> None:
    g = fixture("resolve_registry")
    assert targets(g, "zoo.factory.create", "builder") == BUILDERS
    assert targets(g, "zoo.factory.create", "BUILDERS.get(name)") == BUILDERS


def test_registry_filled_by_a_decorator() -> None:
    g = fixture("resolve_registry")
    # register_model stores fn in _ENTRYPOINTS: the decorated functions flow in.
    assert targets(g, "zoo.factory.create_registered", "_ENTRYPOINTS[name]") == BUILDERS
    assert targets(g, "zoo.nets", "register_model") == ("zoo.registry.register_model",)


def test_class_registry_with_register_method() -> None:
    g = fixture("resolve_registry")
    assert targets(g, "zoo.nets", 'HEADS.register("linear")') == ("zoo.registry.Registry.register.deco",)
    call = site(g, "zoo.factory.create_head", "head_cls")
    assert call.targets == ("zoo.nets.LinearHead",) and call.kind is EdgeKind.INSTANTIATES


def test_module_namespace_lookups_give_its_public_callables() -> None:
    g = fixture("resolve_registry")
    public = (
        "zoo.nets.ConvNeXt", "zoo.nets.LinearHead", "zoo.nets.ResNet", "zoo.nets.build_resnet",
        "zoo.nets.convnext_tiny", "zoo.nets.resnet18", "zoo.registry.register_model", "zoo.registry.timed",
    )
    assert targets(g, "zoo.factory.create_by_name", "nets.__dict__[name]") == public
    assert targets(g, "zoo.factory.create_by_name", "getattr(nets, name)") == public
    assert "zoo.nets._private_builder" not in public
    assert targets(g, "zoo.factory.create_by_name", 'getattr(nets, "resnet18")') == ("zoo.nets.resnet18",)


def test_aliases_partial_and_wraps_decorators() -> None:
    g = fixture("resolve_registry")
    assert targets(g, "zoo.factory.load", "small") == ("zoo.nets.resnet18",)
    assert targets(g, "zoo.factory.load", "deep") == ("zoo.nets.build_resnet",)
    assert targets(g, "zoo.factory.load", "deeper") == ("zoo.nets.build_resnet",)
    # @timed wraps with functools.wraps: calling build_resnet still reaches build_resnet.
    assert targets(g, "zoo.factory.load", "build_resnet") == ("zoo.nets.build_resnet",)
    assert targets(g, "zoo.registry.timed.wrapper", "fn") == ("zoo.nets.build_resnet",)
    assert not [s for s in g.calls.get("zoo.registry.timed", []) if s.targets]


def test_references_edges() -> None:
    g = fixture("resolve_registry")
    refs = edges(g, EdgeKind.REFERENCES)
    assert ("zoo.nets", "zoo.nets.resnet18") in refs  # alias and registry value
    assert ("zoo.nets", "zoo.nets.convnext_tiny") in refs
    assert ("zoo.factory.load", "zoo.nets.build_resnet") in refs  # partial(build_resnet, ...)


def test_returned_values_keep_types_through_tuples_and_calls() -> None:
    g = fixture("resolve_registry")
    # run(): `first, deep, deeper, plain = load("r")` unpacks a returned tuple.
    assert targets(g, "tools.evaluate.run", "deep") == ("zoo.nets.ResNet.forward",)
    assert targets(g, "tools.evaluate.run", "plain.forward") == ("zoo.nets.ResNet.forward",)
    # evaluate(model, ...) receives what create() returned: a union of the two builders' models.
    assert targets(g, "tools.evaluate.evaluate", "model") == ("zoo.nets.ConvNeXt.forward", "zoo.nets.ResNet.forward")
    assert not g.unresolved


# --------------------------------------------------------------------------------------
# src layout, main blocks, facts (resolve_src, resolve_modules)
# --------------------------------------------------------------------------------------


def test_src_layout_absolute_imports_and_calling_an_instance_with_call() -> None:
    g = fixture("resolve_src")
    assert targets(g, "scripts.sample", "Pipeline") == ("diffuse.pipeline.Pipeline",)
    assert targets(g, "scripts.sample", "pipe") == ("diffuse.pipeline.Pipeline.__call__",)
    assert targets(g, "scripts.sample", "diffuse.Pipeline()") == ("diffuse.pipeline.Pipeline.__call__",)
    loop = site(g, "diffuse.pipeline.Pipeline.__call__", "self.unet")
    assert loop.targets == ("diffuse.unet.UNet.forward",)
    assert loop.context == "for t in range(self.steps)"


def test_main_block_is_the_caller_of_its_calls() -> None:
    g = fixture("resolve_modules")
    assert targets(g, "scripts.train.__main__", "main") == ("scripts.train.main",)
    assert g.chunks["scripts.train.__main__"].kind is ChunkKind.MAIN
    assert "main" not in [s.text for s in g.calls.get("scripts.train", [])]


def test_facts_of_a_method() -> None:
    g = fixture("resolve_src")
    facts = g.facts["diffuse.unet.UNet.forward"]
    assert [p.name for p in facts.params] == ["self", "x", "t"]
    assert facts.returned == ("self.decode(h), self.config",)
    assert facts.raises == ("TypeError",)
    assert facts.writes == ("cache",)
    assert facts.reads == ("encode", "decode", "config")  # source order
    init = g.facts["diffuse.unet.UNet.__init__"]
    assert init.raises == ("ValueError",)
    assert init.writes == ("config", "dropout")
    assert g.facts["diffuse.unet.UNet.decode"].returns == '"torch.Tensor"'


def test_facts_attributes_set_by_unpacking_are_writes(tmp_path: Path) -> None:
    write_repo(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sampler.py": """
            class Sampler:
                def __init__(self, data, n_way, k_shot):
                    self.data, (self.n_way, self.k_shot) = data, (n_way, k_shot)
                    [self.rng] = [None]
                    self.table[0] = n_way
                    self.total = self.n_way * self.k_shot
        """,
    })
    facts = build(tmp_path).facts["pkg.sampler.Sampler.__init__"]
    assert facts.writes == ("data", "n_way", "k_shot", "rng", "total")
    assert facts.reads == ("table", "n_way", "k_shot")


def test_facts_of_a_class_are_its_constructor_parameters() -> None:
    g = fixture("resolve_src")
    unet = g.facts["diffuse.unet.UNet"]
    assert [(p.name, p.annotation, p.default, p.kind) for p in unet.params] == [
        ("config", "UNetConfig", None, "positional"),
        ("dropout", "float", "0.0", "positional"),
        ("layers", None, None, "var_positional"),
        ("scale", None, "1.0", "keyword_only"),
        ("extra", None, None, "var_keyword"),
    ]
    assert unet.constructed_by == ("diffuse.pipeline.Pipeline.__init__",)
    config = g.facts["diffuse.unet.UNetConfig"]  # a dataclass: its fields
    assert [(p.name, p.annotation, p.default) for p in config.params] == [
        ("channels", "int", "64"), ("depth", "int", "4"), ("name", "str", '"unet"'),
    ]
    assert g.facts["diffuse.pipeline.Pipeline"].constructed_by == ("scripts.sample",)
    assert set(g.facts) == set(g.chunks)


def _dump(root: Path, seed: str) -> str:
    """The graph of root built in a fresh interpreter with a given hash seed."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]);"
        "from test_graph import build; from pathlib import Path;"
        "g = build(Path(sys.argv[1]));"
        "print(repr([(k, v) for k, v in g.calls.items()]));"
        "print(repr(g.edges)); print(repr(g.unresolved)); print(repr(g.imports))"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run([sys.executable, "-c", code, str(root), str(Path(__file__).parent)],
                         capture_output=True, text=True, env=env, check=True)
    return out.stdout


@pytest.mark.parametrize("name", ["resolve_registry", "resolve_modules"])
def test_same_graph_in_every_process(name: str) -> None:
    """Str hashes differ per process; the graph must not."""
    assert _dump(FIXTURES / name, "1") == _dump(FIXTURES / name, "2")


def test_class_attributes_set_through_cls_in_a_classmethod() -> None:
    g = fixture("resolve_types")
    assert targets(g, "tracker.engine.TrackerSuite.test_track", "self.tracker.track") == (TRACK,)
    assert targets(g, "tracker.engine.TrackerSuite.check", "cls.tracker.rebuild") == (
        "tracker.engine.Tracker.rebuild",
    )


def test_a_call_on_an_unknown_value_returned_by_the_repo_is_not_counted() -> None:
    g = fixture("resolve_modules")
    # `loss = model(batch)`: forward returns a tuple of unknown tensors; loss.backward()
    # is not a call into the repository.
    call = site(g, "scripts.train.train", "loss.backward")
    assert call.targets == () and call.external is None
    assert call not in g.unresolved


def test_inherited_library_classmethod_constructor_returns_the_repo_class() -> None:
    g = fixture("resolve_modules")
    load = "vitlite.captioner.load_captioner"
    assert site(g, load, "Captioner.from_pretrained").external == "transformers.PreTrainedModel.from_pretrained"
    assert targets(g, load, "model.caption") == ("vitlite.captioner.Captioner.caption",)
    # transformers.PreTrainedModel is an nn.Module: calling the model runs forward.
    assert targets(g, load, "model") == ("vitlite.captioner.Captioner.forward",)
    assert targets(g, "vitlite.captioner.Captioner.caption", "self") == ("vitlite.captioner.Captioner.forward",)
