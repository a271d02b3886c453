#!/usr/bin/env bash
# Issue #25: the ONE command for the first lent CUDA GPU, in at most 8 minutes. It runs the CUDA tests
# (tests/test_video.py with NVENC, test_device_pack.py, test_frame_path.py, test_device_table.py, the CUDA
# tests of test_mqnet.py), then `python -m livehdr.bench --gpu`, and prints ONE JSON line last: the device's
# name, the test counts, and every figure of the issue's goals table with its goal.
#
# That machine reaches no network: first, HERE, `bash scripts/device_wheels.sh` (the Python packages its
# image lacks as wheels in .whl/, the EGL loaders as .debs in .gl/); then the device call is
#   run(command="bash scripts/device_check.sh", carry=[".whl", ".gl"], timeout_s=540)
# Logs land in $OUT (tests.txt, bench.json, bench.err, gpu.txt). Nothing here changes the GPU's settings.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}
mkdir -p "$out"
PY=${LIVEHDR_PYTHON:-python3}
if [ -d .gl ] && ls .gl/*.deb >/dev/null 2>&1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo '{"error": "installing the carried wheels failed"}'; exit 1; }
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1

# 1. the CUDA tests (and the CPU ones of the same files: the device path must equal the numba one there too)
tests=${LIVEHDR_CHECK_TESTS:-tests/test_video.py tests/test_device_pack.py tests/test_frame_path.py \
tests/test_device_table.py tests/test_mqnet.py::test_cuda_fp16_matches_cpu}  # override: a dry run elsewhere
# shellcheck disable=SC2086
timeout 240 "$PY" -m pytest -q -p no:cacheprovider -rs $tests > "$out/tests.txt" 2>&1
tests_rc=$?
# 2. the figures (one JSON object on stdout)
timeout 180 "$PY" -m livehdr.bench --gpu --json > "$out/bench.json" 2> "$out/bench.err"
bench_rc=$?

"$PY" - "$out" "$tests_rc" "$bench_rc" <<'EOF'
import json, re, sys
out, tests_rc, bench_rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
text = open(f"{out}/tests.txt", errors="replace").read()
counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?)", text.splitlines()[-1] if text else "")}
try:
    bench = json.load(open(f"{out}/bench.json"))
except (OSError, ValueError):  # cut short: keep the sections it finished ("livehdr.bench: KEY done: {...}")
    err = open(f"{out}/bench.err", errors="replace").read().strip().splitlines()
    bench = {"error": err[-1] if err else f"bench exited {bench_rc}"}
    for line in err:
        m = re.match(r"livehdr\.bench: (\w+) done: (.*)$", line)
        if m:
            bench[m.group(1)] = json.loads(m.group(2))
    try:
        from livehdr.pipeline.gpu_bench import figures_of, goal_table

        bench["goals"] = goal_table(figures_of(bench))
    except Exception as e:  # the summary must still print
        bench["goals_error"] = str(e)
gpu = bench.get("gpu", bench)
smi = open(f"{out}/gpu.txt", errors="replace").read().splitlines()
device = gpu.get("device") or (smi[1].split(",")[0].strip() if len(smi) > 1 else None)
print(json.dumps({"device": device, "tests": {"rc": tests_rc, **counts}, "bench_rc": bench_rc,
                  "goals": gpu.get("goals"), "gpu": gpu}))
EOF
