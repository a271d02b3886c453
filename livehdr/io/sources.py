"""Frame sources: video files (PyAV) and the built-in demo clip (``capture.py`` adds the screen).

Every source delivers ``SourceFrame``s of BT.709 R'G'B' code values, full range: uint8 for 8-bit material,
float32 in [0, 1] for deeper sources (kept from rgb48le, so 10-bit gradients survive until the operator).
"""
from __future__ import annotations

import os
import time
from typing import Iterator

import numpy as np

from livehdr import color
from livehdr.base.errors import UserError, one_line
from livehdr.base.files import check_regular_file
from livehdr.base.log import note, warn

DEMO_WIDTH, DEMO_HEIGHT, DEMO_FPS, DEMO_SECONDS = 1280, 720, 30.0, 10.0


class SourceFrame:
    """One frame. ``rgb``: H x W x 3 R'G'B' (uint8, or float32 code values in [0, 1] for > 8-bit sources).

    A screen capture delivers ``raw`` (X server pixels as they were grabbed, see capture.RawPixels) instead:
    the window uploads those to the GPU untouched, and ``rgb`` is decoded from them only when a CPU stage
    asks for it, so the live path spends no per-pixel work in Python when nothing needs it.
    """

    __slots__ = ("index", "pts", "_rgb", "captured_at", "timings", "duration", "raw")

    def __init__(self, index: int, pts: float | None, rgb: np.ndarray | None, captured_at: float,
                 timings: dict | None = None, duration: float | None = None, raw=None):
        self.index = index
        self.pts = pts  # seconds, presentation time as the source states it (variable frame rate kept)
        self._rgb = rgb
        self.captured_at = captured_at  # time.perf_counter() when the frame became available
        self.timings = timings if timings is not None else {}  # ms per stage ('decode', 'to_rgb', 'capture')
        self.duration = duration  # seconds the frame is shown, when the source knows it
        self.raw = raw

    @property
    def rgb(self) -> np.ndarray:
        if self._rgb is None and self.raw is not None:
            self._rgb = self.raw.to_rgb()
        return self._rgb

    @rgb.setter
    def rgb(self, value: np.ndarray) -> None:
        self._rgb = value


class Source:
    width: int
    height: int
    fps: float | None = None
    duration: float | None = None
    frame_count: int | None = None
    is_live: bool = False

    def frames(self) -> Iterator[SourceFrame]:  # pragma: no cover - abstract
        raise NotImplementedError

    def seek(self, seconds: float) -> None:
        raise UserError(f"{type(self).__name__} cannot seek")

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()




# --------------------------------------------------------------------------------------------------------
# Y'CbCr -> R'G'B' with the stream's own matrix and range
# --------------------------------------------------------------------------------------------------------
# AVColorSpace (ITU-T H.273 MatrixCoefficients) -> swscale's matrix names.
_SWS_MATRIX = {
    1: "ITU709",  # BT.709
    4: "FCC",
    5: "ITU601",  # BT.470BG
    6: "SMPTE170M",  # BT.601 525
    7: "SMPTE240M",
    9: "BT2020",  # BT.2020 non-constant luminance
    10: "BT2020",  # constant luminance: swscale only has the NCL matrix; the closest it offers
}
_RANGE_MPEG, _RANGE_JPEG = 1, 2  # AVColorRange: limited (16-235) and full


def ycbcr_matrix(frame) -> str:
    """The matrix a Y'CbCr frame was coded with; untagged frames follow the players' convention
    (BT.709 for HD, BT.601 for SD), not swscale's BT.601-everywhere default."""
    tagged = _SWS_MATRIX.get(int(frame.colorspace or 0))
    if tagged:
        return tagged
    return "ITU709" if frame.height >= 720 or frame.width >= 1280 else "ITU601"


def ycbcr_range(frame) -> str:
    """'JPEG' (full) or 'MPEG' (limited). yuvj* formats are full range by definition."""
    rng = int(frame.color_range or 0)
    if rng == _RANGE_JPEG or frame.format.name.startswith("yuvj"):
        return "JPEG"
    return "MPEG"


def bit_depth(frame) -> int:
    return max(c.bits for c in frame.format.components)


def _accurate_interpolation():
    """swscale's default 4:2:0 -> RGB path uses coarse tables (errors up to 2.7 code values, measured);
    accurate rounding with full chroma interpolation is exact to +-0.5 (tests/test_sources.py)."""
    from av.video.reformatter import Interpolation

    return Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


