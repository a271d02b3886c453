#!/usr/bin/env bash
# Run livehdr from a fresh checkout: creates .venv on first use, then passes all arguments on.
#   scripts/run.sh --input demo --output demo_hdr.mkv
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python run_live.py "$@"
