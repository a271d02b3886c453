#!/usr/bin/env bash
# Run livehdr from a fresh checkout: creates .venv on first use, then passes all arguments on.
#   scripts/run.sh --input demo --output demo_hdr.mkv
# The user's working directory is kept, so relative --input/--output paths mean what they say.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
"$ROOT/scripts/setup.sh"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$ROOT/.venv/bin/python" "$ROOT/run_live.py" "$@"
