"""Threads and bounded queues between a source, an operator and the outputs; per-stage timings.

Two shapes:
- ``run_conversion(args)``: file / demo / screen -> HDR10 file, every frame kept, in order. Source, operator
  and sink each run in a thread, joined by queues of a few frames, so memory never grows with length.
- ``LivePipeline``: for the window. Slots of ONE frame: a newer frame replaces a stale one, so latency stays
  at about one frame whatever the operator's speed; files are paced at their own frame rate.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import os
import queue
import sys
import threading
import time

import numpy as np

from livehdr.errors import UserError
from livehdr.signals import first_ctrl_c_sets, sigint_blocked_for_new_threads
from livehdr.sources import SourceFrame, note

STAGES = ("decode", "to_rgb", "infer", "pack", "encode")
QUEUE_FRAMES = 3  # frames in flight between two stages (conversion)
_END = object()


# --------------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------------
class StageTimes:
    """Recent per-stage durations (ms); bounded so a long run does not grow memory."""

    def __init__(self, keep: int = 1000):
        self._lock = threading.Lock()
        self._times: dict[str, deque] = {}
        self._keep = keep

    def add(self, stage: str, ms: float) -> None:
        with self._lock:
            self._times.setdefault(stage, deque(maxlen=self._keep)).append(ms)

    def medians(self) -> dict[str, float]:
        with self._lock:
            return {k: float(np.median(v)) for k, v in self._times.items() if v}


def apply_operator(operator, rgb: np.ndarray) -> np.ndarray:
    """uint8 or float code values -> float32 operator output (linear BT.709 relative to paper white)."""
    if rgb.dtype == np.uint8:
        return operator.expand_uint8(rgb)
    return np.asarray(operator(rgb), dtype=np.float32)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return rgb
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def even_crop(rgb: np.ndarray) -> np.ndarray:
    """HEVC 4:2:0 needs even sizes: drop the last row / column of odd-sized frames (docs/VIDEO.md)."""
    h, w = rgb.shape[:2]
    return rgb[: h & ~1, : w & ~1] if (h | w) & 1 else rgb


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Blocking put that gives up when ``stop`` is set (so no thread hangs on a full queue)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stop: threading.Event):
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    return _END


# --------------------------------------------------------------------------------------------------------
# File conversion
# --------------------------------------------------------------------------------------------------------
class _Conversion:
    def __init__(self, source, operator, writer, max_frames: int | None):
        self.source, self.operator, self.writer = source, operator, writer
        self.max_frames = max_frames
        self.stop = threading.Event()
        self.times = StageTimes()
        self.decoded = queue.Queue(QUEUE_FRAMES)
        self.expanded = queue.Queue(QUEUE_FRAMES)
        self.errors: list[BaseException] = []
        self.cut_short = False  # stopped before the source's end (--max-frames, Ctrl-C)
        self.end_requested = threading.Event()  # Ctrl-C: read no more, finish what is in flight
        self.written = 0
        self.threads = [threading.Thread(target=self._guard, args=(f,), name=f"livehdr-{f.__name__}", daemon=True)
                        for f in (self._read, self._expand, self._write)]

    def _guard(self, work) -> None:
        try:
            work()
        except BaseException as e:  # surfaced by the main thread
            self.errors.append(e)
            self.stop.set()

    def _read(self) -> None:
        try:
            for frame in self.source.frames():
                if self.end_requested.is_set() or (self.max_frames is not None and frame.index >= self.max_frames):
                    self.cut_short = True
                    break
                for stage in ("decode", "to_rgb"):
                    self.times.add(stage, frame.timings.get(stage, 0.0))
                frame.rgb = even_crop(frame.rgb)
                if not _put(self.decoded, frame, self.stop):
                    return
        finally:
            _put(self.decoded, _END, self.stop)

    def _expand(self) -> None:
        try:
            while (frame := _get(self.decoded, self.stop)) is not _END:
                t0 = time.perf_counter()
                rel = apply_operator(self.operator, frame.rgb)
                self.times.add("infer", (time.perf_counter() - t0) * 1000)
                if not _put(self.expanded, (frame, rel), self.stop):
                    return
        finally:
            _put(self.expanded, _END, self.stop)

    def _write(self) -> None:
        from livehdr import pack

        pack.share_cores_in_this_thread()
        while (item := _get(self.expanded, self.stop)) is not _END:
            frame, rel = item
            self.writer.write(rel, frame.pts, frame.duration)
            for stage, ms in self.writer.timings.items():
                self.times.add(stage, ms)
            self.written += 1

    def run(self, progress) -> None:
        with sigint_blocked_for_new_threads():  # workers (and threads they create) leave Ctrl-C to main
            for t in self.threads:
                t.start()
        done = 0
        writer_thread = self.threads[-1]
        while writer_thread.is_alive():
            writer_thread.join(0.1)  # short waits: Ctrl-C reaches the main thread between them
            if self.written > done:
                progress.update(self.written - done)
                done = self.written
        progress.update(self.written - done)
        self.stop.set()
        for t in self.threads:
            t.join()
        if self.errors:
            raise self.errors[0]

    def halt(self) -> None:
        """A second Ctrl-C: stop every thread now; frames already encoded stay in the file."""
        self.stop.set()
        for t in self.threads:
            while t.is_alive():
                t.join(0.1)


def run_conversion(args) -> int:
    """--input (file, demo, screen) + --output video: the whole file, through the operator, to HDR10."""
    from livehdr import cli, sinks
    from livehdr.sources import FileSource, open_source

    sinks.check_output(args.output, args.overwrite)  # before any slow work
    source = open_source(args.input, args)
    writer = conversion = None
    try:
        operator = cli.build_operator(args)
        width, height = source.width & ~1, source.height & ~1
        if (width, height) != (source.width, source.height):
            note(f"cropping {source.width}x{source.height} to {width}x{height} (HEVC 4:2:0 needs even sizes)")
        writer = sinks.HDR10Writer(
            args.output, width, height, operator.levels, fps=source.fps,
            time_base=getattr(source, "time_base", None), hlg=args.hlg, crf=args.crf, preset=args.preset,
            encoder=args.encoder, audio_from=source.path if isinstance(source, FileSource) else None,
            overwrite=args.overwrite)
        total = source.frame_count
        if args.max_frames is not None:
            total = min(total, args.max_frames) if total else args.max_frames
        conversion = _Conversion(source, operator, writer, args.max_frames)
        from tqdm import tqdm

        with tqdm(total=total, unit="frame", file=sys.stderr, disable=None, dynamic_ncols=True,
                  desc=os.path.basename(args.output)) as progress:
            try:
                # First Ctrl-C: end the input here (as --max-frames would) and drain what is in flight.
                with first_ctrl_c_sets(conversion.end_requested):
                    conversion.run(progress)
            except KeyboardInterrupt:  # the second Ctrl-C
                conversion.halt()
        interrupted = conversion.end_requested.is_set()
        truncated = interrupted or conversion.cut_short or getattr(source, "truncated", False)
        summary = writer.finish(truncated=truncated)
        writer = None
    except BaseException:
        if conversion is not None:
            conversion.stop.set()
        if writer is not None:
            writer.abort()
        raise
    finally:
        source.close()
    print(f"livehdr: wrote {args.output}: {summary['frames']} frames, {summary['encoder']}, "
          f"{'HLG' if args.hlg else 'PQ'}, MaxCLL {summary['max_cll']} cd/m2, MaxFALL {summary['max_fall']} cd/m2"
          + (" (interrupted)" if interrupted else ""), file=sys.stderr)
    if args.stats:
        print(format_stats(conversion.times.medians()), file=sys.stderr)
    code = 130 if interrupted else 0
    if summary.get("encoder_stuck"):
        # The file is complete and in place; a stuck encoder thread would hang the interpreter's exit.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def format_stats(medians: dict[str, float]) -> str:
    parts = [f"{stage} {medians[stage]:.1f}" for stage in STAGES if stage in medians]
    return "livehdr: median ms per frame: " + ", ".join(parts)


# --------------------------------------------------------------------------------------------------------
# Live (window)
# --------------------------------------------------------------------------------------------------------
@dataclass
class ProcessedFrame:
    index: int
    pts: float | None
    sdr: np.ndarray  # H x W x 3 uint8, the input as shown
    hdr: np.ndarray  # H x W x 3 float32, operator output
    captured_at: float  # time.perf_counter() when the source delivered it
    processed_at: float  # time.perf_counter() when the operator finished


class _Slot:
    """A mailbox of one item: put replaces what was there (stale frames are dropped, and counted).

    ``busy`` is set while the taker works on an item (until ``done()``), so "empty and idle" is one check.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self.busy = False
        self.dropped = 0

    def put(self, item) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify_all()

    def take(self, timeout: float):
        """Remove and return the item, waiting up to ``timeout`` seconds; None when empty."""
        with self._cond:
            if self._item is None and timeout > 0:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            self.busy = item is not None
            return item

    def done(self) -> None:
        with self._cond:
            self.busy = False

    def idle(self) -> bool:
        with self._cond:
            return self._item is None and not self.busy

    def clear(self) -> None:
        with self._cond:
            self._item = None


