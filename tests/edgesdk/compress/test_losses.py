"""Each loss: zero when the student reproduces the teacher, positive otherwise, and its
gradient reaches the student only."""

import pytest
import torch

from edgesdk.compress.losses import attention_kl, hidden_mse, kd_loss, relation_kl
from edgesdk.models.mapping import layer_map
from tests.helpers import tiny_encoder


def encoder(seed, hidden=32, heads=4, layers=2):
    return tiny_encoder(seed, vocab_size=50, hidden=hidden, heads=heads, layers=layers, dropout=0.0).eval()


IDS = torch.randint(1, 50, (3, 10), generator=torch.Generator().manual_seed(0))
MASK = torch.ones(3, 10, dtype=torch.long)
MASK[1, 6:] = 0


def traces(student, teacher):
    return student.trace(IDS, MASK), teacher.trace(IDS, MASK)


def all_losses(s, t, proj=None):
    return {
        "kd": kd_loss(s.logits, t.logits, 2.0),
        "hidden": hidden_mse(s.hidden_states[1], t.hidden_states[1], MASK, proj),
        "attention": attention_kl(s.attentions[0].probs, t.attentions[0].probs, MASK),
        "minilm_qk": relation_kl(
            s.attentions[-1].query, s.attentions[-1].key, t.attentions[-1].query, t.attentions[-1].key, MASK, 4
        ),
        "minilm_vv": relation_kl(
            s.attentions[-1].value, s.attentions[-1].value, t.attentions[-1].value, t.attentions[-1].value, MASK, 4
        ),
    }


def test_every_loss_is_zero_for_identical_internals():
    teacher = encoder(0)
    twin = encoder(0)
    for name, value in all_losses(*traces(twin, teacher)).items():
        assert abs(float(value)) < 1e-6, name


def test_every_loss_is_positive_for_a_different_student():
    for name, value in all_losses(*traces(encoder(1), encoder(0))).items():
        assert float(value) > 1e-4, name


def test_gradients_reach_the_student_only():
    student, teacher = encoder(1), encoder(0)
    student.train()
    s, t = traces(student, teacher)
    sum(all_losses(s, t).values()).backward()
    assert all(p.grad is None for p in teacher.parameters())
    grads = [p.grad for n, p in student.named_parameters() if n.startswith("layers.")]
    assert all(g is not None and float(g.abs().sum()) > 0 for g in grads[:4])


def test_losses_work_across_widths_and_head_counts():
    student, teacher = encoder(1, hidden=16, heads=2, layers=1), encoder(0, hidden=32, heads=4)
    s, t = traces(student, teacher)
    proj = torch.nn.Linear(16, 32)
    assert float(hidden_mse(s.hidden_states[1], t.hidden_states[2], MASK, proj)) > 0
    assert float(attention_kl(s.attentions[0].probs, t.attentions[1].probs, MASK)) > 0  # head-averaged
    assert (
        float(
            relation_kl(s.attentions[0].query, s.attentions[0].key, t.attentions[1].query, t.attentions[1].key, MASK, 2)
        )
        > 0
    )


def test_padding_does_not_count():
    student, teacher = encoder(1), encoder(0)
    s, t = traces(student, teacher)
    base = float(hidden_mse(s.hidden_states[1], t.hidden_states[1], MASK))
    moved = t.hidden_states[1].clone()
    moved[1, 6:] += 100.0  # only padded positions change
    assert float(hidden_mse(s.hidden_states[1], moved, MASK)) == pytest.approx(base)


def test_kd_temperature_and_sign():
    logits = torch.tensor([[2.0, -1.0]])
    assert float(kd_loss(logits, logits, 4.0)) == pytest.approx(0.0, abs=1e-5)  # T^2-scaled rounding
    assert float(kd_loss(logits, -logits, 1.0)) > float(kd_loss(logits, -logits * 0.5, 1.0))


@pytest.mark.parametrize(
    "strategy, expected",
    [
        ("uniform", [2, 4, 6]),
        ("last", [4, 5, 6]),
        ("bottom", [1, 2, 3]),
        ([0, 3, 6], [0, 3, 6]),
    ],
)
def test_layer_maps(strategy, expected):
    assert layer_map(3, 6, strategy) == expected


def test_bad_layer_maps():
    with pytest.raises(ValueError):
        layer_map(3, 6, [1, 2])
    with pytest.raises(ValueError):
        layer_map(8, 6, "uniform")
