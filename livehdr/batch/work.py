"""The work on one file, the same in the driver (serial runs) and in a Ray worker: no Ray in here.

Every function takes plain, picklable arguments and returns a small dict for the manifest and report.
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
import logging
import os
import shutil
import tempfile
import time
from typing import Callable

from livehdr.base.errors import UserError
from livehdr.batch.manifest import source_fingerprint
from livehdr.batch.plan import Job
from livehdr.batch.segments import Segment, SegmentSource
from livehdr.operators import OperatorConfig
from livehdr.pipeline import ConversionSettings

Report = Callable[[int], None]  # frames done so far for this file


@dataclass(frozen=True)
class OperatorSpec:
    """How to build the operator anywhere: its name, its config and (learned models) the weights' digest."""

    name: str
    config: OperatorConfig
    weights_digest: str | None = None


_operator_cache: dict = {}  # one operator per worker process, reused by every task it runs


def get_operator(spec: OperatorSpec, weights: bytes | None = None):
    """The operator for ``spec``, built once per process. ``weights``: the model file's bytes from the
    object store, for workers that cannot see the driver's path (other machines)."""
    key = (spec.name, spec.config, spec.weights_digest)
    if key not in _operator_cache:
        from livehdr import operators  # looked up at call time: tests count the calls

        config = spec.config
        if weights is not None:
            config = dataclasses.replace(config, weights=_weights_file(weights, spec.weights_digest))
        _operator_cache.clear()
        _operator_cache[key] = operators.create_operator(spec.name, config)
    return _operator_cache[key]


def forget_operators() -> None:
    _operator_cache.clear()


def _weights_file(data: bytes, digest: str | None) -> str:
    """The weights as a local file (the loader reads files), written once per machine."""
    path = os.path.join(tempfile.gettempdir(), f"livehdr-weights-{digest or 'x'}.safetensors")
    if not os.path.exists(path):
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".partial")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return path


@contextlib.contextmanager
def collected_notes(into: list[str]):
    """Notes and warnings of the body, kept for the driver instead of a worker's stderr."""

    class Collect(logging.Handler):
        def emit(self, record):
            into.append(record.getMessage())

    logger = logging.getLogger("livehdr")
    saved = logger.handlers[:]
    logger.handlers = [Collect()]
    try:
        yield
    finally:
        logger.handlers = saved


def _fingerprint(job: Job) -> dict:
    try:
        return source_fingerprint(job.source)
    except OSError as e:
        raise UserError(f"cannot read {job.source}: {e.strerror} (is the input folder shared with "
                        f"every machine of the cluster?)") from None


def _make_folder(path: str) -> None:
    """The output's folder, free of what an earlier attempt left: a worker killed mid-file leaves its hidden
    temporaries, and Ray's retry of the task cleans them (the driver holds the output's lock throughout)."""
    from livehdr.base.files import remove_stale_temporaries

    remove_stale_temporaries(path)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create folder {os.path.dirname(path)}: {e.strerror}") from None


def convert_image(job: Job, spec: OperatorSpec, weights: bytes | None = None) -> dict:
    from livehdr.io import stills

    t0 = time.perf_counter()
    fp = _fingerprint(job)
    _make_folder(job.output)
    operator = get_operator(spec, weights)
    stills.convert_file(job.source, job.output, operator, operator.output_levels)
    return {**fp, "frames": 1, "output_size": os.path.getsize(job.output),
            "seconds": round(time.perf_counter() - t0, 3)}


