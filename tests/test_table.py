"""The composed table (color/table.py): one lookup per pixel from 8-bit code values to the encoder's planes,
against today's exact float path (the operator's float output through pack.relative_to_yuv420p10)."""
from __future__ import annotations

import glob
import os

import numpy as np
import pytest

from livehdr import color, scenes
from livehdr.color import pack
from livehdr.color import table as T
from livehdr.color.lut3d import apply_lut3d
from livehdr.operators.base import OperatorConfig
from livehdr.operators.registry import create_operator

POINTWISE = ("naive", "bt2446a", "bt2446c", "clut")


def _tolerance(name: str, hlg: bool) -> int:
    """Codes of 10 bits the table may differ by. HLG spends all 1023 codes below the display peak (PQ about
    770), so the clut model's steep highlight gain costs up to 3 HLG codes between nodes (measured: grey
    codes 237-246)."""
    return 3 if hlg and name == "clut" else 1


LEVELS = color.ReferenceLevels()
SHARED_HDRI = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "hdri-extra")


def _planes(h, w):
    return [np.zeros((h, w), np.uint16), np.zeros((h // 2, w // 2), np.uint16), np.zeros((h // 2, w // 2), np.uint16)]


def _both_paths(name: str, frame: np.ndarray, hlg: bool = False):
    """(exact planes, exact stats, table planes, table stats) for one frame, dither off."""
    op = create_operator(name, OperatorConfig())
    levels = LEVELS.for_content(op.content_peak)
    if getattr(op, "applies_lut", False):
        lut = op.lut_for_frame(frame)
        rel = apply_lut3d(frame, lut)
        from livehdr.operators.lut import relative_at_nodes_of_lut

        at_nodes = relative_at_nodes_of_lut(lut)
    else:
        rel = op.expand_uint8(frame)
        at_nodes = op.relative_at_nodes(frame)
    h, w = frame.shape[:2]
    exact = _planes(h, w)
    exact_stats = pack.relative_to_yuv420p10(rel, *exact, levels.paper_white, levels.peak, hlg=hlg, dither=False,
                                             source_peak=levels.source_peak)
    table = T.compose_table(at_nodes, levels, "hlg" if hlg else "pq")
    fast = _planes(h, w)
    fast_stats = T.table_to_yuv420p10(frame, table, *fast, dither=False)
    return exact, exact_stats, fast, fast_stats


def _max_code_diff(a, b) -> int:
    return max(int(np.abs(x.astype(np.int32) - y.astype(np.int32)).max()) for x, y in zip(a, b))


def _ramps() -> np.ndarray:
    """Grey, red, green, blue, yellow, cyan, magenta ramps over all 256 codes: 8 x 256 x 3 (even rows)."""
    codes = np.arange(256, dtype=np.uint8)
    rows = []
    for mask in ((1, 1, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (0, 1, 1), (1, 0, 1), (1, 1, 1)):
        rows.append(np.stack([codes * m for m in mask], axis=-1))
    return np.repeat(np.stack(rows), 2, axis=0).astype(np.uint8)  # each row twice: 4:2:0 pairs see one colour


def _cube(step: int = 5) -> np.ndarray:
    """Every code triple on a grid of ``step`` (and the top code), 2x2-replicated so chroma pairs are flat."""
    v = np.unique(np.r_[np.arange(0, 256, step), 255]).astype(np.uint8)
    r, g, b = np.meshgrid(v, v, v, indexing="ij")
    cube = np.stack([r, g, b], axis=-1).reshape(len(v) ** 2, len(v), 3)
    return np.repeat(np.repeat(cube, 2, axis=0), 2, axis=1)


def _scenes() -> list[np.ndarray]:
    frames = [np.asarray(scenes.demo_frame_sdr(t, 320, 180), dtype=np.uint8) for t in (0.5, 3.0, 7.5)]
    for path in sorted(glob.glob(os.path.join(SHARED_HDRI, "*.exr")))[:3]:  # real scenes when shared/ is there
        from livehdr.io.imagefiles import read_exr

        hdr = np.asarray(read_exr(path), dtype=np.float32)[::4, ::4][:180, :320]
        sdr = color.eotf_inverse_sRGB(np.clip(hdr / max(float(np.median(hdr)) * 5, 1e-6), 0, 1))
        frames.append((np.asarray(sdr)[: hdr.shape[0] & ~1, : hdr.shape[1] & ~1] * 255 + 0.5).astype(np.uint8))
    return frames


def test_shaper_nodes_are_the_coordinates_inverse():
    assert T.TABLE_SIZE == len(T.node_values()) == 42
    np.testing.assert_allclose(T.table_coordinate(T.node_values()), np.arange(T.TABLE_SIZE), atol=1e-9)
    # above the black region the nodes include every one of the clut model's own k / 32
    assert set(np.round(np.arange(T.BLACK_CELLS, 33) / 32, 12)) <= set(np.round(T.node_values(), 12))
    assert (np.diff(T.node_values()) > 0).all()
    cell, frac = T.code_cells()
    assert cell.min() == 0 and cell.max() == T.TABLE_SIZE - 2 and 0 <= frac.min() and frac.max() <= 1


@pytest.mark.parametrize("target", T.TARGETS)
def test_compose_matches_encode_reference(target):
    rel = create_operator("bt2446a", OperatorConfig()).relative_at_nodes(None)
    for levels in (LEVELS, color.ReferenceLevels(100, 600, 1000)):
        fast = T.compose_table(rel, levels, target)
        ref = T.compose_table_reference(rel, levels, target)
        assert np.abs(fast[..., :3] - ref[..., :3]).max() * 1023 < 1e-3
        np.testing.assert_allclose(fast[..., 3], ref[..., 3], rtol=1e-5, atol=1e-4)


def test_pq_reference_values_at_nodes():
    """Spec anchors through the table: black -> Y' code 64, paper white grey -> PQ(203) = 0.58 (BT.2408)."""
    table = T.compose_table(create_operator("naive", OperatorConfig()).relative_at_nodes(None), LEVELS, "pq")
    assert table[0, 0, 0, 0] == pytest.approx(0.0, abs=1e-6)
    top = table[-1, -1, -1]
    assert top[0] == pytest.approx(float(color.eotf_inverse_ST2084(203.0)), abs=1e-4)  # 0.5806
    assert abs(top[1]) < 1e-6 and abs(top[2]) < 1e-6 and top[3] == pytest.approx(203.0, rel=1e-5)


@pytest.mark.parametrize("name", POINTWISE)
@pytest.mark.parametrize("hlg", [False, True])
def test_ramps_within_one_code(name, hlg):
    exact, es, fast, fs = _both_paths(name, _ramps(), hlg)
    assert _max_code_diff(exact, fast) <= _tolerance(name, hlg)
    assert fs[0] == pytest.approx(es[0], rel=0.01) and fs[1] == pytest.approx(es[1], rel=0.01)


@pytest.mark.parametrize("name", POINTWISE)
def test_scenes_within_one_code_and_metadata_within_one_percent(name):
    for frame in _scenes():
        for hlg in (False, True):
            exact, es, fast, fs = _both_paths(name, frame, hlg)
            assert _max_code_diff(exact, fast) <= _tolerance(name, hlg), (name, hlg, frame.shape)
            assert fs[0] == pytest.approx(es[0], rel=0.01)  # MaxCLL
            assert fs[1] == pytest.approx(es[1], rel=0.01)  # MaxFALL


@pytest.mark.parametrize("name", POINTWISE)
def test_colour_cube_error_as_measured(name):
    """The whole cube (every 5th code): the worst cells are saturated darks (docs/BENCHMARKS.md); 99.9 % of
    the cube stays within one code and nothing is more than 4 off."""
    exact, _, fast, _ = _both_paths(name, _cube())
    diffs = np.concatenate([np.abs(a.astype(np.int32) - b.astype(np.int32)).ravel() for a, b in zip(exact, fast)])
    assert np.quantile(diffs, 0.999) <= 1
    assert diffs.max() <= 4


def test_dither_matches_the_float_kernels():
    """Same hash, same seed: with dither on the two paths still agree to one code."""
    frame = _scenes()[1]
    op = create_operator("naive", OperatorConfig())
    h, w = frame.shape[:2]
    exact, fast = _planes(h, w), _planes(h, w)
    pack.relative_to_yuv420p10(op.expand_uint8(frame), *exact, 203.0, 1000.0, seed=7)
    T.table_to_yuv420p10(frame, T.compose_table(op.relative_at_nodes(frame), LEVELS, "pq"), *fast, seed=7)
    assert _max_code_diff(exact, fast) <= 1
    undithered = _planes(h, w)
    T.table_to_yuv420p10(frame, T.compose_table(op.relative_at_nodes(frame), LEVELS, "pq"), *undithered,
                         dither=False)
    assert _max_code_diff(undithered, fast) == 1  # the dither did move codes


@pytest.mark.parametrize("target", ["rgb-pq", "rgb-sdr"])
def test_rgb10a2_equals_reference_interpolation(target):
    frame = _scenes()[2]
    table = T.compose_table(create_operator("bt2446c", OperatorConfig()).relative_at_nodes(frame), LEVELS, target)
    words = T.table_to_rgb10a2(frame, table)
    ref = np.clip(np.floor(T.apply_table_reference(frame, table)[..., :3] * 1023 + 0.5), 0, 1023)
    assert np.abs(pack.unpack_rgb10a2(words).astype(np.int32) - ref).max() <= 1
    assert (words >> 30 == 3).all()


def test_table_frame_refuses_the_other_transfer():
    frame = np.zeros((4, 4, 3), np.uint8)
    table = T.compose_table(create_operator("naive", OperatorConfig()).relative_at_nodes(frame), LEVELS, "pq")
    tf = T.TableFrame(frame, table, "pq")
    y, u, v = _planes(4, 4)
    with pytest.raises(ValueError, match="cannot be packed as HLG"):
        tf.pack_into(y, u, v, 203.0, 1000.0, hlg=True)
    tf.pack_into(y, u, v, 203.0, 1000.0, dither=False)
    assert (y == 64).all() and (u == 512).all() and (v == 512).all()  # black
