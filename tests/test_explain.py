"""explain: targets, grounding, narratives and their checks, the CLI, and the real
default model. The facts card itself: tests/test_facts.py."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localread.cli import app
from localread.data import NarrativeSource
from localread.errors import LocalreadError
from localread.explain import explain_chunk, explain_json, narrate_tour
from localread.grounding import find_repeat, repo_identifiers, unverified_names
from localread.llm.models import ChatStyle
from localread.llm.prompts import worked_examples
from localread.repo.analysis import analyze
from localread.repo.tour import Tour, build_tour
from localread.targets import resolve_target
from tests.fakes import FakeEngine
from tests.helpers import EXAMPLE

runner = CliRunner()


@pytest.fixture(scope="module")
def repo():
    return analyze(EXAMPLE)


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
    engine = FakeEngine(chat_style=ChatStyle.CHAT)  # the completion template does not list them
    engine.enqueue(*[f"It is step {n}. More words." for n in range(1, len(tour.steps) + 1)])
    done = narrate_tour(repo, tour, engine, max_tokens=32)
    assert list(done) == [s.id for s in tour.steps]
    second = engine.history[1].prompt
    assert "Already read, in order:" in second
    assert f"`{tour.steps[0].id}`: It is step 1." in second


# --------------------------------------------------------------------------- copies

# What Gemma 3 270M answered for the demo's `MaskDecoder` class and `Segmenter`
# class, with the templates of prompt versions 2 and 1: worked examples, word for word.
COPY_OF_CLASS_EXAMPLE = (
    "`MaskDecoder` is a small network that converts a mel spectrogram into sound. Its constructor "
    "builds two layers, `self.pre` and `self.up`; `forward` applies them in turn and squeezes the "
    "result into a batch of waveforms."
)
COPY_OF_V1_EXAMPLE = (
    "`Segmenter` reads the image stored at `path`, converts it to RGB, scales it with `resize_image` "
    "so that its short side is `size` pixels, and turns it into a tensor with `to_tensor`. It returns "
    "that tensor, ready to be fed to a model."
)
V1_EXAMPLE = (
    "`load_image` reads the picture stored at `path`, converts it to RGB, scales it with `resize_image` "
    "so that its short side is `size` pixels, and turns it into a tensor with `to_tensor`. It returns "
    "that tensor, ready to be fed to a model."
)
# Its own answers for other steps of the same tour: explanations, not copies.
OWN_ANSWERS = [
    (
        "`main` calls `parse_args()` and `build_model()` to parse the arguments and build the model, "
        "respectively. It calls `segmenter()` to predict the image and `segmenter.predict()` to predict the mask."
    ),
    (
        "`Block` is a pre-norm transformer block. It uses the same layers as the "
        "`segmenter.modeling.encoder.ImageEncoder` layer."
    ),
    (
        "`forward` calls `self.norm1(x)`. It uses the `self.attn(h, h, h, need_weights=False)` layer-wise "
        "to get the output."
    ),
    "`build_model` is a function that builds a registered model by name and optionally loads weights.",
]


def test_repeat_detector_on_the_real_templates() -> None:
    examples = worked_examples(ChatStyle.COMPLETION)
    repeat = find_repeat(COPY_OF_CLASS_EXAMPLE, examples)
    assert repeat is not None and repeat.reference == examples[0] and repeat.share > 0.9
    old = find_repeat(COPY_OF_V1_EXAMPLE, [V1_EXAMPLE])
    assert old is not None and old.share > 0.8  # "image" for "picture"
    for answer in OWN_ANSWERS:
        assert find_repeat(answer, [*examples, V1_EXAMPLE]) is None, answer
    # Quoting a callee's summary in one clause is not a copy; saying only that is.
    said = "crops the image and predicts masks for each crop box"
    assert find_repeat(f"`generate` {said}.", [said]) is not None
    assert find_repeat(f"`generate` resizes the input, then {said}, and keeps the largest ones.", [said]) is None
    assert find_repeat("`f` runs.", examples) is None  # too short to repeat anything


def _copy_answer() -> str:
    """The class example's answer as a completion of "Explanation: `name`"."""
    return " " + worked_examples(ChatStyle.COMPLETION)[0].split("` ", 1)[1]


def test_a_copy_is_retried_without_examples_and_never_shown(repo) -> None:
    chunk = repo.chunks["segmenter.predictor.Segmenter"]
    engine = FakeEngine()
    engine.enqueue(_copy_answer(), " keeps the image embedding so that many prompts are cheap.")
    pieces: list[str] = []
    result = explain_chunk(repo, chunk, engine, max_tokens=64, on_text=pieces.append)
    assert result.source is NarrativeSource.RETRY
    assert result.narrative == "`Segmenter` keeps the image embedding so that many prompts are cheap."
    assert "".join(pieces).strip() == result.narrative  # the copy never reached the reader
    assert result.rejected == ("repeated a worked example of the prompt (100% of its 4-word phrases)",)
    first, retry = (call.prompt for call in engine.history)
    assert "Explanation: `Vocoder`" in first and "Explanation: `Vocoder`" not in retry
    assert retry.endswith("Explanation: `Segmenter`")


