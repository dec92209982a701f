import gzip

import numpy as np
import pytest
import torch

from edgesdk.compress.structured import (
    Plan,
    gates,
    heads_to_keep,
    importance,
    importance_batches,
    neurons_to_keep,
    prune_structure,
    slice_encoder,
)
from edgesdk.compress.vocab import plan_vocabulary, prune_vocabulary
from edgesdk.errors import RecipeError
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.models.registry import param_count
from edgesdk.recipe import PruneConfig, TeacherConfig
from edgesdk.task import Split, demo_data_paths
from edgesdk.tokenizer import Tokenizer
from edgesdk.train import fine_tune
from tests.helpers import tiny_encoder


def sst2(split: str, n: int) -> Split:
    train, dev = demo_data_paths()
    rows = gzip.decompress((train if split == "train" else dev).read_bytes()).decode().splitlines()[1 : n + 1]
    texts, labels = zip(*(r.rsplit("\t", 1) for r in rows))
    return Split(tuple(texts), tuple(int(x) for x in labels))


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_dir(default_teacher_dir())


@pytest.fixture(scope="module")
def trained(tok):
    """A 2-layer x 4-head encoder trained on 600 real SST-2 rows (seconds on 2 cores)."""
    model = tiny_encoder(seed=1, hidden=32, heads=4, ffn=48, dropout=0.0)
    train = sst2("train", 600)
    fine_tune(
        model,
        tok,
        train,
        TeacherConfig(epochs=4, batch_size=16, learning_rate=3e-3, freeze_word_embeddings=False, max_length=32),
        seed=0,
    )
    return model.eval(), train


def _logits(model, tok, texts, length=32):
    ids, mask = tok.pad(tok.encode(texts, length), length)
    with torch.no_grad():
        return model(torch.from_numpy(ids), torch.from_numpy(mask))


def test_sliced_encoder_is_smaller_and_equals_the_gated_one(tok):
    model = tiny_encoder(seed=3, heads=4, ffn=48, dropout=0.0).eval()
    plan = Plan([0, 1], [[0, 2], [1, 2, 3]], [list(range(0, 48, 2)), list(range(40))])
    pruned = slice_encoder(model, plan)
    assert [s.heads for s in pruned.config.layers] == [2, 3]
    assert [s.ffn for s in pruned.config.layers] == [24, 40]
    assert pruned.layers[0].attention.query.weight.shape == (2 * model.config.head_dim, 32)
    assert pruned.layers[1].ffn.down.weight.shape == (32, 40)
    assert param_count(pruned) < param_count(model)
    texts = sst2("dev", 16).texts
    with gates(model) as all_gates:  # zero the removed heads/neurons in the full model
        with torch.no_grad():
            for layer_gate, kept in zip(all_gates, plan.heads + plan.neurons):
                mask = torch.zeros_like(layer_gate)
                mask[kept] = 1.0
                layer_gate.copy_(mask)
        gated = _logits(model, tok, texts)
    torch.testing.assert_close(_logits(pruned, tok, texts), gated, atol=1e-5, rtol=1e-5)


def test_dropping_a_layer_renumbers_the_rest(tok):
    model = tiny_encoder(seed=3, layers=3, dropout=0.0).eval()
    full = [list(range(4)), list(range(48))]
    pruned = slice_encoder(model, Plan([0, 2], [full[0]] * 2, [full[1]] * 2))
    assert pruned.config.num_layers == 2
    torch.testing.assert_close(pruned.layers[1].ffn.up.weight, model.layers[2].ffn.up.weight)


def test_global_head_ranking_keeps_one_head_per_layer():
    scores = [torch.tensor([0.1, 0.2]), torch.tensor([5.0, 4.0, 0.01, 3.0])]
    keep = heads_to_keep(scores, remove=4)
    assert sum(map(len, keep)) == 2 and all(keep)
    assert keep[1] == [0]  # layer 1's strongest head survives
    assert neurons_to_keep([torch.tensor([3.0, 1.0, 2.0, 0.5])], [2]) == [[0, 2]]


def test_least_important_head_changes_outputs_less_than_the_others(trained, tok):
    model, train = trained
    batches = importance_batches(tok, train.texts, train.labels, 400, 32, seed=0)
    scores = importance(model, batches)
    assert all(layer.attention.head_gate is None for layer in model.layers)  # gates removed
    dev = sst2("dev", 200).texts
    reference = torch.softmax(_logits(model, tok, dev), -1)
    full = [list(range(4)), list(range(4))]
    changes = {}
    for li in range(2):
        for h in range(4):
            heads = [list(x) for x in full]
            heads[li].remove(h)
            pruned = slice_encoder(model, Plan([0, 1], heads, [list(range(48))] * 2))
            changes[(li, h)] = float((torch.softmax(_logits(pruned, tok, dev), -1) - reference).abs().sum(-1).mean())
    normalized = {(li, h): float(scores.heads[li][h] / scores.heads[li].norm()) for li, h in changes}
    least = min(normalized, key=normalized.get)
    others = [v for k, v in changes.items() if k != least]
    assert changes[least] < np.mean(others), (least, changes)


