#!/usr/bin/env bash
# The whole test suite on a fresh machine: system packages, .venv with test extras, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh
scripts/setup.sh --dev
exec .venv/bin/python -m pytest -q "$@"
