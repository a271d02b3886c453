"""Folder conversion on a real local Ray instance (2 CPUs): outputs equal to a serial run, long videos
split and joined with the same frames and timestamps, a worker killed mid-task retried, re-runs skip."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from _batch_media import decoded, make_gop_clip, make_library, max_pixel_difference
from livehdr import cli

ray = pytest.importorskip("ray")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["--model", "naive", "--preset", "ultrafast", "--encoder", "libx265", "--hwaccel", "none"]


def _ray_workers_running(task_names, mark):
    """PIDs of this test's Ray workers (marked by an environment variable) busy with one of ``task_names``;
    Ray titles a busy worker 'ray::TASK'."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().split(b"\0")[0].decode(errors="replace")
            if not any(title.startswith(f"ray::{t}") for t in task_names):
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                if mark.encode() not in f.read():
                    continue
        except OSError:
            continue
        found.append(int(pid))
    return found


def test_ray_folder_with_segments_and_a_worker_killed_mid_task(tmp_path, capsys):
    src = make_library(tmp_path / "in", videos=2, images=3, video_frames=6)
    make_gop_clip(src / "sub" / "long.mp4", 160, 96, frames=80, gop=10)
    ref = tmp_path / "serial"
    code, err = cli.main(["-i", str(src), "-o", str(ref), *FAST]), capsys.readouterr().err
    assert code == 2 and "6 converted (95 frames)" in err, err  # broken.mp4 fails in both runs

    out = tmp_path / "ray"
    mark = f"LIVEHDR_TEST_MARK={tmp_path}"
    env = {**os.environ, "LIVEHDR_TEST_MARK": str(tmp_path), "PYTHONPATH": REPO}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, "-m", "livehdr", "-i", str(src), "-o", str(out), *FAST,
                             "--jobs", "2", "--segment-seconds", "2"], env=env, cwd=REPO,
                            stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        if killed is None:
            busy = _ray_workers_running(("segment_task", "video_task"), mark)
            if busy:
                time.sleep(0.3)  # let it get into the frames
                try:
                    os.kill(busy[0], signal.SIGKILL)
                    killed = busy[0]
                except ProcessLookupError:
                    pass
        time.sleep(0.05)
    _, err = proc.communicate(timeout=60)
    assert killed is not None, "no busy worker was seen to kill"
    assert proc.returncode == 2, err
    assert "6 converted (95 frames), 0 already done, 1 skipped, 1 failed" in err, err
    assert "local Ray instance: 1 node(s), 2 CPUs" in err
    assert any(ln.startswith("livehdr: failed sub/broken.mp4: not a media file") for ln in err.splitlines())
    assert "Traceback" not in err

    # Every file as the serial run made it: whole videos and images bit for bit (same encoder input and
    # settings); the split video with the same frames and timestamps, three segments joined.
    for clip in ("clip0.mkv", "sub/clip1.mkv"):
        a, b = decoded(ref / clip), decoded(out / clip)
        assert [t for t, _ in a] == [t for t, _ in b] and max_pixel_difference(a, b) == 0
    for img in ("img0.exr", "img2.exr", "sub/deeper/img1.exr"):
        assert (ref / img).read_bytes() == (out / img).read_bytes()
    a, b = decoded(ref / "sub/long.mkv"), decoded(out / "sub/long.mkv")
    assert len(a) == len(b) == 80 and [t for t, _ in a] == [t for t, _ in b]
    assert np.mean([np.abs(p - q).mean() for (_, x), (_, y) in zip(a, b) for p, q in zip(x, y)]) < 4
    with av.open(str(out / "sub/long.mkv")) as c:
        assert sum(p.is_keyframe for p in c.demux(video=0) if p.size) >= 4
        assert len(c.streams.audio) == 1
    leftovers = [os.path.join(d, f) for d, _, files in os.walk(out) for f in files
                 if f.startswith(".") or "/work/" in d]
    assert leftovers == []  # the killed attempt's temporaries were removed by its retry

    # A finished folder (the failed file removed, else it is tried again): nothing to do, no Ray, quick.
    (src / "sub" / "broken.mp4").unlink()
    t0 = time.perf_counter()
    code, err = cli.main(["-i", str(src), "-o", str(out), *FAST, "--jobs", "2"]), capsys.readouterr().err
    assert code == 0 and "0 converted (0 frames), 6 already done, 1 skipped, 0 failed" in err, err
    assert "(nothing to do)" in err
    assert time.perf_counter() - t0 < 5


def test_unreachable_cluster_is_one_line_in_seconds(tmp_path, capsys):
    src = make_library(tmp_path / "in", videos=0, images=1)
    t0 = time.perf_counter()
    code = cli.main(["-i", str(src), "-o", str(tmp_path / "out"), *FAST, "--ray-address", "127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines() == [
        "livehdr: error: cannot reach the Ray cluster at 127.0.0.1:9 (Connection refused); is `ray start --head` "
        "running there?"]
    assert time.perf_counter() - t0 < 20
