"""The HDR10 video writer: operator output -> HEVC Main10 (PQ or HLG, BT.2020) in .mkv or .mp4.

Two steps, so the HDR10 metadata is measured rather than guessed (docs/VIDEO.md):
1. encode: frames are packed (pack.relative_to_yuv420p10) straight into the encoder's planes and encoded
   into a hidden video-only file next to the output, while MaxCLL / MaxFALL are measured per frame;
2. finish: that file is remuxed with the input's audio and subtitle packets (copied, not re-encoded) into
   a second hidden file, every content-light-level SEI is rewritten with the measured values (``remux.py``,
   shared with the batch join), and the result is renamed onto the output. Nothing half-written ever
   carries the output's name. Whether NVENC is there: ``encoder_probe.py``.
"""
from __future__ import annotations

import contextlib
from fractions import Fraction
import math
import os
import time

import numpy as np

from livehdr.io import hevc_sei
from livehdr.color import ReferenceLevels
from livehdr.base.errors import UserError, one_line
from livehdr.base.files import (OutputLock, check_free_space, check_writable, chmod_like_new_file, hidden_temp,
                                 remove_stale_temporaries)
from livehdr.base.signals import sigint_blocked_for_new_threads
from livehdr.base.log import note, warn
from livehdr.io.encoder_probe import cuda_device_present, nvenc_unavailable_reason

# Mastering display: P3-D65, the usual HDR10 grading display; BT.709-derived content lies inside it.
# CIE 1931 xy, SMPTE RP 431-2 primaries with the D65 white point.
MASTERING_PRIMARIES_P3 = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
MASTERING_WHITE_D65 = (0.3127, 0.3290)
MASTERING_MIN_NITS = 0.0001

# ITU-T H.273 code points for the stream's colour fields.
PRIMARIES_BT2020 = 9
TRC_SMPTE2084 = 16
TRC_ARIB_STD_B67 = 18
MATRIX_BT2020_NCL = 9
RANGE_LIMITED = 1

CONTAINERS = {".mkv": "matroska", ".mp4": "mp4"}


def x265_master_display(peak: float) -> str:
    """x265's master-display string: G, B, R, white in 0.00002 units, L(max, min) in 0.0001 cd/m2."""
    (rx, ry), (gx, gy), (bx, by) = MASTERING_PRIMARIES_P3
    wx, wy = MASTERING_WHITE_D65
    u = lambda v: round(v / 0.00002)  # noqa: E731
    return (f"G({u(gx)},{u(gy)})B({u(bx)},{u(by)})R({u(rx)},{u(ry)})WP({u(wx)},{u(wy)})"
            f"L({round(peak * 10000)},{round(MASTERING_MIN_NITS * 10000)})")


# libx265 refuses frames below 16x16 with a misleading "invalid argument", and x265 4.2 has corrupted its
# heap on 48x32 clips: below this size the writer says so plainly instead.
MIN_WIDTH, MIN_HEIGHT = 64, 48


def x265_params(levels: ReferenceLevels, hlg: bool) -> str:
    """HDR10 signalling for libx265. max-cll is a placeholder (x265 wants it before encoding); the
    measured value replaces it when the file is finished."""
    transfer = "arib-std-b67" if hlg else "smpte2084"
    placeholder = max(1, round(levels.peak))
    return ":".join([
        "hdr10=1", "repeat-headers=1", "colorprim=bt2020", f"transfer={transfer}", "colormatrix=bt2020nc",
        "range=limited", f"master-display={x265_master_display(levels.peak)}",
        f"max-cll={placeholder},{placeholder}", "log-level=error",
        # No settings SEI: its text would keep the placeholder "cll=..." beside the measured MaxCLL.
        "info=0",
    ])


