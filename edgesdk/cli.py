"""The `edgesdk` command: a thin Typer layer, one API call per command.

User errors (EdgeSDKError) become one red line on stderr and exit code 2; Ctrl-C exits 130
and leaves the build dir resumable (every write is atomic). No console here reads rich markup:
paths, labels and target descriptions are printed as they are (edgesdk/progress.py).
"""

from __future__ import annotations

import errno
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from edgesdk.errors import EdgeSDKError
from edgesdk.fmt import fmt_bytes, fmt_mb, fmt_ms
from edgesdk.progress import error, notice

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Distil, compress, lower, verify and profile text classifiers for edge targets.",
)
# A pipe or a file has no width to fit: rich would assume 80 columns and cut table cells
# ("cor…"), which a script or grep then reads. Piped output keeps every value whole.
out_console = Console(markup=False, width=None if sys.stdout.isatty() else 100_000)

# A full disk, a quota, a read-only or forbidden output dir, a file-size limit: the output
# cannot be written, which is the user's to fix, not a crash.
OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}

TARGET_HELP = "target id or family alias (see `edgesdk targets`): host, android, ..."
# Options `build` and `sweep` share (one declaration, one help text).
TARGET_OPTION = typer.Option(..., "--target", "-t", help=TARGET_HELP)
RECIPE_OPTION = typer.Option(
    None, "--recipe", "-r", help="recipe YAML file or bundled recipe name (default: the target's default_recipe)"
)
TRAIN_OPTION = typer.Option(None, "--train", help="training data (.csv/.tsv/.jsonl); default: bundled SST-2")
DEV_OPTION = typer.Option(None, "--dev", help="dev data; default: carved from --train (stratified, seeded)")
TEXT_COLUMN_OPTION = typer.Option(None, "--text-column", help="text column (default: detected)")
LABEL_COLUMN_OPTION = typer.Option(None, "--label-column", help="label column (default: detected)")
TEACHER_OPTION = typer.Option(
    None,
    "--teacher",
    help="HF BERT-family checkpoint dir, or an earlier build's teacher/ or pruned/ dir (default: all-MiniLM-L6-v2)",
)


@app.command()
def build(
    target: str = TARGET_OPTION,
    recipe: Optional[str] = RECIPE_OPTION,
    train: Optional[Path] = TRAIN_OPTION,
    dev: Optional[Path] = DEV_OPTION,
    text_column: Optional[str] = TEXT_COLUMN_OPTION,
    label_column: Optional[str] = LABEL_COLUMN_OPTION,
    teacher: Optional[Path] = TEACHER_OPTION,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="build dir (default: build/<recipe name>)"),
    device: Optional[str] = typer.Option(
        None, "--device", help="where training runs: auto, cpu, cuda or mps (default: the recipe's train.device)"
    ),
    nproc: int = typer.Option(1, "--nproc", min=1, help="training processes (torchrun, data parallel; docs/scale.md)"),
) -> None:
    """Build verified, profiled artifacts for a target from labelled text."""
    if nproc > 1 and "WORLD_SIZE" not in os.environ:  # start the processes; each runs this command
        from edgesdk import launch  # lazy: `edgesdk --help` and `edgesdk targets` start without torch

        launch.check_nproc(nproc)
        with tempfile.TemporaryDirectory() as tmp:
            launch.run(launch.Launch(nproc, launch.without_nproc(sys.argv[1:])), Path(tmp) / "errors")
        return
    import edgesdk.api as api  # lazy: see above

    data = api.DataOptions(train, dev, text_column, label_column)
    result = api.build(target, recipe, data, teacher, out, device)
    if result.report:  # rank 0 of a multi-process build (or the only process) reports
        _print_summary(result.report, result.out_dir, result.cached_steps)


@app.command()
def sweep(
    target: str = TARGET_OPTION,
    recipe: Optional[str] = RECIPE_OPTION,
    grid: Optional[Path] = typer.Option(
        None, "--grid", help="grid YAML: recipe keys and their values (default: the recipe's bundled grid)"
    ),
    ray_address: Optional[str] = typer.Option(
        None, "--ray-address", help="an existing Ray cluster (host:port, ray://host:port, auto); default: a local Ray"
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="sweep dir (default: build/sweep-<recipe>-<target>)"),
    train: Optional[Path] = TRAIN_OPTION,
    dev: Optional[Path] = DEV_OPTION,
    text_column: Optional[str] = TEXT_COLUMN_OPTION,
    label_column: Optional[str] = LABEL_COLUMN_OPTION,
    teacher: Optional[Path] = TEACHER_OPTION,
    cpus_per_variant: Optional[int] = typer.Option(
        None,
        "--cpus-per-variant",
        min=1,
        help="CPUs each variant's build declares to Ray (default: all of this machine's)",
    ),
    reuse: list[Path] = typer.Option([], "--from", help="a finished build whose steps variants may reuse (repeatable)"),
) -> None:
    """Build a grid of recipe variants on Ray, keep those that fit the target, write the Pareto front."""
    import edgesdk.api as api  # lazy: see build

    data = api.DataOptions(train, dev, text_column, label_column)
    result = api.sweep(target, recipe, grid, out, data, teacher, ray_address, cpus_per_variant, reuse)
    _print_sweep(result)


