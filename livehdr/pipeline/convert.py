"""File conversion: source -> operator -> HDR10 writer, each in a thread, joined by queues of a few frames
(memory never grows with length); every frame kept, in order. Ctrl-C: the first ends the input and drains
what is in flight, the second stops at once; the file is playable either way."""
from __future__ import annotations

from dataclasses import dataclass
import queue
import threading
import time
from typing import Callable

from livehdr.base.errors import Stopped
from livehdr.base.log import note
from livehdr.base.signals import StopRequest, first_stop_sets, sigint_blocked_for_new_threads
from livehdr.color import ReferenceLevels, pack
from livehdr.pipeline.device_frames import frame_path_for, frame_path_line, frame_stage, report_frame_path
from livehdr.pipeline.stages import (END, StageTimes, TableComposer, even_crop, get_or_end, operator_output,
                                     put_or_stop)

QUEUE_FRAMES = 3  # frames in flight between two stages


class Conversion:
    def __init__(self, source, operator, writer, max_frames: int | None, stage=None):
        self.source, self.operator, self.writer = source, operator, writer
        # The operator call per frame on the chosen frame path (pipeline/device_frames.py); numba by default.
        self.stage = stage if stage is not None else (lambda rgb: operator_output(operator, rgb))
        self.max_frames = max_frames
        self.stop = threading.Event()
        self.times = StageTimes()
        self.decoded = queue.Queue(QUEUE_FRAMES)
        self.expanded = queue.Queue(QUEUE_FRAMES)
        self.errors: list[BaseException] = []
        self.cut_short = False  # stopped before the source's end (--max-frames, Ctrl-C)
        self.end_requested = StopRequest()  # Ctrl-C / SIGTERM: read no more, finish what is in flight
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
            # Count frames taken, not source indices: a live capture's indices count every grab, also the
            # ones replaced by newer grabs while the encoder was busy.
            for taken, frame in enumerate(self.source.frames()):
                if self.end_requested.is_set() or (self.max_frames is not None and taken >= self.max_frames):
                    self.cut_short = True
                    break
                for stage in ("decode", "to_rgb"):
                    self.times.add(stage, frame.timings.get(stage, 0.0))
                frame.rgb = even_crop(frame.rgb)
                if not put_or_stop(self.decoded, frame, self.stop):
                    return
        finally:
            put_or_stop(self.decoded, END, self.stop)

    def _expand(self) -> None:
        # The small numba kernels here (a LUT at the table's nodes, the table itself) share the machine with
        # the packer and x265 like the packer does: a full OpenMP team on a busy 2-core machine is slower.
        pack.share_cores_in_this_thread()
        try:
            while (frame := get_or_end(self.decoded, self.stop)) is not END:
                t0 = time.perf_counter()
                rel = self.stage(frame.rgb)  # a LutFrame for LUT operators, a DeviceFrame on the torch path
                self.times.add("infer", (time.perf_counter() - t0) * 1000)
                if not put_or_stop(self.expanded, (frame, rel), self.stop):
                    return
        finally:
            put_or_stop(self.expanded, END, self.stop)

    def _write(self) -> None:
        pack.share_cores_in_this_thread()
        while (item := get_or_end(self.expanded, self.stop)) is not END:
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
                done = self.written
                progress(done)
        progress(self.written)
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


def conversion_stage(operator, levels: ReferenceLevels, hlg: bool = False, frame_path: str | None = None):
    """The per-frame operator call a file conversion makes: on the chosen frame path, with pointwise operators
    composed with the file's encoding into one table per frame (what run_conversion and the bench use)."""
    kind = frame_path_for(operator) if frame_path is None else frame_path
    return frame_stage(operator, kind, TableComposer(levels, "hlg" if hlg else "pq"))


@dataclass(frozen=True)
class ConversionSettings:
    """Everything a file conversion needs besides its source and operator (built by the CLI)."""

    output: str
    levels: ReferenceLevels  # the display's paper white and peak
    hlg: bool = False
    crf: float = 18.0
    preset: str = "fast"
    encoder: str = "auto"
    overwrite: bool = False
    max_frames: int | None = None
    first_frame: int = 0  # the source is a segment starting at this frame of a longer video (livehdr.batch)


