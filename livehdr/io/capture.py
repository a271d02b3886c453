"""Screen and window capture: `--input screen`, `screen:N` (monitor N), `screen:x,y,w,h` (a region) and
`window:TITLE` (one window, followed when it moves).

Backends:
- X11 (any depth): MIT-SHM XShmGetImage over all planes (xlib.ShmImage), the server writes straight into
  shared memory; depth 24 and depth 30 (10-bit desktops, which mss and x11grab refuse) are both exact.
  Without MIT-SHM (a remote display) plain XGetImage reads the same pixels, slower.
- Elsewhere (Windows, macOS): mss.

Frames carry the server's pixels untouched (``RawPixels``: 32-bit words and the visual's channel masks).
The window uploads them to the GPU as they are; ``SourceFrame.rgb`` decodes them only if a CPU stage asks.

Low latency: a capture thread grabs at the display rate (``CAPTURE_FPS``) and keeps only the newest
frame; ``frames()`` always hands out the newest one not handed out before, never a queue of stale ones.
``captured_at`` is the ``time.perf_counter()`` when the grab started and ``pts`` the same clock from the
first frame handed out, so recordings start at 0 and have true (variable) frame timing. ``grabbed`` counts
every grab: frames grabbed but never handed out were dropped because the consumer was busy.

Monitor numbers follow mss: ``screen:0`` is all monitors together, ``screen:1`` the first (= ``screen``).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
import os
import sys
import threading
import time

import numpy as np

from livehdr.base.errors import UserError, one_line
from livehdr.base.log import note
from livehdr.io.sources import Source, SourceFrame
from livehdr.io.xlib import ShmImage, X11Screen, load_xlib  # noqa: F401  (X11Screen: tests draw with it)

CAPTURE_FPS = 60.0  # grab rate: what a desktop refreshes at; Xvfb has no refresh rate to ask for
CAPTURE_TIME_BASE = Fraction(1, 1000)  # recordings keep capture times to the millisecond (Matroska's unit)
OWN_TITLE_PREFIX = "livehdr - "  # our window's title (cli.window_settings): never a capture target

MASKS_BGRX8 = (0xFF0000, 0xFF00, 0xFF)  # depth 24/32 TrueColor, little-endian words: bytes B, G, R, X
MASKS_X2RGB10 = (0x3FF00000, 0xFFC00, 0x3FF)  # depth 30 TrueColor


# --------------------------------------------------------------------------------------------------------
# Spec parsing
# --------------------------------------------------------------------------------------------------------
def is_capture_spec(spec: str) -> bool:
    return spec == "screen" or spec.startswith(("screen:", "window:"))


def parse_screen_spec(spec: str):
    """'screen' -> ('monitor', 1); 'screen:N' -> ('monitor', N); 'screen:x,y,w,h' -> ('region', (x,y,w,h));
    'window:TITLE' -> ('window', 'TITLE')."""
    if spec == "screen":
        return "monitor", 1
    if spec.startswith("window:"):
        title = spec[len("window:"):]
        if not title.strip():
            raise UserError("window: needs a title, e.g. --input 'window:My Game'")
        return "window", title
    if not spec.startswith("screen:"):
        raise UserError(f"not a screen input: {spec!r}; use screen, screen:N, screen:x,y,w,h or window:TITLE")
    rest = spec[len("screen:"):]
    parts = rest.split(",")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise UserError(f"bad screen input {spec!r}; use screen:N (monitor) or screen:x,y,w,h (region)") from None
    if len(numbers) == 1:
        if numbers[0] < 0:
            raise UserError(f"bad monitor number in {spec!r}: must be 0 (all) or 1, 2, ...")
        return "monitor", numbers[0]
    if len(numbers) == 4:
        x, y, w, h = numbers
        if w < 2 or h < 2 or x < 0 or y < 0:
            raise UserError(f"bad screen region {spec!r}: x and y must be >= 0, width and height >= 2")
        return "region", (x, y, w, h)
    raise UserError(f"bad screen input {spec!r}; use screen:N (monitor) or screen:x,y,w,h (region)")


def _region_inside(region, bounds, spec):
    x, y, w, h = region
    bx, by, bw, bh = bounds
    if x < bx or y < by or x + w > bx + bw or y + h > by + bh:
        raise UserError(f"screen region {spec!r} lies outside the screen ({bw}x{bh} at {bx},{by})")


def intersect(a, b):
    """Overlap of two (x, y, w, h) rectangles, or None."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


