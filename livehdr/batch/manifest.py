"""The output folder's record of finished files: what was converted from what, with which settings.

``<output>/.livehdr/manifest.json`` maps each output (relative path) to its source's size, mtime and
SHA-256, the settings digest and the output's size. A re-run skips an entry whose source, settings and
output all still match, so nothing finished is converted twice. Updates are read-merge-write under a lock
and replace the file atomically, so two runs on the same folder never lose each other's entries.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import time

from livehdr.base.errors import UserError

MANIFEST_VERSION = 1


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def source_fingerprint(path: str) -> dict:
    """size + mtime (cheap, checked first) and the content hash (checked when those changed)."""
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": file_sha256(path)}


def settings_digest(settings: dict) -> str:
    """A short stable digest of everything that changes an output's pixels or encoding."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: str):
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # short: held only while the manifest is merged and replaced
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class Manifest:
    def __init__(self, state_dir: str):
        self.path = os.path.join(state_dir, "manifest.json")
        self._lock_path = os.path.join(state_dir, "manifest.lock")
        self.entries: dict[str, dict] = {}
        self._pending: dict[str, dict | None] = {}  # written on the next flush (None: forget the entry)
        self._last_flush = 0.0
        self._stamp = None

    def load(self) -> "Manifest":
        self.entries = self._read()
        return self

    def _read(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            self._stamp = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # damaged: converting again is always safe, a traceback never is
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            return {}
        files = data.get("files")
        return dict(files) if isinstance(files, dict) else {}

    def refresh_if_changed(self) -> None:
        """Re-read when another run replaced the file since we last looked."""
        try:
            stamp = os.stat(self.path).st_mtime_ns
        except OSError:
            return
        if stamp != self._stamp:
            self.entries.update(self._read())

    def is_current(self, rel_output: str, output: str, source: str, digest: str) -> bool:
        """True when ``rel_output`` was finished from this very source with these settings and is intact."""
        entry = self.entries.get(rel_output)
        if not entry or entry.get("settings") != digest:
            return False
        try:
            out_size = os.path.getsize(output)
            st = os.stat(source)
        except OSError:
            return False
        if out_size != entry.get("output_size"):
            return False
        if st.st_size != entry.get("size"):
            return False
        if st.st_mtime_ns == entry.get("mtime_ns"):
            return True
        # Touched but maybe not changed (a copy, a restore): the content decides.
        if file_sha256(source) == entry.get("sha256"):
            self.record(rel_output, {**entry, "mtime_ns": st.st_mtime_ns})
            return True
        return False

    def record(self, rel_output: str, entry: dict | None) -> None:
        if entry is None:
            self.entries.pop(rel_output, None)
        else:
            self.entries[rel_output] = entry
        self._pending[rel_output] = entry

    def flush(self, at_most_every: float = 0.0) -> None:
        """Merge our changes into the file on disk (another run may have added its own meanwhile)."""
        if not self._pending or time.monotonic() - self._last_flush < at_most_every:
            return
        folder = os.path.dirname(self.path)
        try:
            with _locked(self._lock_path):
                merged = self._read()
                for key, entry in self._pending.items():
                    if entry is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = entry
                fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".partial", dir=folder)
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as f:
                        json.dump({"version": MANIFEST_VERSION, "files": merged}, f, indent=1, sort_keys=True)
                    os.replace(tmp, self.path)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
                self._stamp = os.stat(self.path).st_mtime_ns
                self.entries.update(merged)
        except OSError as e:
            raise UserError(f"cannot update {self.path}: {e.strerror or e}") from None
        self._pending.clear()
        self._last_flush = time.monotonic()
