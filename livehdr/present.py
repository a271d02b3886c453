"""The live window: a 10-bit glfw window (or an EGL offscreen surface) and the present loop.

The loop owns the GL context on the main thread; decoding/capture and the operator run in the
LivePipeline's threads, which keep one frame in flight and drop stale ones. Each presented frame's
capture->present latency is measured against the source's ``captured_at`` (time.perf_counter()).

Keys are listed in cli.KEYS_HELP; they map to actions in ``Controls`` (pure state, tested directly).
"""
from __future__ import annotations

from collections import deque
import dataclasses
import os
import statistics
import sys
import time

import numpy as np

from livehdr import gl_renderer
from livehdr.errors import UserError
from livehdr.gl_renderer import LAYOUTS, VIEWS, ViewState
from livehdr.hud import Overlay, text_width

PEAK_STEPS = (400.0, 600.0, 800.0, 1000.0, 1500.0, 2000.0, 4000.0, 10000.0)
PAPER_WHITE_STEPS = (80.0, 100.0, 120.0, 160.0, 203.0, 250.0, 300.0, 400.0)
SEEK_SECONDS = 5.0
HUD_PERIOD = 0.25  # seconds between HUD refreshes when nothing else changes

CICP_PQ_BT2020 = (9, 16, 0, 1)  # ITU-T H.273: BT.2020 primaries, PQ, RGB, full range
CICP_SRGB = (1, 13, 0, 1)  # BT.709 primaries, sRGB transfer


def warn(message: str) -> None:
    print(f"livehdr: warning: {message}", file=sys.stderr)


def step_value(value: float, steps, direction: int) -> float:
    """The next value in ``steps`` above (direction +1) or below (-1) ``value``; stays at the ends."""
    if direction > 0:
        bigger = [s for s in steps if s > value + 1e-9]
        return bigger[0] if bigger else value
    smaller = [s for s in steps if s < value - 1e-9]
    return smaller[-1] if smaller else value


# --------------------------------------------------------------------------------------------------------
# Controls: key -> action -> state (no GL, no glfw: testable)
# --------------------------------------------------------------------------------------------------------
CHAR_ACTIONS = {
    " ": "pause", "+": "peak_up", "=": "peak_up", "-": "peak_down", "_": "peak_down",
    "[": "paper_white_down", "]": "paper_white_up", "m": "model", "c": "view", "v": "mode",
    "l": "layout", "x": "swap", "a": "ab", "f": "fullscreen", "s": "screenshot", "q": "quit", "h": "hud",
}


@dataclasses.dataclass
class Controls:
    state: ViewState
    paused: bool = False
    quit: bool = False
    show_hud: bool = True
    operator_dirty: bool = False  # peak / paper white changed: the operator must be rebuilt
    next_model: bool = False
    toggle_fullscreen: bool = False
    screenshot: bool = False
    seek: float = 0.0  # seconds to seek by (files)
    message: str = ""

    def handle(self, action: str) -> None:
        s = self.state
        if action == "pause":
            self.paused = not self.paused
        elif action == "quit":
            self.quit = True
        elif action in ("peak_up", "peak_down"):
            peak = step_value(s.peak, PEAK_STEPS, 1 if action == "peak_up" else -1)
            if peak >= s.paper_white and peak != s.peak:
                s.peak = peak
                self.operator_dirty = True
        elif action in ("paper_white_up", "paper_white_down"):
            pw = step_value(s.paper_white, PAPER_WHITE_STEPS, 1 if action == "paper_white_up" else -1)
            if pw <= s.peak and pw != s.paper_white:
                s.paper_white = pw
                self.operator_dirty = True
        elif action == "view":
            s.view = VIEWS[(VIEWS.index(s.view) + 1) % len(VIEWS)]
        elif action == "mode":
            s.mode = "sdr" if s.mode == "pq" else "pq"
        elif action == "layout":
            s.layout = LAYOUTS[(LAYOUTS.index(s.layout) + 1) % len(LAYOUTS)]
        elif action == "swap":
            s.swap = not s.swap
        elif action == "ab":  # flip the whole picture between A (SDR input) and B (expansion)
            s.view = "hdr" if s.view == "sdr" else "sdr"
        elif action == "seek_back":
            self.seek -= SEEK_SECONDS
        elif action == "seek_forward":
            self.seek += SEEK_SECONDS
        elif action == "model":
            self.next_model = True
        elif action == "fullscreen":
            self.toggle_fullscreen = True
        elif action == "screenshot":
            self.screenshot = True
        elif action == "hud":
            self.show_hud = not self.show_hud


