"""scripts/check_layers.py: the repo keeps its layering, and the check catches each kind of break."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import check_layers  # noqa: E402


def test_the_repo_has_no_upward_import_no_loop_and_no_unexplained_lazy_import():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_layers.py")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "layers: ok" in proc.stdout


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for folder in ("edgesdk", "converters", "targets", "apps"):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / "__init__.py").write_text("")
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def test_an_import_from_a_higher_layer_is_a_finding(tmp_path):
    root = tree(tmp_path, {"edgesdk/errors.py": "from edgesdk.pipeline import build\n", "edgesdk/pipeline.py": ""})
    assert any("edgesdk.errors imports edgesdk.pipeline, a higher layer" in f for f in check_layers.check(root))


def test_a_loop_inside_one_layer_is_a_finding_also_through_a_lazy_import(tmp_path):
    root = tree(
        tmp_path,
        {
            "converters/a.py": "from edgesdk.converters.b import x\n",
            "converters/b.py": "def x():\n    from edgesdk.converters.a import y  # lazy: a loads b\n",
        },
    )
    assert check_layers.check(root) == ["import loop: edgesdk.converters.a -> edgesdk.converters.b"]


def test_a_lazy_import_needs_a_comment_saying_why(tmp_path):
    bare = "def f():\n    from edgesdk.errors import EdgeSDKError\n    return EdgeSDKError\n"
    root = tree(tmp_path, {"edgesdk/task.py": bare, "edgesdk/errors.py": ""})
    assert check_layers.check(root) == [
        "edgesdk/task.py:2: import of edgesdk.errors inside a function without a comment saying why"
    ]
    explained = bare.replace("    from", "    # the errors module is slow to import (an example)\n    from")
    (root / "edgesdk/task.py").write_text(explained)
    assert check_layers.check(root) == []


def test_a_module_outside_every_layer_is_a_finding(tmp_path):
    root = tree(tmp_path, {"edgesdk/newthing.py": ""})
    assert any("edgesdk.newthing is in no layer" in f for f in check_layers.check(root))


def test_a_long_module_or_function_is_a_finding_unless_it_says_why(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(61))
    root = tree(tmp_path, {"edgesdk/task.py": f"def f():\n{body}"})
    assert check_layers.check(root) == ["edgesdk/task.py:1: f is 62 lines; split it or say why (# Long function:)"]
    (root / "edgesdk/task.py").write_text(f"def f():\n    # Long function: an example\n{body}")
    assert check_layers.check(root) == []
    (root / "edgesdk/task.py").write_text("x = 1\n" * 451)
    assert check_layers.check(root) == ["edgesdk/task.py: 451 lines, over 450"]
