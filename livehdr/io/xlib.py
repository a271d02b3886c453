"""Xlib and MIT-SHM through ctypes: only what screen and window capture need (no extra package).

- ``X11Screen``: one connection to the default screen; depth, size, exact reads of the root window.
- ``ShmImage``: a shared-memory XImage (XShmGetImage): the X server writes the pixels straight into memory
  this process maps, with all planes, so depth 24 and depth 30 are both read exactly without a socket copy.
- Window lookup: titles (``_NET_WM_NAME`` or ``WM_NAME``), geometry in root coordinates.

X protocol errors (a window that closed, a rectangle off the screen) would make Xlib's default handler
exit the process; ``X11Screen`` installs a handler that records them so callers can raise a UserError.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

import numpy as np

from livehdr.base.errors import UserError

ZPixmap = 2
AllPlanes = ctypes.c_ulong(~0 & 0xFFFFFFFFFFFFFFFF)
IPC_PRIVATE, IPC_CREAT, IPC_RMID = 0, 0o1000, 0
IsViewable = 2


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


class XShmSegmentInfo(ctypes.Structure):
    _fields_ = [("shmseg", ctypes.c_ulong), ("shmid", ctypes.c_int), ("shmaddr", ctypes.c_void_p),
                ("readOnly", ctypes.c_int)]


class XErrorEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("display", ctypes.c_void_p), ("resourceid", ctypes.c_ulong),
                ("serial", ctypes.c_ulong), ("error_code", ctypes.c_ubyte), ("request_code", ctypes.c_ubyte),
                ("minor_code", ctypes.c_ubyte)]


class XWindowAttributes(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_int), ("width", ctypes.c_int), ("height", ctypes.c_int),
                ("border_width", ctypes.c_int), ("depth", ctypes.c_int), ("visual", ctypes.c_void_p),
                ("root", ctypes.c_ulong), ("class_", ctypes.c_int), ("bit_gravity", ctypes.c_int),
                ("win_gravity", ctypes.c_int), ("backing_store", ctypes.c_int),
                ("backing_planes", ctypes.c_ulong), ("backing_pixel", ctypes.c_ulong),
                ("save_under", ctypes.c_int), ("colormap", ctypes.c_ulong), ("map_installed", ctypes.c_int),
                ("map_state", ctypes.c_int), ("all_event_masks", ctypes.c_long),
                ("your_event_mask", ctypes.c_long), ("do_not_propagate_mask", ctypes.c_long),
                ("override_redirect", ctypes.c_int), ("screen", ctypes.c_void_p)]


def _fn(lib, name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype, f.argtypes = restype, list(argtypes)


_P, _UL, _I, _UI = ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_uint
_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(XErrorEvent))
_xlib = None
_errors = threading.local()


def load_xlib():
    """libX11 with the prototypes we call, or None when it is not installed."""
    global _xlib
    if _xlib is not None:
        return _xlib
    try:
        x = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
    except OSError:
        return None
    _fn(x, "XOpenDisplay", _P, ctypes.c_char_p)
    _fn(x, "XCloseDisplay", _I, _P)
    _fn(x, "XDefaultScreen", _I, _P)
    _fn(x, "XRootWindow", _UL, _P, _I)
    _fn(x, "XDefaultDepth", _I, _P, _I)
    _fn(x, "XDisplayWidth", _I, _P, _I)
    _fn(x, "XDisplayHeight", _I, _P, _I)
    _fn(x, "XDefaultVisual", _P, _P, _I)
    _fn(x, "XGetImage", ctypes.POINTER(XImage), _P, _UL, _I, _I, _UI, _UI, _UL, _I)
    _fn(x, "XDestroyImage", _I, ctypes.POINTER(XImage))
    _fn(x, "XCreateImage", ctypes.POINTER(XImage), _P, _P, _UI, _I, _I, _P, _UI, _UI, _I, _I)
    _fn(x, "XPutImage", _I, _P, _UL, _P, ctypes.POINTER(XImage), _I, _I, _I, _I, _UI, _UI)
    _fn(x, "XCreateGC", _P, _P, _UL, _UL, _P)
    _fn(x, "XFreeGC", _I, _P, _P)
    _fn(x, "XSync", _I, _P, _I)
    _fn(x, "XFree", _I, _P)
    _fn(x, "XSetErrorHandler", _P, _ERROR_HANDLER)
    _fn(x, "XQueryTree", _I, _P, _UL, ctypes.POINTER(_UL), ctypes.POINTER(_UL), ctypes.POINTER(ctypes.POINTER(_UL)),
        ctypes.POINTER(_UI))
    _fn(x, "XFetchName", _I, _P, _UL, ctypes.POINTER(ctypes.c_char_p))
    _fn(x, "XInternAtom", _UL, _P, ctypes.c_char_p, _I)
    _fn(x, "XGetWindowProperty", _I, _P, _UL, _UL, ctypes.c_long, ctypes.c_long, _I, _UL, ctypes.POINTER(_UL),
        ctypes.POINTER(_I), ctypes.POINTER(_UL), ctypes.POINTER(_UL), ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte)))
    _fn(x, "XGetWindowAttributes", _I, _P, _UL, ctypes.POINTER(XWindowAttributes))
    _fn(x, "XTranslateCoordinates", _I, _P, _UL, _UL, _I, _I, ctypes.POINTER(_I), ctypes.POINTER(_I),
        ctypes.POINTER(_UL))
    _xlib = x
    return x


@_ERROR_HANDLER
def _record_error(display, event):
    # Called by Xlib on the thread whose request failed; that thread checks and clears it.
    _errors.code = int(event.contents.error_code)
    return 0


_handler_installed = False


def _install_error_handler(xlib) -> None:
    global _handler_installed
    if not _handler_installed:
        xlib.XSetErrorHandler(_record_error)
        _handler_installed = True


def take_x_error() -> int:
    """The X error code recorded on this thread since the last call (0: none)."""
    code = getattr(_errors, "code", 0)
    _errors.code = 0
    return code


class X11Screen:
    """One connection to an X server's default screen: its depth, size, exact reads and window lookups.

    Use one connection per thread (Xlib is not initialised for threads here)."""

    def __init__(self, display: str | None = None):
        self.xlib = load_xlib()
        if self.xlib is None:
            raise UserError("screen capture on X11 needs libX11 (not found)")
        _install_error_handler(self.xlib)
        name = display if display is not None else os.environ.get("DISPLAY")
        if not name:
            raise UserError("screen capture needs a display: DISPLAY is not set")
        self.name = name
        self.dpy = self.xlib.XOpenDisplay(name.encode())
        if not self.dpy:
            raise UserError(f"cannot open X display {name!r} for screen capture")
        self.screen = self.xlib.XDefaultScreen(self.dpy)
        self.root = self.xlib.XRootWindow(self.dpy, self.screen)
        self.depth = self.xlib.XDefaultDepth(self.dpy, self.screen)
        self.width = self.xlib.XDisplayWidth(self.dpy, self.screen)
        self.height = self.xlib.XDisplayHeight(self.dpy, self.screen)
        self.visual = self.xlib.XDefaultVisual(self.dpy, self.screen)

    def get_words(self, x: int, y: int, w: int, h: int) -> tuple[np.ndarray, tuple[int, int, int]]:
        """Root-window pixels over all planes as H x W uint32 words, with the red/green/blue masks."""
        img = self.xlib.XGetImage(self.dpy, self.root, x, y, w, h, AllPlanes, ZPixmap)
        if not img:
            take_x_error()
            raise UserError(f"XGetImage failed for the region {w}x{h} at {x},{y}")
        try:
            im = img.contents
            _check_layout(im)
            words = np.ctypeslib.as_array(ctypes.cast(im.data, ctypes.POINTER(ctypes.c_uint32)),
                                          shape=(h, im.bytes_per_line // 4))[:, :w].copy()
            return words, (int(im.red_mask), int(im.green_mask), int(im.blue_mask))
        finally:
            self.xlib.XDestroyImage(img)

    # -- windows --
    def _atom(self, name: str) -> int:
        return self.xlib.XInternAtom(self.dpy, name.encode(), 0)

    def window_title(self, window: int) -> str | None:
        """_NET_WM_NAME (UTF-8, what modern toolkits set) or else WM_NAME."""
        x = self.xlib
        actual_type, fmt = _UL(), _I()
        count, after = _UL(), _UL()
        data = ctypes.POINTER(ctypes.c_ubyte)()
        status = x.XGetWindowProperty(self.dpy, window, self._atom("_NET_WM_NAME"), 0, 1024, 0,
                                      self._atom("UTF8_STRING"), ctypes.byref(actual_type), ctypes.byref(fmt),
                                      ctypes.byref(count), ctypes.byref(after), ctypes.byref(data))
        if take_x_error() == 0 and status == 0 and data and count.value:
            try:
                return ctypes.string_at(data, count.value).decode("utf-8", "replace")
            finally:
                x.XFree(data)
        if data:
            x.XFree(data)
        name = ctypes.c_char_p()
        if x.XFetchName(self.dpy, window, ctypes.byref(name)) and name.value is not None:
            title = name.value.decode("latin-1")
            x.XFree(ctypes.cast(name, ctypes.c_void_p))
            return title
        take_x_error()
        return None

    def children(self, window: int) -> list[int]:
        root, parent = _UL(), _UL()
        kids = ctypes.POINTER(_UL)()
        n = _UI()
        if not self.xlib.XQueryTree(self.dpy, window, ctypes.byref(root), ctypes.byref(parent), ctypes.byref(kids),
                                    ctypes.byref(n)):
            take_x_error()
            return []
        try:
            return [kids[i] for i in range(n.value)]
        finally:
            if kids:
                self.xlib.XFree(kids)

    def titled_windows(self) -> list[tuple[int, str]]:
        """(window, title) for every mapped window with a title, top-level first (stacking order)."""
        found, todo = [], [self.root]
        while todo:
            w = todo.pop(0)
            for child in self.children(w):
                title = self.window_title(child)
                if title and self.is_viewable(child):
                    found.append((child, title))
                todo.append(child)
        return found

    def is_viewable(self, window: int) -> bool:
        attrs = XWindowAttributes()
        ok = self.xlib.XGetWindowAttributes(self.dpy, window, ctypes.byref(attrs))
        return bool(ok) and take_x_error() == 0 and attrs.map_state == IsViewable

    def window_rect(self, window: int) -> tuple[int, int, int, int] | None:
        """(x, y, w, h) of a window's inside in root coordinates; None once it is gone or unmapped."""
        attrs = XWindowAttributes()
        if not self.xlib.XGetWindowAttributes(self.dpy, window, ctypes.byref(attrs)) or take_x_error():
            return None
        if attrs.map_state != IsViewable:
            return None
        rx, ry, child = _I(), _I(), _UL()
        self.xlib.XTranslateCoordinates(self.dpy, window, self.root, 0, 0, ctypes.byref(rx), ctypes.byref(ry),
                                        ctypes.byref(child))
        if take_x_error():
            return None
        return rx.value, ry.value, attrs.width, attrs.height

    def close(self):
        if self.dpy:
            self.xlib.XCloseDisplay(self.dpy)
            self.dpy = None


