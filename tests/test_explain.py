"""explain: targets, grounding, narratives and their checks, the CLI, and the real
default model. The facts card itself: tests/test_facts.py."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localread.agreement import SAMPLES
from localread.cli import app
from localread.data import NarrativeSource
from localread.describe import describe
from localread.errors import LocalreadError
from localread.explain import explain_chunk, explain_json, narrate_tour
from localread.facts import facts_card
from localread.grounding import find_repeat, repo_identifiers, unverified_names
from localread.llm.engine import Prompt
from localread.llm.models import ChatStyle
from localread.llm.prompts import templates, worked_examples
from localread.quality import check, subject_for
from localread.render.terminal import rejected_text
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
    engine.enqueue("Embed the image patches and run them through every block and `magic_head`.\n\nExtra")
    chunk = repo.chunks["segmenter.modeling.encoder.ImageEncoder.forward"]
    pieces: list[str] = []
    result = explain_chunk(repo, chunk, engine, max_tokens=256, on_text=pieces.append,
                           summaries={"segmenter.modeling.encoder.Block.forward": "applies attention then an MLP"})
    assert result.source is NarrativeSource.MODEL and result.from_model
    assert result.narrative == "Embed the image patches and run them through every block and `magic_head`."
    assert "".join(pieces) == result.narrative
    assert result.unverified == ("magic_head",)
    assert result.description.startswith("For each `block` in `self.blocks`, calls `Block.forward`.")
    prompt = engine.history[0].prompt
    assert "# - `segmenter.modeling.encoder.Block.forward`: applies attention then an MLP" in prompt
    assert prompt.endswith('# Code: `segmenter.modeling.encoder.ImageEncoder.forward` (method), documented:\n'
                           '    def forward(self, image):\n        """')
    assert engine.history[0].max_tokens == 64  # one line of purpose, not a page


def test_a_documented_chunk_needs_no_model(repo) -> None:
    engine = FakeEngine()  # nothing enqueued: a model call would fail
    result = explain_chunk(repo, repo.chunks["segmenter.predictor.Segmenter.predict"], engine, max_tokens=64)
    assert result.source is NarrativeSource.DOCSTRING and not engine.history
    assert result.narrative == result.description
    assert result.narrative.startswith("Masks and quality scores for one clicked point. Calls ")


def test_narrated_tour_remembers_what_was_read(repo) -> None:
    picked = ["segmenter.modeling.build._build", "segmenter.modeling.decoder.MaskDecoder",
              "segmenter.utils.transforms.ResizeLongestSide"]
    full = build_tour(repo, repo.entries[0], max_steps=40)
    tour = Tour(full.entry, [s for s in full.steps if s.id in picked])
    engine = FakeEngine(chat_style=ChatStyle.CHAT)  # the completion template does not list them
    engine.enqueue("It builds the encoder and the decoder models.", "It decodes masks from the image tokens.",
                   "It resizes the longest side of each image.")
    done = narrate_tour(repo, tour, engine, max_tokens=32)
    assert list(done) == [s.id for s in tour.steps] and all(e.from_model for e in done.values())
    second = engine.history[1].prompt
    assert "Already read, in order:" in second
    assert f"`{tour.steps[0].id}`: It builds the encoder and the decoder models." in second


# --------------------------------------------------------------------------- the gate

# How Gemma 3 270M answered the demo's `MaskDecoder` class with prompt version 2 (its
# worked example, word for word), told with version 3's example: a copy of the
# greenhouse, whose words are nowhere in the code.
COPY_OF_EXAMPLE = "Rows of decoder beds whose vents open when the air inside the masks gets too hot."
_DECODER = "segmenter.modeling.decoder.MaskDecoder"


def test_an_answer_that_fails_the_gate_is_asked_again_and_never_shown(repo) -> None:
    chunk = repo.chunks[_DECODER]
    engine = FakeEngine()
    engine.enqueue("Boil the kettle and pour the water over the masks.", "Decode masks from the image embedding tokens.")
    pieces: list[str] = []
    result = explain_chunk(repo, chunk, engine, max_tokens=64, on_text=pieces.append)
    assert result.source is NarrativeSource.RETRY
    assert result.narrative == "Decode masks from the image embedding tokens."
    assert pieces == [result.narrative]  # the rejected answer never reached the reader
    assert result.rejected == ("took “boil”, “kettle”, “pour”, “water” from a worked example of the prompt, not from the code",)
    first, retry = (call.prompt for call in engine.history)
    assert "kettle" in first and "kettle" not in retry  # the retry prompt has no examples
    assert retry.endswith("class MaskDecoder(nn.Module):\n    \"\"\"")


