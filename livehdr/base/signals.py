"""Ctrl-C and SIGTERM handling for long conversions.

- SIGINT and SIGTERM stay on the main thread: worker threads are started, and encoders opened, with them
  blocked (native threads inherit the mask of the thread that creates them).
- The first Ctrl-C (or SIGTERM: a timeout, ``docker stop``, systemd) of a conversion only sets an event: the
  input ends there and the frames in flight drain, so the file is still finished. Letting it raise
  KeyboardInterrupt through the conversion instead left x265 4.2 deadlocked in its final flush in about 4
  runs of 10; with the event, 0 of 8 (and 0 of 10 cut by --max-frames). A second signal raises
  KeyboardInterrupt and stops at once.
- The handler stays installed until the caller leaves the block, finishing included: a second Ctrl-C while
  the file is finished must reach the code that decides what is left on disk, never the default handler.
"""
from __future__ import annotations

import contextlib
import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Set by the first stop signal; remembers which one (the exit status is 128 + its number)."""

    def __init__(self):
        self.event = threading.Event()
        self.signum: int | None = None

    def is_set(self) -> bool:
        return self.event.is_set()

    def set(self, signum: int = signal.SIGINT) -> None:
        if self.signum is None:
            self.signum = int(signum)
        self.event.set()


@contextlib.contextmanager
def sigint_blocked_for_new_threads():
    """Block SIGINT/SIGTERM while the body runs (on the main thread), so that threads created meanwhile never
    see them."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOP_SIGNALS))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def first_stop_sets(request: StopRequest):
    """While the body runs: the first Ctrl-C / SIGTERM sets ``request``; a second one raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if request.is_set():
            raise KeyboardInterrupt
        request.set(signum)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
