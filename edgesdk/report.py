"""report.json (a public interface: see docs/report.md), report.md and plots/*.png.

Built only from files in the build dir (data/stats.json, teacher/, verify.json,
profile.json, manifest.json), so `edgesdk report BUILD_DIR` can re-render it at any time.
Accuracies are fractions; latencies are milliseconds; sizes are bytes. report.md opens with
the headline (report_summary.py), then each step's details; the plots (report_plots.py) sit
beside the tables they illustrate.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgesdk.errors import ArtifactError
from edgesdk.fsutil import atomic_write_json, atomic_write_text, check_output_dir
from edgesdk.manifest import MANIFEST_FILE, Manifest
from edgesdk.progress import warning
from edgesdk.report_markdown import render_markdown
from edgesdk.report_plots import PlotResult, one_line, render_plots
from edgesdk.report_summary import summarize
from edgesdk.targets.registry import TargetSpec, get_target

REPORT_VERSION = 1


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def build_report(out: Path, target: TargetSpec, manifest: Manifest) -> dict:
    # Long function: report.json is one dict literal here, so its schema reads in one place (docs/report.md).
    teacher_info = manifest.steps.get("teacher", {}).get("info", {})
    stats = _read(out / "data" / "stats.json")
    verify = _read(out / "verify.json")
    profile = _read(out / "profile.json")
    by_path = {r["path"]: r for r in verify["results"]}
    artifacts = []
    for rel, prof in profile.items():
        v = by_path[rel]
        artifacts.append(
            {
                "path": rel,
                "model": v["model"],
                "runtime": prof["runtime"],
                "precision": v.get("precision", "fp32"),
                "accuracy": v["accuracy"],
                "accuracy_drop_vs_fp32": round(v.get("fp32_accuracy", v["eager_accuracy"]) - v["accuracy"], 6),
                "agreement": v["agreement"],
                "max_logit_diff": v["max_logit_diff"],
                "size_bytes": prof["size_bytes"],
                "zip_bytes": prof.get("zip_bytes"),
                "latency_ms": prof["latency_ms"],
                "peak_rss_bytes": prof["peak_rss_bytes"],
                "baseline_rss_bytes": prof["baseline_rss_bytes"],
                "profiled_on": prof["target"],
                "profile": {
                    "target": prof["target"],
                    "method": prof.get("method", "measured"),
                    **({"detail": prof["method_detail"]} if "method_detail" in prof else {}),
                },
                "threads": prof["threads"],
                **({"arena_bytes": prof["arena_bytes"]} if "arena_bytes" in prof else {}),
                "latency_kind": prof.get("latency_kind", "measured"),
                **({"per_op": prof["per_op"]} if "per_op" in prof else {}),
                **{k: prof[k] for k in MCU_PROFILE_KEYS if k in prof},
                **staged_fields(verify.get("exits", {}).get(rel)),
            }
        )
    package = _read(path) if (path := out / "package" / "package.json").exists() else {}
    add_device_tokenization(artifacts, package)
    models = verify["models"]
    student_info = manifest.steps.get("student", {}).get("info", {})
    report = {
        "report_version": REPORT_VERSION,
        "target": target.id,
        "data": stats,
        "teacher": {
            "accuracy": verify["teacher_accuracy"],
            "params": models["teacher"]["params"],
            "flops": models["teacher"]["flops"],
            **{k: v for k, v in teacher_info.items() if k not in ("base", "parameters")},
        },
        "student": {
            "accuracy": verify["eager_accuracy"],
            "kind": student_info.get("kind", "teacher"),
            "params": models["student"]["params"],
            "flops": models["student"]["flops"],
            "config": models["student"]["config"],
            "distill": {k: v for k, v in student_info.items() if k != "kind"},
        },
        "artifacts": artifacts,
        "exits": exits_section(out, verify.get("exits", {})),
        "pruning": _read(pruned) if (pruned := out / "pruned" / "prune.json").exists() else {},
        "fit": _read(fit) if (fit := out / "fit.json").exists() else {},
        "package": package,
        "quantization": {"layers": _read(layers) if (layers := out / "quantization" / "layers.json").exists() else []},
        "steps": {name: {"seconds": s["seconds"]} for name, s in manifest.steps.items()},
        "versions": manifest.header.get("versions", {}),
        # where the training steps ran; builds from before devices existed trained on the CPU in fp32
        "train": manifest.header.get("train", {"device": "cpu", "precision": "fp32", "world_size": 1}),
    }
    return {**report, "summary": summarize(report)}


# What the Cortex-M profiler adds (firmware under qemu): latency is an estimate from counted
# instructions, so its method travels with it.
MCU_PROFILE_KEYS = (
    "latency_method",
    "instructions",
    "arena_bytes_python",
    "flash_bytes",
    "ram_bytes",
    "stack_bytes",
    "outputs_match",
)


# What the MCU package's device check adds to the row of the artifact it ships: the firmware
# there tokenizes each sentence on the device (C WordPiece) before Invoke, and counts both.
DEVICE_TOKENIZE_KEYS = (
    "tokenize_instructions",
    "tokenize_latency_ms",
    "tokenize_latency_kind",
    "tokenize_latency_method",
)


def add_device_tokenization(artifacts: list[dict], package: dict) -> None:
    """Copy the package firmware's tokenization counts onto the shipped artifact's row (the
    profiler's `instructions` there count Invoke only), with where they were measured."""
    device = package.get("checks", {}).get("device", {})
    if "tokenize_instructions" not in device:
        return
    for row in artifacts:
        if row["path"] == package["artifact"]:
            row.update({k: device[k] for k in DEVICE_TOKENIZE_KEYS})
            row["tokenize_measured_by"] = f"package check: {device['texts']} dev sentences, {device['machine']}"


def staged_fields(stats: dict | None) -> dict:
    if not stats:
        return {}
    return {"stages": len(stats["exit_layers"]), "buckets": [int(b) for b in stats["bucket_usage"]], "staged": True}


def exits_section(out: Path, per_artifact: dict) -> dict:
    """Headline exit numbers from the first fp32 staged artifact (all runtimes run the same
    stages and thresholds), every staged artifact's own numbers, and what calibration measured."""
    if not per_artifact:
        return {}
    first = next(s for s in per_artifact.values() if s.get("precision", "fp32") == "fp32")
    info = _read(out / "exits" / "exits.json")
    keys = (
        "avg_layers_fraction",
        "accuracy_no_exit",
        "accuracy",
        "exit_layers",
        "exit_histogram",
        "bucket_usage",
        "thresholds",
    )
    return {
        **{k: first[k] for k in keys},
        "confidence": info["confidence"],
        "calibration": info["calibration"],
        "training": info["training"],
        "artifacts": per_artifact,
    }


def write_report(out: Path, target: TargetSpec, manifest: Manifest) -> dict:
    report = build_report(out, target, manifest)
    report["plots"] = draw_plots(out, report)
    atomic_write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", render_markdown(report))
    return report


def draw_plots(out: Path, report: dict) -> dict[str, str]:
    """plots/*.png; a plot that cannot be drawn costs one warning line, never the build."""
    try:
        drawn = render_plots(out, report)
    except Exception as exc:  # noqa: BLE001 - plots are an extra (e.g. a full disk); the report must still be written
        drawn = PlotResult(warning=f"plots not drawn: {one_line(exc)}")
    if drawn.warning:
        warning(drawn.warning)
        report["plots_warning"] = drawn.warning
    return drawn.paths


def rerender(out: Path) -> dict:
    """Rebuild report.json/report.md from a finished build dir (`edgesdk report`)."""
    target, manifest = finished_build(out)
    return write_report(out, target, manifest)


def finished_build(out: Path) -> tuple[TargetSpec, Manifest]:
    """The target and manifest of a finished, writable build dir; one line otherwise."""
    manifest_path = out / MANIFEST_FILE
    if not manifest_path.exists():
        raise ArtifactError(f"{out} is not an edgesdk build dir (no {MANIFEST_FILE}); run edgesdk build first")
    check_output_dir(out, "build dir", "make it writable, or copy it somewhere writable and re-render there")
    header = _read(manifest_path)
    manifest = Manifest.load(out, {k: v for k, v in header.items() if k != "steps"})
    missing = [f for f in ("data/stats.json", "verify.json", "profile.json") if not (out / f).exists()]
    if missing:
        raise ArtifactError(f"build {out} is unfinished (missing {', '.join(missing)}); re-run edgesdk build to resume")
    return get_target(header["target"]), manifest
