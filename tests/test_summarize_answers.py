"""summarize.answers: answers cleaned to summaries, copies of the prompt asked again,
and the summary from the code when every answer is a copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from localread.agreement import SAMPLES
from localread.llm.engine import as_prompt
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
    summarize,
    summary_problems,
)
from localread.summarize.answers import answer_summary
from tests.helpers import write_repo
from tests.summarize_helpers import SMALL, Copycat, ScriptedEngine, copycat_repo, module_page, run


def test_clean_answer_keeps_the_docstrings_first_paragraph_without_loops_or_a_cut_sentence() -> None:
    assert clean_answer("Summary: Adds two numbers.\nMore text") == "Adds two numbers."
    assert clean_answer("\n  Adds   two numbers. Adds two numbers. Then returns.") == "Adds two numbers. Then returns."
    assert clean_answer("One. Two. Three.", max_sentences=2) == "One. Two."
    assert clean_answer("Builds the model. It then goes on and") == "Builds the model."
    assert clean_answer("It then goes on and") == "It then goes on and"  # nothing better to keep
    assert clean_answer("Uses `f`. Calls `g`") == "Uses `f`. Calls `g`"  # ends like code: kept
    assert clean_answer("") == ""
    # A docstring: wrapped lines joined, closing quotes, later paragraphs and sections cut.
    assert clean_answer("Return the number\n    of nodes.\n\n    Parameters\n    ----------") == "Return the number of nodes."
    assert clean_answer('Split a line into words."""\n    return x') == "Split a line into words."
    assert clean_answer("Parse the options. Args: argv: the command line") == "Parse the options."


def test_answer_summary_starts_with_the_words_the_prompt_gave() -> None:
    overview = Unit(OVERVIEW_ID, UnitKind.OVERVIEW, None, OVERVIEW_ID, ())
    assert answer_summary(overview, "trains a net. It has data. And tools. More.", "This repository") == (
        "This repository trains a net. It has data. And tools."
    )
    assert answer_summary(overview, " trains a net.", "This repository") == "This repository trains a net."
    code = Unit("m.f", UnitKind.CODE, "m.f", "m", ())
    assert answer_summary(code, "One. Two. Three.") == "One."  # a function's one line of purpose


def test_summary_problems_name_what_was_copied_or_borrowed() -> None:
    repo = analyze(SMALL)
    unit = Unit("tinynet.train.Trainer.train_epoch", UnitKind.CODE, "tinynet.train.Trainer.train_epoch", "tinynet.train", ())
    shown = {"tinynet.data.batches": "Yields the dataset in shuffled batches of a fixed size."}
    said = summary_problems(repo, unit, "Yields the dataset in shuffled batches of a fixed size.", shown)
    assert said == ("repeated what the prompt said about `batches` (100% of its 4-word phrases)",)
    assert summary_problems(repo, unit, example_summaries()[0], {})[0].startswith("repeated a worked example")
    assert "from a worked example" in summary_problems(repo, unit, "Boils the kettle over each batch of the data.", {})[0]
    assert summary_problems(repo, unit, "", {}) == ("empty",)
    assert summary_problems(repo, unit, "Runs one epoch of training over the batches.", shown) == ()


def test_example_summaries_are_the_worked_examples_answers() -> None:
    found = example_summaries()
    assert found[0] == "Fill the kettle, heat the water until it bubbles, then pour it out."
    assert len(found) == len(set(found)) >= 3 and all(s and not s.startswith(("- ", "#", '"')) for s in found)


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

    # A chunk: its static description, the docstring's first sentence first.
    assert unit("net.core.scale", UnitKind.CODE) == "Multiply by two. Returns `[v * 2 for v in x]`."
    assert unit("net.core.run", UnitKind.CODE, ("net.core.shift", "net.core.scale")) == (
        "Calls `shift` and `scale`. Returns `shift(scale(x))`."
    )
    assert unit("net.core.Net", UnitKind.CLASS, ("net.core.Net.a", "net.core.Net.b", "net.core.run")) == (
        "Its methods are `a` and `b`."
    )
    assert unit("net.core", UnitKind.MODULE) == "Defines `scale`, `shift`, `run` and `Net`."
    assert unit(OVERVIEW_ID, UnitKind.OVERVIEW, ("package:net",)) == "A toy net for tests."  # the README's
    assert unit("package:net", UnitKind.PACKAGE, ("net", "net.core")) == "Package `net`: module `net` and module `net.core`."


