"""LUT operators in the live window (issue #11): the 3D texture sampled in present.frag against the numba
trilinear (in linear light, to 1e-3 relative, read back from a float framebuffer), raw capture words
through it, and the live pipeline handing the window a LUT per frame instead of expanded pixels."""
from __future__ import annotations

import time

import numpy as np
import pytest

from _media import drain_live, make_clip
from lut_double import LUTDouble
from livehdr import color
from livehdr.color import ReferenceLevels
from livehdr.color.lut3d import apply_lut3d
from livehdr.io.capture import MASKS_BGRX8, MASKS_X2RGB10, RawPixels
from livehdr.io.sources import FileSource, Source, SourceFrame
from livehdr.operators import OperatorConfig
from livehdr.pipeline import LivePipeline
from livehdr.pipeline.thumbnail import thumbnail_u8
from livehdr.window import renderer as gl_renderer
from livehdr.window.renderer import Renderer, ViewState

# The window shows PQ up to 10000 cd/m2 and these LUTs stay below it: the roll-off is the identity, so
# decoding the framebuffer gives back exactly the light the shader looked up.
LEVELS = ReferenceLevels(203.0, 10000.0)


@pytest.fixture(scope="module")
def egl():
    import moderngl

    ctx = moderngl.create_standalone_context(backend="egl")
    yield ctx
    gl_renderer.release_standalone(ctx)


def random_lut(d: int, seed: int) -> np.ndarray:
    # 0.001 .. 8 x paper white: dark and bright entries side by side in one cell.
    return (np.exp(np.random.default_rng(seed).uniform(np.log(1e-3), np.log(8.0), (d, d, d, 3)))).astype(np.float32)


