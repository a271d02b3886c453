"""Measure A/V sync in the live window (issue #24's goal): a 1080p30 clip with clicks on known frames, played
offscreen through the chosen model against a PulseAudio null sink started here, with 3 seeks and a pause;
prints the sync error of every click after the start-up offset.

    .venv/bin/python scripts/av_sync.py [--seconds 65] [--model clut] [--size 1920x1080]
Needs pulseaudio + pulseaudio-utils (scripts/system-deps.sh).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]

import _sound  # noqa: E402
from livehdr.argtypes import parse_size  # noqa: E402
from livehdr.color import ReferenceLevels  # noqa: E402
from livehdr.io.sources import FileSource  # noqa: E402
from livehdr.operators import OperatorConfig, create_operator  # noqa: E402
from livehdr.window import app  # noqa: E402
from livehdr.window.presenters import OffscreenPresenter  # noqa: E402

FPS = 30


class Scripted(OffscreenPresenter):
    script: list = []

    def __init__(self, w, h):
        super().__init__(w, h)
        self._t0, self._todo = None, list(self.script)

    def poll(self):
        now = time.perf_counter()
        self._t0 = self._t0 or now
        out = []
        while self._todo and now - self._t0 >= self._todo[0][0]:
            out.append(self._todo.pop(0)[1])
        return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=65)
    ap.add_argument("--model", default="clut")
    ap.add_argument("--size", type=parse_size, default=(1920, 1080), metavar="WxH")
    a = ap.parse_args()
    w, h = a.size
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        clip = d / "clicks.mp4"
        t = time.perf_counter()
        clicks = set(_sound.make_click_clip(clip, seconds=a.seconds, fps=FPS, width=w, height=h))
        print(f"clip {w}x{h} {a.seconds:g} s made in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        play = a.seconds - 5
        Scripted.script = [(play * 0.25, "seek_forward"), (play * 0.45, "seek_back"), (play * 0.55, "pause"),
                           (play * 0.55 + 1.5, "pause"), (play * 0.7, "seek_back"), (play, "quit")]
        app.OffscreenPresenter = Scripted
        with _sound.pulse_server(d) as env:
            os.environ.update({k: env[k] for k in ("HOME", "XDG_RUNTIME_DIR", "PULSE_SERVER")})
            op = create_operator(a.model, OperatorConfig())
            models = app.ModelSwitcher((a.model,), lambda n, lv: create_operator(n, OperatorConfig(levels=lv)))
            with _sound.recording(env, d / "heard.raw"):
                report = app.run_window(app.WindowSettings(levels=ReferenceLevels(), offscreen=True),
                                        FileSource(str(clip)), op, models)
                time.sleep(0.5)
            heard = _sound.click_times(d / "heard.raw")
    end = report.presents[-1][2] - 0.5
    flashes = [(t, p) for _, p, t, _ in report.presents if round(p * FPS) in clicks and t < end]
    inner = np.array([(c - p) * 1e3 for _, p, _, c in report.presents if c is not None])
    print(f"{report.presented} frames presented in {report.seconds:.1f} s ({report.presented / report.seconds:.1f} "
          f"fps), {report.late_dropped} dropped late; the sound's clock at each swap minus the frame's pts: median "
          f"{np.median(inner):.1f} ms, p95 |.| {np.percentile(np.abs(inner), 95):.1f} ms (internal, not the speaker)")
    if len(flashes) < 2 or len(heard) < 2:
        print(f"only {len(flashes)} white frames presented, {len(heard)} clicks heard: no external measurement")
        return 1
    first = flashes[0][0] - heard[0]  # pair flashes with clicks (a second apart), then the median offset
    gaps = np.array([t - heard[np.argmin(np.abs(heard - (t - first)))] for t, _ in flashes])
    err = (gaps - np.median(gaps)) * 1e3
    shown = report.presented
    print(f"{a.model} {w}x{h}: {shown} frames presented in {report.seconds:.1f} s, {report.late_dropped} dropped "
          f"late ({100 * report.late_dropped / max(1, shown + report.late_dropped):.1f} %); {len(flashes)} clicks "
          f"matched of {len(heard)} heard; sync error after the start-up offset: max |e| {np.abs(err).max():.1f} ms "
          f"({np.abs(err).max() * FPS / 1e3:.2f} frames), median {np.median(np.abs(err)):.1f} ms")
    print("errors ms:", np.round(err, 1).tolist())
    return 0


if __name__ == "__main__":
    sys.exit(main())