# Kr, Kb per matrix (ITU-T H.273 Table 4): BT.709-6, BT.601-7, BT.2020-2 (from color.py), SMPTE 240M, FCC.
_MATRIX_WEIGHTS = {"ITU709": color.WEIGHTS_BT709[::2], "ITU601": color.WEIGHTS_BT601[::2],
                   "SMPTE170M": color.WEIGHTS_BT601[::2], "BT2020": color.WEIGHTS_BT2020[::2],
                   "SMPTE240M": (0.212, 0.087), "FCC": (0.30, 0.11)}
_DEEP_PLANAR = {  # pix_fmt -> (bits, chroma subsampling x, y)
    **{f"yuv{s}p{b}le": (b, 1 if s == "444" else 2, 2 if s == "420" else 1)
       for s in ("420", "422", "444") for b in (10, 12, 16)},
    "p010le": (10, 2, 2), "p016le": (16, 2, 2),
}


def ycbcr_to_rgb_deep(frame) -> np.ndarray:
    """> 8-bit Y'CbCr -> float32 R'G'B' in [0, 1], straight from the definition (ITU-T H.273 eq. 23-40).

    swscale's rgb48 output of these formats is off by up to 0.4 % (limited-range white decodes to 65283 of
    65535, measured with av 18), which is 4 codes at 10 bits: more than the precision this path keeps.
    Chroma is upsampled by repetition (nearest sample).
    """
    bits, sx, sy = _DEEP_PLANAR[frame.format.name]
    h, w = frame.height, frame.width
    planes = [np.frombuffer(p, np.uint16).reshape(p.height, p.line_size // 2) for p in frame.planes]
    if frame.format.name.startswith("p01"):  # semi-planar, samples in the high bits (hwaccel output)
        shift = 16 - bits
        y = planes[0][:h, :w] >> shift
        uv = planes[1][:, : 2 * ((w + 1) // 2)]
        cb, cr = uv[:, 0::2] >> shift, uv[:, 1::2] >> shift
    else:
        y = planes[0][:h, :w]
        cw, ch = (w + sx - 1) // sx, (h + sy - 1) // sy
        cb, cr = planes[1][:ch, :cw], planes[2][:ch, :cw]
    if sx > 1 or sy > 1:
        cb = np.repeat(np.repeat(cb, sy, axis=0), sx, axis=1)[:h, :w]
        cr = np.repeat(np.repeat(cr, sy, axis=0), sx, axis=1)[:h, :w]
    step = float(1 << (bits - 8))
    half = float(1 << (bits - 1))
    if ycbcr_range(frame) == "JPEG":
        top = float((1 << bits) - 1)
        Y = y.astype(np.float32) / top
        Cb = (cb.astype(np.float32) - half) / top
        Cr = (cr.astype(np.float32) - half) / top
    else:
        Y = (y.astype(np.float32) - 16 * step) / (219 * step)
        Cb = (cb.astype(np.float32) - half) / (224 * step)
        Cr = (cr.astype(np.float32) - half) / (224 * step)
    kr, kb = _MATRIX_WEIGHTS[ycbcr_matrix(frame)]
    kg = 1 - kr - kb
    rgb = np.empty((h, w, 3), np.float32)
    rgb[..., 0] = Y + (2 - 2 * kr) * Cr
    rgb[..., 2] = Y + (2 - 2 * kb) * Cb
    rgb[..., 1] = (Y - kr * rgb[..., 0] - kb * rgb[..., 2]) / kg
    return np.clip(rgb, 0.0, 1.0, out=rgb)


def frame_to_rgb(frame) -> np.ndarray:
    """A decoded PyAV frame -> full-range R'G'B' (uint8, or float32 in [0, 1] above 8 bits)."""
    if frame.format.name in _DEEP_PLANAR:
        return ycbcr_to_rgb_deep(frame)
    deep = bit_depth(frame) > 8
    fmt = "rgb48le" if deep else "rgb24"
    if frame.format.name.startswith(("yuv", "nv", "p01", "p21", "y2")):
        out = frame.reformat(format=fmt, src_colorspace=ycbcr_matrix(frame), src_color_range=ycbcr_range(frame),
                             dst_color_range="JPEG", interpolation=_accurate_interpolation())
    else:  # already RGB (gbrp, rgb24, ...) or grey: no matrix involved
        out = frame.reformat(format=fmt)
    rgb = out.to_ndarray()
    if deep:
        return rgb.astype(np.float32) * np.float32(1 / 65535)
    return rgb


# --------------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------------
def _open_input(path: str, hwaccel: str):
    """av.open with NVDEC when asked and available; one-line errors for what is not a video."""
    import av

    check_regular_file(path)  # a FIFO is not an empty file, and would block the demuxer forever
    if os.path.getsize(path) == 0:
        raise UserError(f"input is empty (0 bytes): {path}")
    if hwaccel in ("auto", "cuda"):
        from av.codec.hwaccel import HWAccel, hwdevices_available

        if "cuda" in hwdevices_available():
            try:
                return av.open(path, hwaccel=HWAccel("cuda", allow_software_fallback=True)), "cuda"
            except av.FFmpegError as e:
                if hwaccel == "cuda":
                    note(f"NVDEC unavailable ({one_line(e)}); decoding on the CPU")
        elif hwaccel == "cuda":
            note("this FFmpeg build has no CUDA decoder; decoding on the CPU")
    try:
        return av.open(path), "none"
    except (av.FFmpegError, UnicodeDecodeError) as e:
        raise UserError(f"not a media file FFmpeg can read: {path} ({one_line(e)})") from None



# ITU-T H.273 Table 3 transfer characteristics that mark HDR video.
HDR_TRANSFERS = {16: "PQ, SMPTE ST 2084", 18: "HLG, ARIB STD-B67"}


def _duration_tag(stream) -> float | None:
    """Matroska's per-track DURATION tag ('00:00:02.000000000'), or None."""
    text = (stream.metadata or {}).get("DURATION") or (stream.metadata or {}).get("duration")
    try:
        h, m, sec = str(text).split(":")
        return int(h) * 3600 + int(m) * 60 + float(sec)
    except (ValueError, TypeError):
        return None


class FileSource(Source):
    """Any file FFmpeg reads. Decoding uses FFmpeg's own threads; the caller iterates in its own thread."""

    is_live = False

    def __init__(self, path: str, hwaccel: str = "auto"):
        import av

        self.path = path
        self.container, self.hwaccel = _open_input(path, hwaccel)
        if not self.container.streams.video:
            self.container.close()
            raise UserError(f"no video stream in {path}")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        cc = self.stream.codec_context
        if cc is None:  # a damaged header can name a codec this FFmpeg has no decoder for
            self.container.close()
            raise UserError(f"no decoder for the video stream of {path} (damaged file or unknown codec)")
        self.width, self.height = int(cc.width), int(cc.height)
        if self.width <= 0 or self.height <= 0:
            self.container.close()
            raise UserError(f"video stream of {path} has no picture size (damaged file?)")
        hdr_transfer = HDR_TRANSFERS.get(int(cc.color_trc or 0))
        if hdr_transfer:  # expanding HDR again would push highlights far past any display
            self.container.close()
            raise UserError(f"{path} is already HDR ({hdr_transfer}); livehdr expands SDR video")
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = float(rate) if rate else None
        self.time_base = self.stream.time_base
        tagged = _duration_tag(self.stream)
        if self.stream.duration is not None and self.time_base:
            self.duration = float(self.stream.duration * self.time_base)
        elif tagged is not None:  # Matroska: the video track's own length (the container's includes audio)
            self.duration = tagged
        elif self.container.duration is not None:
            self.duration = self.container.duration / 1e6
        else:
            self.duration = None
        self.frame_count = int(self.stream.frames) or None
        if self.frame_count is None and self.duration and self.fps:
            self.frame_count = max(1, round(self.duration * self.fps))
        self.start_time = float(self.stream.start_time * self.time_base) if self.stream.start_time else 0.0
        self._seek_to: float | None = None
        self._started_after_seek = False
        self.decode_errors = 0
        self._av = av
        self.truncated = False

    def frames(self) -> Iterator[SourceFrame]:
        av = self._av
        index = 0
        last_end = None
        self.decode_errors = 0
        demux = self.container.demux(self.stream)
        while True:
            t0 = time.perf_counter()
            try:
                packet = next(demux)
            except StopIteration:
                break
            except (av.FFmpegError, EOFError) as e:
                # The container itself is unreadable from here on (cut off, garbage): keep what decoded.
                self.truncated = True
                warn(f"{os.path.basename(self.path)} cannot be read past frame {index} ({one_line(e)}); "
                     f"converting the readable part")
                break
            try:
                decoded = packet.decode()
            except (av.FFmpegError, EOFError):
                # One bad packet: skip it, as players do (the decoder conceals what it can), and go on.
                self.decode_errors += 1
                continue
            t_decode = (time.perf_counter() - t0) * 1000
            for frame in decoded:
                tb = frame.time_base
                pts = float(frame.pts * tb) if frame.pts is not None and tb else None
                duration = float(frame.duration * tb) if frame.duration and tb else None
                if self._seek_to is not None:
                    if pts is not None and pts < self._seek_to - 1e-6:
                        continue  # decoding up from the keyframe before the seek target
                    self._seek_to = None
                t1 = time.perf_counter()
                rgb = frame_to_rgb(frame)
                t2 = time.perf_counter()
                if pts is not None:
                    last_end = pts + (duration or (1 / self.fps if self.fps else 0.0))
                yield SourceFrame(index, pts, rgb, t2, {"decode": t_decode, "to_rgb": (t2 - t1) * 1000}, duration)
                t_decode = 0.0  # one packet's decode cost is charged to its first frame only
                index += 1
        if self.decode_errors:
            warn(f"{os.path.basename(self.path)}: {self.decode_errors} damaged packet(s) could not be decoded "
                 f"and were skipped")
        self._check_complete(index, last_end)

    def _check_complete(self, frames: int, last_end: float | None) -> None:
        """FFmpeg ends a cut-off file quietly: compare what came out with what the header announced."""
        if self._seek_to is not None or self._started_after_seek:
            return
        if self.frame_count and frames < self.frame_count - 1:  # one frame of rounding in duration x fps
            self.truncated = True
            warn(f"{os.path.basename(self.path)}: {frames} frames decoded of the {self.frame_count} the "
                 f"container announced (damaged or truncated?)")
            return
        if not self.duration or last_end is None:
            return
        expected_end = self.start_time + self.duration
        slack = max(1.0, 3 / self.fps) if self.fps else 1.0  # audio may legitimately run a little longer
        if last_end < expected_end - slack:
            self.truncated = True
            warn(f"{os.path.basename(self.path)} ends at {last_end:.2f} s of the {self.duration:.2f} s its header "
                 f"states (truncated?); converted the {frames} decodable frames")

    def seek(self, seconds: float) -> None:
        """Jump to ``seconds`` (from the start of the file); the next frames() restarts from there."""
        seconds = max(0.0, float(seconds))
        if self.duration:
            seconds = min(seconds, max(0.0, self.duration - 1e-3))
        target = self.start_time + seconds
        self.container.seek(int(target / self.time_base), stream=self.stream, backward=True, any_frame=False)
        self.stream.codec_context.flush_buffers()
        self._seek_to = target
        self._started_after_seek = True  # counts from the middle say nothing about the file

    def close(self) -> None:
        self.container.close()


# --------------------------------------------------------------------------------------------------------
# The built-in demo clip
# --------------------------------------------------------------------------------------------------------
class DemoSource(Source):
    """A procedurally rendered, game-like clip (livehdr.scenes) that needs no files; rendered once into a
    cache file the user can delete (livehdr/io/demo_cache.py), then read from it at the clip's rate."""

    is_live = False

    def __init__(self, width: int = DEMO_WIDTH, height: int = DEMO_HEIGHT, fps: float = DEMO_FPS,
                 seconds: float = DEMO_SECONDS):
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.frame_count = int(round(seconds * fps))
        self.duration = self.frame_count / self.fps
        self.time_base = None  # pts are exact multiples of 1 / fps
        self._start = 0

    def frames(self) -> Iterator[SourceFrame]:
        from livehdr.io.demo_cache import DemoCache

        cache = DemoCache(self.width, self.height, self.frame_count, self.fps)  # rendered once (io/demo_cache.py)
        cache.open()
        index = self._start
        while index < self.frame_count:
            t = index / self.fps
            t0 = time.perf_counter()
            rgb = cache.frame(index)
            t1 = time.perf_counter()
            yield SourceFrame(index, t, rgb, t1, {"decode": (t1 - t0) * 1000, "to_rgb": 0.0}, 1 / self.fps)
            index += 1

    def seek(self, seconds: float) -> None:
        self._start = min(max(0, int(round(seconds * self.fps))), max(0, self.frame_count - 1))

