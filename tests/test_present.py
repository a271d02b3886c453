"""The live window: shader maths against color.py, comparison views, heatmap, the 10-bit window, the loop.

Pictures are read back from the framebuffer as float code values ('f4', exact for 10-bit buffers) and
compared with color.py; one 10-bit step is 1/1023.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from livehdr import color
from livehdr.window import app, controls, presenters
from livehdr.window import renderer as gl_renderer
from livehdr.color import ReferenceLevels
from livehdr.base.errors import UserError
from livehdr.window.renderer import Renderer, ViewState
from livehdr.io.imagefiles import read_exr, read_png_chunks
from livehdr.operators import OperatorConfig, create_operator, list_operators

from xvfb import display_env, xvfb

LSB = 1.0 / 1023.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def egl():
    import moderngl

    ctx = moderngl.create_standalone_context(backend="egl")
    yield ctx
    gl_renderer.release_standalone(ctx)  # leaves no EGL context current: the window tests use GLX


def render(ctx, sdr, hdr, state, size=None, legend=True):
    r = Renderer(ctx)
    r.upload(sdr, hdr)
    size = size or gl_renderer.content_size(hdr.shape[1], hdr.shape[0], state)
    fbo = gl_renderer.create_offscreen_target(ctx, *size)
    r.draw(fbo, size, state, with_legend=legend)
    out = r.read(fbo)
    fbo.release()
    r.release()
    return out


def ramp_frames(w=256, h=8, top=4.9):
    hdr = np.tile(np.linspace(0.0, top, w, dtype=np.float32)[None, :, None], (h, 1, 3))
    hdr[..., 1] *= 0.6  # coloured, so the BT.709 -> BT.2020 matrix matters
    hdr[..., 2] *= 0.3
    sdr = np.tile(np.arange(w, dtype=np.uint8)[None, :, None], (h, 1, 3))
    sdr[..., 1] = 255 - sdr[..., 1]
    return sdr, hdr


# --------------------------------------------------------------------------------------------------------
# Shader maths = color.py
# --------------------------------------------------------------------------------------------------------
def test_pq_output_matches_color_py(egl):
    sdr, hdr = ramp_frames()
    levels = ReferenceLevels(203.0, 1000.0)
    out = render(egl, sdr, hdr, ViewState(view="hdr", mode="pq", dither=0.0))
    ref = color.encode_PQ_BT2020(hdr.astype(np.float64), levels)
    assert np.abs(out - ref).max() <= LSB
    # Values span PQ from black to ~900 cd/m2 (code > 0.73): the whole useful range is covered.
    assert out.max() > 0.73 and out.min() == 0.0


def test_rolloff_above_the_peak_matches_color_py(egl):
    sdr, hdr = ramp_frames(top=18.0)  # up to ~3650 cd/m2, shown on a 1000 cd/m2 display
    levels = ReferenceLevels(203.0, 1000.0)
    state = ViewState(view="hdr", mode="pq", dither=0.0, source_peak=4000.0)
    out = render(egl, sdr, hdr, state)
    ref = color.encode_PQ_BT2020(hdr.astype(np.float64), levels, source_peak=4000.0)
    assert np.abs(out - ref).max() <= LSB
    assert out.max() <= color.eotf_inverse_ST2084(1000.0) + LSB


def test_sdr_preview_matches_color_py(egl):
    sdr, hdr = ramp_frames()
    levels = ReferenceLevels(250.0, 2000.0)
    state = ViewState(view="hdr", mode="sdr", dither=0.0, paper_white=250.0, peak=2000.0)
    out = render(egl, sdr, hdr, state)
    assert np.abs(out - color.tonemap_preview_SDR(hdr.astype(np.float64), levels)).max() <= LSB


@pytest.mark.parametrize("gamma", ["srgb", "2.2", "2.4"])
def test_sdr_input_view_uses_the_chosen_eotf(egl, gamma):
    sdr, hdr = ramp_frames()
    out = render(egl, sdr, hdr, ViewState(view="sdr", mode="pq", dither=0.0, input_gamma=gamma))
    ref = color.encode_PQ_BT2020(color.eotf_input(sdr / 255.0, gamma), ReferenceLevels())
    assert np.abs(out - ref).max() <= LSB


def test_dither_is_small_and_unbiased(egl):
    sdr, hdr = ramp_frames(w=512, h=64)
    out = render(egl, sdr, hdr, ViewState(view="hdr", mode="pq"))
    err = out - color.encode_PQ_BT2020(hdr.astype(np.float64), ReferenceLevels())
    assert np.abs(err).max() <= 1.5 * LSB
    assert abs(err.mean()) < 0.1 * LSB
    # It really dithers: a flat row of one value takes more than one code value.
    flat = render(egl, sdr[:, :1].repeat(64, 1), np.full((64, 64, 3), 0.37, np.float32),
                  ViewState(view="hdr", mode="pq"))
    assert len(np.unique(np.rint(flat[..., 0] / LSB))) >= 2


# --------------------------------------------------------------------------------------------------------
# Comparison views
# --------------------------------------------------------------------------------------------------------
def _split_frames():
    rng = np.random.default_rng(3)
    sdr = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    op = create_operator("bt2446a", OperatorConfig())
    hdr = op.expand_uint8(sdr)
    want_sdr = color.encode_PQ_BT2020(color.eotf_sRGB(sdr / 255.0), ReferenceLevels())
    want_hdr = color.encode_PQ_BT2020(hdr.astype(np.float64), ReferenceLevels())
    assert np.abs(want_sdr - want_hdr).max() > 0.05  # the operator really expands
    return sdr, hdr, want_sdr, want_hdr


def test_split_wipe_shows_input_left_and_expansion_right(egl):
    sdr, hdr, want_sdr, want_hdr = _split_frames()
    state = ViewState(view="split", layout="wipe", mode="pq", divider=0.25, dither=0.0)
    out = render(egl, sdr, hdr, state, legend=False)
    # Divider at x = 16: columns 14-17 are the light line, 13 and 18 its dark edges, the rest the pictures.
    assert np.abs(out[:, :13] - want_sdr[:, :13]).max() <= LSB
    assert np.abs(out[:, 19:] - want_hdr[:, 19:]).max() <= LSB
    line = color.encode_PQ_BT2020(color.eotf_sRGB(np.full(3, 0.8)), ReferenceLevels())
    edge = color.encode_PQ_BT2020(color.eotf_sRGB(np.full(3, 0.05)), ReferenceLevels())
    assert np.abs(out[:, 14:18] - line).max() <= LSB
    assert np.abs(out[:, [13, 18]] - edge).max() <= LSB

    state.swap = True
    out = render(egl, sdr, hdr, state, legend=False)
    assert np.abs(out[:, :13] - want_hdr[:, :13]).max() <= LSB
    assert np.abs(out[:, 19:] - want_sdr[:, 19:]).max() <= LSB


def test_split_side_by_side_shows_both_whole_frames(egl):
    sdr, hdr, want_sdr, want_hdr = _split_frames()
    state = ViewState(view="split", layout="side", mode="sdr", dither=0.0)
    assert gl_renderer.content_size(64, 48, state) == (128, 48)
    out = render(egl, sdr, hdr, state)
    levels = ReferenceLevels()
    left = color.tonemap_preview_SDR(color.eotf_sRGB(sdr / 255.0), levels)
    right = color.tonemap_preview_SDR(hdr.astype(np.float64), levels)
    # Columns 61-66 carry the divider (light 62-65, dark edges 61 and 66).
    assert np.abs(out[:, :61] - left[:, :61]).max() <= LSB
    assert np.abs(out[:, 67:] - right[:, 3:]).max() <= LSB


def test_aspect_ratio_is_kept_with_black_bars(egl):
    sdr, hdr, _, want_hdr = _split_frames()
    out = render(egl, sdr, hdr, ViewState(view="hdr", mode="pq", dither=0.0), size=(64, 96), legend=False)
    assert gl_renderer.fit_rect(64, 96, 64, 48) == (0, 24, 64, 48)
    assert np.all(out[:24] == 0) and np.all(out[72:] == 0)
    assert np.abs(out[24:72] - want_hdr).max() <= LSB


# --------------------------------------------------------------------------------------------------------
# Heatmap and difference
# --------------------------------------------------------------------------------------------------------
HEAT_PATCHES = [  # cd/m2 (grey, so BT.709 and BT.2020 agree) -> palette colour
    (0.1, (0.25, 0.0, 0.5)), (1.0, (0.0, 0.0, 1.0)), (10.0, (0.0, 1.0, 1.0)), (100.0, (0.0, 1.0, 0.0)),
    (10 ** 2.5, (0.5, 1.0, 0.0)), (1000.0, (1.0, 1.0, 0.0)),
]


def _heat_frame(peak):
    pw = 203.0
    nits = [n for n, _ in HEAT_PATCHES] + [1.5 * peak]
    hdr = np.zeros((40, 40 * len(nits), 3), np.float32)
    for i, n in enumerate(nits):
        hdr[:, 40 * i:40 * (i + 1)] = n / pw
    return np.zeros(hdr.shape, np.uint8), hdr


def test_heatmap_maps_known_nits_to_known_colours(egl):
    sdr, hdr = _heat_frame(peak=4000.0)
    state = ViewState(view="heatmap", mode="sdr", peak=4000.0, dither=0.0)
    out = render(egl, sdr, hdr, state, legend=False)
    for i, (nits, colour) in enumerate(HEAT_PATCHES):
        patch = out[4:36, 40 * i + 4:40 * i + 36]
        assert np.abs(patch - np.array(colour)).max() <= LSB, nits
    # Above the display peak: zebra stripes of the clip colour and the palette colour (6000 cd/m2).
    clip = out[4:36, -36:-4].reshape(-1, 3)
    magenta = np.all(np.abs(clip - (1.0, 0.0, 1.0)) <= LSB, axis=1)
    colour = np.all(np.abs(clip - palette(np.log10(6000.0))) <= LSB, axis=1)
    assert magenta.any() and colour.any() and np.all(magenta | colour)

    # In PQ mode the same colours are graphics shown at paper white.
    state.mode = "pq"
    out = render(egl, sdr, hdr, state, legend=False)
    want = color.encode_PQ_BT2020(color.eotf_sRGB(np.array(HEAT_PATCHES[2][1])), ReferenceLevels(203.0, 4000.0))
    assert np.abs(out[20, 80 + 20] - want).max() <= LSB


STOPS = np.array([(0, 0, 0), (0.25, 0, 0.5), (0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 1, 0), (1, 0, 0)], float)


def palette(log10_nits):
    """The documented heatmap palette: one colour per decade from 0.01 to 10000 cd/m2, linear between."""
    t = np.clip(np.asarray(log10_nits, float) + 2.0, 0.0, 6.0)
    i = np.minimum(np.floor(t).astype(int), 5)
    f = (t - i)[..., None]
    return STOPS[i] * (1 - f) + STOPS[i + 1] * f


def test_heatmap_legend_runs_from_black_to_red(egl):
    sdr = np.zeros((240, 320, 3), np.uint8)
    hdr = np.zeros((240, 320, 3), np.float32)
    out = render(egl, sdr, hdr, ViewState(view="heatmap", mode="sdr", dither=0.0))
    lx, ly, lw, lh = gl_renderer.legend_rect((0, 0, 320, 240), 240)
    col = out[:, lx + lw // 2]
    rows = np.arange(240 - ly - lh, 240 - ly)  # the bar, top to bottom
    q = (240 - rows - 0.5 - ly) / lh  # pixel centres in GL coordinates, 0..1 up the bar
    assert np.abs(col[rows] - palette(q * 6.0 - 2.0)).max() <= 2 * LSB
    assert np.abs(col[rows[-1]]).max() < 0.01 and np.abs(col[rows[0]] - (1, 0, 0)).max() < 0.05
    swatch = 240 - 1 - int(ly + 1.07 * lh)
    assert np.abs(col[swatch] - (1.0, 0.0, 1.0)).max() <= LSB  # the clip swatch above the bar


def test_difference_view_shows_gain_in_stops(egl):
    sdr = np.full((8, 24, 3), 128, np.uint8)
    base = color.eotf_sRGB(128 / 255.0)
    hdr = np.empty((8, 24, 3), np.float32)
    hdr[:, :8], hdr[:, 8:16], hdr[:, 16:] = 4 * base, base, base / 16  # +2, 0 and -4 stops
    out = render(egl, sdr, hdr, ViewState(view="diff", mode="sdr", dither=0.0))
    assert np.abs(out[:, :8] - (0.5, 0.0, 0.0)).max() <= 2 * LSB
    assert np.abs(out[:, 8:16]).max() <= LSB
    assert np.abs(out[:, 16:] - (0.0, 0.0, 1.0)).max() <= 2 * LSB


def test_hud_overlay_is_blended_in_output_code_values(egl):
    from livehdr.window.font import Overlay, text_mask

    sdr, hdr, _, want_hdr = _split_frames()
    ov = Overlay(64, 48)
    ov.box(0, 0, 64, 20, alpha=160)
    ov.text(2, 2, "8")
    mask = np.zeros((48, 64), bool)
    mask[2:16, 2:14] = text_mask("8")  # 5x7 glyph + 1 spacing column, scaled 2x
    r = Renderer(egl)
    r.upload(sdr, hdr)
    r.set_overlay(ov.rgba)
    fbo = gl_renderer.create_offscreen_target(egl, 64, 48)
    r.draw(fbo, (64, 48), ViewState(view="hdr", mode="pq", dither=0.0))
    out = r.read(fbo)
    white = color.encode_PQ_BT2020(color.eotf_sRGB(np.full(3, 235 / 255)), ReferenceLevels())
    assert mask.sum() > 20 and np.abs(out[mask] - white).max() <= LSB  # text at paper-white graphics level
    shaded = ~mask
    shaded[20:] = False
    assert np.abs(out[shaded] - want_hdr[shaded] * (1 - 160 / 255)).max() <= 1.5 * LSB  # translucent box
    assert np.abs(out[20:] - want_hdr[20:]).max() <= LSB  # untouched below the HUD
    fbo.release()
    r.release()


# --------------------------------------------------------------------------------------------------------
# Controls
# --------------------------------------------------------------------------------------------------------
def test_controls_change_the_state():
    c = controls.Controls(ViewState(view="split", mode="pq", peak=1000.0, paper_white=203.0))
    c.handle("peak_up")
    assert c.state.peak == 1500.0 and c.operator_dirty
    c.handle("peak_down"), c.handle("peak_down")
    assert c.state.peak == 800.0
    c.handle("paper_white_up")
    assert c.state.paper_white == 250.0
    c.handle("paper_white_down"), c.handle("paper_white_down")
    assert c.state.paper_white == 160.0
    for _ in range(8):
        c.handle("peak_down")
    assert c.state.peak == 400.0  # the lowest step, never below paper white
    c.handle("view")
    assert c.state.view == "heatmap"
    c.handle("view"), c.handle("view")
    assert c.state.view == "hdr"
    c.handle("ab")
    assert c.state.view == "sdr"
    c.handle("ab")
    assert c.state.view == "hdr"
    c.handle("mode"), c.handle("layout"), c.handle("swap"), c.handle("pause")
    assert (c.state.mode, c.state.layout, c.state.swap, c.paused) == ("sdr", "side", True, True)
    c.handle("seek_back")
    assert c.seek == -5.0
    c.handle("quit")
    assert c.quit
    # Every documented key has an action.
    for key in "+-[]mcvlxafsq ":
        assert key in controls.CHAR_ACTIONS


# --------------------------------------------------------------------------------------------------------
# The live loop (offscreen, with a scripted pipeline) and screenshots
# --------------------------------------------------------------------------------------------------------
class ScriptedPipeline:
    """The LivePipeline interface over a fixed list of frames (the real one is tested in test_pipeline)."""

    def __init__(self, frames):
        self.frames = list(frames)
        self.operators = []
        self.paused = False

    def latest(self, timeout=0.0):
        return self.frames.pop(0) if self.frames else None

    @property
    def finished(self):
        return not self.frames

    def stats(self):
        return {"decode": 1.0, "infer": 2.0, "dropped": 0.0}

    def set_operator(self, op):
        self.operators.append(op)

    def set_paused(self, b):
        self.paused = b

    def seek(self, s):
        pass


def _processed(index, sdr, hdr):
    import time

    from livehdr.pipeline import ProcessedFrame

    t = time.perf_counter()
    return ProcessedFrame(index, index / 30, sdr, hdr, t, t)


MODELS = app.ModelSwitcher(names=tuple(e.name for e in list_operators()),
                           create=lambda name, levels: create_operator(name, OperatorConfig(levels=levels)))


def test_live_loop_presents_frames_and_saves_screenshots(tmp_path):
    sdr, hdr, _, _ = _split_frames()
    frames = [_processed(i, sdr, hdr * (1 + i / 10)) for i in range(6)]
    pipe = ScriptedPipeline(frames)
    presenter = presenters.OffscreenPresenter(64, 48)
    op = create_operator("naive", OperatorConfig())
    state = ViewState(view="split", mode="pq")
    try:
        live = app.LiveWindow(presenter, pipe, type("S", (), {"is_live": False})(), op, state, MODELS, "test")
        live.apply(["peak_up", "model"])  # rebuilds the operator (new peak), then cycles the model
        assert [o.levels.peak for o in pipe.operators] == [1500.0, 1500.0]
        assert pipe.operators[-1].name != "naive"
        live.run(max_frames=4, exit_at_end=True)
        assert live.presented == 4 and len(live.all_latencies) == 4
        assert 0 <= live.all_latencies.median() < 5000
        live.screenshot(str(tmp_path / "shot"))
        nits = read_exr(str(tmp_path / "shot.exr"))
        np.testing.assert_allclose(nits, live.frame.hdr * 203.0, rtol=1e-3, atol=1e-3)  # half floats
        chunks = read_png_chunks(str(tmp_path / "shot.png"))
        assert chunks[b"IHDR"][8] == 16  # bit depth
        assert tuple(chunks[b"cICP"]) == app.CICP_PQ_BT2020
    finally:
        presenter.close()


def test_divider_follows_the_mouse_and_old_gl_is_refused():
    sdr, hdr, _, _ = _split_frames()
    presenter = presenters.OffscreenPresenter(64, 48)
    try:
        live = app.LiveWindow(presenter, ScriptedPipeline([_processed(0, sdr, hdr)]),
                                  type("S", (), {"is_live": True})(), create_operator("naive", OperatorConfig()),
                                  ViewState(view="split"), MODELS, "test")
        live.upload(_processed(0, sdr, hdr))
        presenter.divider_at = 48.0
        live.apply(["divider", "seek_forward"])
        assert live.state.divider == 0.75
        assert "cannot seek" in live.controls.message
    finally:
        presenter.close()
    old = type("Ctx", (), {"version_code": 210, "info": {"GL_RENDERER": "old"}})()
    with pytest.raises(UserError, match="OpenGL 2.1 is too old"):
        gl_renderer.check_gl_version(old)


def test_no_display_is_a_one_line_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, os.path.join(ROOT, "run_live.py"), "--input", "demo"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "--output" in r.stderr, r.stderr


def test_bad_screenshot_name_is_a_user_error():
    settings = app.WindowSettings(levels=ReferenceLevels(), screenshot="shot.jpg", offscreen=True)
    with pytest.raises(UserError, match=".png"):
        app.check_window_settings(settings)


# --------------------------------------------------------------------------------------------------------
# The real window under Xvfb
# --------------------------------------------------------------------------------------------------------
def test_window_is_ten_bit_and_shows_a_smooth_gradient():
    with xvfb(1920, 1080, 30) as display, display_env(display):
        w = presenters.WindowPresenter(1024, 64, "livehdr test")
        try:
            assert w.bits["red"] == 10 and w.bits["green"] == 10 and w.bits["blue"] == 10
            assert tuple(w.size()) == (1024, 64)
            r = Renderer(w.ctx)
            hdr = np.tile(np.linspace(0, 4.9, 1024, dtype=np.float32)[None, :, None], (64, 1, 3))
            r.upload(np.zeros(hdr.shape, np.uint8), hdr)
            state = ViewState(view="hdr", mode="pq", dither=0.0)
            r.draw(w.fbo, w.size(), state)
            out = r.read(w.fbo, w.size())
            w.present()
            levels = np.unique(np.rint(out[..., 1] / LSB))
            assert len(levels) > 256  # more than 8 bits can hold
            assert np.all(np.diff(out[32, :, 1]) >= 0)  # smooth: monotonic, no jumps back
            assert np.abs(out - color.encode_PQ_BT2020(hdr.astype(np.float64), ReferenceLevels())).max() <= LSB
            # Keys and mouse arrive through glfw callbacks as actions.
            w._on_char(w.window, ord("c"))
            w._on_key(w.window, w.glfw.KEY_ESCAPE, 0, w.glfw.PRESS, 0)
            w.glfw.set_cursor_pos(w.window, 300.0, 10.0)
            w._on_mouse_button(w.window, w.glfw.MOUSE_BUTTON_LEFT, w.glfw.PRESS, 0)
            w._on_cursor(w.window, 512.0, 10.0)
            w._on_mouse_button(w.window, w.glfw.MOUSE_BUTTON_LEFT, w.glfw.RELEASE, 0)
            w._on_cursor(w.window, 900.0, 10.0)  # not dragging any more: ignored
            assert w.poll() == ["view", "quit", "divider", "divider"]
            assert w.divider_at == 512.0
            # Fullscreen fills the screen; toggling back restores the window.
            w.toggle_fullscreen()
            w.poll()
            assert tuple(w.size()) == (1920, 1080)
            w.toggle_fullscreen()
            w.poll()
            assert tuple(w.size()) == (1024, 64)
        finally:
            w.close()


def test_eight_bit_screen_falls_back_to_sdr_mode():
    with xvfb(640, 480, 24) as display, display_env(display):
        w = presenters.WindowPresenter(320, 240, "livehdr test")
        try:
            assert w.bits["red"] == 8
            settings = app.WindowSettings(levels=ReferenceLevels(), compare=True)
            state = app.initial_state(settings, w.bits["red"])
            assert (state.mode, state.view) == ("sdr", "split")
        finally:
            w.close()


def test_ten_bit_framebuffer_alone_does_not_choose_pq():
    # A 10-bit SDR desktop showed PQ code values washed out: PQ only when the user says so.
    settings = app.WindowSettings(levels=ReferenceLevels())
    mode, why = app.choose_mode(settings, 10)
    assert mode == "sdr" and "--mode pq" in why
    assert app.initial_state(settings, 10).mode == "sdr"
    assert app.initial_state(app.WindowSettings(levels=ReferenceLevels(), mode="pq"), 10).mode == "pq"


def test_hud_fps_is_right_for_slow_streams():
    from collections import deque

    # One frame presented 5 s after the start, asked 0.1 s later: 0.2 fps, not the 0.0 the HUD showed.
    assert app.presented_fps(deque([5.0], maxlen=120), 5.1, 0.0) == pytest.approx(1 / 5.1)
    times = deque((i / 30 for i in range(120)), maxlen=120)  # a full window at 30 fps
    assert app.presented_fps(times, 119 / 30, -100.0) == pytest.approx(30.0)
    assert app.presented_fps(deque(maxlen=120), 3.0, 0.0) == 0.0


def test_cli_demo_compare_writes_a_16bit_screenshot(tmp_path):
    shot = tmp_path / "shot.png"
    with xvfb(1920, 1080, 30) as display:
        env = dict(os.environ, DISPLAY=display)
        env.pop("WAYLAND_DISPLAY", None)
        r = subprocess.run([sys.executable, os.path.join(ROOT, "run_live.py"), "--input", "demo", "--compare",
                            "--layout", "side", "--max-frames", "3", "--screenshot", str(shot),
                            "--model", "bt2446a", "--mode", "pq"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "presented 3 frames" in r.stderr
    assert "window output: PQ (HDR10) (--mode pq)" in r.stderr
    chunks = read_png_chunks(str(shot))
    ihdr = chunks[b"IHDR"]
    width, height = int.from_bytes(ihdr[0:4], "big"), int.from_bytes(ihdr[4:8], "big")
    assert ihdr[8] == 16 and abs(width / height - 2 * 1280 / 720) < 0.01  # two 16:9 frames side by side
    assert tuple(chunks[b"cICP"]) == app.CICP_PQ_BT2020  # --mode pq
    import av

    with av.open(str(shot)) as c:
        img = next(c.decode(video=0)).to_ndarray(format="rgb48le").astype(np.float64) / 65535
    assert len(np.unique(np.rint(img[..., 1] * 1023))) > 256  # 10-bit levels made it into the file
    # Same picture twice, below the HUD: the SDR input (left) at paper white, bt2446a (right) brighter.
    h, half = img.shape[0], img.shape[1] // 2
    left, right = img[h // 3:h * 5 // 6, 4:half - 4], img[h // 3:h * 5 // 6, half + 4:2 * half - 4]
    assert right.max() > left.max() + 0.05
    assert right.mean() > left.mean()


# --------------------------------------------------------------------------------------------------------
# One source for every colour number: the shader's constants come from livehdr.color
# --------------------------------------------------------------------------------------------------------
def test_glsl_constants_are_generated_from_color():
    import re

    from livehdr.color.glsl import glsl_defines

    defines = dict(re.findall(r"#define (\w+) (.+)", glsl_defines()))
    assert float(defines["PQ_M1"]) == color.PQ_M1 and float(defines["PQ_C3"]) == color.PQ_C3
    assert float(defines["PQ_PEAK"]) == color.PQ_PEAK
    columns = [float(v) for v in re.findall(r"[-\d.e]+", defines["BT709_TO_BT2020"].replace("mat3", ""))]
    np.testing.assert_array_equal(np.array(columns).reshape(3, 3).T, color.MATRIX_BT709_TO_BT2020)
    source = open(os.path.join(ROOT, "shaders", "present.frag")).read()
    for copied in ("0.6274039", "2610.0", "0.2126", "12.92", "0.04045", "10000.0"):
        assert copied not in source, f"{copied} is hand-copied into present.frag"


def test_frames_carry_their_content_peak_into_the_rolloff(egl):
    """A frame expanded for a 1500 cd/m2 peak, shown after the peak was lowered to 1000 (the '-' key):
    the shader rolls its highlights onto the new peak instead of clipping them."""
    sdr, hdr = ramp_frames(h=120, top=1500.0 / 203.0)
    presenter = presenters.OffscreenPresenter(*hdr.shape[1::-1])
    try:
        state = ViewState(view="hdr", mode="pq", dither=0.0, peak=1000.0)
        live = app.LiveWindow(presenter, ScriptedPipeline([]), type("S", (), {"is_live": False})(),
                              create_operator("naive", OperatorConfig()), state, MODELS, "test")
        frame = _processed(0, sdr, hdr)
        frame.content_peak = 1500.0
        live.controls.show_hud = False
        live.upload(frame)
        assert live.state.source_peak == 1500.0
        out = live.read_window()[:40]  # above the label panel at the bottom
    finally:
        presenter.close()
    ref = color.encode_PQ_BT2020(hdr[:40].astype(np.float64), ReferenceLevels(203.0, 1000.0, source_peak=1500.0))
    clipped = color.encode_PQ_BT2020(hdr[:40].astype(np.float64), ReferenceLevels(203.0, 1000.0))
    assert np.abs(out - ref).max() <= LSB
    assert np.abs(out - clipped).max() > 8 * LSB  # a real shoulder (PQ codes are dense up there), not a clip
