"""sentences.first_sentence: the one-line summary of a docstring, a stored summary or a
model's narrative; sentences.said_before: a sentence that says an earlier one again."""

from __future__ import annotations

import pytest

from localread.sentences import ONE_LINE_CHARS, first_sentence, said_before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One two. Three.", "One two."),
        ("Masks for a point.\n\nArguments:\n  point: xy.", "Masks for a point."),
        ("  Spread\n  over   lines. Next.", "Spread over lines."),
        ("Summary: Resizes images. Then more.", "Resizes images."),
        ("Is it cached? Yes. It is.", "Is it cached?"),  # the first end, whichever mark
        ("Stops! Then. More.", "Stops!"),
        ("Version 1.2 of the loader", "Version 1.2 of the loader"),  # no space, no end
        ("e.g. this is one sentence", "e.g."),  # an abbreviation ends it, as before
        ("Compute it.\n\nParameters\n----------\nx : float", "Compute it."),
    ],
)
def test_first_sentence(text: str, expected: str) -> None:
    assert first_sentence(text) == expected


@pytest.mark.parametrize("text", [None, "", "  \n\n  ", "Summary:", "Summary:  \n",
                                  "\n    Parameters\n    ----------\n    x : float\n", "Args:\n  x: a point.", ">>> f(1)"])
def test_no_sentence_is_none(text: str | None) -> None:
    assert first_sentence(text) is None


def test_long_sentences_are_cut_at_a_word_unless_no_limit() -> None:
    long = " ".join(["word"] * 80) + "."
    cut = first_sentence(long)
    assert len(cut) <= ONE_LINE_CHARS and cut.endswith("word…")
    # The cut drops the word it lands in (here the fourth, whole by chance).
    assert first_sentence(long, limit=20) == "word word word…"
    assert first_sentence(long, limit=None) == long


def test_a_sentence_said_again_under_another_subject() -> None:
    assert said_before("It is used to build a model.", ["This module is used to build a model."])
    assert said_before("it  is used to build a MODEL.", ["It is used to build a model."])
    assert not said_before("It returns the masks.", ["It resizes the masks."])
    assert not said_before("It returns the features of the points.", ["It maps click points to features."])
    assert not said_before("`Segmenter` is the predictor.", ["It is the predictor."])
    assert not said_before("It is used to build a model.", [])
