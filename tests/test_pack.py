"""numba kernels against a plain numpy reference built from color.py (+-1 code value)."""
import numpy as np
import pytest

from livehdr import color
from livehdr.color import pack

LEVELS = color.ReferenceLevels()


def _frame(h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    rel = rng.random((h, w, 3), dtype=np.float32) ** 3 * LEVELS.headroom
    rel[0, :] = np.linspace(0, LEVELS.headroom, w, dtype=np.float32)[:, None]  # a full-range ramp row
    rel[1, :] = 0.0
    return rel


def _reference_yuv420p10(rel, hlg=False):
    enc = color.encode_HLG_BT2020 if hlg else color.encode_PQ_BT2020
    rgb = enc(rel.astype(np.float64), LEVELS)
    kr, kg, kb = color.WEIGHTS_BT2020
    Y = kr * rgb[..., 0] + kg * rgb[..., 1] + kb * rgb[..., 2]
    Cb = (rgb[..., 2] - Y) / 1.8814
    Cr = (rgb[..., 0] - Y) / 1.4746
    h, w = Y.shape
    box = lambda p: p.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))  # noqa: E731
    q = lambda v, lo, hi: np.clip(np.floor(v + 0.5), lo, hi)  # noqa: E731
    return q(876 * Y + 64, 4, 1019), q(896 * box(Cb) + 512, 4, 1019), q(896 * box(Cr) + 512, 4, 1019), rgb


@pytest.mark.parametrize("hlg", [False, True])
def test_yuv420p10_matches_numpy_reference(hlg):
    rel = _frame()
    y = np.zeros((48, 64), np.uint16)
    u = np.zeros((24, 32), np.uint16)
    v = np.zeros((24, 32), np.uint16)
    max_cll, fall = pack.relative_to_yuv420p10(rel, y, u, v, LEVELS.paper_white, LEVELS.peak, hlg=hlg, dither=False)
    ry, ru, rv, _ = _reference_yuv420p10(rel, hlg)
    assert np.abs(y.astype(int) - ry).max() <= 1
    assert np.abs(u.astype(int) - ru).max() <= 1
    assert np.abs(v.astype(int) - rv).max() <= 1
    nits = color.relative_BT709_to_display_nits_BT2020(rel.astype(np.float64), LEVELS).max(axis=-1)
    assert max_cll == pytest.approx(nits.max(), rel=1e-4)
    assert fall == pytest.approx(nits.mean(), rel=1e-4)


def test_known_code_values():
    # Paper white (203 cd/m2) -> PQ 0.5807 -> limited-range luma 64 + 876 * 0.5807 = 572.7 -> 573; neutral chroma.
    rel = np.ones((2, 2, 3), np.float32)
    y, u, v = np.zeros((2, 2), np.uint16), np.zeros((1, 1), np.uint16), np.zeros((1, 1), np.uint16)
    pack.relative_to_yuv420p10(rel, y, u, v, 203.0, 1000.0, dither=False)
    assert (y == 573).all() and u[0, 0] == 512 and v[0, 0] == 512
    # Black sits at the PQ floor: code 64.
    pack.relative_to_yuv420p10(rel * 0, y, u, v, 203.0, 1000.0, dither=False)
    assert (y == 64).all()


def test_dither_is_bounded_and_breaks_up_flat_areas():
    rel = np.full((64, 64, 3), 0.37, np.float32)
    y0, y1 = np.zeros((64, 64), np.uint16), np.zeros((64, 64), np.uint16)
    u, v = np.zeros((32, 32), np.uint16), np.zeros((32, 32), np.uint16)
    pack.relative_to_yuv420p10(rel, y0, u, v, 203.0, 1000.0, dither=False)
    pack.relative_to_yuv420p10(rel, y1, u, v, 203.0, 1000.0, dither=True, seed=7)
    diff = y1.astype(int) - y0.astype(int)
    assert np.abs(diff).max() <= 1 and len(np.unique(y1)) >= 2
    # Unbiased: the dithered mean recovers the exact (unquantised) code value that rounding loses.
    exact = 876 * color.encode_PQ_BT2020(np.full((1, 1, 3), 0.37), LEVELS)[0, 0, 0] + 64
    assert abs(y1.mean() - exact) < 0.05 < abs(y0.mean() - exact)


def test_writes_into_strided_planes():
    # Encoder planes have padded rows (line_size > width): the kernel must honour the stride.
    rel = _frame(8, 10)
    buf_y = np.zeros((8, 16), np.uint16)
    buf_u = np.zeros((4, 16), np.uint16)
    buf_v = np.zeros((4, 16), np.uint16)
    pack.relative_to_yuv420p10(rel, buf_y[:, :10], buf_u[:, :5], buf_v[:, :5], 203.0, 1000.0, dither=False)
    ry, ru, _, _ = _reference_yuv420p10(rel)
    assert np.abs(buf_y[:, :10].astype(int) - ry).max() <= 1 and (buf_y[:, 10:] == 0).all()
    assert np.abs(buf_u[:, :5].astype(int) - ru).max() <= 1 and (buf_u[:, 5:] == 0).all()


def test_odd_sizes_are_refused():
    with pytest.raises(ValueError):
        pack.relative_to_yuv420p10(np.zeros((3, 4, 3), np.float32), np.zeros((3, 4), np.uint16),
                                   np.zeros((1, 2), np.uint16), np.zeros((1, 2), np.uint16), 203.0, 1000.0)


@pytest.mark.parametrize("mode", ["pq", "sdr"])
def test_rgb10a2_matches_numpy_reference(mode):
    rel = _frame(17, 23)  # odd sizes are fine for RGB10_A2
    words = pack.relative_to_rgb10a2(rel, 203.0, 1000.0, mode)
    assert words.dtype == np.uint32 and words.shape == (17, 23)
    assert ((words >> 30) == 3).all()  # alpha = opaque
    code = color.encode_PQ_BT2020(rel.astype(np.float64), LEVELS) if mode == "pq" else \
        color.tonemap_preview_SDR(rel.astype(np.float64), LEVELS)
    assert np.abs(pack.unpack_rgb10a2(words).astype(int) - np.floor(code * 1023 + 0.5)).max() <= 1


def test_pq_kernel_matches_color():
    nits = np.geomspace(1e-3, 10000, 5000).astype(np.float32).reshape(50, 100)
    np.testing.assert_allclose(pack.eotf_inverse_ST2084_numba(nits), color.eotf_inverse_ST2084(nits.astype(np.float64)),
                               atol=2e-6)
