import copy

import numpy as np
import pytest
import torch

from edgesdk.compress.augment import augment, nearest_neighbours
from edgesdk.compress.distill import DistillObjective, Projections, distill, teacher_soft_labels
from edgesdk.errors import RecipeError
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.models.student_families import build_student
from edgesdk.recipe import DistillConfig, LossWeights, StudentConfig, TeacherConfig
from edgesdk.task import Split
from edgesdk.tokenizer import Tokenizer
from edgesdk.train import fine_tune, predict_logits
from tests.helpers import tiny_encoder

SPLIT = Split(tuple(["a wonderful , moving film"] * 16 + ["a dull , boring mess"] * 16), tuple([1] * 16 + [0] * 16))


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_dir(default_teacher_dir())


@pytest.fixture(scope="module")
def teacher(tok):
    model = tiny_encoder(dropout=0.0)
    fine_tune(
        model,
        tok,
        SPLIT,
        TeacherConfig(epochs=6, batch_size=8, learning_rate=3e-3, freeze_word_embeddings=False),
        seed=0,
    )
    return model.eval()


def _accuracy(model, tok):
    return float(np.mean(predict_logits(model, tok, SPLIT.texts, 16).argmax(1) == np.array(SPLIT.labels)))


@pytest.mark.parametrize(
    "family, losses",
    [
        ("encoder", LossWeights(kd=1.0)),
        ("encoder", LossWeights(kd=1.0, ce=0.5, hidden=1.0, attention=1.0, minilm=1.0, embedding=1.0)),
        ("cnn", LossWeights(kd=1.0)),
        ("bilstm", LossWeights(kd=1.0, ce=1.0)),
    ],
)
def test_students_learn_from_the_teacher(teacher, tok, tmp_path, family, losses):
    assert _accuracy(teacher, tok) == 1.0
    student = build_student(
        StudentConfig(
            family=family,
            layers=1,
            hidden=16,
            heads=2,
            ffn=16,
            embedding_size=16,
            filters=8,
            lstm_hidden=8,
            layer_init="none",
        ),
        teacher,
        dropout=0.0,
    )
    cfg = DistillConfig(epochs=12, batch_size=8, learning_rate=3e-3, losses=losses, relation_heads=2, max_length=16)
    result = distill(student, teacher, tok, SPLIT, cfg, seed=0, cache=tmp_path, teacher_hash="t")
    assert _accuracy(student, tok) == 1.0, family
    assert result.stages[0]["steps"] == 48
    assert all(p.grad is None or not p.requires_grad for p in teacher.parameters())


def test_soft_labels_are_cached_on_disk(teacher, tok, tmp_path):
    student = build_student(StudentConfig(family="cnn", embedding_size=8, filters=4), teacher, dropout=0.0)
    cfg = DistillConfig(epochs=0.1, batch_size=8, max_length=16)
    distill(student, teacher, tok, SPLIT, cfg, seed=0, cache=tmp_path, teacher_hash="t")
    files = list(tmp_path.glob("*.npy"))
    assert len(files) == 1
    cached = np.load(files[0], allow_pickle=False)
    assert cached.shape == (32, 2)
    np.testing.assert_allclose(cached, predict_logits(teacher, tok, SPLIT.texts, 16), atol=1e-5)


def test_int8_dynamic_soft_labels_come_from_a_quantized_copy_under_their_own_key(teacher, tok, tmp_path):
    encoded = tok.encode(list(SPLIT.texts), 16)
    fp32 = teacher_soft_labels(teacher, tok, encoded, tmp_path, "t")
    int8 = teacher_soft_labels(teacher, tok, encoded, tmp_path, "t", precision="int8-dynamic")
    assert len(list(tmp_path.glob("*.npy"))) == 2  # one cache entry per precision
    assert not np.array_equal(fp32, int8)  # the quantized kernels ran
    np.testing.assert_allclose(int8, fp32, atol=0.05 * np.abs(fp32).max())
    assert (int8.argmax(1) == fp32.argmax(1)).all()
    assert not any("quantized" in type(m).__module__ for m in teacher.modules())  # the teacher stays fp32
    np.testing.assert_array_equal(teacher_soft_labels(teacher, tok, encoded, tmp_path, "t", "int8-dynamic"), int8)


