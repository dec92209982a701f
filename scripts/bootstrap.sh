#!/usr/bin/env bash
# Create or update .venv with the pinned toolchain (requirements.lock). Idempotent: a stamp
# file holding the hash of pyproject.toml + requirements.lock skips work when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || {
  echo "error: edgesdk needs Python 3.11 (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 2
}
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)
stamp=.venv/.edgesdk-installed
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "> creating .venv with the pinned toolchain (first time: ~2 min)" >&2
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and alone: an unpinned resolve would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -c requirements.lock -e ".[test,sweep]"
echo "$want" > "$stamp"
