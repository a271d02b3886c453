"""The live window: pipeline frames -> renderer -> presenter, with the controls and the HUD.

The loop owns the GL context on the main thread; decoding / capture and the operator run in the
LivePipeline's threads, which keep one frame in flight and drop stale ones. Each presented frame's
capture->present latency is measured against the source's ``captured_at`` (time.perf_counter()).
Keys are listed in the CLI's help; they map to actions in ``controls.Controls``.
"""
from __future__ import annotations

from collections import deque
import dataclasses
from dataclasses import dataclass
import statistics
import time
from typing import Callable

import numpy as np

from livehdr.base.errors import UserError, one_line
from livehdr.base.files import check_writable
from livehdr.base.median import StreamingMedian
from livehdr.base.log import note, say, warn
from livehdr.color import ReferenceLevels
from livehdr.color.tonecurves import input_encoding
from livehdr.operators.source_curve import qualified_name
from livehdr.pipeline.live import LivePipeline
from livehdr.window import renderer as gl_renderer
from livehdr.window.controls import Controls, next_in_cycle
from livehdr.window.overlay import build_overlay
from livehdr.window.presenters import OffscreenPresenter, WindowPresenter, display_available
from livehdr.window.renderer import ViewState

CICP_PQ_BT2020 = (9, 16, 0, 1)  # ITU-T H.273: BT.2020 primaries, PQ, RGB, full range
CICP_SRGB = (1, 13, 0, 1)  # BT.709 primaries, sRGB transfer
HUD_PERIOD = 0.25  # seconds between HUD refreshes when nothing else changes


@dataclass(frozen=True)
class WindowSettings:
    """How the window starts (built by the CLI)."""

    levels: ReferenceLevels
    input_gamma: str = "srgb"
    compare: bool = False
    layout: str = "wipe"
    view: str | None = None  # None: split with compare, else hdr
    mode: str | None = None  # None: pq on a 10-bit framebuffer, else sdr
    fullscreen: bool = False
    screenshot: str | None = None  # a .png written at the end
    offscreen: bool = False
    max_frames: int | None = None
    title: str = "livehdr"
    sound: bool = True  # play a file's audio track (False: --no-audio)


@dataclass(frozen=True)
class ModelSwitcher:
    """The models the 'm' key cycles through, and how to build one for new reference levels. ``create`` takes
    operator names as ``source_curve.qualified_name`` writes them ('clut/hable'); ``curves`` are the source
    curves the 't' key cycles through (empty: no curve key)."""

    names: tuple[str, ...]
    create: Callable[[str, ReferenceLevels], object]
    curves: tuple[str, ...] = ()


@dataclass(frozen=True)
class WindowReport:
    presented: int
    seconds: float
    latency_ms: float | None  # median capture -> present
    stage_ms: dict  # median ms per stage (pipeline and window)
    produced: int | None = None  # frames the live source grabbed (None: not a live source)
    dropped_share: float | None = None  # of those, the share never presented (replaced by newer ones)
    presents: tuple = ()  # (frame index, pts, perf_counter at the swap, the sound's clock then or None)
    late_dropped: int = 0  # frames the sound's clock had already passed (skipped)


def _median(values) -> float | None:
    return statistics.median(values) if values else None


def fmt_ms(v) -> str:
    return "-" if v is None else f"{v:.1f}"



def light_of_shader_frame(frame, sdr: np.ndarray) -> np.ndarray:
    """The light the shader showed for a frame it expanded, on the CPU: the frame's LUT (numba), or the
    operator; a highlight stage with the frame's own field (the stage is not run again here: its temporal
    state belongs to the operator thread)."""
    if frame.lut is not None:
        from livehdr.color.lut3d import apply_lut3d

        light = apply_lut3d(sdr, frame.lut)
    elif getattr(frame.shader, "highlight", None) is not None:
        code = sdr.astype(np.float32) * np.float32(1 / 255) if sdr.dtype == np.uint8 else sdr
        light = np.asarray(frame.shader.base_light(code), dtype=np.float32)
    else:
        from livehdr.pipeline.stages import apply_operator

        return apply_operator(frame.shader, sdr)
    if frame.highlight_field is None:
        return light
    from livehdr.color.highlight import apply_field

    return apply_field(light, sdr, frame.highlight_field, frame.shader.max_relative)