def test_two_stage_schedule_runs_both_stages(teacher, tok, tmp_path):
    student = build_student(StudentConfig(family="encoder", layers=1, hidden=16, heads=2, ffn=16), teacher, 0.0)
    cfg = DistillConfig(
        epochs=1,
        intermediate_epochs=2,
        batch_size=8,
        max_length=16,
        two_stage=True,
        losses=LossWeights(kd=1.0, hidden=1.0),
        relation_heads=2,
    )
    result = distill(student, teacher, tok, SPLIT, cfg, seed=0, cache=None, teacher_hash="t")
    assert [s["stage"] for s in result.stages] == ["intermediate", "prediction"]
    assert [s["steps"] for s in result.stages] == [8, 4]


@pytest.mark.parametrize(
    "losses, needle",
    [
        (LossWeights(kd=1.0, hidden=1.0), "need an encoder student"),
        (LossWeights(kd=0.0), "every distill.losses weight is 0"),
    ],
)
def test_impossible_loss_settings_are_recipe_errors(teacher, tok, losses, needle):
    student = build_student(StudentConfig(family="cnn", embedding_size=8, filters=4), teacher, dropout=0.0)
    with pytest.raises(RecipeError, match=needle):
        distill(student, teacher, tok, SPLIT, DistillConfig(losses=losses), seed=0, cache=None, teacher_hash="t")


@pytest.mark.parametrize("layer_map, needle", [("uniform", "use an explicit map"), ([1, 2, 9], "must list 3")])
def test_a_layer_map_that_cannot_apply_is_a_recipe_error_before_the_teacher_pass(
    teacher, tok, tmp_path, layer_map, needle
):
    """A student deeper than the teacher (or a map naming layers it lacks) fails naming the key,
    before the teacher labels a single row (the cache stays empty)."""
    deep = StudentConfig(
        family="encoder", layers=teacher.config.num_layers + 1, hidden=16, heads=2, ffn=32, layer_init="none"
    )
    student = build_student(deep, teacher, dropout=0.0)
    cfg = DistillConfig(losses=LossWeights(kd=1.0, hidden=1.0), layer_map=layer_map)
    with pytest.raises(RecipeError, match=rf"distill.layer_map: .*{needle}"):
        distill(student, teacher, tok, SPLIT, cfg, seed=0, cache=tmp_path, teacher_hash="t")
    assert not any(tmp_path.iterdir())


def test_augmentation_replaces_whole_words_with_neighbours(teacher, tok):
    encoded = tok.encode(["a wonderful moving film about friendship"], 32)
    out = augment(encoded, teacher.word_embeddings.weight, tok, factor=3, replace_prob=1.0, k=5, seed=0)
    assert len(out) == 3
    for seq in out:
        assert len(seq) == len(encoded[0]) and seq[0] == encoded[0][0] and seq[-1] == encoded[0][-1]
        assert seq != encoded[0]
    assert out == augment(encoded, teacher.word_embeddings.weight, tok, 3, 1.0, 5, seed=0)
    assert augment(encoded, teacher.word_embeddings.weight, tok, factor=0, replace_prob=1.0, k=5, seed=0) == []


def test_nearest_neighbours_exclude_the_word_itself():
    table = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    nn_ = nearest_neighbours(table, [0], [0, 1, 2, 3], k=2)
    assert nn_[0] == [1, 2]