def _check_layout(im: XImage) -> None:
    if im.bits_per_pixel != 32:
        raise UserError(f"unsupported X pixel layout: {im.bits_per_pixel} bits per pixel")


# --------------------------------------------------------------------------------------------------------
# MIT-SHM
# --------------------------------------------------------------------------------------------------------
def _load_shm():
    try:
        ext = ctypes.cdll.LoadLibrary(ctypes.util.find_library("Xext") or "libXext.so.6")
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None, None
    _fn(ext, "XShmQueryExtension", _I, _P)
    _fn(ext, "XShmCreateImage", ctypes.POINTER(XImage), _P, _P, _UI, _I, _P, ctypes.POINTER(XShmSegmentInfo),
        _UI, _UI)
    _fn(ext, "XShmAttach", _I, _P, ctypes.POINTER(XShmSegmentInfo))
    _fn(ext, "XShmDetach", _I, _P, ctypes.POINTER(XShmSegmentInfo))
    _fn(ext, "XShmGetImage", _I, _P, _UL, ctypes.POINTER(XImage), _I, _I, _UL)
    _fn(libc, "shmget", _I, _I, ctypes.c_size_t, _I)
    _fn(libc, "shmat", _P, _I, _P, _I)
    _fn(libc, "shmdt", _I, _P)
    _fn(libc, "shmctl", _I, _I, _I, _P)
    return ext, libc


