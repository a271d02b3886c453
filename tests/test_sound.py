"""Sound in the live window, against a real PulseAudio server started here (null sink, recorded through its
monitor with parec): clicks on known frames must be heard when their white frames are presented, within one
frame once the constant start-up offset (device + recording latency) is measured, through pauses and seeks."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import _sound
from livehdr.color import ReferenceLevels
from livehdr.io.sources import FileSource
from livehdr.operators import OperatorConfig, create_operator
from livehdr.window import app
from livehdr.window.presenters import OffscreenPresenter

pytestmark = pytest.mark.skipif(_sound.pulse_missing() is not None, reason=str(_sound.pulse_missing()))
FPS = 30
FRAME_MS = 1000 / FPS


@pytest.fixture()
def pulse(tmp_path, monkeypatch):
    with _sound.pulse_server(tmp_path) as env:
        for k in ("HOME", "XDG_RUNTIME_DIR", "PULSE_SERVER"):
            monkeypatch.setenv(k, env[k])
        import sounddevice as sd

        sd._terminate()  # PortAudio enumerates devices at start-up: again, now that the server runs
        sd._initialize()
        yield env


class ScriptedPresenter(OffscreenPresenter):
    """The offscreen presenter with keys pressed at given seconds after the first poll."""

    script: list[tuple[float, str]] = []

    def __init__(self, width, height):
        super().__init__(width, height)
        self._t0 = None
        self._todo = list(self.script)

    def poll(self):
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now
        out = []
        while self._todo and now - self._t0 >= self._todo[0][0]:
            out.append(self._todo.pop(0)[1])
        return out


def play(path, script, monkeypatch, sound=True):
    monkeypatch.setattr(ScriptedPresenter, "script", script)
    monkeypatch.setattr(app, "OffscreenPresenter", ScriptedPresenter)
    op = create_operator("naive", OperatorConfig())
    models = app.ModelSwitcher(names=("naive",), create=lambda n, lv: create_operator(n, OperatorConfig(levels=lv)))
    settings = app.WindowSettings(levels=ReferenceLevels(), offscreen=True, sound=sound)
    return app.run_window(settings, FileSource(str(path)), op, models)


def sync_errors_ms(report, clicks, heard):
    """(offset ms, per-click errors ms): presented white frames against the clicks heard nearest to them."""
    end = report.presents[-1][2] - 0.5  # the sound of the last half second is cut by the quit
    p = report.presents
    starts = [p[0][2]] + [p[i + 1][2] for i in range(len(p) - 1) if abs(p[i + 1][1] - p[i][1]) > 1.0]
    flashes = [(t, pts) for _, pts, t, _ in p if round(pts * FPS) in clicks and t < end]
    assert len(flashes) >= 5, f"only {len(flashes)} white frames were presented"
    assert len(heard) >= 5, f"only {len(heard)} clicks were recorded"
    # each flash to its nearest click (paired with the first flash and the first click heard: clicks are a
    # second apart), then the start-up offset (device + recording latency) is the median of the pairs
    first = flashes[0][0] - heard[0]
    gaps = np.array([t - heard[np.argmin(np.abs(heard - (t - first)))] for t, _ in flashes])
    offset = float(np.median(gaps))
    # seconds since the start / the seek before each flash (a seek's first second is its transient)
    since = np.array([t - max(s0 for s0 in starts if s0 <= t) for t, _ in flashes])
    return offset * 1e3, (gaps - offset) * 1e3, since


def test_clicks_heard_on_their_frames_through_pause_and_seeks(tmp_path, pulse, monkeypatch):
    clip = tmp_path / "clicks.mp4"
    clicks = set(_sound.make_click_clip(clip, seconds=20, fps=FPS))
    script = [(3.2, "seek_forward"), (5.6, "pause"), (6.6, "pause"), (8.3, "seek_back"), (10.6, "seek_forward"),
              (13.4, "quit")]
    rec = tmp_path / "heard.raw"
    with _sound.recording(pulse, rec):
        report = play(clip, script, monkeypatch)
        time.sleep(0.5)
    heard = _sound.click_times(rec)
    offset, errors, since = sync_errors_ms(report, clicks, heard)
    print(f"sync errors ms {np.round(errors, 1).tolist()} at {np.round(since, 2).tolist()} s after a start/seek; "
          f"late frames dropped {report.late_dropped} of {report.presented + report.late_dropped}")
    steady = since >= 1.2
    assert steady.sum() >= 4, since
    assert np.all(np.abs(errors[steady]) <= FRAME_MS), (errors, since)
    # Known weakness: in the first ~1.2 s after a seek the picture has been measured up to 0.29 s behind the
    # sound in some runs (about the device buffer, DEVICE_LATENCY); bounded here, not hidden.
    assert np.all(np.abs(errors[~steady]) <= 1000 * 0.25 + 2 * FRAME_MS), (errors, since)
    # the seeks really happened: the presented pts jump forward twice (+5 s) and back once
    pts = np.array([p for _, p, _, _ in report.presents])
    jumps = np.diff(pts)
    assert (jumps > 3).sum() == 2 and (jumps < -3).sum() == 1, jumps[np.abs(jumps) > 1]
    # the pause stopped both: one gap of about a second in the pictures and in the sound's clock
    times = np.array([t for _, _, t, _ in report.presents])
    assert np.diff(times).max() > 0.7
    # every click heard was one the picture showed (no click played while its frame was skipped or paused)
    assert len(heard) <= len([1 for _, p, _, _ in report.presents if round(p * FPS) in clicks]) + 1


def test_no_audio_flag_and_no_server_play_the_video(tmp_path, monkeypatch, capsys):
    clip = tmp_path / "clicks.mp4"
    _sound.make_click_clip(clip, seconds=3, fps=FPS)
    report = play(clip, [(1.0, "quit")], monkeypatch, sound=False)
    assert report.presented > 10 and all(c is None for *_, c in report.presents)


def test_no_sound_server_is_one_line_and_the_video_plays(tmp_path):
    clip = tmp_path / "clicks.mp4"
    _sound.make_click_clip(clip, seconds=2, fps=FPS)
    env = dict(os.environ, PULSE_SERVER=f"unix:{tmp_path}/nothing-here")
    r = subprocess.run([sys.executable, "run_live.py", "--input", str(clip), "--offscreen", "--model", "naive",
                        "--max-frames", "20"], env=env, capture_output=True, text=True, timeout=120,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if "sound" in line]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "presented 20 frames" in r.stderr
