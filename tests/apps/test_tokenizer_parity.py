"""The app's Kotlin WordPiece tokenizer gives the Python reference's ids, on whole data sets
and on hand-made hard cases, for the teacher's tokenizer and both kinds of pruned ones."""

from __future__ import annotations

import numpy as np
import pytest

from edgesdk.apps.jvm_check import tokenizer_parity
from edgesdk.compress.vocab import plan_vocabulary, unseen_targets
from tests.apps.conftest import BANKING77_TEST, banking77_test_texts, sst2_dev_texts

HARD_CASES = [
    "Café naïve résumé Ångström façade",
    "北京欢迎你 and 東京タワー 한국어",
    "I ❤️ emoji 😀👍🏽 🇫🇷 family 👨‍👩‍👧",
    "a" * 101,
    "é" * 100 + " " + "😀" * 101,  # 100 accented letters: one word; 101 emoji (202 chars in Java)
    "x\u0000y\u0001z\ufffd\u200b w\u00ad\u2060v",
    "İstanbul İ ı ẞ ß Σίσυφος ΣΑΣ",
    "e\u0301 n\u0303 a\u0308\u0304 \u0301alone",
    "مرحبا بالعالم! שלום, עולם. \u200fRTL\u200e",
    "hello [MASK] [mask] x[CLS]y [SEP][SEP] [UNK]",
    "\u00a0nbsp\u2007figure\u202fnarrow\u3000ideographic\u0085nel\u000bvt",
    "tab\there\nnew\rline\r\n",
    "𠀀𠀁 𪜀 \U0002B820 \U0002CEB0 豈",
    "¡¿punctuation?! «quotes» “curly” — dash… ‰ § ¶ · ・ 、。",
    "$100 + 50% = ^_^ ~ `code` {json: [1,2]} <tag/> a|b \\ back",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "",
    "   ",
]


@pytest.fixture(scope="module")
def tokenizers(teacher_tokenizer):
    """The teacher's tokenizer, a remapped one (pruned tokens -> [UNK], several strings per id)
    and a restricted one (a smaller vocabulary, renumbered), planned on real SST-2 text."""
    plan = plan_vocabulary(teacher_tokenizer, sst2_dev_texts(), min_count=2, max_size=None)
    new_index = np.full(plan.before, -1)
    new_index[plan.keep] = np.arange(len(plan.keep))
    remapped = teacher_tokenizer.remapped(new_index[unseen_targets(None, plan, teacher_tokenizer, "unk")])
    return {"teacher": teacher_tokenizer, "remapped": remapped, "restricted": teacher_tokenizer.restricted(plan.keep)}


def data_sets() -> dict:
    sets = {"sst2-dev": sst2_dev_texts(), "hard-cases": HARD_CASES}
    if BANKING77_TEST.exists():
        sets["banking77-test"] = banking77_test_texts()
    return sets


@pytest.mark.parametrize("kind", ["teacher", "remapped", "restricted"])
def test_kotlin_ids_equal_python_ids_on_every_row(kind, tokenizers, jvm_jar, tmp_path):
    sets = data_sets()
    texts = [t for rows in sets.values() for t in rows]
    result = tokenizer_parity(jvm_jar, tokenizers[kind], texts, 512, tmp_path)
    assert result["total"] == len(texts) >= 872 + len(HARD_CASES)
    assert result["matched"] == result["total"], result["first_mismatches"]


def test_truncation_keeps_the_final_sep(tokenizers, jvm_jar, tmp_path):
    texts = sst2_dev_texts()[:200] + HARD_CASES
    result = tokenizer_parity(jvm_jar, tokenizers["teacher"], texts, 8, tmp_path)
    assert result["matched"] == result["total"], result["first_mismatches"]


def test_a_pruned_vocabulary_really_shares_ids(tokenizers):
    """The remapped case above is only a test of the (token, id) format if ids are shared."""
    from edgesdk.apps.wordpiece import WordPieceSpec

    spec = WordPieceSpec.from_tokenizer(tokenizers["remapped"])
    assert len({i for _, i in spec.vocab}) < len(spec.vocab) // 2


@pytest.mark.skipif(not BANKING77_TEST.exists(), reason="BANKING77 is in ../shared/data only on dev machines")
def test_banking77_is_part_of_the_parity_set():
    assert len(data_sets()["banking77-test"]) == 3080
