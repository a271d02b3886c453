"""Measure --player mpv (issue #24's goal): a 1080p30 clip through the chosen model into Debian's mpv under
Xvfb; prints the time to the first picture, mpv's dropped frames, and the rate the stream held.

    .venv/bin/python scripts/mpv_rate.py [--seconds 30] [--model clut] [--size 1920x1080] [--vo gpu|null]
Needs mpv and Xvfb (scripts/system-deps.sh).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import _sound  # noqa: E402
from livehdr.argtypes import parse_size  # noqa: E402
from test_mpv_player import Ipc  # noqa: E402
from xvfb import xvfb  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--model", default="clut")
    ap.add_argument("--size", type=parse_size, default=(1920, 1080), metavar="WxH")
    ap.add_argument("--vo", default="gpu")
    a = ap.parse_args()
    w, h = a.size
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        clip = d / "clip.mp4"
        _sound.make_click_clip(clip, seconds=a.seconds + 5, fps=30, width=w, height=h)
        with xvfb(1920, 1080, 24) as display:
            env = dict(os.environ, DISPLAY=display)
            env.pop("WAYLAND_DISPLAY", None)
            sock = d / "ipc"
            args = f"--no-config --vo={a.vo} --gpu-sw=yes --ao=null --hwdec=no"
            t0 = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "run_live.py", "--input", str(clip), "--player", "mpv",
                                     "--model", a.model, "--mpv-ipc", str(sock), "--mpv-args", args],
                                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            ipc = Ipc(sock, timeout=120)
            ipc.wait_for("time-pos", lambda v: isinstance(v, (int, float)), timeout=120)
            first = time.perf_counter() - t0
            pos0, wall0 = ipc("get_property", "time-pos"), time.perf_counter()
            time.sleep(a.seconds)
            pos1, wall1 = ipc("get_property", "time-pos"), time.perf_counter()
            drops = sum(ipc("get_property", p) or 0 for p in ("frame-drop-count", "decoder-frame-drop-count"))
            ipc("keypress", "q")
            _, err = proc.communicate(timeout=60)
    frames = (pos1 - pos0) * 30
    print(f"{a.model} {w}x{h} vo={a.vo}: first picture {first:.2f} s after launch (python start included); "
          f"played {pos1 - pos0:.2f} s of video in {wall1 - wall0:.2f} s wall ({(pos1 - pos0) / (wall1 - wall0):.3f}x "
          f"the file's rate); mpv dropped {drops} of ~{frames:.0f} frames ({100 * drops / max(frames, 1):.2f} %)")
    print(err.strip().splitlines()[-1] if err.strip() else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
