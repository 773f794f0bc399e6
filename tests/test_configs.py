"""YAML configs read as data (localread/repo/configs.py): nodes with their lines, merge
keys and aliases expanded, the file a script's path value names, and the limits that
leave a hostile file out with one note."""

from __future__ import annotations

from pathlib import Path

from localread.repo.configs import MAX_CONFIG_NODES, ConfigFiles, NodeKind
from tests.helpers import write_repo


def test_nodes_carry_their_lines_and_merge_keys_add_what_is_not_set(tmp_path: Path) -> None:
    write_repo(tmp_path, {"configs/a.yaml": """
        base: &base
          lr: 0.1
          target: old.Thing
        model:
          <<: *base
          target: pkg.models.Net
          params:
            layers: [1, 2]
        ---
        second: document
    """})
    tree = ConfigFiles(tmp_path, ["configs/a.yaml"]).tree("configs/a.yaml")
    assert tree is not None
    model = tree.entry(0, "model")
    assert model is not None and model.line == 4
    target = tree.entry(model.node, "target")
    assert target is not None and (target.line, tree.nodes[target.node].value) == (6, "pkg.models.Net")
    lr = tree.entry(model.node, "lr")
    assert lr is not None and tree.nodes[lr.node].value == "0.1"  # merged from base, line 2
    layers = tree.entry(tree.entry(model.node, "params").node, "layers")  # type: ignore[union-attr]
    assert tree.nodes[layers.node].kind is NodeKind.SEQUENCE  # type: ignore[union-attr]
    assert tree.entry(0, "second") is None  # the first document only


def test_tags_are_never_constructed(tmp_path: Path) -> None:
    write_repo(tmp_path, {"x.yaml": "run: !!python/object/apply:os.system ['touch pwned']\n"})
    tree = ConfigFiles(tmp_path, ["x.yaml"]).tree("x.yaml")
    assert tree is not None and not (tmp_path / "pwned").exists()


def test_a_recursive_alias_is_an_endless_tree_stopped_by_the_node_limit(tmp_path: Path) -> None:
    write_repo(tmp_path, {"loop.yaml": "a: &a [*a, *a]\n"})
    configs = ConfigFiles(tmp_path, ["loop.yaml"])
    assert configs.tree("loop.yaml") is None
    assert configs.notes == [f"loop.yaml: its aliases expand to more than {MAX_CONFIG_NODES:,} nodes, not read as a config"]
    assert configs.tree("loop.yaml") is None and len(configs.notes) == 1  # read, and noted, once


def test_a_path_value_is_found_from_the_root_or_the_script_folder(tmp_path: Path) -> None:
    configs = ConfigFiles(tmp_path, ["configs/a.yaml", "scripts/local.yaml", "tools/configs/only.yml"])
    assert configs.find("scripts/run.py", "./configs/a.yaml") == "configs/a.yaml"
    assert configs.find("scripts/run.py", "local.yaml") == "scripts/local.yaml"
    assert configs.find("scripts/run.py", "../configs/a.yaml") == "configs/a.yaml"
    assert configs.find("scripts/run.py", "/etc/passwd.yaml") is None
    assert configs.find("scripts/run.py", "configs/missing.yaml") is None
    # The nearest configs/ folder, when it holds one file only.
    assert configs.fallback("tools/run.py") == "tools/configs/only.yml"
    assert configs.fallback("scripts/run.py") == "configs/a.yaml"
    assert ConfigFiles(tmp_path, ["configs/a.yaml", "configs/b.yaml"]).fallback("run.py") is None


def test_a_flag_takes_the_readme_command_value_over_the_default(tmp_path: Path) -> None:
    source = b'parser.add_argument("-c", "--config", type=str, default="configs/a.yaml")\n'
    configs = ConfigFiles(tmp_path, [], {"run.py": "python run.py --config=configs/b.yaml"})
    assert configs.flag_value("run.py", source, "config") == "configs/b.yaml"
    assert configs.flag_value("other.py", source, "config") == "configs/a.yaml"
    assert configs.flag_value("other.py", source, "base") is None