class LiveWindow:
    """Pipeline frames -> renderer -> presenter, with the controls and the HUD."""

    def __init__(self, presenter, pipeline, source, operator, state: ViewState, models: ModelSwitcher,
                 input_name: str = "", audio=None):
        self.presenter = presenter
        self.pipeline = pipeline
        self.source = source
        self.operator = operator
        self.state = state
        self.startup_input_gamma = state.input_gamma  # what an operator without a known source curve decodes with
        self.models = models
        self.source_curve = getattr(operator, "source_curve", "auto")  # the user's choice ('t' key)
        self.input_name = input_name
        self.controls = Controls(state)
        self.renderer = gl_renderer.Renderer(presenter.ctx)
        self.frame = None
        self.presented = 0
        self.latencies = deque(maxlen=1024)
        self.present_times = deque(maxlen=120)
        self.started_at = time.perf_counter()
        # "present": the buffer swap; with a CPU renderer (llvmpipe) most of the drawing happens there
        self.timing = {name: deque(maxlen=120) for name in ("upload", "hud", "draw", "present", "wait")}
        self._first_grab = None  # the live source's grab count when the first frame was presented
        self.all_latencies = StreamingMedian()  # the whole session's median in fixed memory
        self._overlay_key = None
        self._own_overlap_said = False
        self._hud_due = 0.0
        self._message_until = 0.0
        self.audio = audio  # window.audio.AudioPlayer: the master clock, or None (files paced by wall time)
        self._audio_from: float | None = 0.0  # the sound starts once a frame at or after this pts is up
        self.presents: list[tuple] = []

    # -- operator changes --
    def _swap_operator(self, name: str) -> bool:
        try:
            op = self.models.create(name, ReferenceLevels(self.state.paper_white, self.state.peak))
        except (UserError, ValueError) as e:
            self._say(f"model {name} unavailable: {one_line(e)}")
            return False
        self.operator = op
        self.pipeline.set_operator(op)
        # the SDR side is decoded as the new operator's source curve says (the rule cli.input_gamma applies)
        self.state.input_gamma = input_encoding(getattr(op, "source_curve", "auto"), self.startup_input_gamma)
        return True

    def _model_name(self) -> str:
        return getattr(self.operator, "model_name", self.operator.name)

    def _next_model(self):
        names = list(self.models.names)
        model = self._model_name()
        current = names.index(model) if model in names else -1
        for i in range(1, len(names)):
            if self._swap_operator(qualified_name(names[(current + i) % len(names)], self.source_curve)):
                self._say(f"model {self.operator.name}")
                return

    def _next_curve(self):
        curves = list(self.models.curves)
        if not curves:
            self._say("no source curves to cycle")
            return
        curve = next_in_cycle(curves, self.source_curve)
        if self._swap_operator(qualified_name(self._model_name(), curve)):
            self.source_curve = curve
            self._say(f"source curve {curve}" + ("" if self._curve_in_use() else
                                                  f" (not for {self.operator.name}: a classical curve)"))

    def _curve_in_use(self) -> bool:
        return getattr(self.operator, "source_curve", "auto") == self.source_curve

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
                if a == "exposure":
                    self._say(c.message)
        if c.operator_dirty:
            c.operator_dirty = False
            if self._swap_operator(self.operator.name):
                self._say(f"peak {self.state.peak:g}, paper white {self.state.paper_white:g} cd/m2")
        if c.next_model:
            c.next_model = False
            self._next_model()
        if c.next_curve:
            c.next_curve = False
            self._next_curve()
        if c.toggle_fullscreen:
            c.toggle_fullscreen = False
            self.presenter.toggle_fullscreen()
        if c.seek:
            if self.source.is_live:
                self._say("live input: cannot seek")
            elif self.frame is not None and self.frame.pts is not None:
                target = max(0.0, self.frame.pts + c.seek)
                if self.source.duration:
                    target = min(target, max(0.0, self.source.duration - 1e-3))
                try:
                    self.pipeline.seek(target)
                    if self.audio is not None:
                        self.audio.seek(target)
                        self._audio_from = target
                except UserError as e:
                    self._say(one_line(e))
            c.seek = 0.0
        self.pipeline.set_paused(c.paused)
        if self.audio is not None:
            self.audio.set_paused(c.paused)

    def _sound_after_present(self, frame, t: float) -> None:
        """Release the held sound once the first picture at the start / seek target is up; keep the
        pipeline's lead at the measured release -> present time, so frames reach the screen on the clock."""
        a = self.audio
        clock = None
        if a is not None:
            start = self._audio_from
            frame_s = 1 / self.source.fps if self.source.fps else 1 / 30
            if start is not None and frame.pts is not None and frame.pts >= start - frame_s / 2:
                self._audio_from = None
                a.release()
            clock = a.media_time()
            recent = list(self.latencies)[-30:]
            if recent:
                self.pipeline.lead = float(np.clip(statistics.median(recent) / 1e3, 0.0, 0.25))
        self.presents.append((frame.index, frame.pts, t, clock))

    # -- HUD --
    def hud_lines(self) -> list[str]:
        s = self.state
        now = time.perf_counter()
        fps = presented_fps(self.present_times, now, self.started_at)
        bits = self.presenter.bits.get("red", 8)
        lines = [
            f"MODEL {self.operator.name}  CURVE {self.source_curve}{'' if self._curve_in_use() else ' (N/A)'}"
            f"  PEAK {s.peak:g}  PAPER WHITE {s.paper_white:g} CD/M2",
            f"FPS {fps:.1f}  LATENCY {fmt_ms(_median(list(self.latencies)[-60:]))} MS (CAPTURE->PRESENT)",
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
        share = self.dropped_share()
        drops = (f"  DROPPED {100 * share:.0f}% OF {self.produced()} GRABBED" if share is not None
                 else f"  DROPPED {int(dropped)}" if dropped is not None else "")
        lines.append("  ".join(f"{k} {fmt_ms(v)}" for k, v in stages.items() if isinstance(v, (int, float)))
                     + " MS" + drops)
        view = s.view + (f" ({s.layout}{', swapped' if s.swap else ''})" if s.view == "split" else "")
        exposure = f"  EXPOSURE {s.exposure:+g}" if s.mode == "sdr" and s.exposure else ""
        lines.append(f"VIEW {view}  OUTPUT {s.mode.upper()} {bits}-BIT{exposure}"
                     + ("  PAUSED" if self.controls.paused else ""))
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

    # -- live sources: dropped frames and self-exclusion --
    def produced(self) -> int | None:
        """Frames the live source grabbed since the first one was presented (None: not a live source)."""
        grabbed = getattr(self.source, "grabbed", None)
        if grabbed is None or self._first_grab is None:
            return None
        return grabbed - self._first_grab + 1

    def dropped_share(self) -> float | None:
        """Share of grabbed frames never presented (a newer grab replaced them first)."""
        produced = self.produced()
        if not produced:
            return None
        return max(0, produced - self.presented) / produced

    def exclude_own_window(self) -> None:
        """Tell the capture where this window is, so its pixels never feed back into what it shows."""
        rect = getattr(self.presenter, "screen_rect", lambda: None)()
        exclude = getattr(self.source, "exclude", None)
        if rect is not None and exclude is not None:
            exclude([rect])

    def _say_if_capturing_self(self) -> None:
        if getattr(self.source, "excluded_last", False) and not self._own_overlap_said:
            self._own_overlap_said = True
            warn("livehdr's window lies over the captured area: that part is captured black (no mirror of the "
                 "window inside itself); move the window or capture another region")

    # -- one picture --
    def draw(self):
        t0 = time.perf_counter()
        self._update_overlay()
        t1 = time.perf_counter()
        self.renderer.draw(self.presenter.fbo, self.presenter.size(), self.state)
        self.timing["hud"].append((t1 - t0) * 1e3)
        self.timing["draw"].append((time.perf_counter() - t1) * 1e3)

    def upload(self, frame):
        t0 = time.perf_counter()
        old_size = self.renderer.frame_size
        if frame.lut is not None:  # a LUT operator: the SDR pixels and the frame's small 3D LUT go up
            self.renderer.upload_lut(frame.sdr, frame.lut)
        elif frame.hdr is None and frame.shader.shader_curve is None:  # known by its nodes alone (set below)
            self.renderer.upload_sdr_for_nodes(frame.sdr)
        elif frame.hdr is None:  # the shader expands (classical curve): only the SDR pixels go up
            self.renderer.upload_sdr(frame.sdr, frame.shader.shader_curve, gl_renderer.shader_uniforms(frame.shader))
        else:
            self.renderer.upload(frame.sdr, frame.hdr)
        if frame.nodes is not None:  # pointwise: the hdr / sdr / split views draw from one composed table
            self.renderer.set_table(frame.nodes)
        if frame.highlight_field is not None:  # the operator's highlight stage, applied by the shader
            self.renderer.set_highlight(frame.highlight_field, frame.shader.max_relative)
        self.timing["upload"].append((time.perf_counter() - t0) * 1e3)
        if self.frame is None or self.renderer.frame_size != old_size:
            self.presenter.set_content_aspect(*gl_renderer.content_size(*self.renderer.frame_size, self.state))
        # Frames expanded before a peak change still carry their own range: the shader rolls it onto the peak.
        self.state.source_peak = frame.content_peak
        self.frame = frame

    def frame_hdr(self) -> np.ndarray:
        """The current frame's operator output; frames the shader expanded are computed here, once, on demand."""
        f = self.frame
        if f.hdr is None:
            f.hdr = light_of_shader_frame(f, f.sdr if isinstance(f.sdr, np.ndarray) else f.sdr.to_rgb())
        return f.hdr

    def read_window(self) -> np.ndarray:
        """Redraw into the back buffer and read it (the front buffer is undefined after a swap)."""
        self.draw()
        return self.renderer.read(self.presenter.fbo, self.presenter.size())

    def screenshot(self, stem: str | None = None):
        from livehdr.io.imagefiles import write_exr, write_png16

        if self.frame is None:
            return
        stem = stem or f"livehdr-{time.strftime('%Y%m%d-%H%M%S')}-{self.frame.index:06d}"
        write_exr(stem + ".exr", self.frame_hdr() * np.float32(self.state.paper_white), white_luminance=1.0)
        write_png16(stem + ".png", gl_renderer.to_png16(self.read_window()), cicp=self.cicp())
        self._say(f"saved {stem}.exr and .png")
        say(f"screenshot {stem}.exr (HDR, cd/m2) and {stem}.png (window)")

    def cicp(self):
        return CICP_PQ_BT2020 if self.state.mode == "pq" else CICP_SRGB

    # -- the loop --
    def run(self, max_frames: int | None, exit_at_end: bool) -> None:
        p = self.presenter
        dirty = True
        while True:
            actions = p.poll()
            if actions:
                if "moved" in actions or "resized" in actions:
                    self.exclude_own_window()
                self.apply([a for a in actions if a != "moved"])
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
                self._say_if_capturing_self()
            if self.frame is None:
                if self.pipeline.finished:
                    raise UserError(f"the input produced no frames: {self.input_name}")
                continue
            now = time.perf_counter()
            if new or dirty or now >= self._hud_due:
                self.draw()
                t_swap = time.perf_counter()
                p.present()
                t = time.perf_counter()
                self.timing["present"].append((t - t_swap) * 1e3)
                dirty = False
                if new:
                    if self.presented == 0:
                        self._first_grab = getattr(self.source, "grabbed", None)
                    self.presented += 1
                    self.present_times.append(t)
                    latency = (t - frame.captured_at) * 1e3
                    # operator done -> on screen: what the window adds to the latency
                    self.timing["wait"].append((t - frame.processed_at) * 1e3)
                    self.latencies.append(latency)
                    self.all_latencies.append(latency)
                    self._sound_after_present(frame, t)
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
# Entry point (the CLI calls this when there is no --output, or with --window)
# --------------------------------------------------------------------------------------------------------
def choose_mode(settings: WindowSettings, bits: int) -> tuple[str, str]:
    """(mode, why). PQ only when asked: a 10-bit framebuffer says nothing about HDR, and PQ code values on an
    SDR desktop look washed out. Nothing here can tell that a display is in HDR mode (X11 has no signal)."""
    if settings.mode == "pq":
        why = "--mode pq" + ("" if bits >= 10 else f"; the window has only {bits} bits, expect banding")
        return "pq", why
    if settings.mode == "sdr":
        return "sdr", "--mode sdr"
    return "sdr", "the default: it cannot be told whether this display is in HDR mode; --mode pq for an HDR10 display"


def presented_fps(times, now: float, started_at: float) -> float:
    """Frames per second over the recent presents, counted up to ``now``. Measured from the start until the
    window of times is full, so a slow stream (0.2 fps) shows its rate from the first frame on, not 0.0."""
    if not times:
        return 0.0
    full = times.maxlen is not None and len(times) == times.maxlen
    since = times[0] if full else started_at
    span = max(now, times[-1]) - since
    return (len(times) - 1 if full else len(times)) / span if span > 0 else 0.0


def initial_state(settings: WindowSettings, bits: int) -> ViewState:
    view = settings.view or ("split" if settings.compare else "hdr")
    mode, _ = choose_mode(settings, bits)
    return ViewState(view=view, layout=settings.layout, mode=mode, paper_white=settings.levels.paper_white,
                     peak=settings.levels.peak, input_gamma=settings.input_gamma)


WAYLAND_NOTE = ("Wayland: this window cannot tell the compositor its pixels are HDR (GLFW has no "
                "color-management-v1, docs/WINDOW.md); for HDR on this desktop use --player mpv")


def wayland_session() -> bool:
    """A Wayland desktop (glfw picks its Wayland platform when WAYLAND_DISPLAY is set)."""
    import os

    return bool(os.environ.get("WAYLAND_DISPLAY"))


def check_window_settings(settings: WindowSettings) -> None:
    """What can be refused before any source or model is opened."""
    if settings.screenshot is not None:
        if not settings.screenshot.lower().endswith(".png"):
            raise UserError(f"--screenshot must be a .png file: {settings.screenshot}")
        check_writable(settings.screenshot)
    if not settings.offscreen and not display_available():
        raise UserError("no display for the live window (DISPLAY/WAYLAND_DISPLAY not set); use --output "
                        "FILE.mkv to write an HDR10 file, or --offscreen")


def open_sound(settings: WindowSettings, source):
    """The file's audio on the default device (window.audio.AudioPlayer), or None with one line saying why
    not (--no-audio, no audio track, no device). Live sources and the demo have no sound."""
    path = getattr(source, "path", None)
    if source.is_live or path is None:
        return None
    from livehdr.io.audio import AudioTrack, audio_stream_count
    from livehdr.window.audio import AudioPlayer, no_audio_reason

    if not audio_stream_count(path):
        return None
    if not settings.sound:
        note("sound off (--no-audio)")
        return None
    reason = no_audio_reason()
    if reason is not None:
        warn(reason + "; the video plays without it (--no-audio hides this)")
        return None
    try:
        return AudioPlayer(AudioTrack(path))
    except UserError as e:
        warn(f"{one_line(e)}; the video plays without sound")
        return None


def run_window(settings: WindowSettings, source, operator, models: ModelSwitcher) -> WindowReport:
    """Show ``source`` through ``operator`` until the user quits (or, automated, the input or --max-frames
    ends). The source is closed on return."""
    presenter = pipeline = audio = None
    try:
        probe = ViewState(view=settings.view or ("split" if settings.compare else "hdr"), layout=settings.layout)
        cw, ch = gl_renderer.content_size(source.width, source.height, probe)
        if settings.offscreen:
            presenter = OffscreenPresenter(cw, ch)
        else:
            if wayland_session():
                note(WAYLAND_NOTE)
            presenter = WindowPresenter(cw, ch, settings.title, fullscreen=settings.fullscreen)
            if presenter.bits.get("red", 8) < 10:
                warn(f"the window got {presenter.bits.get('red', 8)} bits per channel, not 10: gradients will "
                     "band; on X11 run the server at depth 30 (DefaultDepth 30)")
            if source.is_live and presenter.screen_rect() is None and not presenter.exclude_from_capture():
                warn("this window can appear in its own screen capture on this system; put it on another "
                     "monitor or capture a region (screen:x,y,w,h)")
        state = initial_state(settings, presenter.bits.get("red", 8))
        note(f"window output: {'PQ (HDR10)' if state.mode == 'pq' else 'SDR preview'} "
             f"({choose_mode(settings, presenter.bits.get('red', 8))[1]})")
        pipeline = LivePipeline(source, operator, on_gpu=gl_renderer.shader_can_expand)
        audio = open_sound(settings, source)
        if audio is not None:
            pipeline.set_clock(audio)
        live = LiveWindow(presenter, pipeline, source, operator, state, models, settings.title, audio=audio)
        live.exclude_own_window()  # before the first grab: the window must never capture itself
        pipeline.start()
        t0 = time.perf_counter()
        automated = settings.offscreen or settings.max_frames is not None or settings.screenshot is not None
        live.run(settings.max_frames, exit_at_end=automated)
        elapsed = time.perf_counter() - t0
        if settings.screenshot is not None and live.frame is not None:
            from livehdr.io.imagefiles import write_png16

            write_png16(settings.screenshot, gl_renderer.to_png16(live.read_window()), cicp=live.cicp())
        stages = dict(live.pipeline.stats() or {})
        stages.update({k: _median(list(v)) for k, v in live.timing.items()})
        return WindowReport(live.presented, elapsed, live.all_latencies.median(), stages, live.produced(),
                            live.dropped_share(), tuple(live.presents), pipeline.late_dropped)
    finally:
        if pipeline is not None:
            pipeline.stop()
        if audio is not None:
            audio.close()
        source.close()
        if presenter is not None:
            presenter.close()
