"""A stuck encoder flush (x265's known deadlock) must still leave a playable file under the final name."""
import os
import threading

import numpy as np

from livehdr.io import hdr10 as sinks
from livehdr.color import ReferenceLevels

from _media import read_video


class _StuckFlush:
    """Delegates to the real stream, but the flush (encode(None)) never returns until released."""

    def __init__(self, stream, release: threading.Event):
        self._stream, self._release = stream, release

    def encode(self, frame=None):
        if frame is None:
            self._release.wait()
            return []
        return self._stream.encode(frame)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def test_stuck_flush_gives_a_playable_file_and_reports_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sinks.HDR10Writer, "FLUSH_MIN_TIMEOUT_S", 0.5)
    release = threading.Event()
    out = tmp_path / "stuck.mkv"
    # x265 still holds its last frames (lookahead) when the flush sticks: the file ends before them.
    writer = sinks.HDR10Writer(str(out), 64, 48, ReferenceLevels(), fps=10, preset="ultrafast", encoder="libx265")
    real_stream = writer.stream
    writer.stream = _StuckFlush(real_stream, release)
    try:
        for i in range(30):
            writer.write(np.full((48, 64, 3), 0.1 + i / 30, np.float32), i / 10)
        summary = writer.finish(truncated=True)
    finally:
        release.set()
    assert summary["encoder_stuck"] is True
    assert "did not return its last frames" in capsys.readouterr().err
    info = read_video(out)
    assert info["codec"] == "hevc" and 1 <= info["frames"] <= 30
    assert sorted(os.listdir(tmp_path)) == ["stuck.mkv"]


def test_stuck_flush_cuts_copied_audio_at_the_last_video_frame(tmp_path, monkeypatch):
    from _media import make_clip

    from livehdr.io.sources import FileSource

    monkeypatch.setattr(sinks.HDR10Writer, "FLUSH_MIN_TIMEOUT_S", 0.5)
    src = make_clip(tmp_path / "in.mkv", 64, 48, frames=40, rate=10)
    release = threading.Event()
    source = FileSource(str(src), hwaccel="none")
    writer = sinks.HDR10Writer(str(tmp_path / "o.mkv"), 64, 48, ReferenceLevels(), fps=10, preset="ultrafast",
                               encoder="libx265", audio_from=str(src), time_base=source.time_base)
    writer.stream = _StuckFlush(writer.stream, release)
    try:
        for frame in source.frames():
            writer.write(np.asarray(frame.rgb, np.float32) / 255, frame.pts)
        writer.finish(truncated=False)
    finally:
        release.set()
        source.close()
    info = read_video(tmp_path / "o.mkv")
    import av

    with av.open(str(tmp_path / "o.mkv")) as c:
        audio_end = max(float((p.pts + p.duration) * p.time_base) for p in c.demux(audio=0) if p.pts is not None)
    assert info["frames"] < 40 and audio_end <= info["pts"][-1] + 0.2
