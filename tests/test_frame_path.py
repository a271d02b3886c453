"""Issue #25: the device frame path (operator and packing in torch) against the numba path, on torch's CPU
backend (LIVEHDR_FRAME_PATH=torch-cpu), for whole file conversions; and the one start-up line.

The encoder runs lossless here, so the decoded planes differ exactly where the two packings differ."""
import os

import av
import numpy as np
import pytest

from _media import content_light_level, make_clip, read_video
from livehdr.base.errors import UserError
from livehdr.color import ReferenceLevels
from livehdr.engine import frame_path_choice as choice
from livehdr.io import hdr10
from livehdr.io.sources import FileSource
from livehdr.operators import OperatorConfig, create_operator
from livehdr.pipeline import ConversionSettings, device_frames, run_conversion

CUDA = pytest.mark.skipif(not choice.cuda_available(), reason="needs CUDA")
NUMBA_LINE = choice.describe("cpu", threads=device_frames.packer_threads())  # "... (numba, 1 thread)" on 2 cores


def test_the_choice_follows_the_switch_and_the_device():
    gpu = choice.cuda_available()
    assert choice.choose_frame_path("auto", {}) == ("cuda" if gpu else "cpu")
    assert choice.choose_frame_path("cpu", {}) == "cpu"  # --device cpu: numba even beside a GPU
    assert choice.choose_frame_path("auto", {choice.ENV: "torch-cpu"}) == "torch-cpu"
    assert choice.choose_frame_path("cuda", {choice.ENV: "cpu"}) == "cpu"
    assert choice.choose_frame_path("auto", {choice.ENV: " Auto "}) == ("cuda" if gpu else "cpu")
    with pytest.raises(UserError, match="not a frame path; choose auto, cuda, torch-cpu, cpu"):
        choice.choose_frame_path("auto", {choice.ENV: "gpu"})
    if not gpu:
        with pytest.raises(UserError, match="no CUDA device"):
            choice.choose_frame_path("auto", {choice.ENV: "cuda"})


def test_the_start_up_line_names_the_path():
    assert choice.describe("cpu") == "frame path: cpu (numba, 1 thread)"
    assert choice.describe("cpu", threads=4) == "frame path: cpu (numba, 4 threads)"
    assert choice.describe("torch-cpu") == "frame path: torch-cpu (test switch LIVEHDR_FRAME_PATH)"
    assert choice.describe("cuda", nvdec=True, precision="fp16", graphs=True) == \
        "frame path: cuda (NVDEC, fp16, graphs)"
    assert choice.describe("cuda", precision="fp32") == "frame path: cuda (CPU decode, pinned upload, fp32, eager)"
    assert choice.torch_device("cpu") is None and choice.torch_device("torch-cpu") == "cpu"


def test_the_line_names_graphs_only_for_a_learned_network_on_cuda():
    mq = create_operator("mqnet", OperatorConfig(device="cpu", precision="fp32"))
    naive = create_operator("naive", OperatorConfig(device="cpu"))
    assert device_frames.graphable_network(mq) is not None and device_frames.graphable_network(naive) is None
    net = mq.model.log2_gain
    assert device_frames.use_cuda_graphs(mq, "cpu") is False and mq.model.log2_gain == net  # untouched
    assert device_frames.frame_path_line("cuda", mq).endswith(", graphs)")
    assert device_frames.frame_path_line("cuda", naive).endswith(", eager)")
    assert device_frames.frame_path_line("torch-cpu", mq) == "frame path: torch-cpu (test switch LIVEHDR_FRAME_PATH)"


@CUDA
def test_cuda_graphs_replay_the_network_in_the_product_stage():
    import torch

    from livehdr.engine.frame_path import GraphedModel

    op = create_operator("mqnet", OperatorConfig(device="cuda", precision="fp16"))
    eager = create_operator("mqnet", OperatorConfig(device="cuda", precision="fp16"))
    stage = device_frames.DeviceStage(op, "cuda")
    assert stage.graphs and isinstance(op.model.log2_gain, GraphedModel)
    rng = np.random.default_rng(1)
    for i in range(4):  # new content every frame: the graph's input is refilled, not stale
        img = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
        got = stage(img).relative
        ref = eager(torch.from_numpy(img).cuda().permute(2, 0, 1)[None].float() / 255.0)[0].float()
        torch.testing.assert_close(got, ref, rtol=2e-3, atol=2e-3)
    assert op.model.log2_gain.capture_error is None


