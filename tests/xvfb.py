"""A private Xvfb server for the window and capture tests (imported by test_present.py / test_capture.py).

Each server gets a free display number (from :97 upwards), is started with the requested depth
(30 gives a 10-bit default framebuffer, 24 is what mss can read) and is killed when the block ends.
Tests skip cleanly only when the Xvfb binary itself is missing.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time

import numpy as np
import pytest


def _display_free(n: int) -> bool:
    return not os.path.exists(f"/tmp/.X{n}-lock") and not os.path.exists(f"/tmp/.X11-unix/X{n}")


def _wait_for_socket(n: int, proc: subprocess.Popen, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if os.path.exists(f"/tmp/.X11-unix/X{n}"):
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def xvfb(width: int = 1920, height: int = 1080, depth: int = 30, first: int = 97):
    """Start Xvfb on a free display; yield the DISPLAY string (':N')."""
    binary = shutil.which("Xvfb")
    if binary is None:
        pytest.skip("Xvfb is not installed")
    for n in range(first, first + 60):
        if not _display_free(n):
            continue
        # -noreset: keep the root window's pixels when the last client disconnects (the capture tests
        # draw a pattern with one connection and read it with another).
        proc = subprocess.Popen(
            [binary, f":{n}", "-screen", "0", f"{width}x{height}x{depth}", "-nolisten", "tcp", "-br", "-noreset"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if _wait_for_socket(n, proc):
            try:
                yield f":{n}"
            finally:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            return
        # Lost a race for this number (another test run took it): try the next one.
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    raise RuntimeError("no free X display number for Xvfb")


@contextlib.contextmanager
def display_env(display: str):
    """Point DISPLAY at ``display`` for the block (and drop WAYLAND_DISPLAY so glfw uses X11)."""
    old = {k: os.environ.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY")}
    os.environ["DISPLAY"] = display
    os.environ.pop("WAYLAND_DISPLAY", None)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def put_root_pixels(display: str, x: int, y: int, rgb: np.ndarray, bits: int) -> None:
    """Draw ``rgb`` (H x W x 3 integers, ``bits`` per channel) onto the root window of ``display``.

    A known pattern on the X screen, written with XPutImage through the same ctypes bindings capture.py
    uses; each channel goes to the visual's mask (depth 24: 8 bits, depth 30: 10 bits).
    """
    import ctypes

    from livehdr.io.capture import X11Screen, _mask_shift_bits

    scr = X11Screen(display)
    xl = scr.xlib
    try:
        h, w, _ = rgb.shape
        visual = xl.XDefaultVisual(scr.dpy, scr.screen)
        buf = ctypes.create_string_buffer(w * h * 4)
        img = xl.XCreateImage(scr.dpy, visual, scr.depth, 2, 0, ctypes.cast(buf, ctypes.c_void_p), w, h, 32, 0)
        im = img.contents
        words = np.zeros((h, im.bytes_per_line // 4), dtype=np.uint32)
        for c, mask in enumerate((im.red_mask, im.green_mask, im.blue_mask)):
            shift, nbits = _mask_shift_bits(int(mask))
            assert nbits == bits, f"visual has {nbits} bits per channel, pattern has {bits}"
            words[:, :w] |= rgb[..., c].astype(np.uint32) << np.uint32(shift)
        ctypes.memmove(buf, words.tobytes(), min(len(buf), words.nbytes))
        gc = xl.XCreateGC(scr.dpy, scr.root, 0, None)
        xl.XPutImage(scr.dpy, scr.root, gc, img, 0, 0, x, y, w, h)
        xl.XSync(scr.dpy, 0)
        xl.XFreeGC(scr.dpy, gc)
        im.data = None  # the buffer belongs to Python: XDestroyImage must free only the struct
        xl.XDestroyImage(img)
    finally:
        scr.close()
