"""The app's Kotlin WordPiece tokenizer gives the Python reference's ids, on whole data sets
and on hand-made hard cases, for the teacher's tokenizer, both kinds of pruned ones and one
learned on the task's texts."""

from __future__ import annotations

import pytest
from edgesdk.apps.jvm_check import tokenizer_parity

from tests.apps.conftest import HARD_CASES, data_sets, sst2_dev_texts


@pytest.mark.parametrize("kind", ["teacher", "remapped", "restricted", "learned"])
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
    from edgesdk.ondevice.wordpiece import WordPieceSpec

    spec = WordPieceSpec.from_tokenizer(tokenizers["remapped"])
    assert len({i for _, i in spec.vocab}) < len(spec.vocab) // 2


def test_banking77_is_part_of_the_parity_set():
    assert len(data_sets()["banking77-test"]) == 3080