class LivePipeline:
    """Source thread + operator thread with slots of one; the window polls ``latest()``."""

    def __init__(self, source, operator):
        self.source = source
        self._operator = operator
        self._op_lock = threading.Lock()
        self._inbox = _Slot()
        self._outbox = _Slot()
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._seek_to: float | None = None
        self._source_done = False
        self._lock = threading.Lock()
        self.times = StageTimes(keep=240)
        self.error: BaseException | None = None
        self.current: ProcessedFrame | None = None  # the last frame latest() returned
        self._threads: list[threading.Thread] = []

    # public API ------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._threads = [threading.Thread(target=self._guard, args=(f,), name=f"livehdr-live-{f.__name__}",
                                          daemon=True) for f in (self._read, self._expand)]
        with sigint_blocked_for_new_threads():
            for t in self._threads:
                t.start()

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()
        for t in self._threads:
            t.join(timeout=5)

    def latest(self, timeout: float = 0.0) -> ProcessedFrame | None:
        """The newest processed frame not returned before, or None (waits up to ``timeout`` s for one).

        ``current`` keeps the last returned frame, for redrawing. Errors in the worker threads are raised here.
        """
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        item = self._outbox.take(timeout)
        if item is not None:
            self.current = item
        return item

    def set_operator(self, operator) -> None:
        with self._op_lock:
            self._operator = operator

    @property
    def operator(self):
        return self._operator

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._resume.clear()
        else:
            self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def seek(self, seconds: float) -> None:
        """Files: restart decoding at ``seconds`` (applied by the source thread before its next frame)."""
        if self.source.is_live:
            raise UserError("a live source cannot seek")
        with self._lock:
            self._seek_to = max(0.0, float(seconds))
            self._source_done = False

    @property
    def finished(self) -> bool:
        """True once a non-live source has ended and its last frame went through the operator."""
        with self._lock:
            done = self._source_done
        return done and self._inbox.idle()

    def stats(self) -> dict[str, float]:
        medians = self.times.medians()
        medians["dropped"] = float(self._inbox.dropped)
        return medians

    # threads ---------------------------------------------------------------------------------------------
    def _guard(self, work) -> None:
        try:
            work()
        except BaseException as e:
            self.error = e
            self._stop.set()

    def _read(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                seek, self._seek_to = self._seek_to, None
            if seek is not None:
                self.source.seek(seek)
                self._inbox.clear()
                reset = getattr(self._operator, "reset", None)
                if reset is not None:
                    reset()
            restarted = self._play()
            if not restarted:
                with self._lock:
                    self._source_done = self._seek_to is None
                # Ended (or stopped): wait for a seek or stop instead of spinning.
                while not self._stop.is_set():
                    with self._lock:
                        if self._seek_to is not None:
                            break
                    time.sleep(0.02)

    def _play(self) -> bool:
        """Feed frames until the source ends (False) or a seek arrives (True)."""
        clock_start = None  # (perf_counter, pts) that pacing is measured from
        first = True  # after a start or seek, one frame goes through even while paused (seek preview)
        for frame in self.source.frames():
            while not first and not self._resume.wait(0.05):
                clock_start = None  # resume: restart the pacing clock from this frame
                if self._stop.is_set() or self._seek_pending():
                    break
            first = False
            if self._stop.is_set():
                return False
            if self._seek_pending():
                return True
            for stage, ms in (frame.timings or {"decode": 0.0, "to_rgb": 0.0}).items():
                self.times.add(stage, ms)  # files report decode/to_rgb, screen capture reports capture
            if not self.source.is_live and frame.pts is not None:
                now = time.perf_counter()
                if clock_start is None:
                    clock_start = (now, frame.pts)
                wait = clock_start[0] + (frame.pts - clock_start[1]) - now
                if wait > 0:
                    self._stop.wait(wait)
                frame.captured_at = time.perf_counter()
            self._inbox.put(frame)
        return False

    def _seek_pending(self) -> bool:
        with self._lock:
            return self._seek_to is not None

    def _expand(self) -> None:
        while not self._stop.is_set():
            frame: SourceFrame | None = self._inbox.take(0.05)
            if frame is None:
                continue
            try:
                with self._op_lock:
                    operator = self._operator
                t0 = time.perf_counter()
                hdr = apply_operator(operator, frame.rgb)
                t1 = time.perf_counter()
                self.times.add("infer", (t1 - t0) * 1000)
                self.times.add("latency", (t1 - frame.captured_at) * 1000)
                self._outbox.put(ProcessedFrame(frame.index, frame.pts, to_uint8(frame.rgb), hdr,
                                                frame.captured_at, t1))
            finally:
                self._inbox.done()
