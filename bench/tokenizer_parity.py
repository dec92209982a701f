"""Kotlin WordPiece tokenizer (the Android app's) vs the Python reference on whole data sets.

Compiles the app template's pure-Kotlin core with kotlinc, runs it on a JVM over every row of
SST-2 dev (bundled) and BANKING77 test (../shared/data, when present), for the teacher's
tokenizer and for the remapped and restricted tokenizers vocabulary pruning makes, and
writes matched/total per set. BANKING77 is not shipped with the package, so CI's test suite
covers it only where ../shared/data exists; this script is where its count is recorded.

    .venv/bin/python bench/tokenizer_parity.py [--out bench/results/tokenizer_parity.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from edgesdk.apps.jvm_check import compile_jvm_check, tokenizer_parity

from edgesdk.compress.vocab import plan_vocabulary, unseen_targets
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.tokenizer import Tokenizer
from tests.apps.conftest import BANKING77_TEST, banking77_test_texts, sst2_dev_texts


def tokenizers(texts) -> dict:
    teacher = Tokenizer.from_dir(default_teacher_dir())
    plan = plan_vocabulary(teacher, texts, min_count=2, max_size=None)
    new_index = np.full(plan.before, -1)
    new_index[plan.keep] = np.arange(len(plan.keep))
    remapped = teacher.remapped(new_index[unseen_targets(None, plan, teacher, "unk")])
    return {"teacher": teacher, "remapped": remapped, "restricted": teacher.restricted(plan.keep)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/tokenizer_parity.json"))
    parser.add_argument("--max-length", type=int, default=512)
    args = parser.parse_args()
    sets = {"sst2-dev": sst2_dev_texts()}
    if BANKING77_TEST.exists():
        sets["banking77-test"] = banking77_test_texts()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        jar = compile_jvm_check(Path(tmp) / "check.jar")
        results["compile_s"] = round(time.perf_counter() - start, 1)
        for kind, tokenizer in tokenizers(sets["sst2-dev"]).items():
            for name, texts in sets.items():
                r = tokenizer_parity(jar, tokenizer, texts, args.max_length, Path(tmp) / kind / name)
                results[f"{kind}/{name}"] = {
                    "matched": r["matched"],
                    "total": r["total"],
                    "vocab_ids": len(set(tokenizer.vocabulary().values())),
                }
                print(f"{kind:10s} {name:15s} {r['matched']}/{r['total']}", flush=True)
                for m in r["first_mismatches"]:
                    print("   mismatch:", json.dumps(m, ensure_ascii=False)[:300])
    if not BANKING77_TEST.exists():
        results["banking77-test"] = f"not run: {BANKING77_TEST} is missing"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