def _print_sweep(result: dict) -> None:
    table = Table(title=f"sweep {result['recipe']} on {result['target']}")
    for col in ("variant", "status", "accuracy", "latency ms", "size", "front"):
        table.add_column(col)
    for r in result["variants"]:
        fits = r["status"] == "fits"
        table.add_row(
            r["name"],
            r["status"],
            f"{r['accuracy']:.4f}" if fits else "-",
            fmt_ms(r["latency_ms_mean"]) if fits else "-",
            fmt_bytes(r["size_bytes"]) if fits else "-",
            "yes" if r.get("front") else "",
        )
    out_console.print(table)
    out_console.print(f"best fitting variant: {result['best'] or 'none fits'}")


@app.command("eval")
def eval_artifact(
    artifact: Path = typer.Argument(..., help="a .pte or .tflite inside an edgesdk build's artifacts/ dir"),
    data: Path = typer.Option(..., "--data", help="labelled data (.csv/.tsv/.jsonl)"),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="text column (default: detected)"),
    label_column: Optional[str] = typer.Option(None, "--label-column", help="label column (default: detected)"),
    threads: int = typer.Option(2, "--threads", min=1, help="runtime threads"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
) -> None:
    """Run an artifact in its runtime over labelled data and report accuracy and latency."""
    import edgesdk.api as api  # lazy: see build

    result = api.evaluate(artifact, data, text_column, label_column, threads)
    if as_json:
        print(json.dumps(result))
        return
    table = Table(title=f"eval {artifact.name} ({result['runtime']})")
    for col in ("n", "accuracy", "p50 ms", "p90 ms", "p99 ms"):
        table.add_column(col)
    lat = result["latency_ms"]
    table.add_row(
        str(result["n"]), f"{result['accuracy']:.4f}", fmt_ms(lat["p50"]), fmt_ms(lat["p90"]), fmt_ms(lat["p99"])
    )
    out_console.print(table)


@app.command()
def profile(
    artifact: Path = typer.Argument(..., help="a .pte or .tflite inside an edgesdk build's artifacts/ dir"),
    target: str = typer.Option("host", "--target", "-t", help=TARGET_HELP),
    data: Optional[Path] = typer.Option(None, "--data", help="sentences to cycle through (default: bundled SST-2 dev)"),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="text column (default: detected)"),
    threads: int = typer.Option(2, "--threads", min=1, help="runtime threads"),
    warmup: int = typer.Option(10, "--warmup", min=0, help="untimed runs first"),
    repetitions: int = typer.Option(200, "--repetitions", min=1, help="timed batch-1 runs"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
    device: Optional[str] = typer.Option(None, "--device", help="Android device serial (default: EDGESDK_ADB_SERIAL)"),
    host: Optional[str] = typer.Option(None, "--host", help="Linux board user@addr (default: EDGESDK_SSH)"),
    app: Optional[str] = typer.Option(
        None,
        "--app",
        help="Android: application id of an installed edgesdk app; time the artifact with its own code (BenchmarkActivity)",
    ),
    per_op: bool = typer.Option(False, "--per-op", help="ExecuTorch ETDump per-op breakdown (.pte on the host)"),
) -> None:
    """Measure batch-1 latency percentiles and peak RSS of an artifact on a target.

    Devices: Linux boards over ssh (EDGESDK_SSH=user@host), Android phones over adb
    (EDGESDK_ADB_SERIAL; runners EDGESDK_ANDROID_TFLITE_BENCHMARK, EDGESDK_ANDROID_EXECUTORCH_RUNNER,
    or an installed edgesdk app's own code with --app),
    Cortex-M parts as firmware under qemu (latency estimated from instruction counts)."""
    import edgesdk.api as api  # lazy: see build
    from edgesdk.recipe import ProfileConfig  # lazy: see build

    spec = api.load_target(target, device or host)
    config = ProfileConfig(threads=threads, warmup=warmup, repetitions=repetitions, per_op=per_op)
    result = api.profile(artifact, spec, data, text_column, config, app)
    if as_json:
        print(json.dumps(result))
        return
    title = f"profile {artifact.name} ({result['runtime']}) on {spec.id}, {result.get('threads', threads)} threads"
    if result.get("latency_kind") == "estimate":
        title += f"; latency is an estimate: {result['latency_method']}"
    from edgesdk.report_markdown import memory_kind  # lazy: see build

    table = Table(title=title)
    for col in ("runs", "mean ms", "p50 ms", "p90 ms", "p99 ms", "size MB", f"{memory_kind(result)} MB"):
        table.add_column(col)
    lat = result["latency_ms"]
    table.add_row(
        str(repetitions),
        f"{lat['mean']:.3f}",
        fmt_ms(lat["p50"], 3),
        fmt_ms(lat["p90"], 3),
        fmt_ms(lat["p99"], 3),
        f"{result['size_bytes'] / 1e6:.2f}",
        fmt_mb(result["peak_rss_bytes"]),
    )
    out_console.print(table)
    if "per_op" in result:
        from edgesdk.targets.etdump import render_per_op  # lazy: see build

        out_console.print("\n".join(render_per_op(artifact.name, result["per_op"])))


