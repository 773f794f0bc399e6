"""Entry kinds of the tour: a test module runs its tests (and their fixtures),
hubconf.py its torch.hub functions, the README's ```python usage is a virtual module
with README line numbers; and the order of the entries the README shows."""

from __future__ import annotations

from pathlib import Path

from localread.repo.analysis import analyze
from localread.repo.scan import python_blocks, read_source, readme_source, scan
from localread.repo.tour import build_tour, pick_entry
from tests.helpers import FIXTURES, write_repo


def test_a_test_module_runs_its_tests_and_their_fixtures() -> None:
    repo = analyze(FIXTURES / "tour_gpt" / "repo")
    tour = build_tour(repo, pick_entry(repo, "tests/test_model.py"))
    steps = {s.id: s for s in tour.steps}
    tests = [s.id for s in tour.steps if s.reason.startswith("a test pytest runs")]
    assert tests == [
        "tests.test_model.test_forward_returns_logits_and_loss",
        "tests.test_model.test_generate_appends_tokens",
        "tests.test_model.test_crop_block_size",
    ]
    assert all(tour.parents[t] == "tests.test_model" and tour.calls[t] == 0 for t in tests)
    fixture = steps["tests.test_model.tiny_config"]
    assert fixture.reason == "pytest fixture, set up for `test_forward_returns_logits_and_loss`"
    assert tour.parents[fixture.id] == tests[0]
    # What the tests run is followed: the model and its forward.
    assert {"model.GPT.__init__", "model.GPT.forward", "model.GPT.generate", "model.Block.forward"} <= set(steps)


def test_test_methods_of_a_test_class_are_run(tmp_path: Path) -> None:
    repo = analyze(write_repo(tmp_path, {
        "lib.py": "def add(a, b):\n    return a + b\n",
        "tests/test_lib.py": """
            from lib import add

            class TestAdd:
                def test_small(self):
                    assert add(1, 2) == 3

                def helper(self):
                    return 0
            """,
    }))
    tour = build_tour(repo, pick_entry(repo, "tests/test_lib.py"))
    reasons = {s.id: s.reason for s in tour.steps}
    assert reasons["tests.test_lib.TestAdd.test_small"] == "a test pytest runs from `TestAdd` in `tests/test_lib.py`"
    assert "lib.add" in reasons
    assert "tests.test_lib.TestAdd.helper" not in reasons


def test_hubconf_functions_are_torch_hub_entry_points() -> None:
    repo = analyze(FIXTURES / "tour_detr" / "repo")
    hub = next(e for e in repo.entries if e.path == "hubconf.py")
    assert hub.kind == "torch_hub"
    assert hub.command == "torch.hub.load('.', 'detr_resnet50', source='local')"
    tour = build_tour(repo, hub)
    runners = [s.id for s in tour.steps if s.reason.startswith("a torch.hub entry point")]
    assert runners == ["hubconf.detr_resnet50", "hubconf.detr_resnet101", "hubconf.detr_resnet50_panoptic"]
    assert "hubconf._make_detr" in [s.id for s in tour.steps]  # private: not an entry, but called
    assert tour.steps[0].reason.startswith("entry point: `torch.hub.load('.', 'detr_resnet50', source='local')`")


def test_the_readme_python_usage_is_the_entry_with_readme_line_numbers() -> None:
    root = FIXTURES / "tour_speech" / "repo"
    repo = analyze(root)
    entry = repo.entries[0]
    assert (entry.path, entry.kind, entry.chunk) == ("README.md", "readme_python", "README")
    tour = build_tour(repo, entry)
    assert tour.steps[0].reason == "entry point: `README.md` (the README's Python usage)"
    reasons = {s.id: s.reason for s in tour.steps}
    readme = (root / "README.md").read_text().splitlines()
    # "called by `README.md` at README.md:N": N is the README's own line.
    line = int(reasons["murmur.load_model"].rsplit(":", 1)[1])
    assert readme[line - 1] == 'model = murmur.load_model("base")'
    assert reasons["murmur.transcribe.transcribe"].startswith("called by `README.md` at README.md:")
    # The console script the README shows later comes second.
    assert repo.entries[1].path == "murmur/transcribe.py"


def test_readme_blocks_become_python_at_their_own_lines() -> None:
    readme = [
        "# demo",                 # 1
        "```bash",                # 2
        "pip install demo",       # 3
        "```",                    # 4
        "```python",              # 5
        "import demo",            # 6
        "demo.run()",             # 7
        "```",                    # 8
        "  ```py",                # 9  indented, in a list item
        "  x = demo.load(",       # 10
        "  ```",                  # 11 does not parse: not code to read
        "```pycon",               # 12
        ">>> import demo",        # 13
        ">>> demo.total(1, 2)",   # 14
        "3",                      # 15 the output a doctest shows
        "```",                    # 16
    ]
    text = "\n".join(readme)
    assert python_blocks(text) == [(6, ["import demo", "demo.run()"]), (13, ["import demo", "demo.total(1, 2)", ""])]
    lines = readme_source(text).decode().split("\n")
    assert lines[5:7] == ["import demo", "demo.run()"]
    assert lines[12:14] == ["import demo", "demo.total(1, 2)"]
    assert lines[9] == "" and lines[14] == ""


def test_a_readme_without_python_blocks_is_no_module(tmp_path: Path) -> None:
    write_repo(tmp_path, {"README.md": "# x\n\n```bash\npython run.py\n```\n", "run.py": "print(1)\n"})
    assert [f.path for f in scan(tmp_path).files] == ["run.py"]
    write_repo(tmp_path, {"README.md": "# x\n\n```python\nimport run\n```\n"})
    result = scan(tmp_path)
    assert [f.path for f in result.files] == ["run.py", "README.md"]
    assert result.layout.top_level_modules == ["run"]
    assert read_source(tmp_path, "README.md") == b"\n\n\nimport run\n"


def test_a_readme_block_that_imports_nothing_of_the_repo_is_no_entry(tmp_path: Path) -> None:
    repo = analyze(write_repo(tmp_path, {
        "README.md": "# x\n\n```python\nimport torch\nmodel = torch.hub.load('a/b', 'm')\n```\n",
        "train.py": "if __name__ == '__main__':\n    print(1)\n",
    }))
    assert [e.path for e in repo.entries] == ["train.py"]
    assert "README" in repo.chunks  # still read as code


def test_the_readme_order_decides_and_data_preparation_comes_after(tmp_path: Path) -> None:
    repo = analyze(write_repo(tmp_path, {
        "README.md": """
            # gpt
            ```bash
            python data/prepare.py
            python train.py config.py
            python sample.py
            ```
            """,
        "data/prepare.py": "print('prepare')\n",
        "train.py": "def main():\n    pass\n\nmain()\n",
        "sample.py": "if __name__ == '__main__':\n    print(1)\n",
    }))
    assert [e.path for e in repo.entries] == ["train.py", "sample.py", "data/prepare.py"]


def test_a_launcher_module_in_a_readme_command_runs_the_script_after_it(tmp_path: Path) -> None:
    repo = analyze(write_repo(tmp_path, {
        "README.md": "```\npython -m torch.distributed.launch --nproc_per_node=8 --use_env main.py --coco_path x\n```\n",
        "main.py": "def main():\n    pass\n",
    }))
    assert repo.entries[0].path == "main.py"
    assert repo.entries[0].command.startswith("python -m torch.distributed.launch")
