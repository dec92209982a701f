"""The Android packager: an artifact bundle -> a Gradle (Kotlin DSL) Android Studio project.

The project is the template in android_template/ (an `edgesdk` library module with the
pure-Kotlin tokenizer and controller, an `app` module with a demo and a benchmark activity)
plus this model's assets and the one runtime backend it needs. User-controlled text (the app
name) reaches Kotlin, XML and Markdown only through edgesdk/ondevice/escape.py. Output is deterministic
(sorted walk, no timestamps, fixed modes) and atomic (built beside `dest`, renamed at the end).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from edgesdk.apps.assets import runtime_for, write_assets
from edgesdk.apps.jvm_check import (
    TEMPLATE,
    compile_jvm_check,
    controller_decisions,
    run_jvm_check,
    tokenizer_parity,
)
from edgesdk.apps.packager_registry import PackageRequest, PackageResult, count_files, register, require_file
from edgesdk.converters.bundle import BundleInfo

from edgesdk.errors import PackageError
from edgesdk.fsutil import atomic_dir
from edgesdk.ondevice.escape import android_string, kotlin_string, markdown_text, properties_escape
from edgesdk.tokenizer import load_artifact_tokenizer

# Runtime AARs (group:artifact). Their version is the Gradle property edgesdk.runtimeVersion,
# written into gradle.properties from the Python package that exported and verified the model
# (EXPORTER_PACKAGES), so a project never asks for an older runtime than the one its model was
# checked with; RUNTIME_RULES says which other versions can load it.
RUNTIME_MODULES = {
    "executorch": "org.pytorch:executorch-android",
    "litert": "com.google.ai.edge.litert:litert",
}
EXPORTER_PACKAGES = {"executorch": "executorch", "litert": "ai-edge-litert"}
RUNTIME_RULES = {
    "executorch": (
        "ExecuTorch's runtime compatibility policy (runtime/COMPATIBILITY.md in pytorch/executorch): a .pte "
        "loads in a runtime of the same release as its exporter and is guaranteed to load in at least the next "
        "minor or major release (patch releases in between included); an older runtime than the exporter is "
        "not guaranteed to load it (no forward compatibility). So use this version or a newer one, at most one "
        "minor (or major) release newer to stay inside the guarantee."
    ),
    "litert": (
        'LiteRT\'s op versioning (the LiteRT/TFLite "ops version" guide): a runtime loads every model whose '
        "operator versions it knows, so any LiteRT runtime at least as new as this one loads this .tflite; an "
        "older runtime loads it only if it knows every op version the converter wrote, and otherwise fails at "
        "load time naming the op."
    ),
}
# Build tool versions, pinned together: AGP 8.7 needs Gradle >= 8.9 and JDK 17; Kotlin 2.1 supports it.
AGP_VERSION = "8.7.3"
KOTLIN_VERSION = "2.1.0"
GRADLE_VERSION = "8.11.1"
BACKEND_SOURCES = {
    "executorch": "edgesdk/src/backends/executorch/ExecuTorchBackend.kt",
    "litert": "edgesdk/src/backends/litert/LiteRtBackend.kt",
}
BACKEND_DEST = "edgesdk/src/main/kotlin/dev/edgesdk"
ASSETS_DIR = "app/src/main/assets"
_SKIPPED = ("edgesdk/src/backends", "jvm-check/build")
_PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")
_APPLICATION_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def write_android_project(
    bundle_dir: Path,
    artifact: Path,
    dest: Path,
    *,
    app_name: str,
    measured: Optional[dict] = None,
    application_id: Optional[str] = None,
) -> dict:
    """Write the project to `dest` (replaced whole). `measured`: host figures for the README
    (e.g. {"accuracy": 0.86, "latency_p50_ms": 1.2}); optional."""
    if not app_name.strip():
        raise PackageError("the app name is empty; pass a name for the Android app")
    application_id = application_id or default_application_id(app_name)
    if not _APPLICATION_ID.match(application_id):
        raise PackageError(f"application id {application_id!r} is not a Java package name like com.example.app")
    runtime = runtime_for(artifact)
    values = {
        "APP_NAME_KOTLIN": kotlin_string(app_name),
        "APP_NAME_ANDROID": android_string(app_name),
        "APP_NAME_MD": markdown_text(app_name),
        "APPLICATION_ID": application_id,
        "APPLICATION_ID_KOTLIN": kotlin_string(application_id),
        "RUNTIME": runtime,
        **version_values(runtime, runtime_version(runtime)),
        "RUNTIME_RULE": markdown_text(RUNTIME_RULES[runtime]),
        "RUNTIME_NOTE": f"{runtime} runs {artifact.name}; only this runtime's AAR is needed",
        "MODEL_FILE": markdown_text(artifact.name),
        "MEASURED": measured_table(measured),
    }
    with atomic_dir(dest) as tmp:
        for rel in template_files():
            _render(TEMPLATE / rel, tmp / rel, values)
        backend = TEMPLATE / BACKEND_SOURCES[runtime]
        _render(backend, tmp / BACKEND_DEST / backend.name, values)
        assets = tmp / ASSETS_DIR
        assets.mkdir(parents=True)
        checks = write_assets(bundle_dir, artifact, assets)
        files = sum(1 for p in tmp.rglob("*") if p.is_file())
    return {
        "path": str(dest),
        "kind": "android",
        "runtime": runtime,
        "application_id": application_id,
        "files": files,
        "checks": {"assets": {"ok": True, **checks}},
    }


@register("android")
def package_android(request: PackageRequest) -> PackageResult:
    """The `edgesdk build --target android` package step: the project, then its Kotlin core
    checked on this machine's JVM against the Python reference (when kotlinc is installed)."""
    artifact = require_file(request.artifact, "artifact")
    result = write_android_project(
        artifact.parent, artifact, request.dest, app_name=request.app_name, measured=request.measured
    )
    checks = dict(result["checks"])
    if request.check_texts:
        checks["kotlin_jvm"] = check_kotlin_core(request.dest, artifact.parent, list(request.check_texts))
    return PackageResult(request.dest, "android", count_files(request.dest), checks)


