"""The report's headline: what was built, does it fit, and how the artifact that ships compares
with the teacher. One `summary` dict (report.json's `summary`, docs/report.md) feeds both
report.md's first lines and the CLI's end-of-build summary, so the two never disagree.

Everything here is computed from report rows already built (artifacts, fit, package), never
measured again: a script reading `summary` gets the same numbers it would recompute itself.
Ratios compare like with like: the baseline is an fp32 artifact in the same runtime (the
teacher's when it was lowered, else the student's own fp32), so a ratio never mixes runtimes
or a measured latency with an estimated one.
"""

from __future__ import annotations

from typing import Callable, Optional

from edgesdk.apps.packager_registry import shipped_artifact
from edgesdk.fmt import fmt_bytes, fmt_ms
from edgesdk.models.qr_embedding import quotient_rows


def summarize(report: dict) -> dict:
    """report.json's `summary` from the rest of the report."""
    t, s = report["teacher"], report["student"]
    artifact, chosen_by = headline_artifact(report)
    baseline = baseline_for(artifact, report["artifacts"])
    fit = report.get("fit") or {}
    return {
        "target": report["target"],
        "student": {
            "kind": s["kind"],
            "shape": describe_config(s["config"]),
            "params": s["params"],
            "times_fewer_params_than_teacher": ratio(t["params"], s["params"]),
            "times_fewer_flops_than_teacher": ratio(t["flops"], s["flops"]),
        },
        "teacher": {"accuracy": t["accuracy"], "params": t["params"]},
        "fits": fit.get("ok"),
        "fit_needs": fit_needs(fit, artifact["path"]),
        "artifact": {**row_fields(artifact), "staged": bool(artifact.get("staged")), "chosen_by": chosen_by},
        "combined": combined_levers(report, artifact),
        "accuracy_vs_teacher_pt": round(100 * (artifact["accuracy"] - t["accuracy"]), 2),
        "baseline": row_fields(baseline) if baseline else None,
        "times_smaller": ratio(baseline["size_bytes"], artifact["size_bytes"]) if baseline else None,
        "times_faster": ratio(baseline["latency_ms"]["mean"], artifact["latency_ms"]["mean"]) if baseline else None,
    }


def combined_levers(report: dict, artifact: dict) -> list[str]:
    """What made the shipped artifact small and fast, in build order, one phrase per lever."""
    student, pruning, exits = report["student"], report.get("pruning") or {}, report.get("exits") or {}
    kind = student["kind"]
    article = "an" if kind[0] in "aeiou" else "a"
    levers = [] if kind == "teacher" else [f"distilled from the teacher into {article} {kind} student"]
    if (student.get("distill") or {}).get("quant_noise_tensors"):
        levers.append("trained with Quant-Noise")
    if pruning.get("heads_removed") or pruning.get("ffn_removed") or pruning.get("layers_removed"):
        levers.append(
            f"pruned: {pruning['heads_removed']} of {pruning['heads_total']} heads, {pruning['ffn_removed']} of "
            f"{pruning['ffn_total']} FFN neurons, {len(pruning['layers_removed'])} of {pruning['layers_total']} layers"
        )
    if pruning.get("share_layers", "none") != "none":
        levers.append(f"layers share {pruning['share_layers']}")
    if pruning.get("embedding_size"):
        levers.append(f"word table factorized to {pruning['embedding_size']} dimensions")
    if pruning.get("low_rank"):
        levers.append(f"layer Linears at rank {pruning['low_rank']['rank']} (SVD)")
    if pruning.get("sparsity"):
        levers.append(f"{pruning['sparsity']:.0%} of layer weights zeroed")
    if pruning.get("cluster_distinct_values"):
        levers.append("weights clustered")
    if pruning.get("vocab_after"):
        levers.append(
            f"vocabulary cut to {pruning['vocab_after']:,} of {pruning['vocab_before']:,} tokens"
            f" (others map to {pruning['vocab_unseen']})"
        )
    if artifact["precision"] != "fp32":
        levers.append(f"{artifact['precision']} {artifact['runtime']}")
    if artifact.get("staged") and exits:
        levers.append(
            f"early exit after layers {', '.join(map(str, exits['exit_layers'][:-1]))} + length buckets "
            f"{', '.join(map(str, artifact['buckets']))} ({exits['avg_layers_fraction']:.0%} of the layers on average)"
        )
    return levers


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    """numerator / denominator to 2 decimals; None when either was not measured (or is 0)."""
    return round(numerator / denominator, 2) if numerator and denominator else None


