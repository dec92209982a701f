"""report.md: the build report as Markdown, rendered from report.json alone (so `edgesdk
report` re-renders it from a finished build dir), with the summary first."""

from __future__ import annotations

from typing import Callable

from edgesdk.fmt import fmt_bytes, fmt_ms
from edgesdk.ondevice.escape import markdown_text
from edgesdk.report_summary import render_summary
from edgesdk.targets.etdump import render_per_op


def render_device_tokenization(rows: list[dict]) -> list[str]:
    lines = []
    for a in rows:
        if "tokenize_instructions" in a:
            tok, inv = a["tokenize_instructions"], a.get("instructions", {})
            lines.append(
                f"`{a['path']}` tokenizes on the device (C WordPiece, {a['tokenize_measured_by']}): "
                f"{tok['mean']:,.0f} instructions per sentence (min {tok['min']:,}, max {tok['max']:,}) "
                f"beside {inv.get('mean', 0):,.0f} per Invoke (profiler); tokenization latency "
                f"{fmt_ms(a['tokenize_latency_ms']['mean'], 4)} ms mean (estimate: {a['tokenize_latency_method']})."
            )
    return lines


def memory_kind(row: dict) -> str:
    """What a row's `peak_rss_bytes` holds, for labelling it (report.json keeps one key for both).

    Host, ssh and adb runs: the runtime process's peak RSS after warm-up. Cortex-M rows (a
    linked firmware image was measured: `flash_bytes`, as targets/budgets.py tells them apart):
    the image's static RAM, data + bss, arena, stack and heap reserved at link time; a
    bare-metal run has no process and no warm-up.
    """
    return "static RAM (firmware)" if row.get("flash_bytes") is not None else "peak RSS"


def memory_column(rows: list[dict]) -> tuple[str, Callable[[dict], str]]:
    """The memory column's header and cell text: one kind names the header, mixed kinds label
    each cell, so no figure reads as the other kind."""
    kinds = {memory_kind(a) for a in rows}
    if len(kinds) == 1:
        return kinds.pop(), lambda a: fmt_bytes(a["peak_rss_bytes"])
    return "memory", lambda a: f"{fmt_bytes(a['peak_rss_bytes'])} {memory_kind(a)}"


def render_markdown(report: dict) -> str:
    lines = [f"# edgesdk build report: target `{report['target']}`", ""]
    lines += render_summary(report["summary"])
    lines += plot_links(report, "accuracy_vs_latency", "accuracy_vs_size")
    lines += render_models(report) + render_artifacts(report)
    lines += render_fit(report.get("fit", {}))
    lines += render_package(report.get("package", {}))
    lines += render_exits(report.get("exits", {}))
    lines += plot_links(report, "exits")
    lines += render_pruning(report.get("pruning", {}))
    lines += render_layers(report.get("quantization", {}).get("layers", []))
    lines += plot_links(report, "quantization_layers")
    if report.get("plots_warning"):
        lines += ["", f"Plots: {report['plots_warning']}."]
    return "\n".join(lines + render_data_and_steps(report)) + "\n"


def render_models(report: dict) -> list[str]:
    d, t, s = report["data"], report["teacher"], report["student"]
    return [
        "",
        "## Models",
        "",
        f"Dev set: {d['dev']['rows']} rows. FLOPs per sequence at the export length.",
        "",
        "| model | kind | params | FLOPs | eager accuracy |",
        "|---|---|---|---|---|",
        f"| teacher | encoder | {t['params'] / 1e6:.2f} M | {t['flops'] / 1e6:.1f} M | {t['accuracy']:.4f} |",
        f"| student | {s['kind']} | {s['params'] / 1e6:.2f} M | {s['flops'] / 1e6:.1f} M | {s['accuracy']:.4f} |",
        "",
        f"Student vs teacher: {t['params'] / max(s['params'], 1):.1f}x fewer parameters, "
        f"{t['flops'] / max(s['flops'], 1):.1f}x fewer FLOPs, accuracy {100 * (s['accuracy'] - t['accuracy']):+.2f} pt.",
    ] + shared_rows_line(s.get("distill", {}))


