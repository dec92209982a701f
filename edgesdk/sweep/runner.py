"""Build a sweep's variants as Ray tasks and collect one row per variant.

Ray schedules; edgesdk only builds. Each variant is one task that runs a whole build
(pipeline.build) in its own build dir, declaring the CPUs (and GPU) it needs, so a local Ray
runs as many at once as the machine holds and a cluster spreads them over its nodes. Variants
share the teacher through the user cache and every other finished step through the sweep's
step store (a variant that differs only in its exits trains no student). A finished variant's
row is written to results/ as it arrives: an interrupted sweep resumes with the variants that
had not finished (their builds resume step by step through their manifests).

Latencies measured on a machine (not the MCU estimates) are taken again after the builds in
one quiet pass, interleaved and in alternating order over rounds (bench/pareto.py's hygiene):
builds that ran side by side timed each other's noise.
"""

from __future__ import annotations

import logging
import socket
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from edgesdk.errors import EdgeSDKError, FitError, SweepError
from edgesdk.fsutil import CACHE_FIX, atomic_write_json, cache_root, check_output_dir, read_json, sha256_file
from edgesdk.manifest import MANIFEST_FILE
from edgesdk.models.model_dir import check_teacher_source, resolve_teacher_dir
from edgesdk.pipeline import BuildRequest
from edgesdk.pipeline import build as run_build
from edgesdk.progress import console, progress_bar, status
from edgesdk.recipe import Recipe
from edgesdk.step_store import StepStore
from edgesdk.steps.data import prepare_task
from edgesdk.sweep import front
from edgesdk.sweep.grid import GRIDS_DIR, Variant, dir_name, load_grid
from edgesdk.targets.profiler_registry import interleaved_means, profiled_on, record_rounds
from edgesdk.targets.registry import TargetSpec
from edgesdk.task import Task
from edgesdk.train import available_cores

RAY_MISSING = (
    "Ray is not installed in this environment; install it with `pip install 'edgesdk[sweep]'` (`make venv` does)"
)


@dataclass(frozen=True)
class SweepRequest:
    target: TargetSpec
    recipe: Recipe
    grid: Path
    out_dir: Path
    data_overrides: dict = field(default_factory=dict)
    teacher_dir: Optional[str] = None
    ray_address: Optional[str] = None  # None: a local Ray started for the sweep
    cpus_per_variant: Optional[int] = None  # None: every core of this machine (one build at a time here)
    reuse: tuple[Path, ...] = ()  # finished builds whose steps seed the step store (--from)


@dataclass(frozen=True)
class VariantJob:
    """What one Ray task needs: everything absolute, a worker's cwd is not the driver's."""

    variant: Variant
    target: TargetSpec
    sweep_dir: Path
    data_overrides: dict
    teacher_dir: Optional[str]

    @property
    def out_dir(self) -> Path:
        return variant_dir(self.sweep_dir, self.variant)

    @property
    def log(self) -> Path:
        return self.sweep_dir / "logs" / f"{dir_name(self.variant.name)}.log"


def variant_dir(sweep_dir: Path, variant: Variant) -> Path:
    return sweep_dir / "variants" / dir_name(variant.name)


def result_file(sweep_dir: Path, variant: Variant) -> Path:
    """A finished variant's row: written when its task returns, read back on resume."""
    return sweep_dir / "results" / f"{dir_name(variant.name)}.json"


def store_dir(sweep_dir: Path) -> Path:
    return sweep_dir / "store"


def sweep(request: SweepRequest) -> dict:
    """Build every variant of the grid that has not finished, then write the front."""
    out = request.out_dir.resolve()
    variants, task = validate(request, out)
    out.mkdir(parents=True, exist_ok=True)
    store = StepStore(store_dir(out))
    for build_dir in request.reuse:
        status(f"sweep: {store.add_build(build_dir)} finished steps of {build_dir} in the step store")
    rows = finished_rows(out, variants)
    todo = [v for v in variants if v.name not in rows]
    status(f"sweep: {len(variants)} variants on {request.target.id}: {len(rows)} finished before, {len(todo)} to build")
    if todo:
        with ray_session(request.ray_address) as ray:
            rows.update(run_on_ray(ray, request, out, todo))
    ordered = [rows[v.name] for v in variants]
    note = retime(ordered, out, request.target, task.dev.texts, request.recipe)
    best = front.summarize(ordered)
    result = {
        "target": request.target.id,
        "recipe": request.recipe.name,
        "grid": grid_label(request.grid),
        "sweep_dir": str(out),
        "dev_rows": len(task.dev.texts),
        "latency_note": note,
        "best": best,
        "front": [r["name"] for r in ordered if r.get("front")],
        "variants": ordered,
    }
    front.write(out, result)
    return result


