import os
import random
import subprocess
import sys

import torch

from edgesdk.models import Encoder
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.recipe import TeacherConfig
from edgesdk.task import Split
from edgesdk.tokenizer import Tokenizer
from edgesdk.train import accuracy, fine_tune, length_grouped_batches, predict_logits
from tests.conftest import every_core_env
from tests.helpers import tiny_encoder


def test_length_grouped_batches_cover_everything_once_and_group_lengths():
    rng = random.Random(0)
    lengths = [rng.randint(3, 60) for _ in range(5000)]
    batches = length_grouped_batches(lengths, 32, random.Random(1))
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(5000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 5  # length-sorted pools: little padding per batch
    assert length_grouped_batches(lengths, 32, random.Random(1)) == batches


def _tiny(seed: int) -> Encoder:
    return tiny_encoder(seed, ffn=64, layers=1, dropout=0.0)


SPLIT = Split(tuple(["a wonderful , moving film"] * 20 + ["a dull , boring mess"] * 20), tuple([1] * 20 + [0] * 20))


def test_fine_tune_learns_a_separable_task_and_is_deterministic():
    tok = Tokenizer.from_dir(default_teacher_dir())
    cfg = TeacherConfig(epochs=8, batch_size=8, learning_rate=3e-3, freeze_word_embeddings=False)
    model = _tiny(0)
    result = fine_tune(model, tok, SPLIT, cfg, seed=0)
    preds = predict_logits(model, tok, SPLIT.texts, 32).argmax(1)
    assert accuracy(preds, SPLIT.labels) == 1.0
    assert result.steps == 40
    twin = _tiny(0)
    fine_tune(twin, tok, SPLIT, cfg, seed=0)
    for a, b in zip(model.state_dict().values(), twin.state_dict().values()):
        assert torch.equal(a, b)


def test_frozen_word_embeddings_do_not_move():
    tok = Tokenizer.from_dir(default_teacher_dir())
    model = _tiny(1)
    before = model.word_embeddings.weight.detach().clone()
    fine_tune(model, tok, SPLIT, TeacherConfig(epochs=1, batch_size=8), seed=0)
    assert torch.equal(before, model.word_embeddings.weight)


def test_layerwise_decay_moves_lower_layers_less_than_the_head():
    """With decay d the first layer's rate is d**layers of the head's and the embeddings' lower
    still: after the same steps the update sizes follow that order; decay 1 changes nothing."""
    from edgesdk.train import layerwise_lr_scale

    scale = layerwise_lr_scale(2, 0.5)
    assert scale("classifier.weight") == 1.0 and scale("layers.1.ffn.up.weight") == 0.5
    assert scale("layers.0.attention.query.weight") == 0.25 and scale("embedding_norm.weight") == 0.125
    tok = Tokenizer.from_dir(default_teacher_dir())

    def moved(decay: float) -> dict[str, float]:
        model = tiny_encoder(2, ffn=64, layers=2, dropout=0.0)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        cfg = TeacherConfig(epochs=2, batch_size=8, learning_rate=1e-3, layerwise_lr_decay=decay, warmup_ratio=0.0)
        fine_tune(model, tok, SPLIT, cfg, seed=0)
        after = dict(model.named_parameters())
        return {n: float((after[n] - before[n]).abs().mean()) for n in ("classifier.weight", "layers.0.ffn.up.weight")}

    flat, decayed = moved(1.0), moved(0.1)
    assert decayed["layers.0.ffn.up.weight"] < 0.2 * flat["layers.0.ffn.up.weight"]
    assert decayed["classifier.weight"] > 0.5 * flat["classifier.weight"]


def test_threads_follow_the_affinity_mask_not_the_machine():
    """Under `taskset -c 0` on a multi-core machine torch must get one thread, not one per
    machine core (which oversubscribes the one core it may use)."""
    probe = "import torch; from edgesdk.train import use_available_cores; print(use_available_cores(), torch.get_num_threads())"

    def threads(*prefix: str) -> list[str]:
        cmd = [*prefix, sys.executable, "-c", probe]
        return subprocess.run(cmd, capture_output=True, text=True, check=True, env=every_core_env()).stdout.split()

    assert threads("taskset", "-c", str(min(os.sched_getaffinity(0)))) == ["1", "1"]
    assert threads() == [str(len(os.sched_getaffinity(0)))] * 2
