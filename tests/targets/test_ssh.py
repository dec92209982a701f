"""The Linux-board profiler through a real ssh session: an sshd started here on localhost
(openssh-server from apt, installed by the fixture when missing), a key made in a temp dir."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from edgesdk.converters import get_backend
from edgesdk.converters.bundle import BundleInfo
from edgesdk.targets.profiler_registry import profile_artifact, unavailable
from edgesdk.targets.registry import get_target

from edgesdk.errors import TargetError
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.recipe import ProfileConfig
from edgesdk.task import LabelMap
from edgesdk.tokenizer import Tokenizer
from tests.helpers import free_port, tiny_encoder

SSHD = Path("/usr/sbin/sshd")
TEXTS = ["a great film", "dull , lifeless and far too long .", "not good"]
CONFIG = ProfileConfig(threads=1, warmup=2, repetitions=12)


def _install_sshd() -> None:
    if SSHD.exists():
        return
    for cmd in (["apt-get", "install", "-y", "-q", "openssh-server"], ["apt-get", "update", "-q"]):
        subprocess.run(cmd, capture_output=True, timeout=600)
        if cmd[1] == "update":
            subprocess.run(["apt-get", "install", "-y", "-q", "openssh-server"], capture_output=True, timeout=600)
    assert SSHD.exists(), "openssh-server could not be installed with apt-get; the ssh profiler test needs it"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    _install_sshd()
    d = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    (d / "authorized_keys").chmod(0o600)
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nStrictModes no\nPermitRootLogin yes\n"
        "PasswordAuthentication no\nUsePAM no\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation dir
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert proc.poll() is None, proc.stderr.read().decode()[-500:]
        time.sleep(0.1)
    import getpass

    env = {
        "EDGESDK_SSH": f"{getpass.getuser()}@127.0.0.1",
        "EDGESDK_SSH_PORT": str(port),
        "EDGESDK_SSH_KEY": str(d / "client_key"),
        "EDGESDK_SSH_KNOWN_HOSTS": str(d / "known_hosts"),
        "EDGESDK_SSH_PYTHON": sys.executable,  # the board's python: this venv has the runtimes
    }
    yield env
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module", params=["litert", "executorch"])
def artifact(request, tmp_path_factory):
    backend = get_backend(request.param)
    d = tmp_path_factory.mktemp(request.param)
    example = (torch.ones(1, 16, dtype=torch.int32), torch.ones(1, 16, dtype=torch.int32))
    (d / f"model{backend.suffix}").write_bytes(backend.lower(tiny_encoder().eval(), example))
    Tokenizer.from_dir(default_teacher_dir()).save(d)
    BundleInfo(16, LabelMap(("neg", "pos"))).write(d)
    return d / f"model{backend.suffix}"


def test_ssh_profiler_measures_an_artifact_on_the_board(sshd, artifact, monkeypatch):
    for k, v in sshd.items():
        monkeypatch.setenv(k, v)
    pi = get_target("raspberry-pi-5")
    assert unavailable(pi) is None
    result = profile_artifact(pi, artifact, TEXTS, CONFIG)
    assert result["target"] == sshd["EDGESDK_SSH"].join(("ssh:", "")) and result["method"] == "measured"
    assert result["repetitions"] == 12 and result["threads"] == 1
    lat = result["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"]
    assert result["peak_rss_bytes"] >= result["baseline_rss_bytes"] > 0
    assert result["interpreter"] == ("ai_edge_litert" if artifact.suffix == ".tflite" else "executorch")


def test_unreachable_or_unconfigured_board_is_a_clear_error(sshd, artifact, monkeypatch):
    pi = get_target("raspberry-pi-5")
    monkeypatch.delenv("EDGESDK_SSH", raising=False)
    assert "EDGESDK_SSH" in unavailable(pi)
    with pytest.raises(TargetError, match="set EDGESDK_SSH"):
        profile_artifact(pi, artifact, TEXTS, CONFIG)
    for k, v in sshd.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("EDGESDK_SSH_PORT", str(free_port()))  # nothing listens there
    with pytest.raises(TargetError, match="cannot reach .* over ssh"):
        profile_artifact(pi, artifact, TEXTS, CONFIG)
    monkeypatch.setenv("EDGESDK_SSH_PORT", sshd["EDGESDK_SSH_PORT"])
    monkeypatch.setenv("EDGESDK_SSH_KEY", str(artifact))  # not a key: authentication fails
    with pytest.raises(TargetError, match="cannot reach"):
        profile_artifact(pi, artifact, TEXTS, CONFIG)


def test_profile_command_reaches_the_board_given_by_host(sshd, artifact, tmp_path, monkeypatch):
    import json

    from tests.conftest import run_cli

    for k, v in sshd.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("EDGESDK_SSH")  # the board comes from --host only
    texts = tmp_path / "texts.tsv"
    texts.write_text("sentence\tlabel\n" + "".join(f"{t}\t0\n" for t in TEXTS))
    args = ("profile", artifact, "--target", "raspberry-pi-5", "--host", sshd["EDGESDK_SSH"], "--data", texts)
    proc = run_cli(*args, "--repetitions", "3", "--warmup", "1", "--threads", "1", "--json")
    assert proc.returncode == 0, proc.stderr[-1500:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["target"] == f"ssh:{sshd['EDGESDK_SSH']}" and result["repetitions"] == 3


def test_the_api_reaches_the_board_given_as_the_target_address(sshd, artifact, monkeypatch):
    import edgesdk

    for k, v in sshd.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("EDGESDK_SSH")  # the board comes from the target's address only
    pi = edgesdk.load_target("raspberry-pi-5")
    assert "EDGESDK_SSH" in unavailable(pi)
    board = edgesdk.load_target("raspberry-pi-5", sshd["EDGESDK_SSH"])
    assert unavailable(board) is None
    result = edgesdk.profile(artifact, board, list(TEXTS), config=CONFIG)
    assert result["target"] == f"ssh:{sshd['EDGESDK_SSH']}" and result["method"] == "measured"
    assert "EDGESDK_SSH" not in __import__("os").environ