def shared_rows_line(distill: dict) -> list[str]:
    """student.word_rows / learned_vocab: how the word table was made (the tokenizer emits its ids)."""
    rows, learned = distill.get("word_rows"), distill.get("learned_vocab")
    lines = []
    if learned:
        lines = ["", f"The student reads its own WordPiece vocabulary of {learned['pieces']:,} pieces, learned on the training texts."]
    if rows and rows["method"] == "qr":
        return lines + [
            "",
            f"Word table quotient-remainder: {rows['tokens']:,} tokens on {rows['quotients']:,} + "
            f"{rows['remainders']:,} rows, each token the product of one row of each.",
        ]
    if learned or not rows:
        return lines
    return [
        "",
        f"Word table shared ({rows['method']}): {rows['tokens']:,} tokens on {rows['rows']:,} rows; the "
        f"{rows['tokens_seen']:,} tokens of the training texts use {rows['rows_used_by_seen_tokens']:,} of them.",
    ]


def render_artifacts(report: dict) -> list[str]:
    memory_header, memory_cell = memory_column(report["artifacts"])
    lines = [
        "",
        "## Artifacts (measured in their runtimes)",
        "",
        "| artifact | model | runtime | precision | accuracy | Δ vs fp32 | agreement | size | p50 ms | p90 ms | p99 ms "
        f"| {memory_header} | TFLM arena | profiled on |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in report["artifacts"]:
        lat = a["latency_ms"]
        lines.append(
            f"| `{a['path']}` | {a['model']} | {a['runtime']} | {a['precision']} | {a['accuracy']:.4f} | "
            f"{-100 * a['accuracy_drop_vs_fp32']:+.2f} pt | {a['agreement']:.4f} | "
            f"{fmt_bytes(a['size_bytes'])} | {fmt_ms(lat['p50'])} | {fmt_ms(lat['p90'])} | {fmt_ms(lat['p99'])} | "
            f"{memory_cell(a)} | {fmt_bytes(a['arena_bytes']) if 'arena_bytes' in a else '-'} | "
            f"{a['profiled_on']} ({a['threads']} threads){' (latency estimate)' if a['latency_kind'] == 'estimate' else ''} |"
        )
    kinds = {memory_kind(a) for a in report["artifacts"]}
    lines += [""]
    if "peak RSS" in kinds:
        lines += [
            "Latency: batch 1 over real dev sentences, after warm-up, in a child process; peak RSS is that",
            "child's (runtime + artifact).",
        ]
    if "static RAM (firmware)" in kinds:
        lines += [
            "Cortex-M rows: the firmware runs under qemu with no warm-up and latency is an estimate (below);",
            "static RAM (firmware) is the linked image's data + bss (arena, stack and heap reserved at link",
            "time), which is all the RAM a bare-metal image uses.",
        ]
    lines += [
        "Accuracy is from running the artifact itself on the dev set; Δ vs fp32",
        "is against the same model in eager fp32; agreement is with the artifact's eager reference (fp32,",
        "or the fake-quant model for quantized artifacts). TFLM arena: bytes TFLM's planner allocated.",
    ]
    lines += plot_links(report, "latency_histogram")
    for a in report["artifacts"]:
        if a["latency_kind"] == "estimate":
            lines.append(
                f"`{a['path']}` on {a['profiled_on']}: {a['latency_method']}; firmware outputs equal the TFLM "
                f"Python interpreter's: {a.get('outputs_match')}; image flash {a.get('flash_bytes', 0):,} B, "
                f"RAM {a.get('ram_bytes', 0):,} B."
            )
    lines += render_device_tokenization(report["artifacts"])

    lines += plot_links(report, "per_op")
    for a in report["artifacts"]:
        if "per_op" in a and a["model"] == "student":
            lines += render_per_op(a["path"], a["per_op"])
    return lines


def render_data_and_steps(report: dict) -> list[str]:
    d = report["data"]
    lines = [
        "",
        "## Data",
        "",
        f"- labels: {', '.join(markdown_text(name) for name in d['labels'][:20])}",
        f"- train: {d['train']['rows']} rows (mean {d['train']['mean_words']} words), dev: {d['dev']['rows']} rows "
        f"(mean {d['dev']['mean_words']} words); dev source: {d['sources']['dev']}",
        "",
        "## Steps",
        "",
        "| step | seconds |",
        "|---|---|",
    ]
    lines += [f"| {name} | {s['seconds']} |" for name, s in report["steps"].items()]
    return lines + ["", "## Versions", ""] + [f"- {k}: {v}" for k, v in report["versions"].items()]


PLOT_TITLES = {
    "accuracy_vs_latency": "dev accuracy vs mean latency per artifact",
    "accuracy_vs_size": "dev accuracy vs artifact size",
    "latency_histogram": "latency distribution per artifact",
    "per_op": "per-op breakdown",
    "exits": "dev sentences by exit and by length bucket",
    "quantization_layers": "quantization error by layer",
}


def plot_links(report: dict, *names: str) -> list[str]:
    """Markdown image links (relative to report.md) for the plots this build has."""
    plots = report.get("plots", {})
    return [line for name in names if name in plots for line in ("", f"![{PLOT_TITLES[name]}]({plots[name]})")]


def render_exits(e: dict) -> list[str]:
    if not e:
        return []
    cal = e["calibration"]
    lines = [
        "",
        "## Early exit and length buckets (staged artifacts, measured in their runtimes)",
        "",
        f"- dev accuracy {e['accuracy']:.4f} with exits vs {e['accuracy_no_exit']:.4f} without, "
        f"{e['avg_layers_fraction']:.0%} of the layers executed on average",
        f"- thresholds ({e['confidence']}) {[round(t, 4) for t in e['thresholds']]}, calibrated on {cal['rows']} held-out "
        f"training rows: accuracy {cal['accuracy']:.4f} vs {cal['accuracy_no_exit']:.4f} without exits",
        "",
        "| exit after layer | sentences |",
        "|---|---|",
    ]
    lines += [f"| {layer} | {n} |" for layer, n in zip(e["exit_layers"], e["exit_histogram"])]
    lines += ["", "| bucket (tokens) | sentences |", "|---|---|"]
    lines += [f"| {b} | {n} |" for b, n in e["bucket_usage"].items()]
    lines += [
        "",
        "| staged artifact | per-sentence p50 ms with exits | without exits | p90 | p99 |",
        "|---|---|---|---|---|",
    ]
    for path, a in e["artifacts"].items():
        lat, flat = a["latency_ms"], a["latency_ms_no_exit"]
        lines.append(f"| `{path}` | {lat['p50']:.2f} | {flat['p50']:.2f} | {lat['p90']:.2f} | {lat['p99']:.2f} |")
    return lines + [
        "",
        "Verification-pass latencies (in-process, dev set, batch 1); the artifact table above has the profiler's.",
    ]


def render_fit(fit: dict) -> list[str]:
    if not fit:
        return []

    def budget(n) -> str:
        return "no limit" if n is None else fmt_bytes(n)

    b = fit["budgets"]
    lines = [
        "",
        f"## Fit on {fit['target']}: {'fits' if fit['ok'] else 'does not fit'}",
        "",
        f"Budgets: flash {budget(b['flash_bytes'])}, RAM {budget(b['ram_bytes'])}.",
        "",
        "| artifact | flash need | RAM need | fits | how the need was found |",
        "|---|---|---|---|---|",
    ]
    for r in fit["artifacts"]:
        ram = "?" if r["ram_bytes"] is None else fmt_bytes(r["ram_bytes"])
        how = f"{r['method']['flash']}; {r['method']['ram']}"
        lines.append(
            f"| `{r['artifact']}` | {fmt_bytes(r['flash_bytes'])} | {ram} | {'yes' if r['fits'] else 'no'} | {how} |"
        )
    return lines


def render_package(package: dict) -> list[str]:
    if not package:
        return []
    lines = [
        "",
        f"## Package: {package['kind']} at `{package['path']}`",
        "",
        f"Ships `{package['artifact']}` ({package['files']} files; see its README.md). Checks run on this machine:",
        "",
    ]
    for name, check in package["checks"].items():
        # nested figures (instruction stats, latency estimates) are rendered with their artifact
        details = ", ".join(f"{k} {v}" for k, v in check.items() if k != "ok" and not isinstance(v, dict))
        lines.append(f"- {name}: {'passed' if check['ok'] else 'FAILED'} ({details})")
    return lines


def render_pruning(p: dict) -> list[str]:
    if not p:
        return []
    lines = ["", "## Pruning (weights removed, not masked)", ""]
    if "heads_total" in p:
        lines += [
            f"- attention heads: {p['heads_total'] - p['heads_removed']} of {p['heads_total']} kept "
            f"(per layer {p['heads_per_layer']}); layers removed: {p['layers_removed'] or 'none'}",
            f"- FFN neurons: {p['ffn_total'] - p['ffn_removed']} of {p['ffn_total']} kept (per layer {p['ffn_per_layer']})",
        ]
    if p.get("share_layers", "none") != "none":
        lines.append(f"- cross-layer sharing: {p['share_layers']} (one stored copy, called by every layer)")
    if p.get("embedding_size"):
        lines.append(f"- word table factorized to {p['embedding_size']} dimensions (V x E + E x H)")
    if "sparsity" in p:
        lines.append(
            f"- unstructured sparsity {p['sparsity']:.1%} of layer weights (zeros in dense tensors: the zipped "
            "file shrinks, dense kernels do not get faster)"
        )
    if "cluster_distinct_values" in p:
        lines.append(
            f"- weight clustering: at most {p['cluster_distinct_values']} distinct values per tensor "
            f"({'layers and word table' if p.get('cluster_embeddings') else 'layer weights'}; the zipped file shrinks)"
        )
    if "vocab_before" in p:
        lines.append(
            f"- vocabulary: {p['vocab_after']} of {p['vocab_before']} tokens kept "
            f"({fmt_bytes(p['embedding_bytes_saved_fp32'])} of fp32 embeddings removed); "
            f"{p['vocab_dev_prediction_changes']} dev predictions changed, accuracy "
            f"{p['vocab_dev_accuracy_before']:.4f} -> {p['vocab_dev_accuracy_after']:.4f}"
            + (
                f" (train-carved validation rows: {p['vocab_validation_accuracy_before']:.4f} -> "
                f"{p['vocab_validation_accuracy_after']:.4f})"
                if "vocab_validation_accuracy_before" in p
                else ""
            )
        )
    b, a = p["before"], p["after"]
    lines.append(
        f"- parameters {b['params'] / 1e6:.2f} M -> {a['params'] / 1e6:.2f} M, "
        f"FLOPs {b['flops'] / 1e6:.1f} M -> {a['flops'] / 1e6:.1f} M"
    )
    history = p.get("history", [])
    if history:
        lines += [
            "",
            "| stage | heads | FFN neurons | dev accuracy after pruning | after recovery |",
            "|---|---|---|---|---|",
        ]
        for h in history:
            pruned = h.get("accuracy_pruned", h["accuracy"])
            lines.append(f"| {h['stage']} | {h['heads']} | {h['ffn']} | {pruned:.4f} | {h['accuracy']:.4f} |")
    return lines


def render_layers(layers: list[dict], shown: int = 12) -> list[str]:
    if not layers:
        return []
    lines = [
        "",
        f"## Quantization error by layer (worst first; {min(shown, len(layers))} of {len(layers)}, all in report.json)",
        "",
        "| layer | runtime | precision | weight bits | weight SQNR dB | activation SQNR dB | activation cosine |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in layers[:shown]:
        act = "-" if r["activation_sqnr_db"] is None else f"{r['activation_sqnr_db']:.1f}"
        cos = "-" if r["activation_cosine"] is None else f"{r['activation_cosine']:.5f}"
        lines.append(
            f"| `{r['name']}` | {r['runtime']} | {r['precision']} | {r['weight_bits']} | {r['weight_sqnr_db']:.1f} | {act} | {cos} |"
        )
    return lines + [
        "",
        "Activation rows compare each layer's output in the eager fake-quant graph (what the .pte computes) with",
        "fp32 on calibration rows; LiteRT/TFLM are quantized on the flatbuffer, so they have weight rows only.",
    ]
