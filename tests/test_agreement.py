"""localread.agreement: how far the sampled answers bear out the greedy one."""

from __future__ import annotations

from localread.agreement import CONSISTENCY, agreement, consistency, unsure


def test_agreement_is_the_f1_of_the_longest_common_word_subsequence() -> None:
    assert agreement("Split the layout into rows.", "split the layout into rows") == 1.0
    # Stems meet ("nodes", "node"); identifiers split into words.
    assert agreement("Return the number of nodes.", "number_of_node") == 2 * (3 / 5 * 1.0) / (3 / 5 + 1.0)
    assert agreement("", "anything") == agreement("Words here.", "") == 0.0
    assert agreement("Fill the kettle.", "Open the vents.") == 1 / 3  # "the", one word of three each
    assert agreement("alpha beta", "gamma delta") == 0.0


def test_an_answer_its_samples_do_not_bear_out_is_a_guess() -> None:
    # Read with the default model: a gated attention block's greedy answer, and what
    # its samples said instead.
    guess = "This block is used to predict the next token in the sequence."
    others = ["A block of gated attention over the patch tokens.", "Self-attention whose update is gated.",
              "Normalizes the tokens and applies attention with a sigmoid gate."]
    assert consistency(guess, others) is not None and consistency(guess, others) < CONSISTENCY  # type: ignore[operator]
    said = unsure(guess, others)
    assert said is not None and said.startswith("is a guess: the model's own answers sampled from the same prompt")
    # Samples that say the same thing in other words bear it out.
    stands = "Splits the layout into a row of layouts side by side."
    assert unsure(stands, ["Splits the layout into a row.", "Split the layout into a row of layouts.",
                           "Splits this layout into layouts side by side."]) is None
    # No samples (an engine that samples nothing): nothing to check against.
    assert consistency(stands, []) is None and unsure(stands, []) is None
