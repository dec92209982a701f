"""BERT-of-Theseus: the hybrid runs teacher blocks or their student successors, the rate
rises to 1 on schedule, and a distillation with a replacement stage trains the student."""

import pytest
import torch

from edgesdk.compress.distill import distill
from edgesdk.compress.theseus import RisingRate, TheseusHybrid
from edgesdk.errors import RecipeError
from edgesdk.models.student_families import build_student
from edgesdk.recipe import DistillConfig, StudentConfig, TheseusConfig
from tests.edgesdk.compress.test_distill import SPLIT, _accuracy, teacher, tok  # noqa: F401  (fixtures)
from tests.helpers import tiny_encoder

IDS = torch.randint(1, 500, (3, 12), generator=torch.Generator().manual_seed(0))
MASK = torch.ones_like(IDS)


def pair():
    big = tiny_encoder(seed=1, vocab_size=500, hidden=32, heads=2, ffn=64, layers=4, dropout=0.0).eval()
    small = tiny_encoder(seed=2, vocab_size=500, hidden=32, heads=2, ffn=64, layers=2, dropout=0.0)
    return small, big


def by_hand(student, big, use_student: list[bool]) -> torch.Tensor:
    bias = student.attention_bias(MASK)
    hidden = student.embed(IDS)
    for i, own in enumerate(use_student):
        for layer in [student.layers[i]] if own else big.layers[2 * i : 2 * i + 2]:
            hidden = layer(hidden, bias)
    return student.classify(hidden, MASK)


def test_the_hybrid_runs_each_block_as_big_layers_or_their_successor():
    student, big = pair()
    hybrid = TheseusHybrid(student, big, seed=0)
    student.train()
    with torch.no_grad():
        hybrid.rate = 0.0
        torch.testing.assert_close(hybrid(IDS, MASK), by_hand(student, big, [False, False]))
        hybrid.rate = 1.0
        torch.testing.assert_close(hybrid(IDS, MASK), by_hand(student, big, [True, True]))
        hybrid.rate = 0.5  # some step mixes the two kinds of block
        seen = {tuple(hybrid(IDS, MASK).flatten().tolist()) for _ in range(12)}
        mixed = {
            tuple(by_hand(student, big, choice).flatten().tolist()) for choice in ([True, False], [False, True])
        }
        assert seen & mixed
        student.eval()  # evaluation is the student alone, whatever the rate
        hybrid.rate = 0.0
        torch.testing.assert_close(hybrid(IDS, MASK), student(IDS, MASK))


def test_the_rate_rises_linearly_from_the_start_to_one():
    student, big = pair()
    hybrid = TheseusHybrid(student, big, seed=0)
    rates = []
    rising = RisingRate(hybrid, lambda idx: rates.append(hybrid.rate), start=0.5, steps=5)
    for _ in range(5):
        rising([0])
    assert rates == [0.5, 0.625, 0.75, 0.875, 1.0]


def test_distillation_with_module_replacement_first(teacher, tok):  # noqa: F811
    cfg = StudentConfig(family="encoder", layers=1, hidden=teacher.config.hidden_size, heads=2, ffn=16)
    student = build_student(cfg, teacher, dropout=0.0)
    dcfg = DistillConfig(
        epochs=6, batch_size=8, learning_rate=3e-3, max_length=16, theseus=TheseusConfig(epochs=6, start_rate=0.3)
    )
    result = distill(student, teacher, tok, SPLIT, dcfg, seed=0, cache=None, teacher_hash="t")
    assert [s["stage"] for s in result.stages] == ["theseus", "joint"]
    assert result.stages[0]["steps"] == 24 and result.stages[0]["losses"] == {"kd": 1.0}
    assert _accuracy(student, tok) == 1.0
    assert all(p.grad is None or not p.requires_grad for p in teacher.parameters())


@pytest.mark.parametrize(
    "student, needle",
    [
        (StudentConfig(family="encoder", layers=1, hidden=16, heads=2, ffn=16), "hidden size"),
        (StudentConfig(family="cnn", embedding_size=16, filters=8), "encoder student"),
    ],
)
def test_pairs_module_replacement_cannot_use_are_recipe_errors(teacher, tok, student, needle):  # noqa: F811
    model = build_student(student, teacher, dropout=0.0)
    dcfg = DistillConfig(epochs=1, batch_size=8, max_length=16, theseus=TheseusConfig(epochs=1))
    with pytest.raises(RecipeError, match=needle):
        distill(model, teacher, tok, SPLIT, dcfg, seed=0, cache=None, teacher_hash="t")
