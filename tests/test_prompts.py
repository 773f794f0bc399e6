"""Prompt templates, condensing and token budgeting."""

from __future__ import annotations

import textwrap

import pytest

from localread.errors import LocalreadError
from localread.llm.engine import LlamaEngine
from localread.llm.models import ChatStyle
from localread.llm.prompts import (
    BudgetedPrompt,
    Summary,
    chunk_prompt,
    condense_source,
    prompt_version,
    templates,
    tour_step_prompt,
    worked_examples,
)
from tests.fakes import FakeEngine

SOURCE = textwrap.dedent(
    '''\
    @torch.no_grad()
    def generate(self, image: np.ndarray) -> list[dict]:
        """Generate masks for the given image.

        Arguments:
          image: HWC uint8.
        Returns:
          one record per mask.
        More words that a condensed
        docstring leaves out.
        """
        mask_data = self._generate_masks(image)
        if self.min_mask_region_area > 0:
            mask_data = self.postprocess_small_regions(
                mask_data,
                self.min_mask_region_area,
            )
        records = []
        total = 0
        for idx in range(len(mask_data["segmentations"])):
            area = area_from_rle(mask_data["rles"][idx])
            total += area
            records.append({"area": area})
        log.info("%d masks", len(records))
        return records
    '''
)
START = 100  # file line number of SOURCE's first line
CALL_LINES = {111, 113, 120}  # _generate_masks, postprocess_small_regions, area_from_rle
FACTS = "- signature: `generate(self, image)`\n- returns: `records`"
CALLEES = [
    Summary("sam.amg.MaskGenerator._generate_masks", "crops the image and predicts masks."),
    Summary("sam.amg.MaskGenerator.postprocess_small_regions", "removes small regions."),
    Summary("sam.utils.area_from_rle", "counts the pixels of a run-length mask."),
]


def _chunk(engine: FakeEngine | LlamaEngine, max_tokens: int = 64, **kw: object) -> BudgetedPrompt:
    args: dict = {
        "chunk_id": "sam.amg.MaskGenerator.generate", "kind": "method", "path": "sam/amg.py",
        "start": START, "facts": FACTS, "source": SOURCE, "callees": CALLEES, "call_lines": CALL_LINES,
    }  # fmt: skip
    args.update(kw)
    return chunk_prompt(engine, max_tokens=max_tokens, **args)


# --------------------------------------------------------------------------- condensing


def test_condense_keeps_signature_docstring_calls_and_their_blocks() -> None:
    out = condense_source(SOURCE, START, CALL_LINES, docstring_lines=3)
    assert out.text.splitlines() == [
        "@torch.no_grad()",
        "def generate(self, image: np.ndarray) -> list[dict]:",
        '    """Generate masks for the given image.',
        "",
        "    Arguments:",
        "      # ... 5 lines elided ...",  # the rest of the docstring...
        '    """',  # ...up to its closing quotes
        "    mask_data = self._generate_masks(image)",
        "    if self.min_mask_region_area > 0:",  # the block a call sits in
        "        mask_data = self.postprocess_small_regions(",
        "            mask_data,",  # the whole call statement
        "            self.min_mask_region_area,",
        "        )",
        "    # ... 2 lines elided ...",
        '    for idx in range(len(mask_data["segmentations"])):',
        '        area = area_from_rle(mask_data["rles"][idx])',
        "        # ... 4 lines elided ...",
    ]
    assert out.elided_lines == 11


def test_condense_counts_every_line_once() -> None:
    out = condense_source(SOURCE, START, CALL_LINES)
    kept = [line for line in out.text.splitlines() if "lines elided" not in line]
    assert len(kept) + out.elided_lines == len(SOURCE.splitlines())


def test_condense_keeps_a_single_line_gap_verbatim() -> None:
    src = "def f(x):\n    a = g(x)\n    b = 1\n    return h(a)\n"
    out = condense_source(src, 1, {2, 4})
    assert out.text == src.rstrip("\n") and out.elided_lines == 0


