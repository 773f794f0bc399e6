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
    ("chat", "2"): "60db82ff4a9227bd2d70d6344a8fa0cdf3bcee9bae60c2e3f4438bef80122fdc",
    ("completion", "2"): "075ae5cb6954359f31b3b575ba4926f18e49b6a16f24acc3aecdd48e16f5ada1",
    ("paper", "paper-1"): "dc9d6cd2e73ea9d2128c1470e606b87207a4407e7b64c10991d5be73986c9018",
    ("summarize", "summarize-3"): "ebc6a72280413bbfc2746981c67d017431a0b1d31c380a2caf0faa17546d42f1",
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
