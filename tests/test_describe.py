"""describe: the static description of the example's chunks, word for word (what
`--no-llm` shows and every rejected model text is replaced with)."""

from __future__ import annotations

import pytest

from localread.describe import describe
from localread.facts import facts_card
from localread.repo.analysis import analyze
from tests.helpers import EXAMPLE, write_repo


@pytest.fixture(scope="module")
def repo():
    return analyze(EXAMPLE)


def said(repo, chunk_id: str) -> str:
    return describe(repo, repo.chunks[chunk_id], facts_card(repo, chunk_id))


@pytest.mark.parametrize(
    ("chunk_id", "expected"),
    [
        (
            "segmenter.predictor.Segmenter.predict",
            ("Masks and quality scores for one clicked point. Calls `ResizeLongestSide.apply_coords`, "
            "`PromptEncoder.forward`, `MaskDecoder.forward` and `_postprocess`. Uses `torch.as_tensor`. "
            "Raises `RuntimeError` if `self.features is None`. Returns `masks[0].numpy(), scores[0].numpy()`."),
        ),
        (
            "segmenter.modeling.encoder.ImageEncoder.forward",
            "For each `block` in `self.blocks`, calls `Block.forward`. Uses `torch.nn.Conv2d`. Returns `self.neck(x)`.",
        ),
        (
            "segmenter.modeling.build._build",
            ("Builds a `PromptedSegmentationModel`, an `ImageEncoder`, a `PromptEncoder` and a `MaskDecoder`. "
            "Uses `torch.nn.Module.load_state_dict` and `torch.load`. Returns `model`, a `PromptedSegmentationModel`."),
        ),
        (
            "segmenter.modeling.build.build_model",
            ("Build a registered model by name and optionally load weights. Calls `_build`. Raises `KeyError` if "
            "`name not in MODEL_REGISTRY`. Returns `MODEL_REGISTRY[name](checkpoint=checkpoint)`, a "
            "`PromptedSegmentationModel`."),
        ),
        (
            "segmenter.modeling.decoder.MaskDecoder",
            ("A subclass of `nn.Module`. Built from `width` and `num_masks`. On construction, uses "
            "`torch.nn.Embedding`, `torch.nn.MultiheadAttention` and `torch.nn.Linear`. Its method is `forward`, "
            "with the helper `_masks_from_tokens`. Calling it runs `forward`: calls `_masks_from_tokens`; returns "
            "`masks[:, 1:], scores[:, 1:]` or `masks[:, :1], scores[:, :1]`."),
        ),
        (
            "segmenter.modeling.encoder.ImageEncoder",
            ("A plain ViT: 16x16 patches, a stack of blocks, a neck to the decoder's width. A subclass of "
            "`nn.Module`. Built from `depth`, `width` and `patch`. On construction, builds a `Block`; uses "
            "`torch.nn.Conv2d` and `torch.nn.ModuleList`. Its method is `forward`. Calling it runs `forward`: for "
            "each `block` in `self.blocks`, calls `Block.forward`; returns `self.neck(x)`."),
        ),
        (
            "segmenter.predictor.Segmenter",
            ("Holds the image embedding so that many prompts can be tried cheaply. Built from `model` and "
            "`image_size`. On construction, builds a `ResizeLongestSide`; uses `torch.nn.Module.eval`. Its methods "
            "are `set_image` and `predict`, with the helpers `_normalize` and `_postprocess`."),
        ),
        ("scripts.demo", "Segment the object under a clicked point and save the mask. Defines `parse_args` and `main`."),
        ("scripts.demo.__main__", "When the file is run as a script, calls `main`."),
    ],
)
def test_the_examples_descriptions(repo, chunk_id: str, expected: str) -> None:
    assert said(repo, chunk_id) == expected


def test_every_chunk_gets_a_description_that_names_only_real_code(repo) -> None:
    from localread.grounding import repo_identifiers, unverified_names

    known = repo_identifiers(repo)
    for chunk_id in repo.chunks:
        text = said(repo, chunk_id)
        assert text.strip() and text.endswith("."), chunk_id
        assert unverified_names(text, known) == [], (chunk_id, text)


