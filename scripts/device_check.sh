#!/usr/bin/env bash
# Issue #13's checks on a machine with a CUDA GPU, in one call (a lent device's time is short):
# the CUDA tests, then the GPU timings (CUDA events) as JSON under ${OUT:-out}/.
#   LIVEHDR_TORCH="torch==2.14.1" bash scripts/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}
mkdir -p "$out"
scripts/setup.sh --dev
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1
.venv/bin/python -m pytest -q tests/test_device_pack.py tests/test_mqnet.py -k "cuda or gpu or device" \
  2>&1 | tee "$out/cuda-tests.txt" | tail -5
.venv/bin/python -m livehdr.bench --gpu --json > "$out/gpu-bench.json" 2> "$out/gpu-bench.err"
tail -3 "$out/gpu-bench.err"
cat "$out/gpu-bench.json"