# --------------------------------------------------------------------------------------------------------
# Presenters: where the pixels go
# --------------------------------------------------------------------------------------------------------
def display_available() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class OffscreenPresenter:
    """EGL (no display needed): an RGB10_A2 framebuffer of the picture's natural size."""

    is_window = False

    def __init__(self, width: int, height: int):
        import moderngl

        try:
            self.ctx = moderngl.create_standalone_context(backend="egl")
        except Exception as e:
            raise UserError(f"cannot create an offscreen OpenGL (EGL) context: {_one_line(e)}") from None
        gl_renderer.check_gl_version(self.ctx)
        self.bits = {"red": 10, "green": 10, "blue": 10}
        self.fbo = None
        self.resize(width, height)
        self.actions: list[str] = []

    def resize(self, width: int, height: int):
        if self.fbo is not None and self.fbo.size == (width, height):
            return
        if self.fbo is not None:
            self.fbo.release()
        self.fbo = gl_renderer.create_offscreen_target(self.ctx, width, height)

    def size(self):
        return self.fbo.size

    def poll(self) -> list[str]:
        return []

    def wait(self, seconds: float):
        time.sleep(seconds)

    def present(self):
        self.ctx.finish()

    def should_close(self) -> bool:
        return False

    def set_content_aspect(self, w: int, h: int):
        self.resize(w, h)

    def toggle_fullscreen(self):
        pass

    def close(self):
        gl_renderer.release_standalone(self.ctx)