@app.command()
def targets(
    as_json: bool = typer.Option(
        False, "--json", help="print a JSON list, one object per target (the table's fields, sizes in bytes)"
    ),
) -> None:
    """List the known deployment targets."""
    import edgesdk.api as api  # lazy: see build

    specs, aliases = api.list_targets(), api.target_aliases()
    if as_json:
        print(json.dumps([_target_json(t, aliases) for t in specs], indent=1))
        return
    table = Table(title="edgesdk targets")
    for col in ("id", "family", "cores", "MHz", "RAM", "flash", "runtimes"):
        table.add_column(col, no_wrap=True, justify="left" if col in ("id", "family", "runtimes") else "right")
    for t in specs:
        table.add_row(
            t.id,
            t.family,
            str(t.cores or "-"),
            str(t.clock_mhz or "-"),
            _size(t.ram_bytes),
            _size(t.flash_bytes),
            ",".join(t.runtimes),
        )
    out_console.print(table)
    for t in specs:
        out_console.print(f"{t.id}: {t.cpu}; {t.description}")
    out_console.print("aliases: " + ", ".join(f"{k} -> {v}" for k, v in aliases.items()))
    out_console.print("a custom target: --target path/to/board.yaml (same fields as targets/specs/*.yaml)")


@app.command()
def report(build_dir: Path = typer.Argument(..., help="an edgesdk build dir")) -> None:
    """Re-render report.json and report.md from a finished build dir."""
    import edgesdk.api as api  # lazy: see build

    rendered = api.render_report(build_dir)
    _print_summary(rendered, build_dir, ())


@app.command()
def package(
    build_dir: Path = typer.Argument(..., help="a finished edgesdk build dir for an android, linux or mcu target"),
    data: Optional[Path] = typer.Option(
        None, "--data", help="sentences the package's own check classifies (default: bundled SST-2 dev)"
    ),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="text column (default: detected)"),
) -> None:
    """Re-write and re-check the app or firmware package of a finished build (after editing a template, say)."""
    import edgesdk.api as api  # lazy: see build

    info = api.package(build_dir, data, text_column)
    checks = ", ".join(f"{name} {'ok' if c.get('ok') else 'FAILED'}" for name, c in info.get("checks", {}).items())
    out_console.print(
        f"{info['kind']} package: {build_dir / info['path']} (ships {info['artifact']}; checks: {checks})"
    )


def _target_json(t, aliases: dict[str, str]) -> dict:
    """A target's `edgesdk targets` row as data: the table's columns (MHz as clock_mhz, RAM and
    flash in bytes, null where the spec has none), the cpu and description printed under it,
    and the aliases that select it."""
    return {
        "id": t.id,
        "family": t.family,
        "cores": t.cores,
        "clock_mhz": t.clock_mhz,
        "ram_bytes": t.ram_bytes,
        "flash_bytes": t.flash_bytes,
        "runtimes": list(t.runtimes),
        "cpu": t.cpu,
        "description": t.description,
        "aliases": [alias for alias, target_id in aliases.items() if target_id == t.id],
    }


def _size(n: Optional[int]) -> str:
    if not n:
        return "-"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} B"


