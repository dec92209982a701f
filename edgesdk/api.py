"""The public Python API: what the CLI runs, one call per command (docs/api.md).

    import edgesdk

    result = edgesdk.build("host", train="my_train.csv", out="build/mine")
    print(result.report["summary"]["artifact"])
    print(edgesdk.evaluate(result.out_dir / "artifacts" / "model.int8-dynamic.tflite", "my_dev.csv"))

Every function raises an `edgesdk.errors.EdgeSDKError` subclass with a one-line message for
input the user can fix (the CLI prints it and exits 2); anything else is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union, get_args

from edgesdk.apps.packager_registry import package_build, packager_for
from edgesdk.converters.bundle import open_artifact
from edgesdk.converters.evaluation import evaluate as evaluate_loaded
from edgesdk.converters.evaluation import percentiles
from edgesdk.converters.guard import check_loads
from edgesdk.errors import RecipeError, TargetError
from edgesdk.pipeline import BuildRequest, BuildResult
from edgesdk.pipeline import build as run_build
from edgesdk.recipe import ProfileConfig, Recipe, TrainConfig, load_recipe
from edgesdk.report import finished_build, rerender
from edgesdk.sweep.grid import default_grid
from edgesdk.sweep.runner import SweepRequest
from edgesdk.sweep.runner import sweep as run_sweep
from edgesdk.targets.adb_app import profile_adb_app
from edgesdk.targets.profiler_registry import profile_artifact
from edgesdk.targets.registry import ALIASES, TargetSpec, get_target
from edgesdk.targets.registry import list_targets as bundled_targets
from edgesdk.task import demo_data_paths, read_eval_split, read_texts

PathLike = Union[str, Path]
Target = TargetSpec  # a deployment target: its family, runtimes, flash/RAM budgets (targets/specs/*.yaml)


def load_target(name: Union[str, Target], address: Optional[str] = None) -> Target:
    """A target by id, family alias (android, linux, mcu) or path to a target YAML; `address`
    picks the device profile() measures on: an adb serial (android) or user@host (linux)."""
    spec = name if isinstance(name, TargetSpec) else get_target(str(name))
    return spec.model_copy(update={"address": address}) if address else spec


def list_targets() -> list[Target]:
    """The bundled deployment targets (`edgesdk targets`)."""
    return bundled_targets()


def target_aliases() -> dict[str, str]:
    """Family aliases (android, linux, mcu) -> the target id each selects."""
    return dict(ALIASES)


@dataclass(frozen=True)
class DataOptions:
    """Where the labelled text comes from; None = the bundled SST-2 demo / detected columns."""

    train: Optional[PathLike] = None
    dev: Optional[PathLike] = None  # None: carved from train (stratified, seeded)
    text_column: Optional[str] = None
    label_column: Optional[str] = None

    def overrides(self) -> dict:
        as_str = lambda p: None if p is None else str(p)  # noqa: E731
        return {
            "train": as_str(self.train),
            "dev": as_str(self.dev),
            "text_column": self.text_column,
            "label_column": self.label_column,
        }


def _target_and_recipe(target: Union[str, Target], recipe: Union[str, Recipe, None]) -> tuple[Target, Recipe]:
    """The target, and the recipe given (a Recipe, a YAML path, a bundled name) or the target's default."""
    spec = load_target(target)
    return spec, recipe if isinstance(recipe, Recipe) else load_recipe(recipe or spec.default_recipe)


def build(
    target: Union[str, Target],
    recipe: Union[str, Recipe, None] = None,
    data: Optional[DataOptions] = None,
    teacher: Optional[PathLike] = None,
    out: Optional[PathLike] = None,
    device: Optional[str] = None,
) -> BuildResult:
    """Distil, prune, quantize, lower, verify, profile, fit and package for `target`
    (`edgesdk build`). `recipe`: a Recipe, a YAML path or a bundled recipe name (default: the
    target's). `out` defaults to build/<recipe name>. Resumes an interrupted build in `out`.
    `device` (cpu, cuda, mps, auto) overrides the recipe's `train.device`."""
    spec, parsed = _target_and_recipe(target, recipe)
    if device is not None:
        choices = get_args(TrainConfig.model_fields["device"].annotation)
        if device not in choices:
            raise RecipeError(f"--device {device!r} is not a training device; use one of {', '.join(choices)}")
        parsed = parsed.model_copy(update={"train": parsed.train.model_copy(update={"device": device})})
    out_dir = Path(out) if out is not None else Path("build") / parsed.name
    overrides = (data or DataOptions()).overrides()
    return run_build(BuildRequest(parsed, spec, out_dir, overrides, None if teacher is None else str(teacher)))


