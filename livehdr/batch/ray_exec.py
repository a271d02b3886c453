"""Running a batch as Ray tasks: on a local instance started here (``--jobs N``) or on a cluster
(``--ray-address``). Imported only when Ray is used; Ray stays an optional dependency.

- Each file is one task asking for 1 CPU (and a share of a GPU for learned models when the cluster has
  GPUs); a long video becomes one task per segment plus a join task that Ray starts when they are done.
- The model weights go to the object store once (``ray.put``); every task gets the same reference.
- A worker or node that dies (killed, out of memory, its machine gone) costs a retry of that file, not the
  run: the driver resubmits it (up to ``MAX_RETRIES`` times) on what is left of the cluster and counts the
  retries for the report. It holds the output's lock meanwhile; the retry first removes the dead attempt's
  temporaries, and the final name only ever holds a complete file.
- The cluster cannot go on (no CPUs left, its head gone): one line (``UserError``), the finished files
  recorded, nothing half-written under a final name; the next run resumes. A lost head is noticed by a
  watchdog that probes its address, so the driver never waits on Ray's own minute-long reconnects.
- A local instance (``--jobs N``) listens on 127.0.0.1 only: a laptop converting its library opens no port.
- Progress: tasks post frames done to a small actor on the driver's node; if it is lost, progress of the
  tasks that used it stops, the conversion does not.
"""
from __future__ import annotations

import logging
import os
import threading
import time

import ray

from livehdr.base.errors import UserError
from livehdr.base.log import note
from livehdr.batch.work import (collected_notes, convert_image, convert_segment, convert_video, failure_reason,
                                join_video)

MAX_RETRIES = 3  # a file whose worker or node dies is submitted again up to this many times
GPU_SHARE = 0.25  # x265 is CPU-bound: up to four conversions share one GPU's model
POLL_S = 0.25
HEAD_LOST_S = 10.0  # the head's address refusing connections this long: the cluster is gone
NO_CPUS_S = 60.0  # work waiting this long on a cluster without a CPU: it cannot go on
LOOPBACK = "127.0.0.1"

# Errors that mean "the machinery under the task went away", not "the file cannot be converted": a retry
# elsewhere may succeed. Anything else (RayTaskError: the conversion itself raised) fails the file.
LOST = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.LocalRayletDiedError,
        ray.exceptions.RayActorError, ray.exceptions.ObjectLostError, ray.exceptions.OutOfMemoryError,
        ray.exceptions.RaySystemError, ray.exceptions.RpcError)


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
            try:
                board.report.remote(key, done)
            except Exception:  # the board's node is gone: progress is not worth the conversion
                pass
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


def _host_port(address: str) -> tuple[str, int] | None:
    import re

    m = re.fullmatch(r"(?:ray://)?\[?([^\]/]+?)\]?:(\d+)", address.strip())
    return (m.group(1), int(m.group(2))) if m else None


def _reachable(host: str, port: int, timeout: float = 5.0) -> OSError | None:
    import socket

    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        return e
    return None


def _check_reachable(address: str) -> None:
    """Fail in seconds, with one line, on a wrong address: Ray itself retries for minutes and logs every try."""
    hp = _host_port(address)
    if hp is None:
        return  # 'auto' and other forms: Ray's own lookup
    e = _reachable(*hp)
    if e is not None:
        raise UserError(f"cannot reach the Ray cluster at {address} ({e.strerror or e}); is `ray start --head` "
                        "running there?") from None


