"""The public Python API (edgesdk/api.py, docs/api.md): a real tiny build through it, and each
call checked against what the build recorded."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import edgesdk
from edgesdk.devices import resolve
from edgesdk.errors import EdgeSDKError, TargetError
from edgesdk.recipe import ProfileConfig, TrainConfig

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


@pytest.fixture(scope="module")
def api_build(tmp_path_factory, tiny_teacher, sst2_slice, tiny_recipe):
    recipe = edgesdk.load_recipe(str(tiny_recipe))
    export = recipe.export.model_copy(update={"runtimes": ["litert"], "teacher": False})
    recipe = recipe.model_copy(update={"export": export})
    out = tmp_path_factory.mktemp("api") / "b"
    return edgesdk.build("host", recipe, edgesdk.DataOptions(*sst2_slice), tiny_teacher, out), recipe


def test_build_returns_the_report_it_wrote_and_resumes(api_build, sst2_slice, tiny_teacher):
    result, recipe = api_build
    assert result.report == json.loads((result.out_dir / "report.json").read_text())
    assert result.report["train"] == resolve(TrainConfig()).to_json()  # where this machine trains (auto)
    assert result.cached_steps == ()
    again = edgesdk.build(edgesdk.load_target("host"), recipe, edgesdk.DataOptions(*sst2_slice), tiny_teacher, result.out_dir)
    assert again.cached_steps == ("data", "teacher", "student", "lower", "verify", "profile", "fit")


def test_evaluate_gives_the_accuracy_the_build_verified(api_build, sst2_slice):
    result, _ = api_build
    for artifact in result.report["artifacts"]:
        measured = edgesdk.evaluate(result.out_dir / artifact["path"], sst2_slice[1])
        assert measured["n"] == 100 and measured["runtime"] == "litert"
        assert measured["accuracy"] == artifact["accuracy"]


def test_profile_cycles_through_the_sentences_it_is_given(api_build):
    result, _ = api_build
    shipped = result.out_dir / result.report["summary"]["artifact"]["path"]
    row = edgesdk.profile(shipped, "host", ["a fine film", "dull"], config=ProfileConfig(repetitions=5, warmup=1))
    assert row["latency_ms"]["p50"] > 0 and row["size_bytes"] == shipped.stat().st_size


def test_package_and_render_report(api_build):
    result, _ = api_build
    (result.out_dir / "report.md").unlink()
    assert edgesdk.render_report(result.out_dir)["artifacts"] == result.report["artifacts"]
    assert (result.out_dir / "report.md").exists()
    with pytest.raises(TargetError, match="host is a host target: it ships no package"):
        edgesdk.package(result.out_dir)


def test_an_unknown_target_is_one_clear_error():
    with pytest.raises(EdgeSDKError, match="no-such-board"):
        edgesdk.load_target("no-such-board")


def test_import_edgesdk_loads_neither_torch_nor_the_runtimes():
    code = "import sys, edgesdk; print(sorted(m for m in ('torch', 'executorch', 'ai_edge_litert') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_the_docs_use_only_the_public_api_and_list_all_of_it():
    text = DOCS.read_text()
    example = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    used = {
        node.attr
        for node in ast.walk(ast.parse(example))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "edgesdk"
    }
    public = set(edgesdk.__all__) - {"__version__"}
    assert used and used <= public, used - public
    documented = set(re.findall(r"`edgesdk\.(\w+)", text))
    assert public - {"Recipe", "Target"} <= documented, public - documented


def test_package_of_a_dir_that_is_no_build_is_one_line_and_writes_nothing(tmp_path):
    from tests.conftest import assert_one_line_error, run_cli

    proc = run_cli("package", tmp_path)
    assert_one_line_error(proc, "is not an edgesdk build dir", "run edgesdk build first")
    assert list(tmp_path.iterdir()) == []