def evaluate(
    artifact: PathLike,
    data: PathLike,
    text_column: Optional[str] = None,
    label_column: Optional[str] = None,
    threads: int = 2,
) -> dict:
    """Accuracy and batch-1 latency of an artifact in its runtime over labelled data
    (`edgesdk eval`). The file is first opened in a child process: a corrupt one is a clear
    error, never a crash of the caller."""
    artifact = Path(artifact)
    check_loads(artifact)
    loaded = open_artifact(artifact, threads)
    split = read_eval_split(Path(data), loaded.info.labels, text_column, label_column)
    ev = evaluate_loaded(loaded, split)
    return {
        "artifact": str(artifact),
        "runtime": loaded.backend.name,
        "accuracy": ev.accuracy,
        "n": ev.n,
        "latency_ms": percentiles(ev.latencies_ms),
        "threads": threads,
    }


def profile(
    artifact: PathLike,
    target: Union[str, Target] = "host",
    data: Union[PathLike, Sequence[str], None] = None,
    text_column: Optional[str] = None,
    config: Optional[ProfileConfig] = None,
    app: Optional[str] = None,
) -> dict:
    """Latency percentiles and memory of an artifact on a target (`edgesdk profile`), cycling
    through real sentences (`data`: a file, a list of sentences, default the bundled SST-2 dev). `app`: time it with an
    installed edgesdk Android app's own code instead of a stock runner. Which phone or board:
    the target's `address` (`load_target(name, address)`), else EDGESDK_ADB_SERIAL / EDGESDK_SSH."""
    artifact = Path(artifact)
    spec = load_target(target)
    if data is None or isinstance(data, (str, Path)):
        texts = read_texts(Path(data) if data is not None else demo_data_paths()[1], text_column)
    else:
        texts = list(data)
    check_loads(artifact)
    config = config or ProfileConfig()
    if app is None:
        return profile_artifact(spec, artifact, texts, config)
    if spec.family != "android":
        raise TargetError(f"--app times an Android app; {spec.id} is a {spec.family} target")
    return profile_adb_app(artifact, texts, config, app, spec.address)


def package(build_dir: PathLike, check_data: Optional[PathLike] = None, text_column: Optional[str] = None) -> dict:
    """(Re-)write the app or firmware package of a finished build for its target, around the
    artifact its fit step chose, run the package's own check on `check_data`'s sentences
    (default: the bundled SST-2 dev) and re-render the report (`edgesdk package`)."""
    out = Path(build_dir)
    spec, _ = finished_build(out)
    if packager_for(spec.family) is None:
        raise TargetError(f"{spec.id} is a {spec.family} target: it ships no package (android, linux and mcu do)")
    texts = read_texts(Path(check_data) if check_data is not None else demo_data_paths()[1], text_column)
    result = package_build(out, spec, texts)
    render_report(out)
    return result


def sweep(
    target: Union[str, Target],
    recipe: Union[str, Recipe, None] = None,
    grid: Optional[PathLike] = None,
    out: Optional[PathLike] = None,
    data: Optional[DataOptions] = None,
    teacher: Optional[PathLike] = None,
    ray_address: Optional[str] = None,
    cpus_per_variant: Optional[int] = None,
    reuse: Sequence[PathLike] = (),
) -> dict:
    """Build every variant of `grid` (default: the recipe's bundled grid) as a Ray task, keep the
    ones that fit `target` and return the Pareto front with the best fitting variant
    (`edgesdk sweep`; docs/sweep.md). Writes sweep.json, sweep.md and sweep.png to `out`
    (default build/sweep-<recipe>-<target>); a second call resumes from the finished variants.
    `ray_address`: an existing cluster (host:port, ray://host:port, auto); None starts a local
    Ray. `reuse`: finished builds whose steps the variants may take instead of re-running them."""
    spec, parsed = _target_and_recipe(target, recipe)
    out_dir = Path(out) if out is not None else Path("build") / f"sweep-{parsed.name}-{spec.id}"
    request = SweepRequest(
        spec,
        parsed,
        Path(grid) if grid is not None else default_grid(parsed),
        out_dir,
        (data or DataOptions()).overrides(),
        None if teacher is None else str(teacher),
        ray_address,
        cpus_per_variant,
        tuple(Path(p) for p in reuse),
    )
    return run_sweep(request)


def render_report(build_dir: PathLike) -> dict:
    """Re-render report.json and report.md of a finished build dir and return the report
    (`edgesdk report`)."""
    return rerender(Path(build_dir))