class HeadWatch:
    """Probes the head's GCS port once a second on a thread; ``lost`` is set when it has refused connections
    for ``HEAD_LOST_S``. Ray's own reconnection waits a minute and then ends the process from C++."""

    def __init__(self, address: str | None):
        self.lost = threading.Event()
        self.answering = True  # at the last probe: GCS calls (ray.nodes, new actors) would block otherwise
        self._stop = threading.Event()
        self._hp = _host_port(address) if address else None
        if self._hp is not None:
            threading.Thread(target=self._watch, name="livehdr-ray-head", daemon=True).start()

    def _watch(self) -> None:
        failing_since = None
        while not self._stop.wait(1.0):
            self.answering = _reachable(*self._hp, timeout=2.0) is None
            if self.answering:
                failing_since = None
            elif failing_since is None:
                failing_since = time.monotonic()
            elif time.monotonic() - failing_since >= HEAD_LOST_S:
                self.lost.set()
                return

    def stop(self) -> None:
        self._stop.set()


def _package_dir() -> str:
    import livehdr

    return os.path.dirname(os.path.abspath(livehdr.__file__))


def _package_root() -> str:
    import livehdr

    return os.path.dirname(os.path.dirname(os.path.abspath(livehdr.__file__)))


def _init_on_loopback(**kwargs) -> None:
    """A local instance bound to 127.0.0.1. Ray 2.5x turns ``_node_ip_address="127.0.0.1"`` into the machine's
    network address (services.resolve_ip_for_localhost) and then listens on every interface, unless it
    believes clusters are off (its macOS/Windows default): for the length of ray.init it does."""
    from ray._private import ray_constants

    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(address="local", _node_ip_address=LOOPBACK, **kwargs)
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


def connect(jobs: int, address: str | None) -> tuple[bool, str]:
    """Start a local instance (``jobs`` CPUs) or join ``address``. Returns (started here, description)."""
    quiet = dict(logging_level=logging.ERROR, log_to_driver=False)
    logging.getLogger("ray").setLevel(logging.ERROR)  # Ray's start-up chatter is not the user's business
    if ray.is_initialized():
        started = False
    elif address:
        _check_reachable(address)
        # Our HeadWatch reports a lost head in seconds; Ray's own reconnect must not end the process first.
        os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", "300")
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
        _init_on_loopback(num_cpus=jobs, include_dashboard=False, **quiet)
        started = True
    res = ray.cluster_resources()
    cpus, gpus = int(res.get("CPU", 0)), int(res.get("GPU", 0))
    where = f"Ray cluster at {address}" if address else "local Ray instance"
    return started, f"{where}: {len(ray.nodes())} node(s), {cpus} CPUs, {gpus} GPUs"


def _cause(e: BaseException) -> BaseException:
    if isinstance(e, ray.exceptions.RayTaskError):
        return e.cause if getattr(e, "cause", None) is not None else e
    return e


def lost_worker(e: BaseException) -> bool:
    """True when ``e`` (from ray.get) means the task's worker or node went away, so a retry may work."""
    return isinstance(e, LOST) or isinstance(_cause(e), LOST)


class Board:
    """The progress actor, replaced when it is lost (its node died): progress is never worth a failure."""

    def __init__(self):
        self.handle = None
        self.renew()

    def renew(self) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
        self.handle = ProgressBoard.options(scheduling_strategy=here).remote()

    def snapshot(self, renew: bool = True) -> dict[str, int]:
        try:
            return ray.get(self.handle.snapshot.remote(), timeout=10)
        except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError):
            if renew:
                self.renew()  # tasks started from now on report to the new one
            return {}