def test_empty_code_is_said_to_be_empty(tmp_path) -> None:
    write_repo(tmp_path, {"m.py": "class Empty:\n    pass\n\ndef nothing():\n    pass\n"})
    repo = analyze(tmp_path)
    assert said(repo, "m.Empty") == "The class `Empty` has no code of its own."
    assert said(repo, "m.nothing") == "`nothing` calls nothing and returns nothing that the code names."


def test_a_docstring_that_opens_with_a_section_is_no_summary(tmp_path) -> None:
    # tqdm's `cli.main` and `EMA.__call__` begin with "Parameters" over dashes: their
    # description used to start "Parameters ---------- x : float ...".
    write_repo(tmp_path, {"pkg/__init__.py": "", "pkg/ema.py": '''
        class EMA:
            def update(self, x=None):
                """
                Parameters
                ----------
                x  : float
                """
                if self.smooth:  # moving average only
                    self.step(x)

            def step(self, x):
                self.last = x
        ''', "pkg/__main__.py": "from .ema import EMA\n\nEMA().update()\n"})
    repo = analyze(tmp_path)
    assert facts_card(repo, "pkg.ema.EMA.update").docstring is None
    # The comment is no part of the condition.
    assert said(repo, "pkg.ema.EMA.update") == "If `self.smooth`, calls `step`."
    # A module of top-level code says what it runs.
    assert said(repo, "pkg.__main__") == (
        "Imports `pkg.ema`, and at import builds an `EMA`, calls `EMA.update`; it defines nothing of its own.")


def test_an_else_is_said_with_the_statement_it_belongs_to(tmp_path) -> None:
    # The outline lists an `else` apart from its `if`: "otherwise" after the clause of
    # another `if` (or of a `for` whose `else` it is) said something false.
    write_repo(tmp_path, {"pkg/__init__.py": "", "pkg/steps.py": '''
        def warm(): pass
        def cold(): pass
        def fallback(): pass
        def done(): pass

        def choose(fast, exact, items):
            if fast:
                warm()
            if exact:
                pass
            else:
                cold()
            if items:
                pass
            elif exact:
                warm()
            else:
                fallback()
            for item in items:
                if item.ready:
                    break
            else:
                done()
            try:
                warm()
            except OSError:
                cold()
            else:
                done()
        '''})
    repo = analyze(tmp_path)
    assert said(repo, "pkg.steps.choose") == (
        "If `fast`, calls `warm`; unless `exact`, calls `cold`; if `exact`, calls `warm`; "
        "if neither `items` nor any `elif` condition holds, calls `fallback`; "
        "after the loop over `items` ends without a `break`, calls `done`; calls `warm`; "
        "and 2 more calls into the repository.")


def test_exceptions_whose_conditions_hold_commas_are_set_apart(tmp_path) -> None:
    # bm25s's `BM25.retrieve`: "`ValueError` if `k > num_docs`, `ValueError` if ...,
    # under a condition, `ValueError` ..." did not say which condition went with which.
    write_repo(tmp_path, {"m.py": """
        def pick(items, k):
            if k > len(items):
                raise ValueError("k")
            for item in items:
                if item is None:
                    raise KeyError(item)
            raise TypeError("empty")

        def check(k):
            if k < 0:
                raise ValueError(k)
            raise TypeError(k)
        """})
    repo = analyze(tmp_path)
    assert said(repo, "m.pick") == (
        "Raises `ValueError` if `k > len(items)`; `KeyError` for each `item` in `items`, if `item is None`; "
        "and `TypeError`.")
    assert said(repo, "m.check") == "Raises `ValueError` if `k < 0` and `TypeError`."


