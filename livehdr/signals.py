"""Keep Ctrl-C on the main thread.

The kernel may deliver SIGINT to any thread that does not block it. Native worker threads (x265's pool,
FFmpeg's frame threads) inherit the signal mask of the thread that creates them, and x265's workers do
not survive an interrupted wait: after Ctrl-C the final flush hung forever (seen 4 times in 6 runs).
So threads are started, and encoders opened, with SIGINT blocked; the main thread alone takes it.
"""
from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def sigint_blocked_for_new_threads():
    """Block SIGINT while the body runs (on the main thread), so that threads created meanwhile never see it."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