def test_frozen_student_word_table_does_not_move(teacher, tok):
    student = build_student(StudentConfig(family="encoder", layers=1, hidden=32, heads=4, ffn=16), teacher, 0.0)
    before = student.word_embeddings.weight.detach().clone()
    cfg = DistillConfig(epochs=1, batch_size=8, max_length=16, freeze_word_embeddings=True)
    distill(student, teacher, tok, SPLIT, cfg, seed=0, cache=None, teacher_hash="t")
    assert torch.equal(before, student.word_embeddings.weight)
    assert student.word_embeddings.weight.requires_grad  # restored for later steps
    moved = build_student(StudentConfig(family="encoder", layers=1, hidden=32, heads=4, ffn=16), teacher, 0.0)
    distill(moved, teacher, tok, SPLIT, cfg.model_copy(update={"freeze_word_embeddings": False}), 0, None, "t")
    assert not torch.equal(before, moved.word_embeddings.weight)


def test_equal_widths_match_hidden_states_without_a_learned_map(teacher, tok):
    """A student as wide as the teacher (the teacher pruned into the student) is held to the
    teacher's own states: zero loss for a copy, positive once a layer moves, nothing to learn
    in the map."""
    cfg = DistillConfig(batch_size=8, max_length=16, losses=LossWeights(kd=0.0, hidden=1.0, embedding=1.0))
    encoded = tok.encode(list(SPLIT.texts), 16)
    soft, hard = torch.zeros(32, 2), torch.tensor(SPLIT.labels)
    width = teacher.config.hidden_size
    proj = Projections(width, width, teacher.config.num_layers)
    assert not list(proj.parameters())
    student = copy.deepcopy(teacher)
    mapped = list(range(1, teacher.config.num_layers + 1))
    objective = DistillObjective(student, teacher, tok, encoded, hard, soft, cfg, cfg.losses, proj, mapped)
    assert objective(list(range(8))).item() == 0.0
    with torch.no_grad():
        student.layers[-1].ffn.down.weight.add_(0.1)
    assert objective(list(range(8))).item() > 0.0
    assert list(Projections(width // 2, width, 1).parameters())  # narrower students learn a map


def test_a_student_with_a_learned_vocabulary_learns_from_the_teacher_on_its_own_ids(teacher, tok, tmp_path):
    from edgesdk.recipe import AugmentConfig
    from edgesdk.steps.student import learn_vocabulary

    student = build_student(StudentConfig(family="cnn", embedding_size=16, filters=8), teacher, dropout=0.0)
    student, own = learn_vocabulary(student, tok, SPLIT.texts, 64)
    assert own.vocab_size <= 64 and student.word_embeddings.weight.shape[0] == own.vocab_size
    cfg = DistillConfig(
        epochs=12, batch_size=8, learning_rate=3e-3, max_length=16, augment=AugmentConfig(factor=1)
    )
    # the teacher's ids (30,522 of them) would index past the student's table: it must read its own
    result = distill(student, teacher, tok, SPLIT, cfg, seed=0, cache=tmp_path, teacher_hash="t", student_tokenizer=own)
    assert result.augmented_rows == 32
    assert _accuracy(student, own) == 1.0


def test_a_quotient_remainder_student_learns_from_the_teacher(teacher, tok, tmp_path):
    """student.word_table: qr over a learned vocabulary, as the student step composes them."""
    from edgesdk.compress.word_rows import to_quotient_remainder
    from edgesdk.models.qr_embedding import QuotientRemainderEmbedding
    from edgesdk.recipe import AugmentConfig
    from edgesdk.steps.student import learn_vocabulary

    student = build_student(StudentConfig(family="cnn", embedding_size=16, filters=8), teacher, dropout=0.0)
    student, own = learn_vocabulary(student, tok, SPLIT.texts, 64)
    student, info = to_quotient_remainder(student, 24)
    assert isinstance(student.word_embeddings, QuotientRemainderEmbedding) and info["rows"] <= 24
    before = [p.detach().clone() for p in student.word_embeddings.parameters()]
    cfg = DistillConfig(epochs=12, batch_size=8, learning_rate=3e-3, max_length=16, augment=AugmentConfig(factor=1))
    distill(student, teacher, tok, SPLIT, cfg, seed=0, cache=tmp_path, teacher_hash="t", student_tokenizer=own)
    assert _accuracy(student, own) == 1.0
    assert all(not torch.equal(b, p) for b, p in zip(before, student.word_embeddings.parameters()))  # both tables train
