"""The lower step: every artifact the recipe asks for, from the models handed to it.

Quantized artifacts go through the runtime's quantizer for their precision (PT2E for
ExecuTorch, ai-edge-quantizer on the flatbuffer for LiteRT), calibrated here on train rows:
a calibrated program cannot be stored without pickling it, so calibration and lowering run in
one process. What trains for quantization (QAT) is the quantize step before this one; this
step never reads the teacher's labels.
"""

from __future__ import annotations

import copy
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch

from edgesdk.compress.quant_methods import (
    calibration_rows,
    calibration_set,
    clip_weight_outliers,
    deployable,
    reference_logits,
)
from edgesdk.compress.quant_report import layer_report, worst_first
from edgesdk.converters import get_backend
from edgesdk.converters.bundle import BundleInfo
from edgesdk.converters.controller import ExitController
from edgesdk.converters.quantizer_registry import quantizer_for
from edgesdk.converters.staged_plan import StagedPlan
from edgesdk.converters.staging import stage_calibrations, stage_methods
from edgesdk.errors import EdgeSDKError, LoweringError
from edgesdk.fsutil import atomic_dir, atomic_write_bytes, atomic_write_json, atomic_write_npy
from edgesdk.models.model_dir import LABELS_FILE, load_model_dir
from edgesdk.progress import native_output_to, status
from edgesdk.recipe import Recipe
from edgesdk.steps.artifacts import (
    ARTIFACTS_DIR,
    LAYERS_FILE,
    QAT_BASE,
    QUANT_DIR,
    ArtifactSpec,
    artifact_entries,
    base_precision,
    deployed_models,
    precision_tag,
    skipped_precisions,
)
from edgesdk.steps.base import DATA, DEPLOYED, SEED, Context, Step, Upstream, fixed, section
from edgesdk.steps.exits import buckets_for, load_exit_heads
from edgesdk.steps.lowered_cache import cached_kind, lowered_key, model_digest, publish_lowered, read_lowered
from edgesdk.task import Task


@dataclass(frozen=True)
class LoweredModels:
    """The model dirs lowering reads, as the upstream steps hand them over."""

    dirs: dict  # model role (student | teacher) -> model dir
    exits: Optional[Path] = None  # the exits step's dir, for staged artifacts
    qat: Optional[Path] = None  # the quantize step's QAT-trained model dir, for int8-qat


def lower_all(out: Path, recipe: Recipe, task: Task, specs: list[ArtifactSpec], models: LoweredModels) -> dict:
    """artifacts/ and quantization/ of the build dir `out`, from the models passed in."""
    info = {"skipped": skipped_precisions(recipe)}
    for skipped in info["skipped"]:
        status(f"lower: {skipped} skipped (that runtime has no such precision; see docs/quantization.md)")

    layers: list[dict] = []
    with atomic_dir(out / ARTIFACTS_DIR) as tmp, atomic_dir(out / QUANT_DIR) as quant_tmp:
        for role, directory in deployed_models(recipe):
            bundle_dir = tmp / Path(directory).relative_to(ARTIFACTS_DIR)
            mine = [s for s in specs if s.model == role]
            info[role] = lower_bundle(out, models, role, bundle_dir, recipe, task, mine, quant_tmp, layers)
        atomic_write_json(quant_tmp / LAYERS_FILE, worst_first(layers))
    return info


@dataclass
class BundleJob:
    """What lowering one model's artifacts shares: the model, its inputs and where results go."""

    model: object
    qat_model: object
    tokenizer: object
    seq_len: int
    calibration: object
    dev_ids: object
    recipe: Recipe
    task: Task
    exits_dir: Optional[Path]
    bundle_dir: Path
    quant_dir: Path
    layers: list  # per-layer error rows of the quantized artifacts, appended to

    def module_for(self, spec: ArtifactSpec):
        torch.manual_seed(self.recipe.seed)
        return deployable(self.qat_model if spec.precision in QAT_BASE else self.model, self.seq_len)


