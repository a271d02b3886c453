"""Games (#15): a moving pattern the test draws on a private Xvfb screen is recorded at 1080p (and 4K, and an
odd-sized region) with every frame in order and timestamps true to the capture clock; a window capture
follows its window; livehdr's own window never appears in what it captures."""
from __future__ import annotations

import ctypes
from fractions import Fraction
import threading
import time

import av
import numpy as np
import pytest

from livehdr.base.errors import UserError
from livehdr.color import ReferenceLevels
from livehdr.io import capture
from livehdr.io.hdr10 import HDR10Writer
from livehdr.io.xlib import X11Screen
from livehdr.operators import OperatorConfig, create_operator
from livehdr.pipeline import ConversionSettings, run_conversion

from xvfb import display_env, put_root_pixels, xvfb

BITS = 8  # counter bits drawn as white / black squares
SQUARE = 48


# --------------------------------------------------------------------------------------------------------
# A moving pattern: a binary frame counter in squares along the top, and a bar that moves with it
# --------------------------------------------------------------------------------------------------------
def counter_pattern(n: int) -> np.ndarray:
    row = np.zeros((SQUARE, SQUARE * BITS, 3), np.int64)
    for b in range(BITS):
        if n >> b & 1:
            row[:, b * SQUARE:(b + 1) * SQUARE] = 255
    return row


def bar_x(n: int) -> int:
    """Left edge of the bar for counter n: within x 40..1100, inside every captured area below."""
    return 40 + (n * 37) % 1000