def check_output(path: str, overwrite: bool) -> str:
    """Validate a video output path early: extension, folder, existing file. Returns the container name."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in CONTAINERS:
        raise UserError(f"video output must end in .mkv or .mp4: {path}")
    check_writable(path)
    if os.path.exists(path) and not overwrite:
        raise UserError(f"output exists: {path} (add --overwrite to replace it)")
    return CONTAINERS[ext]


def _hidden_temp(path: str, tag: str) -> str:
    try:
        return hidden_temp(path, tag)
    except OSError as e:  # the folder vanished or filled up during the run
        raise UserError(f"writing {path} failed: {e.strerror or e}") from None


# Bytes per pixel per frame for the free-space check: HEVC at crf 18 on noisy content stays well below
# 0.1 (measured 0.01-0.06); the file exists twice (encoded + remuxed) while it is finished.
EXPECTED_BYTES_PER_PIXEL = 0.1


def expected_output_bytes(width: int, height: int, frames: int | None) -> int | None:
    return None if not frames else int(2 * frames * width * height * EXPECTED_BYTES_PER_PIXEL)


def _remove(path: str | None) -> None:
    if path:
        with contextlib.suppress(OSError):
            os.unlink(path)


def time_base_for(fps: float | None, source_time_base) -> Fraction:
    """The source's own time base keeps variable-frame-rate timestamps exact; else 1 / fps."""
    if source_time_base:
        return Fraction(source_time_base)
    rate = Fraction(fps or 30.0).limit_denominator(1001)
    return 1 / rate