def fit_needs(fit: dict, path: str) -> Optional[dict]:
    """The shipped artifact's flash and RAM needs beside the target's budgets (None = no limit)."""
    row = next((r for r in fit.get("artifacts", []) if r["artifact"] == path), None)
    if row is None:
        return None
    budgets = fit["budgets"]
    return {
        "flash_bytes": row["flash_bytes"],
        "ram_bytes": row["ram_bytes"],
        "flash_budget_bytes": budgets["flash_bytes"],
        "ram_budget_bytes": budgets["ram_bytes"],
    }


def row_fields(row: dict) -> dict:
    """What the summary repeats of an artifact row (mean latency: the per-sentence figure the
    project's claims are stated in)."""
    return {
        "path": row["path"],
        "model": row["model"],
        "runtime": row["runtime"],
        "precision": row["precision"],
        "accuracy": row["accuracy"],
        "size_bytes": row["size_bytes"],
        "latency_ms_mean": row["latency_ms"]["mean"],
        "latency_kind": row.get("latency_kind", "measured"),
    }


def headline_artifact(report: dict) -> tuple[dict, str]:
    """The artifact that ships and who chose it: the package's, else the fit step's choice
    (the packager's rule: a fitting staged artifact first, then the smallest flash), else (a
    build dir older than the fit step) the smallest student artifact, staged first."""
    by_path = {a["path"]: a for a in report["artifacts"]}
    package, fit = report.get("package") or {}, report.get("fit") or {}
    if package.get("artifact") in by_path:
        return by_path[package["artifact"]], "package"
    if fit.get("ok") and shipped_artifact(fit) in by_path:
        return by_path[shipped_artifact(fit)], "fit"
    if fit and fit["needs"]["artifact"] in by_path:
        return by_path[fit["needs"]["artifact"]], "fit-none-fits"
    students = [a for a in report["artifacts"] if a["model"] == "student"] or report["artifacts"]
    return min(students, key=lambda a: (not a.get("staged"), a["size_bytes"])), "smallest"


CHOSEN_BY = {  # summary.artifact.chosen_by -> the words report.md and the CLI use
    "package": "the package ships it",
    "fit": "the fit step's choice",
    "fit-none-fits": "the smallest; nothing fits",
    "smallest": "the smallest student artifact; this build dir has no fit.json",
}


def baseline_for(artifact: dict, artifacts: list[dict]) -> Optional[dict]:
    """The fp32 single-graph artifact in the artifact's runtime: the teacher's, else the
    student's (None when that runtime has no fp32 artifact, e.g. TFLM is int8 only)."""
    same_runtime = [
        a for a in artifacts if a["runtime"] == artifact["runtime"] and a["precision"] == "fp32" and not a.get("staged")
    ]
    for model in ("teacher", "student"):
        for a in same_runtime:
            if a["model"] == model and a is not artifact:
                return a
    return None


def _describe_encoder(c: dict) -> str:
    heads = [layer["heads"] for layer in c["layers"]]
    ffn = [layer["ffn"] for layer in c["layers"]]
    return (
        f"{len(c['layers'])} layer{'s' if len(c['layers']) != 1 else ''}, hidden {c['hidden_size']}, "
        f"heads {_per_layer(heads)}, FFN {_per_layer(ffn)}"
        + (f", embedding {c['embedding_size']}" if c.get("embedding_size") else "")
        + (f", shared {c['share']}" if c.get("share", "none") != "none" else "")
    )


def _per_layer(values: list[int]) -> str:
    return str(values[0]) if len(set(values)) == 1 else "/".join(map(str, values))


CONFIG_DESCRIBERS: dict[str, Callable[[dict], str]] = {
    "encoder": _describe_encoder,
    "cnn": lambda c: f"embedding {c['embedding_size']}, {c['filters']} filters of widths {list(c['kernel_sizes'])}",
    "bilstm": lambda c: f"embedding {c['embedding_size']}, hidden {c['hidden_size']} per direction",
}


