"""An HDR10 picture stream for a player: raw 10-bit Y'CbCr 4:2:0 (PQ, BT.2020 NCL, limited range) in NUT,
written to a pipe, with the source's audio and subtitle packets copied in presentation order.

Why raw and not HEVC: at 1080p30 on 2 cores x265 ultrafast/zerolatency encoded 5 fps (measured, issue #24)
while the operator and packing need the same cores; raw frames cost a copy (about 6 MB a frame through the
pipe). Matroska refuses raw 10-bit Y'CbCr and NUT has no colour fields, so the colour signalling travels
beside the stream: ``player_tags`` gives the player what an HDR10 file would say (PQ, BT.2020, limited
range, the mastering peak).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from livehdr.base.errors import UserError, one_line
from livehdr.base.log import note
from livehdr.color import ReferenceLevels

PIX_FMT = "yuv420p10le"
# H.273 code points of what is written (tagged on the frames too, for any reader that keeps them)
PRIMARIES_BT2020, TRC_PQ, MATRIX_BT2020_NCL, RANGE_LIMITED = 9, 16, 9, 1
AUDIO_LEAD_S = 0.2  # copied packets are muxed up to this far ahead of the video


def player_tags(levels: ReferenceLevels) -> dict:
    """The HDR10 signalling of the stream: H.273 names plus the mastering / content peak in cd/m2."""
    return {"primaries": "bt.2020", "transfer": "pq", "matrix": "bt.2020-ncl", "range": "limited",
            "peak": float(levels.peak)}


class HDRStreamWriter:
    """Frames of 10-bit planes (filled by the caller through ``planes()``) -> NUT on ``target`` (a path or a
    binary file object: a FIFO, a pipe), interleaved with the source's copied audio / subtitle packets."""

    def __init__(self, target, width: int, height: int, fps: float | None, *, copy_from: str | None = None,
                 start: float = 0.0):
        import av

        self._av = av
        self.width, self.height = int(width), int(height)
        rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(30)
        try:
            self.out = av.open(target, "w", format="nut")
        except (av.FFmpegError, OSError) as e:
            raise UserError(f"cannot open the player stream: {one_line(e)}") from None
        self.video = self.out.add_stream("rawvideo", rate=rate)
        self.video.width, self.video.height, self.video.pix_fmt = self.width, self.height, PIX_FMT
        self.time_base = Fraction(1, 90000)
        self.video.time_base = self.time_base
        cc = self.video.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = (
            PRIMARIES_BT2020, TRC_PQ, MATRIX_BT2020_NCL, RANGE_LIMITED)
        self._last_ticks = None
        self._aux = None
        self._pending = None
        self._copied: dict = {}
        self.audio_streams = self.subtitle_streams = 0
        if copy_from is not None:
            self._open_copies(copy_from, start)

    def _open_copies(self, path: str, start: float) -> None:
        av = self._av
        src = av.open(path)
        wanted = list(src.streams.audio[:1]) + list(src.streams.subtitles)
        for s in wanted:
            try:
                self._copied[s.index] = self.out.add_stream_from_template(s)
            except (av.FFmpegError, ValueError) as e:
                note(f"player stream: {s.type} track {s.index} not copied ({one_line(e)})")
        self.audio_streams = sum(1 for i in self._copied if src.streams[i].type == "audio")
        self.subtitle_streams = len(self._copied) - self.audio_streams
        if not self._copied:
            src.close()
            return
        if start > 0:
            first = src.streams[next(iter(self._copied))]
            src.seek(int(start / first.time_base), stream=first, backward=True, any_frame=False)
        self._aux = src
        self._aux_packets = src.demux([src.streams[i] for i in self._copied])

    def new_frame(self):
        """A frame to fill: (frame, y, u, v) with y H x W and u, v H/2 x W/2 writable uint16 views."""
        f = self._av.VideoFrame(self.width, self.height, PIX_FMT)
        f.color_primaries, f.color_trc, f.colorspace, f.color_range = (
            PRIMARIES_BT2020, TRC_PQ, MATRIX_BT2020_NCL, RANGE_LIMITED)
        h, w = self.height, self.width
        views = [np.frombuffer(p, np.uint16).reshape(rows, p.line_size // 2)[:, :cols]
                 for p, rows, cols in zip(f.planes, (h, h // 2, h // 2), (w, w // 2, w // 2))]
        return (f, *views)

    def write(self, frame, pts: float) -> None:
        """Mux one filled frame shown at ``pts`` seconds (the source's time line), after the copied packets
        that come before it."""
        self._copy_until(pts + AUDIO_LEAD_S)
        ticks = round(pts / self.time_base)
        if self._last_ticks is not None and ticks <= self._last_ticks:
            ticks = self._last_ticks + 1
        self._last_ticks = ticks
        frame.pts, frame.time_base = ticks, self.time_base
        for packet in self.video.encode(frame):
            self.out.mux(packet)

    def _copy_until(self, seconds: float) -> None:
        if self._aux is None:
            return
        while True:
            if self._pending is None:
                try:
                    self._pending = next(self._aux_packets)
                except (StopIteration, self._av.FFmpegError, EOFError):
                    self._aux.close()
                    self._aux = None
                    return
            p = self._pending
            if p.dts is None and p.pts is None:
                self._pending = None  # the demuxer's flush packet
                continue
            t = float((p.pts if p.pts is not None else p.dts) * p.time_base)
            if t > seconds:
                return
            self._pending = None
            p.stream = self._copied[p.stream_index]
            self.out.mux(p)

    def close(self) -> None:
        """End the stream (for a reader that has gone: quietly)."""
        try:
            for packet in self.video.encode(None):
                self.out.mux(packet)
            self.out.close()
        except (self._av.FFmpegError, OSError, ValueError):
            pass
        if self._aux is not None:
            self._aux.close()
            self._aux = None
