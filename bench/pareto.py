"""Pareto sweep: accuracy vs per-sentence latency vs file size over student sizes and
compression settings, with the front marked. A benchmark, never a test.

Builds: every `--variant` is a real `edgesdk build` (bench/students.py's variants, sharing one
cache dir, so the teacher is fine-tuned once per data set and its soft labels computed once;
a finished build dir is reused as it is), and `--build DIR` adds builds made earlier (by other
bench scripts). Then every host-runnable artifact of every build (student files in each
runtime and precision; TFLM files are MCU-only) is timed in ONE interleaved run with
bench/peers.py's children, so latencies compare with each other; accuracy comes from the same
run, the artifact over the whole dev set. A point is on the front when no other point is at
least as accurate, as fast and as small, and strictly better in one of the three.

    .venv/bin/python bench/pareto.py --dataset sst2 --build /tmp/qbench/work/enc4x128 ... \\
        [--variant enc2x128 ...] [--out bench/results]

Writes OUT/pareto_<dataset>.json and OUT/pareto_<dataset>.png (accuracy vs latency and vs size).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import checkout  # noqa: E402
import peers  # noqa: E402
import students  # noqa: E402
from edgesdk.sweep.front import dominates  # noqa: E402  (the sweep's rule: accuracy up, the rest down)

DEFAULT_VARIANTS = {  # the sweep a fresh run builds: student size x the quantization modes
    "sst2": ["teacher", "enc4x128", "enc2x128", "cnn"],
    "banking77": ["teacher", "enc4x128", "cnn"],
}
PRECISIONS = ["fp32", "int8", "int8-dynamic", "int4w"]  # each runtime lowers the ones it has


def build_variants(names: list[str], dataset: str, data_dir: Path, work: Path, cache: Path) -> list[Path]:
    """Run (or reuse) one build per variant; a failed build is reported and left out."""
    out = []
    for name in names:
        build = work / name
        if not (build / "report.json").exists():
            overrides = students.merge(students.VARIANTS[name], {"quantize": {"precisions": PRECISIONS}})
            row = students.run_variant(name, overrides, dataset, data_dir, work, cache)
            if "error" in row:
                print(f"variant {name} failed: {row['error']}", flush=True)
                continue
            print(students.format_row(row), flush=True)
        out.append(build)
    return out


def dev_fingerprint(build: Path) -> tuple[str, list[str], list[int]]:
    split = peers.dev_split(build)
    texts = list(split.texts)
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12], texts, list(split.labels)


def point_of(row: dict) -> tuple[float, float, float]:
    return row["accuracy"], row["latency_ms"]["mean"], row["size_bytes"]


def mark_fronts(rows: list[dict]) -> None:
    """`front`: not dominated in (accuracy, latency, size); `front_latency` / `front_size`: the
    2-D fronts each plot draws."""
    points = [point_of(r) for r in rows]
    for r, p in zip(rows, points):
        r["front"] = not any(dominates(q, p) for q in points)
        r["front_latency"] = not any(dominates((q[0], q[1], 0), (p[0], p[1], 0)) for q in points)
        r["front_size"] = not any(dominates((q[0], 0, q[2]), (p[0], 0, p[2])) for q in points)


def build_info(build: Path) -> dict:
    report = json.loads((build / "report.json").read_text())
    s, t = report["student"], report["teacher"]
    return {
        "build": str(build),
        "kind": s["kind"],
        "params": s["params"],
        "flops_vs_teacher": round(s["flops"] / t["flops"], 4),
        "eager_accuracy": s["accuracy"],
        "teacher_accuracy": t["accuracy"],
        "config": s["config"],
    }


def build_name(build: Path, builds: list[Path]) -> str:
    """The build dir's name, with its parent's when two builds share a name (rows are keyed by name)."""
    twins = [b for b in builds if b.name == build.name]
    return build.name if len(twins) == 1 else f"{build.parent.parent.name}/{build.name}"


def teacher_info(build: Path) -> dict:
    t = json.loads((build / "report.json").read_text())["teacher"]
    return {
        "build": str(build / "teacher"),
        "kind": "teacher",
        "params": t["params"],
        "flops_vs_teacher": 1.0,
        "eager_accuracy": t["accuracy"],
        "teacher_accuracy": t["accuracy"],
        "config": {},
    }


MARKERS = {"executorch": "o", "litert": "s"}


def plot(rows: list[dict], dataset: str, path: Path) -> None:
    """Two panels sharing the accuracy axis; colour = build (student kind and size), marker =
    runtime, the black staircase = that panel's 2-D front (its points labelled)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), dpi=110, sharey=True)
    groups = sorted({r["group"] for r in rows}, key=lambda g: -max(r["size_bytes"] for r in rows if r["group"] == g))
    palette = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 7]  # grey is the runtime key's
    colours = dict(zip(groups, palette * 2))
    for ax, (key, front, xlabel) in zip(
        axes,
        (
            (lambda r: r["latency_ms"]["mean"], "front_latency", "mean latency per sentence, batch 1 (ms, log scale)"),
            (lambda r: r["size_bytes"] / 1e6, "front_size", "artifact file size (MB, log scale)"),
        ),
    ):
        for group in groups:
            for runtime, marker in MARKERS.items():
                pts = [r for r in rows if r["group"] == group and r["runtime"] == runtime]
                ax.scatter(
                    [key(r) for r in pts],
                    [100 * r["accuracy"] for r in pts],
                    s=40,
                    color=colours[group],
                    marker=marker,
                    alpha=0.85,
                    edgecolors="none",
                )
        on = sorted((r for r in rows if r[front]), key=key)
        ax.step([key(r) for r in on], [100 * r["accuracy"] for r in on], where="post", color="black", lw=1)
        for r in on:
            ax.annotate(
                r["short"], (key(r), 100 * r["accuracy"]), textcoords="offset points", xytext=(5, -11), fontsize=7
            )
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel(f"{dataset} dev accuracy, measured on the artifact (%)")
    handles = [plt.Line2D([], [], color=colours[g], marker="o", ls="", label=g) for g in groups]
    handles += [plt.Line2D([], [], color="grey", mfc="none", marker=m, ls="", label=rt) for rt, m in MARKERS.items()]
    handles.append(plt.Line2D([], [], color="black", lw=1, label="Pareto front"))
    axes[1].legend(handles=handles, loc="lower right", fontsize=8)
    fig.suptitle(f"edgesdk artifacts on {dataset}: accuracy vs latency and size (front points: runtime/precision)")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(students.DATASETS), default="sst2")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--variant",
        action="append",
        default=None,
        help=f"bench/students.py variant to build (repeatable; default: {DEFAULT_VARIANTS})",
    )
    parser.add_argument("--no-variants", action="store_true", help="only the --build dirs")
    parser.add_argument("--build", type=Path, action="append", default=[], help="an existing build dir (repeatable)")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work" / "pareto")
    parser.add_argument("--max-children", type=int, default=peers.MAX_CHILDREN, help="rows measured at once")
    parser.add_argument("--cache", type=Path, default=None, help="edgesdk cache dir shared by the variant builds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--passes", type=int, default=1, help="walks over the dev set per artifact")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--quick", action="store_true", help="smoke run: 48 sentences, 2 rounds (not a result)")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    wall = time.perf_counter()
    work = args.work / args.dataset
    work.mkdir(parents=True, exist_ok=True)
    names = [] if args.no_variants else (args.variant or DEFAULT_VARIANTS[args.dataset])
    builds = build_variants(names, args.dataset, args.data_dir, work, args.cache or work / "cache") + args.build
    build_s = round(time.perf_counter() - wall, 1)
    fingerprints = {b: dev_fingerprint(b) for b in builds}
    if len({f[0] for f in fingerprints.values()}) != 1:
        sys.exit("the builds do not share one dev set: " + ", ".join(f"{b}: {f[0]}" for b, f in fingerprints.items()))
    _, texts, labels = fingerprints[builds[0]]
    if args.quick:
        texts, labels, args.passes, args.rounds, args.warmup = texts[:48], labels[:48], 1, 2, 3
    rows = []
    for b in builds:
        for r in peers.artifact_rows(b, staged=False, prefix=build_name(b, builds)):
            r.extra["info"] = build_info(b)
            rows.append(r)
    with_teacher = next((b for b in builds if (b / "artifacts" / "teacher").is_dir()), None)
    for r in peers.artifact_rows(with_teacher, staged=False, prefix="teacher", model="teacher") if with_teacher else []:
        r.extra["info"] = teacher_info(with_teacher)  # the fine-tuned teacher as lowered beside a student
        rows.append(r)
    (work / "texts.json").write_text(json.dumps(texts))
    spec = {"texts": str(work / "texts.json"), "teacher": "", "threads": args.threads, "warmup": args.warmup}
    info = peers.machine(args.threads)
    peers.measure(rows, spec, args.threads, peers.schedule(len(texts), args.passes, args.rounds), len(texts), args.max_children)
    results = []
    for r, out in zip(rows, peers.result_rows(rows, labels, {})):
        if "error" in out:
            print(f"{r.name}: {out['error']}")
            continue
        build = out.pop("info")
        results.append(
            {
                **out,
                **build,
                "group": f"{build['kind']} {build['params'] / 1e6:.1f}M",
                "short": f"{r.runtime}/{r.precision}",
            }
        )
    mark_fronts(results)
    info.update(loadavg_end=os.getloadavg(), note=args.note)
    payload = {
        "dataset": args.dataset,
        "dev_rows": len(texts),
        "passes": args.passes,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "quick": args.quick,
        "machine": info,
        "builds": [str(b) for b in builds],
        "commit": checkout.commit(),
        "build_s": build_s,
        "wall_s": round(time.perf_counter() - wall, 1),
        "rows": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"pareto_{args.dataset}.json").write_text(json.dumps(payload, indent=1) + "\n")
    plot(results, args.dataset, args.out / f"pareto_{args.dataset}.png")
    for r in sorted(results, key=lambda r: r["latency_ms"]["mean"]):
        print(
            f"{'*' if r['front'] else ' '} {r['name']:<48} acc {r['accuracy']:.4f}  {r['latency_ms']['mean']:8.3f} ms"
            f"  {r['size_bytes'] / 1e6:7.2f} MB"
        )
    print(f"wrote {args.out / f'pareto_{args.dataset}.json'} and .png ({payload['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
