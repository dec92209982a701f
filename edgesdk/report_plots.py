"""The build report's plots: BUILD/plots/*.png, drawn from report.json's rows and profile.json.

Why it is shaped this way:
- Figures are `matplotlib.figure.Figure` objects drawn by the Agg canvas, never pyplot: no
  global figure state and no display backend, so a build on a headless box or inside a test
  process behaves the same.
- Byte-identical re-renders: a fixed style (matplotlib's defaults, not the user's
  matplotlibrc), fixed sizes and dpi, no layout that depends on the text's bounding box
  (`bbox_inches="tight"` would change the pixel size), and no `Software` metadata, so the PNG
  holds neither a date nor a version string. A plot's pixel size follows from its data
  alone (the number of artifacts, layers or panels).
- A plot is an extra: when matplotlib is missing or one plot fails, the build still finishes
  and `render_plots` says why in one line (`PlotResult.warning`).
- plots/ is replaced whole, so a plot whose data went away (a rebuild without exits) does
  not linger.
"""

from __future__ import annotations

import io
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from edgesdk.fsutil import atomic_dir

PLOTS_DIR = "plots"
DPI = 100
WIDTH_IN = 9.0  # 900 px: readable at 100% zoom beside report.md's text
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8, "axes.grid": True}
RUNTIME_COLORS = {"executorch": "tab:blue", "litert": "tab:orange", "tflm": "tab:green"}
OTHER_COLORS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")
MODEL_MARKERS = {"teacher": "s", "student": "o", "staged": "^"}  # staged = a student with exits
RUNTIME_MARKERS = ("o", "s", "^", "D", "v", "P")  # by first appearance in sorted runtime names
PRECISION_COLORS = ("tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:cyan")


@dataclass
class PlotResult:
    paths: dict[str, str] = field(default_factory=dict)  # name -> path relative to the build dir
    warning: Optional[str] = None  # one line when a plot (or all of them) could not be drawn


def render_plots(out: Path, report: dict) -> PlotResult:
    """Draw every plot the build has data for into out/plots/ (replaced whole)."""

    try:
        import matplotlib
        import matplotlib.style
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401 - fail early, here
    except Exception as exc:  # noqa: BLE001 - any broken install only costs the plots
        shutil.rmtree(out / PLOTS_DIR, ignore_errors=True)  # no stale plots beside a report without them
        return PlotResult(warning=f"plots not drawn: matplotlib unavailable ({one_line(exc)})")
    samples = _latency_samples(out / "profile.json")
    result, failed = PlotResult(), []
    with atomic_dir(out / PLOTS_DIR) as tmp, matplotlib.style.context("default"), matplotlib.rc_context(STYLE):
        for name, plot in PLOTS.items():
            try:
                figure = plot(report, samples)
                if figure is not None:
                    (tmp / f"{name}.png").write_bytes(png_bytes(figure))
                    result.paths[name] = f"{PLOTS_DIR}/{name}.png"
            except Exception as exc:  # noqa: BLE001 - one bad plot must not cost the others or the build
                failed.append(f"{name} ({one_line(exc)})")
    if failed:
        result.warning = "plots not drawn: " + "; ".join(failed)
    return result


def one_line(exc: Exception) -> str:
    """An exception as one short line for a warning: type and first line of the message."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200]


def _latency_samples(profile_json: Path) -> dict[str, list[float]]:
    """Per-run latencies the profiler stored (`latency_samples_ms`; older build dirs have none)."""
    if not profile_json.exists():
        return {}
    profile = json.loads(profile_json.read_text(encoding="utf-8"))
    return {path: p["latency_samples_ms"] for path, p in profile.items() if p.get("latency_samples_ms")}


def new_figure(height_in: float, panels: tuple[int, int] = (1, 1), **subplot_kw):
    """A WIDTH_IN-wide figure on its own Agg canvas (no pyplot) and its axes grid."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, round(height_in, 2)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(*panels, squeeze=False, **subplot_kw)
    return figure, axes