def run(batch, todo) -> str:
    settings = batch.settings
    started, workers = connect(settings.jobs, settings.ray_address)
    watch = HeadWatch(settings.ray_address if started else None)
    outstanding: dict = {}  # completion ref -> (job, number of tasks it stands for, attempt)
    parts_of: dict = {}  # rel_source -> its segment refs (cancelled on a retry or Ctrl-C)
    lost_head = False
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
        # Ray retries nothing itself: the driver does (below), so that every retry is counted and a file
        # is retried as a whole (a segmented one with all its segments).
        opts = dict(num_cpus=1, max_retries=0, retry_exceptions=False)
        board = Board()
        conv, hw = settings.conversion, settings.hwaccel

        def submit(job, attempt: int) -> int:
            if job.kind == "image":
                ref, n = image_task.options(**opts, **gpu).remote(job, spec, weights), 1
            elif (segments := batch.segments_for(job)) is not None:
                work_dir = batch.work_dir(job)
                parts = [segment_task.options(**opts, **gpu).remote(job, s, work_dir, conv, hw, spec, weights,
                                                                  board.handle) for s in segments]
                ref, n = join_task.options(**opts).remote(job, work_dir, *parts), len(parts) + 1
                parts_of[job.rel_source] = parts
            else:
                ref, n = video_task.options(**opts, **gpu).remote(job, conv, hw, spec, weights, board.handle), 1
            outstanding[ref] = (job, n, attempt)
            return n

        queue = [(job, 0) for job in reversed(todo)]
        in_flight = 0
        no_cpus_since = None
        next_cpu_check = 0.0
        while queue or outstanding:
            if watch.lost.is_set():
                lost_head = True
                raise UserError(f"lost the Ray cluster's head at {settings.ray_address} (no answer for "
                                f"{HEAD_LOST_S:.0f} s); {_unfinished(batch, queue, outstanding)} "
                                "not converted; run the same command again to resume")
            while queue and in_flight < limit:
                job, attempt = queue.pop()
                if attempt == 0 and not batch.claim(job):
                    continue
                in_flight += submit(job, attempt)
            if not outstanding:
                continue
            ready, _ = ray.wait(list(outstanding), num_returns=len(outstanding), timeout=POLL_S)
            for ref in ready:
                job, n, attempt = outstanding.pop(ref)
                in_flight -= n
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as e:
                    if lost_worker(e):
                        for part in parts_of.pop(job.rel_source, []):
                            _cancel(part)
                        if attempt < MAX_RETRIES:
                            batch.retried(job)
                            queue.append((job, attempt + 1))  # next in line, on what is left of the cluster
                            continue
                        reason = f"its Ray worker or node was lost {MAX_RETRIES + 1} times"
                    else:
                        reason = failure_reason(_cause(e))
                    batch.finish(job, "failed", reason)
                    continue
                parts_of.pop(job.rel_source, None)
                for message in result.pop("notes", []):
                    note(f"{job.rel_source}: {message}")
                batch.finish(job, "converted", result=result)
            now = time.monotonic()
            if outstanding and now >= next_cpu_check and watch.answering:
                next_cpu_check = now + 2.0
                if _alive_cpus() > 0:
                    no_cpus_since = None
                elif no_cpus_since is None:
                    no_cpus_since = now
                elif now - no_cpus_since >= NO_CPUS_S:
                    raise UserError(f"the Ray cluster has no CPUs left (its nodes are gone); "
                                    f"{_unfinished(batch, queue, outstanding)} not converted; run again to resume")
            frames: dict[str, int] = {}
            for key, done in board.snapshot(renew=watch.answering).items():
                rel = key.split("\0")[0]
                frames[rel] = frames.get(rel, 0) + done
            for rel, done in frames.items():
                if rel not in batch.outcomes:
                    batch.frames_done(rel, done)
    except (KeyboardInterrupt, UserError):
        if not lost_head:
            for ref in [*outstanding, *(r for parts in parts_of.values() for r in parts)]:
                _cancel(ref)
        raise
    finally:
        watch.stop()
        if started and not lost_head:
            ray.shutdown()
    return workers


def _cancel(ref) -> None:
    try:
        ray.cancel(ref, force=True, recursive=True)
    except Exception:  # already finished, or the cluster is going away: nothing left to stop
        pass


def _alive_cpus() -> float:
    try:
        return sum(n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive"))
    except Exception:  # the GCS is not answering: the head watch decides about that
        return 1.0


def _unfinished(batch, queue, outstanding) -> str:
    n = len({job.rel_source for job, *_ in [*queue, *outstanding.values()]})
    return f"{n} file(s)"
