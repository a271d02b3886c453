"""The built-in demo rendered once, then played from a cache file (issue #21 item 5).

Rendering a demo frame costs 30-70 ms (livehdr.scenes), more than a frame lasts, so the demo is rendered once
into a file and read from it afterwards (a memory map: ~1 ms a frame).

- Where: ``$LIVEHDR_CACHE_DIR/demo/`` if set, else ``$XDG_CACHE_HOME/livehdr/demo/``, else
  ``~/.cache/livehdr/demo/``. Deleting the folder is always safe: the next demo renders it again.
- What: raw 8-bit RGB frames (lossless and the cheapest to read; lossless H.264 RGB decodes in ~30 ms a
  frame at 720p and zlib in ~20 ms, both too slow here), 2.8 MB a frame at 1280x720: 830 MB for the default
  10 s clip. Layout: a 64-byte header (magic, version, width, height, frames, fps), the frames, then one
  CRC-32 per frame.
- Key (the file name): size, frame count, fps and a hash of the renderer's code (every module of
  ``livehdr.scenes``, the SDR tone curve) with the livehdr, numpy and numba versions, so a changed renderer
  never plays stale frames; building one removes the same clip's files from earlier renderers.
- Built under a temporary name and renamed into place when complete, with a progress line. A damaged file
  (wrong size, bad header) is rebuilt with one line on stderr; a frame whose CRC does not match is rendered
  instead (one line), and the file is removed so that the next run rebuilds it.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import struct
import sys
import tempfile
import time
import zlib

import numpy as np

from livehdr.base.log import warn

MAGIC = b"LIVEHDR-DEMO-RGB"
VERSION = 1
HEADER = struct.Struct("<16sIIIId")  # magic, version, width, height, frames, fps
HEADER_BYTES = 64


def cache_dir() -> str:
    """The folder the demo cache lives in (see the module docstring)."""
    root = os.environ.get("LIVEHDR_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "livehdr")
    return os.path.join(root, "demo")


def renderer_fingerprint() -> str:
    """A hash of what decides the demo's pixels: the scenes package's code, the SDR curve, versions."""
    import numba

    import livehdr
    from livehdr import scenes
    from livehdr.color import tonecurves

    h = hashlib.sha256()
    h.update(f"{livehdr.__version__} numpy {np.__version__} numba {numba.__version__}".encode())
    folder = os.path.dirname(os.path.abspath(scenes.__file__))
    files = sorted(glob.glob(os.path.join(folder, "**", "*.py"), recursive=True)) + [tonecurves.__file__]
    for path in files:
        h.update(os.path.relpath(path, folder).encode())
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def cache_path(width: int, height: int, frames: int, fps: float, fingerprint: str | None = None) -> str:
    """``fingerprint`` "*": the glob of every renderer's file for this clip."""
    fingerprint = renderer_fingerprint() if fingerprint is None else fingerprint
    return os.path.join(cache_dir(), f"demo-{width}x{height}-{frames}f-{fps:g}fps-{fingerprint}.rgb")


def render_frame(index: int, fps: float, width: int, height: int) -> np.ndarray:
    """One demo frame from the renderer (the only place the demo is rendered)."""
    from livehdr import scenes

    return np.ascontiguousarray(scenes.demo_frame_sdr(index / fps, width, height), dtype=np.uint8)


