"""The facts card (localread.facts, data.FactsCard): what it holds for methods, classes
and modules of the example, its prompt text, and its JSON shape."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localread.cli import app
from localread.data import Callee, Caller, ChunkKind, FactsCard, Parameter
from localread.facts import facts_card, facts_text, parameter_text
from localread.repo.analysis import analyze
from localread.repo.tour import build_tour
from tests.helpers import EXAMPLE

# The keys of `explain --json`'s facts, in order (DESIGN.md); bases and methods only
# for classes, defines only for modules.
KEYS = [
    "id", "kind", "path", "start", "end", "signature", "decorators", "docstring", "parameters",
    "returns", "returned", "raises", "attributes_read", "attributes_written", "callers", "callees",
    "outline",
]


@pytest.fixture(scope="module")
def repo():
    return analyze(EXAMPLE)


def test_facts_card_of_a_method(repo) -> None:
    card = facts_card(repo, "segmenter.predictor.Segmenter.predict")
    assert card.kind is ChunkKind.METHOD
    assert card.signature == "def predict(self, point: np.ndarray, multimask: bool = True)"
    assert card.parameters == (
        Parameter("point", "np.ndarray", None),
        Parameter("multimask", "bool", "True"),
    )
    assert card.docstring == "Masks and quality scores for one clicked point."
    assert card.raises == ("RuntimeError",)
    assert card.returned == ("masks[0].numpy(), scores[0].numpy()",)
    assert set(card.attributes_read) >= {"features", "transform", "model", "original_size"}
    assert card.attributes_written == ()
    assert [c.id for c in card.callees] == [
        "segmenter.utils.transforms.ResizeLongestSide.apply_coords",
        "segmenter.modeling.encoder.PromptEncoder.forward",
        "segmenter.modeling.decoder.MaskDecoder.forward",
        "segmenter.predictor.Segmenter._postprocess",
    ]
    assert all(c.summary is None for c in card.callees)
    assert any("MaskDecoder.forward" in line for line in card.outline)
    # A method of a library value of unknown type is shown as written, not as a miss.
    assert "masks[0].numpy(...)" in card.outline
    assert card.callers[0].id == "scripts.demo.main"
    assert card.callers[0].at.startswith("scripts/demo.py:")
    assert card.bases is card.methods is card.defines is None


def test_facts_card_of_constructor_and_class(repo) -> None:
    init = facts_card(repo, "segmenter.predictor.Segmenter.__init__")
    assert init.attributes_written == ("model", "transform", "features")
    assert init.parameters[1] == Parameter("image_size", "int", "1024")
    cls = facts_card(repo, "segmenter.modeling.encoder.ImageEncoder")
    assert cls.methods == ("__init__", "forward")
    # A class card carries the parameters a caller passes to build one.
    assert [p.name for p in cls.parameters] == ["depth", "width", "patch"]
    assert "- parameters: `depth: int = 4`" in facts_text(cls)
    text = facts_text(facts_card(repo, "segmenter.modeling.encoder.ImageEncoder.forward"))
    assert "- calls, in order:" in text
    assert "for block in self.blocks" in text


def test_facts_card_of_a_module_lists_what_it_defines(repo) -> None:
    card = facts_card(repo, "segmenter.predictor")
    assert card.kind is ChunkKind.MODULE and card.bases is None
    assert card.defines == ("Segmenter",)  # what the module itself holds, not the methods
    assert "- defines: `Segmenter`" in facts_text(card)


def test_facts_card_of_star_parameters_and_unpacked_attributes(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(
        "class Net:\n"
        "    def __init__(self, *layers, scale: float = 1.0, **options):\n"
        "        self.layers, self.options = layers, options\n"
        "        self.scale = scale * self.gain\n"
        "\n"
        "    @classmethod\n"
        "    def build(cls, cfg):\n"
        "        return cls(cfg.depth)\n"
    )
    repo = analyze(tmp_path)
    init = facts_card(repo, "net.Net.__init__")
    assert init.parameters == (
        Parameter("*layers", None, None),
        Parameter("scale", "float", "1.0"),
        Parameter("**options", None, None),
    )
    assert [parameter_text(p) for p in init.parameters] == ["*layers", "scale: float = 1.0", "**options"]
    assert init.attributes_written == ("layers", "options", "scale")
    assert init.attributes_read == ("gain",)
    build = facts_card(repo, "net.Net.build")
    assert [p.name for p in build.parameters] == ["cfg"]
    assert build.returned == ("cls(cfg.depth)",)
    assert build.decorators == ("classmethod",)


def test_place_on_the_reading_path(repo) -> None:
    tour = build_tour(repo, repo.entries[0])
    card = facts_card(repo, "segmenter.predictor.Segmenter.predict", tour)
    assert card.reading_path.startswith("step ")
    assert "on the reading path from scripts/demo.py" in card.reading_path
    assert facts_card(repo, "segmenter.predictor.Segmenter.predict").reading_path is None


def test_summaries_make_a_new_card_and_leave_the_old_one_as_it_was(repo) -> None:
    card = facts_card(repo, "segmenter.predictor.Segmenter.predict")
    said = {"segmenter.modeling.decoder.MaskDecoder.forward": "Predicts masks.", "elsewhere.f": "Not a callee."}
    told = card.with_summaries(said)
    assert told is not card and all(c.summary is None for c in card.callees)
    assert [c.summary for c in told.callees] == [None, None, "Predicts masks.", None]
    assert dataclasses.replace(told, callees=card.callees) == card  # nothing else changed
    # Summaries replace what the card had: a callee no longer known has none.
    assert all(c.summary is None for c in told.with_summaries({}).callees)
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.docstring = "changed"  # type: ignore[misc]


def test_json_shape_keys_in_order(repo) -> None:
    method = facts_card(repo, "segmenter.predictor.Segmenter.predict").to_json()
    assert list(method) == [*KEYS, "reading_path"]
    assert method["parameters"][0] == {"name": "point", "annotation": "np.ndarray", "default": None}
    assert list(method["callees"][0]) == ["id", "at", "summary"]
    assert list(method["callers"][0]) == ["id", "at"]
    cls = facts_card(repo, "segmenter.modeling.encoder.ImageEncoder").to_json()
    assert list(cls) == [*KEYS, "bases", "methods", "reading_path"]
    module = facts_card(repo, "segmenter.predictor").to_json()
    assert list(module) == [*KEYS, "defines", "reading_path"]
    assert json.loads(json.dumps(module)) == module  # plain JSON values only


def test_cli_json_is_the_card_with_the_stored_summaries(repo) -> None:
    result = CliRunner().invoke(app, ["explain", str(EXAMPLE), "Segmenter.predict", "--no-llm", "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)["facts"]
    assert list(facts) == [*KEYS, "reading_path"]  # no `condensed`: no prompt was built
    card = facts_card(repo, "segmenter.predictor.Segmenter.predict")
    assert {k: v for k, v in facts.items() if k != "reading_path"} == {
        k: v for k, v in card.to_json().items() if k != "reading_path"
    }


def test_cards_are_plain_values() -> None:
    card = FactsCard(
        id="m.f", kind=ChunkKind.FUNCTION, path="m.py", start=1, end=2, signature="def f()",
        decorators=(), docstring=None, parameters=(), returns=None, returned=(), raises=(),
        attributes_read=(), attributes_written=(), callers=(Caller("m.g", "m.py:9"),),
        callees=(Callee("m.h", "m.py:2"),), outline=("h(...) -> h",), reading_path=None,
    )
    assert card == dataclasses.replace(card) and hash(card) == hash(dataclasses.replace(card))
    assert facts_text(card) == "- signature: `def f()`\n- calls, in order: `h(...) -> h`\n- called by: `m.g` (m.py:9)"