def test_condense_module_source_without_def() -> None:
    src = '"""Module docs."""\nimport os\nimport sys\nX = 1\nY = 2\nmain(X)\n'
    out = condense_source(src, 1, {6})
    assert out.text.splitlines() == ['"""Module docs."""', "# ... 4 lines elided ...", "main(X)"]


def test_condense_ignores_line_numbers_outside_the_chunk() -> None:
    out = condense_source(SOURCE, START, {1, 99, 500})
    assert "self._generate_masks" not in out.text and out.elided_lines > 0


# --------------------------------------------------------------------------- templates


@pytest.mark.parametrize("style", list(ChatStyle))
def test_every_style_has_every_block(style: ChatStyle) -> None:
    assert set(templates(style)) >= {
        "shared", "chunk", "tour_step", "callees", "already_read", "item", "condensed", "answer_prefix",
    }  # fmt: skip


def test_completion_prompt_shows_the_code_and_opens_it_again_for_its_docstring() -> None:
    engine = FakeEngine()
    bp = _chunk(engine)
    assert not bp.condensed and bp.elided_lines == 0 and bp.callees_dropped == 0
    assert bp.prompt.style is ChatStyle.COMPLETION
    assert bp.prompt.shared == templates(ChatStyle.COMPLETION)["shared"] + "\n\n"
    # The facts as comments above the code (what the source says itself is left out).
    assert bp.prompt.text.startswith("# --- sam/amg.py, lines 100-124\n# - returns: `records`\n")
    assert "- signature:" not in bp.prompt.text
    assert "# - `sam.utils.area_from_rle`: counts the pixels of a run-length mask." in bp.prompt.text
    assert SOURCE.rstrip("\n") in bp.prompt.text  # verbatim, blank lines included
    # ...then the chunk opened again, decorators left out, for its docstring.
    assert bp.prompt.text.endswith(
        '# Code: `sam.amg.MaskGenerator.generate` (method), documented:\n'
        'def generate(self, image: np.ndarray) -> list[dict]:\n    """'
    )
    assert bp.answer_prefix == ""
    assert '"""' in bp.prompt.stop and "\n\n" in bp.prompt.stop  # one paragraph of a docstring
    assert bp.prompt_tokens == engine.count_tokens(bp.prompt)
    assert bp.narrative("Return the masks.") == "Return the masks."
    assert bp.version == prompt_version() == "3"


def test_shared_part_is_the_same_for_every_chunk_and_task() -> None:
    engine = FakeEngine()
    a = _chunk(
        engine, chunk_id="pkg.a", source="def a():\n    return b()\n", start=1, call_lines={2}
    )
    b = _chunk(engine)
    c = tour_step_prompt(
        engine, step=2, reason="called by `pkg.a`", chunk_id="pkg.b", kind="function",
        path="pkg.py", start=4, facts="- x", source="def b():\n    pass\n", max_tokens=32,
    )  # fmt: skip
    assert a.prompt.shared == b.prompt.shared == c.prompt.shared
    assert a.prompt.text != b.prompt.text


def test_empty_sections_leave_no_gaps() -> None:
    bp = _chunk(FakeEngine(), callees=())
    assert "\n\n\n" not in bp.prompt.text and "# - `" not in bp.prompt.text


def test_template_syntax_in_code_is_not_substituted() -> None:
    source = 'def f():\n    return "$kind ${id} $$"\n'
    bp = _chunk(FakeEngine(), source=source, start=1, call_lines=(), facts="cost: $5")
    assert 'return "$kind ${id} $$"' in bp.prompt.text and "cost: $5" in bp.prompt.text


def test_chat_prompt_uses_system_and_user_messages() -> None:
    engine = FakeEngine(chat_style=ChatStyle.CHAT)
    bp = _chunk(engine)
    assert bp.prompt.style is ChatStyle.CHAT
    assert bp.prompt.shared == templates(ChatStyle.CHAT)["shared"]
    assert bp.prompt.text.startswith("Explain the method `sam.amg.MaskGenerator.generate`.")
    assert bp.prompt.stop == () and bp.answer_prefix == ""
    assert bp.narrative("  It returns masks. ") == "It returns masks."


