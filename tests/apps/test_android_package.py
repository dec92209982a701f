"""The Android packager on a tiny real staged LiteRT artifact: the project's files, assets the
Kotlin core reads back exactly, escaped user text, byte-identical regeneration, refusals."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from edgesdk.apps.android import RUNTIME_MODULES, runtime_version, version_values, write_android_project
from edgesdk.apps.assets import runtime_for
from edgesdk.apps.jvm_check import controller_decisions, run_jvm_check, texts_properties
from edgesdk.apps.packager_registry import PackageRequest, packager_for

from edgesdk.errors import PackageError
from edgesdk.ondevice.escape import android_string, kotlin_string, properties_escape
from edgesdk.tokenizer import Tokenizer
from tests.apps.conftest import LABELS, WEIRD_LABEL, sst2_dev_texts

APP_NAME = 'Mood "$demo" \\ ${x} */ é😀 <&>'
MEASURED = {"accuracy": 0.8612, "latency_p50_ms": 0.4213, "note": "host | 2 threads"}


def generate(staged_bundle: Path, dest: Path, **kwargs) -> dict:
    return write_android_project(
        staged_bundle.parent, staged_bundle, dest, app_name=APP_NAME, measured=MEASURED, **kwargs
    )


@pytest.fixture(scope="module")
def project(staged_bundle, tmp_path_factory) -> tuple[Path, dict]:
    dest = tmp_path_factory.mktemp("android") / "app"
    return dest, generate(staged_bundle, dest)


def test_the_build_step_packager_checks_the_generated_kotlin(staged_bundle, jvm_jar, tmp_path):
    """What `edgesdk build --target android` runs: the registered packager, whose check compiles
    the generated project's own Kotlin core and runs it on the project's own assets."""
    texts = sst2_dev_texts()[:60]
    result = packager_for("android")(PackageRequest(staged_bundle, tmp_path / "pkg", APP_NAME, texts, MEASURED))
    check = result.checks["kotlin_jvm"]
    assert check["ok"] and check["ran"] and check["labels_read_back"], check
    assert check["tokens"]["matched"] == check["tokens"]["total"] == 60
    assert check["golden_decisions"] == {"golden_exits.litert.json": {"matched": 48, "total": 48}}
    assert result.kind == "android" and result.checks["assets"]["ok"]


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_project_has_gradle_modules_sources_and_assets(project):
    dest, result = project
    files = files_of(dest)
    assert result["kind"] == "android" and result["runtime"] == "litert" and result["files"] == len(files)
    for rel in (
        "settings.gradle.kts",
        "build.gradle.kts",
        "gradle/wrapper/gradle-wrapper.properties",
        "app/build.gradle.kts",
        "app/src/main/AndroidManifest.xml",
        "app/src/main/res/values/strings.xml",
        "app/src/main/kotlin/dev/edgesdk/app/MainActivity.kt",
        "app/src/main/kotlin/dev/edgesdk/app/BenchmarkActivity.kt",
        "edgesdk/build.gradle.kts",
        "edgesdk/src/main/kotlin/dev/edgesdk/WordPieceTokenizer.kt",
        "edgesdk/src/main/kotlin/dev/edgesdk/ExitController.kt",
        "edgesdk/src/main/kotlin/dev/edgesdk/Benchmark.kt",
        "edgesdk/src/main/kotlin/dev/edgesdk/LiteRtBackend.kt",
        "jvm-check/JvmCheck.kt",
        "jvm-check/run.sh",
        "README.md",
    ):
        assert rel in files, rel
    assert not any("ExecuTorch" in rel or "backends/" in rel for rel in files)  # only this runtime's backend
    assets = {rel.split("/")[-1] for rel in files if rel.startswith("app/src/main/assets/")}
    assert assets == {
        "model.staged.tflite",
        "vocab.tsv",
        "tokenizer.properties",
        "tokenizer_tables.bin",
        "labels.properties",
        "model.properties",
        "exits.properties",
        "golden_exits.litert.json",
    }
    assert (
        result["checks"]["assets"]["golden"] == ["golden_exits.litert.json"]
        and result["checks"]["assets"]["labels"] == 2
    )
    edgesdk_gradle = files["edgesdk/build.gradle.kts"].decode()
    assert 'api("com.google.ai.edge.litert:litert" + ":" + runtimeVersion)' in edgesdk_gradle
    assert "executorch" not in edgesdk_gradle
    assert not any(b"@@" in data for rel, data in files.items() if not rel.endswith(".tflite"))


def test_labels_tokenizer_and_exit_plan_read_back_by_the_kotlin_core(project, staged_bundle, jvm_jar, tmp_path):
    dest, _ = project
    assets = dest / "app/src/main/assets"
    assert [json.loads(line) for line in run_jvm_check(jvm_jar, "labels", assets)] == list(LABELS)
    texts = sst2_dev_texts()[:100] + [WEIRD_LABEL]
    (tmp_path / "texts.properties").write_text(texts_properties(texts), encoding="ascii")
    ids = run_jvm_check(jvm_jar, "tokenize", assets, tmp_path / "texts.properties", 32)
    reference = Tokenizer.from_dir(staged_bundle.parent).encode(texts, 32)
    assert ids == [" ".join(map(str, r)) for r in reference]
    golden = json.loads((assets / "golden_exits.litert.json").read_text())["inputs"]
    decisions = controller_decisions(jvm_jar, assets, golden, tmp_path)
    assert decisions == [[r["exit_index"], r["label"], r["bucket"]] for r in golden]


def decode_kotlin(literal: str) -> str:
    """A Kotlin string literal's value; fails on an unescaped quote or $ (it would end the
    literal or start a template)."""
    body = literal[1:-1]
    assert re.search(r'(?<!\\)"', body) is None and re.search(r"(?<!\\)\$", body) is None
    return unescape(body)


def unescape(body: str) -> str:
    units = re.sub(r"\\u([0-9A-F]{4})", lambda m: chr(int(m.group(1), 16)), body)
    text = re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1)), units)
    return text.encode("utf-16", "surrogatepass").decode("utf-16")


def decode_android(body: str) -> str:
    return unescape(body.replace("\\'", "'").replace("\\@", "@").replace("\\?", "?"))


def test_app_name_is_escaped_in_kotlin_dsl_and_xml(project):
    dest, result = project
    settings = (dest / "settings.gradle.kts").read_text()
    line = next(ln for ln in settings.splitlines() if ln.startswith("rootProject.name = "))
    assert line == f"rootProject.name = {kotlin_string(APP_NAME)}" and line.isascii()
    assert decode_kotlin(line.split(" = ", 1)[1]) == APP_NAME
    strings = ET.parse(dest / "app/src/main/res/values/strings.xml").getroot()
    assert decode_android(strings.find("string[@name='app_name']").text) == APP_NAME
    assert result["application_id"] == "dev.edgesdk.mooddemox"
    assert f'applicationId = "{result["application_id"]}"' in (dest / "app/build.gradle.kts").read_text()
    readme = (dest / "README.md").read_text()
    assert "| accuracy | 0.8612 |" in readme and "host \\| 2 threads" in readme


@pytest.mark.parametrize("text", [WEIRD_LABEL, APP_NAME, "  lead", "@string/x", "?attr", "tab\tnl\ncr\r", "😀" * 3])
def test_escapers_round_trip(text):
    assert decode_kotlin(kotlin_string(text)) == text
    assert decode_android(ET.fromstring(f"<s>{android_string(text)}</s>").text) == text
    assert properties_escape(text).isascii() and "\n" not in properties_escape(text)


def test_two_generations_are_byte_identical_and_replace_the_old_one(staged_bundle, project, tmp_path):
    dest, _ = project
    again = tmp_path / "again"
    generate(staged_bundle, again)
    (again / "stale.txt").write_text("from an older generation")
    generate(staged_bundle, again)
    assert files_of(again) == files_of(dest)
    assert [p.name for p in tmp_path.iterdir()] == ["again"]  # no temp dirs left beside it


def test_unsupported_tokenizers_and_runtimes_are_refused_and_leave_dest_alone(staged_bundle, project, tmp_path):
    dest, _ = project
    bundle = tmp_path / "bundle"
    shutil.copytree(staged_bundle.parent, bundle)
    spec = json.loads((bundle / "tokenizer.json").read_text())
    spec["normalizer"] = {"type": "Lowercase"}
    (bundle / "tokenizer.json").write_text(json.dumps(spec))
    out = tmp_path / "out"
    shutil.copytree(dest, out)
    with pytest.raises(PackageError, match="normalizer BertNormalizer") as err:
        write_android_project(bundle, bundle / staged_bundle.name, out, app_name="x", measured=None)
    assert "\n" not in str(err.value)
    assert files_of(out) == files_of(dest)
    spec["normalizer"] = json.loads((staged_bundle.parent / "tokenizer.json").read_text())["normalizer"]
    spec["model"]["vocab"]["two words"] = 5
    (bundle / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(PackageError, match="whitespace"):
        write_android_project(bundle, bundle / staged_bundle.name, out, app_name="x", measured=None)
    with pytest.raises(PackageError, match="Android app runs"):
        runtime_for(Path("model.int8.micro.tflite"))
    with pytest.raises(PackageError, match="application id"):
        generate(staged_bundle, out, application_id="Not.Valid-Id")


def gradle_properties(text: str) -> dict[str, str]:
    """key=value lines of a Properties file (the values edgesdk writes hold no escapes)."""
    return dict(ln.split("=", 1) for ln in text.splitlines() if ln and not ln.startswith("#"))


def test_runtime_version_is_a_gradle_property_that_the_build_uses_and_the_readme_explains(project):
    """The runtime AAR's version is edgesdk.runtimeVersion in gradle.properties (the exporter's
    version: ai-edge-litert for a .tflite), read by the edgesdk module's build script; the
    plugin versions are properties too; no Gradle script pins a version itself."""
    from importlib import metadata

    dest, _ = project
    props = gradle_properties((dest / "gradle.properties").read_text())
    assert (
        props["edgesdk.runtimeVersion"] == metadata.version("ai-edge-litert").split("+")[0] == runtime_version("litert")
    )
    assert props["edgesdk.agpVersion"] == "8.7.3" and props["edgesdk.kotlinVersion"] == "2.1.0"
    edgesdk_gradle = (dest / "edgesdk/build.gradle.kts").read_text()
    assert 'val runtimeVersion = providers.gradleProperty("edgesdk.runtimeVersion").get()' in edgesdk_gradle
    settings = (dest / "settings.gradle.kts").read_text()
    for name in ("edgesdk.agpVersion", "edgesdk.kotlinVersion"):
        assert f'settings.providers.gradleProperty("{name}").get()' in settings
    for script in dest.rglob("*.gradle.kts"):  # every version comes from the properties
        assert not re.search(r"\b\d+\.\d+\.\d+\b", script.read_text()), script
    wrapper = (dest / "gradle/wrapper/gradle-wrapper.properties").read_text()
    assert "distributionUrl=https\\://services.gradle.org/distributions/gradle-8.11.1-bin.zip" in wrapper

    readme = (dest / "README.md").read_text()
    section = readme.split("## Runtime version", 1)[1].split("\n## ", 1)[0]
    assert "`com.google.ai.edge.litert:litert` at the Gradle property `edgesdk.runtimeVersion`" in " ".join(
        section.split()
    )
    assert f"`{props['edgesdk.runtimeVersion']}`" in section
    assert "at least as new as this one loads this .tflite" in " ".join(section.split())
    assert (
        "-Pedgesdk.runtimeVersion=X.Y.Z" in section
        and "edit `edgesdk.runtimeVersion` in\n`gradle.properties`" in section
    )
    assert f"com.google.ai.edge.litert:litert:{props['edgesdk.runtimeVersion']}" in readme  # what Studio downloads


def test_runtime_versions_reach_each_file_escaped_and_the_executorch_rule_is_its_policy():
    """Whatever a version string holds, it lands in gradle.properties, Kotlin and Markdown
    through edgesdk/ondevice/escape.py; an ExecuTorch project takes the executorch package's version."""
    from importlib import metadata

    from edgesdk.apps.android import RUNTIME_RULES

    odd = 'a=b:c #d "$x" *y*'
    values = version_values("executorch", odd)
    assert values["RUNTIME_VERSION_PROPERTIES"] == properties_escape(odd) == 'a\\=b\\:c\\ \\#d\\ "$x"\\ *y*'
    assert (
        values["RUNTIME_MODULE_KOTLIN"]
        == kotlin_string(RUNTIME_MODULES["executorch"])
        == '"org.pytorch:executorch-android"'
    )
    assert "\\*y\\*" in values["RUNTIME_VERSION_MD"] and "\\#d" in values["RUNTIME_VERSION_MD"]
    assert runtime_version("executorch") == metadata.version("executorch").split("+")[0]
    rule = " ".join(RUNTIME_RULES["executorch"].split())
    assert "next minor or major release" in rule and "older runtime than the exporter is not guaranteed" in rule
