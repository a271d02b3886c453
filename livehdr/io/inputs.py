"""What ``--input`` names: a video file, the demo clip or a screen (region), opened as a ``Source``."""
from __future__ import annotations

from livehdr.io.capture import open_screen_source
from livehdr.io.sources import DemoSource, FileSource, Source


def is_screen_spec(spec: str) -> bool:
    return spec == "screen" or spec.startswith("screen:")


def open_source(spec: str, hwaccel: str = "auto") -> Source:
    """'demo' -> DemoSource, 'screen[:...]' -> a screen capture, anything else -> FileSource."""
    if spec == "demo":
        return DemoSource()
    if is_screen_spec(spec):
        return open_screen_source(spec)
    return FileSource(spec, hwaccel=hwaccel or "auto")