def check_kotlin_core(project: Path, bundle_dir: Path, texts: list[str]) -> dict:
    """Compile the generated project's own pure-Kotlin core (jvm-check/) and run it on its own
    assets: token ids for `texts` equal Python's, labels read back equal, and the exit
    decisions on the shipped golden logits equal Python's. Not run (ok, ran=False) without
    kotlinc; the Android backends and activities are never compiled here."""
    import json
    import shutil
    import tempfile

    if not (shutil.which("kotlinc") and shutil.which("java")):
        return {"ok": True, "ran": False, "reason": "kotlinc/java not installed (Debian: apt-get install kotlin)"}
    assets = project / ASSETS_DIR
    info = BundleInfo.read(bundle_dir)
    with tempfile.TemporaryDirectory() as tmp:
        jar = compile_jvm_check(Path(tmp) / "check.jar", root=project)
        tokens = tokenizer_parity(
            jar, load_artifact_tokenizer(bundle_dir), texts, info.seq_len, Path(tmp), assets=assets
        )
        labels = [json.loads(line) for line in run_jvm_check(jar, "labels", assets)] == list(info.labels.names)
        golden = {}
        for path in sorted(assets.glob("golden_exits.*.json")):
            records = json.loads(path.read_text(encoding="utf-8"))["inputs"]
            decisions = controller_decisions(jar, assets, records, Path(tmp))
            expected = [[r["exit_index"], r["label"], r["bucket"]] for r in records]
            golden[path.name] = {"matched": sum(d == e for d, e in zip(decisions, expected)), "total": len(records)}
    ok = tokens["matched"] == tokens["total"] and labels and all(g["matched"] == g["total"] for g in golden.values())
    return {"ok": ok, "ran": True, "tokens": tokens, "labels_read_back": labels, "golden_decisions": golden}


def runtime_version(runtime: str) -> str:
    """The installed exporter's version (executorch, ai-edge-litert), without a local label
    ("1.5.1+cpu" -> "1.5.1"): Maven versions have none."""
    from importlib import metadata

    try:
        return metadata.version(EXPORTER_PACKAGES[runtime]).split("+")[0]
    except metadata.PackageNotFoundError:
        raise PackageError(
            f"{EXPORTER_PACKAGES[runtime]} is not installed, so the {runtime} runtime version for the app is unknown"
        ) from None


def version_values(runtime: str, version: str) -> dict[str, str]:
    """Placeholders for the versions, each escaped for the file it lands in: Properties files
    (gradle.properties, the wrapper), Kotlin DSL, Markdown."""
    module = RUNTIME_MODULES[runtime]
    gradle_url = f"https://services.gradle.org/distributions/gradle-{GRADLE_VERSION}-bin.zip"
    return {
        "RUNTIME_MODULE_KOTLIN": kotlin_string(module),
        "RUNTIME_MODULE_PROPERTIES": properties_escape(module),
        "RUNTIME_MODULE_MD": markdown_text(module),
        "RUNTIME_COORDINATE_MD": markdown_text(f"{module}:{version}"),
        "RUNTIME_VERSION_PROPERTIES": properties_escape(version),
        "RUNTIME_VERSION_MD": markdown_text(version),
        "AGP_VERSION_PROPERTIES": properties_escape(AGP_VERSION),
        "AGP_VERSION_MD": markdown_text(AGP_VERSION),
        "KOTLIN_VERSION_PROPERTIES": properties_escape(KOTLIN_VERSION),
        "KOTLIN_VERSION_MD": markdown_text(KOTLIN_VERSION),
        "GRADLE_VERSION_MD": markdown_text(GRADLE_VERSION),
        "GRADLE_DISTRIBUTION_PROPERTIES": properties_escape(gradle_url),
    }


def template_files() -> list[str]:
    """The template's files (relative, sorted), minus the backends (one is added per runtime)
    and any local jvm-check build output."""
    out = []
    for path in sorted(TEMPLATE.rglob("*")):
        rel = path.relative_to(TEMPLATE).as_posix()
        if path.is_file() and not rel.startswith(_SKIPPED) and "__pycache__" not in rel:
            out.append(rel)
    return out


def default_application_id(app_name: str) -> str:
    """dev.edgesdk.<app name in lowercase ASCII letters and digits>, e.g. dev.edgesdk.sst2demo."""
    slug = re.sub(r"[^a-z0-9]", "", app_name.lower())
    return "dev.edgesdk." + (slug if slug[:1].isalpha() else "app" + slug)


def measured_table(measured: Optional[dict]) -> str:
    if not measured:
        return "Not given to the generator; `report.json` of the edgesdk build has the measured figures."
    rows = ["| metric | value |", "|---|---|"]
    for key, value in measured.items():
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        rows.append(f"| {markdown_text(str(key))} | {markdown_text(text)} |")
    return "\n".join(rows)


def _render(src: Path, dst: Path, values: dict[str, str]) -> None:
    """Copy one template file, filling @@NAME@@ placeholders in a single pass (a value that
    itself contains @@...@@ is never expanded again). Modes are fixed, not copied."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    text = src.read_text(encoding="utf-8")
    try:
        text = _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
    except KeyError as exc:
        raise PackageError(f"template {src.name} uses unknown placeholder {exc}") from None
    dst.write_bytes(text.encode("utf-8"))
    os.chmod(dst, 0o755 if dst.suffix == ".sh" else 0o644)