def test_iterative_pruning_reaches_the_targets_and_records_history(trained, tok):
    model, train = trained
    batches = importance_batches(tok, train.texts, train.labels, 128, 32, seed=0)
    recovered = []
    cfg = PruneConfig(heads=0.5, ffn=0.5, iterations=2, layers=[], ffn_multiple=8)
    result = prune_structure(model, cfg, batches, lambda m, it: recovered.append(it) or {"steps": 0}, lambda m: 0.5)
    info = result.info
    assert info["heads_removed"] == 4 and info["heads_total"] == 8
    assert info["ffn_per_layer"] == [24, 24] and info["ffn_removed"] == 48
    assert recovered == [1, 2] and [h["stage"] for h in info["history"]] == ["before", "iteration 1", "iteration 2"]
    assert param_count(result.model) < param_count(model)


def test_prune_settings_that_cannot_apply_are_recipe_errors(trained):
    model, _ = trained
    with pytest.raises(RecipeError, match="out of range"):
        prune_structure(model, PruneConfig(layers=[5]), [], None, lambda m: 0.0)
    with pytest.raises(RecipeError, match="all 2 layers"):
        prune_structure(model, PruneConfig(layers=[0, 1]), [], None, lambda m: 0.0)
    from edgesdk.models.small import CNNClassifier, CNNConfig

    with pytest.raises(RecipeError, match="encoder student"):
        prune_structure(CNNClassifier(CNNConfig(vocab_size=100)), PruneConfig(heads=0.5), [], None, lambda m: 0.0)


@pytest.mark.parametrize("unseen", ["pieces", "unk", "nearest"])
def test_vocabulary_pruning_keeps_training_tokenization_and_outputs(trained, tok, unseen, tmp_path):
    model, train = trained
    plan = plan_vocabulary(tok, train.texts, min_count=1, max_size=None)
    pruned, small_tok = prune_vocabulary(model, tok, plan, unseen)
    assert pruned.word_embeddings.weight.shape[0] == len(plan.keep) < tok.vocab_size // 5
    assert {0, 100, 101, 102, 103} <= set(plan.keep) and small_tok.pad_id == 0
    old_ids = np.array(plan.keep)
    for before, after in zip(tok.encode(train.texts, 64), small_tok.encode(train.texts, 64)):
        assert max(after) < len(plan.keep) and old_ids[after].tolist() == before
    torch.testing.assert_close(_logits(pruned, small_tok, train.texts[:64]), _logits(model, tok, train.texts[:64]))
    # What ships is the saved file: it must tokenize exactly as the in-memory tokenizer.
    small_tok.save(tmp_path)
    reloaded = Tokenizer.from_dir(tmp_path)
    probe = list(train.texts[:50]) + ["an unseen xylophonist gives a ponderous recital"]
    assert reloaded.encode(probe, 64) == small_tok.encode(probe, 64)
    # A word never seen in training: its pieces go where `unseen` says.
    word = "xylophonist"
    full = tok.encode([word], 16)[0]
    mapped = old_ids[small_tok.encode([word], 16)[0]].tolist()
    dropped = [i for i in full if i not in set(plan.keep)]
    assert dropped, "the probe word must use a pruned piece"
    if unseen == "pieces":
        assert small_tok.vocab_size == len(plan.keep) and all(i in set(plan.keep) for i in mapped)
    else:
        assert len(mapped) == len(full)  # same pieces, other ids
        replaced = [m for f, m in zip(full, mapped) if f not in set(plan.keep)]
        if unseen == "unk":
            assert set(replaced) == {100}
        else:  # nearest: the kept non-special token whose vector is closest
            table = torch.nn.functional.normalize(model.word_embeddings.weight.detach(), dim=1)
            candidates = [i for i in plan.keep if i not in tok.special_ids()]
            for f, m in zip(dropped, replaced):
                assert m == candidates[int((table[f] @ table[candidates].T).argmax())]
    capped = plan_vocabulary(tok, train.texts, min_count=1, max_size=100)
    assert len(capped.keep) == 100 + capped.special