# --------------------------------------------------------------------------------------------------------
# Whole conversions: numba path vs torch-cpu device path
# --------------------------------------------------------------------------------------------------------
def _planes(path):
    """Every frame of a file as (Y, U, V) uint16 arrays, decoded to yuv420p10le."""
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            f = f.reformat(format="yuv420p10le") if f.format.name != "yuv420p10le" else f
            planes = []
            for p in f.planes:
                planes.append(np.frombuffer(p, np.uint16).reshape(p.height, p.line_size // 2)[:, : p.width].copy())
            out.append(planes)
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "in.mkv", width=128, height=96, frames=6, rate=10)


def _convert(clip, out, model, path_kind, monkeypatch, capsys, device="cpu", hlg=False):
    lossless = hdr10.x265_params
    monkeypatch.setattr(hdr10, "x265_params", lambda *a: lossless(*a) + ":lossless=1")
    monkeypatch.setenv(choice.ENV, path_kind)
    monkeypatch.setattr(device_frames, "_REPORTED", set())
    levels = ReferenceLevels()
    op = create_operator(model, OperatorConfig(levels=levels, device=device,
                                               precision="fp32" if device == "cpu" else "auto"))
    source = FileSource(str(clip), hwaccel="none")
    try:
        result = run_conversion(ConversionSettings(output=str(out), levels=levels, preset="ultrafast",
                                                   encoder="libx265", hlg=hlg), source, op)
    finally:
        source.close()
    return result.summary, capsys.readouterr().err


PATHS = [pytest.param("cpu", "torch-cpu", "livehdr: frame path: torch-cpu (test switch LIVEHDR_FRAME_PATH)",
                      id="torch-cpu"),
         # On CUDA both runs use the same CUDA operator (fp16 for mqnet): only the frame path differs.
         pytest.param("cuda", "auto", "livehdr: frame path: cuda (", id="cuda", marks=CUDA)]


@pytest.mark.parametrize("device,switch,line", PATHS)
@pytest.mark.parametrize("model", ["naive", "clut", "mqnet"])
def test_device_path_equals_the_numba_path(clip, tmp_path, monkeypatch, capsys, model, device, switch, line):
    numba_out, torch_out = tmp_path / "numba.mkv", tmp_path / "torch.mkv"
    ref, ref_err = _convert(clip, numba_out, model, "cpu", monkeypatch, capsys, device)
    got, got_err = _convert(clip, torch_out, model, switch, monkeypatch, capsys, device)
    assert f"livehdr: {NUMBA_LINE}" in ref_err.splitlines()
    assert any(ln.startswith(line) for ln in got_err.splitlines()), got_err

    a, b = read_video(numba_out), read_video(torch_out)
    assert a["frames"] == b["frames"] == got["frames"] == ref["frames"] == 6
    assert b["pts"] == a["pts"] == pytest.approx([i / 10 for i in range(6)], abs=1e-3)
    assert a["audio"] == b["audio"] == ["aac"]
    assert (got["max_cll"], got["max_fall"]) == (ref["max_cll"], ref["max_fall"])
    assert content_light_level(b["side_data"]) == content_light_level(a["side_data"]) == \
        (ref["max_cll"], ref["max_fall"])

    diffs, exact = [], []
    for pa, pb in zip(_planes(numba_out), _planes(torch_out)):
        for x, y in zip(pa, pb):
            d = np.abs(x.astype(int) - y.astype(int))
            diffs.append(int(d.max()))
            exact.append(float((d == 0).mean()))
    assert max(diffs) <= 1, diffs
    assert min(exact) > 0.95, exact
    # The pictures are real: the test pattern spans the code range and the highlights are expanded.
    y0 = _planes(numba_out)[0][0]
    assert y0.min() < 200 and y0.max() > 500
    assert ref["max_cll"] >= 100
    print(f"{model}: max code difference {max(diffs)}, exact {min(exact):.4f}, MaxCLL {ref['max_cll']}, "
          f"MaxFALL {ref['max_fall']}, frames {a['frames']}")
    assert sorted(os.listdir(tmp_path)) == ["numba.mkv", "torch.mkv"]


@pytest.mark.parametrize("model", ["naive", "mqnet"])
def test_hlg_files_agree_too(clip, tmp_path, monkeypatch, capsys, model):
    ref, _ = _convert(clip, tmp_path / "numba.mkv", model, "cpu", monkeypatch, capsys, hlg=True)
    got, _ = _convert(clip, tmp_path / "torch.mkv", model, "torch-cpu", monkeypatch, capsys, hlg=True)
    assert read_video(tmp_path / "torch.mkv")["trc"] == 18  # ARIB STD-B67
    assert (got["frames"], got["max_cll"], got["max_fall"]) == (ref["frames"], ref["max_cll"], ref["max_fall"]) \
        and ref["frames"] == 6
    for pa, pb in zip(_planes(tmp_path / "numba.mkv"), _planes(tmp_path / "torch.mkv")):
        for x, y in zip(pa, pb):
            assert np.abs(x.astype(int) - y.astype(int)).max() <= 1


def test_a_bad_switch_is_one_line_before_any_output(clip, tmp_path, monkeypatch):
    monkeypatch.setenv(choice.ENV, "tpu")
    op = create_operator("naive", OperatorConfig(device="cpu"))
    source = FileSource(str(clip), hwaccel="none")
    try:
        with pytest.raises(UserError, match="LIVEHDR_FRAME_PATH='tpu' is not a frame path"):
            run_conversion(ConversionSettings(output=str(tmp_path / "o.mkv"), levels=ReferenceLevels()),
                           source, op)
    finally:
        source.close()
    assert os.listdir(tmp_path) == []



# --------------------------------------------------------------------------------------------------------
# The live window: the operator's light on the device path, read back from the GL framebuffer
# --------------------------------------------------------------------------------------------------------
def _first_live_frame(clip, switch, monkeypatch, capsys):
    from _media import drain_live
    from livehdr.pipeline import LivePipeline
    from livehdr.window import renderer as gl_renderer

    monkeypatch.setenv(choice.ENV, switch)
    monkeypatch.setattr(device_frames, "_REPORTED", set())
    op = create_operator("mqnet", OperatorConfig(device="cpu", precision="fp32"))
    pipe = LivePipeline(FileSource(str(clip), hwaccel="none"), op, on_gpu=gl_renderer.shader_can_expand)
    pipe.start()
    try:
        frames = drain_live(pipe, lambda got: len(got) >= 1)
    finally:
        pipe.stop()
        pipe.source.close()
    assert frames and frames[0].index == 0 and frames[0].hdr is not None  # mqnet: the CPU side computes it
    return frames[0], capsys.readouterr().err


def test_window_read_back_on_the_device_path_equals_the_numba_path(clip, monkeypatch, capsys):
    import moderngl

    from livehdr.window import renderer as gl_renderer
    from livehdr.window.renderer import Renderer, ViewState

    ref, ref_err = _first_live_frame(clip, "cpu", monkeypatch, capsys)
    got, got_err = _first_live_frame(clip, "torch-cpu", monkeypatch, capsys)
    assert f"livehdr: {NUMBA_LINE}" in ref_err.splitlines()
    assert "livehdr: frame path: torch-cpu (test switch LIVEHDR_FRAME_PATH)" in got_err.splitlines()
    assert got.hdr.dtype == np.float32 and got.hdr.shape == ref.hdr.shape == (96, 128, 3)
    np.testing.assert_allclose(got.hdr, ref.hdr, rtol=1e-5, atol=1e-6)
    ctx = moderngl.create_standalone_context(backend="egl")
    try:
        shots = []
        for frame in (ref, got):
            r = Renderer(ctx)
            r.upload(frame.sdr, frame.hdr)
            fbo = gl_renderer.create_offscreen_target(ctx, 128, 96)
            r.draw(fbo, (128, 96), ViewState(view="hdr", mode="pq", dither=0.0), with_legend=False)
            shots.append(np.round(r.read(fbo) * 1023).astype(int))
            fbo.release()
            r.release()
    finally:
        gl_renderer.release_standalone(ctx)
    assert np.abs(shots[0] - shots[1]).max() <= 1
    assert shots[1].max() > 550 and shots[1].min() < 200  # black to past paper white (PQ 203 nits = 0.58)


def test_the_cli_says_the_path_once_and_refuses_a_bad_switch_in_one_line(clip, tmp_path, monkeypatch, capsys):
    from livehdr.cli import main

    monkeypatch.setattr(device_frames, "_REPORTED", set())
    monkeypatch.setenv(choice.ENV, "torch-cpu")
    args = ["-i", str(clip), "--model", "naive", "--preset", "ultrafast", "--encoder", "libx265", "--hwaccel", "none"]
    assert main([*args, "-o", str(tmp_path / "a.mkv")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err.count("livehdr: frame path: torch-cpu (test switch LIVEHDR_FRAME_PATH)") == 1
    monkeypatch.setenv(choice.ENV, "gpu0")
    assert main([*args, "-o", str(tmp_path / "b.mkv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["livehdr: error: LIVEHDR_FRAME_PATH='gpu0' is not a frame path; choose auto, cuda, torch-cpu, cpu"]
    assert sorted(os.listdir(tmp_path)) == ["a.mkv"]
