"""Tiny test clips made on the spot with PyAV and FFmpeg's lavfi sources (no files in the repository)."""
from __future__ import annotations

import time
from fractions import Fraction

import av
import numpy as np


def make_clip(path, width=160, height=90, frames=10, rate=10, *, codec="libx264", pix_fmt="yuv420p",
              audio=True, subtitles=False, frame_times=None, colorspace=None, color_range=None):
    """Write ``frames`` frames of testsrc2 (+ a 440 Hz sine as AAC) to ``path``.

    ``frame_times``: explicit presentation times in seconds (variable frame rate), else ``i / rate``.
    ``colorspace`` / ``color_range``: H.273 code points tagged on the stream and frames.
    """
    tb = Fraction(1, 1000) if frame_times is not None else Fraction(1, rate)
    src = av.open(f"testsrc2=size={width}x{height}:rate={rate}", format="lavfi")
    out = av.open(str(path), "w")
    v = out.add_stream(codec, rate=rate)
    v.width, v.height, v.pix_fmt = width, height, pix_fmt
    v.time_base = tb
    v.codec_context.time_base = tb
    if codec == "libx264":
        v.options = {"preset": "ultrafast", "crf": "18"}
    if colorspace is not None:
        v.codec_context.colorspace = colorspace
    if color_range is not None:
        v.codec_context.color_range = color_range
    a = None
    if audio:
        a = out.add_stream("aac", rate=48000)
        a.layout = "mono"
    if subtitles:
        out.add_stream("subrip")
    n = 0
    for frame in src.decode(video=0):
        if n >= frames:
            break
        frame = frame.reformat(format=pix_fmt, dst_colorspace=_sws_name(colorspace),
                               dst_color_range="JPEG" if color_range == 2 else None)
        t = frame_times[n] if frame_times is not None else n / rate
        frame.pts = round(t / tb)
        frame.time_base = tb
        if colorspace is not None:
            frame.colorspace = colorspace
        if color_range is not None:
            frame.color_range = color_range
        out.mux(v.encode(frame))
        n += 1
    out.mux(v.encode(None))
    src.close()
    if a is not None:
        duration = (frame_times[-1] + 0.1) if frame_times is not None else frames / rate
        sine = av.open("sine=frequency=440:sample_rate=48000", format="lavfi")
        samples = 0
        for af in sine.decode(audio=0):
            if samples >= duration * 48000:
                break
            af.pts = samples
            af.time_base = Fraction(1, 48000)
            samples += af.samples
            out.mux(a.encode(af))
        out.mux(a.encode(None))
        sine.close()
    out.close()
    return path


def _sws_name(colorspace):
    return {1: "ITU709", 5: "ITU601", 6: "SMPTE170M", 9: "BT2020"}.get(colorspace)


def read_video(path):
    """Decoded facts about a file: stream properties, frame count, side data types, first frame planes."""
    info = {}
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        cc = v.codec_context
        info.update(codec=cc.name, pix_fmt=v.format.name if v.format else None, width=cc.width,
                    height=cc.height, primaries=cc.color_primaries, trc=cc.color_trc,
                    matrix=cc.colorspace, range=cc.color_range, codec_tag=v.codec_tag,
                    audio=[s.codec_context.name for s in c.streams.audio],
                    subtitles=len(c.streams.subtitles), container_duration=c.duration)
        pts, side, frames = [], [], 0
        for f in c.decode(v):
            frames += 1
            pts.append(float(f.pts * f.time_base))
            if frames == 1:
                info["first_frame_format"] = f.format.name
                info["first_frame_trc"] = f.color_trc
                info["first_frame_primaries"] = f.color_primaries
                if f.format.name == "yuv420p10le":
                    info["first_y"] = np.frombuffer(f.planes[0], np.uint16).reshape(
                        f.height, f.planes[0].line_size // 2)[:, : f.width].copy()
                for item in f.side_data:  # PyAV 18.1.0 yields the side data, 18.1.1 their types (keys);
                    sd = item if hasattr(item, "type") else f.side_data[item]  # items() raises in 18.1.0
                    side.append((sd.type.name, bytes(sd)))
        info.update(frames=frames, pts=pts, side_data=side)
    return info


def content_light_level(side):
    """(MaxCLL, MaxFALL) from decoded CONTENT_LIGHT_LEVEL side data (AVContentLightMetadata: 2 x uint)."""
    for name, data in side:
        if name == "CONTENT_LIGHT_LEVEL":
            return tuple(int(x) for x in np.frombuffer(data[:8], dtype=np.uint32))
    return None


def drain_live(pipe, until, timeout=20.0):
    """Frames a LivePipeline hands the window, polled as the window does, until ``until(frames)`` or timeout."""
    got, end = [], time.time() + timeout
    while time.time() < end and not until(got):
        frame = pipe.latest(timeout=0.05)
        if frame is not None:
            got.append(frame)
    return got


def read_content_light_level(nal: bytes) -> tuple[int, int] | None:
    """(MaxCLL, MaxFALL) from a prefix SEI NAL, or None: the tests' reader of what the writer put there."""
    import struct

    from livehdr.io import hevc_sei

    if len(nal) < 3 or hevc_sei.nal_type(nal) != hevc_sei.NAL_PREFIX_SEI:
        return None
    for t, p in hevc_sei._split_sei(hevc_sei.unescape_rbsp(nal[2:])) or []:
        if t == hevc_sei.SEI_CONTENT_LIGHT_LEVEL and len(p) == 4:
            return struct.unpack(">HH", p)
    return None
