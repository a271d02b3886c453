"""Per-layer int8 sensitivity of MQNet (a direct ablation, HAWQ's question answered by measurement).

    .venv/bin/python scripts/int8_sensitivity.py --data ../shared/data/hdri ../shared/data/hdri-extra

For every module of ``mqnet_int8.FLOAT_CHOICES``: quantize that module alone (everything else float), and
report the held-out PU21-PSNR drop against fp32 and the highlight error (stops, where fp32 > 1.5x paper
white). Then a greedy choice: start from "all int8 but the head" and keep the most sensitive modules in
float until the highlight goal is met, timing each step at ``--time-size`` (default 1920x1080) on the CPU.
Calibration uses the same training-scene crops as scripts/build_mqnet_int8.py (never a held-out scene).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from livehdr.base.memory import keep_freed_memory  # noqa: E402

HIGHLIGHT_GOAL_STOPS = 0.1
PU21_GOAL_DB = 0.2


def median_ms(model, size, repeats: int = 3) -> float:
    x = torch.rand(1, 3, size[1], size[0])
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1000)
    return sorted(times)[len(times) // 2]


def main() -> int:
    keep_freed_memory()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--base", default="models/mqnet.safetensors")
    p.add_argument("--crops", type=int, default=160)
    p.add_argument("--synthetic", type=int, default=24)
    p.add_argument("--views", type=int, default=1)
    p.add_argument("--observer", choices=("histogram", "minmax"), default="histogram")
    p.add_argument("--time-size", default="1920x1080")
    p.add_argument("--skip-alone", action="store_true", help="only the greedy part")
    p.add_argument("--json", default=None)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.time_size.split("x"))

    from build_mqnet_int8 import calibration_crops
    from int8_quality import compare, heldout_cases

    from livehdr.engine.quantize import calibrate_int8, histogram_observer, minmax_observer
    from livehdr.models.mqnet_int8 import FLOAT_CHOICES
    from livehdr.models.weights import load_model

    base = load_model(args.base)
    crops, _, _ = calibration_crops(args.data, args.crops, 128, args.synthetic, 12)
    cases = heldout_cases(args.data, args.views)
    observer = histogram_observer if args.observer == "histogram" else minmax_observer

    def score(float_modules):
        int8 = calibrate_int8(base, crops, float_modules, observer())
        return int8, compare(base, int8, cases)

    report = {"cases": len(cases), "alone": {}, "greedy": []}
    tops = list(FLOAT_CHOICES)
    if not args.skip_alone:
        for name in tops:
            _, q = score([m for m in tops if m != name])
            report["alone"][name] = q
            print(f"{name:<12} alone int8: PU21 -{q['pu21_drop_db']:.3f} dB, highlight {q['highlight_stops_mean']:.3f}"
                  f" stops", flush=True)
    order = sorted(report["alone"], key=lambda n: -report["alone"][n]["highlight_stops_mean"]) if report["alone"] \
        else ["decoder.4", "decoder.3", "decoder.2"]
    keep = ["head"]
    fp32_ms = median_ms(base, size)
    for step in range(4):
        int8, q = score(keep)
        ms = median_ms(int8, size)
        row = {"float": list(keep), **q, "ms": round(ms, 1), "fp32_ms": round(fp32_ms, 1),
               "speedup": round(fp32_ms / ms, 2)}
        report["greedy"].append(row)
        print(json.dumps(row), flush=True)
        met = q["highlight_stops_mean"] <= HIGHLIGHT_GOAL_STOPS and q["pu21_drop_db"] <= PU21_GOAL_DB
        rest = [n for n in order if n not in keep]
        if met or not rest:
            break
        keep.append(rest[0])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
