"""The highlight stage (issue #23) on the torch frame path (engine/device_table.py, pipeline/device_frames.py)
against the numba table kernel: the same field, the same gained pixels to +-1 code value, the same MaxCLL;
whole conversions with a known source curve agree between LIVEHDR_FRAME_PATH=torch-cpu and the numba path;
the blind clut without its stage is packed exactly as before. On CI the torch side runs on the CPU."""
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from livehdr.color import ReferenceLevels
from livehdr.color import highlight as hl
from livehdr.color.table import HighlightField, TableFrame, compose_table
from livehdr.engine import frame_path_choice as choice
from livehdr.engine.device_frame import DeviceTableFrame
from livehdr.engine.device_table import DeviceHighlight, table_to_yuv420p10_torch
from livehdr.io import hdr10
from livehdr.io.sources import FileSource
from livehdr.models.highlight import HighlightMLP
from livehdr.operators import OperatorConfig, create_operator
from livehdr.operators.highlight import HighlightStage
from livehdr.pipeline import ConversionSettings, device_frames, run_conversion
from livehdr.pipeline.stages import TableComposer

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _disc_frame(h=240, w=320, seed=0, shift=0):
    """Noise below code 200, a clipped disc, a soft ramp up to the clip around it, a near-clipped red patch."""
    rng = np.random.default_rng(seed)
    f = (rng.random((h, w, 3)) * 200).astype(np.uint8)
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - h // 3, xx - w // 3 - shift)
    ramp = r < h // 4
    f[ramp] = np.clip(255 - (r[ramp] - h // 6) * 2, 0, 255).astype(np.uint8)[:, None]
    f[r < h // 6] = 255
    f[h - 40:h - 10, w - 90:w - 20, 0] = 253
    return f


def _strong_stage():
    """A random MLP with large gains: every gained pixel moves by many codes (the shipped stage moves few)."""
    torch.manual_seed(1)
    mlp = HighlightMLP(16)
    torch.nn.init.normal_(mlp.outer.weight, std=0.5)
    return HighlightStage(mlp.numpy_parameters())


def _planes(h, w):
    return np.zeros((h, w), np.uint16), np.zeros((h // 2, w // 2), np.uint16), np.zeros((h // 2, w // 2), np.uint16)


def _codes_off(ref, got):
    d = np.abs(np.asarray(got).astype(int) - ref.astype(int))
    return int(d.max()), float((d == 0).mean())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("target", ["pq", "hlg"])
@pytest.mark.parametrize("stage_kind", ["shipped", "strong"])
def test_torch_table_with_field_equals_the_numba_table_kernel(stage_kind, target, device):
    op = create_operator("clut", OperatorConfig(source_curve="srgb", device="cpu"))
    stage = op.highlight if stage_kind == "shipped" else _strong_stage()
    img = _disc_frame()
    levels = op.levels.for_content(op.content_peak)
    relative = op.relative_at_nodes(img)
    table = compose_table(relative, levels, target)
    field = stage.field_for_frame(img, op.white_relative())
    assert np.abs(field).max() > (0.05 if stage_kind == "shipped" else 0.5)
    h, w = img.shape[:2]
    numba_frame = TableFrame(img, table, target, HighlightField(field, relative, levels, target, op.max_relative))
    ref, plain = _planes(h, w), _planes(h, w)
    cll, fall = numba_frame.pack_into(*ref, levels.paper_white, levels.peak, hlg=target == "hlg", seed=5)
    TableFrame(img, table, target).pack_into(*plain, levels.paper_white, levels.peak, hlg=target == "hlg", seed=5)

    dev = torch.device(device)
    highlight = DeviceHighlight(torch.from_numpy(field).to(dev), torch.from_numpy(relative).to(dev), levels, target,
                                op.max_relative)
    frame = DeviceTableFrame(torch.from_numpy(img).to(dev), torch.from_numpy(table).to(dev), target, highlight)
    got = _planes(h, w)
    tcll, tfall = frame.pack_into(*got, levels.paper_white, levels.peak, hlg=target == "hlg", seed=5)
    for r, g in zip(ref, got):
        worst, exact = _codes_off(r, g)
        assert worst <= 1 and exact > 0.99, (worst, exact)
    assert tcll == pytest.approx(cll, rel=1e-5) and tfall == pytest.approx(fall, rel=1e-5)
    # The stage did move the clipped disc in the reference (so the comparison covers gained pixels).
    gained = img.max(axis=-1) >= 252
    moved = np.abs(ref[0].astype(int) - plain[0])[gained]
    assert moved.max() > (2 if stage_kind == "shipped" else 20), moved.max()
    assert (np.abs(ref[0].astype(int) - plain[0])[~gained] == 0).all()  # nothing below the knee moves


def test_the_pixel_field_equals_the_kernels_bilinear_field():
    from livehdr.color.highlight import field_at_pixels_torch

    field = np.random.default_rng(2).normal(size=(54, 96))
    ys, xs = np.mgrid[:107, :190]
    got = field_at_pixels_torch(torch.from_numpy(field), torch.from_numpy(ys.ravel()), torch.from_numpy(xs.ravel()),
                                107, 190).numpy().reshape(ys.shape)
    ref = hl.upsample_field_torch(torch.from_numpy(field), 107, 190).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-12)
    assert got.std() > 0.1


@pytest.mark.parametrize("curve", ["hable", "auto"])  # a known curve's stage, the blind LUT's level-free stage
def test_the_device_stage_evolves_the_field_as_the_table_composer(curve):
    """Frame by frame the torch stage and the numba path give the same field (the same temporal state)."""
    cpu_op = create_operator("clut", OperatorConfig(source_curve=curve, device="cpu"))
    dev_op = create_operator("clut", OperatorConfig(source_curve=curve, device="cpu"))
    composer = TableComposer(cpu_op.levels, "pq")
    stage = device_frames.DeviceStage(dev_op, "torch-cpu", TableComposer(dev_op.levels, "pq"))
    events = []
    for i, shift in enumerate([0, 2, 4, 120, 122]):  # still, small moves, a cut, still again
        img = _disc_frame(seed=i, shift=shift)
        ref = composer.frame(cpu_op, img).highlight_field
        got = stage(img)
        assert isinstance(got, DeviceTableFrame) and got.highlight is not None
        np.testing.assert_allclose(got.highlight.field.numpy(), ref.field, rtol=1e-9, atol=1e-12)
        if curve == "auto":  # the LUT from torch's forward and from the CPU's (models/clut_fast.py): float32 apart
            np.testing.assert_allclose(got.highlight.relative.numpy(), ref.relative, rtol=1e-4, atol=1e-6)
        else:
            np.testing.assert_array_equal(got.highlight.relative.numpy(), ref.relative)
        assert got.highlight.top == ref.top and got.highlight.levels == ref.levels
        events.append(dev_op.highlight.last_event)
    assert events[0] == "start" and "cut" in events and "smooth" in events, events


def test_the_blind_clut_without_its_stage_is_packed_as_before():
    op = create_operator("clut", OperatorConfig(device="cpu"))
    op.highlight = None  # the pointwise LUT alone: the table path as it was before the stage
    stage = device_frames.DeviceStage(op, "torch-cpu", TableComposer(op.levels, "pq"))
    img = _disc_frame()
    frame = stage(img)
    assert isinstance(frame, DeviceTableFrame) and frame.highlight is None
    got = _planes(*img.shape[:2])
    cll, _ = frame.pack_into(*got, 203.0, 1000.0, seed=3)
    plain = table_to_yuv420p10_torch(frame.code_values, frame.table, seed=3)
    for g, p in zip(got, plain[:3]):
        np.testing.assert_array_equal(g, p.numpy().view(np.uint16))
    assert cll == float(plain[3]) and cll > 150


# --------------------------------------------------------------------------------------------------------
# Whole conversions: --source-curve on the numba path vs LIVEHDR_FRAME_PATH=torch-cpu
# --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def disc_clip(tmp_path_factory):
    """6 frames of a clipped disc that moves a little, 4:4:4 x264 lossless (the clip keeps its codes >= 252)."""
    path = tmp_path_factory.mktemp("disc") / "disc.mkv"
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264rgb", rate=10)
        v.width, v.height, v.pix_fmt = 160, 120, "rgb24"
        v.options = {"preset": "ultrafast", "crf": "0"}
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(_disc_frame(120, 160, seed=i, shift=2 * i), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def _decoded_planes(path):
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            out.append([np.frombuffer(p, np.uint16).reshape(p.height, p.line_size // 2)[:, :p.width].copy()
                        for p in f.reformat(format="yuv420p10le").planes])
    return out


def _convert(clip, out, curve, frame_path, monkeypatch):
    lossless = hdr10.x265_params
    monkeypatch.setattr(hdr10, "x265_params", lambda *a: lossless(*a) + ":lossless=1")
    monkeypatch.setenv(choice.ENV, frame_path)
    monkeypatch.setattr(device_frames, "_REPORTED", set())
    levels = ReferenceLevels()
    op = create_operator("clut", OperatorConfig(levels=levels, device="cpu", source_curve=curve))
    source = FileSource(str(clip), hwaccel="none")
    try:
        result = run_conversion(ConversionSettings(output=str(out), levels=levels, preset="ultrafast",
                                                   encoder="libx265"), source, op)
    finally:
        source.close()
    return result.summary, _decoded_planes(out)


def test_a_source_curve_conversion_on_torch_cpu_equals_the_numba_path(disc_clip, tmp_path, monkeypatch):
    ref, a = _convert(disc_clip, tmp_path / "numba.mkv", "srgb", "cpu", monkeypatch)
    got, b = _convert(disc_clip, tmp_path / "torch.mkv", "srgb", "torch-cpu", monkeypatch)
    _, staged_off = _convert(disc_clip, tmp_path / "plain.mkv", "srgb", "torch-cpu", _no_stage(monkeypatch))
    assert len(a) == len(b) == len(staged_off) == ref["frames"] == got["frames"] == 6
    assert (got["max_cll"], got["max_fall"]) == (ref["max_cll"], ref["max_fall"])
    for pa, pb in zip(a, b):
        for x, y in zip(pa, pb):
            worst, exact = _codes_off(x, y)
            assert worst <= 1 and exact > 0.95, (worst, exact)
    # The stage is what the comparison is about: without it the clipped disc's luma is lower.
    moved = [int((f[0].astype(int) - g[0]).max()) for f, g in zip(b, staged_off)]
    assert min(moved) > 2, moved


def _no_stage(monkeypatch):
    """The same conversion with the operator's highlight stage taken away (what the device path did before)."""
    from livehdr.operators import source_curve

    init = source_curve.SourceCurveOperator.__init__

    def without_stage(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.highlight = None

    monkeypatch.setattr(source_curve.SourceCurveOperator, "__init__", without_stage)
    return monkeypatch


@CUDA
def test_the_cuda_stage_equals_the_numba_path_on_a_frame():
    cpu_op = create_operator("clut", OperatorConfig(source_curve="srgb", device="cpu"))
    dev_op = create_operator("clut", OperatorConfig(source_curve="srgb", device="cpu"))
    composer = TableComposer(cpu_op.levels, "pq")
    stage = device_frames.DeviceStage(dev_op, "cuda", TableComposer(dev_op.levels, "pq"))
    levels = cpu_op.levels.for_content(cpu_op.content_peak)
    for i in range(3):
        img = _disc_frame(1080, 1920, seed=i, shift=3 * i)
        ref, got = _planes(1080, 1920), _planes(1080, 1920)
        cll, _ = composer.frame(cpu_op, img).pack_into(*ref, levels.paper_white, levels.peak, seed=i)
        tcll, _ = stage(img).pack_into(*got, levels.paper_white, levels.peak, seed=i)
        for r, g in zip(ref, got):
            assert _codes_off(r, g)[0] <= 1
        assert tcll == pytest.approx(cll, rel=1e-5)
