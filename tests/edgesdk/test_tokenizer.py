"""A WordPiece vocabulary learned on the task's texts: reproducible across processes (the
trainer's id order is not), special tokens first, the teacher's normalization, and rows of a
learned table start from the teacher's rows for the same characters."""

import subprocess
import sys

import torch

from edgesdk.compress.vocab import learned_rows
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.tokenizer import Tokenizer
from tests.conftest import sst2_rows

TEXTS = [line.split("\t")[0] for line in sst2_rows("train", 300)[1:]]
LEARN = """
import json, sys
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.tokenizer import Tokenizer
from tests.conftest import sst2_rows
texts = [line.split("\\t")[0] for line in sst2_rows("train", 300)[1:]]
print(json.dumps(Tokenizer.from_dir(default_teacher_dir()).learned(texts, 500).vocabulary(), sort_keys=True))
"""


def test_a_learned_vocabulary_is_the_same_in_every_process():
    seen = {
        subprocess.run(
            [sys.executable, "-c", LEARN], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": seed}
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(seen) == 1


def test_a_learned_vocabulary_keeps_the_specials_and_covers_its_texts():
    teacher = Tokenizer.from_dir(default_teacher_dir())
    learned = teacher.learned(TEXTS, 500)
    assert 100 < learned.vocab_size <= 500 and learned.pad_id == 0
    vocab = learned.vocabulary()
    assert [vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 1, 2, 3, 4]
    assert learned.special_ids() == {0, 1, 2, 3, 4}
    rows = learned.encode(TEXTS, 512)
    assert all(r[0] == vocab["[CLS]"] and r[-1] == vocab["[SEP]"] for r in rows)
    assert not any(vocab["[UNK]"] in r for r in rows)  # every character of the texts is in it
    assert learned.encode(["A Wonderful FILM"], 16) == learned.encode(["a wonderful film"], 16)  # lowercased


def test_learned_rows_start_from_the_teachers_rows_for_the_same_characters():
    teacher = Tokenizer.from_dir(default_teacher_dir())
    learned = teacher.learned(TEXTS, 500)
    table = torch.randn(teacher.vocab_size, 4)
    rows = learned_rows(table, teacher, learned)
    assert rows.shape == (learned.vocab_size, 4)
    teacher_vocab = teacher.vocabulary()
    for piece, i in learned.vocabulary().items():
        if piece in teacher_vocab:
            torch.testing.assert_close(rows[i], table[teacher_vocab[piece]])
        else:
            ids = teacher.pieces_of(piece.removeprefix("##"))
            torch.testing.assert_close(rows[i], table[torch.tensor(ids)].mean(0))
