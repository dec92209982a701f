"""Each student family: built from a teacher, saved and reloaded exactly, lowered to both
runtimes and matching its eager outputs there."""

import numpy as np
import pytest
import torch
from edgesdk.converters import get_backend
from edgesdk.converters.bundle import BundleInfo, open_artifact
from edgesdk.converters.quantizer_registry import quantizer_for

from edgesdk.models.flops import model_flops
from edgesdk.models.mapping import principal_directions
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.models.registry import load_model, save_model
from edgesdk.models.student_families import build_student
from edgesdk.recipe import StudentConfig
from edgesdk.task import LabelMap
from edgesdk.tokenizer import Tokenizer
from tests.helpers import run_rows, tiny_encoder

SEQ = 12
TEXTS = ("a gripping , beautiful film", "dull", "the plot is thin but the acting is superb")
FAMILIES = {
    "encoder": StudentConfig(family="encoder", layers=1, hidden=16, heads=2, ffn=24),
    "encoder-factorized": StudentConfig(family="encoder", layers=1, hidden=16, heads=2, ffn=24, embedding_size=8),
    "cnn": StudentConfig(family="cnn", embedding_size=16, kernel_sizes=[2, 3], filters=8),
    "bilstm": StudentConfig(family="bilstm", embedding_size=16, lstm_hidden=8),
}


@pytest.fixture(scope="module")
def teacher():
    return tiny_encoder().eval()


