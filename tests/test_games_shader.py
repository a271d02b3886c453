"""Games: the classical curves evaluated in present.frag from the SDR texture (no CPU per-pixel work) give
the same framebuffer as operators.classical on the CPU, to one 10-bit step; raw X pixels (depth 24 BGRX
and depth 30 2-10-10-10 words) upload untouched and decode to the same picture."""
import numpy as np
import pytest

from livehdr import color
from livehdr.color import ReferenceLevels
from livehdr.io.capture import MASKS_BGRX8, MASKS_X2RGB10, RawPixels
from livehdr.operators import OperatorConfig, create_operator
from livehdr.window import renderer as gl_renderer
from livehdr.window.renderer import Renderer, ViewState

LSB = 1.0 / 1023.0


@pytest.fixture(scope="module")
def egl():
    import moderngl

    ctx = moderngl.create_standalone_context(backend="egl")
    yield ctx
    gl_renderer.release_standalone(ctx)


def draw_curve(ctx, sdr, op, state):
    r = Renderer(ctx)
    r.upload_sdr(sdr, op.shader_curve, gl_renderer.shader_uniforms(op))
    w, h = r.frame_size
    fbo = gl_renderer.create_offscreen_target(ctx, w, h)
    r.draw(fbo, (w, h), state)
    out = r.read(fbo)
    fbo.release()
    r.release()
    return out


def sample_pixels():
    rng = np.random.default_rng(7)
    sdr = rng.integers(0, 256, size=(40, 64, 3), dtype=np.uint8)
    sdr[0, :, :] = np.arange(64)[:, None] * 4  # greys from black to near white
    sdr[1, :, :] = 255  # white: the curves' peak
    return sdr


CASES = [("naive", "srgb", 1.0, 203.0, 1000.0), ("naive", "2.2", 1.3, 203.0, 1000.0),
         ("bt2446c", "srgb", 1.0, 203.0, 1000.0), ("bt2446c", "2.4", 0.8, 100.0, 600.0),
         ("bt2446a", "2.4", 1.0, 203.0, 1000.0), ("bt2446a", "srgb", 1.2, 150.0, 4000.0)]


@pytest.mark.parametrize("name,gamma,saturation,paper_white,peak", CASES)
@pytest.mark.parametrize("mode", ["pq", "sdr"])
def test_shader_curve_matches_cpu_operator(egl, name, gamma, saturation, paper_white, peak, mode):
    levels = ReferenceLevels(paper_white, peak)
    op = create_operator(name, OperatorConfig(levels=levels, input_gamma=gamma, saturation=saturation))
    assert gl_renderer.shader_can_expand(op)
    sdr = sample_pixels()
    state = ViewState(view="hdr", mode=mode, dither=0.0, paper_white=paper_white, peak=peak, input_gamma=gamma,
                      source_peak=op.content_peak)
    out = draw_curve(egl, sdr, op, state)
    rel = op.expand_uint8(sdr).astype(np.float64)
    if mode == "pq":
        want = color.encode_PQ_BT2020(rel, levels, source_peak=op.content_peak)
    else:
        want = color.tonemap_preview_SDR(rel, levels)
    assert np.abs(out - want).max() <= LSB
    assert out.max() - out.min() > 0.3  # a real picture, not a flat field


def test_learned_models_are_not_shader_curves():
    class Learned:
        shader_curve = None

    assert not gl_renderer.shader_can_expand(Learned())
    assert not gl_renderer.shader_can_expand(object())


def _bgrx_words(rgb8):
    return (rgb8[..., 0].astype(np.uint32) << 16) | (rgb8[..., 1].astype(np.uint32) << 8) | rgb8[..., 2]


