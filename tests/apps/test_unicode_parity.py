"""The app tokenizers (Kotlin on the JVM, C compiled for this machine) give HF `tokenizers`' ids
on a corpus holding every assigned Unicode code point (tests/apps/unicode_corpus.py), with the
teacher's vocabulary and with a character vocabulary whose ids spell out the normalized text
(uncased and cased). Both read tables generated from HF (edgesdk/ondevice/mcu_tables.py); before, with the
uncased character vocabulary, Kotlin (java.text.Normalizer, Character) disagreed on 3,115 of
these sentences and C (per-code-point tables, no mark reordering) on 585."""

from __future__ import annotations

import unicodedata

import pytest
from edgesdk.apps.jvm_check import tokenizer_parity

from tests.apps.conftest import c_token_ids
from tests.apps.unicode_corpus import (
    THEMED,
    assigned_code_points,
    char_tokenizer,
    corpus,
    covered_code_points,
    kept_marks,
)

MAX_LENGTH = 4096  # the C host driver's limit: whole sentences, never truncated here
CORE = "apps/android_template/edgesdk/src/main/kotlin/dev/edgesdk"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [text for _, text in corpus()]


@pytest.fixture(scope="module")
def corpus_tokenizers(teacher_tokenizer, texts) -> dict:
    return {
        "teacher": teacher_tokenizer,
        "chars": char_tokenizer(texts),
        "chars-cased": char_tokenizer(texts, lowercase=False),
    }


def test_the_corpus_covers_every_assigned_code_point_and_each_class(texts):
    assigned = {cp for points in assigned_code_points().values() for cp in points}
    covered = covered_code_points(texts)
    assert len(assigned) > 280_000 and not assigned - covered
    assert {"accents", "cjk", "combining", "emoji", "rtl", "control-format", "nfkc-sensitive"} <= set(THEMED)
    assert {"Mn", "Mc", "Cf", "Cc", "Co", "Lo", "So", "Po", "Zs"} <= set(assigned_code_points())
    print(f"unicode corpus: {len(texts)} sentences, {len(covered)} code points ({len(assigned)} assigned)")


def test_the_corpus_holds_marks_that_hf_reorders(texts):
    """The corpus only tests canonical reordering if HF's output for some of its words is not
    the concatenation of each character's output: count those words."""
    from tokenizers.normalizers import BertNormalizer

    normalizer = BertNormalizer(lowercase=True)
    words = {w for text in texts for w in text.split(" ")}
    reordered = [w for w in words if normalizer.normalize_str(w) != "".join(normalizer.normalize_str(c) for c in w)]
    marks = kept_marks()
    assert len(marks) > 80 and len(reordered) > 1000
    assert "x\U0001d16d\U0001d165" in reordered and "x\U0001d16d\u0941\U0001d165" not in reordered


def test_mark_ranks_follow_the_combining_classes_python_knows():
    """The ranks are probed from HF's NFD; Python's unicodedata (another source, another Unicode
    version) must order every mark both know the same way."""
    from edgesdk.ondevice.mcu_tables import normalizer_tables

    ranks = {
        cp: rank
        for first, last, rank in normalizer_tables(True, True, True, True).marks
        for cp in range(first, last + 1)
    }
    classes = {cp: unicodedata.combining(chr(cp)) for cp in ranks}
    assert len(ranks) > 80 and all(classes.values())
    for a in ranks:
        for b in ranks:
            assert (ranks[a] < ranks[b]) == (classes[a] < classes[b]), (hex(a), hex(b))


@pytest.mark.parametrize("kind", ["teacher", "chars", "chars-cased"])
def test_kotlin_ids_equal_hf_on_the_unicode_corpus(kind, corpus_tokenizers, texts, jvm_jar, tmp_path):
    result = tokenizer_parity(jvm_jar, corpus_tokenizers[kind], texts, MAX_LENGTH, tmp_path)
    print(f"kotlin {kind}: {result['matched']}/{result['total']}")
    assert result["total"] == len(texts) > 14_000
    assert result["matched"] == result["total"], result["first_mismatches"]


@pytest.mark.parametrize("kind", ["teacher", "chars", "chars-cased"])
def test_c_ids_equal_hf_on_the_unicode_corpus(kind, corpus_tokenizers, texts, tmp_path):
    tokenizer = corpus_tokenizers[kind]
    got, _ = c_token_ids(tokenizer, texts, MAX_LENGTH, tmp_path)
    want = tokenizer.encode(texts, MAX_LENGTH)
    mismatches = [(texts[i], g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
    print(f"c {kind}: {len(texts) - len(mismatches)}/{len(texts)}")
    assert len(got) == len(texts) and not mismatches, mismatches[:3]


def test_the_kotlin_core_asks_java_no_unicode_question():
    """Java's Normalizer and Character classes are another Unicode version than HF's: the
    tokenizer may use Character only for UTF-16 mechanics (charCount, toChars)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / CORE
    source = (root / "WordPieceTokenizer.kt").read_text(encoding="utf-8")
    for banned in ("java.text.Normalizer", "Normalizer.", "getType", "toLowerCase", "isWhitespace(", "isLetter"):
        assert banned not in source, banned
    assert "BertTables.read" in (root / "Assets.kt").read_text(encoding="utf-8")


def test_tables_for_other_normalizer_flags_are_refused(teacher_tokenizer, jvm_jar, tmp_path):
    """A tokenizer.properties edited after packaging must not silently run with the old tables."""
    from edgesdk.apps.assets import write_tokenizer_assets
    from edgesdk.apps.jvm_check import run_jvm_check, texts_properties

    from edgesdk.errors import PackageError

    write_tokenizer_assets(teacher_tokenizer, tmp_path, 16)
    props = tmp_path / "tokenizer.properties"
    props.write_text(
        props.read_text(encoding="ascii").replace("strip_accents=true", "strip_accents=false"), encoding="ascii"
    )
    (tmp_path / "texts.properties").write_text(texts_properties(["x"]), encoding="ascii")
    with pytest.raises(PackageError, match="other normalizer settings"):
        run_jvm_check(jvm_jar, "tokenize", tmp_path, tmp_path / "texts.properties", 16)
