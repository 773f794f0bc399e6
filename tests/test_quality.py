"""The quality gate (localread.quality): each rule on real texts about the example's
code, and the worked examples of every template against typical repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from localread.facts import facts_card
from localread.grounding import repo_identifiers
from localread.llm.models import ChatStyle
from localread.llm.prompts import templates
from localread.quality import (
    check,
    content_words,
    example_vocabulary,
    split_words,
    stem,
    subject_for,
    subject_of_names,
)
from localread.repo.analysis import analyze
from localread.summarize.prompts import templates as summarize_templates
from tests.helpers import EXAMPLE, write_repo

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = (templates(ChatStyle.COMPLETION)["shared"],)


@pytest.fixture(scope="module")
def repo():
    return analyze(EXAMPLE)


def subject(repo, chunk_id: str, reason: str | None = None):
    chunk = repo.chunks[chunk_id]
    return subject_for(repo, chunk, facts_card(repo, chunk_id), reason=reason)


def test_words_are_split_and_stemmed() -> None:
    assert split_words("MaskDecoder.forward _process_crop HTTPServer") == [
        "mask", "decoder", "forward", "process", "crop", "http", "server",
    ]  # fmt: skip
    assert stem("masks") == stem("masking") == stem("mask") == "mask"
    assert stem("classes") == "class" and stem("process") == "process"
    # Seen in explain_quality: "nodes" stemmed to "nod" missed `_node_redundancy`'s `node`.
    assert stem("nodes") == stem("node") == "node" and stem("images") == "image" and stem("matches") == "match"
    assert content_words("Returns the value of the masks.") == {"mask"}


def test_a_good_text_passes(repo) -> None:
    build = subject(repo, "segmenter.modeling.build._build", "called by `build_model` at segmenter/modeling/build.py:33")
    assert check("Assemble the image encoder, prompt encoder and mask decoder, and load a checkpoint.", build,
                 examples=EXAMPLES) == ()


def test_empty_and_trivially_short(repo) -> None:
    s = subject(repo, "segmenter.modeling.build._build")
    assert check("", s) == ("empty",)
    assert check("   ", s) == ("empty",)
    assert check("Builds models.", s) == ("too short (2 words)",)
    # The words the prompt put in the model's mouth are not the model's.
    assert check("`_build` builds it.", s, prefix="`_build`") == ("too short (2 words)",)


def test_off_topic(repo) -> None:
    s = subject(repo, "segmenter.utils.transforms.ResizeLongestSide.apply_coords")
    assert check("This is a helper that returns the result of the operation.", s) == (
        "off topic: it shares no word with the code's names, parameters, callees or docstring",
    )
    assert check("Scale the click coordinates to the resized image.", s) == ()


def test_restating_the_name_or_the_reason_adds_nothing(repo) -> None:
    reason = "instantiated by `main` at scripts/demo.py:23"
    s = subject(repo, "segmenter.predictor.Segmenter", reason)
    said = check("`Segmenter` is instantiated by `main` at scripts/demo.py:23.", s)
    assert said == ("restates the name and the reason line and adds nothing",)
    # Seen on markdown-it with the default model: true, and empty.
    init = subject(repo, "segmenter.predictor.Segmenter.__init__", "instantiated by `main` at scripts/demo.py:23")
    assert check("Sets up the segmenter.", init) == ("restates the name and the reason line and adds nothing",)
    assert check("This is the constructor of the segmenter. It is called when it is built at scripts/demo.py:23", init) == (
        "restates the name and the reason line and adds nothing",
    )
    # Seen on tqdm's `cli.main` with the default model: the tour's heading, in words.
    main = subject(repo, "scripts.demo.main", "called by `scripts.demo.__main__` at scripts/demo.py:30")
    assert check("Main function for demo.py.", main) == ("restates the name and the reason line and adds nothing",)
    # Seen on bm25s's `create_mcp_server`: "Create a new mcp server." A new one is the name still.
    build = subject(repo, "segmenter.modeling.build.build_model")
    assert check("Build a new model.", build) == ("restates the name and the reason line and adds nothing",)
    module = subject(repo, "segmenter.modeling", "re-exports `build_model` from `segmenter.modeling.build`")
    assert check("`modeling` is a module that re-exports `build_model` from `segmenter.modeling.build`.", module)[0] == (
        "restates the name and the reason line and adds nothing"
    )


def test_repeating_a_shown_text(repo) -> None:
    s = subject(repo, "segmenter.modeling.build._build")
    shown = {"`PromptEncoder`": "Random Fourier features of click coordinates."}
    assert check("Random Fourier features of click coordinates.", s, shown=shown) == (
        "repeated what the prompt said about `PromptEncoder` (100% of its 4-word phrases)",
    )


def test_leakage_from_the_worked_examples(repo) -> None:
    s = subject(repo, "segmenter.modeling.decoder.MaskDecoder")
    said = check("A decoder whose vents open when the masks get too hot.", s, examples=EXAMPLES)
    assert said == ("took “hot”, “vent” from a worked example of the prompt, not from the code",)
    # Words of the example that the unit has too are its own.
    predict = subject(repo, "segmenter.predictor.Segmenter.predict")
    assert check("Predict masks and scores for one clicked point, as the model sees it.", predict, examples=EXAMPLES) == ()


def test_call_relations_the_graph_contradicts(repo) -> None:
    build = subject(repo, "segmenter.modeling.build._build", "called by `build_model` at segmenter/modeling/build.py:33")
    assert check("`_build` calls `build_model` to make the model and its encoder.", build) == (
        "says `_build` calls `build_model`, which its code never names",
    )
    assert check("It calls `frobnicate_weights` on the image encoder.", build) == (
        "says `_build` calls `frobnicate_weights`, which its code never names",
    )
    main_block = subject(repo, "scripts.demo.__main__")
    assert check("`__main__` is called when `main` is executed as the demo script.", main_block) == (
        "says `main` calls `__main__`, but it is `__main__` that calls `main`",
    )
    predict = subject(repo, "segmenter.predictor.Segmenter.predict")
    assert check("`MaskDecoder.forward` calls `PromptEncoder.forward` before the masks are decoded.", predict) == (
        ()  # neither calls the other: not a contradiction the graph can show
    )
    encoder = subject(repo, "segmenter.modeling.encoder.ImageEncoder.forward")
    assert check("`Block.forward` calls `ImageEncoder.forward` for each patch of the image.", encoder) == (
        "says `Block.forward` calls `forward`, but it is `forward` that calls `Block.forward`",
    )
    # What the code does call is fine.
    assert check("It calls `Block.forward` for every block, then the neck of the image encoder.", encoder) == ()
    # Seen on networkx's `communicability` with the default model.
    assert check("Computes the image features. It is called by `segmenter.modeling.encoder.ImageEncoder.forward`.",
                 encoder) == ("says `forward` calls itself, which its code does not",)
    assert check("It is called by `Segmenter.set_image` to embed the image.", encoder) == ()
    assert check("It calls `forward` of every block in turn to embed the image.", encoder) == ()


def test_a_call_of_a_function_nobody_defines(repo) -> None:
    # Gemma 3 270M on bm25s: "uses the bm25s.score() method to calculate the scores".
    encoder = subject(repo, "segmenter.modeling.encoder.ImageEncoder.forward")
    assert check("Embeds the image and uses the segmenter.score() method to rank the patches.", encoder) == (
        "names `segmenter.score()`, which neither its code nor the repository defines",
    )
    # A call its code makes, a function the repository defines, and the unit itself pass.
    assert check("Runs `self.neck()` on the features after every block of the image encoder.", encoder) == ()
    assert check("Embeds the image, as `Segmenter.set_image()` asks it to.", encoder) == ()
    assert check("`ImageEncoder.forward()` embeds the image with every block.", encoder) == ()


def test_a_file_the_repository_does_not_have(repo) -> None:
    # Gemma 3 270M on bm25s's `mcp.server.main`: "Create a mcp server for the bm25s.py cli."
    main = subject(repo, "scripts.demo.main")
    assert check("Runs the segmenter on one image for the segmenter.py command line.", main) == (
        "names the file `segmenter.py`, which the repository does not have",
    )
    # Its files, by path or by name, are fine.
    assert check("Runs the segmenter on one image, as scripts/demo.py is run.", main) == ()
    assert check("Loads the image and runs the segmenter that predictor.py defines.", main) == ()


def test_a_word_of_a_comment_is_no_call_of_the_code(tmp_path) -> None:
    # bm25s: "# Calculate the BM25 score for each token" let "uses the bm25s.score()
    # method" through, as if the code named `score`.
    write_repo(tmp_path, {"ranker/__init__.py": "", "ranker/scoring.py": """
        def build_scores(token_ids, idf):
            # Calculate the BM25 score for each token in the document
            weights = [idf[t] for t in token_ids]  # see score() in the paper
            label = "tokens # counted"
            return weights, label
        """})
    repo = analyze(tmp_path)
    s = subject(repo, "ranker.scoring.build_scores")
    assert check("Builds the weights of the tokens and uses the ranker.score() method to rank them.", s) == (
        "names `ranker.score()`, which neither its code nor the repository defines",
    )
    assert "score" not in s.source_names and "counted" in s.source_names  # a string is no comment


def test_calling_a_function_an_object(repo) -> None:
    s = subject(repo, "segmenter.utils.transforms.ResizeLongestSide.apply_coords")
    assert check("`apply_coords` is a `torch.Tensor` object of the resized coordinates.", s) == (
        "calls the method `apply_coords` an object",
    )


def test_a_subclass_of_a_module_is_a_module() -> None:
    # Read in torch.nn with the default model: every class there derives from
    # `Module`, through the repository's own base classes, and "is a module" is true.
    detr = analyze(FIXTURES / "tour_detr" / "repo")
    backbone = subject(detr, "models.backbone.Backbone")
    assert backbone.bases == frozenset({"BackboneBase"})
    assert {"BackboneBase", "Module"} <= backbone.lineage
    assert check("`Backbone` is a PyTorch module that runs the ResNet body on the images.", backbone) == ()
    assert check("Backbone derives from `Module` and returns the feature maps.", backbone) == ()
    assert check("`Backbone` is a function that builds the ResNet body.", backbone) == (
        "calls the class `Backbone` a function",
    )
    # A base from torch.nn is a `Module` too; a tensor it is not.
    joiner = subject(detr, next(c.id for c in detr.chunks.values() if c.name == "Joiner"))
    assert joiner.lineage == frozenset({"Sequential", "Module"})
    assert check("`Joiner` is a module that runs the backbone, then the position encoding.", joiner) == ()
    assert check("`Joiner` is a tensor of the joined features.", joiner) == ("calls the class `Joiner` a tensor",)
    # A class with no `Module` anywhere above it is no module.
    diffusion = analyze(FIXTURES / "tour_diffusion" / "repo")
    uniform = subject(diffusion, next(c.id for c in diffusion.chunks.values() if c.name == "UniformSampler"))
    assert uniform.lineage == frozenset({"ScheduleSampler", "ABC"})
    assert check("`UniformSampler` is a module that draws the diffusion steps uniformly.", uniform) == (
        "calls the class `UniformSampler` a module",
    )


def test_degeneration(repo) -> None:
    s = subject(repo, "segmenter.modeling")
    assert check("`segmenter.segmenter.segmenter.segmenter` re-exports the model builder.", s)[0].startswith(
        "degenerate: a runaway identifier"
    )
    assert check("The mask of the image and the mask of the image and the mask of the image.", s)[0] == (
        "degenerate: “the mask of” comes round 3 times"
    )
    assert check("Builds masks, masks of masks, images of masks, masks of images, images of images, and masks.", s)[0] == (
        "degenerate: it repeats the same few words"
    )
    assert check("`ReprHighlighter.ReprHighlighter.base_style` is the style of the builder.", s)[0].startswith(
        "degenerate: a runaway identifier"
    )
    assert check('ReprHighlighter.base_style = "repr.', s)[0] == "degenerate: it is code, not a sentence"
    # Read in markdown-it's narrated tour: a pair of parts said again.
    assert check("This is a simple example of a MarkdownIt.main.MarkdownIt.main.py.", s)[0].startswith(
        "degenerate: a runaway identifier (MarkdownIt.main.MarkdownIt.main.py"
    )
    assert check("Re-exports the model builder from `segmenter.modeling.build.modeling`.", s) == ()  # one part again
    assert check("Re-exports the model builder for the demo scripts and so on ...", s)[0] == (
        "degenerate: it went round in a loop and was cut"
    )


def test_a_name_or_a_signature_is_no_sentence(repo) -> None:
    # Seen with the default model: rich's `Style.on` "summarized" as its signature, and
    # tqdm's `tqdm_discord` as a bare dotted name.
    s = subject(repo, "segmenter.utils.transforms.ResizeLongestSide.apply_coords")
    assert check("ResizeLongestSide.apply_coords(self, coords, original_size)", s) == (
        "names code and says nothing about it",
    )
    assert check("`transforms.ResizeLongestSide.apply_coords`.", s) == ("names code and says nothing about it",)
    assert check("Scale `coords` with `ResizeLongestSide.apply_coords(coords, size)` to the new size.", s) == ()


def test_a_name_said_again_and_again(repo) -> None:
    # Seen on rich's `ReprHighlighter` with the default model.
    s = subject(repo, "segmenter.modeling.decoder.MaskDecoder")
    said = check("MaskDecoder is a class that combines the base class `MaskDecoder` with the class `MaskDecoder`.", s)
    assert said == ("degenerate: it names `MaskDecoder` 3 times",)


def test_base_classes_the_code_does_not_have(repo) -> None:
    decoder = subject(repo, "segmenter.modeling.decoder.MaskDecoder")
    assert decoder.bases == frozenset({"Module"})
    assert check("A subclass of `ImageEncoder` that decodes the masks from the image embedding.", decoder) == (
        "says `MaskDecoder` derives from `ImageEncoder`; its bases are `Module`",
    )
    assert check("The mask decoder, a subclass of the base class `MaskDecoder`.", decoder) == (
        "calls `MaskDecoder` its own base class",
    )
    # What the code says, and words in plain prose, pass.
    assert check("A subclass of `torch.nn.Module` that decodes masks from the image embedding.", decoder) == ()
    assert check("Decodes masks and extends the mask tokens with the image embedding.", decoder) == ()
    # A function has no bases to contradict.
    assert subject(repo, "segmenter.modeling.build._build").bases is None


def test_the_package_name_alone_is_not_on_topic(repo) -> None:
    s = subject(repo, "segmenter.utils.transforms.ResizeLongestSide.apply_coords")
    assert check("The segmenter package for the whole project.", s)[0].startswith("off topic")


def test_a_text_about_names_only() -> None:
    package = subject_of_names("tinynet", "package", ["module `tinynet.model`: a tiny classifier"])
    assert check("The tiny classifier and its training loop.", package) == ()
    assert check("Utilities for the project.", package)[0].startswith("off topic")


@pytest.mark.parametrize("root", [EXAMPLE, *sorted(p for p in FIXTURES.iterdir() if p.is_dir())], ids=lambda p: p.name)
def test_worked_examples_share_no_domain_word_with_typical_repositories(root: Path) -> None:
    """The examples of every template come from a kitchen and a garden: none of their
    domain words may be a word of research code, or the leakage rule would reject
    honest answers (and small models would have a plausible phrase to copy)."""
    from localread.prompts import load

    repo = analyze(root / "repo" if (root / "repo").is_dir() else root)
    code_words = {stem(w) for name in repo_identifiers(repo) for w in split_words(name)}
    for block in (EXAMPLES[0], summarize_templates()["instructions"], load("paper").blocks["shared"]):
        shared = example_vocabulary((block,)) & code_words
        assert not shared, (root.name, sorted(shared))


def test_an_echo_of_the_prompts_heading(repo) -> None:
    # Read in networkx's summaries with the default model (explain_quality).
    s = subject(repo, "segmenter.utils.transforms.ResizeLongestSide.apply_coords")
    assert check("Apply_coords function, documented: 1. Scales the points.", s) == (
        "echoes the prompt's layout (“documented:”), not the code",
    )
    echo = "echoes the prompt's heading: it spells out its own id `segmenter.utils.transforms.ResizeLongestSide.apply_coords`"
    assert check("Test that `segmenter.utils.transforms.ResizeLongestSide.apply_coords` scales points.", s) == (echo,)
    # Its short name, or another unit's full id, is no echo.
    assert check("`ResizeLongestSide.apply_coords` scales the click points to the resized image.", s) == ()
    assert check("Scales the points as `segmenter.utils.transforms.ResizeLongestSide.apply_image` scales images.",
                 s) == ()
