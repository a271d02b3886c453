"""python -m livehdr.bench prints one JSON object with per-stage medians and fps (CPU, tiny size)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from livehdr import bench, pipeline

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_json_on_cpu():
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "livehdr.bench", "--model", "naive", "--device", "cpu",
                           "--size", "96x64", "--frames", "3", "--json"], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert report["size"] == "96x64" and report["frames"] == 3
    (result,) = report["results"]
    assert (result["model"], result["device"], result["frames"]) == ("naive", "cpu", 3)
    assert set(result["stages_ms"]) == set(pipeline.STAGES)
    assert all(v >= 0 for v in result["stages_ms"].values())
    assert result["infer_ms"] == result["stages_ms"]["infer"] > 0
    assert result["fps"] > 0 and result["slowest_stage"] in pipeline.STAGES
    for name in ("yuv420p10", "rgb10a2", "pq"):
        k = report["kernels"][name]
        assert k["numba_ms"] > 0 and k["numpy_ms"] > 0 and k["speedup"] > 0


def test_bench_rejects_unknown_model(capsys):
    assert bench.main(["--model", "no-such-model", "--size", "64x48", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("livehdr: error: unknown model")


def test_bench_clip_is_what_it_claims(tmp_path):
    import av

    path = bench.make_test_clip(str(tmp_path / "c.mp4"), 64, 48, 3)
    with av.open(path) as c:
        v = c.streams.video[0]
        assert (v.codec_context.name, v.width, v.height) == ("h264", 64, 48)
        assert sum(1 for _ in c.decode(v)) == 3


def test_soak_reports_rss_growth_per_1000_frames(capsys):
    report, _ = bench.run(["--soak", "120", "--size", "64x48", "--json"])
    soak = report["soak"]
    assert soak["frames"] == 120 and soak["size"] == "64x48"
    assert [n for n, _ in soak["samples"]][0] == 0 and soak["samples"][-1][0] == 120
    assert all(mb > 10 for _, mb in soak["samples"])  # a Python process with numpy and PyAV loaded
    assert soak["rss_growth_kb_per_1000_frames"] == 0.0  # two samples only (0, 120): no slope to fit


def test_soak_growth_is_the_slope_of_the_settled_samples(tmp_path, monkeypatch):
    import itertools

    import numpy as np
    import pytest

    calls = itertools.count()
    monkeypatch.setattr(bench, "rss_bytes", lambda: 100_000_000 + 10_000 * next(calls))  # 10 kB per sample
    soak = bench.soak(300, 64, 48, "ultrafast", str(tmp_path), every=1)
    # The least-squares slope of the samples after the warm-up, per 1000 frames, recomputed from the samples
    # reported (exact: the fake RSS moves in whole 10 kB steps, which the report's 0.01 MB rounding keeps).
    settled = [(n, mb) for n, mb in soak["samples"] if n >= 300 // 4]
    assert len(settled) >= 3, soak["samples"]
    slope_kb = np.polyfit([n for n, _ in settled], [mb * 1e3 for _, mb in settled], 1)[0] * 1000
    assert slope_kb > 0 and soak["rss_growth_kb_per_1000_frames"] == pytest.approx(slope_kb, abs=0.1)


def test_vs_ffmpeg_times_ffmpeg_alone_and_reports_the_ratio(tmp_path):
    """--vs-ffmpeg on a tiny clip: FFmpeg alone encoded every frame (twice: before and after the operators) into
    a real HEVC 10-bit file, and each operator's ratio is its fps over FFmpeg's mean fps."""
    import math

    import av

    report, _ = bench.run(["--model", "naive", "--size", "96x64", "--frames", "6", "--vs-ffmpeg", "--json"])
    (result,) = report["results"]
    ff = report["ffmpeg"]
    assert len(ff["runs"]) == 2
    assert all(r["frames"] == result["frames"] == 6 for r in ff["runs"])  # the same frames
    assert all(r["fps"] > 0 and r["startup_s"] >= 0 for r in ff["runs"])
    assert ff["fps"] == round(sum(r["fps"] for r in ff["runs"]) / 2, 3)
    assert "libx265 ultrafast" in ff["how"]
    assert math.isfinite(result["vs_ffmpeg"]) and result["vs_ffmpeg"] > 0
    assert abs(result["vs_ffmpeg"] - result["fps"] / ff["fps"]) < 0.01 * result["vs_ffmpeg"] + 1e-3

    clip = bench.make_test_clip(str(tmp_path / "in.mp4"), 96, 64, 5)
    one = bench.bench_ffmpeg(clip, str(tmp_path), 5, "ultrafast")
    assert one["frames"] == 5 and one["fps"] > 0
    with av.open(str(tmp_path / "ffmpeg-alone.mkv")) as c:
        v = c.streams.video[0]
        assert (v.codec_context.name, v.format.name) == ("hevc", "yuv420p10le")
        assert sum(1 for _ in c.decode(v)) == 5