def describe_config(config: dict) -> str:
    """A model config in a few words (the full config stays in report.json's student.config)."""
    describe = CONFIG_DESCRIBERS.get(config.get("family", ""))
    if not describe:
        return config.get("family", "?")
    remainders = config.get("word_remainders")
    qr = f" on a qr table of {quotient_rows(config['vocab_size'], remainders)} + {remainders} rows" if remainders else ""
    return f"{describe(config)}, vocabulary {config['vocab_size']}{qr}"


def headline(summary: dict) -> list[tuple[str, str]]:
    """(label, sentence) pairs: report.md's summary bullets and the CLI's first lines."""
    s, a, b = summary["student"], summary["artifact"], summary["baseline"]
    fewer = (
        f", {s['times_fewer_params_than_teacher']}x fewer than the teacher, "
        f"{s['times_fewer_flops_than_teacher']}x fewer FLOPs"
    )
    what = f"{s['kind']} student"
    if s["kind"] == "teacher":
        shrunk = max(s["times_fewer_params_than_teacher"] or 1.0, s["times_fewer_flops_than_teacher"] or 1.0) > 1.0
        what, fewer = ("the fine-tuned teacher, pruned", fewer) if shrunk else ("the fine-tuned teacher itself", "")
    built = f"{what} ({s['shape']}; {s['params'] / 1e6:.2f} M params{fewer}) for {summary['target']}"
    fits = {True: "yes", False: "NO (see Fit below)", None: "not checked (no fit.json in this build dir)"}
    estimate = " (estimate)" if a["latency_kind"] == "estimate" else ""
    lines = [
        ("Built", built),
        *([("Combined", "; ".join(summary["combined"]))] if summary.get("combined") else []),
        (f"Fits {summary['target']}", fits[summary["fits"]] + needs_phrase(summary.get("fit_needs"))),
        (
            "Ships",
            f"{a['path']} ({a['runtime']} {a['precision']}{', staged' if a['staged'] else ''}; "
            f"{CHOSEN_BY[a['chosen_by']]}): dev accuracy {a['accuracy']:.4f} vs teacher "
            f"{summary['teacher']['accuracy']:.4f} ({summary['accuracy_vs_teacher_pt']:+.2f} pt), "
            f"{fmt_bytes(a['size_bytes'])}, {fmt_ms(a['latency_ms_mean'], 3)} ms per sentence{estimate}",
        ),
    ]
    if b is None:
        return lines + [("vs fp32", f"no other fp32 artifact in {a['runtime']} to compare with")]
    baseline = "teacher" if b["model"] == "teacher" else "single-graph student"
    return lines + [
        (
            f"vs {baseline} fp32 in {b['runtime']}",
            f"{times(summary['times_smaller'], 'smaller', 'larger', 'the size')} ({fmt_bytes(a['size_bytes'])} vs "
            f"{fmt_bytes(b['size_bytes'])}), {times(summary['times_faster'], 'faster', 'slower', 'the speed')} "
            f"(mean {fmt_ms(a['latency_ms_mean'], 3)} vs {fmt_ms(b['latency_ms_mean'], 3)} ms per sentence; {b['path']})",
        )
    ]


def needs_phrase(needs: Optional[dict]) -> str:
    """'; needs flash 1.20 MB of 2.00 MB, RAM 310.0 KB (no limit)' for the shipped artifact."""
    if not needs:
        return ""

    def need(kind: str, name: str) -> str:
        budget = needs[f"{kind}_budget_bytes"]
        limit = " (no limit)" if budget is None else f" of {fmt_bytes(budget)}"
        return f"{name} {fmt_bytes(needs[f'{kind}_bytes'])}{limit}"

    return f"; needs {need('flash', 'flash')}, {need('ram', 'RAM')}"


def times(ratio_: Optional[float], better: str, worse: str, same: str) -> str:
    """'2.5x smaller' for a ratio above 1, '1.25x larger' below it (a ratio is baseline/artifact)."""
    if not ratio_:
        return f"? {better}"
    if ratio_ == 1:
        return f"1.00x {same}"
    return f"{ratio_:.2f}x {better}" if ratio_ > 1 else f"{1 / ratio_:.2f}x {worse}"


def render_summary(summary: dict) -> list[str]:
    """report.md's summary section."""
    return ["## Summary", ""] + [f"- **{label}**: {text}" for label, text in headline(summary)]