def test_an_answer_that_copies_an_input_summary_is_asked_again_without_summaries(tmp_path: Path) -> None:
    engine = Copycat()
    report = run(copycat_repo(tmp_path), tmp_path / STORE_NAME, engine)
    forward = report.results["net.encoder.Encoder.forward"].summary
    cls = report.results["net.encoder.Encoder"]
    assert cls.source is Source.MODEL and not cls.fallback
    assert cls.rejected == ("repeated what the prompt said about `Encoder.__init__` (100% of its 4-word phrases)",)
    assert cls.summary != forward and cls.summary.startswith("Summary of")
    # The second prompt names the methods and shows nothing to copy.
    retry = [c.prompt for c in engine.history if "Code: `Encoder` (class)" in c.prompt][1]
    assert "def __init__(self, width, depth=2): ...\n    def forward(self, x): ..." in retry
    assert "# method `Encoder.__init__`:" not in retry
    assert report.stats.llm_calls + report.stats.retries == len(engine.history)
    assert report.stats.retries == sum(len(r.rejected) for r in report.results.values()) > 0
    copies = [uid for uid, r in report.results.items() if r.rejected]
    assert "net.encoder" in copies
    chunk = next(c for c in markdown.summary_json(report)["chunks"] if c["id"] == "net.encoder.Encoder")
    assert chunk["rejected"] == list(cls.rejected) and chunk["source"] == "model"
    assert chunk["fallback"] is False
    page = module_page(report, tmp_path / "out", "net.encoder")
    assert "**Summary** (model, asked twice: its first answer failed the quality gate)" in page


def test_when_every_answer_is_a_copy_the_summary_comes_from_the_code(tmp_path: Path) -> None:
    root = copycat_repo(tmp_path)
    engine = Copycat()
    engine.examples = True
    report = run(root, tmp_path / STORE_NAME, engine)
    forward = report.results["net.encoder.Encoder.forward"]
    # The retry prompt (the signature alone) is asked too, and copies as well.
    assert len(forward.rejected) == 2 and all(r.startswith("repeated a worked example") for r in forward.rejected)
    assert forward.summary.startswith("Scales a feature vector and clips negative values to zero. ")
    assert forward.source is Source.MODEL and forward.fallback
    cls = report.results["net.encoder.Encoder"]
    # Its first answer copied what the prompt showed of `__init__` (whose own summary
    # is the static description: "Uses `math.sqrt`." is all it got to copy).
    assert cls.rejected[0] == "too short (3 words)"
    assert cls.rejected[1].startswith("repeated a worked example")
    # Not an nn.Module, so calling it does not run `forward`: the description does not say it does.
    assert cls.summary == "Built from `width` and `depth`. On construction, uses `math.sqrt`. Its method is `forward`."
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
    assert "**Summary** (from the code: the model's answers failed the quality gate): Built from" in page



class Unsure(ScriptedEngine):
    """A scripted model whose sampled answers for the class `Encoder` say something
    else than its greedy answer each time (a guess); every other unit's samples repeat
    the greedy answer (it stands by them)."""

    def sample(self, prompt: Any, max_tokens: int, n: int, stop: Any = ()) -> list[Any]:
        text = as_prompt(prompt).text
        if "Code: `Encoder` (class)" in text:
            self.enqueue_samples("Holds the layers of a network.", "Reads images from a folder.",
                                 "Counts the tokens of a sentence.")
        else:
            self.enqueue_samples(*[self.complete(prompt, max_tokens, stop).text] * n)
        return super().sample(prompt, max_tokens, n, stop)


def test_an_answer_its_samples_do_not_bear_out_is_asked_again_then_left_to_the_code(tmp_path: Path) -> None:
    engine = Unsure()
    report = run(copycat_repo(tmp_path), tmp_path / STORE_NAME, engine)
    cls = report.results["net.encoder.Encoder"]
    # Both prompts' answers passed the gate and were guesses by their samples.
    assert cls.fallback and len(cls.rejected) == 2
    assert all(r.startswith("is a guess: the model's own answers sampled from the same prompt") for r in cls.rejected)
    assert cls.summary == fallback_summary(report.repo, report.plan.units["net.encoder.Encoder"], report.plan.inputs["net.encoder.Encoder"])
    asked = [c.prompt for c in engine.history if "Code: `Encoder` (class)" in c.prompt]
    assert len(asked) == 2 * (1 + SAMPLES)  # each prompt's greedy answer and its samples
    # The others stood by their answers: kept at the first prompt.
    others = [r for uid, r in report.results.items() if uid != "net.encoder.Encoder" and r.source is Source.MODEL]
    assert others and all("Summary of" in r.summary and not r.rejected for r in others)
    assert report.stats.retries == 1  # the samples are no retries
