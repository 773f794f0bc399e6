"""summarize.answers: answers cleaned to summaries, copies of the prompt asked again,
and the summary from the code when every answer is a copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from localread.render import markdown
from localread.repo.analysis import analyze
from localread.store import STORE_NAME, Store
from localread.summarize import (
    OVERVIEW_ID,
    Source,
    Unit,
    UnitKind,
    clean_answer,
    example_summaries,
    fallback_summary,
    repeated_text,
    summarize,
)
from localread.summarize.answers import answer_summary
from tests.helpers import write_repo
from tests.summarize_helpers import SMALL, Copycat, copycat_repo, module_page, run


def test_clean_answer_keeps_the_first_line_without_loops_or_a_cut_sentence() -> None:
    assert clean_answer("Summary: Adds two numbers.\nMore text") == "Adds two numbers."
    assert clean_answer("\n  Adds   two numbers. Adds two numbers. Then returns.") == "Adds two numbers. Then returns."
    assert clean_answer("One. Two. Three.", max_sentences=2) == "One. Two."
    assert clean_answer("Builds the model. It then goes on and") == "Builds the model."
    assert clean_answer("It then goes on and") == "It then goes on and"  # nothing better to keep
    assert clean_answer("Uses `f`. Calls `g`") == "Uses `f`. Calls `g`"  # ends like code: kept
    assert clean_answer("") == ""


def test_answer_summary_starts_with_the_words_the_prompt_gave() -> None:
    overview = Unit(OVERVIEW_ID, UnitKind.OVERVIEW, None, OVERVIEW_ID, ())
    assert answer_summary(overview, "trains a net. It has data. And tools. More.", "This repository") == (
        "This repository trains a net. It has data. And tools."
    )
    assert answer_summary(overview, " trains a net.", "This repository") == "This repository trains a net."
    code = Unit("m.f", UnitKind.CODE, "m.f", "m", ())
    assert answer_summary(code, "One. Two. Three.") == "One. Two."


def test_repeated_text_names_what_was_copied() -> None:
    repo = analyze(SMALL)
    shown = {"tinynet.data.batches": "Yields the dataset in shuffled batches of a fixed size."}
    assert repeated_text(repo, "Yields the dataset in shuffled batches of a fixed size.", shown) == (
        "repeated the summary of `batches`"
    )
    assert repeated_text(repo, example_summaries()[0], {}) == "repeated a worked example of the prompt"
    assert repeated_text(repo, "Runs one epoch of training over the batches.", shown) is None


def test_example_summaries_are_the_worked_examples_answers() -> None:
    found = example_summaries()
    assert found[0] == "Lower-cases a line of text and returns the list of its words."
    assert len(found) == len(set(found)) >= 3 and all(s and not s.startswith("- ") for s in found)


def test_fallback_summaries_say_what_the_code_says_of_itself(tmp_path: Path) -> None:
    write_repo(tmp_path, {
        "README.md": "# Toy\n\nA toy net for tests. It has parts.\n",
        "net/__init__.py": "",
        "net/core.py": """\
            def scale(x):
                \"\"\"Multiply by two. Then nothing.\"\"\"
                return [v * 2 for v in x]

            def shift(x):
                return [v + 1 for v in x]

            def run(x):
                return shift(scale(x))

            class Net:
                def a(self):
                    return run([1])

                def b(self):
                    return run([2])
            """,
    })
    repo = analyze(tmp_path)

    def unit(uid: str, kind: UnitKind, inputs: tuple[str, ...] = ()) -> str:
        chunk = uid if uid in repo.chunks else None
        return fallback_summary(repo, Unit(uid, kind, chunk, "net.core", inputs), inputs)

    assert unit("net.core.scale", UnitKind.CODE) == "Multiply by two."  # the docstring
    assert unit("net.core.run", UnitKind.CODE, ("net.core.shift", "net.core.scale")) == "Calls `shift` and `scale`."
    assert unit("net.core.Net", UnitKind.CLASS, ("net.core.Net.a", "net.core.Net.b", "net.core.run")) == (
        "Class `Net` with the methods `a` and `b`."
    )
    assert unit("net.core", UnitKind.MODULE, tuple(f"net.core.{n}" for n in ("scale", "shift", "run", "Net", "Net.a"))) == (
        "Module `net.core`: `scale`, `shift`, `run`, `Net` and 1 more."
    )
    assert unit("net.core.shift", UnitKind.CODE) == (
        "No summary: the model's answers for `shift` repeated texts its prompt showed."
    )
    assert unit(OVERVIEW_ID, UnitKind.OVERVIEW, ("package:net",)) == "A toy net for tests."  # the README's


def test_an_answer_that_copies_an_input_summary_is_asked_again_without_summaries(tmp_path: Path) -> None:
    engine = Copycat()
    report = run(copycat_repo(tmp_path), tmp_path / STORE_NAME, engine)
    forward = report.results["net.encoder.Encoder.forward"].summary
    cls = report.results["net.encoder.Encoder"]
    assert cls.source is Source.MODEL and not cls.fallback
    assert cls.rejected == ("repeated the summary of `Encoder.__init__`",)
    assert cls.summary != forward and cls.summary.startswith("Summary of")
    # The second prompt names the methods and shows nothing to copy.
    retry = [c.prompt for c in engine.history if "Code: `Encoder` (class)" in c.prompt][1]
    assert "Methods:\n- `Encoder.__init__`\n- `Encoder.forward`\n" in retry
    assert report.stats.llm_calls + report.stats.retries == len(engine.history)
    assert report.stats.retries == sum(len(r.rejected) for r in report.results.values()) > 0
    copies = [uid for uid, r in report.results.items() if r.rejected]
    assert "net.encoder" in copies
    chunk = next(c for c in markdown.summary_json(report)["chunks"] if c["id"] == "net.encoder.Encoder")
    assert chunk["rejected"] == ["repeated the summary of `Encoder.__init__`"] and chunk["source"] == "model"
    assert chunk["fallback"] is False
    page = module_page(report, tmp_path / "out", "net.encoder")
    assert "**Summary** (model, asked twice: its first answer repeated its prompt)" in page


def test_when_every_answer_is_a_copy_the_summary_comes_from_the_code(tmp_path: Path) -> None:
    root = copycat_repo(tmp_path)
    engine = Copycat()
    engine.examples = True
    report = run(root, tmp_path / STORE_NAME, engine)
    forward = report.results["net.encoder.Encoder.forward"]
    # No input to leave out: the same prompt would get the same answer, so one call.
    assert forward.rejected == ("repeated a worked example of the prompt",)
    assert forward.summary == "Scales a feature vector and clips negative values to zero."
    assert forward.source is Source.MODEL and forward.fallback
    cls = report.results["net.encoder.Encoder"]
    assert cls.rejected == ("repeated the summary of `Encoder.__init__`", "repeated a worked example of the prompt")
    assert cls.summary == "Class `Encoder` with the methods `__init__` and `forward`."
    assert not any(r.summary in example_summaries() for r in report.results.values())
    # Kept in the store: a rerun makes no call and says the same.
    repo = analyze(root)

    def no_engine() -> Any:
        raise AssertionError("the engine was opened on a rerun")

    with Store.open(tmp_path / STORE_NAME) as store:
        again = summarize(repo, store, engine.model, engine.n_ctx, no_engine)
    assert again.results["net.encoder.Encoder"].summary == cls.summary
    assert again.results["net.encoder.Encoder"].fallback and again.results["net.encoder.Encoder"].source is Source.CACHE
    page = module_page(again, tmp_path / "out", "net.encoder")
    assert "**Summary** (from the code: the model's answers repeated its prompt): Class `Encoder`" in page
