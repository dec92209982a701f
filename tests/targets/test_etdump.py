"""Per-op breakdown of a real .pte through ExecuTorch's ETDump, read by our reader and checked
against the devtools Inspector."""

import json
import subprocess
import sys
import warnings

import pytest
import torch
from edgesdk.converters import get_backend
from edgesdk.converters.bundle import BundleInfo, open_artifact
from edgesdk.targets import host_runner as runner
from edgesdk.targets.etdump import RUNTIME_REST, op_breakdown, read_profile_events, record_etdump, render_per_op

from edgesdk.errors import ArtifactError
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.task import LabelMap
from edgesdk.tokenizer import Tokenizer
from tests.helpers import tiny_encoder

SEQ_LEN = 16
TEXTS = ["a great film", "dull , lifeless and far too long .", "not good"]
WARMUP, REPS = 3, 8


@pytest.fixture(scope="module")
def pte(tmp_path_factory):
    d = tmp_path_factory.mktemp("etdump")
    example = (torch.ones(1, SEQ_LEN, dtype=torch.int32), torch.ones(1, SEQ_LEN, dtype=torch.int32))
    (d / "model.pte").write_bytes(get_backend("executorch").lower(tiny_encoder(dropout=0.0).eval(), example))
    Tokenizer.from_dir(default_teacher_dir()).save(d)
    BundleInfo(SEQ_LEN, LabelMap(("neg", "pos"))).write(d)
    return d / "model.pte"


def test_breakdown_partitions_execute_time_into_named_ops(pte):
    ids, mask = open_artifact(pte, threads=1).encode(TEXTS)
    out = op_breakdown(pte, ids, mask, threads=1, warmup=WARMUP, repetitions=REPS)
    events = out["events"]
    assert out["method"] == "etdump" and out["total_ms"] > 0 and events
    names = {e["name"] for e in events}
    # XNNPACK's own op names (its per-op profiler is in the wheel) and the portable kernels
    assert any("GEMM" in n for n in names), names
    assert any(n.endswith("(portable)") for n in names), names
    assert not any(n in ("DELEGATE_CALL", "OPERATOR_CALL", "Method::execute") or "#" in n for n in names)
    # warm-up runs are dropped: every event occurs a whole number of times per measured run
    for e in events:
        assert e["calls"] >= REPS and e["calls"] % REPS == 0, e
        assert 0 <= e["median_ms"] <= e["p90_ms"] + 1e-9 and 0 <= e["share"] <= 1
    assert next(e for e in events if e["name"] == RUNTIME_REST)["calls"] == REPS
    assert sum(e["share"] for e in events) == pytest.approx(1.0, abs=0.02)
    assert [e["share"] for e in events] == sorted((e["share"] for e in events), reverse=True)
    table = render_per_op("model.pte", out, top=3)
    assert sum(line.startswith("| ") for line in table) == 1 + 3 + (len(events) > 3)
    assert events[0]["name"] in "\n".join(table)


def test_reader_gives_the_inspectors_events_exactly(pte):
    from executorch.devtools import Inspector

    ids, mask = open_artifact(pte, threads=1).encode(TEXTS)
    etdump = record_etdump(pte, ids, mask, threads=1, n_runs=WARMUP + REPS)
    ours = read_profile_events(etdump)
    with warnings.catch_warnings():  # "Output Buffer not found": no debug buffer was recorded
        warnings.simplefilter("ignore")
        blocks = Inspector(etdump_data=etdump).event_blocks
    theirs = [e for block in blocks for e in block.events if e.perf_data is not None]
    assert len(ours) > 20 and any(e.is_delegated_op for e in ours) and any(not e.is_delegated_op for e in ours)
    assert sorted((e.name, e.is_delegated_op, e.raw) for e in ours) == sorted(
        (e.name, bool(e.is_delegated_op), list(e.perf_data.raw)) for e in theirs
    )


def test_an_etdump_that_is_not_one_is_one_error_line():
    with pytest.raises(ArtifactError, match="no readable ETDump"):
        read_profile_events(b"\0" * 64)


def test_the_profiling_child_does_not_import_the_compiler(pte, tmp_path):
    """The point of reading the ETDump ourselves: the Inspector imports torch.export and every
    exir pass, ~15 s per profiled .pte."""
    texts = tmp_path / "texts.json"
    texts.write_text(json.dumps(TEXTS))
    code = (
        "import sys; from edgesdk.targets import host_runner as runner; "
        f"rc = runner.main([{str(pte)!r}, {str(texts)!r}, '--repetitions', '2', '--warmup', '0', '--per-op']); "
        "print('compiler imported:', 'executorch.exir.program' in sys.modules or 'executorch.devtools' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert '"per_op"' in proc.stdout and "compiler imported: False" in proc.stdout, (
        proc.stdout[-500:] + proc.stderr[-800:]
    )


def test_non_pte_artifact_is_one_error_line(pte, tmp_path):
    tflite = tmp_path / "model.tflite"
    tflite.write_bytes(b"\0" * 64)
    with pytest.raises(ArtifactError, match=r"needs an ExecuTorch \.pte artifact, not model\.tflite") as err:
        op_breakdown(tflite, None, None, threads=1, warmup=0, repetitions=1)
    assert "\n" not in str(err.value)


def test_runner_per_op_flag_adds_the_breakdown(pte, tmp_path, capsys):
    texts = tmp_path / "texts.json"
    texts.write_text(json.dumps(TEXTS))
    args = [str(pte), str(texts), "--threads", "1", "--warmup", "1", "--repetitions", "4"]
    assert runner.main(args + ["--per-op"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["latency_ms"]["p50"] > 0 and result["per_op"]["repetitions"] == 4
    assert result["per_op"]["events"] and result["per_op"]["total_ms"] > 0
    assert runner.main(args) == 0
    assert "per_op" not in json.loads(capsys.readouterr().out.strip().splitlines()[-1])
