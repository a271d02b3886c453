"""One lock per output file, so two runs on the same output folder never write the same file at once.

``flock`` locks belong to the open file: the kernel drops them when the holder exits or is killed, so a
crash never leaves a stale lock behind (the empty lock file stays; it is harmless and reused).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re

from livehdr.base.errors import UserError


class OutputLock:
    def __init__(self, state_dir: str, rel_output: str):
        digest = hashlib.sha1(rel_output.encode()).hexdigest()[:20]
        self.path = os.path.join(state_dir, "locks", digest + ".lock")
        self._file = None

    def try_acquire(self) -> bool:
        """True if we now hold the lock; False when another run holds it."""
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            f = open(self.path, "a+")
        except OSError as e:
            raise UserError(f"cannot create lock file {self.path}: {e.strerror}") from None
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return False
        self._file = f
        return True

    def read_record(self) -> dict | None:
        """The manifest entry the last run to finish this output left in the lock file (we hold the lock).
        Runs flush the shared manifest only now and then; this per-output copy is written before every
        release, so the next holder always knows whether the output is already done."""
        try:
            self._file.seek(0)
            data = json.loads(self._file.read() or "null")
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write_record(self, entry: dict | None) -> None:
        with contextlib.suppress(OSError):
            self._file.seek(0)
            self._file.truncate()
            if entry is not None:
                self._file.write(json.dumps(entry, sort_keys=True))
            self._file.flush()

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def remove_stale_temporaries(output: str) -> int:
    """Delete the hidden temporaries a killed writer of ``output`` left beside it (``.stem.XXXXXXXX.partial.ext``
    from atomic_output, ``.video``/``.partial`` from the HDR10 writer). Only call this holding the output's
    lock: then nobody else is writing them. The pattern is exact, so another output's temporaries (a longer
    stem) never match."""
    folder, name = os.path.split(output)
    stem, ext = os.path.splitext(name)
    pattern = re.compile(r"\." + re.escape(stem) + r"\.[A-Za-z0-9_]{8}\.(partial|video)" + re.escape(ext) + "$")
    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for n in names:
        if pattern.match(n):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, n))
                removed += 1
    return removed
