"""Helpers for the batch tests: clips with regular keyframes, decoded frames, a small library folder."""
from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from PIL import Image

from _media import make_clip


def make_gop_clip(path, width=64, height=48, frames=30, rate=10, gop=10, audio=True):
    """testsrc2 as H.264 with a keyframe every ``gop`` frames (+ AAC), so that segments can be cut."""
    tb = Fraction(1, rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    src = av.open(f"testsrc2=size={width}x{height}:rate={rate}", format="lavfi")
    out = av.open(str(path), "w")
    v = out.add_stream("libx264", rate=rate)
    v.width, v.height, v.pix_fmt = width, height, "yuv420p"
    v.time_base = v.codec_context.time_base = tb
    v.options = {"preset": "ultrafast", "crf": "18", "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
    a = None
    if audio:
        a = out.add_stream("aac", rate=48000)
        a.layout = "mono"
    for n, frame in enumerate(src.decode(video=0)):
        if n >= frames:
            break
        frame = frame.reformat(format="yuv420p")
        frame.pts, frame.time_base = n, tb
        out.mux(v.encode(frame))
    out.mux(v.encode(None))
    src.close()
    if a is not None:
        sine = av.open("sine=frequency=440:sample_rate=48000", format="lavfi")
        samples = 0
        for af in sine.decode(audio=0):
            if samples >= frames / rate * 48000:
                break
            af.pts, af.time_base = samples, Fraction(1, 48000)
            samples += af.samples
            out.mux(a.encode(af))
        out.mux(a.encode(None))
        sine.close()
    out.close()
    return path


def decoded(path):
    """[(pts seconds, [Y, Cb, Cr] int arrays)] of every frame, in display order."""
    frames = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            planes = [np.frombuffer(p, np.uint16).reshape(p.height, p.line_size // 2)[:, : p.width].astype(int)
                      for p in f.planes]
            frames.append((float(f.pts * f.time_base), planes))
    return frames


def max_pixel_difference(a, b) -> int:
    return max(int(np.abs(p - q).max()) for (_, x), (_, y) in zip(a, b) for p, q in zip(x, y))


def make_library(root, videos=2, images=3, video_frames=6):
    """in/ with images in nested folders, small videos, a text file and a broken video."""
    rng = np.random.default_rng(0)
    (root / "sub" / "deeper").mkdir(parents=True)
    for i in range(images):
        folder = root / "sub" / "deeper" if i % 2 else root
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    for i in range(videos):
        make_clip(root / ("sub" if i % 2 else ".") / f"clip{i}.mp4", 64, 48, frames=video_frames, rate=10)
    (root / "notes.txt").write_text("not media")
    (root / "sub" / "broken.mp4").write_text("not a video either")
    return root