# --------------------------------------------------------------------------------------------------------
# Pixels as grabbed
# --------------------------------------------------------------------------------------------------------
def _mask_shift_bits(mask: int) -> tuple[int, int]:
    shift = (mask & -mask).bit_length() - 1
    return shift, bin(mask).count("1")


def decode_masked_pixels(words: np.ndarray, masks) -> np.ndarray:
    """32-bit TrueColor pixels -> RGB using the visual's masks (10 bits each at depth 30, 8 at 24).

    8-bit channels come back as uint8 (like mss); deeper ones as float32 code values k / (2^bits - 1).
    """
    if tuple(masks) == MASKS_BGRX8 and sys.byteorder == "little":  # bytes B, G, R, X: one strided copy
        return np.ascontiguousarray(words.view(np.uint8).reshape(*words.shape, 4)[..., 2::-1])
    channels, bits = [], []
    for m in masks:
        s, b = _mask_shift_bits(int(m))
        channels.append((words >> np.uint32(s)) & np.uint32((1 << b) - 1))
        bits.append(b)
    rgb = np.stack(channels, axis=-1)
    if max(bits) <= 8:
        return rgb.astype(np.uint8)
    return rgb.astype(np.float32) * np.float32(1.0 / ((1 << max(bits)) - 1))


@dataclass(frozen=True)
class RawPixels:
    """H x W uint32 words as the X server (or mss) stores them, and which bits are red, green and blue."""

    words: np.ndarray
    masks: tuple[int, int, int]

    @property
    def layout(self) -> str | None:
        """'bgrx8' or 'x2rgb10' when the GPU can take the words as they are, else None."""
        if sys.byteorder != "little":
            return None
        return {MASKS_BGRX8: "bgrx8", MASKS_X2RGB10: "x2rgb10"}.get(tuple(self.masks))

    def to_rgb(self) -> np.ndarray:
        return decode_masked_pixels(self.words, self.masks)


# --------------------------------------------------------------------------------------------------------
# What to capture: a fixed rectangle, or a window followed as it moves
# --------------------------------------------------------------------------------------------------------
class FixedArea:
    def __init__(self, rect):
        self._rect = tuple(rect)

    def rect(self):
        return self._rect


class FollowedWindow:
    """A window found by title; ``rect()`` asks the server where it is now (root coordinates). The captured
    size stays the size it had when found (a recording cannot change size); a larger window is cut at the
    bottom right, a smaller one padded with black."""

    def __init__(self, x11: X11Screen, title: str):
        self.x11 = x11
        self.window, self.title = find_window(x11, title)
        rect = x11.window_rect(self.window)
        if rect is None:
            raise UserError(f"window {self.title!r} is not on screen (minimised or unmapped?)")
        self.size = (max(2, rect[2]), max(2, rect[3]))

    def rect(self):
        rect = self.x11.window_rect(self.window)
        if rect is None:
            raise UserError(f"the captured window {self.title!r} closed or was minimised")
        return rect[0], rect[1], self.size[0], self.size[1]


def find_window(x11: X11Screen, title: str) -> tuple[int, str]:
    """The one mapped window titled ``title``: an exact title first, else the only one containing it
    (case-insensitive). livehdr's own windows never match."""
    windows = [(w, t) for w, t in x11.titled_windows() if not t.startswith(OWN_TITLE_PREFIX)]
    exact = [(w, t) for w, t in windows if t == title]
    if exact:
        return exact[0]
    partial = [(w, t) for w, t in windows if title.lower() in t.lower()]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        if any(t.startswith(OWN_TITLE_PREFIX) and title.lower() in t.lower() for _, t in x11.titled_windows()):
            raise UserError(f"window:{title} names livehdr's own window; it cannot capture itself")
        raise UserError(f"no window titled {title!r} on display {x11.name}")
    names = ", ".join(repr(t) for _, t in partial[:4])
    raise UserError(f"{len(partial)} windows match {title!r} ({names}); give more of the title")


