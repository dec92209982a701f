"""The Android app's pure-Kotlin core, compiled with kotlinc and run on a plain JVM.

No Android SDK or Gradle can run on the build machine, but the tokenizer, the exit controller,
the asset loading and the benchmark activity's intent extras are plain Kotlin: compiled with the template's jvm-check/JvmCheck.kt
driver they run under `java`, which is how the tests and bench/tokenizer_parity.py compare
them with the Python reference. Sources stay in the template (shipped to users, who rerun the
same check with jvm-check/run.sh).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Sequence

from edgesdk.apps.assets import write_tokenizer_assets

from edgesdk.errors import PackageError
from edgesdk.ondevice.escape import properties_file

TEMPLATE = Path(__file__).resolve().parent / "android_template"
CORE_SOURCES = tuple(
    f"edgesdk/src/main/kotlin/dev/edgesdk/{name}"
    for name in ("WordPieceTokenizer.kt", "ExitController.kt", "Assets.kt", "Benchmark.kt")
)
DRIVER = "jvm-check/JvmCheck.kt"
MAIN_CLASS = "dev.edgesdk.check.JvmCheckKt"


def compile_jvm_check(jar: Path, root: Path = TEMPLATE) -> Path:
    """kotlinc the core sources and the driver into one runnable jar (~15 s)."""
    kotlinc = shutil.which("kotlinc")
    if kotlinc is None:
        raise PackageError(
            "kotlinc is not installed; install it (Debian: apt-get install kotlin) to check the app's Kotlin"
        )
    sources = [str(root / s) for s in (*CORE_SOURCES, DRIVER)]
    proc = subprocess.run(
        [kotlinc, *sources, "-include-runtime", "-d", str(jar)], capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0 or not jar.is_file():
        errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
        raise PackageError(f"kotlinc failed: {(errors or proc.stderr.splitlines() or ['no output'])[0][:300]}")
    return jar


def run_jvm_check(jar: Path, *args: str | Path) -> list[str]:
    """The driver's stdout lines (UTF-8; split on \\n only, as words may hold other separators)."""
    proc = subprocess.run(["java", "-cp", str(jar), MAIN_CLASS, *map(str, args)], capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise PackageError(f"jvm-check {args[0]} failed: {proc.stderr.decode(errors='replace')[-600:]}")
    return proc.stdout.decode("utf-8").split("\n")[:-1]


def texts_properties(texts: Sequence[str]) -> str:
    """Texts for the driver as a Properties file (count, 0, 1, ...): any text survives."""
    return properties_file({"count": str(len(texts))} | {str(i): t for i, t in enumerate(texts)}, "edgesdk texts")


def tokenizer_parity(
    jar: Path, tokenizer, texts: Sequence[str], max_length: int, workdir: Path, assets: Path | None = None
) -> dict:
    """Kotlin token ids vs edgesdk's Python Tokenizer on `texts`: counts and the first
    mismatches. Kotlin reads `assets` (a package's), else the tokenizer written to `workdir`
    by the packager's own asset writer."""

    workdir.mkdir(parents=True, exist_ok=True)
    if assets is None:
        write_tokenizer_assets(tokenizer, workdir, max_length)
    (workdir / "texts.properties").write_text(texts_properties(texts), encoding="ascii")
    kotlin = run_jvm_check(jar, "tokenize", assets or workdir, workdir / "texts.properties", max_length)
    python = [" ".join(map(str, ids)) for ids in tokenizer.encode(texts, max_length)]
    mismatches = [{"text": t, "kotlin": k, "python": p} for t, k, p in zip(texts, kotlin, python) if k != p]
    return {
        "matched": len(texts) - len(mismatches) if len(kotlin) == len(texts) else 0,
        "total": len(texts),
        "first_mismatches": mismatches[:5],
    }


def records_tsv(records: Sequence[dict]) -> str:
    """Golden-style records ({"ids" or "length", "stage_logits"}) as the driver's input lines:
    `length<TAB>stage;stage` with float reprs (exact for the float32 values they hold)."""
    lines = []
    for r in records:
        length = r["length"] if "length" in r else len(r["ids"])
        lines.append(f"{length}\t" + ";".join(",".join(repr(float(v)) for v in s) for s in r["stage_logits"]))
    return "\n".join(lines) + "\n"


def controller_decisions(jar: Path, assets: Path, records: Sequence[dict], workdir: Path) -> list[list]:
    """[exit_index, label, bucket] the Kotlin controller decides for each record (exit plan
    and labels read from `assets`)."""
    path = workdir / "records.tsv"
    path.write_text(records_tsv(records), encoding="ascii")
    return [[int(v) for v in line.split(" ")[:3]] for line in run_jvm_check(jar, "controller", assets, path)]


def benchmark_extras(jar: Path, am_args: Sequence[str]) -> dict[str, str]:
    """What BenchmarkActivity would read from an `am start` command line: the driver sets the
    `--es`/`--ei` extras as `am` does and reads them back through the app's BenchmarkOptions;
    returns component, model, texts, threads and warmup as strings."""
    lines = run_jvm_check(jar, "benchmark-extras", "-", *am_args)
    return dict(line.split("=", 1) for line in lines)