class WindowPresenter:
    """A glfw window asking for a 10/10/10/2 framebuffer, vsync on, resizable; events become actions."""

    is_window = True

    def __init__(self, width: int, height: int, title: str, fullscreen: bool = False):
        import glfw
        import moderngl

        self.glfw = glfw
        self._errors: list[str] = []
        glfw.set_error_callback(lambda code, msg: self._errors.append(
            msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)))
        if not glfw.init():
            raise UserError(f"cannot open a window ({self._last_error()}); use --output FILE.mkv to write an "
                            "HDR10 file instead, or --offscreen")
        glfw.window_hint(glfw.RED_BITS, 10)
        glfw.window_hint(glfw.GREEN_BITS, 10)
        glfw.window_hint(glfw.BLUE_BITS, 10)
        glfw.window_hint(glfw.ALPHA_BITS, 2)
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        monitor = glfw.get_primary_monitor()
        mode = glfw.get_video_mode(monitor) if monitor else None
        if mode is not None:  # start no larger than 90 % of the screen, keeping the aspect ratio
            scale = min(1.0, 0.9 * mode.size.width / width, 0.9 * mode.size.height / height)
            width, height = max(64, int(width * scale)), max(48, int(height * scale))
        gl_renderer.release_egl_current()  # an earlier offscreen context would make GLX fail (BadAccess)
        self.window = glfw.create_window(width, height, title, None, None)
        if not self.window:
            err = self._last_error()
            glfw.terminate()
            raise UserError(f"cannot create an OpenGL 3.3 window ({err}); the window needs OpenGL 3.3 or newer; "
                            "use --output FILE.mkv instead")
        glfw.make_context_current(self.window)
        glfw.swap_interval(1)  # vsync
        try:
            self.ctx = moderngl.create_context()
        except Exception as e:
            glfw.terminate()
            raise UserError(f"cannot use the window's OpenGL context: {_one_line(e)}") from None
        gl_renderer.check_gl_version(self.ctx)
        self.fbo = self.ctx.screen
        self.bits = dict(self.ctx.screen.bits)
        self.actions: list[str] = []
        self.dragging = False
        self.divider_at: float | None = None  # framebuffer x where the mouse put the divider
        self._windowed_geometry = None
        glfw.set_char_callback(self.window, self._on_char)
        glfw.set_key_callback(self.window, self._on_key)
        glfw.set_mouse_button_callback(self.window, self._on_mouse_button)
        glfw.set_cursor_pos_callback(self.window, self._on_cursor)
        glfw.set_framebuffer_size_callback(self.window, lambda *a: self.actions.append("resized"))
        if fullscreen:
            self.toggle_fullscreen()

    def _last_error(self) -> str:
        return self._errors[-1] if self._errors else "no display or no usable OpenGL driver"

    # -- events --
    def _on_char(self, window, codepoint):
        action = CHAR_ACTIONS.get(chr(codepoint).lower() if chr(codepoint).isalpha() else chr(codepoint))
        if action:
            self.actions.append(action)

    def _on_key(self, window, key, scancode, action, mods):
        g = self.glfw
        if action not in (g.PRESS, g.REPEAT):
            return
        if key == g.KEY_ESCAPE:
            self.actions.append("quit")
        elif key == g.KEY_LEFT:
            self.actions.append("seek_back")
        elif key == g.KEY_RIGHT:
            self.actions.append("seek_forward")

    def _cursor_to_fb(self, x):
        ww, _ = self.glfw.get_window_size(self.window)
        fw, _ = self.glfw.get_framebuffer_size(self.window)
        return x * fw / max(ww, 1)  # HiDPI: cursor in screen units, picture in pixels

    def _on_mouse_button(self, window, button, action, mods):
        g = self.glfw
        if button != g.MOUSE_BUTTON_LEFT:
            return
        self.dragging = action == g.PRESS
        if self.dragging:
            x, _ = g.get_cursor_pos(self.window)
            self.divider_at = self._cursor_to_fb(x)
            self.actions.append("divider")

    def _on_cursor(self, window, x, y):
        if self.dragging:
            self.divider_at = self._cursor_to_fb(x)
            self.actions.append("divider")

    def poll(self) -> list[str]:
        self.glfw.poll_events()
        actions, self.actions = self.actions, []
        return actions

    def wait(self, seconds: float):
        self.glfw.wait_events_timeout(seconds)

    # -- window --
    def size(self):
        return self.glfw.get_framebuffer_size(self.window)

    def present(self):
        self.glfw.swap_buffers(self.window)

    def should_close(self) -> bool:
        return bool(self.glfw.window_should_close(self.window))

    def set_content_aspect(self, w: int, h: int):
        if self._windowed_geometry is None:  # resizing keeps the picture's aspect ratio
            self.glfw.set_window_aspect_ratio(self.window, int(w), int(h))

    def toggle_fullscreen(self):
        g = self.glfw
        if self._windowed_geometry is None:
            monitor = g.get_primary_monitor()
            mode = g.get_video_mode(monitor) if monitor else None
            if mode is None:
                return
            self._windowed_geometry = (*g.get_window_pos(self.window), *g.get_window_size(self.window))
            g.set_window_aspect_ratio(self.window, g.DONT_CARE, g.DONT_CARE)
            g.set_window_monitor(self.window, monitor, 0, 0, mode.size.width, mode.size.height,
                                 mode.refresh_rate)
        else:
            x, y, w, h = self._windowed_geometry
            self._windowed_geometry = None
            g.set_window_monitor(self.window, None, x, y, w, h, 0)

    def exclude_from_capture(self) -> bool:
        """Keep this window out of screen captures where the OS allows it (Windows 10 2004+)."""
        if sys.platform != "win32":
            return False
        import ctypes

        hwnd = self.glfw.get_win32_window(self.window)
        WDA_EXCLUDEFROMCAPTURE = 0x11
        return bool(ctypes.windll.user32.SetWindowDisplayAffinity(hwnd, WDA_EXCLUDEFROMCAPTURE))

    def close(self):
        self.ctx.release()
        self.glfw.destroy_window(self.window)
        self.glfw.terminate()


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


# --------------------------------------------------------------------------------------------------------
# HUD
# --------------------------------------------------------------------------------------------------------
def build_overlay(win_w: int, win_h: int, rect, state: ViewState, controls: Controls, hud_lines: list[str],
                  compare_labels: tuple[str, str]) -> np.ndarray:
    """Window-sized RGBA: the HUD panel, comparison labels, legend labels (row 0 = top)."""
    ov = Overlay(win_w, win_h)
    scale = 2 if win_w >= 800 else 1
    x, y, w, h = rect
    top = win_h - (y + h)  # picture top, measured from the window top
    if controls.show_hud:
        ov.panel(x + 8, top + 8, hud_lines, scale=scale)
    label_y = top + h - 8 - 14 * scale
    if state.view == "split":
        left, right = compare_labels if not state.swap else compare_labels[::-1]
        ov.panel(x + 8, label_y, [left], scale=scale)
        ov.panel(x + w - 8 - text_width(right, scale) - 12, label_y, [right], scale=scale)
    elif state.view in ("hdr", "sdr"):
        ov.panel(x + 8, label_y, [compare_labels[0] if state.view == "sdr" else compare_labels[1]], scale=scale)
    elif state.view == "heatmap":
        legend = gl_renderer.legend_rect(rect, win_h)
        for text, lx, ly in gl_renderer.legend_labels(legend, win_h):
            ov.text(lx, ly, text, scale=1)
        ov.panel(x + 8, label_y, ["HEATMAP: CD/M2, MAGENTA STRIPES = ABOVE PEAK"], scale=scale)
    elif state.view == "diff":
        ov.panel(x + 8, label_y, ["DIFF: RED = BRIGHTER, BLUE = DARKER THAN SDR (FULL AT 4 STOPS)"], scale=scale)
    return ov.rgba