def test_raw_depth24_words_upload_untouched(egl):
    sdr = sample_pixels()
    op = create_operator("naive", OperatorConfig())
    state = ViewState(view="hdr", mode="pq", dither=0.0)
    from_array = draw_curve(egl, sdr, op, state)
    raw = RawPixels(_bgrx_words(sdr) | np.uint32(0xFF000000), MASKS_BGRX8)  # X leaves junk in the pad byte
    assert raw.layout == "bgrx8"
    np.testing.assert_array_equal(raw.to_rgb(), sdr)
    np.testing.assert_array_equal(draw_curve(egl, raw, op, state), from_array)


def test_raw_depth30_words_keep_ten_bits(egl):
    rng = np.random.default_rng(8)
    k = rng.integers(0, 1024, size=(24, 32, 3), dtype=np.int64)
    words = ((k[..., 0] << 20) | (k[..., 1] << 10) | k[..., 2]).astype(np.uint32)
    raw = RawPixels(words, MASKS_X2RGB10)
    assert raw.layout == "x2rgb10"
    op = create_operator("naive", OperatorConfig())
    out = draw_curve(egl, raw, op, ViewState(view="sdr", mode="sdr", dither=0.0, paper_white=203.0, peak=1000.0))
    # sdr view in sdr mode shows the input decoded and tone-mapped back: compare with the CPU on k / 1023.
    want = color.tonemap_preview_SDR(color.eotf_sRGB(k / 1023.0), ReferenceLevels())
    assert np.abs(out - want).max() <= LSB
    np.testing.assert_array_equal(np.rint(raw.to_rgb() * 1023), k)


def test_overlay_updates_only_its_painted_box_and_clears_the_old_one(egl):
    """The HUD is encoded and written only where it paints; a moved HUD leaves nothing behind."""
    r = Renderer(egl)
    sdr = np.zeros((48, 64, 3), np.uint8)
    op = create_operator("naive", OperatorConfig())
    r.upload_sdr(sdr, "naive", gl_renderer.shader_uniforms(op))
    fbo = gl_renderer.create_offscreen_target(egl, 64, 48)
    state = ViewState(view="hdr", mode="sdr", dither=0.0)
    shots = []
    for box in ((2, 3, 20, 10), (40, 30, 60, 44)):  # x0, y0, x1, y1 (row 0 at the top)
        ov = np.zeros((48, 64, 4), np.uint8)
        ov[box[1]:box[3], box[0]:box[2]] = (255, 255, 255, 255)
        r.set_overlay(ov)
        r.draw(fbo, (64, 48), state)
        shots.append((box, r.read(fbo)))
    r.release()
    fbo.release()
    for box, out in shots:
        inside = np.zeros((48, 64), bool)
        inside[box[1]:box[3], box[0]:box[2]] = True
        assert np.all(out[inside] == 1.0) and np.all(out[~inside] == 0.0)


# Last in this file: a glfw window unbinds the module's EGL context (renderer.release_egl_current).
def test_raw_depth30_upload_in_a_glx_window_context():
    """The 2-10-10-10 upload goes through libOpenGL (glvnd) beside moderngl: check it in glfw's GLX context
    too, not only under EGL."""
    from livehdr.window.presenters import WindowPresenter

    from xvfb import display_env, xvfb

    rng = np.random.default_rng(9)
    k = rng.integers(0, 1024, size=(24, 32, 3), dtype=np.int64)
    raw = RawPixels(((k[..., 0] << 20) | (k[..., 1] << 10) | k[..., 2]).astype(np.uint32), MASKS_X2RGB10)
    op = create_operator("naive", OperatorConfig())
    state = ViewState(view="sdr", mode="sdr", dither=0.0)
    with xvfb(320, 240, 30) as display, display_env(display):
        presenter = WindowPresenter(64, 48, "livehdr - test")
        try:
            out = draw_curve(presenter.ctx, raw, op, state)
        finally:
            presenter.close()
    want = color.tonemap_preview_SDR(color.eotf_sRGB(k / 1023.0), ReferenceLevels())
    assert np.abs(out - want).max() <= LSB
