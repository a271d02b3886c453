"""Running a batch as Ray tasks: on a local instance started here (``--jobs N``) or on a cluster
(``--ray-address``). Imported only when Ray is used; Ray stays an optional dependency.

- Each file is one task asking for 1 CPU (and a share of a GPU for learned models when the cluster has
  GPUs); a long video becomes one task per segment plus a join task that Ray starts when they are done.
- The model weights go to the object store once (``ray.put``); every task gets the same reference.
- A worker that dies (killed, out of memory) has its task retried by Ray (``max_retries``); the driver
  holds the output's lock meanwhile, and the writer's temporaries never carry the final name.
- Progress: tasks post frames done to a small actor; the driver polls it for the overall bar.
"""
from __future__ import annotations

import logging
import os
import time

import ray

from livehdr.base.log import note
from livehdr.batch.work import (collected_notes, convert_image, convert_segment, convert_video, failure_reason,
                                join_video)

MAX_RETRIES = 3  # a task whose worker dies is run again up to this many times
GPU_SHARE = 0.25  # x265 is CPU-bound: up to four conversions share one GPU's model
POLL_S = 0.25


@ray.remote(num_cpus=0)
class ProgressBoard:
    def __init__(self):
        self.frames: dict[str, int] = {}

    def report(self, key: str, frames: int) -> None:
        self.frames[key] = frames

    def snapshot(self) -> dict[str, int]:
        return dict(self.frames)


def _reporter(board, key: str):
    last = [0.0]

    def report(done: int) -> None:
        now = time.monotonic()
        if now - last[0] >= POLL_S:
            last[0] = now
            board.report.remote(key, done)
    return report


def _with_notes(fn, *args, **kwargs) -> dict:
    notes: list[str] = []
    with collected_notes(notes):
        result = fn(*args, **kwargs)
    return {**result, "notes": notes}


@ray.remote
def image_task(job, spec, weights):
    return _with_notes(convert_image, job, spec, weights)


@ray.remote
def video_task(job, conversion, hwaccel, spec, weights, board):
    return _with_notes(convert_video, job, conversion, hwaccel, spec, weights, _reporter(board, job.rel_source))


@ray.remote
def segment_task(job, segment, work_dir, conversion, hwaccel, spec, weights, board):
    return _with_notes(convert_segment, job, segment, work_dir, conversion, hwaccel, spec, weights,
                       _reporter(board, f"{job.rel_source}\0{segment.index}"))


@ray.remote
def join_task(job, work_dir, *segments):
    return _with_notes(join_video, job, work_dir, list(segments))


def _check_reachable(address: str) -> None:
    """Fail in seconds, with one line, on a wrong address: Ray itself retries for minutes and logs every try."""
    import re
    import socket

    from livehdr.base.errors import UserError

    m = re.fullmatch(r"(?:ray://)?\[?([^\]/]+?)\]?:(\d+)", address.strip())
    if m is None:
        return  # 'auto' and other forms: Ray's own lookup
    try:
        socket.create_connection((m.group(1), int(m.group(2))), timeout=5).close()
    except OSError as e:
        raise UserError(f"cannot reach the Ray cluster at {address} ({e.strerror or e}); is `ray start --head` "
                        "running there?") from None


def _package_dir() -> str:
    import livehdr

    return os.path.dirname(os.path.abspath(livehdr.__file__))


def _package_root() -> str:
    import livehdr

    return os.path.dirname(os.path.dirname(os.path.abspath(livehdr.__file__)))


