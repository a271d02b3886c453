"""What the learned operator's temporal stage (livehdr/operators/temporal.py) buys and costs on real scenes.

    .venv/bin/python scripts/temporal_cost.py [--model mqnet] [--precision fp32] [--scenes a b ...]

For each scene (default: the validation scenes of models/splits.json, never the held-out ones), three
clips of 8-bit SDR through a plain sRGB clip at the scene's key, each frame with fresh +-1 code noise:
- static: the same view every frame;
- pan: the view turns 0.5 degrees a frame;
- fade: the exposure rises by 2 stops over the clip.
Each clip goes through the operator twice, with the temporal stage on (as the pipelines run it) and off
(the network frame by frame). Reported per motion: frame-mean pumping over naive's (static only), and the
mean PU21-PSNR against the true HDR frame, on minus off (negative: the history costs quality).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from livehdr import color  # noqa: E402
from livehdr.metrics import frame_mean_pumping, pu21_psnr  # noqa: E402
from livehdr.train.data import load_images, perspective_view, read_splits  # noqa: E402
from livehdr.train.synthesis import SdrRecipe, key_exposure, synthesize_sdr, target_from_hdr  # noqa: E402

DATA = [os.path.join(ROOT, "..", "shared", "data", d) for d in ("hdri", "hdri-extra")]


def clip_frames(pano: np.ndarray, motion: str, frames: int, width: int, height: int, seed: int):
    """(SDR code values, true relative HDR) per frame of one clip."""
    rng = np.random.default_rng(seed)
    first = perspective_view(pano, width, height, yaw=0.0, pitch=0.0, fov_deg=70.0)
    exposure = key_exposure(first)
    out = []
    for i in range(frames):
        yaw = np.deg2rad(0.5 * i) if motion == "pan" else 0.0
        hdr = first if yaw == 0.0 else perspective_view(pano, width, height, yaw=yaw, pitch=0.0, fov_deg=70.0)
        e = exposure * (2.0 ** (2.0 * i / (frames - 1)) if motion == "fade" else 1.0)
        code = synthesize_sdr(hdr, SdrRecipe("clip", e))
        u8 = np.round(code * 255).astype(np.int16) + rng.integers(-1, 2, size=code.shape)
        out.append(((np.clip(u8, 0, 255) / 255).astype(np.float32), target_from_hdr(hdr, e)))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mqnet")
    p.add_argument("--precision", default="fp32", choices=("fp32", "int8"))
    p.add_argument("--scenes", nargs="+", help="default: the validation scenes of models/splits.json")
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--size", default="320x180")
    args = p.parse_args(argv)

    import torch

    from livehdr.operators import OperatorConfig, create_operator
    from livehdr.operators.temporal import TemporalMaps

    torch.set_num_threads(2)
    width, height = (int(v) for v in args.size.split("x"))
    names = args.scenes or read_splits(None).validation
    images = load_images([d for d in DATA if os.path.isdir(d)], only=set(names))
    if not images:
        raise SystemExit(f"none of {names} found under {DATA}")
    op = create_operator(args.model, OperatorConfig(device="cpu", precision=args.precision))
    naive = create_operator("naive")
    paper = color.PAPER_WHITE_BT2408
    rows = {m: [] for m in ("static", "pan", "fade")}
    for image in images:
        for motion in rows:
            clip = clip_frames(image.pixels, motion, args.frames, width, height, seed=len(image.name))
            result = {}
            for name, smoothing in (("on", None), ("off", 0.0)):
                op.reset()
                if smoothing is not None:
                    op.temporal = TemporalMaps(smoothing=smoothing)
                outs = [op(code) for code, _ in clip]
                op.temporal = TemporalMaps()
                result[name] = (frame_mean_pumping(outs),
                                float(np.mean([pu21_psnr(o * paper, t * paper) for o, (_, t) in zip(outs, clip)])))
            naive_pump = frame_mean_pumping([naive(code) for code, _ in clip])
            rows[motion].append((image.name, result["off"][0] / naive_pump, result["on"][0] / naive_pump,
                                 result["on"][1] - result["off"][1]))
    print(f"{args.model} ({args.precision}), {width}x{height}, {args.frames} frames, +-1 code noise")
    for motion, entries in rows.items():
        for name, off, on, dpsnr in entries:
            print(f"  {motion:6s} {name:22s} pumping vs naive {off:5.2f}x off -> {on:5.2f}x on   "
                  f"PU21-PSNR on - off {dpsnr:+.3f} dB")
        print(f"  {motion:6s} {'median':22s} pumping vs naive {np.median([e[1] for e in entries]):5.2f}x off -> "
              f"{np.median([e[2] for e in entries]):5.2f}x on   PU21-PSNR on - off "
              f"{np.mean([e[3] for e in entries]):+.3f} dB (mean)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
