"""The composed table in the window (issue #21): present.frag's SHADER_TABLE path read back from a 10-bit GL
target against the numba table kernel (color.table.table_to_rgb10a2), for the hdr view and the side-by-side
compare view, in PQ and in the SDR preview; and the live pipeline handing the window the operator's nodes."""
from __future__ import annotations

import numpy as np
import pytest

from livehdr import color
from livehdr.color import pack
from livehdr.color import table as T
from livehdr.operators import OperatorConfig, create_operator
from livehdr.operators.lut import relative_at_nodes_of_lut
from livehdr.window import renderer as gl_renderer
from livehdr.window.renderer import Renderer, ViewState


@pytest.fixture(scope="module")
def egl():
    import moderngl

    ctx = moderngl.create_standalone_context(backend="egl")
    yield ctx
    gl_renderer.release_standalone(ctx)


def sample_frame(h=48, w=64, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sdr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    sdr[0] = np.arange(w)[:, None] * 255 // (w - 1)  # a grey ramp over the whole range
    sdr[1, :8] = [[0, 0, 0], [255, 255, 255], [255, 0, 128], [1, 1, 1], [2, 0, 9], [250, 252, 255],
                  [247, 247, 247], [24, 24, 24]]  # black, white, the shaper's region edges
    return sdr


def nodes_and_upload(name: str, sdr: np.ndarray):
    op = create_operator(name, OperatorConfig())
    if getattr(op, "applies_lut", False):
        lut = op.lut_for_frame(sdr)
        return relative_at_nodes_of_lut(lut), (lambda r: r.upload_lut(sdr, lut))
    return op.relative_at_nodes(sdr), (lambda r: r.upload_sdr(sdr, op.shader_curve, gl_renderer.shader_uniforms(op)))


def draw(ctx, upload, nodes, state: ViewState, size) -> np.ndarray:
    r = Renderer(ctx)
    upload(r)
    r.set_table(nodes)
    fbo = gl_renderer.create_offscreen_target(ctx, *size)
    r.draw(fbo, size, state)
    shot = r.read(fbo)
    fbo.release()
    r.release()
    return np.rint(shot * 1023).astype(np.int32)


def numba_codes(sdr, nodes, state: ViewState) -> np.ndarray:
    levels = color.ReferenceLevels(state.paper_white, state.peak)
    target = "rgb-pq" if state.mode == "pq" else "rgb-sdr"
    table = T.compose_table(nodes, levels, target, state.peak if state.source_peak is None else state.source_peak)
    return pack.unpack_rgb10a2(T.table_to_rgb10a2(sdr, table)).astype(np.int32)


@pytest.mark.parametrize("name", ["naive", "bt2446a", "clut"])
@pytest.mark.parametrize("mode", ["pq", "sdr"])
def test_hdr_view_from_the_table_equals_the_numba_table_path(egl, name, mode):
    sdr = sample_frame()
    nodes, upload = nodes_and_upload(name, sdr)
    state = ViewState(view="hdr", mode=mode, dither=0.0, source_peak=1000.0)
    got = draw(egl, upload, nodes, state, (64, 48))
    want = numba_codes(sdr, nodes, state)
    assert np.abs(got - want).max() <= 1
    assert got.max() - got.min() > 300  # a real picture, not a flat field


@pytest.mark.parametrize("mode", ["pq", "sdr"])
def test_compare_view_is_the_sdr_table_beside_the_operator_table(egl, mode):
    sdr = sample_frame(seed=2)
    nodes, upload = nodes_and_upload("bt2446c", sdr)
    state = ViewState(view="split", layout="side", mode=mode, dither=0.0)
    got = draw(egl, upload, nodes, state, (128, 48))
    sdr_nodes = color.eotf_input(T.table_nodes(), "srgb").astype(np.float32)
    left, right = got[:, :64], got[:, 64:]
    # the divider line covers the middle few columns
    assert np.abs(left[:, :60] - numba_codes(sdr, sdr_nodes, state)[:, :60]).max() <= 1
    assert np.abs(right[:, 4:] - numba_codes(sdr, nodes, state)[:, 4:]).max() <= 1
    assert np.abs(left[:, :60] - right[:, :60]).max() > 20  # the two sides differ: bt2446c expands


def test_table_path_agrees_with_the_curve_path_and_follows_the_peak(egl):
    """The same picture as today's per-pixel shader curve (within the table's own error), and a changed
    view encoding (peak key) composes the tables again."""
    sdr = sample_frame(seed=3)
    op = create_operator("naive", OperatorConfig())
    r = Renderer(egl)
    r.upload_sdr(sdr, op.shader_curve, gl_renderer.shader_uniforms(op))
    fbo = gl_renderer.create_offscreen_target(egl, 64, 48)
    state = ViewState(view="hdr", mode="pq", dither=0.0)
    r.draw(fbo, (64, 48), state)
    curve = np.rint(r.read(fbo) * 1023)
    r.set_table(op.relative_at_nodes(sdr))
    r.draw(fbo, (64, 48), state)
    table = np.rint(r.read(fbo) * 1023)
    assert np.abs(curve - table).max() <= 1
    state.peak, state.source_peak = 250.0, 1000.0  # knee 187.5 cd/m2: white (203) is rolled off now
    r.draw(fbo, (64, 48), state)
    rolled = np.rint(r.read(fbo) * 1023)
    assert r.curve == "naive" and rolled.max() < table.max()
    assert np.abs(rolled - numba_codes(sdr, op.relative_at_nodes(sdr), state)).max() <= 1
    fbo.release()
    r.release()


def test_heatmap_keeps_the_light_path(egl):
    sdr = sample_frame(seed=4)
    nodes, upload = nodes_and_upload("naive", sdr)
    r = Renderer(egl)
    upload(r)
    r.set_table(nodes)
    fbo = gl_renderer.create_offscreen_target(egl, 64, 48)
    r.draw(fbo, (64, 48), ViewState(view="heatmap", mode="sdr", dither=0.0))
    assert ("heatmap", "sdr", "naive") in r._programs  # the curve's program, not SHADER_TABLE's
    assert ("heatmap", "sdr", gl_renderer.SHADER_TABLE) not in r._programs
    fbo.release()
    r.release()


def test_preview_exposure_key_darkens_both_sides_by_its_stops(egl):
    """'e' steps the SDR preview 0, -1, -2, -3 stops: the light of both sides scaled before the preview curve
    (the SDR input's clipped highlights go grey, the expansion's keep their detail)."""
    from livehdr.window.controls import Controls

    sdr = sample_frame(seed=5)
    sdr[2:, :] = [255, 255, 255]  # a clipped white area
    nodes, upload = nodes_and_upload("bt2446a", sdr)
    state = ViewState(view="split", layout="side", mode="sdr", dither=0.0)
    controls = Controls(state)
    shots = {}
    for stops in (0.0, -1.0, -2.0):
        assert state.exposure == stops
        shots[stops] = draw(egl, upload, nodes, state, (128, 48))
        gain = 2.0 ** stops
        sdr_nodes = color.eotf_input(T.table_nodes(), "srgb").astype(np.float32)
        assert np.abs(shots[stops][:, 4:60] - numba_codes(sdr, sdr_nodes * gain, state)[:, 4:60]).max() <= 1
        assert np.abs(shots[stops][:, 68:] - numba_codes(sdr, nodes * gain, state)[:, 4:]).max() <= 1
        controls.handle("exposure")
    assert "-3 stops" in controls.message
    left0, right0 = shots[0.0][10:, 4:60], shots[0.0][10:, 68:124]
    left2, right2 = shots[-2.0][10:, 4:60], shots[-2.0][10:, 68:124]
    assert left2.mean() < left0.mean() - 100 and right2.mean() < right0.mean() - 100
    # at -2 stops the expanded white is brighter than the SDR white, the detail the key is for
    assert right2.mean() > left2.mean() + 20
    controls.handle("exposure")
    assert state.exposure == 0.0