def connect(jobs: int, address: str | None) -> tuple[bool, str]:
    """Start a local instance (``jobs`` CPUs) or join ``address``. Returns (started here, description)."""
    from livehdr.base.errors import UserError

    quiet = dict(logging_level=logging.ERROR, log_to_driver=False)
    logging.getLogger("ray").setLevel(logging.ERROR)  # Ray's start-up chatter is not the user's business
    if ray.is_initialized():
        started = False
    elif address:
        _check_reachable(address)
        try:
            # Ship this livehdr to the cluster: its machines need only the dependencies (torch, PyAV,
            # numba, ...), and the code they run is always the driver's own version.
            ray.init(address=address, runtime_env={"py_modules": [_package_dir()]}, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise UserError(f"cannot join the Ray cluster at {address}: {str(e).splitlines()[0]}") from None
        started = True
    else:
        # Workers are fresh interpreters: let them import this very livehdr, installed or not.
        root = _package_root()
        path = os.environ.get("PYTHONPATH", "")
        if root not in path.split(os.pathsep):
            os.environ["PYTHONPATH"] = root + (os.pathsep + path if path else "")
        ray.init(address="local", num_cpus=jobs, include_dashboard=False, **quiet)
        started = True
    res = ray.cluster_resources()
    cpus, gpus = int(res.get("CPU", 0)), int(res.get("GPU", 0))
    where = f"Ray cluster at {address}" if address else "local Ray instance"
    return started, f"{where}: {len(ray.nodes())} node(s), {cpus} CPUs, {gpus} GPUs"


def _cause(e: BaseException) -> BaseException:
    if isinstance(e, ray.exceptions.RayTaskError):
        return e.cause if getattr(e, "cause", None) is not None else e
    return e


def run(batch, todo) -> str:

    settings = batch.settings
    started, workers = connect(settings.jobs, settings.ray_address)
    outstanding: dict = {}  # completion ref -> (job, number of tasks it stands for)
    segment_refs: list = []  # cancelled with the rest on Ctrl-C (a join's inputs are not its children)
    try:
        res = ray.cluster_resources()
        cpus = max(1, int(res.get("CPU", 1)))
        limit = settings.jobs if settings.ray_address and settings.jobs > 1 else 2 * cpus
        weights = None
        spec = batch.spec
        if batch.weights_path is not None:
            with open(batch.weights_path, "rb") as f:
                weights = ray.put(f.read())  # once; every task gets this reference
        gpu = {}
        if weights is not None and res.get("GPU", 0) > 0 and spec.config.device != "cpu":
            gpu = {"num_gpus": GPU_SHARE}
        opts = dict(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)
        board = ProgressBoard.remote()
        conv, hw = settings.conversion, settings.hwaccel
        queue = list(reversed(todo))
        in_flight = 0
        while queue or outstanding:
            while queue and in_flight < limit:
                job = queue.pop()
                if not batch.claim(job):
                    continue
                if job.kind == "image":
                    ref, n = image_task.options(**opts, **gpu).remote(job, spec, weights), 1
                elif (segments := batch.segments_for(job)) is not None:
                    work_dir = batch.work_dir(job)
                    parts = [segment_task.options(**opts, **gpu).remote(job, s, work_dir, conv, hw, spec, weights,
                                                                      board) for s in segments]
                    ref, n = join_task.options(**opts).remote(job, work_dir, *parts), len(parts) + 1
                    segment_refs.extend(parts)
                else:
                    ref, n = video_task.options(**opts, **gpu).remote(job, conv, hw, spec, weights, board), 1
                outstanding[ref] = (job, n)
                in_flight += n
            if not outstanding:
                continue
            ready, _ = ray.wait(list(outstanding), num_returns=len(outstanding), timeout=POLL_S)
            for ref in ready:
                job, n = outstanding.pop(ref)
                in_flight -= n
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as e:
                    cause = _cause(e)
                    if isinstance(cause, ray.exceptions.WorkerCrashedError):
                        reason = f"its worker died {MAX_RETRIES + 1} times"
                    else:
                        reason = failure_reason(cause)
                    batch.finish(job, "failed", reason)
                    continue
                for message in result.pop("notes", []):
                    note(f"{job.rel_source}: {message}")
                batch.finish(job, "converted", result=result)
            frames: dict[str, int] = {}
            for key, done in ray.get(board.snapshot.remote()).items():
                rel = key.split("\0")[0]
                frames[rel] = frames.get(rel, 0) + done
            for rel, done in frames.items():
                if rel not in batch.outcomes:
                    batch.frames_done(rel, done)
    except KeyboardInterrupt:
        for ref in [*outstanding, *segment_refs]:
            try:
                ray.cancel(ref, force=True, recursive=True)
            except Exception:  # already finished, or the cluster is going away: nothing left to stop
                pass
        raise
    finally:
        if started:
            ray.shutdown()
    return workers