def grid_label(grid: Path) -> str:
    """A bundled grid by its place in the package (recipes/grids/NAME.yaml), any other as given."""
    try:
        return f"recipes/grids/{grid.resolve().relative_to(GRIDS_DIR.resolve())}"
    except ValueError:
        return str(grid)


def validate(request: SweepRequest, out: Path) -> tuple[list[Variant], Task]:
    """Everything checked before the sweep dir exists: grid, data, teacher, dirs, Ray address.
    Returns the variants and the base recipe's task (its dev rows time the artifacts)."""
    variants = load_grid(request.grid, request.recipe)
    check_output_dir(out, "sweep dir", "choose another --out")
    check_output_dir(cache_root(), "cache dir", CACHE_FIX)
    task = prepare_task(request.recipe, request.data_overrides)
    check_teacher_source(resolve_teacher_dir(request.recipe.teacher, request.teacher_dir))
    for build_dir in request.reuse:
        if not (build_dir / MANIFEST_FILE).is_file():
            raise SweepError(
                f"--from {build_dir} is not an edgesdk build dir (no {MANIFEST_FILE}); give a finished build"
            )
    check_ray_address(request.ray_address)
    return variants, task


def check_ray_address(address: Optional[str]) -> None:
    """host:port (or ray://host:port) must accept a connection: ray.init would wait minutes."""
    if address in (None, "auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"--ray-address {address!r} is not host:port (e.g. 10.0.0.5:6379 or ray://10.0.0.5:10001)")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise SweepError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start it there with "
            "`ray start --head`, or leave out --ray-address to run a local Ray"
        ) from None


@contextmanager
def ray_session(address: Optional[str]) -> Iterator:
    try:
        import ray  # lazy: an optional extra, and slow to import
    except ImportError:
        raise SweepError(RAY_MISSING) from None
    env = {"EDGESDK_CACHE_DIR": str(cache_root())}  # the workers share the teacher and soft-label cache
    try:
        ray.init(
            address=address,
            num_cpus=None if address else available_cores(),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,  # not Ray's start-up notices: the sweep reports itself
            runtime_env={"env_vars": env},
        )
    except (ConnectionError, RuntimeError) as exc:
        raise SweepError(
            f"cannot start or join Ray at {address or 'this machine'}: {str(exc).splitlines()[0]}"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()  # also on Ctrl-C: the running builds stop; their manifests resume them


def run_on_ray(ray, request: SweepRequest, out: Path, todo: list[Variant]) -> dict[str, dict]:
    task, cpus = ray.remote(build_variant), request.cpus_per_variant or available_cores()
    overrides = {
        k: str(Path(v).resolve()) if k in ("train", "dev") and v else v for k, v in request.data_overrides.items()
    }
    teacher = str(Path(request.teacher_dir).resolve()) if request.teacher_dir else None
    pending = {
        task.options(
            num_cpus=cpus,
            num_gpus=1 if v.recipe.train.device == "cuda" else 0,
            max_retries=0,  # its own recipe's device
        ).remote(VariantJob(v, request.target, out, overrides, teacher)): v
        for v in todo
    }
    rows = {}
    with progress_bar("sweep", len(todo)) as bar:
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            variant = pending.pop(ref)
            try:
                row = ray.get(ref)
            except Exception as exc:  # the worker died (killed, out of memory): the variant failed, the sweep goes on
                row = variant_row(variant, out, "failed", str(exc).splitlines()[0])
            atomic_write_json(result_file(out, variant), row)
            rows[variant.name] = row
            bar.advance(info=f"{variant.name}: {row['status']}")
    return rows


def build_variant(job: VariantJob) -> dict:
    """One Ray task: the variant's whole build, its console into its log file."""
    job.log.parent.mkdir(parents=True, exist_ok=True)
    with open(job.log, "a", encoding="utf-8") as log:
        console.file = log
        try:
            request = BuildRequest(
                job.variant.recipe,
                job.target,
                job.out_dir,
                job.data_overrides,
                job.teacher_dir,
                store_dir(job.sweep_dir),
            )
            report = run_build(request).report
            return {**variant_row(job.variant, job.sweep_dir, "fits", ""), **shipped(report)}
        except FitError as exc:
            return variant_row(job.variant, job.sweep_dir, "does-not-fit", str(exc))
        except EdgeSDKError as exc:
            return variant_row(job.variant, job.sweep_dir, "failed", str(exc))
        except Exception as exc:  # a bug: the sweep goes on, the log keeps the traceback
            log.write(traceback.format_exc())
            return variant_row(job.variant, job.sweep_dir, "failed", f"{type(exc).__name__}: {exc} (see {job.log})")
        finally:
            console.file = None


def variant_row(variant: Variant, sweep_dir: Path, status_: str, reason: str) -> dict:
    return {
        "name": variant.name,
        "set": variant.overrides,
        "recipe_hash": variant.recipe_hash,
        "build_dir": str(variant_dir(sweep_dir, variant).relative_to(sweep_dir)),
        "status": status_,
        "reason": reason,
    }


def shipped(report: dict) -> dict:
    """The shipped artifact's numbers, as the build's report states them."""
    s = report["summary"]
    a = s["artifact"]
    return {
        "status": "fits" if s["fits"] else "does-not-fit",
        "artifact": a["path"],
        "runtime": a["runtime"],
        "precision": a["precision"],
        "accuracy": a["accuracy"],
        "latency_ms_mean": a["latency_ms_mean"],
        "latency_kind": a["latency_kind"],
        "size_bytes": a["size_bytes"],
        "flash_bytes": s["fit_needs"]["flash_bytes"],
        "ram_bytes": s["fit_needs"]["ram_bytes"],
        "student": s["student"]["shape"],
        "combined": s.get("combined", []),
    }


def finished_rows(out: Path, variants: list[Variant]) -> dict[str, dict]:
    """Rows of variants that finished in an earlier run with the same recipe."""
    rows = {}
    for v in variants:
        try:
            row = read_json(result_file(out, v))
        except (OSError, ValueError):
            continue
        if row.get("recipe_hash") == v.recipe_hash:
            rows[v.name] = row
    return rows


def retime(rows: list[dict], out: Path, target: TargetSpec, texts: list[str], recipe: Recipe) -> str:
    """Time every measured shipped artifact again, interleaved, with nothing else running.
    Variants that ship the same bytes (another runtime list that picked the same file) are
    timed once and share the figure: two timings of one file differ only by the machine's noise."""
    timed = [r for r in rows if r["status"] == "fits" and r["latency_kind"] == "measured"]
    if not timed:
        return "estimated from instruction counts (cycles per instruction x clock)"
    rounds = recipe.profile.retime_rounds
    if not rounds:  # the recipe trusts each build's own timing
        return f"each build's own profile: {recipe.profile.repetitions} runs at {recipe.profile.threads} threads"
    files: dict[str, tuple[Path, TargetSpec]] = {}
    for r in timed:
        build = out / r["build_dir"]
        r["artifact_sha256"] = sha256_file(build / r["artifact"])
        files.setdefault(r["artifact_sha256"], (build / r["artifact"], build_profiled_on(build, r["artifact"], target)))
    runs = [(where, path) for path, where in files.values()]
    with progress_bar("re-timing the fitting artifacts", rounds * len(runs)) as bar:
        samples = dict(zip(files, interleaved_means(runs, texts, recipe.profile, advance=bar.advance)))
    for r in timed:
        record_rounds(r, samples[r["artifact_sha256"]], "latency_ms_build")
    return (
        f"measured again after the builds, the median of {rounds} interleaved rounds of "
        f"{recipe.profile.repetitions} runs at {recipe.profile.threads} threads (each distinct file once)"
    )


def build_profiled_on(build: Path, artifact: str, target: TargetSpec) -> TargetSpec:
    """Where the build timed this artifact (`profiled_on` its profile.json entry; the host when
    the entry cannot be read)."""
    try:
        profile = read_json(build / "profile.json")[artifact]
    except (OSError, ValueError, KeyError):
        profile = {}
    return profiled_on(profile, target)
