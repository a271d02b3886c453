"""One run of the player stream: source (from a start time) -> operator -> 10-bit PQ planes -> NUT on a pipe,
in three threads joined by queues of a few frames, as fast as the reader takes them (the player paces).

A seek or a change of levels ends this run and starts another at the new position (``--player mpv``)."""
from __future__ import annotations

import queue
import threading
import time

import numpy as np

from livehdr.color import ReferenceLevels, pack
from livehdr.color.lut3d import LutFrame
from livehdr.color.transfer import eotf_input
from livehdr.io.hdr_stream import HDRStreamWriter
from livehdr.pipeline.stages import END, StageTimes, even_crop, get_or_end, operator_output, put_or_stop

QUEUE_FRAMES = 3
VIEWS = ("hdr", "split")  # split: the SDR input (at paper white) | the expansion, side by side


def stream_size(width: int, height: int, view: str) -> tuple[int, int]:
    w, h = width & ~1, height & ~1
    return (2 * w, h) if view == "split" else (w, h)


def sdr_relative(rgb: np.ndarray, input_gamma: str) -> np.ndarray:
    """SDR code values -> linear light relative to paper white (what an HDR display shows SDR as)."""
    code = rgb.astype(np.float32) * np.float32(1 / 255) if rgb.dtype == np.uint8 else rgb
    return np.asarray(eotf_input(code, input_gamma), dtype=np.float32)


class StreamRun:
    """Write ``source`` from ``start`` seconds through ``operator`` to ``target`` until the end, ``stop()`` or
    the reader going away. ``first_written``: perf_counter of the first frame handed to the pipe."""

    def __init__(self, source, operator, levels: ReferenceLevels, target, *, start: float = 0.0,
                 view: str = "hdr", input_gamma: str = "srgb", copy_from: str | None = None):
        self.source, self.operator, self.levels, self.target = source, operator, levels, target
        self.start_at, self.view, self.input_gamma, self.copy_from = float(start), view, input_gamma, copy_from
        self.stop_event = threading.Event()
        self.times = StageTimes(keep=240)
        self.decoded: queue.Queue = queue.Queue(QUEUE_FRAMES)
        self.expanded: queue.Queue = queue.Queue(QUEUE_FRAMES)
        self.error: BaseException | None = None
        self.written = 0
        self.first_written: float | None = None
        self.reader_gone = False
        self.finished = threading.Event()  # the whole input was written
        self.audio_streams = 0
        self._threads = [threading.Thread(target=self._guard, args=(f,), name=f"livehdr-player-{f.__name__}",
                                          daemon=True) for f in (self._read, self._expand, self._write)]

    def start(self) -> "StreamRun":
        for t in self._threads:
            t.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for t in self._threads:
            t.join(timeout)

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _guard(self, work) -> None:
        try:
            work()
        except (BrokenPipeError, ConnectionResetError):
            self.reader_gone = True
            self.stop_event.set()
        except BaseException as e:  # surfaced by the controller
            if not self.stop_event.is_set():
                self.error = e
            self.stop_event.set()

    def _read(self) -> None:
        try:
            self.source.seek(self.start_at)  # each run reads the (shared) source from its own start
            for frame in self.source.frames():
                if self.stop_event.is_set():
                    return
                self.times.add("decode", frame.timings.get("decode", 0.0) + frame.timings.get("to_rgb", 0.0))
                frame.rgb = even_crop(frame.rgb)
                if not put_or_stop(self.decoded, frame, self.stop_event):
                    return
        finally:
            put_or_stop(self.decoded, END, self.stop_event)

    def _expand(self) -> None:
        try:
            while (frame := get_or_end(self.decoded, self.stop_event)) is not END:
                t0 = time.perf_counter()
                rel = operator_output(self.operator, frame.rgb)
                if self.view == "split":
                    hdr = rel.relative() if isinstance(rel, LutFrame) else rel
                    rel = np.concatenate([sdr_relative(frame.rgb, self.input_gamma), hdr], axis=1)
                self.times.add("infer", (time.perf_counter() - t0) * 1000)
                if not put_or_stop(self.expanded, (frame, rel), self.stop_event):
                    return
        finally:
            put_or_stop(self.expanded, END, self.stop_event)

    def _write(self) -> None:
        from livehdr.color import lut_pack

        pack.share_cores_in_this_thread()
        writer = None
        lv = self.levels
        try:
            while (item := get_or_end(self.expanded, self.stop_event)) is not END:
                frame, rel = item
                if writer is None:  # opening a FIFO waits for the player to open its end
                    h, w = (rel.code_values if isinstance(rel, LutFrame) else rel).shape[:2]
                    writer = HDRStreamWriter(self.target, w, h, self.source.fps, copy_from=self.copy_from,
                                             start=self.start_at)
                    self.audio_streams = writer.audio_streams
                t0 = time.perf_counter()
                f, y, u, v = writer.new_frame()
                args = dict(seed=frame.index, source_peak=lv.source_peak)
                if isinstance(rel, LutFrame) and rel.code_values.dtype == np.uint8:
                    lut_pack.lut_to_yuv420p10(rel.code_values, rel.lut, y, u, v, lv.paper_white, lv.peak, **args)
                else:
                    rel = rel.relative() if isinstance(rel, LutFrame) else rel
                    pack.relative_to_yuv420p10(rel, y, u, v, lv.paper_white, lv.peak, **args)
                t1 = time.perf_counter()
                writer.write(f, frame.pts if frame.pts is not None else self.start_at + self.written / 30)
                self.times.add("pack", (t1 - t0) * 1000)
                self.times.add("pipe", (time.perf_counter() - t1) * 1000)
                self.written += 1
                if self.first_written is None:
                    self.first_written = time.perf_counter()
            if not self.stop_event.is_set():
                self.finished.set()
        finally:
            if writer is not None:
                writer.close()
