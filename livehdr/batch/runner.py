"""A batch: plan the folder, skip what the manifest says is done, convert the rest (serially in this
process, or as Ray tasks), record each finished file, and report every file's outcome."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import hashlib
import os
import shutil
import time
from typing import Callable

from livehdr.base.errors import UserError
from livehdr.base.files import OutputLock, check_writable, remove_stale_temporaries
from livehdr.base.log import note
from livehdr.batch import plan as planning
from livehdr.batch.manifest import Manifest, file_sha256, settings_digest
from livehdr.batch.plan import Job
from livehdr.batch.segments import plan_segments, scan_keyframes
from livehdr.batch.work import (OperatorSpec, convert_image, convert_segment, convert_video, failure_reason,
                                forget_operators, join_video, probe_frames)
from livehdr.operators import OperatorConfig
from livehdr.pipeline import ConversionSettings


@dataclass(frozen=True)
class BatchSettings:
    input: str  # a folder, or one video file (with ``output`` a file)
    output: str
    model: str
    operator_config: OperatorConfig
    conversion: ConversionSettings  # video encoding; its ``output`` is replaced per file
    still_format: str = "exr"
    jobs: int = 1  # files at once; 1 = in this process, without Ray
    ray_address: str | None = None  # join this cluster instead of starting a local instance
    segment_seconds: float | None = None  # cut videos longer than about twice this at keyframes
    hwaccel: str = "auto"
    overwrite: bool = False  # convert everything again, replacing outputs (done ones and unknown ones)

    @property
    def uses_ray(self) -> bool:
        return self.jobs > 1 or self.ray_address is not None


@dataclass(frozen=True)
class FileOutcome:
    source: str  # relative to the input folder
    status: str  # 'converted', 'unchanged' (done by an earlier run), 'skipped', 'failed'
    reason: str = ""
    frames: int = 0


@dataclass
class Progress:
    files_done: int = 0
    files_total: int = 0
    frames_done: int = 0
    frames_total: int = 0


@dataclass(frozen=True)
class BatchReport:
    outcomes: tuple[FileOutcome, ...]
    seconds: float
    workers: str  # where the work ran, in words
    retries: int = 0  # files submitted again because their Ray worker or node was lost

    def having(self, status: str) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == status]


def weights_digest(spec_name: str, config: OperatorConfig) -> tuple[str | None, str | None]:
    """(path, sha256) of a learned model's weights; (None, None) for the classical curves."""
    from livehdr.operators.classical import CURVES

    if spec_name in CURVES:
        return None, None
    from livehdr.models.weights import shipped_path

    path = config.weights or shipped_path(spec_name)
    try:
        return path, file_sha256(path)
    except OSError:
        return None, None  # the operator's own loader reports the missing file


def digests(settings: BatchSettings, weights: str | None) -> dict[str, str]:
    """Per kind of file, a digest of what decides its content (a new --crf redoes videos only): the operator,
    its weights' hash and every OperatorConfig field, not the livehdr version (a release that changes
    nothing in a file must not redo a library). The weights' path is left out: the hash stands for it."""
    config = dataclasses.asdict(settings.operator_config)
    config.pop("weights")
    common = {"model": settings.model, "weights": weights, "config": config}
    v = settings.conversion
    video = {**common, "hlg": v.hlg, "crf": v.crf, "preset": v.preset, "encoder": v.encoder,
             "max_frames": v.max_frames}
    return {"image": settings_digest({**common, "format": settings.still_format}), "video": settings_digest(video)}


def output_lock(state_dir: str, rel_output: str) -> OutputLock:
    """The lock a run holds on one output while it converts it. The file stays (``remove=False``): it carries
    the output's manifest entry for the next holder (``read_record``)."""
    digest = hashlib.sha1(rel_output.encode()).hexdigest()[:20]
    return OutputLock(os.path.join(state_dir, "locks", digest + ".lock"), rel_output, remove=False)


