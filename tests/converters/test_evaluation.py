import numpy as np
import pytest
from edgesdk.converters.evaluation import (
    Evaluation,
    VerifyResult,
    gate,
    percentiles,
    raise_if_failed,
)

from edgesdk.errors import AccuracyGateError
from edgesdk.recipe import QuantizeConfig, VerifyConfig


def _eval(preds, labels):
    return Evaluation(
        tuple(preds),
        float(np.mean(np.array(preds) == np.array(labels))),
        (1.0,) * len(preds),
        np.zeros((len(preds), 2), dtype=np.float32),
    )


def test_gate_allows_exactly_the_configured_drop():
    labels = [0, 1] * 50
    eager = list(labels)
    one_wrong = list(labels)
    one_wrong[0] = 1
    cfg = VerifyConfig(max_accuracy_drop=0.01, min_agreement=0.99)
    assert gate("litert", _eval(one_wrong, labels), eager, np.zeros((100, 2)), labels, cfg).passed
    two_wrong = list(one_wrong)
    two_wrong[1] = 0
    r = gate("litert", _eval(two_wrong, labels), eager, np.zeros((100, 2)), labels, cfg)
    assert not r.passed and r.agreement == 0.98 and r.eager_accuracy == 1.0


def test_quantized_gate_measures_the_drop_against_fp32_and_agreement_against_fake_quant():
    labels = [0, 1] * 50
    fake_quant = list(labels)
    fake_quant[:3] = [1, 0, 1]  # the fake-quant model itself is 3 pt below fp32 (1.0)
    cfg = QuantizeConfig(max_accuracy_drop=0.02, min_agreement=0.99)

    def int8_gate(fp32_accuracy):
        ev = _eval(fake_quant, labels)
        return gate("litert", ev, fake_quant, np.zeros((100, 2)), labels, cfg, "student", "int8", fp32_accuracy)

    r = int8_gate(1.0)
    assert r.agreement == 1.0 and r.eager_accuracy == 0.97 and not r.passed  # agrees, but lost 3 pt vs fp32
    r = int8_gate(0.98)
    assert r.passed and r.fp32_accuracy == 0.98 and r.max_accuracy_drop == 0.02


def test_failed_gate_is_one_clear_line():
    r = VerifyResult("litert", 0.80, 0.85, 0.9, 0.1, 100, False, "student", "int8", 0.85, 0.01, 0.97)
    with pytest.raises(AccuracyGateError) as err:
        raise_if_failed([r])
    msg = str(err.value)
    assert "student litert int8 artifact failed verification: accuracy 0.8000 vs fp32 0.8500" in msg
    assert "quantize.max_accuracy_drop" in msg and "\n" not in msg
    raise_if_failed([VerifyResult("litert", 0.85, 0.85, 1.0, 0.0, 100, True)])


def test_percentiles_are_ordered():
    p = percentiles(list(range(1, 101)))
    assert p["p50"] == 50.5 and p["p50"] <= p["p90"] <= p["p99"] <= 100
