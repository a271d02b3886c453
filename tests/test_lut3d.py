"""3D LUTs on the CPU (issue #11): the numba trilinear against a numpy reference, the LUT fused with the
yuv420p10 packing against the two steps apart, and the file pipeline with a LUT operator against the same
operator run the generic way (same video, same measured MaxCLL / MaxFALL)."""
from __future__ import annotations

import numpy as np
import pytest

from _media import make_clip
from lut_double import GenericDouble, LUTDouble, expanding_lut
from livehdr.color import ReferenceLevels, lut_pack, pack
from livehdr.color.lut3d import LutFrame, apply_lut3d, apply_lut3d_reference, check_lut, code_tables
from livehdr.operators import OperatorConfig


def random_lut(d: int, seed: int = 0, top: float = 8.0) -> np.ndarray:
    return (np.random.default_rng(seed).random((d, d, d, 3)) * top).astype(np.float32)


def identity_lut(d: int) -> np.ndarray:
    axis = np.linspace(0.0, 1.0, d, dtype=np.float32)
    b, g, r = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.stack([r, g, b], axis=-1)


@pytest.mark.parametrize("d", [2, 17, 33])
def test_uint8_path_matches_the_numpy_reference(d):
    lut = random_lut(d, seed=d)
    frame = np.random.default_rng(1).integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    frame[0, :4] = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 128, 255]]  # corners and a mid code
    got = apply_lut3d(frame, lut)
    assert got.dtype == np.float32 and got.shape == frame.shape
    np.testing.assert_allclose(got, apply_lut3d_reference(frame, lut), rtol=1e-6, atol=1e-6)
    # Codes 0 and 255 land exactly on the LUT's corner entries.
    np.testing.assert_array_equal(got[0, 0], lut[0, 0, 0])
    np.testing.assert_allclose(got[0, 1], lut[-1, -1, -1], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got[0, 2], lut[0, 0, -1], rtol=1e-6, atol=1e-6)  # red: the last axis


@pytest.mark.parametrize("d", [2, 17, 33])
def test_float_path_clamps_and_matches_the_reference(d):
    lut = random_lut(d, seed=10 + d)
    rng = np.random.default_rng(2)
    frame = (rng.random((29, 31, 3)) * 1.4 - 0.2).astype(np.float32)  # some codes below 0 and above 1
    got = apply_lut3d(frame, lut)
    np.testing.assert_allclose(got, apply_lut3d_reference(frame, lut), rtol=1e-6, atol=1e-6)
    clamped = apply_lut3d(np.clip(frame, 0.0, 1.0), lut)
    np.testing.assert_array_equal(got, clamped)
    nan = frame.copy()
    nan[3, 4, 1] = np.nan  # NaN input reads as 0, never garbage
    np.testing.assert_allclose(apply_lut3d(nan, lut)[3, 4], apply_lut3d_reference(nan, lut)[3, 4], rtol=1e-6)


def test_uint8_and_float_inputs_agree_and_an_identity_lut_returns_the_codes():
    frame = np.random.default_rng(3).integers(0, 256, size=(16, 24, 3), dtype=np.uint8)
    lut = random_lut(33, seed=4)
    # float32 c / 255 is off by up to 3e-8, times D - 1 = 32 cells and the random LUT's slopes of up to 8 a cell.
    np.testing.assert_allclose(apply_lut3d(frame, lut), apply_lut3d(frame.astype(np.float32) / 255, lut),
                               rtol=1e-5, atol=1e-5)
    # Trilinear interpolation reproduces a linear function exactly: the identity LUT gives code / 255.
    np.testing.assert_allclose(apply_lut3d(frame, identity_lut(5)), frame / 255.0, atol=1e-6)


def test_code_tables_split_each_code_into_cell_and_fraction():
    cell, frac = code_tables(33)
    assert cell.shape == frac.shape == (256,)
    assert (cell[0], frac[0]) == (0, 0.0)
    assert (cell[255], frac[255]) == (31, pytest.approx(1.0))  # the last code ends the last cell
    np.testing.assert_allclose(cell + frac, np.arange(256) / 255 * 32, atol=1e-5)


