#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv.
#   scripts/setup.sh          runtime packages
#   scripts/setup.sh --dev    runtime + test packages
# The CPU build of torch goes in first: an unpinned `torch` would pull a multi-GB CUDA build.
# Re-running is cheap: a stamp of the requirement files skips pip when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
REQ=requirements.txt
[ "${1:-}" = "--dev" ] && REQ=requirements-dev.txt

if [ ! -x .venv/bin/python ]; then
  echo "livehdr: creating .venv" >&2
  "$PY" -m venv .venv
fi
stamp=".venv/.livehdr-$(basename "$REQ" .txt)-$(cat requirements*.txt | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "livehdr: installing $REQ into .venv (first run only)" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    # Override LIVEHDR_TORCH (e.g. "torch==2.14.1") to pick another build on a GPU machine.
    .venv/bin/python -m pip install -q "${LIVEHDR_TORCH:-torch==2.13.0}"
  fi
  .venv/bin/python -m pip install -q -r "$REQ"
  touch "$stamp"
fi