def test_an_answer_its_samples_do_not_bear_out_is_asked_again(repo) -> None:
    chunk = repo.chunks[_DECODER]
    engine = FakeEngine()
    guess = "Decodes the text of a sentence into a list of words."
    engine.enqueue(guess, "Predicts masks from the image embedding and the prompt tokens.")
    engine.enqueue_samples("Turns image features into masks.", "Loads the weights of a checkpoint.",
                           "Scores each mask of the image.")
    engine.enqueue_samples("Predicts the masks from the image embedding and prompt tokens.",
                           "Predicts masks from image embeddings and the prompt tokens.",
                           "Predicts masks and their quality from the prompt tokens.")
    pieces: list[str] = []
    result = explain_chunk(repo, chunk, engine, max_tokens=64, on_text=pieces.append)
    # The first answer passed the gate, but its samples said other things: a guess,
    # never shown. The retry prompt's answer is borne out by its samples.
    assert result.source is NarrativeSource.RETRY and pieces == [result.narrative]
    assert result.narrative == "Predicts masks from the image embedding and the prompt tokens."
    assert len(result.rejected) == 1 and result.rejected[0].startswith("is a guess: the model's own answers")
    first, *rest = (call.prompt for call in engine.history)
    assert len(rest) == SAMPLES + 1 + SAMPLES and rest[:SAMPLES] == [first] * SAMPLES and rest[SAMPLES] != first
    assert rejected_text(result).endswith("; the line shown is the second answer")
    assert explain_json(repo, result)["rejected"] == list(result.rejected)


def test_two_failures_fall_back_to_the_static_description(repo) -> None:
    chunk = repo.chunks[_DECODER]
    engine = FakeEngine()
    engine.enqueue(COPY_OF_EXAMPLE, "")
    pieces: list[str] = []
    result = explain_chunk(repo, chunk, engine, max_tokens=64, on_text=pieces.append)
    assert result.source is NarrativeSource.STATIC and pieces == []
    assert result.narrative == result.description == describe(repo, chunk, result.facts)
    assert result.rejected[0].startswith("took “air”, “bed”, “hot”, “vent”") and result.rejected[1] == "empty"
    data = explain_json(repo, result)
    assert data["source"] == "static" and data["narrative"] == data["description"] and len(data["rejected"]) == 2
    # Told as a sentence: "it is empty", as "it is a guess" is.
    note = rejected_text(result)
    assert note.startswith("the model's answer took “air”") and "; asked again with another prompt, it is empty;" in note


def test_cli_says_when_the_gate_rejected_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def copying_engine(settings, **kw) -> FakeEngine:
        engine = FakeEngine()
        engine.enqueue(*[COPY_OF_EXAMPLE] * 80)
        return engine

    monkeypatch.setattr("localread.llm.engine.open_engine", copying_engine)
    human = runner.invoke(app, ["explain", str(EXAMPLE), "MaskDecoder"])
    assert human.exit_code == 0, human.output
    assert "vents" not in human.stdout
    flat = " ".join(human.stdout.split())
    assert "does: A subclass of `nn.Module`." in flat and "facts only: the model's answer took “air”" in flat
    data = json.loads(runner.invoke(app, ["explain", str(EXAMPLE), "MaskDecoder", "--json"]).stdout)
    assert data["source"] == "static" and data["narrative"] == data["description"]
    tour = runner.invoke(app, ["tour", str(EXAMPLE), "--max-steps", "5", "--json"])
    steps = json.loads(tour.stdout)["steps"]
    assert all(s["explanation"] == s["description"] and s["explanation"] for s in steps)
    assert all(s["explanation_source"] in ("static", "docstring") and s["unverified"] == [] for s in steps)
    assert all(s["rejected"][0].startswith("took") for s in steps if s["explanation_source"] == "static")
    assert any(s["explanation_source"] == "static" for s in steps)
    shown = runner.invoke(app, ["tour", str(EXAMPLE), "--max-steps", "5"])
    assert "vents" not in shown.stdout and "facts only:" in shown.stdout


def test_cli_marks_the_model_line_as_the_models(monkeypatch: pytest.MonkeyPatch) -> None:
    # The gate checks names, topic and call relations, not meaning: a line that passed
    # it is shown as the model's guess, above the static description.
    def engine(settings, **kw) -> FakeEngine:
        fake = FakeEngine()
        fake.enqueue("Decode masks and their quality scores from the image embedding tokens.")
        return fake

    monkeypatch.setattr("localread.llm.engine.open_engine", engine)
    human = runner.invoke(app, ["explain", str(EXAMPLE), "MaskDecoder"])
    assert human.exit_code == 0, human.output
    flat = " ".join(human.stdout.split())
    assert "model's guess: Decode masks and their quality scores from the image embedding tokens. does: A subclass" in flat