def _median(values) -> float | None:
    return statistics.median(values) if values else None


def _fmt_ms(v) -> str:
    return "-" if v is None else f"{v:.1f}"


# --------------------------------------------------------------------------------------------------------
# The live loop
# --------------------------------------------------------------------------------------------------------
class LiveWindow:
    """Pipeline frames -> renderer -> presenter, with the controls and the HUD."""

    def __init__(self, presenter, pipeline, source, operator, state: ViewState, args):
        self.presenter = presenter
        self.pipeline = pipeline
        self.source = source
        self.operator = operator
        self.state = state
        self.args = args
        self.controls = Controls(state)
        self.renderer = gl_renderer.Renderer(presenter.ctx)
        self.frame = None
        self.presented = 0
        self.latencies = deque(maxlen=1000)
        self.present_times = deque(maxlen=120)
        self.timing = {name: deque(maxlen=120) for name in ("upload", "hud", "draw", "wait")}
        self.all_latencies: list[float] = []
        self._overlay_key = None
        self._hud_due = 0.0
        self._message_until = 0.0

    # -- operator changes --
    def _config(self):
        from livehdr.color import ReferenceLevels

        return dataclasses.replace(self.operator.config,
                                   levels=ReferenceLevels(self.state.paper_white, self.state.peak))

    def _swap_operator(self, name: str) -> bool:
        from livehdr.operators import create_operator

        try:
            op = create_operator(name, self._config())
        except (UserError, ValueError) as e:
            self._say(f"model {name} unavailable: {_one_line(e)}")
            return False
        self.operator = op
        self.args.model = name
        self.pipeline.set_operator(op)
        return True

    def _next_model(self):
        from livehdr.operators import list_operators

        names = [e.name for e in list_operators()]
        current = names.index(self.operator.name) if self.operator.name in names else -1
        for i in range(1, len(names)):
            if self._swap_operator(names[(current + i) % len(names)]):
                self._say(f"model {self.operator.name}")
                return

    def _say(self, message: str, seconds: float = 3.0):
        self.controls.message = message
        self._message_until = time.perf_counter() + seconds

    # -- actions --
    def apply(self, actions):
        c = self.controls
        for a in actions:
            if a == "divider":
                x, _, w, _ = self.renderer.picture_rect(*self.presenter.size(), self.state) \
                    if self.frame is not None else (0, 0, 1, 1)
                self.state.divider = float(np.clip((self.presenter.divider_at - x) / max(w, 1), 0.0, 1.0))
            elif a != "resized":
                c.handle(a)
        if c.operator_dirty:
            c.operator_dirty = False
            if self._swap_operator(self.operator.name):
                self._say(f"peak {self.state.peak:g}, paper white {self.state.paper_white:g} cd/m2")
        if c.next_model:
            c.next_model = False
            self._next_model()
        if c.toggle_fullscreen:
            c.toggle_fullscreen = False
            self.presenter.toggle_fullscreen()
        if c.seek:
            if self.source.is_live:
                self._say("live input: cannot seek")
            elif self.frame is not None and self.frame.pts is not None:
                try:
                    self.pipeline.seek(max(0.0, self.frame.pts + c.seek))
                except UserError as e:
                    self._say(_one_line(e))
            c.seek = 0.0
        self.pipeline.set_paused(c.paused)

    # -- HUD --
    def hud_lines(self) -> list[str]:
        s = self.state
        now = time.perf_counter()
        t = list(self.present_times)
        fps = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0
        bits = self.presenter.bits.get("red", 8)
        lines = [
            f"MODEL {self.operator.name}  PEAK {s.peak:g}  PAPER WHITE {s.paper_white:g} CD/M2",
            f"FPS {fps:.1f}  LATENCY {_fmt_ms(_median(list(self.latencies)[-60:]))} MS (CAPTURE->PRESENT)",
        ]
        stages = {}
        try:
            stages.update(self.pipeline.stats() or {})
        except Exception:  # stats are informative only
            pass
        for k, v in self.timing.items():
            stages[k] = _median(list(v))
        dropped = stages.pop("dropped", None)
        stages.pop("latency", None)  # the pipeline's capture->operator latency; the HUD shows ->present
        lines.append("  ".join(f"{k} {_fmt_ms(v)}" for k, v in stages.items() if isinstance(v, (int, float)))
                     + " MS" + (f"  DROPPED {int(dropped)}" if dropped is not None else ""))
        view = s.view + (f" ({s.layout}{', swapped' if s.swap else ''})" if s.view == "split" else "")
        lines.append(f"VIEW {view}  OUTPUT {s.mode.upper()} {bits}-BIT" + ("  PAUSED" if self.controls.paused else ""))
        if self.controls.message and now < self._message_until:
            lines.append(self.controls.message)
        return lines

    def _update_overlay(self):
        """Rebuild the overlay when the layout or state changed, else at most every HUD_PERIOD."""
        now = time.perf_counter()
        win = tuple(self.presenter.size())
        rect = self.renderer.picture_rect(*win, self.state)
        c = self.controls
        key = (win, rect, dataclasses.astuple(self.state), c.show_hud, c.paused, c.message, self.operator.name)
        if key == self._overlay_key and now < self._hud_due:
            return
        self._overlay_key = key
        self._hud_due = now + HUD_PERIOD
        lines = self.hud_lines() if c.show_hud else []
        labels = ("SDR INPUT", f"HDR {self.operator.name}")
        self.renderer.set_overlay(build_overlay(*win, rect, self.state, c, lines, labels))

    # -- one picture --
    def draw(self):
        t0 = time.perf_counter()
        self._update_overlay()
        t1 = time.perf_counter()
        self.renderer.draw(self.presenter.fbo, self.presenter.size(), self.state)
        self.timing["hud"].append((t1 - t0) * 1000)
        self.timing["draw"].append((time.perf_counter() - t1) * 1000)

    def upload(self, frame):
        t0 = time.perf_counter()
        self.renderer.upload(frame.sdr, frame.hdr)
        self.timing["upload"].append((time.perf_counter() - t0) * 1000)
        if self.frame is None or self.frame.hdr.shape != frame.hdr.shape:
            h, w = frame.hdr.shape[:2]
            self.presenter.set_content_aspect(*gl_renderer.content_size(w, h, self.state))
        self.frame = frame

    def read_window(self) -> np.ndarray:
        """Redraw into the back buffer and read it (the front buffer is undefined after a swap)."""
        self.draw()
        return self.renderer.read(self.presenter.fbo, self.presenter.size())

    def screenshot(self, stem: str | None = None):
        from livehdr.imageio import write_exr, write_png16

        if self.frame is None:
            return
        stem = stem or f"livehdr-{time.strftime('%Y%m%d-%H%M%S')}-{self.frame.index:06d}"
        write_exr(stem + ".exr", self.frame.hdr * np.float32(self.state.paper_white), white_luminance=1.0)
        write_png16(stem + ".png", gl_renderer.to_png16(self.read_window()), cicp=self.cicp())
        self._say(f"saved {stem}.exr and .png")
        print(f"livehdr: screenshot {stem}.exr (HDR, cd/m2) and {stem}.png (window)", file=sys.stderr)

    def cicp(self):
        return CICP_PQ_BT2020 if self.state.mode == "pq" else CICP_SRGB

    # -- the loop --
    def run(self, max_frames: int | None, exit_at_end: bool) -> None:
        p = self.presenter
        dirty = True
        while True:
            actions = p.poll()
            if actions:
                self.apply(actions)
                dirty = True
            if self.controls.quit or p.should_close():
                return
            if self.controls.screenshot:
                self.controls.screenshot = False
                self.screenshot()
            frame = self.pipeline.latest(timeout=0.002)
            new = frame is not None and frame is not self.frame
            if new:
                self.upload(frame)
            if self.frame is None:
                if self.pipeline.finished:
                    raise UserError(f"the input produced no frames: {self.args.input}")
                continue
            now = time.perf_counter()
            if new or dirty or now >= self._hud_due:
                self.draw()
                p.present()
                t = time.perf_counter()
                dirty = False
                if new:
                    self.presented += 1
                    self.present_times.append(t)
                    latency = (t - frame.captured_at) * 1000
                    # operator done -> on screen: what the window adds to the latency
                    self.timing["wait"].append((t - frame.processed_at) * 1000)
                    self.latencies.append(latency)
                    self.all_latencies.append(latency)
            if max_frames is not None and self.presented >= max_frames:
                return
            if not new:
                if self.pipeline.finished:
                    if exit_at_end:
                        return
                    if not self.controls.message.startswith("end of input"):
                        self._say("end of input: q to quit, <- to seek back", 1e9)
                        dirty = True
                p.wait(0.004)


