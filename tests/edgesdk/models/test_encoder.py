"""Parity of edgesdk's Encoder with transformers (DESIGN §4: max abs diff <= 1e-5, fp32)."""

import pytest
import torch
from transformers import BertForSequenceClassification, BertModel

from edgesdk.errors import TeacherError
from edgesdk.models.hf_import import import_hf_bert
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.models.registry import load_model, save_model
from tests.helpers import save_tiny_bert

PARITY_TOL = 1e-5


def padded_batch(vocab: int, seed: int, batch: int = 4, length: int = 40):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (batch, length), generator=g)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[1, 17:] = 0
    mask[2, 3:] = 0
    mask[3, length - 1 :] = 0
    return ids, mask


def max_hidden_diff(hf_dir, seeds) -> list[float]:
    hf = BertModel.from_pretrained(hf_dir).eval()
    ours = import_hf_bert(hf_dir).encoder
    worst = []
    for seed in seeds:
        ids, mask = padded_batch(hf.config.vocab_size, seed)
        with torch.no_grad():
            theirs = hf(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
            mine = ours.hidden_states(ids, mask)
        assert len(theirs) == len(mine)
        worst.append(max(float((a - b).abs().max()) for a, b in zip(theirs, mine)))
    return worst


def test_parity_tiny_random_bert(tmp_path):
    save_tiny_bert(tmp_path, vocab_size=120, hidden=32, layers=3, heads=4, ffn=48, tokenizer=False)
    diffs = max_hidden_diff(tmp_path, range(5))
    print("tiny BERT max abs hidden-state diff per batch:", diffs)
    assert max(diffs) <= PARITY_TOL


def test_parity_real_minilm_teacher():
    diffs = max_hidden_diff(default_teacher_dir(), range(3))
    print("MiniLM max abs hidden-state diff per batch:", diffs)
    assert max(diffs) <= PARITY_TOL


def test_sequence_classification_checkpoint_keeps_its_head(tmp_path):
    save_tiny_bert(tmp_path, vocab_size=100, ffn=40, labels={0: "neg", 1: "neu", 2: "pos"}, tokenizer=False)
    hf = BertForSequenceClassification.from_pretrained(tmp_path).eval()
    ckpt = import_hf_bert(tmp_path)
    assert ckpt.has_head and ckpt.labels == ("neg", "neu", "pos")
    ids, mask = padded_batch(100, 0)
    with torch.no_grad():
        diff = (hf(input_ids=ids, attention_mask=mask).logits - ckpt.encoder(ids, mask)).abs().max()
    assert float(diff) <= PARITY_TOL
    assert not import_hf_bert(tmp_path, drop_head=True).has_head


def test_save_load_round_trip_is_exact(tmp_path):
    model = import_hf_bert(default_teacher_dir()).encoder
    save_model(model, tmp_path)
    again = load_model(tmp_path)
    ids, mask = padded_batch(30522, 1)
    with torch.no_grad():
        assert torch.equal(model(ids, mask), again(ids, mask))


def test_padding_does_not_change_logits():
    model = import_hf_bert(default_teacher_dir()).encoder
    ids = torch.randint(1, 30522, (1, 12), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        short = model(ids, torch.ones_like(ids))
        padded_ids = torch.cat([ids, torch.zeros(1, 20, dtype=ids.dtype)], 1)
        padded_mask = torch.cat([torch.ones_like(ids), torch.zeros(1, 20, dtype=ids.dtype)], 1)
        long = model(padded_ids, padded_mask)
    assert float((short - long).abs().max()) < 1e-5


@pytest.mark.parametrize(
    "breakage, needle",
    [
        ("no_dir", "does not exist"),
        ("no_config", "no config.json"),
        ("bad_json", "not valid JSON"),
        ("wrong_type", "model_type 'gpt2'"),
        ("no_weights", "no model.safetensors"),
        ("truncated_weights", "cannot read teacher weights"),
        ("shape_mismatch", "shapes do not match"),
    ],
)
def test_unreadable_teacher_dirs(tmp_path, breakage, needle):
    torch.manual_seed(0)
    d = tmp_path / "t"
    save_tiny_bert(d, vocab_size=50, hidden=16, layers=1, ffn=16, tokenizer=False)
    cfg = d / "config.json"
    if breakage == "no_dir":
        d = tmp_path / "missing"
    elif breakage == "no_config":
        cfg.unlink()
    elif breakage == "bad_json":
        cfg.write_text("{nope")
    elif breakage == "wrong_type":
        cfg.write_text(cfg.read_text().replace('"bert"', '"gpt2"'))
    elif breakage == "no_weights":
        (d / "model.safetensors").unlink()
    elif breakage == "truncated_weights":
        w = d / "model.safetensors"
        w.write_bytes(w.read_bytes()[:100])
    elif breakage == "shape_mismatch":
        cfg.write_text(cfg.read_text().replace('"intermediate_size": 16', '"intermediate_size": 32'))
    with pytest.raises(TeacherError, match=needle):
        import_hf_bert(d)


def test_pickled_bin_with_payload_is_refused(tmp_path):
    import pickle

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    d = tmp_path / "t"
    save_tiny_bert(d, vocab_size=50, hidden=16, layers=1, ffn=16, tokenizer=False)
    (d / "model.safetensors").unlink()
    with open(d / "pytorch_model.bin", "wb") as fh:
        pickle.dump({"x": Payload()}, fh)
    with pytest.raises(TeacherError, match="cannot read teacher weights"):
        import_hf_bert(d)
