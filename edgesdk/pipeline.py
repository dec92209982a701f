"""build(): the ordered pipeline steps, their artifacts and cache keys.

recipe -> data -> teacher -> (student) -> lower -> verify -> profile -> report. Each step
reads only upstream artifacts from the build dir and writes its own atomically; its cache key
hashes its recipe section plus the recorded hashes of what it reads (edgesdk/steps.py).
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Optional

from edgesdk import __version__
from edgesdk.data import Task, load_task
from edgesdk.errors import EdgeSDKError, LoweringError
from edgesdk.fsutil import atomic_write_bytes, atomic_write_json, atomic_write_text, sha256_file, sha256_json
from edgesdk.progress import native_output_to, progress_bar, status
from edgesdk.recipe import Recipe
from edgesdk.steps import Manifest
from edgesdk.targets.registry import TargetSpec

ARTIFACTS_DIR = "artifacts"
TOOL_PACKAGES = ("torch", "executorch", "litert-torch", "ai-edge-litert", "transformers", "tokenizers")


@dataclass(frozen=True)
class BuildRequest:
    recipe: Recipe
    target: TargetSpec
    out_dir: Path
    data_overrides: dict = field(default_factory=dict)  # train/dev/text_column/label_column
    teacher_dir: Optional[str] = None


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    report: dict
    cached_steps: tuple[str, ...]


def tool_versions() -> dict:
    versions = {"edgesdk": __version__, "python": platform.python_version()}
    for pkg in TOOL_PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return versions


def task_hash(task: Task) -> str:
    return sha256_json(
        {
            "train": [task.train.texts, task.train.labels],
            "dev": [task.dev.texts, task.dev.labels],
            "labels": task.label_map.names,
        }
    )


def build(request: BuildRequest) -> BuildResult:
    recipe, out = request.recipe, request.out_dir
    # Validate every input before the build dir exists: bad input must leave nothing behind.
    from edgesdk.models.hf_import import check_teacher_dir
    from edgesdk.teacher import build_teacher, resolve_teacher_dir, teacher_key

    task = load_task(recipe.data, recipe.seed, request.data_overrides)
    base_dir = resolve_teacher_dir(recipe.teacher, request.teacher_dir)
    check_teacher_dir(base_dir)
    data_hash = task_hash(task)
    status(f"data: {len(task.train)} train / {len(task.dev)} dev rows, labels {', '.join(task.label_map.names[:8])}")

    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.load(
        out, {"recipe": recipe.model_dump(mode="json"), "target": request.target.id, "versions": tool_versions()}
    )
    atomic_write_text(out / "recipe.yaml", recipe.to_yaml())
    cached: list[str] = []

    def step(name: str, key: str, outputs: list[str], fn) -> dict:
        status(f"step {name}")
        info, was_cached = manifest.run(name, key, outputs, fn)
        if was_cached:
            cached.append(name)
            status(f"step {name}: cached")
        return info

    def run_data() -> dict:
        atomic_write_json(out / "data" / "stats.json", task.stats())
        atomic_write_text(out / "data" / "labels.json", task.label_map.to_json())
        return {"hash": data_hash}

    step("data", sha256_json([data_hash]), ["data/stats.json", "data/labels.json"], run_data)

    # -- teacher ------------------------------------------------------------------------
    t_key = teacher_key(base_dir, data_hash, recipe.teacher, recipe.seed, task.label_map)
    step(
        "teacher",
        t_key,
        ["teacher"],
        lambda: build_teacher(base_dir, task, recipe.teacher, recipe.seed, t_key, out / "teacher"),
    )

    # -- student (distillation) -------------------------------------------------------
    from edgesdk.student import build_student_dir

    student_key = sha256_json(
        [
            manifest.output_hash("teacher"),
            data_hash,
            recipe.seed,
            recipe.student.model_dump(mode="json"),
            recipe.distill.model_dump(mode="json"),
        ]
    )
    step(
        "student",
        student_key,
        ["student"],
        lambda: build_student_dir(out / "teacher", task, recipe, manifest.output_hash("teacher"), out / "student"),
    )

    # -- lower --------------------------------------------------------------------------
    lower_key = sha256_json(
        [manifest.output_hash("student"), manifest.output_hash("teacher"), recipe.export.model_dump(mode="json")]
    )
    artifacts = artifact_entries(recipe)
    artifact_names = [rel for _, rel in artifacts]
    step("lower", lower_key, [ARTIFACTS_DIR], lambda: lower_all(out, recipe))

    # -- verify -------------------------------------------------------------------------
    verify_key = sha256_json([manifest.output_hash("lower"), data_hash, recipe.verify.model_dump(mode="json")])
    verify_info = step("verify", verify_key, ["verify.json"], lambda: verify_all(out, task, recipe, artifacts))
    from edgesdk.converters.verify import VerifyResult, raise_if_failed

    raise_if_failed(
        [VerifyResult(**{k: v for k, v in r.items() if k != "path"}) for r in verify_info["results"]],
        recipe.verify,
    )

    # -- profile ------------------------------------------------------------------------
    profile_key = sha256_json(
        [manifest.output_hash("lower"), data_hash, recipe.profile.model_dump(mode="json"), request.target.id]
    )
    step("profile", profile_key, ["profile.json"], lambda: profile_all(out, task, recipe, request.target, artifacts))

    # -- report -------------------------------------------------------------------------
    from edgesdk.report import write_report

    report = write_report(out, request.target, manifest)
    manifest.header["artifacts"] = {rel: sha256_file(out / rel) for rel in artifact_names}
    manifest.save()
    return BuildResult(out, report, tuple(cached))


def deployed_models(recipe: Recipe) -> list[tuple[str, str]]:
    """(model role, artifact dir): the student at artifacts/, and when it was distilled the
    teacher beside it at artifacts/teacher/, so the report compares both on their artifacts."""
    roles = [("student", ARTIFACTS_DIR)]
    if recipe.student.family != "teacher":
        roles.append(("teacher", f"{ARTIFACTS_DIR}/teacher"))
    return roles


def artifact_entries(recipe: Recipe) -> list[tuple[str, str]]:
    from edgesdk.converters import get_backend

    return [
        (role, f"{directory}/model{get_backend(runtime).suffix}")
        for role, directory in deployed_models(recipe)
        for runtime in recipe.export.runtimes
    ]


def lower_all(out: Path, recipe: Recipe) -> dict:
    import torch

    from edgesdk.fsutil import atomic_dir

    seq_len = recipe.export.seq_len
    example = (torch.ones(1, seq_len, dtype=torch.int32), torch.ones(1, seq_len, dtype=torch.int32))
    info = {}
    with atomic_dir(out / ARTIFACTS_DIR) as tmp:
        for role, directory in deployed_models(recipe):
            bundle_dir = tmp / Path(directory).relative_to(ARTIFACTS_DIR)
            info[role] = lower_bundle(out, out / role, bundle_dir, recipe, example)
    return info


def lower_bundle(out: Path, model_dir: Path, bundle_dir: Path, recipe: Recipe, example: tuple) -> dict:
    """One model -> one artifact per runtime, with its tokenizer, labels and bundle.json."""
    import shutil

    from edgesdk.converters import get_backend
    from edgesdk.converters.bundle import BundleInfo
    from edgesdk.teacher import load_model_dir

    model, tokenizer, labels = load_model_dir(model_dir)
    seq_len = recipe.export.seq_len
    max_positions = getattr(model.config, "max_positions", None)
    if max_positions is not None and seq_len > max_positions:
        raise EdgeSDKError(f"export.seq_len {seq_len} exceeds the model's {max_positions} positions")
    bundle_dir.mkdir(parents=True, exist_ok=True)
    info = {}
    for runtime in recipe.export.runtimes:
        backend = get_backend(runtime)
        status(f"lower: {model_dir.name} -> {runtime} ({backend.suffix}, fp32, length {seq_len}); log: logs/lower.log")
        try:
            with native_output_to(out / "logs" / "lower.log"):
                data = backend.lower(model, example)
        except Exception as exc:  # noqa: BLE001 - converter internals raise anything
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise LoweringError(
                f"lowering {model_dir.name} to {runtime} failed: {first}; full log in {out / 'logs' / 'lower.log'}"
            ) from exc
        atomic_write_bytes(bundle_dir / f"model{backend.suffix}", data)
        info[runtime] = {"size_bytes": len(data)}
    tokenizer.save(bundle_dir)
    shutil.copy2(model_dir / "labels.json", bundle_dir / "labels.json")
    BundleInfo(seq_len, labels).write(bundle_dir)
    return info


def verify_all(out: Path, task: Task, recipe: Recipe, artifacts: list[tuple[str, str]]) -> dict:
    import torch

    from edgesdk.converters.bundle import open_artifact
    from edgesdk.converters.verify import evaluate, gate
    from edgesdk.models.flops import model_flops
    from edgesdk.models.registry import param_count
    from edgesdk.teacher import load_model_dir
    from edgesdk.train import accuracy, predict_logits

    torch.set_num_threads(os.cpu_count() or 1)
    seq_len = recipe.export.seq_len
    models, eager = {}, {}
    # When the recipe ships the teacher, student/ is a copy of teacher/: evaluate it once.
    roles = ("teacher",) if recipe.student.family == "teacher" else ("teacher", "student")
    for role in roles:
        model, tokenizer, _ = load_model_dir(out / role)
        eager[role] = predict_logits(model, tokenizer, task.dev.texts, seq_len)
        models[role] = {
            "params": param_count(model),
            "flops": model_flops(model, seq_len),
            "config": model.config.model_dump(mode="json"),
        }
    eager.setdefault("student", eager["teacher"])
    models.setdefault("student", models["teacher"])
    results = []
    for role, rel in artifacts:
        artifact = open_artifact(out / rel, recipe.profile.threads)
        with progress_bar(f"verify {role} {artifact.backend.name}", len(task.dev)) as bar:
            ev = evaluate(artifact, task.dev, progress=bar.advance)
        ref = eager[role]
        result = gate(artifact.backend.name, ev, ref.argmax(1).tolist(), ref, task.dev.labels, recipe.verify, role)
        results.append({**result.to_json(), "path": rel})
    payload = {
        "eager_accuracy": accuracy(eager["student"].argmax(1), task.dev.labels),
        "teacher_accuracy": accuracy(eager["teacher"].argmax(1), task.dev.labels),
        "models": models,
        "n": len(task.dev),
        "results": results,
    }
    atomic_write_json(out / "verify.json", payload)
    return payload


def profile_all(out: Path, task: Task, recipe: Recipe, target: TargetSpec, artifacts: list[tuple[str, str]]) -> dict:
    from edgesdk.targets.profilers import PROFILERS, profile_artifact
    from edgesdk.targets.registry import get_target

    where = target if target.family in PROFILERS else get_target("host")
    if where is not target:
        status(f"profile: no {target.family} device profiler yet; measuring on host (labelled profiled_on: host)")
    profiles = {}
    for role, rel in artifacts:
        status(f"profile: {rel} on {where.id} ({recipe.profile.threads} threads, {recipe.profile.repetitions} runs)")
        profiles[rel] = {**profile_artifact(where, out / rel, task.dev.texts, recipe.profile), "model": role}
    atomic_write_json(out / "profile.json", profiles)
    return {"artifacts": list(profiles)}


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
