"""summarize.prompts: the instructions every prompt starts with, the group headers,
and each unit's body with its inputs' summaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from localread.repo.analysis import analyze
from localread.summarize import (
    OVERVIEW_ID,
    Options,
    build_plan,
    instructions,
    known_tours,
    templates,
)
from localread.summarize.ask import model_prompt
from localread.summarize.prompts import (
    MAX_INPUTS,
    STOPS,
    TOKEN_MARGIN,
    PromptBuilder,
    _cut,
    estimate_tokens,
    unit_name,
)
from tests.helpers import write_repo
from tests.summarize_helpers import SMALL


def builder(root: Path = SMALL, n_ctx: int = 4096) -> PromptBuilder:
    repo = analyze(root)
    return PromptBuilder(repo, build_plan(repo, known_tours(repo, Options())), n_ctx)


def test_every_prompt_starts_with_the_worked_examples_and_a_blank_line() -> None:
    shared = instructions()
    assert shared == templates()["instructions"] + "\n\n"
    assert shared.startswith("# Each piece of code below is shown as it is written")
    assert '    """Fill the kettle' in shared  # a worked example, opened again with its docstring


def test_a_code_prompt_shows_the_code_and_opens_it_again_for_its_docstring() -> None:
    b = builder()
    unit = b.plan.units["tinynet.train.Trainer.train_epoch"]
    shown = {d: f"what {d} does." for d in b.plan.inputs[unit.id]}
    prompt = b.build(unit, shown)
    assert prompt.header.startswith("# --- tinynet/train.py\nimport math\n")
    assert prompt.header.endswith("\n\n")
    assert "# - calls, in order: `batches(...) -> batches`" in prompt.body  # the facts card, as comments
    assert "# calls `batches`: what tinynet.data.batches does.\n" in prompt.body
    assert "\n    def train_epoch(self):\n        total, count = 0.0, 0\n" in prompt.body
    assert prompt.body.endswith('# Code: `Trainer.train_epoch` (method), documented:\n    def train_epoch(self):\n        """')
    assert prompt.answer_prefix == "" and prompt.max_tokens == 48
    assert STOPS[0] == '"""'  # the docstring's end ends the answer
    bare = b.build(unit, shown, names_only=True)
    assert "# calls `batches`\n" in bare.body and "what " not in bare.body
    # The retry prompt is another prompt: the signature alone, inputs by name.
    retry = b.build(unit, shown, retry=True)
    assert "total, count" not in retry.body and "what " not in retry.body
    assert retry.body.endswith(prompt.body.rsplit("\n\n", 1)[-1])
    # Units of one module share one header: consecutive prompts share a prefix.
    other = b.plan.units["tinynet.train.cross_entropy"]
    assert b.header(other) is b.header(unit)


def test_the_overview_puts_its_first_words_in_the_models_mouth() -> None:
    b = builder()
    unit = b.plan.units[OVERVIEW_ID]
    prompt = b.build(unit, {d: "s." for d in b.plan.inputs[OVERVIEW_ID]})
    assert prompt.header.startswith("# --- the repository `")
    assert prompt.body.startswith("# contains module `scripts.evaluate`: s.\n")
    assert "# install: `pip install -e .`" in prompt.body
    assert prompt.body.endswith('# Code: the whole repository, documented:\n"""This repository')
    assert prompt.answer_prefix == "This repository"


def test_unit_names() -> None:
    repo = analyze(SMALL)
    assert unit_name(repo, OVERVIEW_ID) == "the repository"
    assert unit_name(repo, "package:tinynet") == "package `tinynet`"
    assert unit_name(repo, "tinynet.model") == "module `tinynet.model`"
    assert unit_name(repo, "tinynet.model.TinyNet.forward") == "`TinyNet.forward`"
    main = next(c for c in repo.chunks.values() if c.id.endswith(".__main__"))
    assert unit_name(repo, main.id) == f"`{main.path}` __main__ block"


