"""explain: facts card, targets, grounding, the CLI, and the real default model."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localread.cli import app
from localread.errors import LocalreadError
from localread.explain import explain_chunk, first_sentence, narrate_tour
from localread.facts import facts_card, facts_text
from localread.grounding import repo_identifiers, unverified_names
from localread.llm.engine import FakeEngine
from localread.repo.analysis import analyze
from localread.repo.tour import build_tour
from localread.targets import resolve_target
from tests.helpers import EXAMPLE

runner = CliRunner()


@pytest.fixture(scope="module")
def repo():
    return analyze(EXAMPLE)


def test_facts_card_of_a_method(repo) -> None:
    card = facts_card(repo, "segmenter.predictor.Segmenter.predict")
    assert card["signature"] == "def predict(self, point: np.ndarray, multimask: bool = True)"
    assert card["parameters"] == [
        {"name": "point", "annotation": "np.ndarray", "default": None},
        {"name": "multimask", "annotation": "bool", "default": "True"},
    ]
    assert card["docstring"] == "Masks and quality scores for one clicked point."
    assert card["raises"] == ["RuntimeError"]
    assert card["returned"] == ["masks[0].numpy(), scores[0].numpy()"]
    assert set(card["attributes_read"]) >= {"features", "transform", "model", "original_size"}
    assert card["attributes_written"] == []
    callees = [c["id"] for c in card["callees"]]
    assert callees == [
        "segmenter.utils.transforms.ResizeLongestSide.apply_coords",
        "segmenter.modeling.encoder.PromptEncoder.forward",
        "segmenter.modeling.decoder.MaskDecoder.forward",
        "segmenter.predictor.Segmenter._postprocess",
    ]
    assert any("MaskDecoder.forward" in line for line in card["outline"])
    assert card["callers"][0]["id"] == "scripts.demo.main"
    assert card["callers"][0]["at"].startswith("scripts/demo.py:")


def test_facts_card_of_constructor_and_class(repo) -> None:
    init = facts_card(repo, "segmenter.predictor.Segmenter.__init__")
    assert init["attributes_written"] == ["model", "transform", "features"]
    assert init["parameters"][1] == {"name": "image_size", "annotation": "int", "default": "1024"}
    cls = facts_card(repo, "segmenter.modeling.encoder.ImageEncoder")
    assert cls["methods"] == ["__init__", "forward"]
    text = facts_text(facts_card(repo, "segmenter.modeling.encoder.ImageEncoder.forward"))
    assert "- calls, in order:" in text
    assert "for block in self.blocks" in text


def test_place_on_the_reading_path(repo) -> None:
    tour = build_tour(repo, repo.entries[0])
    card = facts_card(repo, "segmenter.predictor.Segmenter.predict", tour)
    assert card["reading_path"].startswith("step ")
    assert "on the reading path from scripts/demo.py" in card["reading_path"]


def test_targets(repo) -> None:
    assert resolve_target(repo, "segmenter.predictor.Segmenter.predict").id == "segmenter.predictor.Segmenter.predict"
    assert resolve_target(repo, "Segmenter.predict").id == "segmenter.predictor.Segmenter.predict"
    assert resolve_target(repo, str(EXAMPLE / "segmenter/predictor.py")).id == "segmenter.predictor"
    line = repo.chunks["segmenter.predictor.Segmenter.predict"].start + 2
    assert resolve_target(repo, f"{EXAMPLE}/segmenter/predictor.py:{line}").id == "segmenter.predictor.Segmenter.predict"
    with pytest.raises(LocalreadError, match="ambiguous: 5 symbols match"):
        resolve_target(repo, "forward")
    with pytest.raises(LocalreadError, match="did you mean .*Segmenter.predict"):
        resolve_target(repo, "Segmenter.predikt")
    with pytest.raises(LocalreadError, match="the file has"):
        resolve_target(repo, f"{EXAMPLE}/segmenter/predictor.py:9999")


def test_grounding_flags_invented_names_only(repo) -> None:
    known = repo_identifiers(repo)
    text = (
        "`Segmenter.predict` calls self.model.decoder and _postprocess, e.g. on demo.py; "
        "then it runs `refine_masks` and HyperNetwork.decode(x)."
    )
    assert unverified_names(text, known) == ["HyperNetwork.decode", "refine_masks"]
    assert unverified_names("It resizes the image and returns masks.", known) == []


def test_explain_plumbing_with_fake_engine(repo) -> None:
    engine = FakeEngine()
    engine.enqueue(" resizes the point with `apply_coords` and calls `magic_head`.\n\nExtra")
    chunk = repo.chunks["segmenter.predictor.Segmenter.predict"]
    pieces: list[str] = []
    result = explain_chunk(repo, chunk, engine, max_tokens=64, on_text=pieces.append,
                           summaries={"segmenter.predictor.Segmenter._postprocess": "upsamples masks"})
    assert result.narrative == "`predict` resizes the point with `apply_coords` and calls `magic_head`."
    assert "".join(pieces).strip() == result.narrative
    assert result.unverified == ("magic_head",)
    prompt = engine.history[0].prompt
    assert "- raises: `RuntimeError`" in prompt
    assert "upsamples masks" in prompt
    assert "def predict(self, point: np.ndarray, multimask: bool = True):" in prompt


def test_narrated_tour_remembers_what_was_read(repo) -> None:
    tour = build_tour(repo, repo.entries[0], max_steps=3)
    engine = FakeEngine()
    engine.enqueue(*[f" is step {n}. More words." for n in range(1, len(tour.steps) + 1)])
    done = narrate_tour(repo, tour, engine, max_tokens=32)
    assert list(done) == [s.id for s in tour.steps]
    second = engine.history[1].prompt
    assert "Already read, in order:" in second
    assert f"`{tour.steps[0].id}`: `{tour.steps[0].id.rsplit('.', 1)[-1]}` is step 1." in second
    assert first_sentence("One two. Three.") == "One two."


def test_cli_explain_no_llm_json(repo) -> None:
    result = runner.invoke(app, ["explain", str(EXAMPLE), "Segmenter.set_image", "--no-llm", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"id", "path", "start", "end", "facts", "narrative", "unverified", "model", "prompt_version"}
    assert data["id"] == "segmenter.predictor.Segmenter.set_image"
    assert data["path"] == "segmenter/predictor.py"
    assert data["narrative"] == ""
    assert data["facts"]["attributes_written"] == ["original_size", "features"]


def test_cli_explain_human_no_llm() -> None:
    result = runner.invoke(app, ["explain", str(EXAMPLE), "build_model", "--no-llm"])
    assert result.exit_code == 0, result.output
    assert "segmenter.modeling.build.build_model" in result.stdout
    assert "raises" in result.stdout and "KeyError" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explain", str(EXAMPLE), "Nope.nothing", "--no-llm"], "no symbol or file 'Nope.nothing'"),
        (["explain", str(EXAMPLE), "forward", "--no-llm"], "ambiguous"),
        (["explain", "/nonexistent/repo", "x", "--no-llm"], "no such folder"),
    ],
)
def test_cli_explain_bad_targets(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_explain_usage_error() -> None:
    result = runner.invoke(app, ["explain", "a", "b", "c"])
    assert result.exit_code == 2


def test_no_model_available_says_how_to_get_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["explain", str(EXAMPLE), "build_model", "--model", "qwen2.5-coder-1.5b"])
    assert result.exit_code == 1
    assert "localread models pull" in result.stderr or "models import" in result.stderr


def test_ctrl_c_during_generation_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    class Interrupting(FakeEngine):
        def stream(self, prompt, max_tokens, stop=()):  # type: ignore[override]
            raise KeyboardInterrupt

    engine = Interrupting()
    monkeypatch.setattr("localread.llm.engine.open_engine", lambda settings, **kw: engine)
    result = runner.invoke(app, ["explain", str(EXAMPLE), "build_model"])
    assert result.exit_code == 130
    assert engine.closed


@pytest.mark.model
def test_explain_with_the_real_model_offline(model_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(self, address):  # the test fails if anything tries to connect
        raise AssertionError(f"network access to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    result = runner.invoke(app, ["explain", str(EXAMPLE), "Segmenter.predict", "--json", "--offline"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["narrative"].startswith("`predict`")
    assert len(data["narrative"]) > len("`predict`") + 10
    assert data["model"]["name"] == "gemma3-270m"
    assert len(data["model"]["sha256"]) == 64
    assert data["facts"]["raises"] == ["RuntimeError"]
    assert isinstance(data["unverified"], list)
    known = repo_identifiers(analyze(EXAMPLE))
    assert data["unverified"] == unverified_names(data["narrative"], known)
    again = json.loads(runner.invoke(app, ["explain", str(EXAMPLE), "Segmenter.predict", "--json", "--offline"]).stdout)
    assert again["narrative"] == data["narrative"]  # temperature 0, fixed seed


@pytest.mark.model
def test_narrated_tour_with_the_real_model(model_store: Path) -> None:
    result = runner.invoke(app, ["tour", str(EXAMPLE), "--json", "--max-steps", "3"])
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)["steps"]
    assert steps and all(isinstance(s["explanation"], str) and s["explanation"] for s in steps)
    human = runner.invoke(app, ["tour", str(EXAMPLE), "--max-steps", "2"])
    assert human.exit_code == 0
    assert "1. scripts.demo" in human.stdout
