"""The highlight stage in the live window (issue #23): present.frag's SHADER_HIGHLIGHT read back from a 10-bit
GL target (EGL, llvmpipe on CI) against the CPU: the table views against the numba table kernel with its
``HighlightField`` (PQ) or ``apply_field_reference`` and the preview curve (SDR), the light the shader computes
(LUT, nodes) against ``apply_field_reference``; the live pipeline sending the field, the whole window offscreen.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from livehdr import color
from livehdr.color import highlight as hl
from livehdr.color import pack
from livehdr.color import table as T
from livehdr.color.lut3d import apply_lut3d
from livehdr.io.sources import Source, SourceFrame
from livehdr.operators import OperatorConfig, create_operator
from livehdr.operators.lut import relative_at_nodes_of_lut
from livehdr.pipeline import LivePipeline
from livehdr.window import renderer as gl_renderer
from livehdr.window.renderer import Renderer, ViewState

from _media import drain_live

KNEE_CODE = T.KNEE_CODE  # the first 8-bit code the stage gains (252)


@pytest.fixture(scope="module")
def egl():
    import moderngl

    ctx = moderngl.create_standalone_context(backend="egl")
    yield ctx
    gl_renderer.release_standalone(ctx)


@pytest.fixture(scope="module")
def known():
    """clut with the sRGB curve's exact inverse: a pointwise operator carrying the shipped highlight stage."""
    op = create_operator("clut", OperatorConfig(source_curve="srgb"))
    assert op.highlight is not None and op.pointwise and not getattr(op, "applies_lut", False)
    return op


