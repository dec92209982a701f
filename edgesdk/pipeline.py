"""build(): the ordered pipeline steps, their artifacts and cache keys.

recipe -> data -> teacher -> (student) -> lower -> verify -> profile -> report. Each step
reads only upstream artifacts from the build dir and writes its own atomically; its cache key
hashes its recipe section plus the recorded hashes of what it reads (edgesdk/steps.py).
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Optional

from edgesdk import __version__
from edgesdk.data import Task, load_task
from edgesdk.errors import AccuracyGateError, EdgeSDKError, LoweringError
from edgesdk.fsutil import (
    CACHE_FIX,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    cache_root,
    check_output_dir,
    remove_stale_temps,
    sha256_file,
    sha256_json,
)
from edgesdk.progress import native_output_to, progress_bar, status
from edgesdk.recipe import Recipe
from edgesdk.steps import Manifest, StepKey
from edgesdk.targets.registry import TargetSpec

ARTIFACTS_DIR = "artifacts"
QUANT_DIR = "quantization"  # fake-quant reference logits and the per-layer error report
LAYERS_FILE = "layers.json"
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


def prepare_task(recipe: Recipe, data_overrides: Optional[dict] = None) -> Task:
    """The task every step sees: the data read per the recipe, with the rows no model may
    train on carved from train first (exit calibration, teacher validation)."""
    task = load_task(recipe.data, recipe.seed, data_overrides)
    if recipe.exits.active:
        task = task.with_calibration(recipe.exits.calibration_rows, recipe.seed)
    if recipe.teacher.validation_rows:
        task = task.with_validation(recipe.teacher.validation_rows, recipe.seed)
    return task


def task_hash(task: Task) -> str:
    validation = {"validation": [task.validation.texts, task.validation.labels]} if task.validation.texts else {}
    return sha256_json(
        {
            "train": [task.train.texts, task.train.labels],
            "dev": [task.dev.texts, task.dev.labels],
            "calibration": [task.calibration.texts, task.calibration.labels],
            "labels": task.label_map.names,
            **validation,  # only when carved: builds without it keep their cache keys
        }
    )


def build(request: BuildRequest) -> BuildResult:
    recipe, out = request.recipe, request.out_dir
    # Validate every input before the build dir exists: bad input must leave nothing behind.
    from edgesdk.models.hf_import import check_teacher_dir
    from edgesdk.teacher import build_teacher, resolve_teacher_dir, teacher_inputs

    from edgesdk.apps.package import PACKAGE_DIR
    from edgesdk.apps.package import preflight as package_preflight
    from edgesdk.models.hf_import import read_teacher_config
    from edgesdk.targets.fit import check_fits_before_training, check_runtimes, image_floor

    check_output_dir(out, "build dir", "choose another --out")
    check_output_dir(out / PACKAGE_DIR, "package dir", "remove it or choose another --out")
    check_output_dir(cache_root(), "cache dir", CACHE_FIX)
    check_runtimes(request.target, recipe.export.runtimes)
    task = prepare_task(recipe, request.data_overrides)
    base_dir = resolve_teacher_dir(recipe.teacher, request.teacher_dir)
    check_teacher_dir(base_dir)
    teacher_config = read_teacher_config(base_dir)
    if request.target.flash_bytes is not None:
        floor = image_floor(request.target, recipe, teacher_config, len(task.label_map), deployed_tokens(base_dir, task, recipe))
        check_fits_before_training(request.target, floor)
    package_preflight(request.target)
    data_hash = task_hash(task)
    status(f"data: {len(task.train)} train / {len(task.dev)} dev rows, labels {', '.join(task.label_map.names[:8])}")

    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # half-written files of a killed run: never read, never left behind
    manifest = Manifest.load(
        out, {"recipe": recipe.model_dump(mode="json"), "target": request.target.id, "versions": tool_versions()}
    )
    atomic_write_text(out / "recipe.yaml", recipe.to_yaml())
    cached: list[str] = []

    def step(name: str, key: StepKey, outputs: list[str], fn) -> dict:
        status(f"step {name}")

        def announce(reason: str) -> None:
            if reason:  # a step that ran before: say what made it run again
                status(f"step {name}: running again ({reason})")

        info, was_cached = manifest.run(name, key, outputs, fn, announce)
        if was_cached:
            cached.append(name)
            status(f"step {name}: cached")
        return info

    def run_data() -> dict:
        atomic_write_json(out / "data" / "stats.json", task.stats())
        atomic_write_text(out / "data" / "labels.json", task.label_map.to_json())
        return {"hash": data_hash}

    step("data", StepKey.of(data=data_hash), ["data/stats.json", "data/labels.json"], run_data)

    # -- teacher ------------------------------------------------------------------------
    t_key = StepKey.of_mapping(teacher_inputs(base_dir, data_hash, recipe.teacher, recipe.seed, task.label_map))
    step(
        "teacher",
        t_key,
        ["teacher"],
        lambda: build_teacher(base_dir, task, recipe.teacher, recipe.seed, t_key.key, out / "teacher"),
    )

    # -- student (distillation) -------------------------------------------------------
    from edgesdk.student import build_student_dir

    student_key = StepKey.of(
        teacher=manifest.output_hash("teacher"),
        data=data_hash,
        seed=recipe.seed,
        student=recipe.student.model_dump(mode="json"),
        distill=recipe.distill.model_dump(mode="json"),
    )
    step(
        "student",
        student_key,
        ["student"],
        lambda: build_student_dir(out / "teacher", task, recipe, manifest.output_hash("teacher"), out / "student"),
    )

    # -- prune (optional) -------------------------------------------------------------
    if recipe.prune.active:
        from edgesdk.pruning import PRUNED_DIR, build_pruned_dir

        prune_key = StepKey.of(
            student=manifest.output_hash("student"),
            teacher=manifest.output_hash("teacher"),
            data=data_hash,
            seed=recipe.seed,
            prune=recipe.prune.model_dump(mode="json"),
            distill=recipe.distill.model_dump(mode="json"),
            seq_len=recipe.export.seq_len,
        )
        step(
            "prune",
            prune_key,
            [PRUNED_DIR],
            lambda: build_pruned_dir(out, task, recipe, manifest.output_hash("teacher"), out / PRUNED_DIR),
        )

    # -- exits (optional) -------------------------------------------------------------
    if recipe.exits.active:
        from edgesdk.early_exit import EXITS_DIR, build_exits_dir

        deployed_hash = manifest.output_hash("prune" if recipe.prune.active else "student")
        exits_key = StepKey.of(
            model=deployed_hash,
            data=data_hash,
            seed=recipe.seed,
            exits=recipe.exits.model_dump(mode="json"),
            seq_len=recipe.export.seq_len,
        )
        step(
            "exits",
            exits_key,
            [EXITS_DIR],
            lambda: build_exits_dir(model_dir(out, recipe, "student"), task, recipe, out / EXITS_DIR),
        )

    # -- lower --------------------------------------------------------------------------
    # Calibration reads train and the fake-quant references read dev: both are in the key.
    quant = recipe.quantize.model_dump(mode="json", exclude={"max_accuracy_drop", "min_agreement"})
    lower_key = StepKey.of(
        student=manifest.output_hash("student"),
        teacher=manifest.output_hash("teacher"),
        prune=manifest.output_hash("prune") if recipe.prune.active else None,
        exits=manifest.output_hash("exits") if recipe.exits.active else None,
        export=recipe.export.model_dump(mode="json"),
        quantize=quant,
        data=data_hash,
        seed=recipe.seed,
    )
    artifacts = artifact_entries(recipe)
    artifact_names = [a.path for a in artifacts]
    step("lower", lower_key, [ARTIFACTS_DIR, QUANT_DIR], lambda: lower_all(out, recipe, task, artifacts))

    # -- verify -------------------------------------------------------------------------
    verify_key = StepKey.of(
        artifacts=manifest.output_hash("lower"),
        data=data_hash,
        verify=recipe.verify.model_dump(mode="json"),
        quantize=recipe.quantize.model_dump(mode="json"),
    )
    verify_info = step("verify", verify_key, ["verify.json"], lambda: verify_all(out, task, recipe, artifacts))
    from edgesdk.converters.verify import VerifyResult, raise_if_failed

    raise_if_failed([VerifyResult(**{k: v for k, v in r.items() if k != "path"}) for r in verify_info["results"]])

    # -- profile ------------------------------------------------------------------------
    profile_key = StepKey.of(
        artifacts=manifest.output_hash("lower"),
        data=data_hash,
        profile=recipe.profile.model_dump(mode="json"),
        target=request.target.id,
    )
    step("profile", profile_key, ["profile.json"], lambda: profile_all(out, task, recipe, request.target, artifacts))

    # -- fit ----------------------------------------------------------------------------
    fit_key = StepKey.of(
        artifacts=manifest.output_hash("lower"),
        profile=manifest.output_hash("profile"),
        target=request.target.model_dump(),
    )
    step("fit", fit_key, ["fit.json"], lambda: fit_all(out, request.target, artifacts))

    # -- package (android, mcu, linux targets) ----------------------------------------
    from edgesdk.apps.package import package_build, packager_for, templates_hash

    if packager_for(request.target.family) is not None:
        package_key = StepKey.of(
            artifacts=manifest.output_hash("lower"),
            fit=manifest.output_hash("fit"),
            data=data_hash,
            target=request.target.model_dump(),
            templates=templates_hash(),
        )
        step("package", package_key, [PACKAGE_DIR], lambda: package_build(out, request.target, task.dev.texts))
    elif (out / PACKAGE_DIR).exists():  # a package from an earlier build for another target does not belong here
        import shutil

        shutil.rmtree(out / PACKAGE_DIR)
        manifest.steps.pop("package", None)

    # -- report -------------------------------------------------------------------------
    from edgesdk.report import write_report

    report = write_report(out, request.target, manifest)
    manifest.header["artifacts"] = {rel: sha256_file(out / rel) for rel in artifact_names}
    manifest.save()
    return BuildResult(out, report, tuple(cached))


def ships_teacher(recipe: Recipe) -> bool:
    """The deployed model is the fine-tuned teacher as it is (no distillation, no pruning)."""
    return recipe.student.family == "teacher" and not recipe.prune.active


def model_dir(out: Path, recipe: Recipe, role: str) -> Path:
    """Where a role's model lives in the build dir: the deployed student is the pruned one
    when the recipe prunes."""
    if role == "student" and recipe.prune.active:
        from edgesdk.pruning import PRUNED_DIR

        return out / PRUNED_DIR
    return out / role


def deployed_models(recipe: Recipe) -> list[tuple[str, str]]:
    """(model role, artifact dir): the student at artifacts/, and when it differs from the
    teacher (distilled or pruned) the teacher beside it at artifacts/teacher/, so the report
    compares both on their artifacts (unless `export.teacher: false`)."""
    roles = [("student", ARTIFACTS_DIR)]
    if recipe.export.teacher and not ships_teacher(recipe):
        roles.append(("teacher", f"{ARTIFACTS_DIR}/teacher"))
    return roles


@dataclass(frozen=True)
class ArtifactSpec:
    """One deployed file: which model, runtime and precision, and where it lives."""

    model: str  # student | teacher
    runtime: str
    precision: str
    path: str  # relative to the build dir
    staged: bool = False  # early-exit stages x length buckets, run by the exit controller

    @property
    def reference_path(self) -> str:
        """Eager fake-quant logits on dev, written by lower for quantized artifacts."""
        return f"{QUANT_DIR}/{self.model}-{self.runtime}-{self.precision}.logits.npy"


def precision_tag(precision: str) -> str:
    """The part of a file name that says the precision: nothing for fp32."""
    return "" if precision == "fp32" else f".{precision}"


def artifact_file(precision: str, suffix: str) -> str:
    return "model" + precision_tag(precision) + suffix


def artifact_entries(recipe: Recipe) -> list[ArtifactSpec]:
    """Student: every recipe precision its runtime supports; the teacher beside it: fp32."""
    from edgesdk.converters import get_backend
    from edgesdk.converters.staged_plan import STAGED_TAG

    specs = []
    for role, directory in deployed_models(recipe):
        precisions = recipe.quantize.precisions if role == "student" else ["fp32"]
        for runtime in recipe.export.runtimes:
            backend = get_backend(runtime)
            specs += [
                ArtifactSpec(role, runtime, p, f"{directory}/{artifact_file(p, backend.suffix)}")
                for p in precisions
                if supports(backend, p)
            ]
            if role == "student" and recipe.exits.active and backend.lower_methods is not None:
                # fp32 always (the no-exit check compares it with the single graph exactly)
                staged = ["fp32", *(p for p in precisions if p != "fp32")]
                specs += [
                    ArtifactSpec(role, runtime, p, f"{directory}/{artifact_file(p, STAGED_TAG + backend.suffix)}", True)
                    for p in staged
                    if supports(backend, p)
                ]
    return specs


def skipped_precisions(recipe: Recipe) -> list[str]:
    from edgesdk.converters import get_backend

    return [
        f"{runtime} {p}"
        for runtime in recipe.export.runtimes
        for p in recipe.quantize.precisions
        if not supports(get_backend(runtime), p)
    ]


QAT_BASE = {"int8-qat": "int8"}  # QAT precision -> the lowering it goes through


def base_precision(precision: str) -> str:
    return QAT_BASE.get(precision, precision)


def supports(backend, precision: str) -> bool:
    """int8-qat is int8 lowering of QAT-trained weights: wherever int8 is."""
    return base_precision(precision) in backend.precisions


def lower_all(out: Path, recipe: Recipe, task: Task, specs: list[ArtifactSpec]) -> dict:
    from edgesdk.compress.quant_report import worst_first
    from edgesdk.fsutil import atomic_dir

    info = {"skipped": skipped_precisions(recipe)}
    for skipped in info["skipped"]:
        status(f"lower: {skipped} skipped (that runtime has no such precision; see docs/quantization.md)")

    layers: list[dict] = []
    with atomic_dir(out / ARTIFACTS_DIR) as tmp, atomic_dir(out / QUANT_DIR) as quant_tmp:
        for role, directory in deployed_models(recipe):
            bundle_dir = tmp / Path(directory).relative_to(ARTIFACTS_DIR)
            mine = [s for s in specs if s.model == role]
            info[role] = lower_bundle(out, model_dir(out, recipe, role), bundle_dir, recipe, task, mine, quant_tmp, layers)
        atomic_write_json(quant_tmp / LAYERS_FILE, worst_first(layers))
    return info


def lower_bundle(
    out: Path,
    model_dir: Path,
    bundle_dir: Path,
    recipe: Recipe,
    task: Task,
    specs: list[ArtifactSpec],
    quant_dir: Path,
    layers: list[dict],
) -> dict:
    """One model -> one artifact per (runtime, precision), with its tokenizer, labels and
    bundle.json; quantized ones also leave their eager reference's dev logits in quant_dir
    and their per-layer error rows in `layers`."""
    import shutil

    import numpy as np
    import torch

    from edgesdk.compress.quant_report import layer_report
    from edgesdk.compress.quantize import calibration_set, deployable, reference_logits
    from edgesdk.converters import get_backend
    from edgesdk.converters.bundle import BundleInfo
    from edgesdk.fsutil import atomic_write_npy
    from edgesdk.teacher import load_model_dir

    model, tokenizer, labels = load_model_dir(model_dir)
    seq_len = recipe.export.seq_len
    max_positions = getattr(model.config, "max_positions", None)
    if max_positions is not None and seq_len > max_positions:
        raise EdgeSDKError(f"export.seq_len {seq_len} exceeds the model's {max_positions} positions")
    example = (torch.ones(1, seq_len, dtype=torch.int32), torch.ones(1, seq_len, dtype=torch.int32))
    qcfg = recipe.quantize
    calibration = dev_ids = qat_model = None
    if any(s.precision != "fp32" for s in specs):
        calibration = calibration_set(task.train.texts, tokenizer, qcfg.calibration_samples, seq_len, recipe.seed)
        dev_ids = tokenizer.pad(tokenizer.encode(task.dev.texts, seq_len), seq_len)
    if any(s.precision in QAT_BASE for s in specs):
        qat_model = run_qat(out, model, tokenizer, task, recipe)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    info = {}
    for spec in specs:
        backend = get_backend(spec.runtime)
        label = f"{model_dir.name} -> {spec.runtime} {spec.precision}"
        status(f"lower: {label} ({backend.suffix}, length {seq_len}); log: logs/lower.log")
        try:
            with native_output_to(out / "logs" / "lower.log"):
                torch.manual_seed(recipe.seed)
                module = deployable(qat_model if spec.precision in QAT_BASE else model, seq_len)
                if spec.staged:
                    path = bundle_dir / Path(spec.path).name
                    staged = lower_staged(out, backend, module, recipe, bundle_dir, spec.precision, tokenizer, task)
                    atomic_write_bytes(path, staged)
                    write_golden(path, backend, tokenizer, task.dev.texts[:GOLDEN_INPUTS], seq_len, spec.precision)
                    info[f"{spec.runtime}/staged" + ("" if spec.precision == "fp32" else f"/{spec.precision}")] = {
                        "size_bytes": path.stat().st_size
                    }
                    continue
                if spec.precision != "fp32":
                    quantized = quantized_module(backend, spec.precision, module, calibration, recipe, seq_len)
                    fp32_module, module = module, quantized
                    logits = reference_logits(module, *dev_ids).astype(np.float32)
                    atomic_write_npy(quant_dir / Path(spec.reference_path).name, logits)
                    fake_quant = module if spec.runtime == "executorch" else None  # others: no eager twin
                    layers += layer_report(
                        fp32_module, fake_quant, spec.runtime, spec.precision, calibration, seq_len, qcfg
                    )
                data = backend.lower(module, example, base_precision(spec.precision), calibration, qcfg)
        except EdgeSDKError:
            raise
        except Exception as exc:  # noqa: BLE001 - converter internals raise anything
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise LoweringError(f"lowering {label} failed: {first}; full log in {out / 'logs' / 'lower.log'}") from exc
        atomic_write_bytes(bundle_dir / Path(spec.path).name, data)
        info[f"{spec.runtime}/{spec.precision}"] = {"size_bytes": len(data)}
    tokenizer.save(bundle_dir)
    shutil.copy2(model_dir / "labels.json", bundle_dir / "labels.json")
    BundleInfo(seq_len, labels).write(bundle_dir)
    return info


def lower_staged(
    out: Path, backend, module, recipe: Recipe, bundle_dir: Path, precision: str, tokenizer, task: Task
) -> bytes:
    """The staged artifact (a method per bucket and stage) and its exit plan in the bundle.
    Quantized: every stage goes through the runtime's quantizer for the precision, calibrated
    on the inputs it sees in deployment (the fp32 chain's hidden states on calibration rows)."""
    from edgesdk.compress.quantize import calibration_rows
    from edgesdk.converters.staging import StagedPlan, stage_calibrations, stage_methods
    from edgesdk.early_exit import EXITS_DIR, buckets_for, load_exit_heads

    heads, info = load_exit_heads(out / EXITS_DIR, module.config.hidden_size, module.config.num_labels)
    plan = StagedPlan(buckets_for(recipe), info["layers"], info["num_layers"], info["thresholds"], info["confidence"])
    methods, calibrations = stage_methods(module, heads, plan), None
    if precision != "fp32":
        rows = calibration_rows(task.train.texts, recipe.quantize.calibration_samples, recipe.seed)
        calibrations = stage_calibrations(methods, plan, tokenizer, rows)
        for name, (stage, example) in methods.items():
            bucket = example[0].shape[1]
            methods[name] = (quantized_module(backend, precision, stage, calibrations[name], recipe, bucket), example)
    data = backend.lower_methods(methods, base_precision(precision), calibrations, recipe.quantize)
    plan.write(bundle_dir)
    return data


GOLDEN_INPUTS = 32


def golden_file(runtime: str, precision: str) -> str:
    return f"golden_exits.{runtime}{precision_tag(precision)}.json"


def write_golden(path: Path, backend, tokenizer, texts, seq_len: int, precision: str) -> None:
    """golden_exits.<runtime>[.<precision>].json beside a staged artifact: for fixed dev
    sentences, the token ids, every stage's logits and the controller's decision (what the app
    controllers must reproduce)."""
    from edgesdk.controller import ExitController
    from edgesdk.converters.staged_plan import StagedPlan

    plan = StagedPlan.read(path.parent)
    controller = ExitController(backend.open_methods(path, 1), plan)
    ids, mask = tokenizer.pad(tokenizer.encode(texts, seq_len), seq_len)
    records = [controller.golden(ids[i : i + 1], mask[i : i + 1]) for i in range(len(texts))]
    atomic_write_json(path.parent / golden_file(backend.name, precision), {"plan": plan.__dict__, "inputs": records})


def quantized_module(backend, precision: str, fp32_module, calibration, recipe: Recipe, seq_len: int):
    """A quantized copy of a deployable fp32 module (or stage): weights clipped as the recipe
    says, then the runtime's quantizer for the precision (the eager reference the artifact
    must match)."""
    import copy

    from edgesdk.compress.quantize import clip_weight_outliers

    qcfg = recipe.quantize
    module = copy.deepcopy(fp32_module)
    clip_weight_outliers(module, qcfg.clip, qcfg.clip_value)
    return backend.quantizers[base_precision(precision)](module, calibration, qcfg, seq_len)


def run_qat(out: Path, model, tokenizer, task: Task, recipe: Recipe):
    """The QAT-trained copy of `model` (see compress/quantize.qat_finetune), trained once per
    build and shared by every runtime's int8-qat artifact."""
    import copy

    import torch

    from edgesdk.compress.distill import teacher_soft_labels
    from edgesdk.compress.quantize import QatData, deployable, qat_finetune, qat_rows
    from edgesdk.teacher import load_model_dir

    seq_len, qcfg = recipe.export.seq_len, recipe.quantize
    encoded = qat_rows(task.train.texts, tokenizer, qcfg, seq_len, recipe.seed)
    teacher, _, _ = load_model_dir(out / "teacher")
    teacher_hash = sha256_file(out / "teacher" / "model.safetensors")
    soft = teacher_soft_labels(teacher, tokenizer, encoded, cache_root() / "soft_labels", teacher_hash)
    ids, mask = tokenizer.pad(encoded, seq_len)
    data = QatData(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(soft))
    status(f"QAT: {qcfg.qat_steps} steps x {qcfg.qat_batch_size} rows, int8 fake quantization, teacher soft labels")
    return qat_finetune(deployable(copy.deepcopy(model), seq_len), data, qcfg, seq_len, recipe.seed)


def verify_all(out: Path, task: Task, recipe: Recipe, artifacts: list[ArtifactSpec]) -> dict:
    import dataclasses

    import numpy as np

    from edgesdk.converters.bundle import open_artifact
    from edgesdk.converters.verify import evaluate, gate
    from edgesdk.models.flops import model_flops
    from edgesdk.models.registry import param_count
    from edgesdk.teacher import load_model_dir
    from edgesdk.train import accuracy, predict_logits, use_available_cores

    use_available_cores()
    seq_len = recipe.export.seq_len
    models, eager = {}, {}
    # When the recipe ships the teacher, student/ is a copy of teacher/: evaluate it once.
    roles = ("teacher",) if ships_teacher(recipe) else ("teacher", "student")
    for role in roles:
        model, tokenizer, _ = load_model_dir(model_dir(out, recipe, role))
        eager[role] = predict_logits(model, tokenizer, task.dev.texts, seq_len)
        models[role] = {
            "params": param_count(model),
            "flops": model_flops(model, seq_len),
            "config": model.config.model_dump(mode="json"),
        }
    eager.setdefault("student", eager["teacher"])
    models.setdefault("student", models["teacher"])
    results, exit_stats = [], {}
    for spec in sorted(artifacts, key=lambda a: a.staged):  # single graphs first: staged ones compare to them
        artifact = open_artifact(out / spec.path, recipe.profile.threads)
        with progress_bar(f"verify {spec.model} {spec.runtime} {spec.precision}", len(task.dev)) as bar:
            ev = evaluate(artifact, task.dev, progress=bar.advance)
        fp32 = eager[spec.model]
        fp32_accuracy = accuracy(fp32.argmax(1), task.dev.labels)
        if spec.staged:  # exits change some labels by design: the exit gate, plus the no-exit check
            ref, tolerance = fp32, staged_tolerance(recipe, spec.precision)
            twin = (spec.runtime, "student", spec.precision, False)
            single = next(r for r in results if (r["runtime"], r["model"], r["precision"], r["staged"]) == twin)
            exit_stats[spec.path] = staged_checks(artifact, ev, task, single, recipe, spec.precision)
        elif spec.precision == "fp32":
            ref, tolerance = fp32, recipe.verify
        else:  # the artifact must match its fake-quant model and lose little against fp32
            ref, tolerance = np.load(out / spec.reference_path, allow_pickle=False), recipe.quantize
        result = gate(
            spec.runtime,
            ev,
            ref.argmax(1).tolist(),
            ref,
            task.dev.labels,
            tolerance,
            spec.model,
            spec.precision,
            fp32_accuracy,
        )
        if spec.staged:
            result = dataclasses.replace(result, staged=True)
        results.append({**result.to_json(), "path": spec.path, "predictions": list(ev.predictions)})
    for r in results:
        r.pop("predictions")
    payload = {
        "eager_accuracy": accuracy(eager["student"].argmax(1), task.dev.labels),
        "teacher_accuracy": accuracy(eager["teacher"].argmax(1), task.dev.labels),
        "models": models,
        "n": len(task.dev),
        "results": results,
        "exits": exit_stats,
    }
    atomic_write_json(out / "verify.json", payload)
    return payload


def staged_tolerance(recipe: Recipe, precision: str):
    """The exit gate vs the fp32 eager model; a quantized staged artifact may also lose what
    the quantization gate allows."""
    if precision == "fp32":
        return recipe.exits
    drop = recipe.exits.max_accuracy_drop + recipe.quantize.max_accuracy_drop
    return recipe.exits.model_copy(update={"max_accuracy_drop": drop})


def staged_checks(artifact, calibrated, task: Task, single: dict, recipe: Recipe, precision: str) -> dict:
    """Exit statistics of the calibrated run, and the same artifact with thresholds that never
    exit, which must predict what the single-graph artifact of the same precision predicted:
    exactly in fp32; quantized, with at least quantize.min_agreement (each stage is calibrated
    on its own, so activation scales at stage boundaries differ a little from the single
    graph's)."""
    import dataclasses

    import numpy as np

    from edgesdk.exit_rule import NEVER
    from edgesdk.controller import StagedSession
    from edgesdk.converters.verify import evaluate, percentiles

    decisions = artifact.session.decisions[-len(task.dev) :]
    plan = artifact.session.controller.plan
    never = dataclasses.replace(plan, thresholds=[NEVER] * len(plan.thresholds))
    session = StagedSession(artifact.backend.open_methods(artifact.path, 1), never)
    with progress_bar(f"verify {artifact.path.name} without exits", len(task.dev)) as bar:
        no_exit = evaluate(dataclasses.replace(artifact, session=session), task.dev, progress=bar.advance)
    same = float(np.mean(np.asarray(no_exit.predictions) == np.asarray(single["predictions"])))
    required = 1.0 if precision == "fp32" else recipe.quantize.min_agreement
    if same < required:
        raise AccuracyGateError(
            f"staged {artifact.path.name} without exits disagrees with the single-graph artifact on "
            f"{round((1 - same) * len(task.dev))} of {len(task.dev)} dev rows (agreement {same:.4f}, "
            f"required {required}); the stages do not chain to the same model"
        )
    exits = [d.exit_index for d in decisions]
    return {
        "precision": precision,
        "accuracy": calibrated.accuracy,
        "accuracy_no_exit": no_exit.accuracy,
        "no_exit_agreement_with_single_graph": same,
        "avg_layers_fraction": round(float(np.mean([d.layers for d in decisions])) / plan.num_layers, 6),
        "exit_histogram": [exits.count(k) for k in range(len(plan.exit_layers) + 1)],
        "exit_layers": plan.stage_ends,
        "bucket_usage": {str(b): sum(d.bucket == b for d in decisions) for b in plan.buckets},
        "thresholds": plan.thresholds,
        "latency_ms_no_exit": percentiles(list(no_exit.latencies_ms)),
        "latency_ms": percentiles(list(calibrated.latencies_ms)),
    }


def profile_all(out: Path, task: Task, recipe: Recipe, target: TargetSpec, artifacts: list[ArtifactSpec]) -> dict:
    from edgesdk.targets.profilers import profile_artifact, unavailable
    from edgesdk.targets.registry import get_target

    reason = unavailable(target)
    host = get_target("host")
    device = target if reason is None else host
    if reason is not None:
        status(f"profile: {reason}; measuring on host (labelled profiled_on: host)")
    profiles = {}
    for spec in artifacts:
        # The device gets what it runs; staged artifacts need the controller, which runs here,
        # and a file larger than the device's flash (the teacher beside an MCU student) cannot run there.
        too_big = device.flash_bytes is not None and (out / spec.path).stat().st_size > device.flash_bytes
        runs_there = spec.runtime in device.runtimes and (device is host or not spec.staged) and not too_big
        where = device if runs_there else host
        status(
            f"profile: {spec.path} on {where.id} ({recipe.profile.threads} threads, {recipe.profile.repetitions} runs)"
        )
        measured = profile_artifact(where, out / spec.path, task.dev.texts, recipe.profile)
        if measured.get("outputs_match") is False:  # the firmware disagrees with the verified interpreter
            from edgesdk.errors import ParityError

            raise ParityError(
                f"{spec.path}: the {where.id} firmware's outputs differ from the TFLM Python interpreter's on inputs "
                f"{measured.get('outputs_mismatched_inputs')}; report this with the build dir"
            )
        profiles[spec.path] = {
            **measured,
            "model": spec.model,
            "precision": spec.precision,
            "zip_bytes": compressed_size(out / spec.path),
        }
    atomic_write_json(out / "profile.json", profiles)
    return {"artifacts": list(profiles)}


def fit_all(out: Path, target: TargetSpec, artifacts: list[ArtifactSpec]) -> dict:
    """fit.json: each shipped-model artifact the target can run against its flash and RAM
    budgets. Written before a FitError is raised, so the numbers stay readable."""
    from edgesdk.errors import FitError
    from edgesdk.targets.fit import check_fit

    profiles = read_json(out / "profile.json")
    candidates = [(a.path, a.runtime) for a in artifacts if a.model == "student" and a.runtime in target.runtimes]
    try:
        result = check_fit(target, out, candidates, profiles)
    except FitError as exc:
        atomic_write_json(out / "fit.json", exc.details)
        raise
    atomic_write_json(out / "fit.json", result)
    status(
        f"fit: {target.id}: {result['needs']['artifact']} needs {result['needs']['flash_bytes']:,} B flash, "
        f"{result['needs']['ram_bytes'] or 0:,} B RAM (budgets: {result['budgets']})"
    )
    return {"ok": result["ok"]}


def deployed_tokens(base_dir: Path, task: Task, recipe: Recipe) -> list[str]:
    """The word-table rows the deployed model will keep: the teacher's vocabulary, or with
    `prune.vocab: train` the tokens the training texts use (the vocabulary step's own plan)."""
    from edgesdk.compress.vocab import plan_vocabulary
    from edgesdk.tokenizer import Tokenizer

    tokenizer = Tokenizer.from_dir(base_dir)
    by_id = {i: token for token, i in tokenizer.vocabulary().items()}
    if recipe.prune.vocab == "none":
        return list(by_id.values())
    plan = plan_vocabulary(tokenizer, task.train.texts, recipe.prune.vocab_min_count, recipe.prune.vocab_max_size)
    return [by_id[i] for i in plan.keep if i in by_id]


def compressed_size(path: Path) -> int:
    """Deflate (zip) size: what a download or an app store package costs; clustered or
    pruned weights show up here before any runtime stores them compactly."""
    import zlib

    return len(zlib.compress(path.read_bytes(), 9))


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
