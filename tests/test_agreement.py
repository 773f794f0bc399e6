"""localread.agreement: the answer the others agree on, and ties to the first."""

from __future__ import annotations

from localread.agreement import agreement, most_agreed


def test_agreement_is_the_f1_of_the_longest_common_word_subsequence() -> None:
    assert agreement("Split the layout into rows.", "split the layout into rows") == 1.0
    # Stems meet ("nodes", "node"); identifiers split into words.
    assert agreement("Return the number of nodes.", "number_of_node") == 2 * (3 / 5 * 1.0) / (3 / 5 + 1.0)
    assert agreement("", "anything") == agreement("Words here.", "") == 0.0
    assert agreement("Fill the kettle.", "Open the vents.") == 1 / 3  # "the", one word of three each
    assert agreement("alpha beta", "gamma delta") == 0.0


def test_most_agreed_picks_what_most_voices_share_and_the_first_of_equals() -> None:
    odd = "Keeps a running total of widths in memory."
    pair = ["Scales each feature by the width and the depth.", "Scales the features by width and depth."]
    candidates = [odd, *pair]
    assert most_agreed(candidates, [*candidates, "encoder"]) in (1, 2)
    # The name is a voice too: of two answers alike otherwise, the one that says it.
    named = ["Splits the row of a layout.", "Divides the row of a layout."]
    assert most_agreed(named, [*named, "split row"]) == 0
    assert most_agreed(list(reversed(named)), [*reversed(named), "split row"]) == 1
    # One candidate, or none agreeing with anything: the first.
    assert most_agreed([odd], [odd]) == 0
    assert most_agreed(["alpha beta", "gamma delta"], ["alpha beta", "gamma delta"]) == 0