def sample_frame(h=40, w=64, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sdr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    sdr[0] = np.arange(w)[:, None] * 255 // (w - 1)  # a grey ramp over the whole range
    sdr[1, :3] = [[0, 0, 0], [255, 255, 255], [255, 0, 128]]
    return sdr


def bgrx_words(rgb8) -> np.ndarray:
    return (rgb8[..., 0].astype(np.uint32) << 16) | (rgb8[..., 1].astype(np.uint32) << 8) | rgb8[..., 2]


def render_linear(ctx, sdr, lut, source=None) -> np.ndarray:
    """Draw the hdr view (PQ) into an RGBA32F framebuffer and decode it: BT.2020 light relative to paper white.

    Compared in BT.2020 (the light the window shows), not taken back to BT.709: the inverse matrix would mix
    the bright channels' float rounding into a dark neighbour and call that the LUT's error."""
    r = Renderer(ctx)
    if source is not None:
        r.lut_source = source
    r.upload_lut(sdr, lut)
    assert r.curve == (source or gl_renderer.SHADER_LUT)  # Mesa filters in float: one fetch by default
    w, h = r.frame_size
    fbo = ctx.framebuffer(color_attachments=[ctx.texture((w, h), 4, dtype="f4")])
    state = ViewState(view="hdr", mode="pq", dither=0.0, paper_white=LEVELS.paper_white, peak=LEVELS.peak)
    r.draw(fbo, (w, h), state)
    code = r.read(fbo).astype(np.float64)
    fbo.release()
    r.release()
    return color.eotf_ST2084(code) / LEVELS.paper_white


def in_bt2020(rel709) -> np.ndarray:
    return np.asarray(rel709, np.float64) @ np.asarray(color.MATRIX_BT709_TO_BT2020, np.float64).T


def assert_within_1e3(got, want709):
    want = in_bt2020(want709)
    rel_err = np.abs(got - want) / np.maximum(want, 1e-3)  # below 1e-3 of paper white: absolute
    assert rel_err.max() <= 1e-3, f"worst relative error {rel_err.max():.2e}"


@pytest.mark.parametrize("source", [gl_renderer.SHADER_LUT, gl_renderer.SHADER_LUT_EXACT])
@pytest.mark.parametrize("d", [2, 17, 33])
def test_shader_lut_matches_numba_in_linear_light(egl, d, source):
    """Both ways of filtering: the texture unit's (Mesa) and the eight fetches GPUs get."""
    lut = random_lut(d, seed=d)
    sdr = sample_frame()
    got = render_linear(egl, sdr, lut, source)
    want = apply_lut3d(sdr, lut)
    assert_within_1e3(got, want)
    assert want.max() / want.min() > 100  # a real spread of light, not a flat field


def test_shader_lut_takes_raw_capture_words(egl):
    lut = random_lut(33, seed=3)
    sdr = sample_frame(seed=4)
    raw = RawPixels(bgrx_words(sdr) | np.uint32(0xFF000000), MASKS_BGRX8)  # X leaves junk in the pad byte
    assert_within_1e3(render_linear(egl, raw, lut), apply_lut3d(sdr, lut))
    # depth 30: 10-bit code values k / 1023 (the LUT's float path on the CPU)
    k = np.random.default_rng(5).integers(0, 1024, size=(24, 32, 3), dtype=np.int64)
    words = RawPixels(((k[..., 0] << 20) | (k[..., 1] << 10) | k[..., 2]).astype(np.uint32), MASKS_X2RGB10)
    want = apply_lut3d((k / 1023.0).astype(np.float32), lut)
    assert_within_1e3(render_linear(egl, words, lut), want)
    assert_within_1e3(render_linear(egl, words, lut, gl_renderer.SHADER_LUT_EXACT), want)


def test_lut_frames_encode_like_cpu_frames_in_the_window_modes(egl):
    """Through the window's own 10-bit target: the LUT path equals uploading the numba output (one 10-bit step)."""
    lut = random_lut(17, seed=6)
    sdr = sample_frame(seed=7)
    for mode in ("pq", "sdr"):
        state = ViewState(view="hdr", mode=mode, dither=0.0)
        shots = []
        for upload in (lambda r: r.upload_lut(sdr, lut), lambda r: r.upload(sdr, apply_lut3d(sdr, lut))):
            r = Renderer(egl)
            upload(r)
            fbo = gl_renderer.create_offscreen_target(egl, 64, 40)
            r.draw(fbo, (64, 40), state)
            shots.append(r.read(fbo))
            fbo.release()
            r.release()
        assert np.abs(shots[0] - shots[1]).max() <= 1.0 / 1023.0
        assert shots[0].max() - shots[0].min() > 0.3


def test_a_new_lut_replaces_the_old_one_and_bad_luts_are_refused(egl):
    r = Renderer(egl)
    sdr = sample_frame(8, 8)
    fbo = egl.framebuffer(color_attachments=[egl.texture((8, 8), 4, dtype="f4")])
    state = ViewState(view="hdr", mode="sdr", dither=0.0)
    outs = []
    for value in (0.2, 0.8):
        r.upload_lut(sdr, np.full((5, 5, 5, 3), value, np.float32))
        r.draw(fbo, (8, 8), state)
        outs.append(r.read(fbo))
    r.upload_lut(sdr, np.full((9, 9, 9, 3), 0.2, np.float32))  # another size: a new texture
    r.draw(fbo, (8, 8), state)
    np.testing.assert_allclose(r.read(fbo), outs[0], atol=1e-6)
    assert outs[1].min() > outs[0].max()
    with pytest.raises(ValueError, match="D >= 2"):
        r.upload_lut(sdr, np.zeros((4, 4, 3, 3), np.float32))
    fbo.release()
    r.release()


def test_lut_operators_are_expanded_by_the_shader():
    assert gl_renderer.shader_can_expand(LUTDouble())
    assert gl_renderer.curve_defines(gl_renderer.SHADER_LUT) == "#define SHADER_LUT 1\n"
    assert "LUT_FILTER_IN_SHADER" in gl_renderer.curve_defines(gl_renderer.SHADER_LUT_EXACT)


# ---- thumbnails and the live pipeline -------------------------------------------------------------------
def test_thumbnails_from_raw_words_equal_thumbnails_from_pixels():
    rgb = np.random.default_rng(9).integers(0, 256, size=(720, 1280, 3), dtype=np.uint8)
    from_array = thumbnail_u8(rgb)
    assert from_array.shape == (256, 256, 3) and from_array.dtype == np.uint8
    rows, cols = (np.arange(256) + 0.5) * 720 / 256, (np.arange(256) + 0.5) * 1280 / 256
    np.testing.assert_array_equal(from_array, rgb[rows.astype(int)][:, cols.astype(int)])  # bin centres
    np.testing.assert_array_equal(thumbnail_u8(RawPixels(bgrx_words(rgb), MASKS_BGRX8)), from_array)
    k = rgb.astype(np.int64) * 4  # the same picture as 10-bit words
    words = RawPixels(((k[..., 0] << 20) | (k[..., 1] << 10) | k[..., 2]).astype(np.uint32), MASKS_X2RGB10)
    assert np.abs(thumbnail_u8(words).astype(int) - from_array.astype(int)).max() <= 1
    flat = np.full((10, 14, 3), 77, np.uint8)  # smaller than the thumbnail: samples repeat
    np.testing.assert_array_equal(thumbnail_u8(flat), np.full((256, 256, 3), 77, np.uint8))


def test_capture_thumbnails_sample_what_the_clut_operator_samples_from_a_frame():
    """So a captured picture gets the LUT the same picture gets from a file (lut_for_frame)."""
    clut = pytest.importorskip("livehdr.models.clut")
    rgb = np.random.default_rng(11).integers(0, 256, size=(1080, 1920, 3), dtype=np.uint8)
    np.testing.assert_array_equal(thumbnail_u8(RawPixels(bgrx_words(rgb), MASKS_BGRX8)),
                                  np.rint(clut.thumbnail_numpy(rgb) * 255).astype(np.uint8))


def test_live_pipeline_hands_the_window_a_lut_per_frame(tmp_path):
    src = make_clip(tmp_path / "c.mkv", 64, 48, frames=4, rate=20, audio=False)
    op = LUTDouble()
    pipe = LivePipeline(FileSource(str(src)), op, on_gpu=gl_renderer.shader_can_expand)
    pipe.start()
    got = drain_live(pipe, lambda g: bool(g) and g[-1].index == 3)
    pipe.stop()
    assert got and all(f.hdr is None and f.lut is op.lut and f.shader is op for f in got)
    assert all(isinstance(f.sdr, np.ndarray) and f.sdr.shape == (48, 64, 3) for f in got)
    assert op.frames_seen and set(op.frames_seen) == {(48, 64, 3)}  # decoded frames: lut_for_frame
    assert "infer" in pipe.stats()  # the LUT step is timed as the stage it replaces


class _MarkingLUT(LUTDouble):
    """A new LUT for every frame, filled with that frame's first pixel (so a LUT names its frame)."""

    def __init__(self):
        super().__init__()
        self.processed: list[int] = []  # frames' first red value, in the order the operator saw them

    def lut_for_frame(self, frame_u8):
        super().lut_for_frame(frame_u8)
        self.processed.append(int(frame_u8[0, 0, 0]))
        return np.full_like(self.lut, float(self.processed[-1]))


class _DistinctFrames(Source):
    """Live frames whose first pixel is 10 x their index: each one recognisable in what comes out."""

    width, height, fps, is_live = 64, 48, None, True

    def frames(self):
        for i in range(8):
            rgb = np.full((48, 64, 3), 10 * i, np.uint8)
            yield SourceFrame(i, None, rgb, time.perf_counter(), {})
            time.sleep(0.03)


def test_live_frames_show_the_lut_of_the_frame_before_so_latency_has_no_cnn_in_it():
    op = _MarkingLUT()
    pipe = LivePipeline(_DistinctFrames(), op, on_gpu=gl_renderer.shader_can_expand)
    pipe.start()
    got = drain_live(pipe, lambda g: bool(g) and g[-1].index == 7)
    pipe.stop()
    assert len(got) >= 2 and got[-1].index == 7
    for f in got:
        seen = op.processed.index(int(f.sdr[0, 0, 0]))
        # The first frame waits for its own LUT; every later one goes out with its predecessor's, and its
        # own is computed after it was handed on (it is in ``processed`` all the same).
        assert float(f.lut.flat[0]) == op.processed[max(seen - 1, 0)], (f.index, seen, op.processed)
    assert got[0].index != 0 or float(got[0].lut.flat[0]) == 0.0


class _RawCapture(Source):
    """A screen capture stand-in: BGRX words, never decoded unless a CPU stage asks."""

    width, height, fps, is_live = 320, 180, None, True

    def __init__(self):
        self.frames_made: list[SourceFrame] = []

    def frames(self):
        rng = np.random.default_rng(10)
        i = 0
        while True:
            words = bgrx_words(rng.integers(0, 256, size=(180, 320, 3), dtype=np.uint8))
            frame = SourceFrame(i, None, None, time.perf_counter(), {"capture": 0.1},
                                raw=RawPixels(words, MASKS_BGRX8))
            self.frames_made.append(frame)
            yield frame
            i += 1
            time.sleep(0.01)


def test_raw_capture_words_go_to_the_window_untouched_with_a_lut_from_a_thumbnail():
    source = _RawCapture()
    op = LUTDouble()
    pipe = LivePipeline(source, op, on_gpu=gl_renderer.shader_can_expand)
    pipe.start()
    got = drain_live(pipe, lambda g: len(g) >= 3)
    pipe.stop()
    assert len(got) >= 3
    assert all(isinstance(f.sdr, RawPixels) and f.lut is op.lut for f in got)
    assert op.thumbnails_seen and set(op.thumbnails_seen) == {(256, 256, 3)} and not op.frames_seen
    assert all(f._rgb is None for f in source.frames_made)  # no frame was decoded to RGB on the CPU


def test_window_shows_a_lut_operator_offscreen(tmp_path):
    """The whole live window (offscreen EGL): frames presented through the LUT path, screenshot EXR from it."""
    from livehdr.window import app

    src = make_clip(tmp_path / "c.mkv", 64, 48, frames=5, rate=30, audio=False)
    op = LUTDouble(OperatorConfig(levels=ReferenceLevels()))
    settings = app.WindowSettings(levels=op.levels, offscreen=True, max_frames=5, mode="pq",
                                  screenshot=str(tmp_path / "shot.png"))
    models = app.ModelSwitcher(names=(op.name,), create=lambda name, levels: LUTDouble(OperatorConfig(levels=levels)))
    report = app.run_window(settings, FileSource(str(src)), op, models)
    assert report.presented == 5
    assert "infer" in report.stage_ms and report.latency_ms is not None
    assert (tmp_path / "shot.png").stat().st_size > 0
    assert op.frames_seen  # the operator computed LUTs, the shader applied them


def test_screenshot_hdr_of_a_lut_frame_is_the_lut_applied_on_the_cpu():
    """The 's' key's EXR needs the frame's light: for a LUT frame, the LUT the shader used, through numba."""
    from types import SimpleNamespace

    from livehdr.pipeline import ProcessedFrame
    from livehdr.window import app

    op = LUTDouble()
    sdr = sample_frame(seed=12)
    raw = RawPixels(bgrx_words(sdr), MASKS_BGRX8)
    frame = ProcessedFrame(0, None, raw, None, 0.0, 0.0, op.content_peak, shader=op, lut=op.lut)
    hdr = app.LiveWindow.frame_hdr(SimpleNamespace(frame=frame))
    np.testing.assert_allclose(hdr, op.expand_uint8(sdr), rtol=1e-6, atol=1e-6)


def test_screen_capture_through_a_lut_operator_shows_the_lut_applied(tmp_path):
    """End to end on a private X screen: a pattern grabbed as raw words, the LUT from a thumbnail of them,
    the shader applying it; the screenshot (between the HUD and the label) equals numba's output as PQ."""
    import av

    from livehdr.io.inputs import open_source
    from livehdr.window import app
    from xvfb import display_env, put_root_pixels, xvfb

    pattern = sample_frame(240, 320, seed=13)
    op = LUTDouble(OperatorConfig(levels=ReferenceLevels()))
    with xvfb(320, 240, 24) as display, display_env(display):
        put_root_pixels(display, 0, 0, pattern, bits=8)
        shot = str(tmp_path / "shot.png")
        settings = app.WindowSettings(levels=op.levels, offscreen=True, max_frames=3, mode="pq", screenshot=shot)
        models = app.ModelSwitcher((op.name,), lambda name, levels: op)
        report = app.run_window(settings, open_source("screen:0,0,320,240"), op, models)
    assert report.presented == 3
    assert op.thumbnails_seen and not op.frames_seen  # the capture path: a thumbnail from the raw words
    with av.open(shot) as c:
        img = next(c.decode(video=0)).to_ndarray(format="rgb48le").astype(np.float64) / 65535
    want = color.encode_PQ_BT2020(apply_lut3d(pattern, op.lut).astype(np.float64), op.levels,
                                  source_peak=op.content_peak)
    between = slice(60, 210)  # below the HUD, above the picture's label
    # one 10-bit step, plus the window's +-1/2 step of dither and the PNG's 16-bit rounding
    assert np.abs(img[between] - want[between]).max() <= 1.6 / 1023
    assert img[between].max() - img[between].min() > 0.3
