"""The deployed files of a build: which model, runtime and precision each is, and where it lives.

Shared by the steps that make, check and measure artifacts (quantize, lower, verify, profile,
fit) and by the apps that ship them.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgesdk.converters import get_backend
from edgesdk.converters.staged_plan import STAGED_TAG
from edgesdk.recipe import Recipe

ARTIFACTS_DIR = "artifacts"
QUANT_DIR = "quantization"  # fake-quant reference logits and the per-layer error report
LAYERS_FILE = "layers.json"


def ships_teacher(recipe: Recipe) -> bool:
    """The deployed model is the fine-tuned teacher as it is (no distillation, no pruning)."""
    return recipe.student.family == "teacher" and not recipe.prune.active


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
