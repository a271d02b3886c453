"""Brightness pumping on a static clip with sensor noise, measured through real files (issues #10 and #11).

    .venv/bin/python scripts/pumping_video.py [--scene st_peters_square_night] [--model naive --model clut ...]

1. A static perspective view of a real HDR scene, exposed to its Reinhard key and tone-mapped through a plain
   sRGB clip, quantized to 8 bits: the SDR a camera or game would hand over.
2. 30 frames of it, each with fresh +-1 code-value noise, written losslessly (libx264rgb, crf 0), so the
   input changes only by the noise.
3. Each model converts that clip with the real CLI at ``--crf 0`` (x265 at crf 18 smooths +-1 code noise
   away and would hide the flicker, DESIGN.md).
4. The output is decoded (H.273 Y'CbCr -> R'G'B', PQ -> cd/m2, BT.2020 luminance). Pumping is the mean
   absolute frame-to-frame change of the frame-mean luminance, over its mean, in percent; the ratio is
   against ``naive`` on the same clip.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from livehdr import color  # noqa: E402
from livehdr.color.tonecurves import quantize_8bit, sdr_from_hdr  # noqa: E402
from livehdr.train.data import load_images, perspective_view  # noqa: E402

DATA = [os.path.join(ROOT, "..", "shared", "data", d) for d in ("hdri", "hdri-extra")]


def static_view(scene: str, width: int, height: int) -> np.ndarray:
    """The view (of 8 yaws, level, 70 degrees) with the most clipped pixels: where pumping shows."""
    images = load_images([d for d in DATA if os.path.isdir(d)], only={scene})
    if not images:
        raise SystemExit(f"scene {scene!r} not found under {DATA}")
    pano = images[0].pixels
    best, best_clipped = None, -1.0
    for k in range(8):
        hdr = perspective_view(pano, width, height, yaw=k * np.pi / 4, pitch=0.0, fov_deg=70.0)
        key = float(np.exp(np.mean(np.log(color.luminance_BT709(hdr) + 1e-4))))
        code = quantize_8bit(sdr_from_hdr(hdr, 0.18 / max(key, 1e-6), "clip"))
        clipped = float((code.max(axis=-1) == 255).mean())
        if clipped > best_clipped:
            best, best_clipped = code, clipped
    return best


def write_noisy_clip(path: str, code: np.ndarray, frames: int, seed: int = 0) -> None:
    import av

    rng = np.random.default_rng(seed)
    h, w = code.shape[:2]
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264rgb", rate=30)
        stream.width, stream.height, stream.pix_fmt = w, h, "rgb24"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for n in range(frames):
            noisy = np.clip(code.astype(np.int16) + rng.integers(-1, 2, code.shape), 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(noisy, format="rgb24")
            frame.pts = n
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def frame_means_nits(path: str) -> np.ndarray:
    import av

    from livehdr.io.sources import frame_to_rgb

    means = []
    with av.open(path) as c:
        for f in c.decode(video=0):
            pq = frame_to_rgb(f)  # float R'G'B' in [0, 1] straight from the 10-bit planes (H.273)
            nits = color.eotf_ST2084(pq)
            means.append(float(color.luminance_BT2020(nits).mean()))
    return np.array(means)


def pumping_percent(means: np.ndarray) -> float:
    return float(np.mean(np.abs(np.diff(means))) / np.mean(means) * 100)


def parse_size(text: str) -> tuple[int, int]:
    from livehdr.argtypes import parse_size as sized

    return sized(text, minimum=64, even=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scene", default="st_peters_square_night")
    p.add_argument("--model", action="append",
                   help="repeatable (default: naive, bt2446a, mqnet, clut); NAME@FILE.safetensors runs NAME with "
                   "those weights (a training run's candidate); NAME/CURVE runs it with --source-curve CURVE")
    p.add_argument("--size", default="640x360", type=parse_size, help="WxH, even (default 640x360)")
    p.add_argument("--frames", type=int, default=30, choices=range(3, 10001), metavar="N",
                   help="frames in the clip (3..10000, default 30)")
    p.add_argument("--json", action="store_true")
    p.error = lambda message: sys.exit(f"pumping_video.py: error: {message} (see --help)")  # one line
    args = p.parse_args(argv)
    models = args.model or ["naive", "bt2446a", "mqnet", "clut"]
    if "naive" not in models:
        models = ["naive", *models]
    w, h = args.size
    report = {"scene": args.scene, "size": f"{w}x{h}", "frames": args.frames, "models": {}}
    with tempfile.TemporaryDirectory(prefix="livehdr-pumping-") as tmp:
        clip = os.path.join(tmp, "static.mkv")
        write_noisy_clip(clip, static_view(args.scene, w, h), args.frames)
        for k, m in enumerate(models):
            spec, _, weights = m.partition("@")
            name, _, curve = spec.partition("/")  # clut/srgb: the model with --source-curve srgb
            out = os.path.join(tmp, f"{k}.mkv")
            done = subprocess.run([sys.executable, os.path.join(ROOT, "run_live.py"), "-i", clip, "-o", out, "--model",
                                   name, "--crf", "0", "--preset", "ultrafast", "--device", "cpu",
                                   *(["--weights", weights] if weights else []),
                                   *(["--source-curve", curve] if curve else [])],
                                  stderr=subprocess.PIPE, text=True)
            if done.returncode != 0:  # the CLI's own one-line reason
                sys.exit(f"pumping_video.py: {m}: {(done.stderr.strip().splitlines() or ['failed'])[-1]}")
            means = frame_means_nits(out)
            report["models"][m] = {"pumping_percent_per_frame": round(pumping_percent(means), 4),
                                   "mean_nits": round(float(means.mean()), 2), "frames": int(means.size)}
    base = report["models"]["naive"]["pumping_percent_per_frame"]
    for r in report["models"].values():
        r["vs_naive"] = round(r["pumping_percent_per_frame"] / base, 2) if base > 0 else None
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{args.scene}, {w}x{h}, {args.frames} frames, +-1 code noise, crf 0")
        for m, r in report["models"].items():
            print(f"  {m:10s} {r['pumping_percent_per_frame']:.4f} %/frame  {r['vs_naive']}x naive  "
                  f"(mean {r['mean_nits']} cd/m2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
