"""The build report read as a user reads it: the summary, the plots, and `edgesdk report`.

One tiny ExecuTorch-only build (the teacher lowered beside the student) serves every test;
everything else re-renders from that finished build dir, in this process or through the CLI.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from edgesdk import report_plots
from edgesdk.report import draw_plots, rerender
from edgesdk.report_markdown import render_markdown
from edgesdk.report_summary import baseline_for, headline, headline_artifact, summarize
from tests.conftest import TINY_RECIPE, run_cli
from tests.edgesdk.test_build_quantized import build_args

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCATTER_PX = (900, 560)


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_teacher, sst2_slice):
    tmp = tmp_path_factory.mktemp("rbuild")
    text = TINY_RECIPE.replace("export: {seq_len: 32}", "export: {seq_len: 32, runtimes: [executorch]}")
    assert "runtimes: [executorch]" in text
    (tmp / "r.yaml").write_text(text)
    proc = run_cli(*build_args(str(tmp / "r.yaml"), sst2_slice, tiny_teacher, tmp / "b"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "b", json.loads((tmp / "b" / "report.json").read_text()), proc


def row(report: dict, path: str) -> dict:
    return next(a for a in report["artifacts"] if a["path"] == path)


def test_summary_equals_what_the_artifact_rows_give(built):
    out, report, _ = built
    s = report["summary"]
    fit = json.loads((out / "fit.json").read_text())
    shipped, teacher = row(report, fit["needs"]["artifact"]), row(report, "artifacts/teacher/model.pte")
    assert s["fits"] is True and s["target"] == "host"
    need = next(r for r in fit["artifacts"] if r["artifact"] == shipped["path"])
    assert (s["fit_needs"]["flash_bytes"], s["fit_needs"]["flash_budget_bytes"]) == (need["flash_bytes"], None)
    assert s["artifact"]["path"] == shipped["path"] and s["artifact"]["chosen_by"] == "fit"
    assert s["artifact"]["accuracy"] == shipped["accuracy"]
    assert s["accuracy_vs_teacher_pt"] == round(100 * (shipped["accuracy"] - report["teacher"]["accuracy"]), 2)
    assert s["baseline"]["path"] == teacher["path"] and s["baseline"]["precision"] == "fp32"
    assert s["times_smaller"] == round(teacher["size_bytes"] / shipped["size_bytes"], 2) > 1
    assert s["times_faster"] == round(teacher["latency_ms"]["mean"] / shipped["latency_ms"]["mean"], 2)
    assert s["student"]["shape"].startswith("1 layer, hidden 16, heads 2, FFN 32")
    assert s["student"]["times_fewer_params_than_teacher"] == round(
        report["teacher"]["params"] / report["student"]["params"], 2
    )


def test_report_md_opens_with_the_summary_and_its_links_resolve(built):
    out, report, _ = built
    md = (out / "report.md").read_text()
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Summary"
    summary = md.split("## Summary")[1].split("\n## ")[0]
    assert "**Fits host**: yes" in summary and f"{report['summary']['times_smaller']:.2f}x smaller" in summary
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(links) == sorted(report["plots"].values())
    assert all((out / link).is_file() for link in links)


def test_plots_are_the_documented_pngs(built):
    out, report, _ = built
    # an ExecuTorch fp32 build without exits: no exit histogram, no quantization plot
    assert set(report["plots"]) == {"accuracy_vs_latency", "accuracy_vs_size", "latency_histogram", "per_op"}
    assert sorted(p.name for p in (out / "plots").iterdir()) == sorted(f"{n}.png" for n in report["plots"])
    per_op_rows = [a for a in report["artifacts"] if "per_op" in a]
    expected = {
        "accuracy_vs_latency": SCATTER_PX,
        "accuracy_vs_size": SCATTER_PX,
        "latency_histogram": (900, round(100 * (1.2 + 0.95 * len(report["artifacts"])))),
        "per_op": (900, round(100 * (0.9 + 2.5 * len(per_op_rows)))),
    }
    for name, rel in report["plots"].items():
        data = (out / rel).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and b"Software" not in data and b"Creation" not in data
        with Image.open(out / rel) as image:
            image.verify()
        with Image.open(out / rel) as image:
            assert image.size == expected[name], name
            assert len(set(image.convert("L").getdata())) > 20  # drawn on, not a blank canvas


def test_profile_json_keeps_every_timed_run(built):
    out, report, _ = built
    profile = json.loads((out / "profile.json").read_text())
    for path, p in profile.items():
        samples = np.asarray(p["latency_samples_ms"])
        assert len(samples) == p["repetitions"] == 20 and (samples > 0).all()
        assert p["latency_ms"]["p50"] == pytest.approx(np.percentile(samples, 50), abs=1e-3)
        assert p["latency_ms"] == row(report, path)["latency_ms"]


def test_rerender_is_byte_identical(built, tmp_path):
    out, _, _ = built
    copy = shutil.copytree(out, tmp_path / "b")
    first = {p.name: p.read_bytes() for p in (out / "plots").iterdir()}
    rerender(copy)  # another process than the build's, same bytes
    assert {p.name: p.read_bytes() for p in (copy / "plots").iterdir()} == first
    assert (copy / "report.md").read_text() == (out / "report.md").read_text()


def test_exit_and_quantization_plots_follow_their_sections(built, tmp_path):
    _, report, _ = built
    layers = [
        {"name": name, "runtime": rt, "precision": prec, "sqnr_db": db}
        for name, db in (("layers.0.ffn.up", 31.5), ("classifier", 150.0), ("word_embeddings", 40.2))
        for rt, prec in (("executorch", "int8"), ("litert", "int8"))
    ]
    exits = {
        "exit_layers": [1, 2],
        "exit_histogram": [60, 40],
        "bucket_usage": {"16": 70, "32": 30},
        "avg_layers_fraction": 0.7,
        "accuracy": 0.81,
        "accuracy_no_exit": 0.82,
    }
    richer = {**report, "exits": exits, "quantization": {"layers": layers}}
    drawn = report_plots.render_plots(tmp_path, richer)
    assert drawn.warning is None
    assert {"exits", "quantization_layers"} <= set(drawn.paths)
    assert "latency_histogram" not in drawn.paths  # no profile.json here: no per-run latencies
    with Image.open(tmp_path / drawn.paths["exits"]) as image:
        assert image.size == (900, 420)
    with Image.open(tmp_path / drawn.paths["quantization_layers"]) as image:
        assert image.size == (900, round(100 * (1.6 + 0.27 * 3)))


def test_a_failing_plot_costs_a_warning_not_the_others(built, tmp_path, monkeypatch):
    _, report, _ = built

    def broken(report, samples):
        raise RuntimeError("no per-op today")

    monkeypatch.setitem(report_plots.PLOTS, "per_op", broken)
    paths = draw_plots(tmp_path, dict(report))
    assert "per_op" not in paths and "accuracy_vs_latency" in paths
    assert not (tmp_path / "plots" / "per_op.png").exists()


def test_without_matplotlib_the_report_is_still_written(built, tmp_path, monkeypatch):
    out, _, _ = built
    copy = shutil.copytree(out, tmp_path / "b")
    fake = tmp_path / "fake" / "matplotlib"  # shadows the installed package in the child
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('matplotlib is broken here')\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(fake.parent), os.environ.get("PYTHONPATH")])))
    proc = run_cli("report", copy)
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "matplotlib is broken here" in warnings[0], proc.stderr
    report = json.loads((copy / "report.json").read_text())
    assert report["plots"] == {} and "matplotlib" in report["plots_warning"]
    assert not (copy / "plots").exists() and "](plots/" not in (copy / "report.md").read_text()
    assert "Fits host" in proc.stdout


def test_the_cli_leads_with_the_headline(built):
    _, report, proc = built
    lines = proc.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("edgesdk build: host"))
    assert lines[start + 1].strip().startswith("Built: encoder student")
    head = "\n".join(lines[start : start + 12])
    assert "Fits host: yes" in head and "Ships: " in head and "vs teacher fp32 in executorch" in head
    assert "model.pte *" in proc.stdout  # the artifact table marks what ships


ROWS = [
    {"path": "a/s.pte", "model": "student", "runtime": "executorch", "precision": "fp32", "size_bytes": 40},
    {"path": "a/s.int8.pte", "model": "student", "runtime": "executorch", "precision": "int8", "size_bytes": 10},
    {
        "path": "a/s.staged.pte",
        "model": "student",
        "runtime": "executorch",
        "precision": "fp32",
        "size_bytes": 41,
        "staged": True,
    },
    {"path": "a/s.int8.micro.tflite", "model": "student", "runtime": "tflm", "precision": "int8", "size_bytes": 9},
]


TEACHER_ROW = {**ROWS[0], "path": "a/t.pte", "model": "teacher"}


@pytest.mark.parametrize(
    "extra, shipped, chosen_by, comparable",
    [
        ({}, "a/s.staged.pte", "smallest", True),  # no fit.json: staged first, then smallest
        ({"package": {"artifact": "a/s.int8.pte"}}, "a/s.int8.pte", "package", True),
        ({"package": {"artifact": "a/s.int8.micro.tflite"}}, "a/s.int8.micro.tflite", "package", False),  # no fp32 TFLM
    ],
)
def test_what_ships_and_what_it_is_compared_with(extra, shipped, chosen_by, comparable):
    artifact, chosen = headline_artifact({"artifacts": ROWS, **extra})
    assert (artifact["path"], chosen) == (shipped, chosen_by)
    with_teacher, without = baseline_for(artifact, ROWS + [TEACHER_ROW]), baseline_for(artifact, ROWS)
    assert (with_teacher or {}).get("path") == ("a/t.pte" if comparable else None)  # the teacher's first
    assert (without or {}).get("path") == ("a/s.pte" if comparable else None)  # else the student's fp32


def test_summary_without_a_baseline_has_no_ratios(built):
    _, report, _ = built
    alone = {**report, "artifacts": [a for a in report["artifacts"] if a["model"] == "student"]}
    s = summarize(alone)
    assert s["baseline"] is None and s["times_smaller"] is None and s["times_faster"] is None


@pytest.mark.parametrize(
    "kind, fewer, says",
    [
        ("encoder", 3.0, "encoder student ("),
        ("teacher", 3.0, "the fine-tuned teacher, pruned ("),
        ("teacher", 1.0, "the fine-tuned teacher itself ("),
    ],
)
def test_headline_names_what_was_built(built, kind, fewer, says):
    _, report, _ = built
    s = report["summary"]
    student = {
        **s["student"],
        "kind": kind,
        "times_fewer_params_than_teacher": fewer,
        "times_fewer_flops_than_teacher": fewer,
    }
    sentence = dict(headline({**s, "student": student}))["Built"]
    assert sentence.startswith(says)
    assert ("x fewer FLOPs" in sentence) == (fewer > 1.0)


def _artifact_table(md: str) -> dict[str, dict[str, str]]:
    """report.md's artifact table: path -> {column header: cell}."""
    lines = md.splitlines()
    start = lines.index("## Artifacts (measured in their runtimes)") + 2
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|"))))
        rows[cells["artifact"].strip("`")] = cells
    return rows


