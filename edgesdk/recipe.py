"""Typed build recipes.

A recipe is YAML in, a validated pydantic object out. Every model forbids unknown keys so a
typo fails at parse time with the offending key named, not silently later. The resolved
recipe (defaults filled in) is written into every build dir for provenance, and each
pipeline step hashes only its own section, so editing the profile section never retrains
the teacher.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgesdk.errors import RecipeError

# Top-level recipes/ is installed as edgesdk.recipes (see pyproject package-dir).
RECIPES_DIR = Path(str(resources.files("edgesdk.recipes")))
DEFAULT_RECIPE = "default"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """Where the labelled text comes from. Paths left empty use the bundled SST-2 demo."""

    train: Optional[str] = None
    dev: Optional[str] = None
    text_column: Optional[str] = None
    label_column: Optional[str] = None
    dev_fraction: float = Field(0.1, gt=0.0, lt=0.5, description="carved from train when no dev file")
    max_train_rows: Optional[int] = Field(None, gt=0, description="seeded subsample of train")


class TeacherConfig(_Section):
    """Fine-tuning of the teacher. `path` empty means the packaged all-MiniLM-L6-v2."""

    path: Optional[str] = None
    pooling: Literal["mean", "cls"] = "mean"
    max_length: int = Field(64, ge=8, le=512)
    epochs: float = Field(1.0, gt=0.0)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(5e-5, gt=0.0)
    warmup_ratio: float = Field(0.06, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.01, ge=0.0)
    freeze_word_embeddings: bool = True
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    max_train_rows: Optional[int] = Field(None, gt=0, description="cap on fine-tuning rows")


class ExportConfig(_Section):
    """Lowering to deployable artifacts (fp32 for now)."""

    seq_len: int = Field(64, ge=4, le=512)
    runtimes: list[Literal["executorch", "litert"]] = Field(default_factory=lambda: ["executorch", "litert"])

    @model_validator(mode="after")
    def _non_empty(self) -> "ExportConfig":
        if not self.runtimes:
            raise ValueError("export.runtimes must name at least one runtime")
        return self


class VerifyConfig(_Section):
    """Accuracy gate: the artifact may lose at most this much accuracy (fraction) vs eager."""

    max_accuracy_drop: float = Field(0.005, ge=0.0, le=1.0)
    min_agreement: float = Field(0.98, ge=0.0, le=1.0)


class ProfileConfig(_Section):
    threads: int = Field(2, ge=1)
    warmup: int = Field(10, ge=0)
    repetitions: int = Field(200, ge=1)


class Recipe(_Section):
    version: Literal[1] = 1
    name: str = "default"
    seed: int = 0
    data: DataConfig = DataConfig()
    teacher: TeacherConfig = TeacherConfig()
    export: ExportConfig = ExportConfig()
    verify: VerifyConfig = VerifyConfig()
    profile: ProfileConfig = ProfileConfig()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _format_validation_error(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"recipe {source}: unknown key '{where}'; check the spelling against docs/recipes.md"
    return f"recipe {source}: '{where}': {first['msg']} (got {first.get('input')!r}); fix that value"


def parse_recipe(text: str, source: str = "<string>") -> Recipe:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {source} is not valid YAML ({str(exc).splitlines()[0]}); fix the syntax") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RecipeError(f"recipe {source} must be a YAML mapping of sections, got {type(raw).__name__}")
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(_format_validation_error(source, exc)) from None


def load_recipe(path_or_name: Optional[str] = None) -> Recipe:
    """Load a recipe file, or a bundled recipe by name (default: the SST-2 demo)."""
    name = path_or_name or DEFAULT_RECIPE
    path = Path(name)
    if not path.exists():
        bundled = RECIPES_DIR / f"{name}.yaml"
        if bundled.exists():
            path = bundled
        else:
            known = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))
            raise RecipeError(f"recipe '{name}' not found: give a YAML file path or one of: {known}")
    if path.is_dir():
        raise RecipeError(f"recipe path {path} is a directory; give a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc}") from None
    return parse_recipe(text, str(path))
