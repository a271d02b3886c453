"""Joining converted segments into one HDR10 file without re-encoding.

Each segment is a complete HEVC stream that starts with an IDR picture and carries its parameter sets
in-band (x265 ``repeat-headers=1``), so their packets can follow one another: a decoder resets at every
IDR. Presentation times are the source's own and need no change. Decode times are rebuilt for the whole
joined stream (each segment's encoder started its own reorder delay), the content-light-level SEI is
rewritten with the maximum over all segments, and the source's audio and subtitles are copied once.
"""
from __future__ import annotations

import bisect
import contextlib
import heapq
import os

from livehdr.base.errors import UserError, one_line
from livehdr.base.files import chmod_like_new_file
from livehdr.base.log import warn
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
    ``audio_from``'s audio and subtitles. Returns the number of video packets (frames) written."""
    import av

    container = CONTAINERS[os.path.splitext(output)[1].lower()]
    folder = os.path.dirname(os.path.abspath(output))
    stem, ext = os.path.splitext(os.path.basename(output))
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".partial{ext}", dir=folder)
    os.close(fd)
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

        out = av.open(tmp, "w", format=container)
        audio_in = None
        try:
            vout = out.add_stream_from_template(first)
            extradata, _ = hevc_sei.patch_hvcc(first.codec_context.extradata or b"", cll)
            vout.codec_context.extradata = extradata
            if container == "mp4":
                vout.codec_context.codec_tag = "hvc1"
            length_size = hevc_sei.hvcc_length_size(extradata)
            copies = {}
            if audio_from is not None:
                audio_in = av.open(audio_from)
                for s in audio_in.streams:
                    if s.type not in ("audio", "subtitle"):
                        continue
                    name = s.codec_context.name if s.codec_context else "?"
                    if name not in out.supported_codecs:
                        warn(f"{s.type} stream {s.index} ({name}) cannot go into {ext}; left out")
                        continue
                    copies[s.index] = out.add_stream_from_template(s)

            def video_packets():
                for (data, pts, duration, key), d in zip(packets, dts):
                    data, _ = hevc_sei.patch_sample(data, cll, None, length_size)
                    q = av.Packet(data)
                    q.pts, q.dts, q.duration, q.time_base = pts, d, duration, first.time_base
                    q.is_keyframe = key
                    yield q, vout

            def other_packets():
                if not copies:
                    return
                for p in audio_in.demux([audio_in.streams[i] for i in copies]):
                    if p.size == 0 or (p.pts is None and p.dts is None):
                        continue
                    yield p, copies[p.stream.index]

            def key(item):
                p = item[0]
                t = p.dts if p.dts is not None else p.pts
                return float(t * p.time_base) if t is not None else 0.0

            for packet, stream in heapq.merge(video_packets(), other_packets(), key=key):
                packet.stream = stream
                out.mux(packet)
        finally:
            out.close()
            if audio_in is not None:
                audio_in.close()
        chmod_like_new_file(tmp)
        os.replace(tmp, output)
        tmp = None
        return len(packets)
    except av.FFmpegError as e:
        raise UserError(f"joining the segments of {output} failed: {one_line(e)}") from None
    finally:
        for c in inputs:
            c.close()
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