def test_two_copies_fall_back_to_the_static_explanation(repo) -> None:
    chunk = repo.chunks["segmenter.predictor.Segmenter"]
    engine = FakeEngine()
    engine.enqueue(_copy_answer(), " builds `self.pre` and `self.up` and applies them to the image in turn.")
    pieces: list[str] = []
    result = explain_chunk(repo, chunk, engine, max_tokens=64, on_text=pieces.append)
    assert result.source is NarrativeSource.STATIC and result.narrative == "" and pieces == []
    assert result.rejected[1] == "named `pre`, `up` from a worked example of the prompt"
    data = explain_json(repo, result)
    assert data["source"] == "static" and data["narrative"] == "" and len(data["rejected"]) == 2
    assert data["facts"]["docstring"]  # the facts stand alone


def test_cli_says_when_the_model_copied(monkeypatch: pytest.MonkeyPatch) -> None:
    def copying_engine(settings, **kw) -> FakeEngine:
        engine = FakeEngine()
        engine.enqueue(*[_copy_answer()] * 80)
        return engine

    monkeypatch.setattr("localread.llm.engine.open_engine", copying_engine)
    human = runner.invoke(app, ["explain", str(EXAMPLE), "Segmenter"])
    assert human.exit_code == 0, human.output
    assert "mel spectrogram" not in human.stdout
    assert "facts only: the model's answer repeated a worked example of the prompt" in " ".join(human.stdout.split())
    data = json.loads(runner.invoke(app, ["explain", str(EXAMPLE), "Segmenter", "--json"]).stdout)
    assert data["source"] == "static" and data["narrative"] == ""
    tour = runner.invoke(app, ["tour", str(EXAMPLE), "--max-steps", "3", "--json"])
    steps = json.loads(tour.stdout)["steps"]
    assert all(s["explanation"] is None and s["explanation_source"] == "static" for s in steps)
    assert all(s["rejected"][0].startswith("repeated a worked example") for s in steps)
    shown = runner.invoke(app, ["tour", str(EXAMPLE), "--max-steps", "3"])
    assert "mel spectrogram" not in shown.stdout and shown.stdout.count("facts only:") == 3


def test_looping_answers_are_tidied(repo) -> None:
    chunk = repo.chunks["segmenter.modeling.encoder.PromptEncoder.forward"]
    engine = FakeEngine()
    engine.enqueue(" maps points to features. It maps points to features. It maps points to features.",
                   " calls `self.gaussian` and `projected.sin()` and `self.gaussian` and `projected.sin()`"
                   " and `self.gaussian` and `projected.sin()` and `self.gaussian`")
    assert explain_chunk(repo, chunk, engine, max_tokens=64).narrative == "`forward` maps points to features."
    looped = explain_chunk(repo, chunk, engine, max_tokens=64).narrative
    assert looped == "`forward` calls `self.gaussian` and `projected.sin()` and ..."


def test_cli_explain_no_llm_json(repo) -> None:
    result = runner.invoke(app, ["explain", str(EXAMPLE), "Segmenter.set_image", "--no-llm", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {
        "id", "path", "start", "end", "facts", "narrative", "unverified", "model", "prompt_version", "source", "rejected",
    }  # fmt: skip
    assert data["source"] == "static" and data["rejected"] == []
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
def test_real_model_classes_and_forward_methods_are_not_copies(repo, default_engine) -> None:
    """The demo tour's classes and forward methods, which Gemma 3 270M used to answer
    with the prompt's worked example; each narrated step is an explanation of its own
    or, marked as such, the facts alone."""
    tour = build_tour(repo, repo.entries[0])
    picked = [s for s in tour.steps if s.kind == "class" or s.id.endswith(".forward")]
    assert {"segmenter.predictor.Segmenter", "segmenter.modeling.decoder.MaskDecoder.forward"} <= {s.id for s in picked}
    done = narrate_tour(repo, Tour(tour.entry, picked), default_engine, max_tokens=256)
    examples = [*worked_examples(ChatStyle.COMPLETION), V1_EXAMPLE]
    for step in picked:
        explanation = done[step.id]
        assert find_repeat(explanation.narrative, examples) is None, (step.id, explanation.narrative)
        if explanation.source is NarrativeSource.STATIC:
            assert explanation.narrative == "" and explanation.rejected
        else:
            assert explanation.narrative.startswith(f"`{step.id.rsplit('.', 1)[-1]}` ")
            assert len(explanation.narrative.split()) >= 5
    assert sum(e.source is NarrativeSource.STATIC for e in done.values()) <= len(picked) // 2


@pytest.mark.model
def test_narrated_tour_with_the_real_model(model_store: Path) -> None:
    result = runner.invoke(app, ["tour", str(EXAMPLE), "--json", "--max-steps", "3"])
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)["steps"]
    assert steps and all(isinstance(s["explanation"], str) and s["explanation"] for s in steps)
    human = runner.invoke(app, ["tour", str(EXAMPLE), "--max-steps", "2"])
    assert human.exit_code == 0
    assert "1. scripts.demo" in human.stdout