# --------------------------------------------------------------------------------------------------------
# Grabbers: grab() -> (H x W uint32 words, channel masks, the rectangle read), black off the screen
# --------------------------------------------------------------------------------------------------------
class X11Grabber:
    """XShmGetImage (or XGetImage without MIT-SHM) over all planes: exact at every depth."""

    def __init__(self, x11: X11Screen, area, width: int, height: int):
        self.x11, self.area = x11, area
        self.width, self.height = width, height
        self.screen_rect = (0, 0, x11.width, x11.height)
        try:
            self.shm = ShmImage(x11, width, height)
            self.masks = self.shm.masks
            self.name = f"xshm-depth{x11.depth}"
        except UserError as e:
            self.shm = None
            self.masks = None
            self.name = f"xgetimage-depth{x11.depth}"
            note(f"capture without shared memory ({one_line(e)}): slower")

    def grab(self):
        x, y, w, h = self.area.rect()
        inside = intersect((x, y, w, h), self.screen_rect)
        if inside == (x, y, w, h) and self.shm is not None:
            return self.shm.grab(x, y), self.masks, (x, y, w, h)
        words = np.zeros((h, w), np.uint32)
        masks = self.masks
        if inside is not None:  # partly off the screen: read what is on it, the rest stays black
            ix, iy, iw, ih = inside
            part, masks = self.x11.get_words(ix, iy, iw, ih)
            words[iy - y:iy - y + ih, ix - x:ix - x + iw] = part
        if masks is None:
            masks = self.x11.get_words(0, 0, 1, 1)[1]
            self.masks = masks
        return words, masks, (x, y, w, h)

    def close(self):
        if self.shm is not None:
            self.shm.close()
        self.x11.close()


class MssGrabber:
    """Windows and macOS (and X11 without libX11 bindings): mss, 8-bit BGRA."""

    name = "mss"

    def __init__(self, kind, value, spec):
        import mss

        try:
            self.sct = mss.MSS() if hasattr(mss, "MSS") else mss.mss()
        except Exception as e:  # mss raises its own error types per platform
            raise UserError(f"screen capture failed to start ({one_line(e)})") from None
        monitors = self.sct.monitors
        if kind == "window":
            raise UserError("window:TITLE capture needs X11 on this version; capture a region screen:x,y,w,h")
        if kind == "monitor":
            if value >= len(monitors):
                raise UserError(f"no monitor {value}: this desktop has {len(monitors) - 1} "
                                f"(screen:0 = all of them)")
            m = monitors[value]
            rect = (m["left"], m["top"], m["width"], m["height"])
        else:
            all_ = monitors[0]
            _region_inside(value, (all_["left"], all_["top"], all_["width"], all_["height"]), spec)
            rect = value
        self.area = FixedArea(rect)
        self.width, self.height = rect[2], rect[3]

    def grab(self):
        x, y, w, h = self.area.rect()
        shot = self.sct.grab({"left": x, "top": y, "width": w, "height": h})
        words = np.frombuffer(bytearray(shot.bgra), dtype=np.uint32).reshape(shot.height, shot.width)
        return words, MASKS_BGRX8, (x, y, w, h)

    def close(self):
        self.sct.close()