def _tour_step(engine: FakeEngine, **kw: object) -> BudgetedPrompt:
    read = [
        Summary("scripts.amg.main", "parses arguments."),
        Summary("sam.build", "builds the model."),
    ]
    args: dict = {
        "step": 3, "reason": "called by `scripts.amg.main`\n at scripts/amg.py:40", "already_read": read,
        "chunk_id": "sam.amg.MaskGenerator.generate", "kind": "method", "path": "sam/amg.py",
        "start": START, "facts": FACTS, "source": SOURCE, "max_tokens": 64,
    }  # fmt: skip
    args.update(kw)
    return tour_step_prompt(engine, **args)


def test_tour_step_lists_what_was_read() -> None:
    bp = _tour_step(FakeEngine(chat_style=ChatStyle.CHAT))
    text = bp.prompt.text
    assert text.startswith("Step 3 of a reading tour: the method `sam.amg.MaskGenerator.generate`.")
    assert "Why it comes next: called by `scripts.amg.main` at scripts/amg.py:40" in text
    assert text.index("`scripts.amg.main`: parses") < text.index("`sam.build`: builds")
    assert [s.id for s in bp.shown] == ["scripts.amg.main", "sam.build"]


def test_completion_tour_step_does_not_list_what_was_read() -> None:
    """Gemma 3 270M repeated the sentences of the steps already read on most later
    steps, so the completion template leaves them out (see completion.txt)."""
    bp = _tour_step(FakeEngine())
    text = bp.prompt.text
    assert text.startswith("# --- sam/amg.py, lines 100-124\n# - step 3 of the reading tour: called by `scripts.amg.main` at scripts/amg.py:40\n")
    assert "parses arguments" not in text and bp.shown == () and bp.already_read_dropped == 0


def test_worked_examples_are_the_answers_of_the_template() -> None:
    examples = worked_examples(ChatStyle.COMPLETION)
    assert len(examples) == 2
    shared = templates(ChatStyle.COMPLETION)["shared"]
    assert all(f'"""{e}"""' in shared for e in examples)
    assert examples[0].startswith("Fill the kettle")
    assert worked_examples(ChatStyle.COMPLETION, retry=True) == ()
    assert worked_examples(ChatStyle.CHAT) == ()
    bp = _chunk(FakeEngine())
    assert bp.examples == examples and not bp.retry
    assert bp.references == (*examples, *(c.summary for c in CALLEES))
    assert bp.example_text == bp.prompt.shared  # the leakage rule reads the examples' words


@pytest.mark.parametrize("style", list(ChatStyle))
def test_retry_prompt_has_nothing_to_copy(style: ChatStyle) -> None:
    engine = FakeEngine(chat_style=style)
    first, again = _chunk(engine), _chunk(engine, retry=True)
    assert again.retry and again.references == ()
    assert again.prompt.shared.strip() == templates(style).get("retry_shared", templates(style)["shared"])
    assert "kettle" not in again.prompt.shared and again.example_text == ""  # no worked example
    assert "counts the pixels of a run-length mask" in first.prompt.text
    assert "counts the pixels of a run-length mask" not in again.prompt.text
    assert SOURCE.rstrip("\n") in again.prompt.text and again.prompt.text.endswith(first.prompt.text[-40:])
    step = _tour_step(engine, retry=True)
    assert step.shown == () and "parses arguments" not in step.prompt.text


# --------------------------------------------------------------------------- budgeting


def _fits(engine: FakeEngine, bp: BudgetedPrompt) -> bool:
    return engine.count_tokens(bp.prompt) == bp.prompt_tokens <= engine.n_ctx - bp.max_tokens


def test_budget_condenses_before_dropping_anything() -> None:
    full = _chunk(FakeEngine(n_ctx=10_000)).prompt_tokens
    engine = FakeEngine(n_ctx=full + 64 - 1)  # one token short of the full prompt
    bp = _chunk(engine)
    assert bp.condensed and bp.elided_lines > 0 and bp.callees_dropped == 0
    assert "condensed: " in bp.prompt.text and "lines elided ..." in bp.prompt.text
    assert _fits(engine, bp)


