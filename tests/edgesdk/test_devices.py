"""Training devices and precisions (edgesdk/devices.py): what `auto` picks, one-line errors for
what this machine lacks, bf16 autocast really on, the CPU fp32 default a no-op, and the CUDA
path where a GPU exists."""

from __future__ import annotations

import pytest
import torch

from edgesdk.devices import CPU, TrainDevice, resolve, training_on
from edgesdk.errors import RecipeError
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.recipe import TeacherConfig, TrainConfig
from edgesdk.tokenizer import Tokenizer
from edgesdk.train import fine_tune, predict_logits
from tests.conftest import assert_one_line_error, run_cli
from tests.edgesdk.test_build_quantized import build_args
from tests.edgesdk.test_train import SPLIT, _tiny

CFG = TeacherConfig(epochs=2, batch_size=8, learning_rate=3e-3, freeze_word_embeddings=False)
HAS_CUDA = torch.cuda.is_available()


def test_auto_takes_the_gpu_when_there_is_one_else_the_cpu_in_fp32():
    expected = TrainDevice("cuda", "bf16" if HAS_CUDA and torch.cuda.is_bf16_supported() else "fp32")
    assert resolve(TrainConfig()) == (expected if HAS_CUDA else CPU)
    assert resolve(TrainConfig(device="cpu", precision="bf16")) == TrainDevice("cpu", "bf16")


def test_what_the_machine_lacks_is_one_clear_error():
    if not HAS_CUDA:
        with pytest.raises(RecipeError, match="train.device is cuda but torch sees no CUDA device"):
            resolve(TrainConfig(device="cuda"))
    with pytest.raises(RecipeError, match="fp16 needs a GPU"):
        resolve(TrainConfig(device="cpu", precision="fp16"))


def _trained(device: TrainDevice | None):
    tok = Tokenizer.from_dir(default_teacher_dir())
    model = _tiny(0)
    if device is None:
        fine_tune(model, tok, SPLIT, CFG, seed=0)
    else:
        with training_on(device):
            fine_tune(model, tok, SPLIT, CFG, seed=0)
    return model


def test_cpu_fp32_is_the_default_and_changes_nothing():
    plain, explicit = _trained(None), _trained(CPU)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), explicit.state_dict().values()))


def test_bf16_autocast_trains_in_bf16_and_leaves_fp32_weights_on_the_cpu():
    fp32, bf16 = _trained(CPU), _trained(TrainDevice("cpu", "bf16"))
    weights = dict(bf16.named_parameters())
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in weights.values())
    assert any(not torch.equal(p, weights[n]) for n, p in fp32.named_parameters())  # autocast was on
    tok = Tokenizer.from_dir(default_teacher_dir())
    assert (predict_logits(bf16, tok, SPLIT.texts, 32).argmax(1) == list(SPLIT.labels)).mean() >= 0.9


@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA GPU on this machine: the CUDA path runs where there is one")
def test_cuda_trains_on_the_gpu_and_hands_back_a_cpu_fp32_model():
    device = resolve(TrainConfig(device="cuda"))
    model = _trained(device)
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())
    tok = Tokenizer.from_dir(default_teacher_dir())
    assert (predict_logits(model, tok, SPLIT.texts, 32).argmax(1) == list(SPLIT.labels)).mean() >= 0.9


@pytest.mark.parametrize(
    "device, needle",
    [
        ("tpu", "--device 'tpu' is not a training device"),
        *([] if HAS_CUDA else [("cuda", "torch sees no CUDA device")]),
    ],
)
def test_a_device_the_build_cannot_use_is_one_line_and_writes_nothing(
    tmp_path, tiny_teacher, sst2_slice, tiny_recipe, device, needle
):
    out = tmp_path / "out"
    proc = run_cli(*build_args(tiny_recipe, sst2_slice, tiny_teacher, out), "--device", device)
    assert_one_line_error(proc, needle)
    assert not out.exists()


def test_tensors_go_to_the_build_device_only_inside_a_training_loop():
    """Outside optimize (importance passes, calibration, evaluation) models stay on the CPU, so
    batches must too, whatever device the build trains on."""
    from edgesdk.devices import active, configured, placed_on
    from edgesdk.train import collate

    gpu = TrainDevice("cuda", "bf16")  # never used to move a tensor here
    with training_on(gpu):
        assert configured() == gpu and active() == CPU
        ids, _ = collate([[101, 7, 102]], [0], Tokenizer.from_dir(default_teacher_dir()))
        assert ids.device.type == "cpu"
        with placed_on(gpu):
            assert active() == gpu
    assert configured() == CPU and active() == CPU
