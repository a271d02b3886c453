"""A stuck encoder flush (x265's known deadlock) must still leave a playable file under the final name."""
import os
import threading

import numpy as np

from livehdr import sinks
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