def test_budget_steps_down_in_order_and_always_fits() -> None:
    """Shrinking the context walks through: full, condensed, callees dropped from the
    end one by one, call lines halved, then an error; every prompt fits."""
    full = _chunk(FakeEngine(n_ctx=10_000)).prompt_tokens
    seen: list[tuple[bool, int, int]] = []
    for n_ctx in range(full + 64, 0, -1):
        engine = FakeEngine(n_ctx=n_ctx)
        try:
            bp = _chunk(engine)
        except LocalreadError:
            break
        assert _fits(engine, bp)
        step = (bp.condensed, bp.callees_dropped, bp.call_lines_dropped)
        if not seen or seen[-1] != step:
            seen.append(step)
        if bp.callees_dropped == 1:
            assert CALLEES[0].id in bp.prompt.text and CALLEES[-1].id not in bp.prompt.text
    assert seen == [
        (False, 0, 0), (True, 0, 0), (True, 1, 0), (True, 2, 0), (True, 3, 0), (True, 3, 2), (True, 3, 3),
    ]  # fmt: skip


def test_budget_drops_the_oldest_steps_first() -> None:
    read = [Summary(f"pkg.step{i}", "does a thing " * 5) for i in range(6)]

    def step(engine: FakeEngine, already: list[Summary]) -> BudgetedPrompt:
        return tour_step_prompt(
            engine, step=7, reason="next", already_read=already, chunk_id="pkg.f",
            kind="function", path="pkg.py", start=1, facts="- f", source="def f():\n    return 1\n",
            max_tokens=16,
        )  # fmt: skip

    # The chat template lists the steps already read (the completion one does not).
    with_two = step(FakeEngine(n_ctx=10_000, chat_style=ChatStyle.CHAT), read[-2:]).prompt_tokens
    engine = FakeEngine(n_ctx=with_two + 16, chat_style=ChatStyle.CHAT)
    bp = step(engine, read)
    assert bp.already_read_dropped == 4
    assert "pkg.step5" in bp.prompt.text and "pkg.step0" not in bp.prompt.text
    assert _fits(engine, bp)


def test_budget_that_cannot_be_met_is_a_clear_error() -> None:
    with pytest.raises(
        LocalreadError, match=r"prompt for sam.amg.MaskGenerator.generate needs \d+ tokens"
    ):
        _chunk(FakeEngine(n_ctx=560), max_tokens=128)
    with pytest.raises(LocalreadError, match="leaves no room"):
        _chunk(FakeEngine(n_ctx=100), max_tokens=100)


# --------------------------------------------------------------------------- real model


LONG_SOURCE = (
    'def train(model, loader, steps):\n    """Train the model."""\n'
    + "".join(
        f"    loss_{i} = compute_loss_{i % 7}(model, batch_{i})  # step {i}\n" for i in range(400)
    )
    + "    return model\n"
)


@pytest.mark.model
def test_budget_with_the_real_tokenizer(default_engine: LlamaEngine) -> None:
    calls = {3 + i for i in range(0, 400, 50)}
    bp = chunk_prompt(
        default_engine, chunk_id="pkg.train.train", kind="function", path="pkg/train.py",
        start=1, facts="- signature: `train(model, loader, steps)`", source=LONG_SOURCE,
        call_lines=calls, max_tokens=256,
    )  # fmt: skip
    assert bp.condensed and bp.elided_lines > 300
    assert bp.prompt_tokens == default_engine.count_tokens(bp.prompt)
    assert bp.prompt_tokens + bp.max_tokens <= default_engine.n_ctx
    assert "compute_loss_1(model, batch_50)" in bp.prompt.text


@pytest.mark.model
def test_the_default_model_writes_a_docstring(default_engine: LlamaEngine) -> None:
    bp = _chunk(default_engine, max_tokens=96)
    result = default_engine.complete(bp.prompt, bp.max_tokens)
    narrative = bp.narrative(result)
    assert len(narrative.split()) >= 3 and result.finish_reason == "stop"
    assert "```" not in narrative and "\n\n" not in narrative and '"""' not in narrative
    assert result.prompt_tokens == bp.prompt_tokens