def lower_bundle(
    out: Path,
    models: LoweredModels,
    role: str,
    bundle_dir: Path,
    recipe: Recipe,
    task: Task,
    specs: list[ArtifactSpec],
    quant_dir: Path,
    layers: list[dict],
) -> dict:
    """One model -> one artifact per (runtime, precision), with its tokenizer, labels and
    bundle.json; quantized ones also leave their eager reference's dev logits in quant_dir
    and their per-layer error rows in `layers`. The teacher's fp32 artifacts come from the user
    cache when the same teacher was lowered before (steps/lowered_cache.py)."""
    model_dir = models.dirs[role]
    model, tokenizer, labels = load_model_dir(model_dir)
    seq_len = check_seq_len(model, recipe.export.seq_len)
    qcfg = recipe.quantize
    calibration = dev_ids = qat_model = None
    if any(s.precision != "fp32" for s in specs):
        calibration = calibration_set(task.train.texts, tokenizer, qcfg.calibration_samples, seq_len, recipe.seed)
        dev_ids = tokenizer.pad(tokenizer.encode(task.dev.texts, seq_len), seq_len)
    if any(s.precision in QAT_BASE for s in specs):
        qat_model = load_model_dir(models.qat)[0]  # the quantize step's QAT-trained weights
    job = BundleJob(
        model, qat_model, tokenizer, seq_len, calibration, dev_ids, recipe, task, models.exits, bundle_dir,
        quant_dir, layers,
    )
    digest = model_digest(model_dir) if any(cached_kind(role, s) for s in specs) else None
    bundle_dir.mkdir(parents=True, exist_ok=True)
    log = out / "logs" / "lower.log"
    info = {}
    for spec in specs:
        backend = get_backend(spec.runtime)
        label, path = f"{model_dir.name} -> {spec.runtime} {spec.precision}", bundle_dir / Path(spec.path).name
        key = lowered_key(digest, spec.runtime, seq_len, recipe.seed) if cached_kind(role, spec) else None
        data = read_lowered(key, path.name) if key is not None else None
        if data is not None:
            status(f"lower: {label}: the same model's artifact from the user cache ({key[:12]})")
        else:
            status(f"lower: {label} ({backend.suffix}, length {seq_len}); log: logs/lower.log")
            with lowering_errors(log, label), native_output_to(log):
                data = lower_spec(job, spec)
            if key is not None:
                publish_lowered(key, path.name, data)
        atomic_write_bytes(path, data)
        if spec.staged:
            with lowering_errors(log, label), native_output_to(log):
                write_golden(path, backend, tokenizer, task.dev.texts[:GOLDEN_INPUTS], seq_len, spec.precision)
        kind = f"staged{precision_key(spec.precision)}" if spec.staged else spec.precision
        info[f"{spec.runtime}/{kind}"] = {"size_bytes": len(data)}
    tokenizer.save(bundle_dir)
    shutil.copy2(model_dir / LABELS_FILE, bundle_dir / LABELS_FILE)
    BundleInfo(seq_len, labels).write(bundle_dir)
    return info


def lower_spec(job: BundleJob, spec: ArtifactSpec) -> bytes:
    """One artifact's bytes: staged (its exit plan beside it), or one graph quantized for its
    precision (leaving the eager reference's logits and per-layer rows), or fp32."""
    backend, module, qcfg = get_backend(spec.runtime), job.module_for(spec), job.recipe.quantize
    if spec.staged:
        return lower_staged(
            job.exits_dir, backend, module, job.recipe, job.bundle_dir, spec.precision, job.tokenizer, job.task
        )
    if spec.precision != "fp32":
        quantized = quantized_module(backend, spec.precision, module, job.calibration, job.recipe, job.seq_len)
        job.layers += record_reference(spec, module, quantized, job.calibration, job.dev_ids, qcfg, job.quant_dir)
        module = quantized
    example = (torch.ones(1, job.seq_len, dtype=torch.int32), torch.ones(1, job.seq_len, dtype=torch.int32))
    return backend.lower(module, example, base_precision(spec.precision), job.calibration, qcfg)