def test_a_test_says_what_its_name_says_it_tests(tmp_path) -> None:
    write_repo(tmp_path, {"graphs/__init__.py": "", "graphs/build.py": "def complete(n):\n    return n\n",
                          "tests/test_build.py": '''
        from graphs.build import complete

        def test_complete_undirected_graph():
            assert complete(3)

        class TestBuild:
            def testHTTPClient(self):
                complete(1)

            def helper(self):
                complete(2)

        def test():
            complete(0)
        ''', "tests/conftest.py": "def test_like_fixture():\n    pass\n"})
    repo = analyze(tmp_path)
    assert said(repo, "tests.test_build.test_complete_undirected_graph") == (
        "A test of “complete undirected graph”, run by pytest. Calls `complete`.")
    assert said(repo, "tests.test_build.TestBuild.testHTTPClient").startswith("A test of “http client”, run by pytest.")
    assert said(repo, "tests.test_build.test").startswith("A test, run by pytest.")
    # Not what pytest collects: a helper method, a conftest function.
    assert said(repo, "tests.test_build.TestBuild.helper") == "Calls `complete`."
    assert not said(repo, "tests.conftest.test_like_fixture").startswith("A test")


def test_the_article_before_a_returned_type_follows_its_sound(tmp_path) -> None:
    write_repo(tmp_path, {"m.py": "def count() -> int:\n    return 0\n\n"
                          "def width(x) -> float:\n    w = x * 2\n    return w\n"})
    repo = analyze(tmp_path)
    assert said(repo, "m.count") == "Returns `0`, an `int`."
    assert said(repo, "m.width") == "Returns `w`, a `float`."


def test_a_class_says_what_it_is_made_of_and_what_calling_it_runs(tmp_path) -> None:
    write_repo(tmp_path, {"net/__init__.py": "", "net/blocks.py": '''
        import torch
        from torch import nn


        class Base(nn.Module):
            def __init__(self):
                super().__init__()


        class Stage(Base):
            def __init__(self, width, depth):
                super().__init__()
                self.layers = nn.ModuleList([Layer(width) for _ in range(depth)])

            def forward(self, x):
                for layer in self.layers:
                    x = layer(x)
                return x


        class Layer(nn.Module):
            def __init__(self, width):
                super().__init__()
                self.proj = nn.Linear(width, width)

            def forward(self, x):
                return self.proj(x).relu()


        class Runner:
            def forward(self, batch):
                return step(batch)


        class Hook:
            def __call__(self, grad):
                return clip(grad)


        def step(batch):
            return batch


        def clip(grad):
            return torch.clamp(grad, -1, 1)
        '''})
    repo = analyze(tmp_path)
    # Through a repository base that is an nn.Module: calling a `Stage` runs `forward`.
    assert said(repo, "net.blocks.Stage") == (
        "A subclass of `Base`. Built from `width` and `depth`. On construction, builds a `Layer`; "
        "uses `torch.nn.ModuleList`. Its method is `forward`. Calling it runs `forward`: for each `layer` in "
        "`self.layers`, calls `Layer.forward`; returns `x`."
    )
    assert said(repo, "net.blocks.Layer") == (
        "A subclass of `nn.Module`. Built from `width`. On construction, uses `torch.nn.Linear`. Its method is "
        "`forward`. Calling it runs `forward`: returns `self.proj(x).relu()`."
    )
    # Not an nn.Module: calling a `Runner` does not run its `forward`, so nothing says it does.
    assert said(repo, "net.blocks.Runner") == "Its method is `forward`."
    assert said(repo, "net.blocks.Hook") == "Its method is `__call__`. Calling it runs `__call__`: calls `clip`; returns `clip(grad)`."


def test_the_count_of_attributes_set_is_the_true_count(tmp_path) -> None:
    # Read in rich's `Console.__init__`: 27 attributes set, described as "... and 8
    # more", the count of the facts card's first 12.
    body = "".join(f"        self.option_{i} = {i}\n" for i in range(27))
    write_repo(tmp_path, {"m.py": f"class Trainer:\n    def __init__(self):\n{body}"})
    repo = analyze(tmp_path)
    chunk = repo.chunks["m.Trainer.__init__"]
    card = facts_card(repo, chunk.id)
    assert len(card.attributes_written) == 12  # the card lists the first ones
    assert describe(repo, chunk, card) == (
        "Sets `self.option_0`, `self.option_1`, `self.option_2`, `self.option_3` and 23 more attributes."
    )
