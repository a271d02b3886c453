"""The remux with SEI: finished HEVC packets + a source's audio and subtitles (copied, not re-encoded) into
one HDR10 file, with every content-light-level SEI (and the ``hvcC`` record) carrying the measured values.

The one remux there is: the HDR10 writer's finish (one encoded file) and the batch join (the packets of
several segments) both write through ``remux_hdr10``, so a segmented job gets the same default track,
the same SEI and the same protection against audio timestamps the muxer refuses as a single pass.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
import errno
import heapq
import os
from typing import Iterable, NamedTuple

from livehdr.base.log import warn
from livehdr.io import hevc_sei


class VideoPacket(NamedTuple):
    data: bytes
    pts: int | None
    dts: int | None
    duration: int | None
    is_keyframe: bool


@dataclass(frozen=True)
class RemuxResult:
    copied_streams: int  # audio / subtitle streams taken from the source
    dropped_packets: int  # of those, packets left out for impossible timestamps


def remux_hdr10(target: str, container: str, template, time_base, packets: Iterable[VideoPacket], *,
                cll: bytes, keyframe_sei: bytes | None = None, audio_from: str | None = None,
                end_time: float | None = None, label: str = "") -> RemuxResult:
    """Write ``packets`` (HEVC, decode order, in ``time_base``) as the default video track of ``target`` (a
    temporary: the caller renames it), shaped like the ``template`` stream. ``cll``: the content light
    level SEI payload every packet's and the ``hvcC``'s SEI is rewritten with; ``keyframe_sei``: a whole
    SEI NAL unit put before each keyframe (NVENC writes no HDR SEI). ``audio_from``: the file whose audio
    and subtitles are copied, up to ``end_time`` seconds when given. ``label``: the output, for messages."""
    import av

    ext = os.path.splitext(label or target)[1]
    out = av.open(target, "w", format=container)
    audio_in = None
    ok = False
    dropped = 0
    try:
        vout = out.add_stream_from_template(template)
        vout.disposition = av.stream.Disposition.default  # players pick this track first
        extradata, _ = hevc_sei.patch_hvcc(template.codec_context.extradata or b"", cll)
        vout.codec_context.extradata = extradata
        if container == "mp4":
            vout.codec_context.codec_tag = "hvc1"  # Apple players and most TVs want hvc1, not hev1
        length_size = hevc_sei.hvcc_length_size(extradata)

        copies = {}
        if audio_from is not None:
            audio_in = av.open(audio_from)
            for s in audio_in.streams:
                if s.type not in ("audio", "subtitle"):
                    continue
                name = s.codec_context.name if s.codec_context else "?"
                if name not in out.supported_codecs:
                    warn(f"{s.type} stream {s.index} ({name}) cannot go into {ext}; left out (use .mkv to keep it)")
                    continue
                copies[s.index] = out.add_stream_from_template(s)

        def video_packets():
            for p in packets:
                data, _ = hevc_sei.patch_sample(p.data, cll, keyframe_sei if p.is_keyframe else None, length_size)
                q = av.Packet(data)
                q.pts, q.dts, q.duration, q.time_base = p.pts, p.dts, p.duration, time_base
                q.is_keyframe = p.is_keyframe
                yield q, vout

        def other_packets():
            if not copies:
                return
            for p in audio_in.demux([audio_in.streams[i] for i in copies]):
                if p.size == 0 or (p.pts is None and p.dts is None):
                    continue
                if end_time is not None and p.pts is not None and p.pts * p.time_base >= end_time:
                    continue
                yield p, copies[p.stream.index]

        def key(item):
            p = item[0]
            t = p.dts if p.dts is not None else p.pts
            return float(t * p.time_base) if t is not None else 0.0

        last_dts: dict = {}
        for packet, stream in heapq.merge(video_packets(), other_packets(), key=key):
            packet.stream = stream
            if stream is vout:
                out.mux(packet)
                continue
            # Copied audio must never cost the video: packets whose timestamps go backwards (seen with Opus
            # in Matroska) or that the muxer refuses for any other reason are left out and counted.
            dts = packet.dts if packet.dts is not None else packet.pts
            if dts is not None and stream.index in last_dts and dts < last_dts[stream.index]:
                dropped += 1
                continue
            try:
                out.mux(packet)
            except av.FFmpegError as e:
                if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT):
                    raise  # a full disk is not the packet's fault
                dropped += 1
                continue
            if dts is not None:
                last_dts[stream.index] = dts
        if dropped:
            warn(f"left out {dropped} audio/subtitle packet(s) with impossible timestamps (going backwards); "
                 "the video is complete")
        ok = True
        return RemuxResult(len(copies), dropped)
    finally:
        # A close error (the muxer's last write on a full disk) is raised only when no earlier error is
        # already on its way, so the real cause is what the user sees.
        if audio_in is not None:
            with contextlib.suppress(Exception):
                audio_in.close()
        if ok:
            out.close()
        else:
            with contextlib.suppress(Exception):
                out.close()