def test_long_sources_are_cut_with_a_note(tmp_path: Path) -> None:
    assert estimate_tokens("total_loss = 0.25") == 10  # total, _, loss, space, =, space, 0, ., 2, 5
    assert estimate_tokens("αβ") == 4
    assert _cut(["a = 1", "b = 2", "    c = 3", "d = 4"], 17) == "a = 1\nb = 2\n    # ... 2 more lines not shown"
    assert _cut(["a = 1", "b = 2"], 11) == "a = 1\nb = 2"  # what fits is not cut
    lines = [f"value_{i} = {i}" for i in range(100)]
    cut = _cut(lines, 200)
    assert 185 < estimate_tokens(cut) <= 200 and cut.endswith("more lines not shown")  # the note fits too
    assert _cut(["7" * 50], 10) == "7" * 8  # a first line is always kept, cut
    body = "\n".join(f"    v{i} = {i}" for i in range(2000))
    write_repo(tmp_path, {"big.py": f"def big():\n{body}\n    return v0\n"})
    b = builder(tmp_path, n_ctx=2048)
    unit = b.plan.units["big.big"]
    prompt = b.build(unit, {})
    assert "more lines not shown" in prompt.body
    # The whole prompt, instructions and header included, is cut to the context.
    whole = estimate_tokens(instructions() + prompt.header + prompt.body)
    assert (2048 - prompt.max_tokens) / TOKEN_MARGIN - 40 < whole <= (2048 - prompt.max_tokens) / TOKEN_MARGIN


# Research code at its densest for a tokenizer: type-annotated signatures by the
# hundred, numeric tables, long expressions of short names.
_DENSE = {
    "segnet/__init__.py": "",
    "segnet/anchors.py": "ANCHORS = [\n" + "".join(
        f"    ({i}, {i * 0.5:.2f}, {-i}, {i % 7}, 1e-{i % 9}),\n" for i in range(1500)) + "]\n",
    "segnet/blocks.py": "class Registry:\n" + "".join(
        f"    def build_{i}(self, x: dict[str, tuple[int, ...]], *, k: int | None = {i}, s: float = 0.{i}) -> list[int]:\n"
        f"        return [k or {i}]\n" for i in range(400)),
    "segnet/loss.py": "def focal(p, t, a, g):\n" + "".join(
        f"    l{i} = -a*(1-p[{i}])**g*t[{i}]*lg(p[{i}])-(1-a)*p[{i}]**g*(1-t[{i}])*lg(1-p[{i}])\n" for i in range(800))
        + "    return l0\n",
}


@pytest.mark.model
def test_huge_dense_units_fit_the_context_as_the_default_model_counts_tokens(tmp_path: Path, default_engine: Any) -> None:
    write_repo(tmp_path, _DENSE)
    b = builder(tmp_path, n_ctx=default_engine.n_ctx)
    units = ["segnet.anchors", "segnet.blocks.Registry", "segnet.loss.focal"]
    for uid in units:
        unit = b.plan.units[uid]
        for retry in (False, True):
            prompt = b.build(unit, {d: "s." for d in b.plan.inputs[uid]}, retry=retry)
            tokens = default_engine.count_tokens(model_prompt(prompt))
            assert tokens + prompt.max_tokens <= default_engine.n_ctx, (uid, retry, tokens)
            # Cut, not dropped: the prompt still shows most of what fits.
            assert retry or tokens > default_engine.n_ctx // 2, (uid, tokens)


def test_a_big_package_names_the_rest_as_a_count(tmp_path: Path) -> None:
    files = {"pkg/__init__.py": ""} | {f"pkg/m{i:02d}.py": f"def f{i}():\n    return g()\n" for i in range(MAX_INPUTS + 3)}
    write_repo(tmp_path, files)
    b = builder(tmp_path)
    unit = b.plan.units["package:pkg"]
    prompt = b.build(unit, {d: "s." for d in b.plan.inputs[unit.id]})
    assert prompt.body.startswith("# contains module `pkg`")
    assert prompt.body.count("# contains ") == MAX_INPUTS + 1 and "# contains 4 more" in prompt.body
    assert prompt.body.endswith('# Code: the package `pkg`, documented:\n"""')
