"""QAT's training data: the model's own ids, and the teacher's soft labels computed from the
teacher's tokenization of the same texts (the model's vocabulary may be cut or remapped)."""

import numpy as np
import torch

from edgesdk.compress.vocab import plan_vocabulary
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.models.registry import save_model
from edgesdk.steps.quantize import qat_data
from edgesdk.tokenizer import Tokenizer
from edgesdk.train import predict_logits
from tests.conftest import sst2_rows
from tests.helpers import tiny_encoder


def test_the_teacher_labels_its_own_tokenization_when_the_model_vocabulary_is_cut(tmp_path):
    teacher_tokenizer = Tokenizer.from_dir(default_teacher_dir())
    texts = [line.split("\t")[0] for line in sst2_rows("train", 40)[1:]]
    cut = teacher_tokenizer.restricted(plan_vocabulary(teacher_tokenizer, texts[:20], 1, None).keep)
    teacher = tiny_encoder(dropout=0.0).eval()
    save_model(teacher, tmp_path)
    data = qat_data(texts, cut, teacher, teacher_tokenizer, 32, tmp_path)
    expected = predict_logits(teacher, teacher_tokenizer, texts, 32)
    np.testing.assert_allclose(data.soft.numpy(), expected, atol=1e-4)
    ids, mask = cut.pad(cut.encode(texts, 32), 32)
    assert torch.equal(data.ids, torch.from_numpy(ids)) and torch.equal(data.mask, torch.from_numpy(mask))
    # the cut vocabulary's ids are other tokens to the teacher: labels from them would differ
    assert not np.allclose(predict_logits(teacher, cut, texts, 32), expected, atol=1e-3)
