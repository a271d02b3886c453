"""What ``--input`` names: a video file, the demo clip, a screen (region) or a window, opened as a ``Source``."""
from __future__ import annotations

from livehdr.io.capture import CAPTURE_FPS, is_capture_spec, open_screen_source
from livehdr.io.sources import DemoSource, FileSource, Source


def open_source(spec: str, hwaccel: str = "auto", capture_fps: float | None = None) -> Source:
    """'demo' -> DemoSource, 'screen[:...]' / 'window:TITLE' -> a live capture, anything else -> FileSource."""
    if spec == "demo":
        return DemoSource()
    if is_capture_spec(spec):
        return open_screen_source(spec, capture_fps or CAPTURE_FPS)
    return FileSource(spec, hwaccel=hwaccel or "auto")