class Batch:
    """The state of one run, shared by the serial loop and the Ray loop."""

    def __init__(self, settings: BatchSettings, progress: Callable[[Progress], None] | None):
        self.settings = settings
        self.on_progress = progress or (lambda p: None)
        self.single = not os.path.isdir(settings.input)
        if self.single:
            self.plan = planning.plan_file(settings.input, settings.output)
            out = os.path.abspath(settings.output)
            self.state_dir = os.path.join(os.path.dirname(out), f".{os.path.basename(out)}.livehdr")
        else:
            self.plan = planning.plan_folder(settings.input, settings.output, settings.still_format)
            self.state_dir = os.path.join(os.path.abspath(settings.output), planning.STATE_DIR)
        self.outcomes: dict[str, FileOutcome] = {}
        self.progress = Progress(files_total=len(self.plan.jobs))
        self.frame_totals: dict[str, int] = {}
        self.frames_by_file: dict[str, int] = {}
        self.locks: dict[str, OutputLock] = {}
        self.retries = 0
        self.claimed_any = False  # a single-file run removes its lock folder only if it was the one using it
        self.weights_path, digest = weights_digest(settings.model, settings.operator_config)
        self.spec = OperatorSpec(settings.model, settings.operator_config, digest)
        self.digests = digests(settings, digest)
        self.manifest = Manifest(self.state_dir)

    # ---------------------------------------------------------------------------------------------------
    def prepare(self) -> list[Job]:
        """Create the output folder, load the manifest, and return the jobs not already done."""
        if not self.single and not self.plan.jobs:
            raise UserError(f"no images or videos in {self.settings.input}")
        try:
            os.makedirs(self.state_dir, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create output folder {os.path.dirname(self.state_dir)}: {e.strerror}") from None
        check_writable(os.path.join(self.state_dir, "x"))
        if not self.single:
            self.manifest.load()
        todo = []
        for job in self.plan.jobs:
            if not self.single and not self.settings.overwrite and self.manifest.is_current(
                    job.rel_output, job.output, job.source, self.digests[job.kind]):
                self.outcomes[job.rel_source] = FileOutcome(job.rel_source, "unchanged")
                self.progress.files_done += 1
            else:
                todo.append(job)
                self.frame_totals[job.rel_source] = 1 if job.kind == "image" else (probe_frames(job.source) or 1)
        self.progress.frames_total = sum(self.frame_totals.values())
        return todo

    def claim(self, job: Job) -> bool:
        """Lock the job's output for this run. False (and an outcome) when it must not be converted now."""
        lock = output_lock(self.state_dir, job.rel_output)
        if not lock.try_acquire():
            self.finish(job, "skipped", "being converted by another run on this output folder")
            return False
        if not self.single:
            self.manifest.refresh_if_changed()
            record = lock.read_record()  # what another run finished since our plan (its manifest may lag)
            if record is not None and record != self.manifest.entries.get(job.rel_output):
                self.manifest.record(job.rel_output, record)
            if not self.settings.overwrite and self.manifest.is_current(job.rel_output, job.output, job.source,
                                                                        self.digests[job.kind]):
                lock.release()
                self.finish(job, "unchanged")
                return False
            known = job.rel_output in self.manifest.entries
            if os.path.exists(job.output) and not known and not self.settings.overwrite:
                lock.release()
                self.finish(job, "skipped", f"{job.rel_output} exists and no earlier run here made it "
                                            "(add --overwrite to replace it)")
                return False
        elif os.path.exists(job.output) and not self.settings.overwrite:
            lock.release()
            raise UserError(f"output exists: {job.output} (add --overwrite to replace it)")
        remove_stale_temporaries(job.output)  # a killed worker's leftovers; we hold the lock now
        self.locks[job.rel_source] = lock
        self.claimed_any = True
        return True

    def segments_for(self, job: Job):
        """The segments to cut ``job`` into, or None to convert it whole."""
        seconds = self.settings.segment_seconds
        if job.kind != "video" or not seconds:
            return None
        if self.settings.conversion.max_frames is not None:
            note(f"{job.rel_source}: --max-frames converts it whole (no segments)")
            return None
        try:
            scan = scan_keyframes(job.source)
        except UserError:
            return None  # the conversion reports the real problem
        if scan is None:
            note(f"{job.rel_source}: packets without timestamps; converting it whole")
            return None
        segments = plan_segments(scan, seconds)
        return segments if len(segments) > 1 else None

    def work_dir(self, job: Job, fresh: bool = True) -> str:
        digest = hashlib.sha1(job.rel_output.encode()).hexdigest()[:20]
        path = os.path.join(self.state_dir, "work", digest)
        if not fresh:
            return path
        shutil.rmtree(path, ignore_errors=True)  # a killed run's segments: we hold the lock
        os.makedirs(path, exist_ok=True)
        return path

    def frames_done(self, rel_source: str, frames: int) -> None:
        self.frames_by_file[rel_source] = min(frames, self.frame_totals.get(rel_source, frames))
        self.progress.frames_done = sum(self.frames_by_file.values())
        self.on_progress(self.progress)

    def finish(self, job: Job, status: str, reason: str = "", result: dict | None = None) -> None:
        lock = self.locks.pop(job.rel_source, None)
        if status == "converted" and result is not None and not self.single:
            entry = {k: result[k] for k in ("size", "mtime_ns", "sha256", "frames", "output_size")}
            entry.update(source=job.rel_source, settings=self.digests[job.kind],
                         finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            for k in ("max_cll", "max_fall", "segments", "seconds"):
                if k in result:
                    entry[k] = result[k]
            self.manifest.record(job.rel_output, entry)
            self.manifest.flush(at_most_every=1.0)
            if lock is not None:
                lock.write_record(entry)
        elif status == "failed" and not self.single:
            if job.rel_output in self.manifest.entries:
                self.manifest.record(job.rel_output, None)  # its output may be gone or stale: redo next time
            if lock is not None:
                lock.write_record(None)
        if lock is not None:
            shutil.rmtree(self.work_dir(job, fresh=False), ignore_errors=True)  # a failed split's segments
            lock.release()
        frames = (result or {}).get("frames", 0)
        self.outcomes[job.rel_source] = FileOutcome(job.rel_source, status, reason, frames)
        self.progress.files_done += 1
        self.frames_done(job.rel_source, self.frame_totals.get(job.rel_source, 0))

    def retried(self, job: Job) -> None:
        """``job`` lost its worker or node and goes again (its lock stays held)."""
        self.retries += 1
        note(f"{job.rel_source}: its Ray worker or node was lost; converting it again")
        self.frames_done(job.rel_source, 0)

    def release_all(self) -> None:
        for lock in self.locks.values():
            lock.release()
        self.locks.clear()
        if not self.single:
            self.manifest.flush()
        elif self.claimed_any:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def report(self, seconds: float, workers: str) -> BatchReport:
        skipped = tuple(FileOutcome(rel, "skipped", "not an image or video livehdr converts")
                        for rel in self.plan.unsupported)
        ordered = tuple(self.outcomes[j.rel_source] for j in self.plan.jobs if j.rel_source in self.outcomes)
        return BatchReport(ordered + skipped, seconds, workers, self.retries)


def run_serial(batch: Batch, todo: list[Job]) -> str:
    try:
        _serial_jobs(batch, todo)
    finally:
        forget_operators()  # the model's memory goes with the run
    return "this process"


def _serial_jobs(batch: Batch, todo: list[Job]) -> None:
    for job in todo:
        if not batch.claim(job):
            continue
        report = lambda done, rel=job.rel_source: batch.frames_done(rel, done)  # noqa: E731
        try:
            if job.kind == "image":
                result = convert_image(job, batch.spec)
            elif (segments := batch.segments_for(job)) is not None:
                work_dir = batch.work_dir(job)
                results, base = [], 0
                for seg in segments:
                    results.append(convert_segment(job, seg, work_dir, batch.settings.conversion,
                                                   batch.settings.hwaccel, batch.spec,
                                                   report=lambda d, b=base, r=report: r(b + d)))
                    base += seg.frames
                result = join_video(job, work_dir, results)
            else:
                result = convert_video(job, batch.settings.conversion, batch.settings.hwaccel, batch.spec,
                                       report=report)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # one file's failure never stops the others
            if batch.single:
                raise
            batch.finish(job, "failed", failure_reason(e))
            continue
        batch.finish(job, "converted", result=result)


def ray_missing() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is None


def run_batch(settings: BatchSettings, progress: Callable[[Progress], None] | None = None) -> BatchReport:
    """Convert everything ``settings`` names; per-file failures are in the report, not raised."""
    t0 = time.perf_counter()
    batch = Batch(settings, progress)
    todo = batch.prepare()
    batch.on_progress(batch.progress)
    workers = "nothing to do"
    try:
        if todo:
            if settings.uses_ray:
                from livehdr.batch import ray_exec

                workers = ray_exec.run(batch, todo)
            else:
                workers = run_serial(batch, todo)
    finally:
        batch.release_all()
    return batch.report(time.perf_counter() - t0, workers)