def test_looping_answers_are_tidied_or_rejected(repo) -> None:
    chunk = repo.chunks["segmenter.modeling.encoder.PromptEncoder.forward"]
    engine = FakeEngine()
    engine.enqueue("Map click points to features. Map click points to features. Map click points to features.",
                   "Project the points with `self.gaussian` and `projected.sin()` and `self.gaussian` and `projected.sin()`"
                   " and `self.gaussian` and `projected.sin()` and `self.gaussian`", "segmenter.segmenter.segmenter.segmenter")
    assert explain_chunk(repo, chunk, engine, max_tokens=64).narrative == "Map click points to features."
    looped = explain_chunk(repo, chunk, engine, max_tokens=64)
    assert looped.source is NarrativeSource.STATIC and looped.rejected[0].startswith("degenerate")


def test_a_sentence_said_again_under_another_subject_is_kept_once(repo) -> None:
    # Seen in the demo's narrated tour with the default model, for `segmenter.modeling`.
    chunk = repo.chunks["segmenter.modeling.encoder.PromptEncoder.forward"]
    engine = FakeEngine()
    engine.enqueue("This method is used to map click points to features. It is used to map click points to features.",
                   "It maps click points to features. It returns the features of the points.")
    assert explain_chunk(repo, chunk, engine, max_tokens=64).narrative == (
        "This method is used to map click points to features."
    )
    # One line of purpose: a second sentence, said again or not, is not kept.
    assert explain_chunk(repo, chunk, engine, max_tokens=64).narrative == "It maps click points to features."


