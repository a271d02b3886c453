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
