"""The Pareto front of a sweep's fitting variants, and sweep.json / sweep.md / sweep.png.

A variant's point is (accuracy of its shipped artifact in its runtime over the dev set,
mean latency per sentence, file size, RAM). A point is on the front when no other point is at
least as good in all four and strictly better in one. The best fitting variant is the most
accurate one (then the faster, then the smaller): the front's top, the one a user ships when
the target's budgets are the only constraint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from edgesdk.fmt import fmt_bytes, fmt_ms
from edgesdk.fsutil import atomic_write_bytes, atomic_write_json, atomic_write_text
from edgesdk.report_plots import STYLE, log_axis, new_figure, png_bytes


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """a is at least as accurate (first) and as low in every other coordinate as b, and strictly better in one."""
    better = [a[0] - b[0], *(y - x for x, y in zip(a[1:], b[1:]))]  # > 0: a is better there
    return all(d >= 0 for d in better) and any(d > 0 for d in better)


def on_front(points: list[Sequence[float]]) -> list[bool]:
    return [not any(dominates(q, p) for q in points) for p in points]


def point(row: dict) -> tuple[float, float, float, float]:
    return row["accuracy"], row["latency_ms_mean"], row["size_bytes"], row["ram_bytes"] or 0


def summarize(rows: list[dict]) -> Optional[str]:
    """Mark `front` on every fitting row; returns the best fitting variant's name (None: none fits)."""
    fitting = [r for r in rows if r["status"] == "fits"]
    for r, front in zip(fitting, on_front([point(r) for r in fitting])):
        r["front"] = front
    if not fitting:
        return None
    return max(fitting, key=lambda r: (r["accuracy"], -r["latency_ms_mean"], -r["size_bytes"]))["name"]


def write(out: Path, sweep: dict) -> None:
    atomic_write_json(out / "sweep.json", sweep)
    atomic_write_text(out / "sweep.md", markdown(sweep))
    fitting = [r for r in sweep["variants"] if r["status"] == "fits"]
    if fitting:
        atomic_write_bytes(out / "sweep.png", plot(fitting, sweep["best"], sweep["target"]))
    else:
        (out / "sweep.png").unlink(missing_ok=True)


def markdown(sweep: dict) -> str:
    lines = [
        f"# Sweep: {sweep['recipe']} on {sweep['target']}",
        "",
        f"{len(sweep['variants'])} variants from {sweep['grid']}; accuracy from each shipped artifact in its "
        f"runtime over {sweep['dev_rows']} dev rows; latency {sweep['latency_note']}.",
        "",
        f"**Best fitting variant: {sweep['best'] or 'none fits'}**",
        "",
        "| variant | status | artifact | accuracy | latency ms | size | flash | RAM | front |",
        "|---|---|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in sweep["variants"]:
        if r["status"] == "fits":
            cells = [
                r["artifact"],
                f"{r['accuracy']:.4f}",
                fmt_ms(r["latency_ms_mean"]) + (" (est.)" if r["latency_kind"] == "estimate" else ""),
                fmt_bytes(r["size_bytes"]),
                fmt_bytes(r["flash_bytes"]),
                fmt_bytes(r["ram_bytes"]),
                "yes" if r.get("front") else "",
            ]
        else:
            cells = [r.get("reason", "")[:160].replace("|", "/"), "", "", "", "", "", ""]
        lines.append(f"| {r['name']} | {r['status']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], best: Optional[str], target: str) -> bytes:
    """Accuracy vs latency and vs size; the front in colour and named, the best starred."""
    import matplotlib.style  # lazy, as in report_plots: only a sweep that has points draws

    with matplotlib.style.context("default"), matplotlib.rc_context(STYLE):
        return _draw(rows, best, target)


def _draw(rows: list[dict], best: Optional[str], target: str) -> bytes:
    figure, axes = new_figure(4.2, (1, 2))
    for axis, field, label in (
        (axes[0][0], "latency_ms_mean", "latency per sentence (ms)"),
        (axes[0][1], "size_bytes", "file (MB)"),
    ):
        scale = 1.0 if field == "latency_ms_mean" else 1e-6
        for r in rows:
            x, y = r[field] * scale, r["accuracy"] * 100
            color = "tab:red" if r["name"] == best else ("tab:blue" if r.get("front") else "tab:gray")
            axis.scatter(
                [x], [y], color=color, marker="*" if r["name"] == best else "o", s=80 if r["name"] == best else 30
            )
            if r.get("front"):
                axis.annotate(r["name"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        axis.set_xscale("log")
        log_axis(axis.xaxis)
        axis.set_xlabel(label)
        axis.set_ylabel("accuracy (%)")
    figure.suptitle(f"sweep on {target}: fitting variants (front in blue, best starred)")
    return png_bytes(figure)
