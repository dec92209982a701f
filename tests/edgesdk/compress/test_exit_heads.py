import json

import numpy as np
import pytest
import torch
from edgesdk.converters.staging import StagedPlan, stage_methods

from edgesdk.compress.exit_heads import ExitHeads, calibrate, exit_logits
from edgesdk.exit_rule import NEVER, confidence, exit_taken
from tests.helpers import tiny_encoder


def test_confidence_is_higher_for_surer_outputs():
    probs = np.array([[0.5, 0.5], [0.9, 0.1], [0.99, 0.01]])
    for kind in ("maxprob", "entropy"):
        c = confidence(probs, kind)
        assert c[0] < c[1] < c[2] and 0 <= c.min() and c.max() <= 1


def test_exit_taken_is_the_first_confident_exit():
    confs = [np.array([0.9, 0.1, 0.1]), np.array([0.9, 0.95, 0.1])]
    assert exit_taken(confs, [0.8, 0.9]).tolist() == [0, 1, 2]
    assert exit_taken(confs, [NEVER, NEVER]).tolist() == [2, 2, 2]


def synthetic(n=2000, seed=0):
    """Exit 0 is right on confident rows only; exit 1 is right more often; final is best."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    probs = []
    for quality in (0.75, 0.85, 0.92):
        right = rng.random(n) < quality
        conf = np.where(right, rng.uniform(0.6, 1.0, n), rng.uniform(0.5, 0.8, n))
        pred = np.where(right, labels, 1 - labels)
        p = np.zeros((n, 2))
        p[np.arange(n), pred] = conf
        p[np.arange(n), 1 - pred] = 1 - conf
        probs.append(p)
    return probs, labels


def test_calibration_respects_the_budget_and_saves_layers():
    probs, labels = synthetic()
    for budget in (0.0, 0.005, 0.02):
        cal = calibrate(probs, labels, [1, 2, 4], "maxprob", budget)
        assert cal.accuracy >= cal.accuracy_no_exit - budget - 1e-12
        assert cal.avg_layers <= 4
    loose = calibrate(probs, labels, [1, 2, 4], "maxprob", 0.02)
    strict = calibrate(probs, labels, [1, 2, 4], "maxprob", 0.0)
    assert loose.avg_layers < 4 and loose.avg_layers <= strict.avg_layers


def test_calibration_holds_on_fresh_rows_from_the_same_distribution():
    probs, labels = synthetic(seed=0)
    cal = calibrate(probs, labels, [1, 2, 4], "maxprob", 0.01)
    fresh, fresh_labels = synthetic(seed=1)
    taken = exit_taken([confidence(p, "maxprob") for p in fresh[:-1]], cal.thresholds)
    preds = np.stack([p.argmax(-1) for p in fresh])[taken, np.arange(len(fresh_labels))]
    no_exit = np.mean(fresh[-1].argmax(-1) == fresh_labels)
    assert np.mean(preds == fresh_labels) >= no_exit - 0.01 - 0.01  # budget + sampling slack


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_chained_stages_compute_the_single_graph(head):
    model = tiny_encoder(seed=4, layers=3, dropout=0.0).eval()
    heads = ExitHeads(32, 2, 2, head).eval()
    plan = StagedPlan([8, 16], [1, 2], 3, [NEVER, NEVER], "maxprob")
    methods = stage_methods(model, heads, plan)
    ids = torch.randint(1000, 3000, (2, 16), dtype=torch.int32)
    mask = torch.ones(2, 16, dtype=torch.int32)
    mask[1, 10:] = 0
    with torch.no_grad():
        hidden, exit0 = methods["b16_s0"][0](ids, mask)
        hidden, exit1 = methods["b16_s1"][0](hidden, mask)
        final = methods["b16_s2"][0](hidden, mask)
        reference = exit_logits(model, heads, [1, 2], ids, mask)
        torch.testing.assert_close(final, model(ids, mask))
    for got, want in zip((exit0, exit1, final), reference):
        torch.testing.assert_close(got, want)
    # A stage holds only its own weights: the word table lives in stage 0 alone.
    assert any("word_embeddings" in k for k in methods["b8_s0"][0].state_dict())
    assert not any("word_embeddings" in k for k in methods["b8_s1"][0].state_dict())


def test_exit_heads_reload_as_the_kind_they_were_trained_as(tmp_path):
    from edgesdk.models.registry import write_safetensors
    from edgesdk.steps.exits import HEADS_FILE, INFO_FILE, load_exit_heads

    x = torch.randn(3, 32)
    for kind in ("mlp", "linear", None):  # None: exits.json written before `head` existed
        heads = ExitHeads(32, 2, 2, kind or "linear").eval()
        write_safetensors(heads.state_dict(), tmp_path / HEADS_FILE)
        (tmp_path / INFO_FILE).write_text(json.dumps({"layers": [1, 2], **({"head": kind} if kind else {})}))
        loaded, _ = load_exit_heads(tmp_path, 32, 2)
        assert loaded.kind == (kind or "linear")
        torch.testing.assert_close(loaded.heads[1](x), heads.heads[1](x))
    with pytest.raises(ValueError, match="unknown exit head"):
        ExitHeads(32, 2, 1, "tree")


def test_budget_confidence_makes_the_budget_hold_on_new_rows_more_often():
    """Point-estimate thresholds overshoot the budget on fresh rows about half the time; at
    0.95 confidence rarely, for a few more executed layers."""
    fresh = [synthetic(n=2000, seed=100 + i) for i in range(30)]

    def overshoots(level: float) -> tuple[int, float]:
        misses, layers = 0, []
        for seed in range(1, 11):
            probs, labels = synthetic(n=500, seed=seed)
            cal = calibrate(probs, labels, [1, 2, 4], "maxprob", 0.01, level)
            layers.append(cal.avg_layers)
            for f_probs, f_labels in fresh[seed - 1 :: 10]:
                taken = exit_taken([confidence(p, "maxprob") for p in f_probs[:-1]], cal.thresholds)
                right = np.stack([p.argmax(-1) for p in f_probs])[taken, np.arange(len(f_labels))] == f_labels
                misses += np.mean(right) < np.mean(f_probs[-1].argmax(-1) == f_labels) - 0.01
        return misses, float(np.mean(layers))

    point_misses, point_layers = overshoots(0.5)
    sure_misses, sure_layers = overshoots(0.95)
    assert point_misses >= 6 and sure_misses <= point_misses // 3, (point_misses, sure_misses)
    assert point_layers < sure_layers < 4