class ShmImage:
    """A w x h shared-memory image on ``x11``'s screen; ``grab(x, y)`` reads the root window there.

    Raises UserError when the server has no MIT-SHM (a remote display): callers fall back to XGetImage."""

    def __init__(self, x11: X11Screen, width: int, height: int):
        self.x11, self.width, self.height = x11, width, height
        self.ext, self.libc = _load_shm()
        if self.ext is None or not self.ext.XShmQueryExtension(x11.dpy):
            raise UserError("the X server has no MIT-SHM extension")
        self.info = XShmSegmentInfo()
        self.img = self.ext.XShmCreateImage(x11.dpy, x11.visual, x11.depth, ZPixmap, None, ctypes.byref(self.info),
                                            width, height)
        if not self.img:
            raise UserError("XShmCreateImage failed")
        im = self.img.contents
        _check_layout(im)
        size = im.bytes_per_line * height
        self.info.shmid = self.libc.shmget(IPC_PRIVATE, size, IPC_CREAT | 0o600)
        if self.info.shmid < 0:
            self._free_image()
            raise UserError(f"shmget failed ({os.strerror(ctypes.get_errno())})")
        addr = self.libc.shmat(self.info.shmid, None, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            self.libc.shmctl(self.info.shmid, IPC_RMID, None)
            self._free_image()
            raise UserError("shmat failed")
        self.info.shmaddr = im.data = addr
        self.info.readOnly = 0
        attached = self.ext.XShmAttach(x11.dpy, ctypes.byref(self.info))
        x11.xlib.XSync(x11.dpy, 0)
        # Mark the segment for removal now: it disappears with the last detach, even after a crash.
        self.libc.shmctl(self.info.shmid, IPC_RMID, None)
        if not attached or take_x_error():
            self.libc.shmdt(addr)
            self._free_image()
            raise UserError("the X server cannot attach shared memory (remote display?)")
        self.masks = (int(im.red_mask), int(im.green_mask), int(im.blue_mask))
        self._words = np.ctypeslib.as_array(ctypes.cast(addr, ctypes.POINTER(ctypes.c_uint32)),
                                            shape=(height, im.bytes_per_line // 4))[:, :width]

    def grab(self, x: int, y: int) -> np.ndarray:
        """The w x h root-window pixels at (x, y), all planes, as a fresh H x W uint32 array."""
        ok = self.ext.XShmGetImage(self.x11.dpy, self.x11.root, self.img, x, y, AllPlanes)
        if not ok or take_x_error():
            raise UserError(f"XShmGetImage failed for {self.width}x{self.height} at {x},{y}")
        return self._words.copy()  # the next grab overwrites the segment

    def _free_image(self):
        self.img.contents.data = None
        self.x11.xlib.XDestroyImage(self.img)
        self.img = None

    def close(self):
        if self.img is not None:
            self.ext.XShmDetach(self.x11.dpy, ctypes.byref(self.info))
            self.x11.xlib.XSync(self.x11.dpy, 0)
            self.libc.shmdt(self.info.shmaddr)
            self._free_image()