def png_bytes(figure) -> bytes:
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def log_axis(axis) -> None:
    """A log axis labelled in plain numbers (0.5, 1, 2, 5, 10 ...), not powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def runtime_color(runtime: str) -> str:
    if runtime in RUNTIME_COLORS:
        return RUNTIME_COLORS[runtime]
    return OTHER_COLORS[sum(map(ord, runtime)) % len(OTHER_COLORS)]  # stable across runs, unlike hash()


def model_kind(row: dict) -> str:
    return "staged" if row.get("staged") else row["model"]


def point_label(row: dict) -> str:
    """runtime/precision, plus what the marker also says (teacher, staged) and an estimate."""
    prefix = "teacher " if row["model"] == "teacher" else ""
    staged = " staged" if row.get("staged") else ""
    estimate = " (est.)" if row.get("latency_kind") == "estimate" else ""
    return f"{prefix}{row['runtime']}/{row['precision']}{staged}{estimate}"


def profiled_where(report: dict) -> str:
    rows = report["artifacts"]
    places = sorted({a["profiled_on"] for a in rows})
    threads = sorted({a["threads"] for a in rows})
    return f"batch 1, profiled on {', '.join(places)}, {'/'.join(map(str, threads))} threads"


# -- accuracy vs latency / size ------------------------------------------------------------


def accuracy_scatter(report: dict, x_of: Callable[[dict], float], x_label: str, title: str):
    """Dev accuracy of every artifact against one cost (log x): color = runtime, marker =
    teacher / student / staged student, the teacher's eager accuracy as a reference line."""
    from matplotlib.lines import Line2D

    rows = report["artifacts"]
    figure, axes = new_figure(5.6)
    ax = axes[0][0]
    for row in rows:
        kind = model_kind(row)
        ax.scatter(
            x_of(row),
            100 * row["accuracy"],
            s=60 if kind == "teacher" else 45,
            marker=MODEL_MARKERS[kind],
            color=runtime_color(row["runtime"]),
            edgecolors="black",
            linewidths=0.6,
            zorder=3,
        )
    ax.axhline(100 * report["teacher"]["accuracy"], color="0.35", linestyle="--", linewidth=1, zorder=1)
    ax.set_xscale("log")
    log_axis(ax.xaxis)
    ax.margins(x=0.18, y=0.18)
    ax.set_xlabel(x_label)
    ax.set_ylabel("dev accuracy (%)")
    ax.set_title(title)
    runtimes = sorted({r["runtime"] for r in rows})
    kinds = [k for k in MODEL_MARKERS if any(model_kind(r) == k for r in rows)]
    handles = [Line2D([], [], linestyle="", marker="o", color=runtime_color(r), label=r) for r in runtimes]
    handles += [
        Line2D([], [], linestyle="", marker=MODEL_MARKERS[k], color="0.6", markeredgecolor="black", label=k)
        for k in kinds
    ]
    handles.append(Line2D([], [], color="0.35", linestyle="--", label="teacher, eager fp32"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    label_points(figure, ax, [(x_of(r), 100 * r["accuracy"], point_label(r)) for r in rows])
    return figure


def plot_accuracy_latency(report: dict, samples: dict):
    return accuracy_scatter(
        report,
        lambda r: r["latency_ms"]["mean"],
        "mean latency per sentence (ms, log scale)",
        f"Dev accuracy vs latency per artifact ({profiled_where(report)})",
    )


def plot_accuracy_size(report: dict, samples: dict):
    return accuracy_scatter(
        report,
        lambda r: r["size_bytes"] / 1e6,
        "artifact file size (MB, log scale)",
        "Dev accuracy vs artifact size",
    )


def _label_offsets() -> list[tuple[float, float]]:
    """Candidate label offsets (points), nearest first; the first that overlaps nothing wins."""
    angles = [0, 45, -45, 90, -90, 135, -135, 180, 22, -22, 158, -158, 68, -68, 112, -112]
    return [
        (round(r * math.cos(math.radians(a)), 1), round(r * math.sin(math.radians(a)), 1))
        for r in (7, 18, 30, 44, 60, 80)
        for a in angles
    ]


def label_points(figure, ax, points: list[tuple[float, float, str]]) -> None:
    """Greedy label placement: each label goes to the nearest offset where it overlaps no
    other label, no marker and stays inside the axes; a leader line ties it to its point.
    Deterministic (fixed candidate order, points in input order)."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    figure.draw_without_rendering()  # final layout, so data -> pixel transforms hold
    renderer = figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    markers = []
    for x, y, _ in points:
        px, py = ax.transData.transform((x, y))
        markers.append(Bbox.from_bounds(px - 5, py - 5, 10, 10))
    placed: list = []
    for x, y, text in points:
        best = None
        for dx, dy in _label_offsets():
            note = ax.annotate(
                text,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=7.5,
                ha="left" if dx > 1 else "right" if dx < -1 else "center",
                va="bottom" if dy > 1 else "top" if dy < -1 else "center",
                arrowprops={"arrowstyle": "-", "color": "0.4", "linewidth": 0.6, "shrinkA": 0, "shrinkB": 3},
                zorder=4,
            )
            note.update_positions(renderer)
            box = Text.get_window_extent(note, renderer).padded(1.5)  # the text alone, not its leader line
            cost = sum(_overlap(box, other) for other in placed + markers) + _outside(box, frame)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, note, box)
            else:
                note.remove()
            if cost == 0:
                break
        placed.append(best[2])


def _overlap(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _outside(box, frame) -> float:
    return box.width * box.height - _overlap(box, frame)


# -- latency histogram -------------------------------------------------------------------


def plot_latency_histogram(report: dict, samples: dict):
    """One row per artifact with stored per-run latencies, on one shared log-ms axis."""
    import numpy as np

    rows = [a for a in report["artifacts"] if a["path"] in samples]
    if not rows:
        return None
    values = np.concatenate([np.asarray(samples[a["path"]], dtype=float) for a in rows])
    positive = values[values > 0]
    bins = np.geomspace(positive.min() * 0.95, positive.max() * 1.05, 50)
    from matplotlib.ticker import MaxNLocator

    figure, axes = new_figure(1.2 + 0.95 * len(rows), (len(rows), 1), sharex=True)
    for ax, row in zip(axes[:, 0], rows):
        runs = samples[row["path"]]
        ax.hist(runs, bins=bins, color=runtime_color(row["runtime"]), alpha=0.85)
        ax.axvline(row["latency_ms"]["p50"], color="black", linewidth=1)
        ax.set_xscale("log")
        log_axis(ax.xaxis)
        ax.yaxis.set_major_locator(MaxNLocator(2, integer=True))
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(
            f"{row['path']}: {point_label(row)}, p50 {row['latency_ms']['p50']:.3g} ms ({len(runs)} runs)",
            loc="left",
            fontsize=8,
            pad=2,
        )
    axes[-1][0].set_xlabel("latency per sentence (ms, log scale); black line = p50")
    figure.supylabel("runs per bin", fontsize=9)
    figure.suptitle(f"Latency distribution per artifact ({profiled_where(report)})", fontsize=10)
    return figure


# -- exits ------------------------------------------------------------------------------


def plot_exits(report: dict, samples: dict):
    """Where dev sentences left the staged model, and which length bucket they ran in."""
    exits = report.get("exits") or {}
    if not exits:
        return None
    figure, axes = new_figure(4.2, (1, 2), width_ratios=(3, 2))
    layers, counts = exits["exit_layers"], exits["exit_histogram"]
    names = [f"layer {n}" for n in layers[:-1]] + [f"layer {layers[-1]}\n(full model)"]
    _bars(axes[0][0], names, counts, "tab:blue")
    axes[0][0].set_xlabel("exit after")
    axes[0][0].set_title("Dev sentences by exit")
    buckets = exits["bucket_usage"]
    _bars(axes[0][1], [f"≤ {b}" for b in buckets], list(buckets.values()), "tab:gray")
    axes[0][1].set_xlabel("length bucket (tokens)")
    axes[0][1].set_title("Dev sentences by length bucket")
    figure.suptitle(
        f"Early exit: {exits['avg_layers_fraction']:.0%} of the layers run on average; dev accuracy "
        f"{100 * exits['accuracy']:.2f}% with exits, {100 * exits['accuracy_no_exit']:.2f}% without",
        fontsize=10,
    )
    return figure


def _bars(ax, names: list[str], counts: list[int], color: str) -> None:
    total = max(sum(counts), 1)
    bars = ax.bar(names, counts, color=color)
    ax.bar_label(bars, labels=[f"{n}\n{n / total:.0%}" for n in counts], fontsize=8, padding=2)
    ax.set_ylabel("dev sentences")
    ax.margins(y=0.22)
    ax.grid(axis="x", visible=False)


# -- per-layer quantization error --------------------------------------------------------

EXACT_DB = 150  # quant_report's value for an exact match


def plot_quantization_layers(report: dict, samples: dict, shown: int = 30):
    """SQNR of each layer for every quantized (runtime, precision), the worst layers on top;
    color = precision (the scheme decides most of the error), marker = runtime."""
    layers = report.get("quantization", {}).get("layers", [])
    if not layers:
        return None
    worst: dict[str, float] = {}
    for r in layers:
        worst[r["name"]] = min(worst.get(r["name"], math.inf), r["sqnr_db"])
    names = sorted(worst, key=lambda n: (worst[n], n))[:shown]
    series = sorted({(r["runtime"], r["precision"]) for r in layers})
    finite = [r["sqnr_db"] for r in layers if r["name"] in names and r["sqnr_db"] < EXACT_DB]
    cap = (max(finite) if finite else 0) + 8  # exact rows are drawn at the right edge
    runtimes = sorted({runtime for runtime, _ in series})
    precisions = sorted({precision for _, precision in series})
    figure, axes = new_figure(1.6 + 0.27 * len(names))
    ax = axes[0][0]
    position = {n: i for i, n in enumerate(names)}
    for runtime, precision in series:
        rows = [r for r in layers if (r["runtime"], r["precision"]) == (runtime, precision) and r["name"] in position]
        color = PRECISION_COLORS[precisions.index(precision) % len(PRECISION_COLORS)]
        label = f"{runtime}/{precision}"  # on the series' first part only
        # filled: the layer's output (activation SQNR); hollow: its weights only (no eager twin)
        for weights_only in (False, True):
            part = [r for r in rows if (r.get("activation_sqnr_db") is None) == weights_only]
            if not part:
                continue
            ax.scatter(
                [min(r["sqnr_db"], cap) for r in part],
                [position[r["name"]] for r in part],
                marker=RUNTIME_MARKERS[runtimes.index(runtime) % len(RUNTIME_MARKERS)],
                facecolors="none" if weights_only else color,
                edgecolors=color,
                linewidths=1.2,
                s=30,
                label=label,
                zorder=3,
            )
            label = None
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_ylim(len(names) - 0.5, -0.5)  # worst on top
    exact = any(r["sqnr_db"] >= EXACT_DB for r in layers if r["name"] in position)
    ax.set_xlabel("SQNR vs fp32 (dB; higher is better)" + (f"; exact rows drawn at {cap:.0f}" if exact else ""))
    ax.set_title(
        f"Quantization error by layer, worst {len(names)} of {len(worst)} layers "
        "(activation SQNR where an eager twin exists, else weight SQNR)"
    )
    ax.legend(
        title="runtime/precision\n(hollow: weight SQNR)", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0
    )
    return figure


# -- per-op breakdown -------------------------------------------------------------------


def plot_per_op(report: dict, samples: dict, top: int = 8, panels: int = 4):
    """ETDump per-op shares of the single-graph .pte artifacts (students first), `top` events
    each and the rest as one bar, as report.md's per-op tables."""
    rows = [a for a in report["artifacts"] if a.get("per_op", {}).get("events")]
    rows = sorted(rows, key=lambda a: a["model"] != "student")[:panels]
    if not rows:
        return None
    figure, axes = new_figure(0.9 + 2.5 * len(rows), (len(rows), 1))
    for ax, row in zip(axes[:, 0], rows):
        per_op = row["per_op"]
        events = per_op["events"][:top]
        names = [e["name"] for e in events]
        shares = [100 * e["share"] for e in events]
        if rest := per_op["events"][top:]:
            names.append(f"{len(rest)} more")
            shares.append(100 * sum(e["share"] for e in rest))
        bars = ax.barh(range(len(names)), shares, color=runtime_color(row["runtime"]))
        total = per_op["total_ms"]
        labels = [f"{s:.1f}% ({s / 100 * total:.3g} ms)" for s in shares]
        ax.bar_label(bars, labels=labels, fontsize=8, padding=2)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.set_xlim(0, max(shares) * 1.25)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel("share of Method::execute time (%)")
        ax.set_title(f"{row['path']} ({point_label(row)}): median {total:.3f} ms per inference")
    figure.suptitle("Per-op breakdown (ExecuTorch ETDump, host)", fontsize=10)
    return figure


# name -> plotter; a plotter returns None when the build has nothing for it to draw.
PLOTS: dict[str, Callable[[dict, dict], object]] = {
    "accuracy_vs_latency": plot_accuracy_latency,
    "accuracy_vs_size": plot_accuracy_size,
    "latency_histogram": plot_latency_histogram,
    "exits": plot_exits,
    "quantization_layers": plot_quantization_layers,
    "per_op": plot_per_op,
}
