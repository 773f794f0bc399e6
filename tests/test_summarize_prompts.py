"""summarize.prompts: the instructions every prompt starts with, the group headers,
and each unit's body with its inputs' summaries."""

from __future__ import annotations

from pathlib import Path

from localread.repo.analysis import analyze
from localread.summarize import (
    OVERVIEW_ID,
    Options,
    build_plan,
    instructions,
    known_tours,
    templates,
)
from localread.summarize.prompts import MAX_INPUTS, PromptBuilder, _cut, _fence, unit_name
from tests.helpers import write_repo
from tests.summarize_helpers import SMALL


def builder(root: Path = SMALL, n_ctx: int = 4096) -> PromptBuilder:
    repo = analyze(root)
    return PromptBuilder(repo, build_plan(repo, known_tours(repo, Options())), n_ctx)


def test_every_prompt_starts_with_the_instructions_and_a_blank_line() -> None:
    shared = instructions()
    assert shared == templates()["instructions"] + "\n\n"
    assert shared.startswith("Below are pieces of a research code repository.")
    assert "\nSummary: " in shared  # the worked examples


def test_a_code_prompt_lists_its_callees_and_ends_with_summary() -> None:
    b = builder()
    unit = b.plan.units["tinynet.train.Trainer.train_epoch"]
    shown = {d: f"what {d} does." for d in b.plan.inputs[unit.id]}
    prompt = b.build(unit, shown)
    assert prompt.header.startswith("File: tinynet/train.py (module `tinynet.train`)\nImports: ")
    assert prompt.header.endswith("\n\n")
    assert prompt.body.startswith("Code: `Trainer.train_epoch` (method)\nCalls:\n- `batches`: what tinynet.data.batches does.")
    assert "```python\n    def train_epoch(" in prompt.body
    assert prompt.body.endswith("```\nSummary:") and prompt.answer_prefix == ""
    assert prompt.max_tokens == 48
    bare = b.build(unit, shown, names_only=True)
    assert "Calls:\n- `batches`\n" in bare.body and "what " not in bare.body
    # Units of one module share one header: consecutive prompts share a prefix.
    other = b.plan.units["tinynet.train.cross_entropy"]
    assert b.header(other) is b.header(unit)


def test_the_overview_puts_its_first_words_in_the_models_mouth() -> None:
    b = builder()
    unit = b.plan.units[OVERVIEW_ID]
    prompt = b.build(unit, {d: "s." for d in b.plan.inputs[OVERVIEW_ID]})
    assert prompt.header.startswith("Repository `")
    assert prompt.body.startswith("Code: the whole repository\nContents:\n")
    assert "Install: `pip install -e .`" in prompt.body
    assert prompt.body.endswith("\nSummary: This repository") and prompt.answer_prefix == "This repository"


def test_unit_names() -> None:
    repo = analyze(SMALL)
    assert unit_name(repo, OVERVIEW_ID) == "the repository"
    assert unit_name(repo, "package:tinynet") == "package `tinynet`"
    assert unit_name(repo, "tinynet.model") == "module `tinynet.model`"
    assert unit_name(repo, "tinynet.model.TinyNet.forward") == "`TinyNet.forward`"
    main = next(c for c in repo.chunks.values() if c.id.endswith(".__main__"))
    assert unit_name(repo, main.id) == f"`{main.path}` __main__ block"


def test_long_sources_are_cut_with_a_note_and_fences_are_not_closed_early(tmp_path: Path) -> None:
    assert _cut(["a = 1", "b = 2", "    c = 3", "d = 4"], 12) == "a = 1\nb = 2\n    # ... 2 more lines not shown"
    assert _cut(["x" * 50], 10) == "x" * 10  # a first line is always kept, cut
    assert _fence("print('```')").startswith("````python\n") and _fence("x").startswith("```python\n")
    body = "\n".join(f"    v{i} = {i}" for i in range(2000))
    write_repo(tmp_path, {"big.py": f"def big():\n{body}\n    return v0\n"})
    b = builder(tmp_path, n_ctx=2048)
    prompt = b.build(b.plan.units["big.big"], {})
    assert "more lines not shown" in prompt.body
    assert len(prompt.body) < b.source_budget(prompt.max_tokens) + 200


def test_a_big_package_names_the_rest_as_a_count(tmp_path: Path) -> None:
    files = {"pkg/__init__.py": ""} | {f"pkg/m{i:02d}.py": f"def f{i}():\n    return g()\n" for i in range(MAX_INPUTS + 3)}
    write_repo(tmp_path, files)
    b = builder(tmp_path)
    unit = b.plan.units["package:pkg"]
    prompt = b.build(unit, {d: "s." for d in b.plan.inputs[unit.id]})
    assert prompt.body.startswith("Code: the package `pkg`\nContains:\n")
    assert prompt.body.count("\n- ") == MAX_INPUTS + 1 and "- and 4 more" in prompt.body