def convert_video(job: Job, conversion: ConversionSettings, hwaccel: str, spec: OperatorSpec,
                  weights: bytes | None = None, report: Report | None = None) -> dict:
    from livehdr.io.sources import FileSource
    from livehdr.pipeline import run_conversion

    t0 = time.perf_counter()
    fp = _fingerprint(job)
    _make_folder(job.output)
    operator = get_operator(spec, weights)
    source = FileSource(job.source, hwaccel=hwaccel)
    try:
        settings = dataclasses.replace(conversion, output=job.output, overwrite=True)  # the caller holds its lock
        result = run_conversion(settings, source, operator, (lambda done, total: report(done)) if report else None)
    finally:
        source.close()
    s = result.summary
    if result.interrupted:
        # A single conversion keeps the playable part; in a batch a cut file would pass for a finished one.
        with contextlib.suppress(OSError):
            os.unlink(job.output)
        raise KeyboardInterrupt
    return {**fp, "frames": s["frames"], "max_cll": s["max_cll"], "max_fall": s["max_fall"],
            "output_size": os.path.getsize(job.output), "seconds": round(time.perf_counter() - t0, 3)}


def segment_path(work_dir: str, job: Job, segment: Segment) -> str:
    return os.path.join(work_dir, f"segment{segment.index:05d}{os.path.splitext(job.output)[1]}")


def convert_segment(job: Job, segment: Segment, work_dir: str, conversion: ConversionSettings, hwaccel: str,
                    spec: OperatorSpec, weights: bytes | None = None, report: Report | None = None) -> dict:
    """One segment of a long video into its own HDR10 file in ``work_dir`` (no audio)."""
    from livehdr.pipeline import run_conversion

    t0 = time.perf_counter()
    path = segment_path(work_dir, job, segment)
    operator = get_operator(spec, weights)
    source = SegmentSource(job.source, segment, hwaccel=hwaccel)
    try:
        settings = dataclasses.replace(conversion, output=path, overwrite=True, max_frames=None,
                                       first_frame=segment.first_frame)
        result = run_conversion(settings, source, operator, (lambda done, total: report(done)) if report else None)
    finally:
        source.close()
    s = result.summary
    if result.interrupted:
        raise KeyboardInterrupt
    if s["frames"] != segment.frames:
        raise UserError(f"segment {segment.index} of {job.rel_source} gave {s['frames']} frames where its packets "
                        f"promised {segment.frames}; convert it without --segment-seconds")
    return {"path": path, "frames": s["frames"], "max_cll": s["max_cll"], "max_fall": s["max_fall"],
            "seconds": round(time.perf_counter() - t0, 3)}


def join_video(job: Job, work_dir: str, segments: list[dict]) -> dict:
    """The converted segments -> the final output, with the source's audio; the work folder is removed."""
    from livehdr.batch.join import join_segments

    t0 = time.perf_counter()
    fp = _fingerprint(job)
    _make_folder(job.output)
    max_cll = max(s["max_cll"] for s in segments)
    max_fall = max(s["max_fall"] for s in segments)
    frames = join_segments([s["path"] for s in segments], job.output, job.source, max_cll, max_fall)
    shutil.rmtree(work_dir, ignore_errors=True)
    return {**fp, "frames": frames, "max_cll": max_cll, "max_fall": max_fall, "segments": len(segments),
            "output_size": os.path.getsize(job.output),
            "seconds": round(time.perf_counter() - t0 + sum(s["seconds"] for s in segments), 3)}


def probe_frames(path: str) -> int | None:
    """The frame count a video's header states (for the progress bar), or None."""
    import av

    try:
        with av.open(path) as c:
            v = c.streams.video[0]
            if v.frames:
                return int(v.frames)
            rate = v.average_rate or v.guessed_rate
            if v.duration is not None and v.time_base and rate:
                return max(1, round(float(v.duration * v.time_base * rate)))
            if c.duration and rate:
                return max(1, round(c.duration / 1e6 * float(rate)))
    except Exception:  # the conversion itself reports what is wrong with the file
        return None
    return None


def failure_reason(e: BaseException) -> str:
    """One line for the summary: a UserError says it all; anything else names its type too."""
    from livehdr.base.errors import UserError, one_line

    if isinstance(e, UserError):
        return one_line(e)
    return f"{type(e).__name__}: {one_line(e)}"
