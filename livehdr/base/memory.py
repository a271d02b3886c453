"""Keep freed heap memory in the process: glibc's malloc otherwise costs CPU inference most of its time.

By default glibc serves every allocation above its mmap threshold (128 KiB, adapting up to 32 MiB) with a
fresh ``mmap`` and unmaps it on ``free``, and trims the top of the heap once 128 KiB are free there. A
1080p MQNet frame allocates and frees tensors of 8-130 MB, so every frame touched fresh pages again: 1.8-2.0
million minor page faults per frame, more system time than compute (issue #12). Asking malloc, once at
start-up, to serve large blocks from the heap, to keep what is freed and to use one arena (a worker thread's
own arena mmaps large blocks whatever the threshold) makes the next frame reuse the same pages (measured,
docs/BENCHMARKS.md: 0 faults per 1080p frame after the first, 2-3x faster fp32 frames on 2 shared cores).

This is ``mallopt`` through ctypes, the same as the ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``
environment variables but without a re-exec. Elsewhere (macOS, musl, Windows) it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

# <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
M_ARENA_MAX = -8

KEEP_UP_TO = 2**31 - 1  # mallopt takes an int: keep up to 2 GiB of free heap top instead of returning it
LARGEST_MMAP_THRESHOLD = 2**30  # blocks below 1 GiB come from the heap (a 4K float frame is 100 MB)
OFF_SWITCH = "LIVEHDR_MALLOC_DEFAULTS"  # set to 1 to keep glibc's defaults (the bench's "before" run)

_applied: str | None = None


def _glibc():
    """The C library when it is glibc (``gnu_get_libc_version`` exists only there), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - AttributeError when not glibc
    except (OSError, AttributeError, TypeError):
        return None
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    return libc


def keep_freed_memory() -> str:
    """Tune malloc once per process, before worker threads start; returns what took effect (also when called
    again): 'threshold' (large blocks from the heap, freed memory kept), 'no-mmap' (the threshold was refused,
    so mmap is off instead: older glibc caps the threshold at 32 MiB on 64-bit), 'defaults' (the off
    switch is set) or 'unsupported' (not glibc)."""
    global _applied
    if _applied is not None:
        return _applied
    if os.environ.get(OFF_SWITCH, "") not in ("", "0"):
        _applied = "defaults"
        return _applied
    libc = _glibc()
    if libc is None:
        _applied = "unsupported"
        return _applied
    libc.mallopt(M_TRIM_THRESHOLD, KEEP_UP_TO)
    # One arena: a thread's own arena lives in 64 MiB mmapped heaps, so a larger block allocated on a
    # worker thread (the pipeline's operator thread) is mmapped and unmapped per frame whatever the
    # threshold: 0.96 million faults per 1080p frame in the pipeline with the threshold alone.
    libc.mallopt(M_ARENA_MAX, 1)
    if libc.mallopt(M_MMAP_THRESHOLD, LARGEST_MMAP_THRESHOLD) == 1:
        _applied = "threshold"
    elif libc.mallopt(M_MMAP_MAX, 0) == 1:  # no mmap at all: every block from the (kept) heap
        _applied = "no-mmap"
    else:
        _applied = "unsupported"
    return _applied


def minor_faults() -> int:
    """Minor page faults of this process so far (0 where getrusage is missing)."""
    try:
        import resource
    except ImportError:
        return 0
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
