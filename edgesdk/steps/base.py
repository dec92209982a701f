"""What a pipeline step is: its declared inputs, its outputs and the function that makes them.

A step's cache key is never written out by hand: it is the hash of the step's declared inputs,
resolved in the order declared (recipe sections, the build's data hash and seed, the recorded
output hashes of the upstream steps it reads). The step function receives the upstream
outputs it declared as paths, so no step knows another step's folder name, and an input a
step reads but did not declare cannot exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

from pydantic import BaseModel

from edgesdk.devices import CPU, TrainDevice
from edgesdk.manifest import Manifest, StepKey
from edgesdk.recipe import Recipe
from edgesdk.step_store import StepStore
from edgesdk.targets.registry import TargetSpec
from edgesdk.task import Task


@dataclass(frozen=True)
class Build:
    """The fixed inputs of one build, validated before the build dir exists."""

    recipe: Recipe
    task: Task
    target: TargetSpec
    out: Path
    data_hash: str
    teacher_base: Path  # the teacher checkpoint the build starts from
    device: TrainDevice = CPU  # where the training steps train (recipe train:, --device)
    step_store: Optional[StepStore] = None  # finished steps shared with other builds (a sweep's variants)


@dataclass(frozen=True)
class Value:
    """A declared input that is not another step's output: a recipe section, the data hash..."""

    name: str
    resolve: Callable[[Build], Any]


@dataclass(frozen=True)
class Upstream:
    """Another step's outputs. With several `steps`, the first one active in this build (the
    deployed model is the pruned one when the recipe prunes, else the student). An upstream
    that is not active in this build enters the key as None and is not handed to the step."""

    name: str
    steps: tuple[str, ...] = ()

    @property
    def candidates(self) -> tuple[str, ...]:
        return self.steps or (self.name,)


Input = Union[Value, Upstream]

# A Value that resolves to OMIT is left out of the key: an input at the default it had before it
# existed keeps the keys (and caches) of the builds made before it.
OMIT = object()


# Recipe fields added after builds existed, left out of a key while at their default (off), so
# those builds keep their keys and caches; set to anything else, they enter it.
UNKEYED_DEFAULTS = {
    "distill": ("quant_noise", "theseus"),
    "prune": ("low_rank",),
    "student": ("word_rows", "word_table", "learned_vocab"),
    "profile": ("retime_rounds",),
}


def keyed_section(recipe: Recipe, name: str, exclude: frozenset[str] = frozenset()):
    """A recipe section's JSON dump as keys see it: without `exclude` and without the fields
    of UNKEYED_DEFAULTS left at their defaults."""
    cfg = getattr(recipe, name)
    if not isinstance(cfg, BaseModel):
        return cfg
    at_default = {f for f in UNKEYED_DEFAULTS.get(name, ()) if getattr(cfg, f) == type(cfg).model_fields[f].default}
    return cfg.model_dump(mode="json", exclude=set(exclude) | at_default or None)


def keyed_recipe(recipe: Recipe) -> dict:
    """The whole recipe as keys see it: what a sweep's resume compares, so that a field added
    to the recipe later (at its default) does not make every finished variant look changed."""
    return {name: keyed_section(recipe, name) for name in type(recipe).model_fields}


def section(name: str, exclude: frozenset[str] = frozenset()) -> Value:
    """A recipe section as it enters a key (JSON dump, minus fields that do not change the output)."""
    return Value(name, lambda b: keyed_section(b.recipe, name, exclude))


DATA = Value("data", lambda b: b.data_hash)
SEED = Value("seed", lambda b: b.recipe.seed)
SEQ_LEN = Value("seq_len", lambda b: b.recipe.export.seq_len)
TARGET = Value("target", lambda b: b.target.model_dump(exclude={"address"}))  # the device is not an input
TARGET_ID = Value("target", lambda b: b.target.id)
DEPLOYED = Upstream("model", ("prune", "student"))  # the model the artifacts are made of
# Where a training step trained: other numerics off the CPU in fp32 (the default, left out).
TRAIN = Value("train", lambda b: OMIT if b.device.is_default else b.device.to_json())


@dataclass(frozen=True)
class Inputs:
    """The upstream outputs a step declared: paths (first output) and recorded hashes."""

    out: Path
    manifest: Manifest
    resolved: dict[str, str]  # declared upstream name -> the step that provides it

    def path(self, name: str) -> Path:
        return self.paths(name)[0]

    def paths(self, name: str) -> list[Path]:
        return [self.out / rel for rel in self.manifest.steps[self.resolved[name]]["outputs"]]

    def hash(self, name: str) -> str:
        return self.manifest.output_hash(self.resolved[name])

    def get(self, name: str) -> Optional[Path]:
        return self.path(name) if name in self.resolved else None


@dataclass(frozen=True)
class Context:
    """What a step function gets: the build, its declared upstream outputs, its own key and
    where its (first) output goes."""

    build: Build
    inputs: Inputs
    key: StepKey
    output: Path


@dataclass(frozen=True)
class Step:
    name: str
    inputs: tuple[Input, ...]
    outputs: Callable[[Build], list[str]]  # paths relative to the build dir; the first is the step's own dir/file
    run: Callable[[Context], Optional[dict]]
    active: Callable[[Build], bool] = lambda build: True
    keyed_by_name: bool = False  # the key hashes the named mapping (the teacher's user-cache key)
    check: Optional[Callable[[dict], None]] = None  # run on the step's info, fresh or cached (gates)
    when_inactive: Optional[Callable[[Build, Manifest], None]] = None  # clean up an earlier build's output
    trains: bool = False  # runs the build's training loops: every rank of a multi-process build takes part

    def resolve(self, build: Build, manifest: Manifest, done: set[str]) -> tuple[StepKey, dict[str, str]]:
        """The step's key from its declaration, and which finished step provides each upstream."""
        values, provided = {}, {}
        for declared in self.inputs:
            if isinstance(declared, Value):
                value = declared.resolve(build)
                if value is not OMIT:
                    values[declared.name] = value
                continue
            step = next((s for s in declared.candidates if s in done), None)
            values[declared.name] = manifest.output_hash(step) if step else None
            if step:
                provided[declared.name] = step
        key = StepKey.of_mapping(values) if self.keyed_by_name else StepKey.of(**values)
        return key, provided


def fixed(*paths: str) -> Callable[[Build], list[str]]:
    return lambda build: list(paths)