class PatternPainter:
    """Draws counter n and the bar at bar_x(n) about every ``period`` s; remembers when each was on screen."""

    def __init__(self, display, width, height, period=0.06):
        self.display, self.width, self.height, self.period = display, width, height, period
        self.shown: list[tuple[int, float, float]] = []  # (n, before drawing, after XSync)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def draw(self, n):
        t0 = time.perf_counter()
        band = np.zeros((40, 1200, 3), np.int64)
        band[:, bar_x(n):bar_x(n) + 60] = 255
        put_root_pixels(self.display, 0, self.height // 2, band, bits=8)
        put_root_pixels(self.display, 0, 0, counter_pattern(n), bits=8)  # the counter last: it dates the frame
        self.shown.append((n, t0, time.perf_counter()))

    def run(self):
        n = 0
        while not self.stop.is_set():
            self.draw(n)
            n += 1
            self.stop.wait(self.period)

    def __enter__(self):
        self.draw(0)
        self.shown.clear()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def decode_frames(path):
    """(pts seconds, luma plane as 10-bit integers) for every frame of the recording, in order."""
    out = []
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        duration = float(c.duration / 1e6) if c.duration else None
        for f in c.decode(stream):
            y = np.frombuffer(f.planes[0], np.uint16).reshape(f.height, f.planes[0].line_size // 2)[:, :f.width]
            out.append((float(f.pts * f.time_base), y.copy()))
    return out, duration


def read_counter(y: np.ndarray) -> int:
    """Paper white (naive: SDR white at 203 cd/m2, PQ ~ 0.58) against black: threshold half way."""
    n = 0
    for b in range(BITS):
        sq = y[SQUARE // 4:3 * SQUARE // 4, b * SQUARE + SQUARE // 4:(b + 1) * SQUARE - SQUARE // 4]
        if np.median(sq) > 300:
            n |= 1 << b
    return n


@pytest.mark.parametrize("screen,spec,frames", [
    ((1920, 1080), "screen", 14),
    ((3840, 2160), "screen", 9),  # enough frames to span 3 counters even when the first grabs come fast
    ((1920, 1080), "screen:0,0,1281,721", 10),  # odd size: cropped to 1280x720 for HEVC 4:2:0
])
def test_recording_a_moving_pattern_keeps_order_and_capture_timing(tmp_path, screen, spec, frames):
    w, h = screen
    out = tmp_path / "game.mkv"
    with xvfb(w, h, 24) as display, display_env(display), PatternPainter(display, w, h) as painter:
        source = capture.open_screen_source(spec)
        op = create_operator("naive", OperatorConfig())
        settings = ConversionSettings(output=str(out), levels=ReferenceLevels(), preset="ultrafast",
                                      encoder="libx265", max_frames=frames)
        try:
            result = run_conversion(settings, source, op)
        finally:
            source.close()
        shown = list(painter.shown)
        clock_start = source.clock_start
    assert result.summary["frames"] == frames

    decoded, duration = decode_frames(out)
    assert len(decoded) == frames
    pts = [p for p, _ in decoded]
    assert pts[0] == 0.0 and all(b > a for a, b in zip(pts, pts[1:]))  # capture clock from the first grab
    # File duration = last capture time + one display period (the last frame's nominal length).
    assert duration == pytest.approx(pts[-1] + 1 / capture.CAPTURE_FPS, abs=0.002)

    counters = [read_counter(y) for _, y in decoded]
    assert counters == sorted(counters) and len(set(counters)) >= 3, counters  # in order, and it moved
    for (p, y), n in zip(decoded, counters):
        t = clock_start + p  # when this grab started, on the test's clock (time.perf_counter)
        # The counter on the frame must be the one on screen at that moment: drawn (synced) before the
        # grab began at the latest, or being drawn while the grab ran (generous: a loaded machine).
        lowest = max([m for m, _, after in shown if after <= t], default=0)
        highest = max([m for m, before, _ in shown if before <= t + 0.25], default=0)
        assert lowest <= n <= highest, (p, n, lowest, highest)
        # The bar moved with the counter: bright at bar_x(n) (or at n + 1's place: the painter draws the bar
        # just before the counter), dark 500 px away.
        row = y[h // 2 + 20, :]
        centre = bar_x(n) + 30
        assert max(row[centre], row[bar_x(n + 1) + 30]) > 300, (p, n)
        assert row[40 + (centre - 40 + 500) % 1000] < 200, (p, n)


def test_writer_keeps_true_dts_across_long_capture_gaps(tmp_path):
    """The root cause of 'writing game.mkv failed: Invalid argument': a stall of more than 64 frame periods
    between captured frames made a true (reordered) dts look impossible; it was replaced by pts and the next
    packet's dts went backwards. Capture-clock timestamps with long gaps must encode and keep their pts."""
    out = tmp_path / "gaps.mkv"
    times = [i / 60 for i in range(12)] + [3.0 + i / 60 for i in range(12)] + [9.5 + i / 30 for i in range(12)]
    writer = HDR10Writer(str(out), 64, 48, ReferenceLevels(), fps=60.0, time_base=Fraction(1, 1000),
                         preset="fast", encoder="libx265")  # 'fast' uses B-frames: packets are reordered
    rng = np.random.default_rng(1)
    for t in times:
        writer.write(rng.random((48, 64, 3), dtype=np.float32), t, 1 / 60)
    assert writer.finish()["frames"] == len(times)
    decoded, _ = decode_frames(out)
    assert [round(p, 3) for p, _ in decoded] == [round(t, 3) for t in times]


# --------------------------------------------------------------------------------------------------------
# window:TITLE
# --------------------------------------------------------------------------------------------------------
class XWindow:
    """A plain X window with a coloured background and a child in its top-left quarter (no window manager
    under Xvfb: XMoveWindow moves it directly)."""

    def __init__(self, display, title, x, y, w, h, colour, corner):
        self.scr = X11Screen(display)
        xl = self.xl = self.scr.xlib
        ul, i, ui, p = ctypes.c_ulong, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p
        xl.XCreateSimpleWindow.restype = ul
        xl.XCreateSimpleWindow.argtypes = [p, ul, i, i, ui, ui, ui, ul, ul]
        xl.XStoreName.argtypes = [p, ul, ctypes.c_char_p]
        xl.XMapWindow.argtypes = [p, ul]
        xl.XMoveWindow.argtypes = [p, ul, i, i]
        xl.XDestroyWindow.argtypes = [p, ul]
        d = self.scr.dpy
        self.win = xl.XCreateSimpleWindow(d, self.scr.root, x, y, w, h, 0, 0, colour)
        xl.XStoreName(d, self.win, title.encode())
        child = xl.XCreateSimpleWindow(d, self.win, 0, 0, w // 2, h // 2, 0, 0, corner)
        xl.XMapWindow(d, child)
        xl.XMapWindow(d, self.win)
        xl.XSync(d, 0)

    def move(self, x, y):
        self.xl.XMoveWindow(self.scr.dpy, self.win, x, y)
        self.xl.XSync(self.scr.dpy, 0)

    def close(self):
        self.xl.XDestroyWindow(self.scr.dpy, self.win)
        self.xl.XSync(self.scr.dpy, 0)
        self.scr.close()


def _next_frame(frames, after_index=-1, timeout=10.0):
    deadline = time.monotonic() + timeout
    for f in frames:
        if f.index > after_index:
            return f
        assert time.monotonic() < deadline
    raise AssertionError("the capture ended")


def test_window_capture_finds_and_follows_its_window():
    red, green = (200, 30, 40), (20, 220, 60)
    with xvfb(640, 480, 24) as display, display_env(display):
        win = XWindow(display, "Test Game 3000", 50, 60, 160, 120, 0xC81E28, 0x14DC3C)
        try:
            src = capture.open_screen_source("window:Game 3000")  # a unique part of the title is enough
            try:
                assert (src.width, src.height) == (160, 120)
                frames = src.frames()
                first = _next_frame(frames)
                win.move(400, 300)
                time.sleep(0.1)
                later = _next_frame(frames, first.index)
                later = _next_frame(frames, later.index)  # a grab that surely started after the move
                assert src.last_rect == (400, 300, 160, 120)  # it followed the window
            finally:
                src.close()
        finally:
            win.close()
    for f in (first, later):
        rgb = f.rgb
        assert rgb.shape == (120, 160, 3)
        assert (rgb[:60, :80] == green).all() and (rgb[60:, :] == red).all() and (rgb[:, 80:] == red).all()


def test_window_capture_errors_are_one_line():
    with xvfb(320, 240, 24) as display, display_env(display):
        with pytest.raises(UserError, match="no window titled 'Nothing Here'"):
            capture.open_screen_source("window:Nothing Here")
        a = XWindow(display, "Game A", 0, 0, 64, 48, 0xFF0000, 0)
        b = XWindow(display, "Game B", 100, 100, 64, 48, 0xFF, 0)
        own = XWindow(display, "livehdr - window:Game", 0, 100, 64, 48, 0xFF, 0)
        try:
            with pytest.raises(UserError, match="2 windows match 'Game'"):  # livehdr's own is not counted
                capture.open_screen_source("window:Game")
            with pytest.raises(UserError, match="livehdr's own window"):
                capture.open_screen_source("window:livehdr - window")
            src = capture.open_screen_source("window:Game A")  # exact title wins
            try:
                frames = src.frames()
                f = _next_frame(frames)
                assert (f.rgb[24:] == (255, 0, 0)).all() and (f.rgb[:24, :32] == 0).all()
                a.close()
                with pytest.raises(UserError, match="closed or was minimised"):
                    _next_frame(frames, f.index)
            finally:
                src.close()
        finally:
            b.close()
            own.close()
    with pytest.raises(UserError):
        capture.parse_screen_spec("window:")


def test_wayland_without_xwayland_says_what_is_possible(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    with pytest.raises(UserError, match="Wayland needs XWayland"):
        capture.open_screen_source("screen")


# --------------------------------------------------------------------------------------------------------
# livehdr's own window is never captured
# --------------------------------------------------------------------------------------------------------
def test_own_window_is_blacked_out_of_the_capture():
    from livehdr.pipeline.live import LivePipeline
    from livehdr.window import app
    from livehdr.window import renderer as gl_renderer
    from livehdr.window.presenters import WindowPresenter

    rng = np.random.default_rng(5)
    pattern = rng.integers(1, 256, size=(480, 640, 3), dtype=np.int64)  # no black pixel anywhere
    with xvfb(640, 480, 24) as display, display_env(display):
        put_root_pixels(display, 0, 0, pattern, bits=8)
        source = capture.open_screen_source("screen")
        op = create_operator("naive", OperatorConfig())
        presenter = WindowPresenter(200, 150, "livehdr - screen")
        pipeline = LivePipeline(source, op, on_gpu=gl_renderer.shader_can_expand)
        try:
            state = app.initial_state(app.WindowSettings(levels=ReferenceLevels()), presenter.bits.get("red", 8))
            live = app.LiveWindow(presenter, pipeline, source, op, state, None, "screen")
            live.exclude_own_window()
            x, y, w, h = presenter.screen_rect()
            pipeline.start()
            live.run(max_frames=4, exit_at_end=False)  # the window now shows the capture on the screen
            frame = live.frame
            assert frame.hdr is None  # naive went through the shader: no CPU expansion
            report_share = live.dropped_share()
        finally:
            pipeline.stop()
            source.close()
            presenter.close()
    assert w > 0 and h > 0
    rgb = frame.sdr.to_rgb()
    inside = np.zeros(rgb.shape[:2], bool)
    inside[y:y + h, x:x + w] = True
    assert (rgb[inside] == 0).all()  # the window's pixels (showing the capture) never came back
    np.testing.assert_array_equal(rgb[~inside], pattern[~inside])  # everything else exactly
    assert report_share is not None and 0.0 <= report_share < 1.0
