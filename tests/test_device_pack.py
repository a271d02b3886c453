"""The torch packing (engine/device_pack.py) against the numba kernels (color/pack.py): +-1 code value.

On CI this runs the torch code on the CPU; the same comparison on CUDA runs where a GPU is present.
"""
import numpy as np
import pytest
import torch

from livehdr.color import pack
from livehdr.engine.device_pack import dither_tpdf, relative_to_rgb10a2_torch, relative_to_yuv420p10_torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def frame(h=64, w=96, seed=0):
    """Relative light from black to 8x paper white (past a 1000-nit peak), plus exact greys and zeros."""
    rng = np.random.default_rng(seed)
    rel = (rng.random((h, w, 3), dtype=np.float32) ** 3 * 8.0).astype(np.float32)
    rel[:4] = 0.0
    rel[4:8] = 1.0
    return rel


def to_device(rel, device):
    return torch.from_numpy(rel).permute(2, 0, 1).contiguous().to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("hlg", [False, True])
@pytest.mark.parametrize("dither", [False, True])
@pytest.mark.parametrize("source_peak", [None, 1624.0])
def test_yuv420p10_matches_numba(device, hlg, dither, source_peak):
    rel = frame()
    h, w = rel.shape[:2]
    y, u, v = (np.zeros((h, w), np.uint16), np.zeros((h // 2, w // 2), np.uint16),
               np.zeros((h // 2, w // 2), np.uint16))
    cll, fall = pack.relative_to_yuv420p10(rel, y, u, v, 203.0, 1000.0, hlg=hlg, dither=dither, seed=7,
                                           source_peak=source_peak)
    ty, tu, tv, tcll, tfall = relative_to_yuv420p10_torch(to_device(rel, device), 203.0, 1000.0, hlg=hlg,
                                                          dither=dither, seed=7, source_peak=source_peak)
    for ref, got in ((y, ty), (u, tu), (v, tv)):
        got = got.cpu().numpy().view(np.uint16)
        assert got.shape == ref.shape
        diff = np.abs(got.astype(int) - ref.astype(int))
        assert diff.max() <= 1, diff.max()
        assert (diff == 0).mean() > 0.97  # +-1 only where the PQ table and the closed form round apart
    assert float(tcll) == pytest.approx(cll, rel=1e-4)
    assert float(tfall) == pytest.approx(fall, rel=1e-4)
    # The highlights really went over the knee: the comparison covered the roll-off, not only mid-tones.
    assert cll > 750.0


def test_dither_is_bit_identical_to_the_numba_hash():
    d = dither_tpdf(5, 7, 2, 1234, "cpu").numpy()
    ref = np.array([[pack._dither.py_func(x, y, 2, 1234) for x in range(7)] for y in range(5)], np.float32)
    np.testing.assert_array_equal(d, ref)
    assert -1.0 < d.min() < 0.0 < d.max() < 1.0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["pq", "sdr"])
def test_rgb10a2_matches_numba(device, mode):
    rel = frame(seed=3)
    ref = pack.relative_to_rgb10a2(rel, 203.0, 1000.0, mode=mode)
    got = relative_to_rgb10a2_torch(to_device(rel, device), 203.0, 1000.0, mode=mode).cpu().numpy().view(np.uint32)
    assert got.shape == ref.shape
    assert np.all(got >> 30 == 3)
    diff = np.abs(pack.unpack_rgb10a2(got).astype(int) - pack.unpack_rgb10a2(ref).astype(int))
    assert diff.max() <= 1


def test_odd_sizes_and_wrong_layouts_are_refused():
    with pytest.raises(ValueError, match="even"):
        relative_to_yuv420p10_torch(torch.zeros(3, 5, 8), 203.0, 1000.0)
    with pytest.raises(ValueError, match="3 x H x W"):
        relative_to_yuv420p10_torch(torch.zeros(8, 8, 3), 203.0, 1000.0)
    with pytest.raises(ValueError, match="mode"):
        relative_to_rgb10a2_torch(torch.zeros(3, 8, 8), 203.0, 1000.0, mode="hlg")


# --------------------------------------------------------------------------------------------------------
# The whole frame path (engine/frame_path.py): upload -> model -> pack -> download
# --------------------------------------------------------------------------------------------------------
def _numba_planes(rel):
    h, w = rel.shape[:2]
    y, u, v = (np.zeros((h, w), np.uint16), np.zeros((h // 2, w // 2), np.uint16),
               np.zeros((h // 2, w // 2), np.uint16))
    cll, fall = pack.relative_to_yuv420p10(rel, y, u, v, 203.0, 1000.0, seed=5)
    return y, u, v, cll, fall


def _sdr_frame(h=64, w=96):
    rng = np.random.default_rng(11)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img[:8] = 255  # clipped white: the highlights the model expands
    return img


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model_name", ["naive", "mqnet"])
def test_frame_path_equals_operator_then_numba_packing(device, model_name):
    from livehdr.engine.frame_path import DeviceFramePath
    from livehdr.operators import OperatorConfig, create_operator

    op = create_operator(model_name, OperatorConfig(device=device, precision="fp32"))
    img = _sdr_frame()
    ref = _numba_planes(op.expand_uint8(img))
    path = DeviceFramePath(lambda x: op(x), device, 203.0, 1000.0)
    for _ in range(3):  # slots alternate: every one gives the same planes
        got = path.planes(img, seed=5)
        for r, g in zip(ref[:3], (got.y, got.u, got.v)):
            assert g.dtype == np.uint16 and g.shape == r.shape
            assert np.abs(g.astype(int) - r.astype(int)).max() <= 1
        assert got.max_cll == pytest.approx(ref[3], rel=1e-3)
        assert got.frame_average == pytest.approx(ref[4], rel=1e-3)


def test_graphs_stay_off_on_the_cpu_and_frames_must_be_even():
    from livehdr.engine.frame_path import DeviceFramePath, GraphedModel

    calls = []
    g = GraphedModel(lambda x: calls.append(1) or x, torch.device("cpu"))
    assert not g.enabled and g(torch.ones(1)).item() == 1.0 and calls == [1]
    path = DeviceFramePath(lambda x: x, "cpu", 203.0, 1000.0)
    with pytest.raises(ValueError, match="even"):
        path.planes(np.zeros((5, 8, 3), np.uint8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_replay_equals_eager():
    from livehdr.engine.frame_path import GraphedModel
    from livehdr.operators import OperatorConfig, create_operator

    op = create_operator("mqnet", OperatorConfig(device="cuda", precision="fp32"))
    x = torch.rand(1, 3, 64, 96, device="cuda")
    eager = op(x)
    graphed = GraphedModel(lambda t: op(t), torch.device("cuda"))
    out = graphed(x).clone()
    assert graphed.capture_error is None and graphed._graphs
    torch.testing.assert_close(out, eager, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------------------------
# Y'CbCr -> R'G'B' on the device (engine/device_convert.py) against the CPU decode path (io/sources.py)
# --------------------------------------------------------------------------------------------------------
def _planes(frame, dtype):
    out = []
    for p in frame.planes:
        item = np.dtype(dtype).itemsize
        out.append(np.frombuffer(p, dtype).reshape(p.height, p.line_size // item)[:, : p.width].copy())
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("color_range,full", [(1, False), (2, True)])
def test_deep_ycbcr_on_the_device_equals_the_cpu_definition(device, color_range, full):
    import av

    from livehdr.color.primaries import WEIGHTS_BT709
    from livehdr.engine.device_convert import ycbcr420_to_rgb_torch
    from livehdr.io import sources

    rng = np.random.default_rng(2)
    f = av.VideoFrame(34, 17, "yuv420p10le")  # odd height: the chroma plane is rounded up
    for plane in f.planes:
        buf = np.frombuffer(plane, np.uint16)
        buf[:] = rng.integers(64, 941, buf.size)
    f.colorspace, f.color_range = 1, color_range
    ref = sources.frame_to_rgb(f)
    y, cb, cr = (torch.from_numpy(p.astype(np.int32)).to(device) for p in _planes(f, np.uint16))
    got = ycbcr420_to_rgb_torch(y, cb, cr, bits=10, kr=WEIGHTS_BT709[0], kb=WEIGHTS_BT709[2], full_range=full)
    np.testing.assert_allclose(got.permute(1, 2, 0).cpu().numpy(), ref, atol=2e-6)
    assert 0.0 < ref.mean() < 1.0


def test_8bit_ycbcr_on_the_device_is_within_a_code_of_swscale_on_smooth_chroma():
    import av

    from livehdr.color.primaries import WEIGHTS_BT709
    from livehdr.engine.device_convert import ycbcr420_to_rgb_torch
    from livehdr.io import sources

    f = av.VideoFrame(64, 32, "yuv420p")
    yy, xx = np.mgrid[0:32, 0:64]
    luma = (40 + 3 * xx + yy).astype(np.uint8)
    chroma_u = np.full((16, 32), 100, np.uint8)
    chroma_v = np.full((16, 32), 170, np.uint8)
    for plane, values in zip(f.planes, (luma, chroma_u, chroma_v)):
        view = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        view[:, : plane.width] = values
    f.colorspace, f.color_range = 1, 1
    ref = sources.frame_to_rgb(f).astype(int)
    y, cb, cr = (torch.from_numpy(p.astype(np.int32)) for p in _planes(f, np.uint8))
    got = ycbcr420_to_rgb_torch(y, cb, cr, bits=8, kr=WEIGHTS_BT709[0], kb=WEIGHTS_BT709[2])
    got8 = np.round(got.permute(1, 2, 0).numpy() * 255).astype(int)
    assert np.abs(got8 - ref).max() <= 1


def test_wrong_chroma_planes_are_refused():
    from livehdr.engine.device_convert import ycbcr420_to_rgb_torch

    with pytest.raises(ValueError, match="chroma"):
        ycbcr420_to_rgb_torch(torch.zeros(8, 8), torch.zeros(8, 8), torch.zeros(8, 8), bits=8, kr=0.2, kb=0.1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_gpu_measurement_refuses_without_cuda():
    from livehdr.engine.cuda_timing import measure

    with pytest.raises(RuntimeError, match="no CUDA"):
        measure(lambda: None, sizes=((64, 32),), repeats=1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_measurement_reports_every_stage():
    from livehdr.engine.cuda_timing import measure
    from livehdr.operators import OperatorConfig, create_operator

    report = measure(lambda: create_operator("mqnet", OperatorConfig(device="cuda", precision="fp16")),
                     sizes=((256, 128),), repeats=2)
    row = report["sizes"]["256x128"]
    assert report["startup_to_first_frame_s"] > 0
    assert all(row[k] > 0 for k in ("model_eager_ms", "model_graph_ms", "frame_path_ms"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_bench_gpu_without_cuda_is_one_line(capsys):
    from livehdr import bench

    assert bench.main(["--gpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["livehdr: error: --gpu needs a CUDA device, and torch sees none"]
