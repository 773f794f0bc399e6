"""Prompt template files (localread/prompts): the one loader, and the version pins that
make a change of what a model is asked visible in every key and report."""

from __future__ import annotations

import hashlib
import json

import pytest

from localread import prompts

# The blocks of each template file, pinned by version. A change to a block (what a
# model is asked) that keeps the version would serve stale stored summaries and
# reports that name the wrong prompt: bump the file's version block and pin the new
# hash here. Comments outside the blocks may change freely.
PINS = {
    ("chat", "3"): "d7c05e10c90f3df9941ad044cf8e20ea2764f5435ef564b1c5d29940566a71ea",
    ("completion", "3"): "fe06b167ceb0eca33ac8ea5d0e4cd9b208233f58c6b43f4a5c03bf321efbafd3",
    ("paper", "paper-3"): "4d4ad79c52a05cb0bb93d4ae344c25ffd98d568956749cc59f95aedc5dbaca6b",
    ("summarize", "summarize-5"): "31beff1694ae6ea169734e22a9b066f70f316f7fddde5b16a61b2d55a311524f",
}


def blocks_digest(templates: prompts.Templates) -> str:
    return hashlib.sha256(json.dumps(dict(templates.blocks), sort_keys=True).encode()).hexdigest()


def test_every_template_file_is_pinned_at_its_version() -> None:
    assert prompts.names() == ["chat", "completion", "paper", "summarize"]
    for name in prompts.names():
        templates = prompts.load(name)
        digest = blocks_digest(templates)
        assert PINS.get((name, templates.version)) == digest, (
            f"{name}.txt changed: bump its version block and pin PINS[({name!r}, new)] = {digest!r}"
        )


def test_the_explain_styles_share_one_version() -> None:
    # chat.txt and completion.txt are one prompt in two styles: an Explanation records
    # one prompt version whichever style the model has.
    assert prompts.load("chat").version == prompts.load("completion").version


def test_blocks_comments_and_blank_lines() -> None:
    parsed = prompts.parse(
        "demo",
        "# a comment, not a block\n=== version ===\ndemo-1\n=== shared ===\n\nHello $name.\n\n"
        "=== item ===\n- $id\n=== empty ===\n",
    )
    assert parsed.version == "demo-1"
    assert list(parsed.blocks) == ["shared", "item", "empty"]
    assert dict(parsed.blocks) == {"shared": "Hello $name.", "item": "- $id", "empty": ""}
    with pytest.raises(TypeError):
        parsed.blocks["shared"] = "changed"  # type: ignore[index]


@pytest.mark.parametrize(
    "source",
    [
        "=== shared ===\ntext\n",  # no version
        "=== shared ===\ntext\n=== version ===\n1\n",  # not first
        "=== version ===\n\n=== shared ===\ntext\n",  # empty
        "=== version ===\n1\n2\n=== shared ===\ntext\n",  # two lines
        "no blocks at all\n",
    ],
)
def test_a_file_without_a_leading_version_block_is_refused(source: str) -> None:
    with pytest.raises(ValueError, match="the first block must be `=== version ===`"):
        prompts.parse("bad", source)


def test_load_reads_a_file_once() -> None:
    assert prompts.load("summarize") is prompts.load("summarize")
    assert prompts.load("summarize").blocks["instructions"] in prompts.text("summarize")