def test_memory_column_says_what_each_row_measured(built):
    """A host row's memory is its process's peak RSS after warm-up; a Cortex-M row's is the
    firmware image's static RAM (no process, no warm-up). report.json keeps one key for both."""
    _, report, _ = built
    host = row(report, "artifacts/model.pte")
    firmware = {  # a Cortex-M row as targets/cortex_m/mcu_profiler.py and build_report write it
        **{k: v for k, v in host.items() if k != "per_op"},
        "path": "artifacts/model.int8.micro.tflite",
        "runtime": "tflm",
        "precision": "int8",
        "profiled_on": "cortex-m4",
        "profile": {"target": "cortex-m4", "method": "estimate", "detail": "firmware under qemu mps2-an386"},
        "threads": 1,
        "latency_kind": "estimate",
        "latency_method": "instructions x CPI 1.4 / 64 MHz",
        "arena_bytes": 61_000,
        "flash_bytes": 240_000,
        "ram_bytes": 92_000,
        "peak_rss_bytes": 92_000,
        "baseline_rss_bytes": None,
        "outputs_match": True,
    }
    keys_before = [sorted(a) for a in report["artifacts"]]

    mixed = _artifact_table(render_markdown({**report, "artifacts": [host, firmware]}))
    assert "memory" in mixed[host["path"]] and "peak RSS" not in mixed[host["path"]]
    assert mixed[host["path"]]["memory"].endswith(" peak RSS")
    assert mixed[firmware["path"]]["memory"] == "92.0 KB static RAM (firmware)"
    md = render_markdown({**report, "artifacts": [host, firmware]})
    assert "peak RSS is that" in md and "static RAM (firmware) is the linked image's data + bss" in md

    only_host = render_markdown(report)
    assert set(next(iter(_artifact_table(only_host).values()))) >= {"peak RSS", "TFLM arena"}
    assert "static RAM" not in only_host
    only_firmware = render_markdown({**report, "artifacts": [firmware]})
    assert _artifact_table(only_firmware)[firmware["path"]]["static RAM (firmware)"] == "92.0 KB"
    assert "peak RSS" not in only_firmware.split("## Artifacts")[1].split("## ")[0]
    assert [sorted(a) for a in report["artifacts"]] == keys_before  # report.json keys: unchanged


def test_a_student_shape_names_its_word_table():
    from edgesdk.report_summary import describe_config

    cnn = {"family": "cnn", "embedding_size": 64, "filters": 128, "kernel_sizes": [3, 4, 5], "vocab_size": 4000}
    assert describe_config(cnn) == "embedding 64, 128 filters of widths [3, 4, 5], vocabulary 4000"
    qr = describe_config({**cnn, "word_remainders": 64})
    assert qr.endswith("vocabulary 4000 on a qr table of 63 + 64 rows")