# --------------------------------------------------------------------------------------------------------
# The Source
# --------------------------------------------------------------------------------------------------------
class ScreenSource(Source):
    """A live source. A capture thread grabs at ``fps`` into a slot of one; ``frames()`` yields the newest."""

    is_live = True
    time_base = CAPTURE_TIME_BASE

    def __init__(self, grabber, spec: str, fps: float = CAPTURE_FPS):
        self.grabber = grabber
        self.spec = spec
        self.width, self.height = grabber.width, grabber.height
        self.fps = fps
        self.backend = grabber.name
        self.grabbed = 0  # grabs made; grabbed - delivered were replaced by newer ones before anyone took them
        self.delivered = 0
        self._excluded: tuple = ()  # root-coordinate rectangles to black out (livehdr's own window)
        self.excluded_last = False  # the last grab overlapped an excluded rectangle
        self.last_rect = None  # root-coordinate rectangle of the last grab (a followed window's position)
        self._cond = threading.Condition()
        self._latest = None  # (index, t0, t1, RawPixels)
        self._error: BaseException | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self._start: float | None = None

    # -- self-exclusion --
    def exclude(self, rects) -> None:
        """Black out these root-coordinate rectangles in every grab (the window showing the capture)."""
        self._excluded = tuple(tuple(int(v) for v in r) for r in rects)

    def _mask_excluded(self, words: np.ndarray, area_rect) -> None:
        hit = False
        x, y = area_rect[0], area_rect[1]
        for r in self._excluded:
            o = intersect(r, area_rect)
            if o is not None:
                ox, oy, ow, oh = o
                words[oy - y:oy - y + oh, ox - x:ox - x + ow] = 0
                hit = True
        self.excluded_last = hit

    # -- the capture thread --
    def _run(self) -> None:
        period = 1.0 / self.fps
        next_due = time.perf_counter()
        index = 0
        while not self._closed:
            now = time.perf_counter()
            if now < next_due:
                time.sleep(next_due - now)
                continue
            t0 = time.perf_counter()
            try:
                words, masks, area_rect = self.grabber.grab()
            except BaseException as e:  # surfaced by frames() on the consumer's thread
                with self._cond:
                    self._error = e
                    self._cond.notify_all()
                return
            if self._excluded:
                self._mask_excluded(words, area_rect)
            t1 = time.perf_counter()
            with self._cond:
                self.last_rect = area_rect
                self._latest = (index, t0, t1, RawPixels(words, masks))
                self.grabbed += 1
                self._cond.notify_all()
            index += 1
            # Never catch up on missed slots: a late grab is followed by one a full period later.
            next_due = max(next_due + period, time.perf_counter())

    def _ensure_started(self) -> None:
        if self._thread is None:
            from livehdr.base.signals import sigint_blocked_for_new_threads

            self._thread = threading.Thread(target=self._run, name="livehdr-capture", daemon=True)
            with sigint_blocked_for_new_threads():
                self._thread.start()

    def frames(self):
        self._ensure_started()
        last = -1
        while True:
            with self._cond:
                while not self._closed and self._error is None and (self._latest is None or self._latest[0] <= last):
                    self._cond.wait(0.1)
                if self._error is not None:
                    raise self._error
                if self._closed:
                    return
                index, t0, t1, raw = self._latest
                self.delivered += 1
                if self._start is None:  # pts count from the first frame handed out: recordings start at 0
                    self._start = t0
            last = index
            yield SourceFrame(index=index, pts=t0 - self._start, rgb=None, captured_at=t0,
                              timings={"capture": (t1 - t0) * 1000}, duration=1.0 / self.fps, raw=raw)

    @property
    def clock_start(self) -> float | None:
        """time.perf_counter() when the first frame handed out was grabbed: pts are measured from it."""
        return self._start

    def seek(self, seconds: float) -> None:
        """Live input: nothing to seek."""

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.grabber.close()


def _x11_area(x11: X11Screen, kind, value, spec):
    """The capture area on an X screen, and its size."""
    if kind == "window":
        area = FollowedWindow(x11, value)
        return area, area.size
    if kind == "monitor":
        if value > 1:
            raise UserError(f"no monitor {value}: this X screen is captured whole (screen, screen:0, screen:1) "
                            f"or by region (screen:x,y,w,h)")
        return FixedArea((0, 0, x11.width, x11.height)), (x11.width, x11.height)
    _region_inside(value, (0, 0, x11.width, x11.height), spec)
    return FixedArea(value), value[2:]


def wayland_note() -> str:
    return ("Wayland session: capture goes through XWayland and sees X11 windows only; native Wayland windows "
            "come out black (portal/PipeWire capture is not implemented)")


def open_screen_source(spec: str, fps: float = CAPTURE_FPS) -> ScreenSource:
    kind, value = parse_screen_spec(spec)
    if sys.platform.startswith("linux"):
        if not os.environ.get("DISPLAY"):
            if os.environ.get("WAYLAND_DISPLAY"):
                raise UserError("screen capture on Wayland needs XWayland (DISPLAY set) and then sees X11 windows "
                                "only; native Wayland capture (portal/PipeWire) is not implemented")
            raise UserError("screen capture needs a display: DISPLAY is not set")
        if os.environ.get("WAYLAND_DISPLAY"):
            note(wayland_note())
        if load_xlib() is not None:
            x11 = X11Screen()
            try:
                area, (w, h) = _x11_area(x11, kind, value, spec)
                grabber = X11Grabber(x11, area, w, h)
            except BaseException:
                x11.close()
                raise
            return ScreenSource(grabber, spec, fps)
    return ScreenSource(MssGrabber(kind, value, spec), spec, fps)
