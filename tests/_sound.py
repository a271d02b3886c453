"""A real PulseAudio server for tests (null sink, recorded through its monitor) and a clip with clicks on
known frames (white frames in the picture, a short burst in the sound at the same presentation times)."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from fractions import Fraction

import av
import numpy as np

RATE = 48000
SINK = "livehdr_test"


def pulse_missing() -> str | None:
    for tool in ("pulseaudio", "parec", "pactl"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (scripts/system-deps.sh installs pulseaudio, pulseaudio-utils)"
    return None


@contextlib.contextmanager
def pulse_server(tmp_path):
    """pulseaudio -n with a null sink and an anonymous unix socket; yields the environment to use it."""
    home = tmp_path / "pulse"
    home.mkdir()
    sock = home / "native"
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(home), PULSE_SERVER=f"unix:{sock}")
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    proc = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit", "--disable-shm=yes",
         "-L", f"module-null-sink sink_name={SINK} rate={RATE} channels=2",
         "-L", f"module-native-protocol-unix auth-anonymous=1 socket={sock}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            ok = subprocess.run(["pactl", "set-default-sink", SINK], env=env, capture_output=True).returncode == 0
            if ok:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pulseaudio did not start: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.1)
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def recording(env, path):
    """parec of the null sink's monitor: mono s16le at RATE into ``path`` while the block runs."""
    with open(path, "wb") as f:
        proc = subprocess.Popen(["parec", "-d", f"{SINK}.monitor", "--raw", "--format=s16le", f"--rate={RATE}",
                                 "--channels=1", "--latency-msec=20"], env=env, stdout=f)
        try:
            time.sleep(0.5)  # the stream is connected and running
            yield
        finally:
            proc.terminate()
            proc.wait(timeout=5)


def click_times(path, threshold: float = 0.3, gap: float = 0.3) -> np.ndarray:
    """Seconds (from the start of the recording) where each click begins."""
    x = np.abs(np.fromfile(path, np.int16).astype(np.float32) / 32768)
    loud = np.flatnonzero(x > threshold)
    if not len(loud):
        return np.zeros(0)
    starts = loud[np.concatenate(([True], np.diff(loud) > gap * RATE))]
    return starts / RATE


def make_click_clip(path, seconds=20.0, fps=30, width=320, height=180, click_frames=None, codec="aac",
                    container_opts=None):
    """Grey frames, white on ``click_frames``; the audio is quiet noise with a 4 ms burst at each of them."""
    n = int(round(seconds * fps))
    if click_frames is None:
        click_frames = [int(round((k + 0.5) * fps)) + k % 3 for k in range(int(seconds) - 1)]
    clicks = set(click_frames)
    out = av.open(str(path), "w")
    v = out.add_stream("libx264", rate=fps)
    v.width, v.height, v.pix_fmt = width, height, "yuv420p"
    v.options = {"preset": "ultrafast", "crf": "23", "g": str(fps)}
    a = out.add_stream(codec, rate=RATE)
    a.layout = "mono"
    grey = np.full((height, width, 3), 40, np.uint8)
    white = np.full((height, width, 3), 235, np.uint8)
    for i in range(n):
        vf = av.VideoFrame.from_ndarray(white if i in clicks else grey, format="rgb24")
        vf.pts = i
        vf.time_base = Fraction(1, fps)
        out.mux(v.encode(vf))
    out.mux(v.encode(None))
    rng = np.random.default_rng(1)
    sound = (rng.standard_normal(n * RATE // fps) * 0.01).astype(np.float32)
    for i in clicks:
        s = int(round(i / fps * RATE))
        sound[s:s + RATE // 250] = 0.9
    step = 1024
    for s in range(0, len(sound), step):
        af = av.AudioFrame.from_ndarray(sound[None, s:s + step], format="flt", layout="mono")
        af.sample_rate = RATE
        af.pts = s
        af.time_base = Fraction(1, RATE)
        for p in a.encode(af):
            out.mux(p)
    for p in a.encode(None):
        out.mux(p)
    out.close()
    return sorted(clicks)