@dataclass(frozen=True)
class ConversionResult:
    summary: dict  # HDR10Writer.finish(): frames, encoder, max_cll, max_fall, encoder_stuck ...
    interrupted: bool  # the first Ctrl-C (or SIGTERM) ended the input early
    stage_ms: dict  # median ms per stage
    stopped_by: int | None = None  # the signal number that ended the input, when one did


def run_conversion(settings: ConversionSettings, source, operator,
                   progress: Callable[[int, int | None], None] | None = None) -> ConversionResult:
    """The whole source, through the operator, to an HDR10 file. ``progress(frames_done, total)`` is called
    from this thread as frames are written. Nothing is printed: the caller reports the result."""
    from livehdr.io.hdr10 import HDR10Writer
    from livehdr.io.sources import FileSource

    writer = conversion = None
    reset = getattr(operator, "reset", None)
    if reset is not None:  # a new file: no temporal history from the last one (a folder reuses the operator)
        reset()
    try:
        frame_path = frame_path_for(operator)  # LIVEHDR_FRAME_PATH is checked before any output exists
        width, height = source.width & ~1, source.height & ~1
        if (width, height) != (source.width, source.height):
            note(f"cropping {source.width}x{source.height} to {width}x{height} (HEVC 4:2:0 needs even sizes)")
        levels = settings.levels.for_content(getattr(operator, "content_peak", None))
        writer = HDR10Writer(
            settings.output, width, height, levels, fps=source.fps,
            time_base=getattr(source, "time_base", None), hlg=settings.hlg, crf=settings.crf,
            preset=settings.preset, encoder=settings.encoder,
            audio_from=source.path if isinstance(source, FileSource) else None, overwrite=settings.overwrite,
            expected_frames=min(filter(None, (source.frame_count, settings.max_frames)), default=None),
            first_frame=settings.first_frame)
        total = source.frame_count
        if settings.max_frames is not None:
            total = min(total, settings.max_frames) if total else settings.max_frames
        report_frame_path(frame_path_line(frame_path, operator, source))
        conversion = Conversion(source, operator, writer, settings.max_frames,
                                 conversion_stage(operator, settings.levels, settings.hlg, frame_path))
        report = (lambda done: progress(done, total)) if progress is not None else (lambda done: None)
        # First Ctrl-C / SIGTERM: end the input here (as --max-frames would) and drain what is in flight. The
        # handler stays in place while the file is finished, so a second signal there is ours to handle.
        with first_stop_sets(conversion.end_requested):
            try:
                conversion.run(report)
            except KeyboardInterrupt:  # the second Ctrl-C: stop now, finish with what is encoded
                conversion.halt()
            interrupted = conversion.end_requested.is_set()
            truncated = interrupted or conversion.cut_short or getattr(source, "truncated", False)
            try:
                summary = writer.finish(truncated=truncated)
            except KeyboardInterrupt:  # a second (or third) signal while finishing
                done = writer.finished
                writer.abort(close_encoder=False)
                writer = None
                raise Stopped(f"stopped after {settings.output} was complete" if done else
                              f"stopped while finishing {settings.output}; nothing written",
                              conversion.end_requested.signum or 2) from None
            writer = None
    except KeyboardInterrupt:  # a signal outside the handled stretch (setting up, a third one in halt())
        if writer is not None:
            writer.abort(close_encoder=False)
        if conversion is not None:
            conversion.stop.set()
        signum = conversion.end_requested.signum if conversion is not None else None
        raise Stopped(f"stopped; nothing written to {settings.output}", signum or 2) from None
    except BaseException:
        if conversion is not None:
            conversion.stop.set()
        if writer is not None:
            writer.abort()
        raise
    return ConversionResult(summary, interrupted, conversion.times.medians(), conversion.end_requested.signum)
