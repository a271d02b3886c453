"""The live pipeline for the window: a source thread and an operator thread with slots of ONE frame, so a
newer frame replaces a stale one and latency stays at about one frame whatever the operator's speed; files
are paced at their own frame rate."""
from __future__ import annotations

from dataclasses import dataclass
import threading
import time
from typing import Callable

import numpy as np

from livehdr.base.errors import UserError
from livehdr.base.signals import sigint_blocked_for_new_threads
from livehdr.io.sources import SourceFrame
from livehdr.pipeline.device_frames import WindowStage, frame_path_for, frame_path_line, report_frame_path
from livehdr.pipeline.stages import StageTimes, applies_lut, to_uint8
from livehdr.pipeline.thumbnail import thumbnail_u8


@dataclass
class ProcessedFrame:
    index: int
    pts: float | None
    sdr: object  # H x W x 3 uint8 / float32 code values, or the capture's raw pixels (capture.RawPixels)
    hdr: np.ndarray | None  # H x W x 3 float32 operator output; None: the GPU computes it (``shader``)
    captured_at: float  # time.perf_counter() when the source delivered it
    processed_at: float  # time.perf_counter() when the operator finished
    content_peak: float | None = None  # cd/m2 the operator could reach for this frame (the roll-off's source)
    shader: object = None  # the operator the GPU evaluates for this frame (hdr is None), else None
    lut: np.ndarray | None = None  # a LUT operator's 3D LUT for this frame (the GPU applies it to ``sdr``)
    # A pointwise operator at color.table's nodes for this frame: the renderer composes it with the view's
    # encoding into one 3D table (one fetch per pixel for the hdr / sdr / split views)
    nodes: np.ndarray | None = None
    # The operator's highlight stage for this frame (issue #23): (rows, cols) log2 gains the renderer applies to
    # the light it computes; None when the operator has no stage (or the CPU's ``hdr`` already has it)
    highlight_field: np.ndarray | None = None


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

    def __init__(self, source, operator, on_gpu: Callable[[object], bool] | None = None):
        """``on_gpu(operator)``: True when the consumer computes that operator itself from the SDR pixels
        (the window's shader does classical curves); such frames skip the per-pixel call here."""
        self.source = source
        self._operator = operator
        self._on_gpu = on_gpu
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
        self._last_lut: np.ndarray | None = None  # a LUT operator's newest LUT, shown with the next frame
        self._lut_owner = None
        self._threads: list[threading.Thread] = []
        self._window_stage: WindowStage | None = None  # the operator call on the chosen frame path (issue #25)
        self._clock = None  # a master clock for files (the audio device's): media_time() -> seconds
        self.lead = 0.0  # seconds a frame is released before its time (the window's measured release->present)
        self.late_dropped = 0  # frames skipped because the clock had passed them

    # public API ------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        kind = frame_path_for(self._operator)
        report_frame_path(frame_path_line(kind, self._operator, self.source))
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

    def set_clock(self, clock) -> None:
        """Pace files by ``clock.media_time()`` (the sound's) instead of the wall clock; a frame the clock has
        passed by more than a frame is dropped, so the sound never waits for the picture."""
        self._clock = clock

    def seek(self, seconds: float) -> None:
        """Files: restart decoding at ``seconds`` (applied by the source thread before its next frame)."""
        if self.source.is_live:
            raise UserError("a live source cannot seek")
        with self._lock:
            self._seek_to = max(0.0, float(seconds))
            self._source_done = False
        self._last_lut = None  # a seek is a cut: its first frame waits for its own LUT

    @property
    def finished(self) -> bool:
        """True once a non-live source has ended and its last frame went through the operator."""
        with self._lock:
            done = self._source_done
        return done and self._inbox.idle()

    def stats(self) -> dict[str, float]:
        medians = self.times.medians()
        medians["dropped"] = float(self._inbox.dropped + self._outbox.dropped)
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
        first_out = True  # ... and is never dropped as late (it is what the sound waits for)
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
            if not self.source.is_live and frame.pts is not None and self._clock is not None:
                if not first_out and not self._wait_for_clock(frame):
                    self.late_dropped += 1
                    continue
                frame.captured_at = time.perf_counter()
            elif not self.source.is_live and frame.pts is not None:
                now = time.perf_counter()
                if clock_start is None:
                    clock_start = (now, frame.pts)
                wait = clock_start[0] + (frame.pts - clock_start[1]) - now
                if wait > 0:
                    self._stop.wait(wait)
                frame.captured_at = time.perf_counter()
            first_out = False
            self._inbox.put(frame)
        return False

    def _wait_for_clock(self, frame) -> bool:
        """Wait until the clock reaches the frame's release time (pts - lead); False: it is already late by
        more than a frame (drop it). Returns early on stop or seek; waits out a pause."""
        frame_s = frame.duration or (1 / self.source.fps if self.source.fps else 1 / 30)
        due = frame.pts - self.lead
        while not self._stop.is_set() and not self._seek_pending():
            if not self._resume.wait(0.05):  # paused: the clock is frozen too
                continue
            ahead = due - self._clock.media_time()
            if ahead <= 0:
                return -ahead <= frame_s
            self._stop.wait(min(ahead, 0.01))  # the clock can stop (pause, a seek's hold): look again soon
        return True

    def _seek_pending(self) -> bool:
        with self._lock:
            return self._seek_to is not None

    @staticmethod
    def _frame_lut(operator, frame) -> np.ndarray:
        """The LUT for one frame: decoded frames as the file pipeline gives them (``lut_for_frame``); raw
        capture words through a thumbnail taken from the words (the full frame is never decoded)."""
        if frame.raw is not None:
            return operator.lut_for_thumbnail(thumbnail_u8(frame.raw))
        return operator.lut_for_frame(to_uint8(frame.rgb))

    def _lut_to_show(self, operator) -> tuple[np.ndarray | None, bool]:
        """(LUT, True): show the frame at once with the LUT of the frame before it.

        In live use the latency is the product (games): the LUT's weights are smoothed over frames anyway
        (the operator's EMA), so one frame late changes the picture by a fraction of that smoothing, and a
        scene cut settles one frame later (on the second frame, within issue #11's two). The first frame,
        and the first after a change of operator, wait for their own LUT: (None, False)."""
        if self._lut_owner is operator and self._last_lut is not None:
            return self._last_lut, True
        return None, False

    @staticmethod
    def _nodes(operator, lut: np.ndarray | None) -> np.ndarray | None:
        """The operator at the composed table's nodes (color/table.py): from this frame's LUT, or once for a
        stateless curve (``relative_at_nodes`` caches it)."""
        if not getattr(operator, "pointwise", False):
            return None
        if lut is not None:
            from livehdr.operators.lut import relative_at_nodes_of_lut

            return relative_at_nodes_of_lut(lut)
        return None if applies_lut(operator) else operator.relative_at_nodes(None)

    def _highlight_field(self, operator, frame) -> np.ndarray | None:
        """This frame's highlight field, for an operator with a stage: as the file path's
        ``TableComposer.frame``, after the LUT the frame is shown with (the stage reads the white of it).
        None also when no pixel reaches the stage's knee or the field is all zeros (the level-free stage on a
        frame without a fully clipped region): the field would change nothing, and the window
        draws such frames without the stage (a CPU renderer runs its branch for every pixel)."""
        from livehdr.color.highlight import apply_weight

        stage = getattr(operator, "highlight", None)
        if stage is None:
            return None
        t0 = time.perf_counter()
        rgb = frame.rgb  # raw capture words: decoded here, once
        field = operator.highlight_field(rgb)  # the temporal state follows every frame
        near_clip = apply_weight(np.float64(rgb.max()) / (255.0 if rgb.dtype == np.uint8 else 1.0)) > 0.0
        self.times.add("highlight", (time.perf_counter() - t0) * 1000)
        return field if near_clip else None

    def _timed_lut(self, operator, frame) -> np.ndarray:
        t0 = time.perf_counter()
        lut = self._frame_lut(operator, frame)
        self.times.add("infer", (time.perf_counter() - t0) * 1000)
        self._last_lut, self._lut_owner = lut, operator
        return lut

    def _hdr(self, operator, rgb) -> np.ndarray:
        """The operator's light for the renderer, on the frame path chosen for this operator."""
        if self._window_stage is None or self._window_stage.operator is not operator:
            self._window_stage = WindowStage(operator, frame_path_for(operator))
        return self._window_stage(rgb)

    def _expand(self) -> None:
        while not self._stop.is_set():
            frame: SourceFrame | None = self._inbox.take(0.05)
            if frame is None:
                continue
            try:
                with self._op_lock:
                    operator = self._operator
                peak = getattr(operator, "content_peak", None)
                if self._on_gpu is not None and self._on_gpu(operator):
                    # Pixels go to the GPU as the source gave them (raw capture words stay raw). A LUT operator
                    # computes only its LUT here, from a thumbnail; the GPU applies it.
                    sdr = frame.raw if frame.raw is not None else frame.rgb
                    lut, late = None, False
                    if applies_lut(operator):
                        lut, late = self._lut_to_show(operator)
                        if not late:
                            lut = self._timed_lut(operator, frame)
                    nodes = self._nodes(operator, lut)
                    field = self._highlight_field(operator, frame)
                    t1 = time.perf_counter()
                    self.times.add("latency", (t1 - frame.captured_at) * 1000)
                    self._outbox.put(ProcessedFrame(frame.index, frame.pts, sdr, None, frame.captured_at, t1, peak,
                                                    shader=operator, lut=lut, nodes=nodes, highlight_field=field))
                    if late:  # this frame's LUT, computed while the window draws it, is the next frame's
                        self._timed_lut(operator, frame)
                    continue
                t0 = time.perf_counter()
                hdr = self._hdr(operator, frame.rgb)
                t1 = time.perf_counter()
                self.times.add("infer", (t1 - t0) * 1000)
                self.times.add("latency", (t1 - frame.captured_at) * 1000)
                self._outbox.put(ProcessedFrame(frame.index, frame.pts, to_uint8(frame.rgb), hdr,
                                                frame.captured_at, t1, peak))
            finally:
                self._inbox.done()
