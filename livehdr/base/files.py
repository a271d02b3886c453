"""Files that appear whole or not at all: early writability checks and atomic renames into place."""
from __future__ import annotations

import contextlib
import os
import tempfile

from livehdr.base.errors import UserError


def check_writable(path: str) -> None:
    """Fail early, with one line, when ``path`` cannot be created.

    A real probe file is made and removed: permission bits alone say nothing for root, read-only mounts
    or pseudo file systems.
    """
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder):
        raise UserError(f"cannot write {path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise UserError(f"cannot write {path}: it is a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".livehdr-probe.", dir=folder)
    except OSError as e:
        raise UserError(f"cannot write {path}: folder {folder} is not writable ({e.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def chmod_like_new_file(path: str) -> None:
    """mkstemp makes 0600 files; give a finished output the permissions a plain open() would (umask)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


@contextlib.contextmanager
def atomic_output(path: str):
    """Yield a temporary path next to ``path``; rename it into place only if the block succeeds.

    The temporary name keeps the extension, so libraries that pick a format by extension still work.
    """
    check_writable(path)
    folder = os.path.dirname(os.path.abspath(path))
    stem, ext = os.path.splitext(os.path.basename(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".partial{ext}", dir=folder)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None
    os.close(fd)
    try:
        yield tmp
        chmod_like_new_file(tmp)
        os.replace(tmp, path)
    except OSError as e:  # disk full, file vanished, ...: one line, nothing left behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UserError(f"writing {path} failed: {e.strerror or e}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def check_regular_file(path: str, what: str = "input") -> None:
    """Refuse anything but a regular file (after symlinks) with one line: a FIFO would block a reader
    forever, and a device or socket is never a picture or a video."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise UserError(f"{what} is a broken symbolic link: {path}") from None
        raise UserError(f"{what} not found: {path}") from None
    except OSError as e:  # a symlink loop (ELOOP), a path through a file (ENOTDIR), no permission
        raise UserError(f"cannot open {what} {path}: {e.strerror}") from None
    if stat.S_ISREG(mode):
        return
    kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a regular file")
    raise UserError(f"{what} is {kind}, not a regular file: {path}")


def check_free_space(path: str, needed_bytes: int) -> None:
    """Refuse before any work when the output's folder clearly has too little room for ``needed_bytes``."""
    import shutil

    folder = os.path.dirname(os.path.abspath(path)) or "."
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell: the write itself will report a full disk
    if free < needed_bytes:
        raise UserError(f"not enough free space for {path}: about {_mb(needed_bytes)} needed, "
                        f"{_mb(free)} free in {folder}")


def _mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


# Hidden temporaries of an output NAME.EXT: ".NAME.<8 random chars from mkstemp>.<tag>.EXT".
TEMP_TAGS = ("video", "partial")


def hidden_temp(path: str, tag: str) -> str:
    """A new empty hidden file beside ``path`` that keeps its extension (libraries pick formats by it)."""
    folder = os.path.dirname(os.path.abspath(path))
    stem, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".{tag}{ext}", dir=folder)
    os.close(fd)
    return tmp


def stale_temporaries(path: str) -> list[str]:
    """Hidden temporaries that a killed or crashed run left beside ``path`` (only call with its lock held)."""
    import re

    folder = os.path.dirname(os.path.abspath(path))
    stem, ext = os.path.splitext(os.path.basename(path))
    pattern = re.compile(re.escape(f".{stem}.") + r"[A-Za-z0-9_]{8}\.(?:" + "|".join(TEMP_TAGS) + ")"
                         + re.escape(ext) + "$")
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names if pattern.match(n)]


def remove_stale_temporaries(path: str) -> int:
    """Delete what ``stale_temporaries`` finds; returns how many were removed."""
    removed = 0
    for tmp in stale_temporaries(path):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
            removed += 1
    return removed


def lock_path(path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    return os.path.join(folder, f".{os.path.basename(path)}.lock")


class OutputLock:
    """An exclusive claim on an output, held as a ``flock`` on a lock file: the only output lock there is
    (the HDR10 writer's ``.NAME.lock`` beside the file, the batch's per-output locks in its state folder).

    The kernel drops a flock when its holder exits or is killed, so there is no stale lock to take over
    and no pid to check (a pid means nothing on another host). ``remove=True``: the lock file is deleted
    on release, while still held; a waiter that locked the deleted file sees that its inode is no longer
    the path's and locks the new file instead. What flock guarantees on NFS: docs/CLUSTER.md.
    """

    def __init__(self, lock_file: str, what: str, remove: bool = True):
        self.path, self.what, self.remove = lock_file, what, remove
        self._file = None

    @classmethod
    def beside(cls, output: str) -> "OutputLock":
        """The lock of one output file: ``.NAME.lock`` in its folder, removed when released."""
        return cls(lock_path(output), output)

    def try_acquire(self) -> bool:
        """True if we now hold the lock; False when another holder (this process included) has it."""
        import fcntl

        if self._file is not None:
            return False
        while True:
            try:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                f = open(self.path, "a+")
            except OSError as e:
                raise UserError(f"cannot write {self.what}: cannot create its lock {self.path} "
                                f"({e.strerror})") from None
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                return False
            except OSError as e:  # ENOLCK: an NFS mount without a lock service
                f.close()
                raise UserError(f"cannot lock {self.what}: {e.strerror} (on NFS the lock service must run; "
                                "docs/CLUSTER.md)") from None
            try:
                current = os.stat(self.path).st_ino == os.fstat(f.fileno()).st_ino
            except OSError:
                current = False
            if current:
                self._file = f
                return True
            f.close()  # the previous holder removed this file as it released it: lock the new one

    def acquire(self) -> "OutputLock":
        """``try_acquire`` or one line: another run is writing the same output."""
        if not self.try_acquire():
            raise UserError(f"another livehdr run is writing {self.what}; wait for it or choose another output")
        return self

    def read_record(self) -> dict | None:
        """The JSON record the last holder left in the lock file (only with ``remove=False``)."""
        import json

        try:
            self._file.seek(0)
            data = json.loads(self._file.read() or "null")
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write_record(self, entry: dict | None) -> None:
        import json

        with contextlib.suppress(OSError):
            self._file.seek(0)
            self._file.truncate()
            if entry is not None:
                self._file.write(json.dumps(entry, sort_keys=True))
            self._file.flush()

    @property
    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        import fcntl

        f, self._file = self._file, None
        if f is None:
            return
        if self.remove:
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # still held: nobody can be between their open and their flock check
        with contextlib.suppress(OSError):
            fcntl.flock(f, fcntl.LOCK_UN)
        f.close()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
