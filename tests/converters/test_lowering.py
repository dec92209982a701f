"""Lower a tiny Encoder to .pte and .tflite and run both in their real runtimes."""

import numpy as np
import pytest
import torch
from edgesdk.converters import get_backend
from edgesdk.converters.bundle import BundleInfo, open_artifact
from edgesdk.converters.evaluation import evaluate, gate

from edgesdk.errors import ArtifactError
from edgesdk.models import Encoder, LayerShape
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.recipe import VerifyConfig
from edgesdk.task import LabelMap, Split
from edgesdk.tokenizer import Tokenizer
from tests.helpers import tiny_encoder

SEQ_LEN = 16
TEXTS = ("a great film", "dull , lifeless and far too long .", "i loved every minute of it", "not good")


@pytest.fixture(scope="module")
def tiny_model() -> Encoder:
    return tiny_encoder(shapes=(LayerShape(heads=4, ffn=48), LayerShape(heads=2, ffn=16))).eval()


@pytest.fixture(scope="module", params=["executorch", "litert"])
def bundle(request, tiny_model, tmp_path_factory):
    backend = get_backend(request.param)
    d = tmp_path_factory.mktemp(request.param)
    example = (torch.ones(1, SEQ_LEN, dtype=torch.int32), torch.ones(1, SEQ_LEN, dtype=torch.int32))
    (d / f"model{backend.suffix}").write_bytes(backend.lower(tiny_model, example))
    Tokenizer.from_dir(default_teacher_dir()).save(d)
    BundleInfo(SEQ_LEN, LabelMap(("neg", "pos"))).write(d)
    return d / f"model{backend.suffix}"


def test_artifact_matches_eager_in_its_runtime(bundle, tiny_model):
    loaded = open_artifact(bundle, threads=1)
    ids, mask = loaded.encode(TEXTS)
    assert ids.dtype == np.int32 and ids.shape == (len(TEXTS), SEQ_LEN)
    with torch.no_grad():
        eager = tiny_model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    for i in range(len(TEXTS)):
        out = loaded.session.run(ids[i : i + 1], mask[i : i + 1])
        np.testing.assert_allclose(out[0], eager[i], atol=1e-5, rtol=1e-5)


def test_verify_gate_passes_on_agreement_and_fails_on_disagreement(bundle, tiny_model):
    loaded = open_artifact(bundle, threads=1)
    labels = (0, 1, 1, 0)
    ev = evaluate(loaded, Split(TEXTS, labels))
    ids, mask = loaded.encode(TEXTS)
    with torch.no_grad():
        eager_logits = tiny_model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    eager_preds = eager_logits.argmax(1).tolist()
    ok = gate(loaded.backend.name, ev, eager_preds, eager_logits, labels, VerifyConfig())
    assert ok.passed and ok.agreement == 1.0 and ok.max_logit_diff < 1e-4
    flipped = [1 - p for p in eager_preds]
    bad = gate(loaded.backend.name, ev, flipped, eager_logits, labels, VerifyConfig())
    assert not bad.passed and bad.agreement == 0.0


def test_corrupt_and_foreign_files_are_rejected_before_the_runtime(bundle, tmp_path):
    data = bundle.read_bytes()
    for name, payload in [("trunc", data[:6]), ("magic", data[:4] + b"XXXX" + data[8:])]:
        bad = bundle.parent / f"{name}{bundle.suffix}"
        bad.write_bytes(payload)
        with pytest.raises(ArtifactError, match="not a valid"):
            open_artifact(bad, threads=1)
        bad.unlink()
    with pytest.raises(ArtifactError, match="not a known artifact type"):
        open_artifact(tmp_path / "model.onnx", threads=1)


def test_artifact_without_its_bundle_files_is_rejected(bundle, tmp_path):
    lonely = tmp_path / bundle.name
    lonely.write_bytes(bundle.read_bytes())
    with pytest.raises(ArtifactError, match="no bundle.json"):
        open_artifact(lonely, threads=1)