def test_cli_explain_no_llm_json(repo) -> None:
    result = runner.invoke(app, ["explain", str(EXAMPLE), "Segmenter.set_image", "--no-llm", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {
        "id", "path", "start", "end", "facts", "narrative", "description", "unverified", "model", "prompt_version",
        "source", "rejected",
    }  # fmt: skip
    assert data["source"] == "static" and data["rejected"] == []
    assert data["id"] == "segmenter.predictor.Segmenter.set_image"
    assert data["path"] == "segmenter/predictor.py"
    assert data["narrative"] == data["description"]
    assert data["narrative"].startswith("Resize and normalise the image, then compute its embedding once. Calls ")
    assert data["facts"]["attributes_written"] == ["original_size", "features"]


def test_cli_explain_human_no_llm() -> None:
    result = runner.invoke(app, ["explain", str(EXAMPLE), "build_model", "--no-llm"])
    assert result.exit_code == 0, result.output
    assert "segmenter.modeling.build.build_model" in result.stdout
    assert "raises" in result.stdout and "KeyError" in result.stdout
    assert "does: Build a registered model by name" in " ".join(result.stdout.split())


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
    result = runner.invoke(app, ["explain", str(EXAMPLE), "_build"])
    assert result.exit_code == 130
    assert engine.closed


@pytest.mark.model
def test_explain_with_the_real_model_offline(model_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(self, address):  # the test fails if anything tries to connect
        raise AssertionError(f"network access to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    target = "ResizeLongestSide.apply_coords"
    result = runner.invoke(app, ["explain", str(EXAMPLE), target, "--json", "--offline"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["narrative"] and data["description"]
    assert data["source"] in ("model", "retry", "static")
    assert data["model"]["name"] == "gemma3-270m"
    assert len(data["model"]["sha256"]) == 64
    assert isinstance(data["unverified"], list)
    known = repo_identifiers(analyze(EXAMPLE))
    assert data["unverified"] == unverified_names(data["narrative"], known) or data["source"] == "static"
    again = json.loads(runner.invoke(app, ["explain", str(EXAMPLE), target, "--json", "--offline"]).stdout)
    assert again["narrative"] == data["narrative"]  # temperature 0, fixed seed


def _example_phrases() -> list[str]:
    """Every worked example's answer, and its distinctive words, in the templates."""
    from localread.quality import example_vocabulary
    from localread.summarize.prompts import templates as summarize_templates

    completion = templates(ChatStyle.COMPLETION)["shared"]
    return [*worked_examples(ChatStyle.COMPLETION),
            *sorted(example_vocabulary((completion, summarize_templates()["instructions"])))]


def _borrowed(text: str) -> list[str]:
    from localread.quality import content_words

    phrases = _example_phrases()
    found = [p for p in phrases if " " in p and find_repeat(text, [p])]
    return found + sorted(content_words(text) & {p for p in phrases if " " not in p})


def assert_narrated_cleanly(done, picked) -> None:
    """Every picked step's explanation is text, uses no worked example's words, and is
    the static description (with the reasons) where the gate rejected the model."""
    for step in picked:
        explanation = done[step.id]
        assert explanation.narrative.strip(), step.id
        assert not _borrowed(explanation.narrative), (step.id, explanation.narrative)
        if not explanation.from_model:
            assert explanation.narrative == explanation.description and explanation.rejected


@pytest.mark.model
def test_real_model_narrated_tour_of_the_example_is_never_empty_nor_borrowed(repo, default_engine) -> None:
    """The undocumented steps of the demo tour (where the model is asked), with the
    real default model: every explanation is text, none uses a worked example's words,
    and what the gate rejected is the static description."""
    tour = build_tour(repo, repo.entries[0])
    # The class whose answer copied version 2's worked example, the builder, and the
    # first three other undocumented steps (the tour's order is the tour's concern).
    wanted = {"segmenter.modeling.decoder.MaskDecoder", "segmenter.modeling.build._build"}
    undocumented = [s for s in tour.steps if not repo.chunks[s.id].docstring and s.kind != "main"]
    picked = [s for s in undocumented if s.id in wanted] + [s for s in undocumented if s.id not in wanted][:3]
    assert wanted <= {s.id for s in picked}
    assert_narrated_cleanly(narrate_tour(repo, Tour(tour.entry, picked), default_engine, max_tokens=256), picked)


RESEARCH_FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.model
@pytest.mark.parametrize("name", ["tour_gpt", "tour_yaml", "tour_detr"])
def test_real_model_narrated_tours_of_research_fixtures_are_never_empty_nor_borrowed(name: str, default_engine) -> None:
    """The same on three research-shaped fixtures (a GPT, a latent diffusion model built
    from a YAML config, a detection trainer): the first four steps without a docstring
    where the model is asked, every text non-empty and free of worked-example words."""
    fixture = analyze(RESEARCH_FIXTURES / name / "repo")
    tour = build_tour(fixture, fixture.entries[0])
    picked = [s for s in tour.steps if not fixture.chunks[s.id].docstring and s.kind != "main"][:4]
    assert len(picked) == 4
    assert_narrated_cleanly(narrate_tour(fixture, Tour(tour.entry, picked), default_engine, max_tokens=256), picked)


@pytest.mark.model
def test_narrated_tour_with_the_real_model(model_store: Path) -> None:
    result = runner.invoke(app, ["tour", str(EXAMPLE), "--json", "--max-steps", "3"])
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)["steps"]
    assert steps and all(isinstance(s["explanation"], str) and s["explanation"].strip() for s in steps)
    assert all(isinstance(s["unverified"], list) and s["description"] for s in steps)
    assert not any(_borrowed(s["explanation"]) for s in steps)
    human = runner.invoke(app, ["tour", str(EXAMPLE), "--max-steps", "2"])
    assert human.exit_code == 0
    assert "1. scripts.demo" in human.stdout


# The completion prompt that prompt version 2 (localread 5b83eca) built for the demo's
# `MaskDecoder`: a documentation page whose worked example is an audio `Vocoder`.
V2_PROMPT = Path(__file__).parent / "data" / "prompt_v2_mask_decoder.json"


class _Recording:
    """The real engine, keeping every answer it gives (plumbing: the answers are the
    model's own)."""

    def __init__(self, engine) -> None:
        self.engine, self.answers = engine, []

    def __getattr__(self, name: str):
        return getattr(self.engine, name)

    def complete(self, prompt, max_tokens, stop=()):
        completion = self.engine.complete(prompt, max_tokens)
        self.answers.append(completion.text)
        return completion


@pytest.mark.model
def test_real_model_false_sentence_is_kept_out_by_the_gate(repo, default_engine) -> None:
    """The default model, asked with version 2's prompt, calls an image model's mask
    decoder "a small network that converts a mel spectrogram into a mask" (version 2
    showed that to the reader: its copy check did not catch it). The gate rejects it;
    and today's prompts and gate, on the same class, never show it."""
    saved = json.loads(V2_PROMPT.read_text(encoding="utf-8"))
    prompt = Prompt(shared=saved["shared"], text=saved["text"], stop=tuple(saved["stop"]))
    said = "`MaskDecoder`" + default_engine.complete(prompt, saved["max_tokens"]).text
    assert "mel spectrogram" in said, said  # false: nothing in the class is about audio
    chunk = repo.chunks[_DECODER]
    subject = subject_for(repo, chunk, facts_card(repo, chunk.id))
    reasons = check(said, subject, examples=(saved["shared"],), prefix="`MaskDecoder`")
    assert reasons and reasons[0].startswith("took") and "“spectrogram”" in reasons[0], reasons

    recording = _Recording(default_engine)
    result = explain_chunk(repo, chunk, recording, max_tokens=256)
    assert "spectrogram" not in result.narrative and not _borrowed(result.narrative), result.narrative
    # One model call per rejected answer, plus the one kept; a rejected answer is never
    # what the reader gets, and when none passed the reader gets the static description.
    assert len(recording.answers) == len(result.rejected) + result.from_model
    if not result.from_model:
        assert result.narrative == result.description
