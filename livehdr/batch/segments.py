"""Cutting a long video at keyframes into segments that convert independently.

A segment is the frames whose presentation time lies in [start, end) (stream ticks), where start and end
are keyframes of the source. Decoding starts at the segment's own keyframe, so no segment needs another's
frames; leading pictures that display before a keyframe but decode after it (open GOPs) fall, by their
time, into the earlier segment, which keeps decoding until a frame at or past its end comes out.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
import time
from typing import Iterator

from livehdr.base.errors import UserError, one_line
from livehdr.io.sources import FileSource, Source, SourceFrame, frame_to_rgb


@dataclass(frozen=True)
class Segment:
    index: int
    start: int | None  # stream ticks; None = from the beginning
    end: int | None  # exclusive; None = to the end
    first_frame: int  # global index of the segment's first frame (dither seeds follow it)
    frames: int


@dataclass(frozen=True)
class KeyframeScan:
    time_base: Fraction
    frame_pts: tuple[int, ...]  # every frame's pts in ticks, sorted
    keyframes: tuple[int, ...]  # keyframe pts in ticks, sorted


def scan_keyframes(path: str) -> KeyframeScan | None:
    """Packet timestamps of the first video stream, without decoding (seconds for hours of video).
    None when the stream cannot be cut safely (packets without timestamps)."""
    import av

    try:
        with av.open(path) as c:
            stream = c.streams.video[0]
            pts, keys = [], []
            for p in c.demux(stream):
                if p.size == 0:
                    continue
                if p.pts is None:
                    return None
                pts.append(p.pts)
                if p.is_keyframe:
                    keys.append(p.pts)
            return KeyframeScan(Fraction(stream.time_base), tuple(sorted(pts)), tuple(sorted(keys)))
    except (av.FFmpegError, IndexError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path}: {one_line(e)}") from None


def plan_segments(scan: KeyframeScan, seconds: float) -> list[Segment]:
    """Cut at the first keyframe at or after every multiple of ``seconds``; one segment when the video is
    shorter than about two of them (a split would only cost)."""
    import bisect

    pts = scan.frame_pts
    if not pts:
        return [Segment(0, None, None, 0, 0)]
    step = seconds / scan.time_base
    cuts: list[int] = []
    target = pts[0] + step
    for key in scan.keyframes:
        if key >= target and key > pts[0]:
            cuts.append(key)
            target = key + step
    # A last piece much shorter than the rest is merged into the one before it.
    if cuts and (pts[-1] - cuts[-1]) < step / 2:
        cuts.pop()
    bounds = [None, *cuts, None]
    segments = []
    for i in range(len(bounds) - 1):
        start, end = bounds[i], bounds[i + 1]
        first = 0 if start is None else bisect.bisect_left(pts, start)
        last = len(pts) if end is None else bisect.bisect_left(pts, end)
        segments.append(Segment(i, start, end, first, last - first))
    return segments


class SegmentSource(Source):
    """The frames of one segment of a file, with the file's own timestamps (no audio: joined once later)."""

    def __init__(self, path: str, segment: Segment, hwaccel: str = "none"):
        self.inner = FileSource(path, hwaccel=hwaccel)
        self.path = path
        self.segment = segment
        self.width, self.height = self.inner.width, self.inner.height
        self.fps, self.time_base = self.inner.fps, self.inner.time_base
        self.frame_count = segment.frames
        self.truncated = False

    def frames(self) -> Iterator[SourceFrame]:
        inner, seg = self.inner, self.segment
        if seg.start is not None:
            inner.container.seek(seg.start, stream=inner.stream, backward=True, any_frame=False)
            inner.stream.codec_context.flush_buffers()
        index = 0
        demux = inner.container.demux(inner.stream)
        for packet in demux:
            t0 = time.perf_counter()
            decoded = packet.decode()
            t_decode = (time.perf_counter() - t0) * 1000
            for frame in decoded:
                if frame.pts is None:
                    continue
                if seg.start is not None and frame.pts < seg.start:
                    continue  # decoding up from the keyframe
                if seg.end is not None and frame.pts >= seg.end:
                    return  # frames come out in display order: everything before ``end`` is out
                tb = frame.time_base
                t1 = time.perf_counter()
                rgb = frame_to_rgb(frame)
                t2 = time.perf_counter()
                duration = float(frame.duration * tb) if frame.duration and tb else None
                yield SourceFrame(index, float(frame.pts * tb), rgb, t2,
                                  {"decode": t_decode, "to_rgb": (t2 - t1) * 1000}, duration)
                t_decode = 0.0
                index += 1

    def close(self) -> None:
        self.inner.close()
