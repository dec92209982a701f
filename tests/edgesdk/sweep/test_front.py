"""The Pareto front over (accuracy, latency, size, RAM) and the best fitting variant."""

from __future__ import annotations

from edgesdk.sweep.front import dominates, markdown, on_front, summarize


def row(name, acc, ms, size, ram=100, status="fits"):
    return {
        "name": name,
        "status": status,
        "accuracy": acc,
        "flash_bytes": size + 1000,
        "latency_ms_mean": ms,
        "size_bytes": size,
        "ram_bytes": ram,
        "artifact": f"artifacts/{name}.tflite",
        "latency_kind": "measured",
    }


def test_dominance_needs_no_worse_everywhere_and_better_somewhere():
    assert dominates((0.9, 1.0, 10, 5), (0.8, 1.0, 10, 5))
    assert dominates((0.9, 1.0, 10, 5), (0.9, 2.0, 10, 5))
    assert not dominates((0.9, 1.0, 10, 5), (0.9, 1.0, 10, 5))  # equal: neither
    assert not dominates((0.9, 1.0, 10, 5), (0.8, 0.5, 10, 5))  # a trade
    assert on_front([(0.9, 1, 10, 5), (0.8, 0.5, 10, 5), (0.7, 2, 20, 5)]) == [True, True, False]


def test_only_fitting_variants_enter_the_front_and_the_best_is_the_most_accurate():
    rows = [
        row("accurate", 0.91, 3.0, 9e6),
        row("fast", 0.88, 1.0, 8e6),
        row("dominated", 0.87, 2.0, 9e6),
        row("too-big", 0.95, 0.5, 1e6, status="does-not-fit"),
        {"name": "broken", "status": "failed", "reason": "gate | stopped"},
    ]
    best = summarize(rows)
    assert best == "accurate"
    assert [r["name"] for r in rows if r.get("front")] == ["accurate", "fast"]
    assert "front" not in rows[3]  # a variant that does not fit is never on it
    sweep = {
        "recipe": "r",
        "target": "t",
        "grid": "g",
        "dev_rows": 10,
        "latency_note": "n",
        "best": best,
        "variants": rows,
    }
    table = markdown(sweep)
    assert "**Best fitting variant: accurate**" in table and "gate / stopped" in table


def test_nothing_fits_names_no_best():
    assert summarize([row("a", 0.9, 1, 1, status="does-not-fit")]) is None
