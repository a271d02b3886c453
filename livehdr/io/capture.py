"""Screen capture source: `--input screen`, `screen:N` (monitor N) and `screen:x,y,w,h` (a region).

Backends:
- mss (X11 depth 24/32, Windows, macOS): fast shared-memory grabs, 8-bit BGRA -> uint8 RGB frames.
- X11 at depth 30 (a 10-bit desktop): mss and x11grab refuse it and `xwd` truncates to 8 bits, so the
  root window is read with XGetImage over *all* planes (ctypes, no extra package) and decoded with the
  visual's channel masks into float32 code values (k / 1023): the 10 bits survive into the operator.

Low latency: a frame is grabbed only when the consumer asks for the next one (a generator), so nothing
queues here; the pipeline keeps at most one frame in flight and drops stale ones. ``captured_at`` is the
``time.perf_counter()`` when the grab started (the moment the pixels are read), so the latency the
window shows includes the grab itself.

Monitor numbers follow mss: ``screen:0`` is all monitors together, ``screen:1`` the first (= ``screen``).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import time

import numpy as np

from livehdr.base.errors import UserError, one_line
from livehdr.io.sources import Source, SourceFrame

CAPTURE_FPS = 60.0  # upper bound on the grab rate: no point grabbing faster than a desktop refreshes

# --------------------------------------------------------------------------------------------------------
# Spec parsing
# --------------------------------------------------------------------------------------------------------
def parse_screen_spec(spec: str):
    """'screen' -> ('monitor', 1); 'screen:N' -> ('monitor', N); 'screen:x,y,w,h' -> ('region', (x,y,w,h))."""
    if spec == "screen":
        return "monitor", 1
    if not spec.startswith("screen:"):
        raise UserError(f"not a screen input: {spec!r}; use screen, screen:N or screen:x,y,w,h")
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


# --------------------------------------------------------------------------------------------------------
# Xlib through ctypes (only what capture needs: open, depth, XGetImage with all planes)
# --------------------------------------------------------------------------------------------------------
ZPixmap = 2
AllPlanes = ctypes.c_ulong(~0 & 0xFFFFFFFFFFFFFFFF)


class XImage(ctypes.Structure):
    """Xlib.h's XImage, up to the fields we read (the trailing function table is left opaque)."""

    _fields_ = [
        ("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int),
        ("format", ctypes.c_int), ("data", ctypes.c_void_p), ("byte_order", ctypes.c_int),
        ("bitmap_unit", ctypes.c_int), ("bitmap_bit_order", ctypes.c_int), ("bitmap_pad", ctypes.c_int),
        ("depth", ctypes.c_int), ("bytes_per_line", ctypes.c_int), ("bits_per_pixel", ctypes.c_int),
        ("red_mask", ctypes.c_ulong), ("green_mask", ctypes.c_ulong), ("blue_mask", ctypes.c_ulong),
        ("obdata", ctypes.c_void_p), ("funcs", ctypes.c_void_p * 6),
    ]


def load_xlib():
    name = ctypes.util.find_library("X11") or "libX11.so.6"
    try:
        x = ctypes.cdll.LoadLibrary(name)
    except OSError:
        return None
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XCloseDisplay.argtypes = [ctypes.c_void_p]
    x.XDefaultScreen.argtypes = [ctypes.c_void_p]
    x.XRootWindow.restype = ctypes.c_ulong
    x.XRootWindow.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x.XDefaultDepth.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x.XDisplayWidth.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x.XDefaultVisual.restype = ctypes.c_void_p
    x.XDefaultVisual.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x.XGetImage.restype = ctypes.POINTER(XImage)
    x.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                            ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
    x.XDestroyImage.argtypes = [ctypes.POINTER(XImage)]
    x.XCreateImage.restype = ctypes.POINTER(XImage)
    x.XCreateImage.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_int,
                               ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint, ctypes.c_int, ctypes.c_int]
    x.XPutImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.POINTER(XImage),
                            ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_uint, ctypes.c_uint]
    x.XCreateGC.restype = ctypes.c_void_p
    x.XCreateGC.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_void_p]
    x.XFreeGC.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    x.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x.XFree.argtypes = [ctypes.c_void_p]
    return x