def disc_frame(h=96, w=128, cy=44, cx=70, radius=30.0) -> np.ndarray:
    """A clipped sun: codes 255 in the middle, a ramp 240 .. 255 around it, on a horizontal grey ramp with
    coloured patches (pixels below the knee the stage must leave alone)."""
    yy, xx = np.mgrid[:h, :w]
    sdr = np.repeat((40 + xx * 180 // w).astype(np.uint8)[..., None], 3, axis=2)
    sdr[:12, :20] = [200, 30, 90]
    sdr[-12:, -20:] = [250, 251, 120]  # just below the knee in every channel
    d = np.hypot(yy - cy, xx - cx)
    inside = d < radius
    ramp = np.clip(255.0 - (d - radius / 2) * (15.0 / (radius / 2)), 240, 255)
    sdr[inside] = np.rint(ramp[inside])[:, None].astype(np.uint8)
    return sdr


def stage_field(op, sdr) -> np.ndarray:
    """The field a fresh copy of the operator's stage gives this frame (no temporal history)."""
    return op.highlight.clone().field_for_frame(sdr, op.white_relative(), op.knee_relative())


def render(ctx, sdr, op, state: ViewState, size, field=None, lut=None, filter_in_shader=None,
           lut_nodes=None) -> np.ndarray:
    """Draw one view and read it back as 10-bit codes (H x W x 3 int). ``filter_in_shader``: the GPUs' choice
    (weights in the shader) on this renderer too, or the texture filter (Mesa's, exact in float).
    ``lut_nodes``: with ``lut``, the LUT's table as well (what the live window gets for a LUT operator)."""
    r = Renderer(ctx)
    if filter_in_shader is not None:
        r.filter_in_shader = filter_in_shader
    if lut is not None:
        r.upload_lut(sdr, lut)
        if lut_nodes is not None:
            r.set_table(lut_nodes)
    else:
        r.upload_sdr_for_nodes(sdr)
        r.set_table(op.relative_at_nodes(sdr))
    if field is not None:
        r.set_highlight(field, op.max_relative)
    fbo = gl_renderer.create_offscreen_target(ctx, *size)
    r.draw(fbo, size, state)
    shot = r.read(fbo)
    programs = set(r._programs)
    fbo.release()
    r.release()
    return np.rint(shot * 1023).astype(np.int32), programs


def levels_of(state: ViewState) -> color.ReferenceLevels:
    return color.ReferenceLevels(state.paper_white, state.peak)


def table_codes(sdr, nodes, state: ViewState, highlight: T.HighlightField | None = None) -> np.ndarray:
    """The numba table kernel (the window's CPU twin) for this view's encoding."""
    target = "rgb-pq" if state.mode == "pq" else "rgb-sdr"
    table = T.compose_table(nodes, levels_of(state), target, state.source_peak)
    return pack.unpack_rgb10a2(T.table_to_rgb10a2(sdr, table, highlight)).astype(np.int32)


def nodes_light(sdr, nodes) -> np.ndarray:
    """The operator's light at each pixel, trilinear over its nodes (what a gained pixel is encoded from)."""
    padded = np.zeros(nodes.shape[:3] + (4,), np.float32)
    padded[..., :3] = nodes
    return T.apply_table_reference(sdr, padded)[..., :3]


def gained(sdr, field) -> np.ndarray:
    """H x W: the pixels whose gain is not 1 (at or above the knee, where the field is not 0)."""
    return (sdr.max(axis=-1) >= KNEE_CODE) & (np.abs(hl.apply_field_reference(
        np.ones(sdr.shape, np.float32), sdr / 255.0, field, 1e9)[..., 0] - 1.0) > 0)


def reference_codes(sdr, op, field, state: ViewState) -> np.ndarray:
    """The CPU's picture: the table for pixels the stage leaves alone, ``apply_field_reference`` on the
    operator's light and the view's encoding (livehdr.color) for the gained ones."""
    nodes = op.relative_at_nodes(sdr)
    want = table_codes(sdr, nodes, state)
    light = hl.apply_field_reference(nodes_light(sdr, nodes), sdr / 255.0, field, op.max_relative)
    if state.mode == "pq":
        encoded = color.encode_PQ_BT2020(light, levels_of(state), source_peak=state.source_peak)
    else:
        encoded = color.tonemap_preview_SDR(light * 2.0 ** state.exposure, levels_of(state))
    moved = gained(sdr, field)
    want[moved] = np.rint(encoded[moved] * 1023).astype(np.int32)
    return want


@pytest.mark.parametrize("mode", ["pq", "sdr"])
@pytest.mark.parametrize("filter_in_shader", [False, True])
def test_hdr_view_applies_the_field_like_the_cpu(egl, known, mode, filter_in_shader):
    sdr = disc_frame()
    field = stage_field(known, sdr)
    assert field.shape == hl.grid_shape(*sdr.shape[:2]) and np.abs(field).min() > 0.02  # a gain in every cell
    state = ViewState(view="hdr", mode=mode, dither=0.0, source_peak=known.content_peak)
    got, programs = render(egl, sdr, known, state, (128, 96), field, filter_in_shader=filter_in_shader)
    plain, plain_programs = render(egl, sdr, known, state, (128, 96))
    assert ("hdr", mode, gl_renderer.SHADER_TABLE, "highlight") in programs
    assert all(len(key) == 3 for key in plain_programs)  # no field: the programs without the stage
    assert np.abs(got - reference_codes(sdr, known, field, state)).max() <= 1
    if mode == "pq":  # the numba file kernel with the same field: the window is the file's picture
        nodes = known.relative_at_nodes(sdr)
        staged = T.HighlightField(field, nodes, levels_of(state), "rgb-pq", known.max_relative, state.source_peak)
        assert np.abs(got - table_codes(sdr, nodes, state, staged)).max() <= 1
    below = sdr.max(axis=-1) < KNEE_CODE
    assert below.sum() > 5000 and np.array_equal(got[below], plain[below])  # the stage moves nothing below
    centre = (44, 70)
    assert got[centre].min() > plain[centre].max() + 10  # the clipped disc's centre is brighter: it can fail
    # The ramp into the disc: gained by its weight a(c), so the step at the knee is small
    assert np.abs(got - plain).max() > 20


def test_split_view_gains_only_the_operator_side(egl, known):
    sdr = disc_frame()
    field = stage_field(known, sdr)
    state = ViewState(view="split", layout="side", mode="pq", dither=0.0, source_peak=known.content_peak)
    got, _ = render(egl, sdr, known, state, (256, 96), field)
    plain, _ = render(egl, sdr, known, state, (256, 96))
    left, right = got[:, 4:124], got[:, 132:]  # the divider line covers the middle columns
    assert np.array_equal(left, plain[:, 4:124])  # the SDR input: no stage
    want = reference_codes(sdr, known, field, state)
    assert np.abs(right - want[:, 4:]).max() <= 1
    assert np.abs(right - plain[:, 132:]).max() > 20


@pytest.mark.parametrize("filter_in_shader", [False, True])
def test_diff_view_takes_the_gained_light_from_the_nodes(egl, known, filter_in_shader):
    """Heatmap and diff draw the light itself: for this operator from its nodes (SHADER_NODES), with the stage.
    The diff view's red is |log2(Y_hdr / Y_sdr)| / 4, so it carries the light to 10 bits."""
    sdr = disc_frame()
    field = stage_field(known, sdr)
    state = ViewState(view="diff", mode="sdr", dither=0.0, source_peak=known.content_peak)
    got, programs = render(egl, sdr, known, state, (128, 96), field, filter_in_shader=filter_in_shader)
    plain, _ = render(egl, sdr, known, state, (128, 96), filter_in_shader=filter_in_shader)
    assert ("diff", "sdr", gl_renderer.SHADER_NODES, "highlight") in programs
    light = hl.apply_field_reference(nodes_light(sdr, known.relative_at_nodes(sdr)), sdr / 255.0, field,
                                     known.max_relative)
    w = np.asarray(color.WEIGHTS_BT709)
    stops = np.log2((light @ w + 1e-4) / (color.eotf_input(sdr / 255.0, "srgb") @ w + 1e-4))
    assert stops.min() >= 0.0  # brighter everywhere: the picture is the red channel
    want = np.rint(np.clip(stops / 4.0, 0.0, 1.0) * 1023)
    assert np.abs(got[..., 0] - want).max() <= 1
    below = sdr.max(axis=-1) < KNEE_CODE
    assert np.array_equal(got[below], plain[below])
    assert got[44, 70, 0] > plain[44, 70, 0] + 10
    heat, programs = render(egl, sdr, known, ViewState(view="heatmap", mode="pq", dither=0.0), (128, 96), field)
    assert ("heatmap", "pq", gl_renderer.SHADER_NODES, "highlight") in programs


def test_lut_path_applies_the_field_to_its_light(egl, known):
    """The LUT views without a table (sample_hdr): a LUT operator's light gained before the encoding."""
    sdr = disc_frame()
    field = stage_field(known, sdr)
    lut = create_operator("clut", OperatorConfig()).lut_for_frame(sdr)
    state = ViewState(view="hdr", mode="pq", dither=0.0, peak=10000.0)
    got, _ = render(egl, sdr, known, state, (128, 96), field, lut=lut)
    plain, _ = render(egl, sdr, known, state, (128, 96), lut=lut)
    light = hl.apply_field_reference(apply_lut3d(sdr, lut), sdr / 255.0, field, known.max_relative)
    want = np.rint(color.encode_PQ_BT2020(light, levels_of(state)) * 1023)
    assert np.abs(got - want).max() <= 1
    below = sdr.max(axis=-1) < KNEE_CODE
    assert np.array_equal(got[below], plain[below]) and got[44, 70].min() > plain[44, 70].max() + 10


def test_the_default_clut_carries_a_level_free_stage_the_shader_applies(egl):
    """The blind clut's own stage (level-free): the LUT's light gained by its field in the shader, as on the
    CPU; the pixels below the knee are the table's picture, bit for bit."""
    op = create_operator("clut", OperatorConfig())
    assert op.highlight is not None and op.highlight.level_free
    sdr = disc_frame()
    lut = op.lut_for_frame(sdr)
    nodes = relative_at_nodes_of_lut(lut)
    field = stage_field(op, sdr)
    regions = hl.GridRegions(hl.cell_sums(sdr))
    assert regions.count == 1 and np.abs(field).max() > 0.05
    # level-free: the region's weighted mean stays near 0 (the floor lifts it a little), nothing under the floor
    assert abs(np.average(field[regions.labels == 1], weights=regions.weight[regions.labels == 1])) < 0.01
    assert field.min() >= hl.level_free_floor(op.white_relative(), op.knee_relative()) - 1e-12
    state = ViewState(view="hdr", mode="pq", dither=0.0, source_peak=op.content_peak)
    got, programs = render(egl, sdr, op, state, (128, 96), field, lut=lut, lut_nodes=nodes)
    plain, _ = render(egl, sdr, op, state, (128, 96), lut=lut, lut_nodes=nodes)
    assert ("hdr", "pq", gl_renderer.SHADER_TABLE, "highlight") in programs
    want = table_codes(sdr, nodes, state)
    light = hl.apply_field_reference(nodes_light(sdr, nodes), sdr / 255.0, field, op.max_relative)
    moved = gained(sdr, field)
    want[moved] = np.rint(color.encode_PQ_BT2020(light, levels_of(state), source_peak=state.source_peak)[moved]
                          * 1023).astype(np.int32)
    assert np.abs(got - want).max() <= 1
    below = sdr.max(axis=-1) < KNEE_CODE
    assert below.sum() > 5000 and np.array_equal(got[below], plain[below])
    assert np.abs(got - plain)[moved].max() > 10  # the stage shapes the disc: it can fail


class _Frames(Source):
    """The disc frame again and again at 30 frames a second, seekable (a seek restarts it)."""

    fps, is_live = 30.0, False

    def __init__(self, count=6, frame=None):
        self.count, self.frame = count, disc_frame() if frame is None else frame
        self.height, self.width = self.frame.shape[:2]

    def frames(self):
        for i in range(self.count):
            yield SourceFrame(i, i / self.fps, self.frame.copy(), time.perf_counter(), {}, duration=1 / self.fps)

    def seek(self, seconds):
        pass


def test_live_pipeline_sends_the_field_and_a_seek_resets_the_stage(known):
    op = create_operator("clut", OperatorConfig(source_curve="srgb"))
    resets = []
    reset = op.highlight.reset
    op.highlight.reset = lambda: (resets.append(1), reset())
    pipe = LivePipeline(_Frames(), op, on_gpu=gl_renderer.shader_can_expand)
    pipe.start()
    got = drain_live(pipe, lambda g: bool(g) and g[-1].index == 5)
    assert got and all(f.hdr is None and f.nodes is not None and f.shader is op for f in got)  # on the GPU
    want = stage_field(known, disc_frame())
    for f in got:  # the same frame each time: the smoothed field is that frame's field
        assert f.highlight_field.shape == want.shape and np.allclose(f.highlight_field, want, atol=1e-9)
    assert "highlight" in pipe.stats()
    pipe.seek(0.0)
    again = drain_live(pipe, lambda g: bool(g) and g[-1].index == 5)
    pipe.stop()
    assert again and resets and op.highlight.last_event in ("start", "smooth")

    blind = create_operator("clut", OperatorConfig())  # the blind LUT's own (level-free) stage goes as well
    pipe = LivePipeline(_Frames(2), blind, on_gpu=gl_renderer.shader_can_expand)
    pipe.start()
    got = drain_live(pipe, lambda g: bool(g) and g[-1].index == 1)
    pipe.stop()
    assert got and all(f.highlight_field is not None and f.lut is not None for f in got)
    want = stage_field(blind, disc_frame())
    assert all(np.allclose(f.highlight_field, want, atol=1e-6) for f in got)
    assert "highlight" in pipe.stats()


def test_frames_with_nothing_near_the_clip_go_without_a_field():
    """No pixel at the knee: the field would change nothing, so the window draws the plain program."""
    op = create_operator("clut", OperatorConfig(source_curve="srgb"))
    dim = np.minimum(disc_frame(), KNEE_CODE - 1).astype(np.uint8)
    pipe = LivePipeline(_Frames(2, dim), op, on_gpu=gl_renderer.shader_can_expand)
    pipe.start()
    got = drain_live(pipe, lambda g: bool(g) and g[-1].index == 1)
    pipe.stop()
    assert got and all(f.highlight_field is None and f.nodes is not None for f in got)
    assert op.highlight.field is not None  # the stage still followed the frames


def test_screenshot_light_of_a_staged_frame_is_the_stage_on_the_cpu(known):
    """The 's' key's EXR: the base light and the field the shader used (the stage is not run again)."""
    from types import SimpleNamespace

    from livehdr.pipeline import ProcessedFrame
    from livehdr.window import app

    sdr = disc_frame()
    field = stage_field(known, sdr)
    frame = ProcessedFrame(0, None, sdr, None, 0.0, 0.0, known.content_peak, shader=known,
                           nodes=known.relative_at_nodes(sdr), highlight_field=field)
    state = known.highlight.field
    hdr = app.LiveWindow.frame_hdr(SimpleNamespace(frame=frame))
    assert known.highlight.field is state  # no temporal update from the main thread
    fresh = create_operator("clut", OperatorConfig(source_curve="srgb"))
    np.testing.assert_allclose(hdr, fresh.expand_uint8(sdr), rtol=1e-5, atol=1e-6)


def test_window_offscreen_shows_the_stage(tmp_path):
    """The whole live window (offscreen EGL): the pipeline's field on the screen, as the numba kernel has it."""
    import av

    from livehdr.window import app

    op = create_operator("clut", OperatorConfig(levels=color.ReferenceLevels(), source_curve="srgb"))
    shot = tmp_path / "shot.png"
    settings = app.WindowSettings(levels=op.levels, offscreen=True, max_frames=4, mode="pq", screenshot=str(shot))
    models = app.ModelSwitcher((op.name,), lambda name, levels: op)
    source = _Frames(4, disc_frame(240, 320, cy=135, cx=160, radius=50.0))  # the HUD covers the top rows
    report = app.run_window(settings, source, op, models)
    assert report.presented >= 1 and "highlight" in report.stage_ms  # the first field loads numba: frames drop
    with av.open(str(shot)) as c:
        img = next(c.decode(video=0)).to_ndarray(format="rgb48le").astype(np.float64) / 65535
    sdr = source.frame
    nodes = op.relative_at_nodes(sdr)
    state = ViewState(view="hdr", mode="pq", source_peak=op.content_peak)
    field = stage_field(op, sdr)
    staged = T.HighlightField(field, nodes, levels_of(state), "rgb-pq", op.max_relative, state.source_peak)
    want = table_codes(sdr, nodes, state, staged) / 1023.0
    plain = table_codes(sdr, nodes, state) / 1023.0
    rows = slice(60, 210)  # below the HUD, above the picture's label
    # one 10-bit step, plus the window's +-1/2 step of dither and the PNG's 16-bit rounding
    assert np.abs(img[rows] - want[rows]).max() <= 1.6 / 1023
    assert np.abs(img[135, 160] - plain[135, 160]).min() > 10 / 1023  # the stage is what the window shows