class DemoCache:
    """The demo's frames from the cache file, built on first use. ``frame(i)`` -> H x W x 3 uint8."""

    def __init__(self, width: int, height: int, frames: int, fps: float):
        self.width, self.height, self.frames, self.fps = int(width), int(height), int(frames), float(fps)
        self.path = cache_path(self.width, self.height, self.frames, self.fps)
        self._map = None
        self._crc = None
        self._bad = False  # a CRC failed: render the rest, the file is gone

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * 3

    def file_bytes(self) -> int:
        return HEADER_BYTES + self.frames * (self.frame_bytes + 4)

    # ---- open or build ---------------------------------------------------------------------------------
    def open(self) -> None:
        if self._map is not None or self._bad:
            return
        problem = self.problem() if os.path.exists(self.path) else None
        if problem is not None:
            warn(f"demo cache {self.path} is damaged ({problem}); rendering it again")
        if problem is not None or not os.path.exists(self.path):
            try:
                self.build()
            except OSError as e:
                warn(f"cannot write the demo cache in {os.path.dirname(self.path)} ({e.strerror or e}); "
                     f"rendering every frame instead")
                self._bad = True
                return
        self._map = np.memmap(self.path, dtype=np.uint8, mode="r")
        crc = self._map[HEADER_BYTES + self.frames * self.frame_bytes:]
        self._crc = np.frombuffer(crc.tobytes(), dtype="<u4")

    def problem(self) -> str | None:
        """None if the file looks whole (size and header), else what is wrong with it."""
        try:
            size = os.path.getsize(self.path)
            with open(self.path, "rb") as f:
                head = f.read(HEADER.size)
        except OSError as e:
            return e.strerror or str(e)
        if size != self.file_bytes():
            return f"{size} bytes, expected {self.file_bytes()}"
        if len(head) < HEADER.size:
            return "no header"
        magic, version, w, h, n, fps = HEADER.unpack(head)
        if magic != MAGIC or version != VERSION:
            return "not a livehdr demo cache"
        if (w, h, n, fps) != (self.width, self.height, self.frames, self.fps):
            return f"holds {w}x{h} x {n} frames at {fps:g} fps"
        return None

    def build(self) -> None:
        """Render every frame into a temporary file next to the final name, then rename it into place."""
        folder = os.path.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".demo.", suffix=".partial", dir=folder)
        t0 = time.perf_counter()
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(HEADER.pack(MAGIC, VERSION, self.width, self.height, self.frames, self.fps)
                        .ljust(HEADER_BYTES, b"\0"))
                crcs = np.zeros(self.frames, dtype="<u4")
                for i in range(self.frames):
                    rgb = render_frame(i, self.fps, self.width, self.height)
                    f.write(rgb.tobytes())
                    crcs[i] = zlib.crc32(rgb)
                    progress(f"livehdr: rendering the demo once into {folder}: frame {i + 1}/{self.frames}",
                             force=i == 0)
                f.write(crcs.tobytes())
            os.replace(tmp, self.path)
            for stale in glob.glob(cache_path(self.width, self.height, self.frames, self.fps, "*")):
                if stale != self.path:  # the same clip from an earlier renderer: never read again
                    with contextlib.suppress(OSError):
                        os.unlink(stale)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            progress(None)
            raise
        progress(f"livehdr: demo rendered once into {self.path} ({os.path.getsize(self.path) / 1e6:.0f} MB, "
                 f"{time.perf_counter() - t0:.0f} s); delete the folder to free the space", force=True)
        progress(None)

    # ---- frames ------------------------------------------------------------------------------------------
    def frame(self, index: int) -> np.ndarray:
        self.open()
        if self._map is None:
            return render_frame(index, self.fps, self.width, self.height)
        start = HEADER_BYTES + index * self.frame_bytes
        rgb = np.array(self._map[start:start + self.frame_bytes]).reshape(self.height, self.width, 3)
        if zlib.crc32(rgb) != int(self._crc[index]):
            warn(f"demo cache {self.path}: frame {index} is damaged; rendering the demo instead "
                 f"(the cache is removed and rebuilt next time)")
            self.close()
            self._bad = True
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            return render_frame(index, self.fps, self.width, self.height)
        return rgb

    def close(self) -> None:
        self._map = None
        self._crc = None


_PROGRESS = {"shown": False, "last": 0.0}


def progress(line: str | None, force: bool = False) -> None:
    """One line on stderr rewritten in place (at most 10 times a second unless ``force``); None ends it.
    When stderr is not a terminal (a log file), only the ``force`` lines are written, each on its own line."""
    if not _isatty():
        if line is not None and force:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        return
    if line is None:
        if _PROGRESS["shown"]:
            sys.stderr.write("\n")
            sys.stderr.flush()
        _PROGRESS["shown"] = False
        return
    now = time.monotonic()
    if _PROGRESS["shown"] and now - _PROGRESS["last"] < 0.1 and not force:
        return
    _PROGRESS["shown"], _PROGRESS["last"] = True, now
    sys.stderr.write("\r" + line + "\033[K")  # the rest of a longer earlier line erased
    sys.stderr.flush()


def _isatty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False