class X11Screen:
    """One connection to an X server's default screen: its depth, size and exact root-window reads."""

    def __init__(self, display: str | None = None):
        self.xlib = load_xlib()
        if self.xlib is None:
            raise UserError("screen capture on X11 needs libX11 (not found)")
        name = display if display is not None else os.environ.get("DISPLAY")
        if not name:
            raise UserError("screen capture needs a display: DISPLAY is not set")
        self.dpy = self.xlib.XOpenDisplay(name.encode())
        if not self.dpy:
            raise UserError(f"cannot open X display {name!r} for screen capture")
        self.screen = self.xlib.XDefaultScreen(self.dpy)
        self.root = self.xlib.XRootWindow(self.dpy, self.screen)
        self.depth = self.xlib.XDefaultDepth(self.dpy, self.screen)
        self.width = self.xlib.XDisplayWidth(self.dpy, self.screen)
        self.height = self.xlib.XDisplayHeight(self.dpy, self.screen)

    def get_image(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        """Root window pixels, all planes: uint8 RGB for depth <= 24, float32 code values for deeper."""
        img = self.xlib.XGetImage(self.dpy, self.root, x, y, w, h, AllPlanes, ZPixmap)
        if not img:
            raise UserError(f"XGetImage failed for the region {w}x{h} at {x},{y}")
        try:
            im = img.contents
            if im.bits_per_pixel != 32:
                raise UserError(f"unsupported X pixel layout: {im.bits_per_pixel} bits per pixel")
            words = np.ctypeslib.as_array(ctypes.cast(im.data, ctypes.POINTER(ctypes.c_uint32)),
                                          shape=(h, im.bytes_per_line // 4))[:, :w]
            return decode_masked_pixels(words, (im.red_mask, im.green_mask, im.blue_mask))
        finally:
            self.xlib.XDestroyImage(img)

    def close(self):
        if self.dpy:
            self.xlib.XCloseDisplay(self.dpy)
            self.dpy = None


def _mask_shift_bits(mask: int) -> tuple[int, int]:
    shift = (mask & -mask).bit_length() - 1
    return shift, bin(mask).count("1")


def decode_masked_pixels(words: np.ndarray, masks) -> np.ndarray:
    """32-bit TrueColor pixels -> RGB using the visual's masks (10 bits each at depth 30, 8 at 24).

    8-bit channels come back as uint8 (like mss); deeper ones as float32 code values k / (2^bits - 1).
    """
    channels, bits = [], []
    for m in masks:
        s, b = _mask_shift_bits(int(m))
        channels.append((words >> np.uint32(s)) & np.uint32((1 << b) - 1))
        bits.append(b)
    rgb = np.stack(channels, axis=-1)
    if max(bits) <= 8:
        return rgb.astype(np.uint8)
    return rgb.astype(np.float32) * np.float32(1.0 / ((1 << max(bits)) - 1))


# --------------------------------------------------------------------------------------------------------
# Grabbers
# --------------------------------------------------------------------------------------------------------
class _MssGrabber:
    name = "mss"

    def __init__(self, kind, value, spec):
        import mss

        try:
            self.sct = mss.MSS() if hasattr(mss, "MSS") else mss.mss()
        except Exception as e:  # mss raises its own error types per platform
            raise UserError(f"screen capture failed to start ({one_line(e)})") from None
        monitors = self.sct.monitors
        if kind == "monitor":
            if value >= len(monitors):
                raise UserError(f"no monitor {value}: this desktop has {len(monitors) - 1} "
                                f"(screen:0 = all of them)")
            m = monitors[value]
            self.box = {"left": m["left"], "top": m["top"], "width": m["width"], "height": m["height"]}
        else:
            all_ = monitors[0]
            _region_inside(value, (all_["left"], all_["top"], all_["width"], all_["height"]), spec)
            x, y, w, h = value
            self.box = {"left": x, "top": y, "width": w, "height": h}
        self.width, self.height = self.box["width"], self.box["height"]

    def grab(self) -> np.ndarray:
        shot = self.sct.grab(self.box)
        bgra = np.frombuffer(shot.bgra, dtype=np.uint8).reshape(shot.height, shot.width, 4)
        return np.ascontiguousarray(bgra[..., 2::-1])

    def close(self):
        self.sct.close()


class _X11DeepGrabber:
    """Depth-30 X screens: XGetImage with all planes keeps the 10 bits that every 8-bit tool drops."""

    name = "xlib-depth30"

    def __init__(self, x11: X11Screen, kind, value, spec):
        self.x11 = x11
        if kind == "monitor":
            if value > 1:
                raise UserError(f"no monitor {value}: on a depth-30 X screen only screen, screen:0 and "
                                f"screen:1 (the whole screen) or a region screen:x,y,w,h are supported")
            self.box = (0, 0, x11.width, x11.height)
        else:
            _region_inside(value, (0, 0, x11.width, x11.height), spec)
            self.box = value
        self.width, self.height = self.box[2], self.box[3]

    def grab(self) -> np.ndarray:
        return self.x11.get_image(*self.box)

    def close(self):
        self.x11.close()



# --------------------------------------------------------------------------------------------------------
# The Source
# --------------------------------------------------------------------------------------------------------
class ScreenSource(Source):
    """A live source: ``frames()`` grabs one frame per request, paced to at most ``fps``."""

    is_live = True

    def __init__(self, grabber, spec: str, fps: float = CAPTURE_FPS):
        self.grabber = grabber
        self.spec = spec
        self.width, self.height = grabber.width, grabber.height
        self.fps = fps
        self.backend = grabber.name
        self._closed = False

    def frames(self):
        period = 1.0 / self.fps
        start = time.perf_counter()
        index = 0
        next_due = start
        while not self._closed:
            now = time.perf_counter()
            if now < next_due:
                time.sleep(next_due - now)
            t0 = time.perf_counter()
            rgb = self.grabber.grab()
            t1 = time.perf_counter()
            yield SourceFrame(index=index, pts=t0 - start, rgb=rgb, captured_at=t0,
                              timings={"capture": (t1 - t0) * 1000}, duration=period)
            index += 1
            # Never catch up on missed slots: a late consumer gets a fresh grab, not a burst.
            next_due = max(next_due + period, time.perf_counter())

    def seek(self, seconds: float) -> None:
        """Live input: nothing to seek."""

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.grabber.close()


def open_screen_source(spec: str, fps: float = CAPTURE_FPS) -> ScreenSource:
    kind, value = parse_screen_spec(spec)
    if sys.platform.startswith("linux"):
        if not os.environ.get("DISPLAY"):
            if os.environ.get("WAYLAND_DISPLAY"):
                raise UserError("screen capture needs X11 (or XWayland with DISPLAY set); "
                                "pure Wayland sessions do not allow it")
            raise UserError("screen capture needs a display: DISPLAY is not set")
        x11 = X11Screen()
        if x11.depth > 24 and x11.depth != 32:
            return ScreenSource(_X11DeepGrabber(x11, kind, value, spec), spec, fps)
        x11.close()
    return ScreenSource(_MssGrabber(kind, value, spec), spec, fps)