# --------------------------------------------------------------------------------------------------------
# Entry point (cli.py calls this when there is no --output, or with --window)
# --------------------------------------------------------------------------------------------------------
def initial_state(args, bits: int) -> ViewState:
    view = args.view or ("split" if args.compare else "hdr")
    mode = args.mode or ("pq" if bits >= 10 else "sdr")
    return ViewState(view=view, layout=args.layout, mode=mode, paper_white=args.paper_white, peak=args.peak,
                     input_gamma=args.input_gamma)


def run_window(args) -> int:
    from livehdr import cli
    from livehdr.imageio import check_writable

    if getattr(args, "output", None) is not None:
        raise UserError("showing the window while writing --output is not supported yet; run the conversion "
                        "and the window separately")
    if args.screenshot is not None:
        if not args.screenshot.lower().endswith(".png"):
            raise UserError(f"--screenshot must be a .png file: {args.screenshot}")
        check_writable(args.screenshot)
    if not args.offscreen and not display_available():
        raise UserError("no display for the live window (DISPLAY/WAYLAND_DISPLAY not set); use --output "
                        "FILE.mkv to write an HDR10 file, or --offscreen")
    operator = cli.build_operator(args)

    from livehdr.pipeline import LivePipeline
    from livehdr.sources import open_source

    source = open_source(args.input, args)
    presenter = pipeline = None
    try:
        probe = ViewState(view=args.view or ("split" if args.compare else "hdr"), layout=args.layout)
        cw, ch = gl_renderer.content_size(source.width, source.height, probe)
        if args.offscreen:
            presenter = OffscreenPresenter(cw, ch)
        else:
            presenter = WindowPresenter(cw, ch, f"livehdr - {args.input}", fullscreen=args.fullscreen)
            if presenter.bits.get("red", 8) < 10:
                warn(f"the window got {presenter.bits.get('red', 8)} bits per channel, not 10: gradients will "
                     "band; on X11 run the server at depth 30 (DefaultDepth 30)")
            if source.is_live and not presenter.exclude_from_capture():
                warn("this window can appear in its own screen capture on this system; put it on another "
                     "monitor or capture a region (screen:x,y,w,h)")
        state = initial_state(args, presenter.bits.get("red", 8))
        pipeline = LivePipeline(source, operator)
        live = LiveWindow(presenter, pipeline, source, operator, state, args)
        pipeline.start()
        t0 = time.perf_counter()
        automated = args.offscreen or args.max_frames is not None or args.screenshot is not None
        live.run(args.max_frames, exit_at_end=automated)
        elapsed = time.perf_counter() - t0
        if args.screenshot is not None and live.frame is not None:
            from livehdr.imageio import write_png16

            write_png16(args.screenshot, gl_renderer.to_png16(live.read_window()), cicp=live.cicp())
        report(live, elapsed, args)
        return 0
    finally:
        if pipeline is not None:
            pipeline.stop()
        source.close()
        if presenter is not None:
            presenter.close()


def report(live: LiveWindow, elapsed: float, args) -> None:
    fps = live.presented / elapsed if elapsed > 0 else 0.0
    lat = _median(live.all_latencies)
    print(f"livehdr: presented {live.presented} frames in {elapsed:.1f} s ({fps:.1f} fps), capture->present "
          f"latency median {_fmt_ms(lat)} ms", file=sys.stderr)
    if args.stats:
        stages = dict(live.pipeline.stats() or {})
        stages.update({k: _median(list(v)) for k, v in live.timing.items()})
        print("livehdr: median ms per stage: " + ", ".join(f"{k} {_fmt_ms(v)}" for k, v in stages.items()),
              file=sys.stderr)