def test_out_array_is_filled_and_bad_shapes_are_refused():
    frame = np.zeros((4, 6, 3), np.uint8)
    out = np.full((4, 6, 3), -1.0, np.float32)
    assert apply_lut3d(frame, random_lut(3), out=out) is out
    assert np.all(out >= 0)
    with pytest.raises(ValueError, match="D >= 2"):
        apply_lut3d(frame, np.zeros((1, 1, 1, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(D, D, D, 3\)"):
        apply_lut3d(frame, np.zeros((4, 4, 5, 3), np.float32))
    with pytest.raises(ValueError, match="H x W x 3"):
        apply_lut3d(np.zeros((4, 6), np.uint8), random_lut(3))
    with pytest.raises(ValueError, match="out must be"):
        apply_lut3d(frame, random_lut(3), out=np.empty((4, 6, 3), np.float64))


def test_non_finite_lut_entries_are_made_safe_for_the_kernels():
    lut = random_lut(3, top=2.0)
    lut[0, 0, 0, 0] = np.nan
    lut[1, 1, 1, 2] = np.inf
    safe = check_lut(lut)
    assert np.isfinite(safe).all() and safe[0, 0, 0, 0] == 0.0
    assert safe[1, 1, 1, 2] == np.nanmax(np.where(np.isinf(lut), np.nan, lut))


# ---- the LUT fused with the file encoding ---------------------------------------------------------------
def _planes(h, w):
    return np.empty((h, w), np.uint16), np.empty((h // 2, w // 2), np.uint16), np.empty((h // 2, w // 2), np.uint16)


@pytest.mark.parametrize("hlg", [False, True])
@pytest.mark.parametrize("d,paper_white,peak", [(33, 203.0, 1000.0), (17, 100.0, 600.0), (2, 203.0, 4000.0)])
def test_fused_lut_packing_equals_lut_then_packing(hlg, d, paper_white, peak):
    levels = ReferenceLevels(paper_white, peak)
    lut = expanding_lut(d, levels) * np.float32(1.5)  # beyond the peak: the roll-off has work to do
    lut[..., 1] = lut[..., 1] * random_lut(d, seed=5, top=1.0)[..., 0] + 0.01  # non-separable, saturated
    frame = np.random.default_rng(6).integers(0, 256, size=(48, 80, 3), dtype=np.uint8)
    frame[:8] = 255  # a white band at the top of the range
    source_peak = float(lut.max()) * paper_white
    fused, split = _planes(48, 80), _planes(48, 80)
    light_fused = lut_pack.lut_to_yuv420p10(frame, lut, *fused, paper_white, peak, hlg=hlg, seed=9,
                                            source_peak=source_peak)
    light_split = pack.relative_to_yuv420p10(apply_lut3d(frame, lut), *split, paper_white, peak, hlg=hlg, seed=9,
                                             source_peak=source_peak)
    for a, b in zip(fused, split):
        assert np.abs(a.astype(np.int32) - b.astype(np.int32)).max() <= 1
    assert light_fused == pytest.approx(light_split, rel=1e-5)
    assert 0.9 * peak <= light_fused[0] <= peak * (1 + 1e-6)  # the white band is rolled off near the peak
    assert fused[0].min() >= 4 and fused[0].max() <= 1019 and fused[0].std() > 20  # a real picture


def test_fused_packing_dithers_like_the_packing_and_refuses_bad_frames():
    lut = expanding_lut(33, ReferenceLevels())
    frame = np.full((16, 16, 3), 100, np.uint8)
    with_dither, without = _planes(16, 16), _planes(16, 16)
    lut_pack.lut_to_yuv420p10(frame, lut, *with_dither, 203.0, 1000.0, seed=1)
    lut_pack.lut_to_yuv420p10(frame, lut, *without, 203.0, 1000.0, dither=False)
    assert len(np.unique(with_dither[0])) > 1 and len(np.unique(without[0])) == 1
    assert np.abs(with_dither[0].astype(int) - without[0].astype(int)).max() <= 1
    with pytest.raises(ValueError, match="even sizes"):
        lut_pack.lut_to_yuv420p10(np.zeros((15, 16, 3), np.uint8), lut, *_planes(16, 16), 203.0, 1000.0)
    with pytest.raises(ValueError, match="uint8"):
        lut_pack.lut_to_yuv420p10(np.zeros((16, 16, 3), np.float32), lut, *_planes(16, 16), 203.0, 1000.0)


def test_lut_frame_is_what_the_generic_operator_returns():
    op = LUTDouble(OperatorConfig(input_gamma="2.2"))
    frame = np.random.default_rng(7).integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
    lut_frame = LutFrame(frame, op.lut_for_frame(frame))
    assert lut_frame.shape == frame.shape
    np.testing.assert_allclose(lut_frame.relative(), op.expand_uint8(frame), rtol=1e-6, atol=1e-6)


# ---- the file pipeline --------------------------------------------------------------------------------
def _convert(src, out, operator, max_frames=None):
    from livehdr.io.sources import FileSource
    from livehdr.pipeline.convert import ConversionSettings, run_conversion

    settings = ConversionSettings(output=str(out), levels=operator.levels, preset="ultrafast", encoder="libx265",
                                  max_frames=max_frames)
    return run_conversion(settings, FileSource(str(src)), operator)


def _decoded_planes(path):
    import av

    with av.open(str(path)) as c:
        out = []
        for f in c.decode(video=0):
            out.append([np.frombuffer(p, np.uint16).reshape(-1, p.line_size // 2)[:rows, :cols].copy()
                        for p, rows, cols in zip(f.planes, (f.height, f.height // 2, f.height // 2),
                                                 (f.width, f.width // 2, f.width // 2))])
    return out


def test_file_conversion_with_a_lut_operator_matches_the_generic_path(tmp_path):
    src = make_clip(tmp_path / "in.mkv", 160, 90, frames=6, rate=10, audio=False)
    levels = ReferenceLevels(203.0, 1000.0)
    fused_op = LUTDouble(OperatorConfig(levels=levels))
    generic_op = GenericDouble(OperatorConfig(levels=levels))
    fused = _convert(src, tmp_path / "fused.mkv", fused_op)
    generic = _convert(src, tmp_path / "generic.mkv", generic_op)
    assert fused_op.frames_seen == [(90, 160, 3)] * 6  # the operator stage asked for one LUT per frame
    assert fused.summary["frames"] == generic.summary["frames"] == 6
    # The light statistics come out of the fused kernel: MaxCLL / MaxFALL equal the generic path's.
    assert (fused.summary["max_cll"], fused.summary["max_fall"]) == (generic.summary["max_cll"],
                                                                      generic.summary["max_fall"])
    assert fused.summary["max_cll"] > 600  # testsrc2's white is expanded towards the 1000 cd/m2 peak
    a, b = _decoded_planes(tmp_path / "fused.mkv"), _decoded_planes(tmp_path / "generic.mkv")
    assert len(a) == len(b) == 6
    for fa, fb in zip(a, b):
        for pa, pb in zip(fa, fb):
            assert np.abs(pa.astype(np.int32) - pb.astype(np.int32)).max() <= 1


def test_writer_takes_float_code_values_in_a_lut_frame(tmp_path):
    """> 8-bit sources hand float code values on: the LUT's float path, then the ordinary packing."""
    from livehdr.io.hdr10 import HDR10Writer

    levels = ReferenceLevels()
    lut = expanding_lut(9, levels)
    codes = np.random.default_rng(8).random((48, 64, 3)).astype(np.float32)
    planes = []
    for name, picture in (("a", LutFrame(codes, lut)), ("b", apply_lut3d(codes, lut))):
        writer = HDR10Writer(str(tmp_path / f"{name}.mkv"), 64, 48, levels, fps=10, encoder="libx265",
                             preset="ultrafast")
        try:
            frame = writer.pack(picture)
            planes.append([np.frombuffer(p, np.uint16).copy() for p in frame.planes])
            light = (writer.max_cll, writer.max_fall)
        finally:
            writer.abort()
        assert light[0] > 0
    for pa, pb in zip(*planes):
        np.testing.assert_array_equal(pa, pb)


def test_torch_path_agrees_with_numba():
    """The third application path (grid_sample, livehdr.models.clut) against the numba kernel: 1e-3 relative."""
    torch = pytest.importorskip("torch")
    clut = pytest.importorskip("livehdr.models.clut")
    lut = random_lut(33, seed=12)
    frame = np.random.default_rng(13).integers(0, 256, size=(24, 40, 3), dtype=np.uint8)
    code = torch.from_numpy(frame.astype(np.float32) / 255).permute(2, 0, 1)[None]
    got = clut.apply_lut_torch(code, torch.from_numpy(lut)[None])[0].permute(1, 2, 0).numpy()
    want = apply_lut3d(frame, lut)
    assert (np.abs(got - want) / np.maximum(want, 1e-3)).max() <= 1e-3