@pytest.mark.parametrize("name", FAMILIES)
def test_student_round_trips_and_lowers_to_both_runtimes(name, teacher, tmp_path):
    # the BiLSTM is unrolled per time step, so its lowering time grows with the length:
    # 6 still pads "dull" and truncates the longer sentences
    seq = 6 if name == "bilstm" else SEQ
    student = build_student(FAMILIES[name], teacher, dropout=0.0).eval()
    save_model(student, tmp_path / "m")
    again = load_model(tmp_path / "m")
    tok = Tokenizer.from_dir(default_teacher_dir())
    ids, mask = tok.pad(tok.encode(TEXTS, seq), seq)
    with torch.no_grad():
        eager = student(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        assert np.array_equal(eager, again(torch.from_numpy(ids), torch.from_numpy(mask)).numpy())
    assert model_flops(student, seq) > 0
    example = (torch.ones(1, seq, dtype=torch.int32), torch.ones(1, seq, dtype=torch.int32))
    for runtime in ("executorch", "litert"):
        backend = get_backend(runtime)
        d = tmp_path / runtime
        d.mkdir()
        (d / f"model{backend.suffix}").write_bytes(backend.lower(student, example))
        tok.save(d)
        BundleInfo(seq, LabelMap(("0", "1"))).write(d)
        loaded = open_artifact(d / f"model{backend.suffix}", threads=1)
        for i in range(len(TEXTS)):
            out = loaded.session.run(ids[i : i + 1], mask[i : i + 1])[0]
            np.testing.assert_allclose(out, eager[i], atol=1e-4, rtol=1e-4, err_msg=f"{name} {runtime}")


@pytest.mark.parametrize("name", ["cnn", "bilstm"])
def test_mcu_candidates_run_full_int8_in_tflm(name, teacher, tmp_path):
    """The MCU students lower to a full-int8 TFLM artifact that TFLM's interpreter prepares and
    runs (it aborted on the BiLSTM's `(1 - keep)` state blend before; docs/quantization.md
    lists each family's ops), with fp32-like outputs."""
    from edgesdk.converters.tflite_flatbuffer import summarize

    from edgesdk.compress.quant_methods import calibration_set, deployable
    from edgesdk.recipe import QuantizeConfig
    from tests.conftest import sst2_rows

    seq = 8
    torch.manual_seed(0)  # the LSTM/conv weights are random: the same model whatever ran before
    student = build_student(FAMILIES[name], teacher, dropout=0.0).eval()
    tok = Tokenizer.from_dir(default_teacher_dir())
    rows = [line.split("\t")[0] for line in sst2_rows("train", 64)[1:]]
    calibration = calibration_set(rows, tok, 64, seq, seed=0)
    backend = get_backend("tflm")
    module = quantizer_for(backend.name, "int8")(deployable(student, seq), calibration, QuantizeConfig(), seq)
    example = (torch.ones(1, seq, dtype=torch.int32), torch.ones(1, seq, dtype=torch.int32))
    data = backend.lower(module, example, "int8", calibration)
    summary = summarize(data)
    assert summary.output_dtypes == ("INT8",) and all(t.table_dtype == "INT8" for t in summary.lookups)
    path = tmp_path / f"model.int8{backend.suffix}"
    path.write_bytes(data)
    tok.save(tmp_path)
    BundleInfo(seq, LabelMap(("0", "1"))).write(tmp_path)
    ids, mask = tok.pad(tok.encode(rows[:16], seq), seq)
    session = open_artifact(path, threads=1).session
    out = run_rows(session, ids, mask)
    (tmp_path / "model.int8.tflite").write_bytes(data)  # the same file in LiteRT's interpreter
    litert = open_artifact(tmp_path / "model.int8.tflite", threads=1).session
    ref = run_rows(litert, ids, mask)
    with torch.no_grad():
        eager = student(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    # Both interpreters run the same int8 file: they agree to a few output steps. Against fp32
    # this random tiny model's near-zero logits move by up to ~40 % of their spread (BiLSTM,
    # 8 recurrent steps), so that comparison is left to the builds' verify gate on trained models.
    spread = ref.max() - ref.min()
    assert np.abs(out - ref).max() <= 0.05 * spread, (name, np.abs(out - ref).max(), spread)
    assert np.corrcoef(out.ravel(), eager.ravel())[0, 1] > 0.5, (out, eager)


def test_padding_is_ignored_by_every_family(teacher):
    tok = Tokenizer.from_dir(default_teacher_dir())
    seq = tok.encode(["a gripping , beautiful film"], SEQ)
    short_ids, short_mask = tok.pad(seq, len(seq[0]))
    long_ids, long_mask = tok.pad(seq, SEQ)
    for name, cfg in FAMILIES.items():
        student = build_student(cfg, teacher, dropout=0.0).eval()
        with torch.no_grad():
            a = student(torch.from_numpy(short_ids), torch.from_numpy(short_mask))
            b = student(torch.from_numpy(long_ids), torch.from_numpy(long_mask))
        assert float((a - b).abs().max()) < 1e-5, name


def test_teacher_initialised_student_starts_closer_than_random(teacher):
    tok = Tokenizer.from_dir(default_teacher_dir())
    ids, mask = (torch.from_numpy(a) for a in tok.pad(tok.encode(TEXTS, SEQ), SEQ))
    cfg = StudentConfig(family="encoder", layers=2, hidden=32, heads=4, ffn=48, hidden_init="truncate")
    with torch.no_grad():
        copied = build_student(cfg, teacher, dropout=0.0).eval()
        assert torch.allclose(copied(ids, mask), teacher(ids, mask), atol=1e-5)  # same shape: exact copy
        random = build_student(cfg.model_copy(update={"layer_init": "none"}), teacher, dropout=0.0).eval()
        assert not torch.allclose(random(ids, mask), teacher(ids, mask), atol=1e-3)


def test_principal_directions_are_orthonormal_and_deterministic():
    table = torch.randn(200, 16, generator=torch.Generator().manual_seed(0))
    p = principal_directions(table, 5)
    assert torch.allclose(p.T @ p, torch.eye(5), atol=1e-5)
    assert torch.equal(p, principal_directions(table, 5))


def test_student_wider_than_teacher_is_rejected(teacher):
    with pytest.raises(ValueError, match="exceeds the teacher"):
        build_student(StudentConfig(family="encoder", hidden=64, heads=2), teacher, dropout=0.0)