class HDR10Writer:
    """Write operator output frames as HDR10 (or HLG) HEVC; see the module docstring for the two steps."""

    def __init__(self, path: str, width: int, height: int, levels: ReferenceLevels, *, fps: float | None,
                 time_base=None, hlg: bool = False, crf: float = 18.0, preset: str = "fast",
                 encoder: str = "auto", audio_from: str | None = None, overwrite: bool = False,
                 expected_frames: int | None = None, first_frame: int = 0):
        import av

        if width % 2 or height % 2:
            raise UserError(f"HEVC 4:2:0 needs an even picture size, got {width}x{height}")
        if width < MIN_WIDTH or height < MIN_HEIGHT:
            raise UserError(f"video is too small ({width}x{height}): HDR10 output needs at least "
                            f"{MIN_WIDTH}x{MIN_HEIGHT}")
        self.path, self.width, self.height = path, width, height
        self.levels, self.hlg = levels, hlg
        self.container_format = check_output(path, overwrite)
        needed = expected_output_bytes(width, height, expected_frames)
        if needed:
            check_free_space(path, needed)
        # One run per output name; then any hidden temporaries of that name are a dead run's leftovers.
        self._lock = OutputLock.beside(path).acquire()
        stale = remove_stale_temporaries(path)
        if stale:
            note(f"removed {stale} temporary file(s) that an interrupted run left beside {path}")
        self.audio_from = audio_from
        self.time_base = time_base_for(fps, time_base)
        self.fps = fps or float(1 / self.time_base)
        self.max_cll = 0.0
        self.max_fall = 0.0
        self.frames = 0
        # Index of the first frame in the whole video: a segment converted on its own (livehdr.batch)
        # dithers each frame exactly as a single pass would, because the dither seed is the frame index.
        self.first_frame = first_frame
        self.end_time: float | None = None
        self._last_pts: int | None = None
        self._first_pts: int | None = None  # ticks of the first frame given to the encoder (dts sanity bound)
        self._last_dts: int | None = None  # of the last packet muxed
        self._started: float | None = None  # when the first frame arrived (flush deadline)
        self._muxed_end: float | None = None  # end time (s) of the latest video packet in the file
        self.encoder_stuck = False
        self.finished = False  # the output is complete under its name
        self.dropped_audio_packets = 0  # audio/subtitle packets left out for impossible timestamps
        self.out = None
        self.timings: dict[str, float] = {}
        self._av = av
        try:
            self.video_tmp = None
            self.video_tmp = _hidden_temp(path, "video")
            self.encoder_name = self._pick_encoder(encoder)
            with sigint_blocked_for_new_threads():  # x265's pool must never take Ctrl-C
                self._open_encoder(crf, preset)
        except BaseException:
            _remove(self.video_tmp)
            self._lock.release()
            raise

    # ---------------------------------------------------------------------------------------------------
    # Encoder
    # ---------------------------------------------------------------------------------------------------
    def _pick_encoder(self, choice: str) -> str:
        """auto: NVENC when the GPU has an encoder; else libx265 with a one-line note."""
        if choice == "libx265":
            return "libx265"
        if choice == "auto" and not cuda_device_present():
            return "libx265"  # no NVIDIA GPU: nothing worth a note
        reason = nvenc_unavailable_reason(self.width, self.height)
        if reason is None:
            return "hevc_nvenc"
        if choice == "hevc_nvenc":
            note(f"hevc_nvenc unavailable ({reason}); using libx265")
        else:
            note(f"no NVENC encoder ({reason}); using libx265")
        return "libx265"

    def _open_encoder(self, crf: float, preset: str) -> None:
        av = self._av
        try:
            self.out = av.open(self.video_tmp, "w", format=self.container_format)
        except av.FFmpegError as e:
            raise UserError(f"cannot write {self.path}: {e}") from None
        rate = Fraction(self.fps).limit_denominator(100000)
        stream = self.out.add_stream(self.encoder_name, rate=rate)
        stream.width, stream.height = self.width, self.height
        stream.time_base = self.time_base
        cc = stream.codec_context
        cc.time_base = self.time_base
        cc.color_primaries = PRIMARIES_BT2020
        cc.color_trc = TRC_ARIB_STD_B67 if self.hlg else TRC_SMPTE2084
        cc.colorspace = MATRIX_BT2020_NCL
        cc.color_range = RANGE_LIMITED
        if self.encoder_name == "libx265":
            stream.pix_fmt = "yuv420p10le"
            stream.options = {"crf": f"{crf:g}", "preset": preset, "x265-params": x265_params(self.levels, self.hlg)}
        else:
            stream.pix_fmt = "p010le"
            stream.options = {"preset": "p4", "rc": "vbr", "cq": f"{max(0, min(51, round(crf))):d}",
                              "profile": "main10"}
        if self.container_format == "mp4":
            cc.codec_tag = "hvc1"  # Apple players and most TVs want hvc1, not hev1
        self.stream = stream
        try:
            cc.open()
        except av.FFmpegError as e:
            self.out.close()
            self.out = None
            if "preset" in str(e).lower() or "Invalid argument" in str(e):
                raise UserError(f"{self.encoder_name} refused the settings (preset {preset!r}, crf {crf:g}): "
                                f"{e}") from None
            raise UserError(f"cannot open {self.encoder_name}: {e}") from None

    def _new_frame(self):
        frame = self._av.VideoFrame(self.width, self.height, self.stream.pix_fmt)
        frame.color_primaries = PRIMARIES_BT2020
        frame.color_trc = TRC_ARIB_STD_B67 if self.hlg else TRC_SMPTE2084
        frame.colorspace = MATRIX_BT2020_NCL
        frame.color_range = RANGE_LIMITED
        return frame

    def pack(self, rel):
        """Operator output -> an encoder frame (10-bit planes written in place). Returns the frame.

        ``rel``: H x W x 3 float32 relative light, or a ``lut3d.LutFrame`` (a LUT operator's frame + LUT),
        which goes through the LUT inside the packing kernel (``lut_pack``): the float frame never exists."""
        h, w = self.height, self.width
        if rel.shape[:2] != (h, w):
            raise ValueError(f"frame is {rel.shape[1]}x{rel.shape[0]}, the writer expects {w}x{h}")
        frame = self._new_frame()
        if self.encoder_name == "libx265":
            planes = [_plane_u16(frame.planes[k], rows) for k, rows in ((0, h), (1, h // 2), (2, h // 2))]
            y, u, v = planes[0][:, :w], planes[1][:, :w // 2], planes[2][:, :w // 2]
            cll, fall = self._pack_planes(rel, y, u, v)
        else:  # P010: 10 bits in the high bits of 16, chroma interleaved
            y = np.empty((h, w), np.uint16)
            u = np.empty((h // 2, w // 2), np.uint16)
            v = np.empty_like(u)
            cll, fall = self._pack_planes(rel, y, u, v)
            _plane_u16(frame.planes[0], h)[:, :w] = y << 6
            uv = _plane_u16(frame.planes[1], h // 2)[:, :w]
            uv[:, 0::2] = u << 6
            uv[:, 1::2] = v << 6
        self.max_cll = max(self.max_cll, cll)
        self.max_fall = max(self.max_fall, fall)
        return frame

    def _pack_planes(self, rel, y, u, v) -> tuple[float, float]:
        from livehdr.color import lut_pack, pack
        from livehdr.color.lut3d import LutFrame

        levels = self.levels
        args = dict(hlg=self.hlg, seed=self.first_frame + self.frames, source_peak=levels.source_peak)
        pack_into = getattr(rel, "pack_into", None)
        if pack_into is not None:  # a frame on the torch device path (engine/device_frame.DeviceFrame)
            return pack_into(y, u, v, levels.paper_white, levels.peak, **args)
        if isinstance(rel, LutFrame):
            if rel.code_values.dtype == np.uint8:
                return lut_pack.lut_to_yuv420p10(rel.code_values, rel.lut, y, u, v, levels.paper_white, levels.peak,
                                                 **args)
            rel = rel.relative()  # > 8-bit code values: the float LUT path, then the ordinary packing
        return pack.relative_to_yuv420p10(rel, y, u, v, levels.paper_white, levels.peak, **args)

    def write(self, rel, pts: float | None, duration: float | None = None) -> None:
        """Pack and encode one frame shown at ``pts`` seconds (None: right after the previous one). ``rel`` as
        ``pack`` takes it: float relative light, or a LUT operator's ``LutFrame``."""
        t0 = time.perf_counter()
        if self._started is None:
            self._started = t0
        frame = self.pack(rel)
        t1 = time.perf_counter()
        step = 1 / (self.fps * self.time_base)
        ticks = round(pts / self.time_base) if pts is not None else None
        if ticks is None or (self._last_pts is not None and ticks <= self._last_pts):
            # Encoders need strictly increasing timestamps: keep order, nudge a repeated stamp by one tick.
            ticks = 0 if self._last_pts is None else self._last_pts + max(1, round(step) if ticks is None else 1)
        frame.pts = ticks
        frame.time_base = self.time_base
        length = duration / self.time_base if duration else step
        frame.duration = max(1, round(length))
        self._last_pts = ticks
        if self._first_pts is None:
            self._first_pts = ticks
        self._mux(self.stream.encode(frame))
        t2 = time.perf_counter()
        self.frames += 1
        self.end_time = float((ticks + frame.duration) * self.time_base)
        self.timings = {"pack": (t1 - t0) * 1000, "encode": (t2 - t1) * 1000}

    def _mux(self, packets) -> None:
        packets = list(packets)
        for p in packets:
            self._sane_dts(p)
            if p.pts is not None:
                end = float((p.pts + (p.duration or 0)) * p.time_base) if p.time_base else None
                if end is not None and (self._muxed_end is None or end > self._muxed_end):
                    self._muxed_end = end
        try:
            self.out.mux(packets)
        except self._av.FFmpegError as e:
            raise UserError(f"writing {self.path} failed: {_io_reason(e)}; nothing written") from None

    def _sane_dts(self, packet) -> None:
        """x265 4.2 returns uninitialised decode timestamps when a stream has fewer frames than its B-frame
        delay (seen with 2-frame clips: dts = -9.4e13). Such a stream has no reordering, so dts = pts is
        right. Only stamps that cannot be true are replaced: after pts, or before anything x265 could
        derive (its first dts lie at most one input span before the first pts). The bound is in time, not
        in frames: with capture-clock timestamps a reordered frame's dts can lie seconds before its pts, and
        the old "64 frame periods" bound rewrote such a true dts to pts, so the next dts went backwards and
        the muxer refused it (EINVAL, issue #15)."""
        if packet.pts is None:
            return
        lowest = self._first_pts - (self._last_pts - self._first_pts) - 1 if self._first_pts is not None else 0
        if packet.dts is None or packet.dts > packet.pts or packet.dts < lowest:
            dts = packet.pts
            if self._last_dts is not None and dts <= self._last_dts:
                dts = self._last_dts + 1  # decode order must still increase
            packet.dts = dts
        self._last_dts = packet.dts

    # ---------------------------------------------------------------------------------------------------
    # Finish: flush, remux with audio, write the measured MaxCLL / MaxFALL
    # ---------------------------------------------------------------------------------------------------
    def finish(self, truncated: bool = False) -> dict:
        """Flush the encoder and produce the output file. ``truncated``: the input was not read to its end
        (--max-frames, Ctrl-C, a damaged file), so copied audio stops where the video stops.

        Any failure (disk full, the folder deleted meanwhile, an interrupt) leaves nothing behind: both
        temporaries are removed and the output name is never touched."""
        final_tmp = None
        av = self._av
        try:
            self._flush_encoder()
            self._close_encoded()
            if self.frames == 0:
                raise UserError("no frame could be decoded from the input; nothing written")
            self._check_room_to_finish()
            self._measure_decoded_light()
            final_tmp = _hidden_temp(self.path, "partial")
            end = None  # copy all the audio
            if self.encoder_stuck:
                # The video is shorter than what was submitted: cut the audio where the decodable video
                # really ends (packets of frames whose references never came out do not count).
                end = _decodable_end(self.video_tmp, self._muxed_end, 1 / self.fps)
            elif truncated:
                end = self.end_time
            copied = self._remux(final_tmp, end)
            chmod_like_new_file(final_tmp)
            os.replace(final_tmp, self.path)
            final_tmp = None
            self.finished = True
        except (OSError, av.FFmpegError) as e:  # av.error.OSError is both
            raise UserError(f"writing {self.path} failed: {_io_reason(e)}; nothing written") from None
        finally:
            _remove(self.video_tmp)
            _remove(final_tmp)
            self._lock.release()
        return {"frames": self.frames, "max_cll": self.max_cll_int, "max_fall": self.max_fall_int,
                "copied_streams": copied, "encoder": self.encoder_name,
                "encoder_stuck": self.encoder_stuck, "dropped_audio_packets": self.dropped_audio_packets}

    def _close_encoded(self) -> None:
        out, self.out = self.out, None
        if out is not None:
            out.close()  # errors here (disk full while flushing the muxer) are real: let them through

    def _measure_decoded_light(self) -> None:
        """State the light the file really shows: the encoder overshoots clamped highlights (decoded_light.py)."""
        if self.hlg:
            return  # HLG is scene-referred: MaxCLL depends on the display; keep the measured input
        from livehdr.io.decoded_light import decoded_light_levels

        decoded = decoded_light_levels(self.video_tmp)
        if decoded is not None:
            self.max_cll = max(self.max_cll, decoded[0])
            self.max_fall = max(self.max_fall, decoded[1])

    def _check_room_to_finish(self) -> None:
        """The remux writes a second copy of the video (+ the audio) before the first is deleted."""
        needed = os.path.getsize(self.video_tmp)
        if self.audio_from is not None:
            with contextlib.suppress(OSError):
                needed += os.path.getsize(self.audio_from) // 4  # audio is a small part of any video file
        check_free_space(self.path, needed + (1 << 20))

    # x265 4.2 can deadlock in its final flush (FrameEncoder::getEncodedPicture waits forever): 4 in 10 runs
    # when KeyboardInterrupt unwound through a conversion, which Ctrl-C no longer does (signals.py), and
    # reported upstream for plain runs too. Backstop: the flush runs on a helper thread with a deadline; if
    # it sticks, the file ends at the last frame already written and the process leaves with os._exit.
    FLUSH_MIN_TIMEOUT_S = 5.0
    FLUSH_FRAMES = 60  # x265 holds at most lookahead + frame threads (< 60) frames at the end

    def _flush_deadline_s(self) -> float:
        """Generous for slow presets and 4K: 60 frames at the speed measured so far, at least 5 s."""
        spf = (time.perf_counter() - self._started) / max(1, self.frames) if self._started else 0.0
        return max(self.FLUSH_MIN_TIMEOUT_S, self.FLUSH_FRAMES * spf)

    def _flush_encoder(self) -> None:
        import threading

        packets: list = []
        failure: list[BaseException] = []

        def drain():
            try:
                packets.extend(self.stream.encode(None))
            except BaseException as e:  # reported on the calling thread
                failure.append(e)

        worker = threading.Thread(target=drain, name="livehdr-encoder-flush", daemon=True)
        worker.start()
        deadline = time.monotonic() + self._flush_deadline_s()
        while worker.is_alive() and time.monotonic() < deadline:
            worker.join(0.1)
        if worker.is_alive():
            self.encoder_stuck = True
            warn(f"{self.encoder_name} did not return its last frames; the file ends at the last finished frame")
            return
        if failure:
            raise failure[0]
        self._mux(packets)

    def abort(self, close_encoder: bool = True) -> None:
        """Leave nothing behind. ``close_encoder=False`` when an encoder thread may still be inside x265
        (closing under it can crash); the process is about to end then anyway."""
        if close_encoder and self.out is not None:
            with contextlib.suppress(Exception):
                self.out.close()
            self.out = None
        _remove(self.video_tmp)
        self._lock.release()

    @property
    def max_cll_int(self) -> int:
        """CTA-861.3 MaxCLL in whole cd/m2, rounded up so that no pixel exceeds the stated value
        (less a float32 allowance: 600.0001 from the BT.709 -> BT.2020 matrix is still 600)."""
        return int(math.ceil(self.max_cll - 0.01))

    @property
    def max_fall_int(self) -> int:
        return int(math.ceil(self.max_fall - 0.01))

    def _remux(self, target: str, end_time: float | None) -> int:
        from livehdr.io.remux import VideoPacket, remux_hdr10

        cll = hevc_sei.content_light_level_payload(self.max_cll_int, self.max_fall_int)
        insert = None
        if self.encoder_name != "libx265":  # NVENC writes no HDR SEI through PyAV: add ours
            mdcv = hevc_sei.mastering_display_payload(MASTERING_PRIMARIES_P3, MASTERING_WHITE_D65,
                                                      self.levels.peak, MASTERING_MIN_NITS)
            insert = hevc_sei.build_sei_nal([(hevc_sei.SEI_MASTERING_DISPLAY, mdcv),
                                             (hevc_sei.SEI_CONTENT_LIGHT_LEVEL, cll)])
        video_in = self._av.open(self.video_tmp)
        try:
            vin = video_in.streams.video[0]
            packets = (VideoPacket(bytes(p), p.pts, p.dts, p.duration, p.is_keyframe)
                       for p in video_in.demux(vin) if p.size)
            result = remux_hdr10(target, self.container_format, vin, vin.time_base, packets, cll=cll,
                                 keyframe_sei=insert, audio_from=self.audio_from, end_time=end_time,
                                 label=self.path)
        finally:
            with contextlib.suppress(Exception):
                video_in.close()
        self.dropped_audio_packets = result.dropped_packets
        return result.copied_streams


def _io_reason(e: BaseException) -> str:
    """'No space left on device' rather than FFmpeg's whole sentence with the temporary's name."""
    if isinstance(e, OSError) and e.errno:
        return os.strerror(e.errno)
    return one_line(e)


def _decodable_end(path: str, around: float | None, frame_seconds: float) -> float | None:
    """End time (s) of the last frame a decoder actually outputs from ``path``. Decodes only the tail: from
    the keyframe before ``around`` - 10 s (the end of the packets written)."""
    import av

    end = None
    try:
        with av.open(path) as c:
            stream = c.streams.video[0]
            if around is not None and stream.time_base:
                with contextlib.suppress(av.FFmpegError):
                    c.seek(max(0, int((around - 10.0) / stream.time_base)), stream=stream, backward=True)
            for frame in c.decode(stream):
                if frame.pts is not None:
                    end = float(frame.pts * frame.time_base) + frame_seconds
    except av.FFmpegError:
        return around
    return end if end is not None else around


def _plane_u16(plane, rows: int) -> np.ndarray:
    """A PyAV plane as a writable uint16 rows x (line_size / 2) array (rows keep their padding)."""
    return np.frombuffer(plane, dtype=np.uint16).reshape(rows, plane.line_size // 2)
