"""Joining converted segments into one HDR10 file without re-encoding.

Each segment is a complete HEVC stream that starts with an IDR picture and carries its parameter sets
in-band (x265 ``repeat-headers=1``), so their packets can follow one another: a decoder resets at every
IDR. Presentation times are the source's own and need no change. Decode times are rebuilt for the whole
joined stream (each segment's encoder started its own reorder delay), the content-light-level SEI is
rewritten with the maximum over all segments, and the source's audio and subtitles are copied once (the
remux is io/remux.py, the same as a single pass's).
"""
from __future__ import annotations

import bisect
import contextlib
import os

from livehdr.base.errors import UserError, one_line
from livehdr.base.files import chmod_like_new_file, hidden_temp
from livehdr.io import hevc_sei
from livehdr.io.hdr10 import CONTAINERS


def decode_times(pts_in_decode_order: list[int], fallback_step: int) -> list[int]:
    """Strictly increasing decode timestamps with dts <= pts for every packet.

    dts[i] = the (i - D)-th smallest pts, where D is the stream's reorder depth: the largest number of
    places a packet's decode position runs ahead of its display rank. That is the rule encoders use
    (x264/x265: dts = pts of the frame D places earlier in display order), applied across the joins.
    """
    order = sorted(pts_in_decode_order)
    depth = max(0, max(i - bisect.bisect_left(order, p) for i, p in enumerate(pts_in_decode_order)))
    step = fallback_step
    if len(order) > 1:
        step = max(1, min(b - a for a, b in zip(order, order[1:])))
    return [order[i - depth] if i >= depth else order[0] - (depth - i) * step
            for i in range(len(pts_in_decode_order))]


def join_segments(segment_paths: list[str], output: str, audio_from: str | None, max_cll: int,
                  max_fall: int) -> int:
    """Concatenate the segments' video into ``output`` (written to a hidden file, then renamed), with
    ``audio_from``'s audio and subtitles, through the same remux as a single pass (io/remux.py). Returns
    the number of video packets (frames) written."""
    import av

    from livehdr.io.remux import VideoPacket, remux_hdr10

    container = CONTAINERS[os.path.splitext(output)[1].lower()]
    try:
        tmp = hidden_temp(output, "partial")
    except OSError as e:
        raise UserError(f"writing {output} failed: {e.strerror or e}") from None
    cll = hevc_sei.content_light_level_payload(max_cll, max_fall)
    inputs = []
    try:
        inputs = [av.open(p) for p in segment_paths]
        first = inputs[0].streams.video[0]
        packets = []  # (data, pts, duration, keyframe) in decode order, all in the first segment's time base
        for c in inputs:
            v = c.streams.video[0]
            if v.time_base != first.time_base:
                raise UserError(f"segments of {output} have different time bases; cannot join")
            for p in c.demux(v):
                if p.size == 0:
                    continue
                packets.append((bytes(p), p.pts, p.duration, p.is_keyframe))
        if not packets:
            raise UserError(f"no frames in the segments of {output}")
        step = max(1, round(1 / (float(first.average_rate or 30) * first.time_base)))
        dts = decode_times([p[1] for p in packets], step)
        joined = (VideoPacket(data, pts, d, duration, key) for (data, pts, duration, key), d in zip(packets, dts))
        remux_hdr10(tmp, container, first, first.time_base, joined, cll=cll, audio_from=audio_from, label=output)
        chmod_like_new_file(tmp)
        os.replace(tmp, output)
        tmp = None
        return len(packets)
    except (OSError, av.FFmpegError) as e:  # av.error.OSError is both
        raise UserError(f"joining the segments of {output} failed: {one_line(e)}") from None
    finally:
        for c in inputs:
            c.close()
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