@contextmanager
def lowering_errors(log: Path, label: str) -> Iterator[None]:
    """A converter's exception (they raise anything) as one LoweringError naming the log."""
    try:
        yield
    except EdgeSDKError:
        raise
    except Exception as exc:  # noqa: BLE001 - converter internals raise anything
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise LoweringError(f"lowering {label} failed: {first}; full log in {log}") from exc


def check_seq_len(model, seq_len: int) -> int:
    max_positions = getattr(model.config, "max_positions", None)
    if max_positions is not None and seq_len > max_positions:
        raise EdgeSDKError(f"export.seq_len {seq_len} exceeds the model's {max_positions} positions")
    return seq_len


def precision_key(precision: str) -> str:
    return "" if precision == "fp32" else f"/{precision}"


def record_reference(spec: ArtifactSpec, fp32_module, quantized, calibration, dev_ids, qcfg, quant_dir: Path) -> list:
    """The quantized eager model's dev logits (what verify compares the artifact with), and
    its per-layer error rows against fp32."""
    seq_len = dev_ids[0].shape[1]
    logits = reference_logits(quantized, *dev_ids).astype(np.float32)
    atomic_write_npy(quant_dir / Path(spec.reference_path).name, logits)
    fake_quant = quantized if spec.runtime == "executorch" else None  # others: no eager twin
    return layer_report(fp32_module, fake_quant, spec.runtime, spec.precision, calibration, seq_len, qcfg)


def lower_staged(
    exits_dir: Path, backend, module, recipe: Recipe, bundle_dir: Path, precision: str, tokenizer, task: Task
) -> bytes:
    """The staged artifact (a method per bucket and stage) and its exit plan in the bundle.
    Quantized: every stage goes through the runtime's quantizer for the precision, calibrated
    on the inputs it sees in deployment (the fp32 chain's hidden states on calibration rows)."""
    heads, info = load_exit_heads(exits_dir, module.config.hidden_size, module.config.num_labels)
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
    plan = StagedPlan.read(path.parent)
    controller = ExitController(backend.open_methods(path, 1), plan)
    ids, mask = tokenizer.pad(tokenizer.encode(texts, seq_len), seq_len)
    records = [controller.golden(ids[i : i + 1], mask[i : i + 1]) for i in range(len(texts))]
    atomic_write_json(path.parent / golden_file(backend.name, precision), {"plan": plan.__dict__, "inputs": records})


def quantized_module(backend, precision: str, fp32_module, calibration, recipe: Recipe, seq_len: int):
    """A quantized copy of a deployable fp32 module (or stage): weights clipped as the recipe
    says, then the runtime's quantizer for the precision (the eager reference the artifact
    must match)."""
    qcfg = recipe.quantize
    module = copy.deepcopy(fp32_module)
    clip_weight_outliers(module, qcfg.clip, qcfg.clip_value)
    return quantizer_for(backend.name, base_precision(precision))(module, calibration, qcfg, seq_len)


def run(ctx: Context) -> dict:
    up = ctx.inputs
    models = LoweredModels(
        {"student": up.path("model"), "teacher": up.path("teacher")}, up.get("exits"), up.get("quantize")
    )
    return lower_all(ctx.build.out, ctx.build.recipe, ctx.build.task, artifact_entries(ctx.build.recipe), models)


# Calibration reads train and the fake-quant references read dev: both are in the key.
STEP = Step(
    "lower",
    (
        DEPLOYED,
        Upstream("teacher"),
        Upstream("exits"),
        Upstream("quantize"),
        section("export"),
        section("quantize", frozenset({"max_accuracy_drop", "min_agreement"})),
        DATA,
        SEED,
    ),
    fixed(ARTIFACTS_DIR, QUANT_DIR),
    run,
)
