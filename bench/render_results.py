"""Regenerate docs/results.md from bench/results/*.json (no hand-typed numbers).

.venv/bin/python bench/render_results.py
"""

from __future__ import annotations

import json
from pathlib import Path

from edgesdk.sweep.front import markdown as sweep_markdown

ROOT = Path(__file__).resolve().parents[1]


def build_time_section(data: dict) -> list[str]:
    lines = [
        "## Default build (bench/build_time.py)",
        "",
        f"Commit `{data.get('commit', '?')}`{' (' + data['note'] + ')' if data.get('note') else ''}. "
        f"Recipe `{data['recipe']}`, target `{data['target']}`, {data['machine']['cpus']} CPUs "
        f"({data['machine']['platform']}). Cold = empty teacher cache and build dir; warm = the same command again.",
        "",
        "| step | cold (s) |",
        "|---|---|",
    ]
    lines += [f"| {step} | {secs:.1f} |" for step, secs in data["cold"]["steps_s"].items()]
    lines += [
        f"| **wall** | **{data['cold']['wall_s']:.1f}** |",
        "",
        f"Warm rebuild: {data['warm']['wall_s']:.1f} s, cached steps: {', '.join(data['warm']['cached_steps'])}.",
        "",
        f"Teacher (eager fp32) SST-2 dev accuracy: **{data['teacher_accuracy']:.4f}**"
        + (f"; student (eager): **{data['student_accuracy']:.4f}**" if "student_accuracy" in data else "")
        + ".",
    ]
    if "distillation_s" in data:
        lines += [
            "",
            f"Distillation training (the student's and every pruning recovery, inside the steps above): "
            f"**{data['distillation_s']:.1f} s**.",
        ]
    lines += [
        "",
        "| artifact | model | precision | runtime | accuracy (from the artifact) | agreement with eager | size (MB) | p50 ms | p90 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for a in data["artifacts"]:
        lines.append(
            f"| `{a['path']}` | {a.get('model') or '-'} | {a.get('precision') or '-'} | {a['runtime']} | "
            f"{a['accuracy']:.4f} | {a['agreement']:.4f} | "
            f"{a['size_bytes'] / 1e6:.1f} | {a['latency_ms']['p50']:.2f} | {a['latency_ms']['p90']:.2f} |"
        )
    return lines + [""]


def teacher_recipe_section(data: dict) -> list[str]:
    """bench/teacher_recipe.py: teacher settings scored on validation rows carved from train."""
    rows = sorted(data.values(), key=lambda r: -r["val_accuracy"])
    lines = [
        "## Teacher settings (bench/teacher_recipe.py)",
        "",
        "Each variant overrides the default recipe's `teacher:` section and runs the build's own data and teacher "
        "steps. **The choice is made on the validation accuracy** (rows carved from train, held out of every step); "
        "dev is recorded for the record only. Fine-tune minutes on 2 CPUs, shared with other work where noted.",
        "",
        "| variant | teacher settings | val acc (choice) | dev acc (not used) | train rows | fine-tune min | commit |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c = r["teacher"]
        overrides = (
            f"epochs {c['epochs']:g}, lr {c['learning_rate']:g}, word embeddings "
            f"{'frozen' if c['freeze_word_embeddings'] else 'trained'}, layer-wise decay {c['layerwise_lr_decay']:g}"
        )
        minutes = f"{r['fine_tune_seconds'] / 60:.1f}" if r.get("fine_tune_seconds") else "-"
        lines.append(
            f"| {r['variant']} | {overrides} | {r['val_accuracy']:.4f} ({r['val_rows']} rows) | "
            f"{r['dev_accuracy_not_used_for_choice']:.4f} | {r['train_rows']:,} | {minutes} | `{r['commit']}` |"
        )
    lines += [f"- {r['variant']}: {r['note']}" for r in rows if r.get("note")]
    return lines + [""]


def frontier_section(data: dict) -> list[str]:
    """bench/frontier.py: the default build's levers, each against the teacher's fp32 .pte of its own build."""
    from frontier import markdown

    lines = [
        "## Default build, lever by lever (bench/frontier.py)",
        "",
        "One build family on SST-2: the default recipe's build, then variants that add one lever (each a real "
        "build from the cached teacher). Accuracy from the artifact in its runtime on dev (eager rows say so), "
        "and on the train-carved validation rows where the build recorded them (single graphs: the prune step's "
        "2,000 validation rows, eager; staged rows: the eager exit controller on the exits step's 2,000 calibration "
        "rows, also carved from train and held out of every model); size and speed against the teacher's fp32 "
        ".pte of the same build (never across builds). Mean latency is per dev sentence, batch 1. Choices between "
        "levers are made on the val column, never on dev.",
        "",
        markdown(data["rows"]).rstrip("\n"),
    ]
    return lines + ([f"- {data['note']}"] if data.get("note") else []) + [""]


def train_step_section(data: dict) -> list[str]:
    lines = [
        "## Training step (bench/train_step.py)",
        "",
        f"Commit `{data['commit']}`, {data['machine']['threads']} threads ({data['machine']['platform']}). "
        f"KD steps of batch {data['batch_size']} on length-grouped SST-2 training rows; the two variants "
        f"alternate over {data['rounds']} rounds of {data['steps_per_round']} steps; median rows/s and the "
        "median of the per-round ratios.",
        "",
        "| model shape | variant | rows/s | steps/s | speed-up |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['shape']} | {r['variant']} | {r['rows_per_s']:.1f} | {r['steps_per_s']:.2f} | {r['speedup_vs_torch']:.2f}x |"
        for r in data["rows"]
    ]
    return lines + [""]


def _p50(artifacts: list[dict], runtime: str) -> float:
    return next(
        (a["latency_ms"]["p50"] for a in artifacts if a["runtime"] == runtime and a.get("precision", "fp32") == "fp32"),
        float("nan"),
    )


def speedup_cell(row: dict, teacher_row: dict | None) -> str:
    """Against the teacher built in the same run when the row has it (same machine, same load);
    older rows fall back to the teacher row, marked *."""
    if row is teacher_row:
        return "1.0x"
    if row.get("teacher_artifacts"):
        return f"{_p50(row['teacher_artifacts'], 'litert') / _p50(row['artifacts'], 'litert'):.1f}x"
    if teacher_row is None:
        return "nan"
    return f"{_p50(teacher_row['artifacts'], 'litert') / _p50(row['artifacts'], 'litert'):.1f}x*"


def distill_cell(row: dict) -> str:
    """A pruned teacher distils inside the prune step (recovery), not the student step."""
    if not row["distill_seconds"] and row.get("prune_seconds"):
        return f"{row['prune_seconds']:.0f} (prune + recovery)"
    return f"{row['distill_seconds']:.0f}"


def students_section(data: dict) -> list[str]:
    rows = data["rows"]
    teacher = next((r for r in rows if r["variant"] == "teacher" and "error" not in r), None)
    lines = [
        f"## Students on {data['dataset']} (bench/students.py)",
        "",
        f"Commit `{data.get('commit', '?')}`. Accuracy from the artifacts (ExecuTorch .pte / LiteRT .tflite, fp32, "
        f"batch 1, {data['cpus']} CPUs, 2 threads); FLOPs relative to the teacher at the export length; speed-up = "
        "teacher .tflite p50 / variant .tflite p50, the teacher's from the variant's own build (the same machine and "
        "load); * = rows from before builds recorded it, divided into the teacher row's p50, which may come from "
        "another session's machine. Distill seconds include CPU contention from other work on the machine.",
        "",
        "| variant | kind | params (M) | FLOPs vs teacher | eager acc | .pte acc | .tflite acc | .tflite p50 ms "
        "| speed-up | distill s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['variant']} | error: {r['error']} | | | | | | | | |")
            continue
        by: dict = {}  # each runtime's fp32 artifact (rows without precision list fp32 first)
        for a in r["artifacts"]:
            if a.get("precision", "fp32") == "fp32":
                by.setdefault(a["runtime"], a)
        pte, tfl = by.get("executorch"), by.get("litert")
        lines.append(
            f"| {r['variant']} | {r['kind']} | {r['params'] / 1e6:.2f} | {r['flops_vs_teacher']:.3f} | "
            f"{r['eager_accuracy']:.4f} | {pte['accuracy'] if pte else float('nan'):.4f} | "
            f"{tfl['accuracy'] if tfl else float('nan'):.4f} | {_p50(r['artifacts'], 'litert'):.2f} | "
            f"{speedup_cell(r, teacher)} | "
            f"{distill_cell(r)} |"
        )
    lines += [f"- {variant}: {note}" for variant, note in data.get("notes", {}).items()]
    return lines + [""]


def quantization_section(data: dict) -> list[str]:
    lines = [
        f"## Quantized artifacts on {data['dataset']} (bench/quantization.py)",
        "",
        f"Commit `{data.get('commit', '?')}`{' (' + data['note'] + ')' if data.get('note') else ''}, "
        f"{data['cpus']} CPUs, 2 threads, batch 1. Accuracy from each artifact in "
        "its runtime over the whole dev set; Δ against the same student in eager fp32; size ratio and speed-up "
        "against that runtime's fp32 file (TFLM: against the fp32 .tflite), measured in the same build. Stock TFLM "
        "arena: ai-edge-quantizer's static int8 file as it comes (float word table, stored by offset, which TFLM "
        "copies into its arena), same model and calibration.",
        "",
        "| student | setting | runtime | precision | accuracy | Δ vs fp32 (pt) | agreement | size (MB) | zip (MB) "
        "| x smaller | p50 ms | x faster | TFLM arena (KB) | stock arena (KB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        if "p50_ms" not in r:  # the build's quantization gate stopped it before profiling
            lines.append(
                f"| {r['variant']} | {r.get('setting', 'ptq')} | {r['runtime']} | {r['precision']} | {r['accuracy']:.4f} | "
                f"{-r['drop_pt']:+.2f} | {r['agreement']:.4f} | {r['size_bytes'] / 1e6:.2f} | - | "
                f"{r['smaller_than_fp32']:.2f} | gate {r['gate']} | - | - | - |"
            )
            continue
        arena = f"{r['arena_bytes'] / 1e3:.1f} | {r['stock_arena_bytes'] / 1e3:.1f}" if "arena_bytes" in r else "- | -"
        lines.append(
            f"| {r['variant']} | {r.get('setting', 'ptq')} | {r['runtime']} | {r['precision']} | {r['accuracy']:.4f} | "
            f"{-r['drop_pt']:+.2f} | {r['agreement']:.4f} | {r['size_bytes'] / 1e6:.2f} | "
            f"{r['zip_bytes'] / 1e6 if r.get('zip_bytes') else float('nan'):.2f} | {r['smaller_than_fp32']:.2f} | {r['p50_ms']:.2f} | "
            f"{r['speedup_vs_fp32']:.2f} | {arena} |"
        )
    return lines + [""]


def _fmt(value, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def pruning_section(data: dict) -> list[str]:
    lines = [
        "## Pruning on SST-2 (bench/pruning.py)",
        "",
        "Notes per variant: "
        + ("; ".join(f"{k}: {v}" for k, v in sorted(data.get("notes", {}).items()) if v) or data.get("note", "-"))
        + ". Structured variants of the teacher compare with the unpruned teacher lowered, verified and profiled "
        "in the same build; `enc4x128-*` variants with the unpruned enc4x128 student build. Accuracy from each "
        "artifact in its runtime over the whole dev set; batch 1, 2 threads. **x faster of `enc4x128-*` rows compares "
        "builds profiled at different times on a loaded machine and is not a measurement of the change** (80% "
        "sparsity cannot make a dense kernel 1.8x faster): the interleaved A/B table below is.",
        "",
        "| variant | what was removed | params before → after (M) | dev acc before → after (eager) |",
        "|---|---|---|---|",
    ]
    for x in data["summaries"]:
        removed = []
        if "heads_total" in x:
            removed.append(
                f"{x['heads_removed']}/{x['heads_total']} heads ({x['heads_per_layer']}), "
                f"{x['ffn_removed']}/{x['ffn_total']} FFN neurons"
            )
        if x.get("share_layers", "none") != "none":
            removed.append(f"layers share {x['share_layers']}")
        if x.get("embedding_size"):
            removed.append(f"word table factorized to {x['embedding_size']}")
        if "sparsity" in x:
            removed.append(f"{x['sparsity']:.1%} of layer weights zero")
        if "cluster_distinct_values" in x:
            removed.append(f"weights clustered (≤ {x['cluster_distinct_values']} values per tensor)")
        if "vocab_before" in x:
            removed.append(
                f"vocab {x['vocab_before']} → {x['vocab_after']} ({x['vocab_dev_prediction_changes']} dev predictions changed)"
            )
        history = x.get("history") or []
        if history and history[0]["stage"] == "before":
            before = history[0]["accuracy"]
        else:  # no structured pruning: the unpruned model's accuracy is the baseline build's
            before = x.get("vocab_dev_accuracy_before")
        after = x["eager_accuracy"]
        lines.append(
            f"| {x['variant']} | {'; '.join(removed)} | {x['params_before'] / 1e6:.2f} → {x['params_after'] / 1e6:.2f} | "
            f"{_fmt(before)} → {after:.4f} |"
        )
    lines += [
        "",
        "| variant | runtime | precision | accuracy | unpruned accuracy | Δ (pt) | size (MB) | zip (MB) | x smaller | p50 ms | x faster |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        if r["model"] != "student":
            continue
        lines.append(
            f"| {r['variant']} | {r['runtime']} | {r['precision']} | {r['accuracy']:.4f} | {_fmt(r.get('unpruned_accuracy'))} | "
            f"{_fmt(r.get('accuracy_change_pt'), '+.2f')} | {r['size_bytes'] / 1e6:.2f} | "
            f"{_fmt(r['zip_bytes'] / 1e6 if r.get('zip_bytes') else None, '.2f')} | {_fmt(r.get('smaller_x'), '.2f')} | "
            f"{r['p50_ms']:.2f} | {_fmt(r.get('faster_x'), '.2f')} |"
        )
    return lines + [""]


def early_exit_section(data: dict) -> list[str]:
    cal = data["calibration"]
    lines = [
        f"## Early exit and length buckets on SST-2 (bench/early_exit.py, {data['rows'][0]['variant']})",
        "",
        f"{data.get('note', '')}. The fine-tuned teacher with exit heads; thresholds calibrated on {cal['rows']} held-out "
        f"training rows (accuracy {cal['accuracy']:.4f} vs {cal['accuracy_no_exit']:.4f} without exits there, "
        f"{cal['avg_layers_fraction']:.0%} of the layers). Single graph and staged artifact profiled in the same build: "
        "every dev sentence once, batch 1, 2 threads; the staged latency includes the controller's bucket choice and "
        "exit checks.",
        "",
        "| runtime | precision | single-graph acc | staged acc, no exit | staged acc | Δ (pt) | layers run | single mean ms "
        "| staged mean ms | x faster | exits per layer | bucket use |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        lines.append(
            f"| {r['runtime']} | {r.get('precision', 'fp32')} | {r['single_accuracy']:.4f} | {r['staged_accuracy_no_exit']:.4f} | {r['staged_accuracy']:.4f} | "
            f"{r['accuracy_change_pt']:+.2f} | {r['avg_layers_fraction']:.0%} | {r['single_mean_ms']:.2f} | "
            f"{r['staged_mean_ms']:.2f} | {r['speedup_x']:.2f} | {r['exit_histogram']} | {r['bucket_usage']} |"
        )
    return lines + [""]


def ab_section(data: dict) -> list[str]:
    lines = [
        "## Pruned vs unpruned, interleaved (bench/ab_profile.py)",
        "",
        f"{data.get('note', '')}. Each round profiles A then B in child processes ({data['threads']} threads, batch 1, "
        "real dev sentences); ratio = median over rounds of p50(A)/p50(B).",
        "",
        "| A (unpruned) | B (pruned) | A p50 ms | B p50 ms | x faster | A MB | B MB | x smaller |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def short(path: str) -> str:  # build/artifacts/file
        return "/".join(Path(path).parts[-3:])

    for r in data["rows"]:
        lines.append(
            f"| `{short(r['a'])}` | `{short(r['b'])}` | {r['a_p50_ms']:.2f} | {r['b_p50_ms']:.2f} | {r['a_over_b']:.2f} | "
            f"{r['a_bytes'] / 1e6:.2f} | {r['b_bytes'] / 1e6:.2f} | {r['a_bytes'] / r['b_bytes']:.2f} |"
        )
    return lines + [""]


def clipping_section(data: dict) -> list[str]:
    lines = [
        f"## Weight clipping before static int8 ({data['model']}, bench/clipping.py)",
        "",
        "ExecuTorch PT2E static-int8 fake-quant graph (the eager twin the .pte matches) over the whole dev set.",
        "",
        "| setting | accuracy | agreement with fp32 |",
        "|---|---|---|",
    ]
    lines += [
        f"| {r['setting']} | {r['accuracy']:.4f} | {r.get('agreement_with_fp32', 1.0):.4f} |" for r in data["rows"]
    ]
    return lines + [""]


def peers_section(data: dict) -> list[str]:
    """bench/peers.py: edgesdk's artifacts vs the stock flows, one interleaved run."""
    m, s = data["machine"], data.get("summary", {})
    lines = [
        f"## edgesdk vs peers on SST-2 (bench/peers.py, build `{Path(data['build']).name}`)",
        "",
        f"Commit `{data.get('commit', '?')}`{' (' + m['note'] + ')' if m.get('note') else ''}. {m['cpu']}, "
        f"{m['cpus']} CPUs, {m['threads']} threads, nice {m['nice']}, load average {m['loadavg_start'][0]:.2f} at "
        f"start / {m['loadavg_end'][0]:.2f} at end; wall {data['wall_s'] / 60:.1f} min"
        f"{' (--quick: not a result)' if data.get('quick') else ''}. Each row in its own child process; "
        f"{data['warmup']} warm-up calls, then {data['rounds']} rounds in rotating row order covering the "
        f"{data['dev_rows']} dev sentences {data['passes']}x (batch 1, tokenization outside the timer). Accuracy "
        "from the same runs on the artifact; dynamic rows run each sentence at its own length, Lnn rows pad "
        "to nn and truncate longer sentences. Peer = what a user gets from the same fine-tuned weights "
        "without edgesdk.",
        "",
        f"Ratios vs the best peer `{s.get('best_peer', '-')}`; rule: {s.get('rule', '-')}.",
        "",
        "| row | peer | runtime | precision | len | accuracy | size (MB) | mean ms | p50 | p90 | p99 | IQR ms "
        "| round p50 min-max | peak RSS (MB) | x latency | x size | x RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        if "error" in r:
            lines.append(
                f"| {r['name']} | {'yes' if r['peer'] else 'no'} | {r['runtime']} | {r['precision']} | "
                f"{r['seq_len']} | {r['error']} |" + " |" * 11
            )
            continue
        lat, sp, v = r["latency_ms"], r["spread"], r.get("vs_best_peer", {})
        lines.append(
            f"| {r['name']} | {'yes' if r['peer'] else 'no'} | {r['runtime']} | {r['precision']} | {r['seq_len']} | "
            f"{r['accuracy']:.4f} | {_fmt(r['size_bytes'] and r['size_bytes'] / 1e6, '.1f')} | {lat['mean']:.2f} | "
            f"{lat['p50']:.2f} | {lat['p90']:.2f} | {lat['p99']:.2f} | {sp['iqr_ms']:.2f} | "
            f"{sp['round_p50_min_ms']:.2f}-{sp['round_p50_max_ms']:.2f} | {r['peak_rss_bytes'] / 1e6:.0f} | "
            f"{_fmt(v.get('latency_x'), '.2f')} | {_fmt(v.get('size_x'), '.2f')} | {_fmt(v.get('rss_x'), '.2f')} |"
        )
    if s.get("edgesdk_vs_peer"):
        e = s["edgesdk_vs_peer"]
        lines += [
            "",
            f"Best edgesdk row `{s['best_edgesdk']}` vs `{s['best_peer']}`: latency x{e['latency_x']:.2f}, "
            f"size x{_fmt(e['size_x'], '.2f')}, peak RSS x{e['rss_x']:.2f}, accuracy {e['accuracy_pt']:+.2f} pt.",
        ]
    if s.get("fastest_vs_peer"):
        f = s["fastest_vs_peer"]
        lines += [
            "",
            f"Fastest edgesdk row `{s['fastest_edgesdk']}` vs `{s['best_peer']}`: "
            f"{1 / f['latency_x']:.1f}x lower mean latency, {1 / f['size_x']:.1f}x smaller, peak RSS "
            f"x{f['rss_x']:.2f}, accuracy {f['accuracy_pt']:+.2f} pt.",
        ]
    trunc = {r["seq_len"]: r["truncated_sentences"] for r in data["rows"] if "truncated_sentences" in r}
    if trunc:
        lines += [
            "",
            "Dev sentences truncated by fixed-length rows: "
            + ", ".join(f"L{k}: {v}" for k, v in sorted(trunc.items()))
            + ".",
        ]
    return lines + [""]


def pareto_section(data: dict) -> list[str]:
    """bench/pareto.py: every host artifact of the sweep's builds, timed in one interleaved run."""
    m = data["machine"]
    lines = [
        f"## Pareto sweep on {data['dataset']} (bench/pareto.py)",
        "",
        f"Commit `{data.get('commit', '?')}`{' (' + m['note'] + ')' if m.get('note') else ''}. {m['cpu']}, "
        f"{m['cpus']} CPUs, {m['threads']} threads, load average {m['loadavg_start'][0]:.2f} at start / "
        f"{m['loadavg_end'][0]:.2f} at end; builds {data['build_s'] / 60:.0f} min, wall {data['wall_s'] / 60:.0f} min"
        f"{' (--quick: not a result)' if data.get('quick') else ''}. Every artifact in its own child process, "
        f"{data['rounds']} interleaved rounds over the {data['dev_rows']} dev sentences (batch 1); accuracy from the "
        "same run on the artifact. * = on the Pareto front (no other artifact is as accurate, as fast and as small "
        "and better in one). Plot: "
        f"[pareto_{data['dataset']}.png](../bench/results/pareto_{data['dataset']}.png).",
        "",
        "| | artifact | params (M) | FLOPs vs teacher | accuracy | mean ms | p90 ms | size (MB) | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(data["rows"], key=lambda r: r["latency_ms"]["mean"]):
        lines.append(
            f"| {'*' if r['front'] else ''} | {r['name']} | {r['params'] / 1e6:.2f} | {r['flops_vs_teacher']:.3f} | "
            f"{r['accuracy']:.4f} | {r['latency_ms']['mean']:.3f} | {r['latency_ms']['p90']:.3f} | "
            f"{r['size_bytes'] / 1e6:.2f} | {r['peak_rss_bytes'] / 1e6:.0f} |"
        )
    return lines + [""]


def mcu_sst2_section(data: dict) -> list[str]:
    """bench/mcu_sst2.py: the Cortex-M path on a real SST-2 student."""
    v, p, fit = data["verify"], data["profile"], data["fit"]
    if p.get("flash_bytes") is None:  # too big for the part: profiled on the host, stopped at the fit step
        return [
            f"## SST-2 student on {data['target']} (bench/mcu_sst2.py)",
            "",
            f"TFLM int8 accuracy {v['accuracy']:.4f} over {v['n']} dev rows (eager fp32 {v['fp32_accuracy']:.4f}). "
            f"The file is larger than the part's flash, so it was profiled on the host and the build stops at the "
            f"fit step: {data.get('stopped', '')}",
            "",
        ]
    lines = [
        f"## SST-2 student as Cortex-M firmware on {data['target']} (bench/mcu_sst2.py)",
        "",
        f"Recipe `{Path(data['recipe']).name}`; the build's distilled student lowered to TFLM int8 and run as a real "
        f"TFLM + CMSIS-NN firmware under `{p['machine']}`. Accuracy over all {v['n']} dev rows in the TFLM Python "
        f"interpreter (the firmware's int8 outputs equal it on every input run).",
        "",
        "| accuracy (TFLM int8) | eager fp32 | agreement | flash (image) | RAM | arena fw / Python | instructions | "
        "est. latency p50 | fit flash need / budget |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {v['accuracy']:.4f} | {v['fp32_accuracy']:.4f} | {v['agreement']:.4f} | {p['flash_bytes']:,} B | "
        f"{p['ram_bytes']:,} B | {p['arena_bytes']:,} / {p['arena_bytes_python']:,} B | {p['instructions']['mean'] / 1e6:.1f} M | "
        f"{p['latency_ms']['p50']:.1f} ms ({p['latency_method']}) | {fit['needs']['flash_bytes']:,} / "
        f"{fit['budgets']['flash_bytes']:,} B ({'fits' if fit.get('ok') else 'does not fit'}) |",
    ]
    checks = data.get("package", {}).get("checks", {})
    if "device" in checks:
        d = checks["device"]
        lines += [
            "",
            f"MCU package (tokenized on the device, under qemu): token ids {d['token_ids_match']}/{d['texts']}, labels "
            f"{d['labels_match']}/{d['texts']}, int8 outputs {d['outputs_match']}/{d['texts']} equal Python; image "
            f"{d['flash_bytes']:,} B flash (model {d['model_bytes']:,} B, tokenizer tables {d['tables_bytes']:,} B), "
            f"{d['ram_bytes']:,} B RAM, arena shipped {d['arena_bytes']:,} B, stack {d['stack_bytes']:,} B.",
        ]
    return lines + [""]


def cortex_m_section(rows: list) -> list[str]:
    """bench/cortex_m.py: one student's firmware on each Cortex-M part."""
    lines = [
        f"## Firmware per Cortex-M part (bench/cortex_m.py, `{Path(rows[0]['artifact']).parent.parent.name}`)",
        "",
        "| target | machine | instructions / inference | est. ms (method) | arena fw / Python | flash | RAM | outputs match |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['target']} | {r['machine']} | {r['instructions']['mean'] / 1e6:.1f} M | {r['latency_ms']['mean']:.0f} "
        f"({r['latency_method']}) | {r['arena_bytes']:,} / {r['arena_bytes_python']:,} B | {r['flash_bytes']:,} B | "
        f"{r['ram_bytes']:,} B | {r['outputs_match']} |"
        for r in rows
    ]
    return lines + [""]


def tokenizer_parity_section(data: dict) -> list[str]:
    """bench/tokenizer_parity.py: the Kotlin tokenizer vs Python, every row."""
    lines = [
        "## Kotlin tokenizer parity (bench/tokenizer_parity.py)",
        "",
        "| tokenizer / data set | rows with identical token ids | vocabulary ids |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {r['matched']}/{r['total']} | {r['vocab_ids']:,} |"
        for name, r in data.items()
        if isinstance(r, dict) and "matched" in r
    ]
    return lines + [""]


def fuzz_section(data: dict) -> list[str]:
    """bench/fuzz.py: corrupt artifacts of every kind through the guard."""
    lines = [
        f"## Corrupt artifacts (bench/fuzz.py, {data['total_cases']:,} mutants: {data['cases_per_kind']:,} per "
        f"artifact kind, seed {data['seed']})",
        "",
        f"Caller crashes: {data['caller_crashes']}; {data['seconds']:.0f} s. A crashed or hung child is the guard's "
        "child process dying on a file or stalling (stopped after the probe timeout); the caller reports either "
        "as one line.",
        "",
        "| artifact kind (seed size) | mutation: outcome | count |",
        "|---|---|---|",
    ]
    lines += [
        f"| {kind} ({data['seed_bytes'][kind]:,} B) | {k} | {n} |"
        for kind, outcome in data["outcomes"].items()
        for k, n in outcome.items()
    ]
    return lines + [""]


def interrupt_section(data: dict) -> list[str]:
    """bench/interrupt.py: builds killed at random moments, then resumed."""
    landed = ", ".join(f"{step} {n}" for step, n in data["landed_in_step"].items())
    signals = ", ".join(f"{sig} {n}" for sig, n in data["by_signal"].items())
    return [
        f"## Interrupted builds (bench/interrupt.py, seed {data['seed']}, {data['kills_per_build']} kills per build)",
        "",
        f"{data['kills']} kills ({signals}; landed in: {landed}) over {data['resumed_builds']} builds, "
        f"{data['seconds']:.0f} s.",
        "",
        "| check | count |",
        "|---|---|",
        f"| unclean exits (SIGINT: no 'interrupted' line, a traceback, or not exit 130; SIGKILL: not killed) | "
        f"{data['unclean_exits']} |",
        f"| SIGINT runs that printed 'interrupted' then died by SIGINT (`python -m` stale-interrupt mark, now cleared) | "
        f"{data['sigint_deaths_after_the_interrupted_line']} |",
        f"| data lost (finished steps gone or changed after a kill) | {data['data_lost']} |",
        f"| resumes that finished | {data['resumes_ok']} / {data['resumed_builds']} |",
        f"| resumes byte-identical to an uninterrupted build | {data['byte_identical']} / {data['resumed_builds']} |",
        f"| finished steps redone on resume | {data['finished_steps_redone']} |",
        f"| temp entries right after a kill (swept by the next run) | {data['temp_entries_right_after_a_kill']} |",
        f"| temp entries left after resume | {data['leftover_temp_entries_after_resume']} |",
        "",
    ]


def sweep_section(data: dict) -> list[str]:
    """bench/sweep.py's run: sweep.md's table under a heading that says how long it took."""
    table = sweep_markdown(data).splitlines()[1:]  # its own title becomes the section's
    title = (
        f"## Sweep: {data['recipe']} on {data['target']} (bench/sweep.py on a local Ray; the variants' builds ran "
        f"{data['build_seconds'] / 60:.0f} min of steps, the rest came from the step store)"
    )
    return [title, *table, ""]


COLUMNS = (
    "val = the student's accuracy on the 2,000 validation rows carved from train (where a choice is made; "
    "eager, before quantization); eager = the deployed model in PyTorch on dev; .tflite/.micro.tflite columns: "
    "the LiteRT/TFLM artifacts run over all 872 dev rows; train s = distillation and recovery seconds."
)
FAMILIES = {  # bench/techniques.py --family: (heading, what the family is)
    "techniques": (
        "Compression techniques on SST-2, one build family (bench/techniques.py)",
        "Base: bench/techniques/base.yaml (2 of the teacher's layers at full width, distilled on a "
        "seeded 20,000-row subsample for one epoch); each other row changes one thing "
        "(bench/techniques/grid.yaml). Sandwich sharing needs 4+ layers and is not in this 2-layer family.",
    ),
    "word_tables": (
        "Word tables on SST-2, one build family (bench/techniques.py --family word_tables)",
        "Base: bench/word_tables/base.yaml, the tiny recipe's CNN as it was before this family chose its table "
        "(128 filters, 96-wide table over the training texts' tokens) at 3 augmented copies per row; the other rows replace its table with shared rows "
        "(student.word_rows: a k-means codebook or the hashing trick) or a vocabulary learned on the "
        "training texts (student.learned_vocab), as bench/word_tables/grid.yaml fixes them in advance.",
    ),
    "order": (
        "Order of distil, prune, quantize on SST-2 (bench/techniques.py --family order)",
        "Base: bench/techniques/base.yaml; every row sees the same 20,000 rows once in all (distillation "
        "plus pruning recovery); P = half the heads and half of each FFN removed by importance; Q = the "
        "static int8 .tflite (PTQ) unless quantization noise or QAT trains with the weights "
        "(bench/order/grid.yaml).",
    ),
}


def builds_section(data: dict) -> list[str]:
    """bench/builds.py: finished builds, where they land."""
    from builds import markdown as builds_markdown

    return [
        f"## Builds on {data['name']} (bench/builds.py)",
        "",
        "One row per `edgesdk build` (its recipe and target as named). val = accuracy on the rows carved from "
        "train (what the recipe's settings answer to); eval = the file given as --dev, reported only, never "
        "used for a choice; the artifact is the one the fit step shipped, its accuracy measured by running "
        "it in its runtime over every eval row. Latency: measured on this machine, or for Cortex-M an "
        "estimate from counted instructions under qemu.",
        "",
        *builds_markdown(data["rows"]).splitlines(),
        "",
        *[f"- {r['build']}: {r['note']}." for r in data["rows"] if r.get("note")],
        *([""] if any(r.get("note") for r in data["rows"]) else []),
    ]


def long_validation_section(data: dict) -> list[str]:
    """bench/long_validation.py: built variants on their validation rows and the longer half."""
    from long_validation import markdown as long_markdown

    return [
        "## Validation rows and their longer half (bench/long_validation.py)",
        "",
        f"Commit `{data['commit']}`. The shipped artifact of each build in its runtime (`edgesdk eval`) over the "
        f"{data['val_rows']:,} validation rows carved from train, and over their longer half: the "
        f"{data['longer_rows']:,} rows of {data['median_words']:g}+ words (mean {data['longer_mean_words']} words; "
        "SST-2 dev sentences average 19.5, its train rows 9.4). Where variants tie on all rows, the longer half is "
        "the part of the same carve nearest the whole sentences a deployment classifies; dev plays no part.",
        "",
        *long_markdown(data),
        "",
    ]


def family_section(data: dict) -> list[str]:
    """bench/techniques.py: one build family, a variant per row against its base."""
    from techniques import markdown

    heading, base = FAMILIES[data.get("family", "techniques")]
    notes = [f"- {r['variant']}: {r['note']}." for r in data["rows"] if r.get("note")]
    if data.get("not_run"):
        notes.append(f"- Not run yet (the machine time ran out): {', '.join(data['not_run'])}.")
    table = markdown(data["rows"]).splitlines()
    return [f"## {heading}", "", f"{base} {COLUMNS}", "", *table, "", *(notes + [""] if notes else [])]


def main() -> None:
    lines = ["# Results", "", "Generated by `bench/render_results.py` from `bench/results/*.json`; do not edit.", ""]
    bt = ROOT / "bench" / "results" / "build_time.json"
    if bt.exists():
        lines += build_time_section(json.loads(bt.read_text()))
    for path in sorted((ROOT / "bench" / "results").glob("students_*.json")):
        lines += students_section(json.loads(path.read_text()))
    for path in sorted((ROOT / "bench" / "results").glob("quantization_*.json")):
        lines += quantization_section(json.loads(path.read_text()))
    for pattern, section in (
        ("teacher_recipe.json", teacher_recipe_section),
        ("frontier_*.json", frontier_section),
        ("train_step.json", train_step_section),
        ("pruning_*.json", pruning_section),
        ("ab_pruning_*.json", ab_section),
        ("clipping_*.json", clipping_section),
        ("early_exit_*.json", early_exit_section),
        ("peers*.json", peers_section),  # peers.json: the default build; peers_<name>.json: others
        ("pareto_*.json", pareto_section),
        ("sweep_*.json", sweep_section),
        ("techniques_*.json", family_section),
        ("word_tables_*.json", family_section),
        ("long_validation_*.json", long_validation_section),
        ("order_*.json", family_section),
        ("builds_*.json", builds_section),
        ("mcu_sst2_*.json", mcu_sst2_section),
        ("cortex_m.json", cortex_m_section),
        ("tokenizer_parity.json", tokenizer_parity_section),
        ("fuzz.json", fuzz_section),
        ("interrupt.json", interrupt_section),
    ):
        for path in sorted((ROOT / "bench" / "results").glob(pattern)):
            lines += section(json.loads(path.read_text()))
    (ROOT / "docs" / "results.md").write_text("\n".join(lines) + "\n")
    print("wrote docs/results.md")


if __name__ == "__main__":
    main()