def _print_summary(report: dict, out_dir: Path, cached: tuple[str, ...]) -> None:
    """The headline first (the same sentences as report.md's summary), then one row per artifact."""
    from rich import box
    from rich.text import Text

    from edgesdk.report_markdown import memory_kind  # lazy: see build
    from edgesdk.report_summary import headline, summarize

    summary = report.get("summary") or summarize(report)
    # peak RSS of a runtime process, or a firmware image's static RAM (Cortex-M rows)
    kinds = {memory_kind(a) for a in report["artifacts"]}
    memory = "RSS/RAM" if len(kinds) > 1 else "RAM" if kinds == {"static RAM (firmware)"} else "RSS"
    out_console.print(Text(f"edgesdk build: {report['target']}", style="bold"))
    for label, text in headline(summary):
        out_console.print(Text.assemble("  ", (f"{label}: ", "bold"), text))
    table = Table(
        box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, title="artifacts (dev accuracy; batch-1 latency)"
    )
    # the file name says the runtime (.pte, .tflite, .micro.tflite); agreement is in report.md
    for col in ("artifact", "precision", "dev\nacc", "size\nMB", "p50\nms", "p90\nms", f"{memory}\nMB"):
        table.add_column(col, no_wrap=True, justify="left" if col in ("artifact", "precision") else "right")
    shipped = summary["artifact"]["path"]
    for a in report["artifacts"]:
        table.add_row(
            a["path"].removeprefix("artifacts/") + (" *" if a["path"] == shipped else ""),
            a["precision"],
            f"{a['accuracy']:.4f}",
            f"{a['size_bytes'] / 1e6:.2f}",
            fmt_ms(a["latency_ms"]["p50"]),
            fmt_ms(a["latency_ms"]["p90"]),
            fmt_mb(a["peak_rss_bytes"]),
        )
    out_console.print(table)
    out_console.print("* ships (see the summary above)")
    if memory == "RSS/RAM":
        out_console.print(
            "RSS/RAM: peak RSS of the runtime process; static RAM of the firmware image for Cortex-M rows"
        )
    p, e = report.get("pruning") or {}, report.get("exits") or {}
    if "heads_total" in p:
        out_console.print(
            f"pruned: {p['heads_removed']}/{p['heads_total']} heads, {p['ffn_removed']}/{p['ffn_total']} FFN neurons removed"
        )
    if "vocab_before" in p:
        out_console.print(f"vocabulary: {p['vocab_before']} -> {p['vocab_after']} tokens")
    if e:
        out_console.print(
            f"early exit (staged artifacts): dev accuracy {e['accuracy']:.4f} vs {e['accuracy_no_exit']:.4f} without exits, "
            f"{e['avg_layers_fraction']:.0%} of the layers run on average"
        )
    if cached:
        out_console.print(f"cached steps: {', '.join(cached)}")
    if package := report.get("package"):
        out_console.print(
            f"{package['kind']} package: {out_dir / package['path']} (ships {package['artifact']}; "
            f"how to use it: {out_dir / package['path'] / 'README.md'})"
        )
    plots = f" (plots: {out_dir / 'plots'})" if report.get("plots") else ""
    out_console.print(f"report: {out_dir / 'report.md'}{plots}")


def quiet_third_party_logs() -> None:
    """torchao warns about CUDA-only extensions it cannot load, torch about pytree enums:
    noise on every CPU build, not actionable for a user."""
    import logging

    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main() -> None:
    quiet_third_party_logs()
    try:
        # Without standalone mode typer turns Ctrl-C (and typer.Exit) into a returned code.
        code = app(standalone_mode=False)
        if code == 130:
            raise KeyboardInterrupt
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except EdgeSDKError as exc:
        from edgesdk.launch import record_error  # lazy: see build

        if not record_error(str(exc)):  # a launched rank leaves it to the launcher's one line
            error(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        exit_interrupted()
    except OSError as exc:
        if exc.errno not in OUTPUT_ERRNOS:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        error(
            f"cannot write{where}: {exc.strerror}; free disk space or choose a writable --out (finished steps are kept)"
        )
        sys.exit(2)
    except Exception as exc:
        # Usage errors (missing option, bad value) come from the click copy vendored inside
        # typer; recognise them by their interface rather than a private import path.
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(2)
        if type(exc).__name__ == "Abort":
            exit_interrupted()
        raise


def exit_interrupted() -> None:
    """Say the build is resumable and exit 130, from `edgesdk` and `python -m edgesdk.cli` alike.

    SIGINT is ignored first: a second Ctrl-C while the line prints or the interpreter shuts
    down would otherwise escape as a traceback or end the process by signal (-2).

    Then the stale-interrupt mark is cleared. CPython records whether the last code it ran from
    a *string* (exec/eval of source: dataclasses, typing, namedtuple, sympy and torch build
    functions that way, at import and at run time) ended in KeyboardInterrupt, and when a
    `python -m` run returns it kills the process with SIGINT if that mark is set, whatever
    sys.exit said (Modules/main.c, Py_RunMain; bpo-1054041, bpo-41602). A Ctrl-C that landed in
    such code on its way here sets it. The `edgesdk` script exits through Py_Exit, which never
    reads the mark, hence "sometimes -2" under `python -m` only. Running one string that
    completes resets the mark.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    notice("interrupted:", "yellow", "finished steps are kept; run the same command to resume")
    exec("pass")  # resets CPython's unhandled-KeyboardInterrupt mark (see above)
    sys.exit(130)


if __name__ == "__main__":
    main()
