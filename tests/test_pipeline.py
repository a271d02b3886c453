"""Conversion through the CLI (read back with PyAV), error exits, Ctrl-C, and the live pipeline."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from _media import content_light_level, drain_live, make_clip, read_video
from livehdr import cli
from livehdr.operators import OperatorConfig, create_operator
from livehdr.pipeline import LivePipeline, ProcessedFrame, apply_operator
from livehdr.io.sources import DemoSource, FileSource, Source, SourceFrame

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["--preset", "ultrafast", "--encoder", "libx265", "--hwaccel", "none"]


def _run(argv, capsys):
    code = cli.main(argv)
    return code, capsys.readouterr().err


def _audio_span(path):
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        end = 0.0
        for p in c.demux(a):
            if p.pts is not None and p.duration:
                end = max(end, float((p.pts + p.duration) * p.time_base))
        return end


def _assert_hdr10(info, trc=16):
    assert (info["codec"], info["pix_fmt"]) == ("hevc", "yuv420p10le")
    assert (info["primaries"], info["trc"], info["matrix"], info["range"]) == (9, trc, 9, 1)
    names = [name for name, _ in info["side_data"]]
    assert "MASTERING_DISPLAY_METADATA" in names and "CONTENT_LIGHT_LEVEL" in names


@pytest.mark.parametrize("ext", [".mkv", ".mp4"])
def test_clip_with_audio_converts_to_hdr10(tmp_path, capsys, ext):
    src = make_clip(tmp_path / "in.mp4", 160, 90, frames=10, rate=10)
    out = tmp_path / f"out{ext}"
    code, err = _run(["-i", str(src), "-o", str(out), "--model", "naive", "--stats", *FAST], capsys)
    assert code == 0, err
    info, ref = read_video(out), read_video(src)
    _assert_hdr10(info)
    assert (info["width"], info["height"]) == (160, 90)
    assert info["frames"] == ref["frames"] == 10
    # Same timing: frame-to-frame steps and span equal the input's (mkv may shift the origin for AAC priming).
    assert np.allclose(np.diff(info["pts"]), np.diff(ref["pts"]), atol=1e-3)
    assert info["container_duration"] == pytest.approx(ref["container_duration"], abs=30_000)
    assert info["audio"] == ["aac"]
    assert _audio_span(out) == pytest.approx(_audio_span(src), abs=0.03)
    if ext == ".mp4":
        assert info["codec_tag"] == "hvc1"
    # naive puts SDR white at paper white: testsrc2's brightest pixels sit at about 203 cd/m2.
    cll, fall = content_light_level(info["side_data"])
    # Paper white 203; MaxCLL is measured on the decoded luma, where x265 rings past the colour bars' edges.
    assert 150 <= cll <= 204 * 1.2 and 0 < fall <= cll
    assert "median ms per frame: decode" in err and "pack" in err and "encode" in err
    assert sorted(os.listdir(tmp_path)) == sorted(["in.mp4", f"out{ext}"])  # temporaries are gone


def test_odd_size_ten_bit_input_is_cropped_to_even(tmp_path, capsys):
    src = make_clip(tmp_path / "odd.mkv", 1921, 1081, frames=3, codec="ffv1", pix_fmt="yuv420p10le")
    out = tmp_path / "odd_hdr.mkv"
    code, err = _run(["-i", str(src), "-o", str(out), "--model", "naive", *FAST], capsys)
    assert code == 0, err
    assert "cropping 1921x1081 to 1920x1080" in err
    info = read_video(out)
    _assert_hdr10(info)
    assert (info["width"], info["height"], info["frames"]) == (1920, 1080, 3)
    assert info["pts"] == pytest.approx(read_video(src)["pts"], abs=1e-3)
    assert info["audio"] == ["aac"]


def test_hlg_output(tmp_path, capsys):
    src = make_clip(tmp_path / "in.mkv", 128, 72, frames=4, rate=10)
    out = tmp_path / "hlg.mkv"
    code, err = _run(["-i", str(src), "-o", str(out), "--hlg", "--model", "bt2446a", *FAST], capsys)
    assert code == 0, err
    info = read_video(out)
    _assert_hdr10(info, trc=18)
    assert info["first_frame_trc"] == 18 and info["frames"] == 4


def test_variable_frame_rate_survives(tmp_path, capsys):
    times = [0.0, 0.1, 0.25, 0.3, 0.7, 0.72, 0.9]
    src = make_clip(tmp_path / "vfr.mkv", 64, 48, frames=len(times), frame_times=times, audio=False)
    out = tmp_path / "vfr_hdr.mkv"
    code, err = _run(["-i", str(src), "-o", str(out), "--model", "naive", *FAST], capsys)
    assert code == 0, err
    assert read_video(out)["pts"] == pytest.approx(times, abs=1e-3)


def test_max_frames_cuts_video_and_audio(tmp_path, capsys):
    src = make_clip(tmp_path / "in.mkv", 96, 64, frames=12, rate=10)
    out = tmp_path / "cut.mkv"
    code, err = _run(["-i", str(src), "-o", str(out), "--max-frames", "5", "--model", "naive", *FAST], capsys)
    assert code == 0, err
    assert read_video(out)["frames"] == 5
    assert _audio_span(out) <= 0.5 + 0.03


def test_demo_input_converts(tmp_path, capsys, monkeypatch):
    # The built-in clip at a test-friendly size (the default is 1280x720, 300 frames).
    import livehdr.io.sources as sources

    monkeypatch.setattr(sources, "DEMO_WIDTH", 128)
    monkeypatch.setattr(sources, "DEMO_HEIGHT", 72)
    monkeypatch.setattr(sources.DemoSource.__init__, "__defaults__", (128, 72, 30.0, 10.0))
    out = tmp_path / "demo.mp4"
    code, err = _run(["-i", "demo", "-o", str(out), "--max-frames", "3", "--model", "naive", *FAST], capsys)
    assert code == 0, err
    info = read_video(out)
    _assert_hdr10(info)
    assert (info["width"], info["height"], info["frames"]) == (128, 72, 3)
    assert info["pts"] == pytest.approx([0, 1 / 30, 2 / 30], abs=1e-3)
    assert info["audio"] == []


# ---------------------------------------------------------------------------------------------------------
# Errors: one line, exit 2, no output left behind
# ---------------------------------------------------------------------------------------------------------
def _expect_error(argv, capsys, fragment):
    code, err = _run(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("livehdr: error: ") and fragment in lines[0], err
    assert "Traceback" not in err


def test_error_not_a_media_file(tmp_path, capsys):
    bad = tmp_path / "notes.mkv"
    bad.write_text("just some text\n" * 50)
    _expect_error(["-i", str(bad), "-o", str(tmp_path / "o.mkv"), *FAST], capsys, "not a media file")
    assert not (tmp_path / "o.mkv").exists()


def test_error_zero_length_file(tmp_path, capsys):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    _expect_error(["-i", str(empty), "-o", str(tmp_path / "o.mkv"), *FAST], capsys, "empty")


def test_error_no_video_stream(tmp_path, capsys):
    src = make_clip(tmp_path / "a.mkv", 64, 48, frames=3)
    audio_only = tmp_path / "audio.mka"
    with av.open(str(src)) as i, av.open(str(audio_only), "w") as o:
        s = o.add_stream_from_template(i.streams.audio[0])
        for p in i.demux(i.streams.audio[0]):
            if p.size:
                p.stream = s
                o.mux(p)
    _expect_error(["-i", str(audio_only), "-o", str(tmp_path / "o.mkv"), *FAST], capsys, "no video stream")


def test_error_unwritable_output(tmp_path, capsys):
    src = make_clip(tmp_path / "in.mp4", 64, 48, frames=2, audio=False)
    _expect_error(["-i", str(src), "-o", str(tmp_path / "missing" / "o.mkv"), *FAST], capsys, "does not exist")
    if os.geteuid() != 0:  # root may write anywhere; the folder check above holds for everyone
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        _expect_error(["-i", str(src), "-o", str(locked / "o.mkv"), *FAST], capsys, "not writable")


def test_error_existing_output_without_overwrite(tmp_path, capsys):
    src = make_clip(tmp_path / "in.mp4", 64, 48, frames=2, audio=False)
    out = tmp_path / "o.mkv"
    out.write_bytes(b"keep me")
    _expect_error(["-i", str(src), "-o", str(out), *FAST], capsys, "--overwrite")
    assert out.read_bytes() == b"keep me"
    code, err = _run(["-i", str(src), "-o", str(out), "--overwrite", "--model", "naive", *FAST], capsys)
    assert code == 0, err
    assert read_video(out)["frames"] == 2


def test_truncated_file_converts_what_decodes(tmp_path, capsys):
    src = make_clip(tmp_path / "full.mkv", 160, 90, frames=30, rate=10, codec="mpeg4", pix_fmt="yuv420p")
    data = src.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 6 // 10])
    out = tmp_path / "out.mkv"
    code, err = _run(["-i", str(cut), "-o", str(out), "--model", "naive", *FAST], capsys)
    assert code == 0, err
    assert "warning" in err and "truncated" in err
    frames = read_video(out)["frames"]
    assert 5 <= frames < 30


def test_ctrl_c_finishes_a_playable_file(tmp_path):
    # Long enough that the interrupt always lands mid-file, even on a fast machine (it is never run to the end).
    src = make_clip(tmp_path / "long.mkv", 320, 240, frames=3000, rate=25)
    out = tmp_path / "partial.mkv"
    log = tmp_path / "stderr.txt"
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with open(log, "w") as err_file:  # a file, not a pipe: the progress bar must never block on a full pipe
        proc = subprocess.Popen([sys.executable, os.path.join(REPO, "run_live.py"), "-i", str(src), "-o", str(out),
                                 "--model", "bt2446a", "--preset", "medium", "--encoder", "libx265"],
                                cwd=tmp_path, env=env, stderr=err_file, text=True)
        deadline = time.time() + 120
        # Wait until encoding has produced bytes in the hidden video file, then interrupt.
        while time.time() < deadline:
            temps = [f for f in os.listdir(tmp_path) if f.startswith(".partial.") and f.endswith(".video.mkv")]
            if temps and os.path.getsize(tmp_path / temps[0]) > 2000:
                break
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    err = log.read_text()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    info = read_video(out)
    _assert_hdr10(info)
    assert 1 <= info["frames"] < 3000
    assert _audio_span(out) <= info["pts"][-1] + 0.2
    assert sorted(os.listdir(tmp_path)) == ["long.mkv", "partial.mkv", "stderr.txt"]


# ---------------------------------------------------------------------------------------------------------
# Live pipeline (window side)
# ---------------------------------------------------------------------------------------------------------
def test_live_pipeline_plays_a_file_at_its_rate_and_finishes(tmp_path):
    src = make_clip(tmp_path / "c.mkv", 64, 48, frames=8, rate=20, audio=False)
    op = create_operator("naive", OperatorConfig())
    pipe = LivePipeline(FileSource(str(src)), op)
    start = time.perf_counter()
    pipe.start()
    got = drain_live(pipe, lambda g: bool(g) and g[-1].index == 7)  # the last frame is never dropped
    elapsed = time.perf_counter() - start
    deadline = time.time() + 5
    while not pipe.finished and time.time() < deadline:
        time.sleep(0.02)
    assert pipe.finished
    pipe.stop()
    assert got and all(isinstance(f, ProcessedFrame) for f in got)
    assert elapsed >= 7 / 20 * 0.9  # paced at 20 fps, not as fast as decoding allows
    last = got[-1]
    assert last.pts == pytest.approx(0.35) and last.processed_at >= last.captured_at
    assert np.allclose(last.hdr, op.expand_uint8(last.sdr))
    assert pipe.stats()["infer"] > 0


def test_live_pipeline_seek_pause_and_operator_swap(tmp_path):
    src = make_clip(tmp_path / "c.mkv", 64, 48, frames=30, rate=10, audio=False)
    pipe = LivePipeline(FileSource(str(src)), create_operator("naive", OperatorConfig()))
    pipe.start()
    assert drain_live(pipe, lambda g: len(g) >= 1)
    pipe.set_paused(True)
    time.sleep(0.3)
    pipe.latest()  # whatever was in flight
    time.sleep(0.4)
    assert pipe.latest(timeout=0.1) is None  # paused: nothing new
    pipe.seek(2.0)  # a seek while paused still shows the new position
    after = drain_live(pipe, lambda g: len(g) >= 1)
    assert after[0].pts == pytest.approx(2.0)
    bt = create_operator("bt2446a", OperatorConfig())
    pipe.set_operator(bt)
    pipe.set_paused(False)
    later = drain_live(pipe, lambda g: len(g) >= 3)
    pipe.stop()
    assert later[-1].pts > 2.0
    assert np.allclose(later[-1].hdr, bt.expand_uint8(later[-1].sdr), atol=1e-5)


class _FastLiveSource(Source):
    """A live source far faster than the operator: the pipeline must keep only the newest frame."""

    width, height, fps, is_live = 32, 16, None, True

    def frames(self):
        i = 0
        while True:
            rgb = np.full((16, 32, 3), i % 256, np.uint8)
            yield SourceFrame(i, None, rgb, time.perf_counter())
            i += 1
            time.sleep(0.002)


class _SlowOperator:
    def __init__(self):
        self.op = create_operator("naive", OperatorConfig())

    def expand_uint8(self, u8):
        time.sleep(0.05)
        return self.op.expand_uint8(u8)


def test_live_source_drops_stale_frames():
    pipe = LivePipeline(_FastLiveSource(), _SlowOperator())
    pipe.start()
    got = drain_live(pipe, lambda g: len(g) >= 4)
    pipe.stop()
    indices = [f.index for f in got]
    assert indices == sorted(indices) and indices[-1] - indices[0] > len(indices)  # skipped stale frames
    assert pipe.stats()["dropped"] > 0
    assert max(f.processed_at - f.captured_at for f in got) < 0.5  # latency stays near one operator call
    with pytest.raises(Exception, match="live source cannot seek"):
        pipe.seek(1.0)


def test_apply_operator_takes_float_sources():
    op = create_operator("naive", OperatorConfig())
    u8 = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    assert np.allclose(apply_operator(op, u8), apply_operator(op, u8.astype(np.float32) / 255), atol=1e-6)
    assert isinstance(DemoSource(64, 36, 10.0, 0.2), Source)
