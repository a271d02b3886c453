"""mqnet-int8: an int8 backbone shipped with its calibrated activation ranges (no calibration at load)."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch

from livehdr import color
from livehdr.base.errors import UserError
from livehdr.models import weights as W
from livehdr.models.mqnet import MQNet
from livehdr.models.mqnet_int8 import MQNetInt8, activation_observers, prepare

SHIPPED = W.shipped_path("mqnet-int8")
needs_shipped = pytest.mark.skipif(not os.path.isfile(SHIPPED), reason="models/mqnet-int8.safetensors not built")


def tiny_float(seed=0) -> MQNet:
    torch.manual_seed(seed)
    m = MQNet(width=0.1, head_channels=8)
    with torch.no_grad():  # a real (small) gain map, like a trained head
        m.head[-1].weight.normal_(0, 0.1)
        m.head[-1].bias.normal_(0, 0.1)
    return m.eval()


@pytest.fixture(scope="module")
def tiny_saved(tmp_path_factory):
    """A tiny MQNet and its int8 file, calibrated once for the module (min/max ranges: quick)."""
    from livehdr.engine.quantize import calibrate_int8, minmax_observer

    base = tiny_float(0)
    frames = [torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(i)) ** 2 for i in range(2)]
    path = str(tmp_path_factory.mktemp("int8") / "tiny-int8.safetensors")
    W.save_model(path, calibrate_int8(base, frames, ("head",), minmax_observer()), "mqnet-int8")
    return base, path


@pytest.fixture
def tiny_file(tiny_saved, tmp_path):
    base, path = tiny_saved
    copy = str(tmp_path / "tiny-int8.safetensors")
    shutil.copy(path, copy)
    return base, copy


def log2(t):
    return torch.log2(t + 1e-3)


def test_saved_ranges_are_what_the_loaded_graph_quantizes_with(tiny_file):
    _, path = tiny_file
    loaded = W.load_model(path, expect_arch="mqnet-int8")
    assert isinstance(loaded, MQNetInt8) and loaded._graph is not None  # built by load_model's sanity pass
    lo, hi = loaded.activation_ranges[0].tolist()
    qmin, qmax = activation_observers(prepare(loaded.net, ["head"]))[0].quant_min, 127
    assert float(loaded._graph.stem_0_input_scale_0) == pytest.approx((hi - lo) / (qmax - qmin), rel=1e-5)
    assert not any(k.startswith("_graph") for k in loaded.state_dict())  # the graph is derived, never saved


def test_loading_never_calibrates(tiny_file, monkeypatch):
    from livehdr.engine import quantize

    _, path = tiny_file

    def refuse(*a, **k):
        raise AssertionError("calibration at load")

    monkeypatch.setattr(quantize, "calibrate_int8", refuse)
    monkeypatch.setattr(quantize, "quantize_int8", refuse)
    monkeypatch.setattr("torch.ao.quantization.HistogramObserver.forward", refuse)
    loaded = W.load_model(path)
    x = torch.rand(1, 3, 40, 56)
    with torch.inference_mode():
        assert torch.isfinite(loaded(x)).all()


def test_close_to_fp32_and_grey_in_grey_out(tiny_file):
    base, path = tiny_file
    int8 = W.load_model(path)
    x = torch.rand(1, 3, 48, 80, generator=torch.Generator().manual_seed(1))
    grey = torch.linspace(0, 1, 80).expand(1, 3, 48, 80).contiguous()
    with torch.inference_mode():
        ref, out, g = base(x), int8(x), int8(grey)
    assert out.shape == ref.shape and float(out.min()) >= 0
    err = (log2(out) - log2(ref)).abs().mean()
    signal = (log2(ref) - log2(color.eotf_sRGB(x))).abs().mean()
    assert float(err) < 0.25 * float(signal) and not torch.equal(out, ref)
    assert torch.equal(g[:, 0], g[:, 1]) and torch.equal(g[:, 1], g[:, 2])  # exactly achromatic


def test_relu6_and_spatial_gate_rewrites_are_exact_in_float():
    from livehdr.models.mqnet_int8 import HeadLogits

    base = tiny_float(2)
    x = torch.rand(1, 3, 64, 96) * 0.2  # small activations: below ReLU6's 6, where ReLU == ReLU6
    with torch.no_grad():
        want = base.log2_gain(x)
        got = HeadLogits(base).eval()(x)
    t = torch.tanh(got)
    got = torch.cat([base.max_log2_gain * t[:, :1], base.max_chroma * t[:, 1:]], dim=1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert isinstance(base.stem[2], torch.nn.ReLU6)  # the float model itself is left alone


@pytest.mark.parametrize("damage", ["garbage", "truncated", "nan_range", "observers", "float_modules"])
def test_refuses_damaged_files_with_one_line(tiny_file, tmp_path, damage):
    import json

    from safetensors.torch import load_file, save_file

    _, path = tiny_file
    bad = str(tmp_path / "bad.safetensors")
    if damage == "garbage":
        open(bad, "wb").write(os.urandom(4096))
    elif damage == "truncated":
        open(bad, "wb").write(open(path, "rb").read()[:5000])
    else:
        tensors, meta = load_file(path), W.read_metadata(path)
        config = json.loads(meta["config"])
        if damage == "nan_range":
            tensors["activation_ranges"][3, 1] = float("nan")
        elif damage == "observers":  # a file made for another graph: shapes agree with its config, not the graph
            config["observers"] -= 1
            tensors["activation_ranges"] = tensors["activation_ranges"][:-1].contiguous()
        else:
            config["float_modules"] = ["head", "no.such.module"]
        meta["config"] = json.dumps(config)
        save_file(tensors, bad, metadata=meta)
    with pytest.raises(UserError) as e:
        W.load_model(bad)
    assert "\n" not in str(e.value) and str(e.value)


@needs_shipped
def test_shipped_int8_is_close_to_fp32_on_a_demo_frame():
    from livehdr.scenes import demo_frame_sdr

    fp32 = W.load_model(W.shipped_path("mqnet"))
    int8 = W.load_model(SHIPPED, expect_arch="mqnet-int8")
    sdr = demo_frame_sdr(3.0, 192, 128)  # the sunset: a sun and lamps
    x = torch.from_numpy(sdr.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
    with torch.inference_mode():
        ref, out = fp32(x), int8(x)
    bright = ref.amax(dim=1) > 1.5
    assert int(bright.sum()) > 20  # the frame really has highlights
    y = lambda t: (t * torch.tensor(color.WEIGHTS_BT709).view(1, 3, 1, 1)).sum(1)
    stops = (torch.log2(y(out) + 1e-4) - torch.log2(y(ref) + 1e-4)).abs()
    assert float(stops[bright].mean()) < 0.15
    assert float(stops.mean()) < 0.1


@needs_shipped
def test_auto_precision_takes_the_int8_twin_only_when_its_card_meets_the_goals(tmp_path, monkeypatch):
    import json

    from livehdr.engine import int8 as choice

    for name in ("mqnet.safetensors", "mqnet.json", "mqnet-int8.safetensors", "mqnet-int8.json"):
        shutil.copy(os.path.join(W.MODELS_DIR, name), tmp_path / name)
    fp32_path, twin = str(tmp_path / "mqnet.safetensors"), str(tmp_path / "mqnet-int8.safetensors")
    card = W.read_card(str(tmp_path / "mqnet-int8.json"))
    cpu = torch.device("cpu")
    model = W.load_model(fp32_path)
    assert choice.int8_twin(fp32_path) == twin

    card["metrics"]["heldout_vs_fp32"].update(pu21_drop_db=0.05, highlight_stops_mean=0.05)
    card["metrics"]["noise_pumping"]["pumping_int8_over_fp32"] = 1.1
    W.write_card(str(tmp_path / "mqnet-int8.json"), card)
    chosen, precision, note, device = choice.choose_int8(model, fp32_path, "auto", cpu)
    assert precision == "int8" and choice.is_int8_model(chosen) and "mqnet-int8" in note and device == cpu
    assert choice.choose_int8(model, fp32_path, "fp32", cpu)[1] == "fp32"

    for key, value in (("highlight_stops_mean", 0.3), ("pu21_drop_db", 0.5), ("pumping_int8_over_fp32", 3.0)):
        bad = json.loads(json.dumps(card))
        bad["metrics"]["noise_pumping" if key.startswith("pumping") else "heldout_vs_fp32"][key] = value
        W.write_card(str(tmp_path / "mqnet-int8.json"), bad)  # one goal missed
        assert choice.choose_int8(model, fp32_path, "auto", cpu)[1] == "auto", key  # -> fp32 on the CPU
        assert choice.choose_int8(model, fp32_path, "int8", cpu)[1] == "int8"  # asked for: the twin

    card["base_weights"]["sha256"] = "0" * 64  # calibrated for other weights: not a twin
    W.write_card(str(tmp_path / "mqnet-int8.json"), card)
    assert choice.int8_twin(fp32_path) is None


@needs_shipped
def test_int8_model_refuses_float_precision_and_runs_on_the_cpu():
    from livehdr.engine.int8 import choose_int8
    from livehdr.operators import OperatorConfig, create_operator

    with pytest.raises(UserError, match="int8 model"):
        create_operator("mqnet-int8", OperatorConfig(device="cpu", precision="fp32"))
    model = W.load_model(SHIPPED)
    cuda = torch.device("cuda")  # what --device auto resolves to on a GPU machine: int8 goes to the CPU
    assert choose_int8(model, SHIPPED, "auto", cuda, "auto")[3] == torch.device("cpu")
    with pytest.raises(UserError, match="CPU only"):
        choose_int8(model, SHIPPED, "auto", cuda, "cuda")


@needs_shipped
def test_cli_still_and_tiny_video(tmp_path):
    from PIL import Image

    from livehdr import bench
    from livehdr.cli import main
    from livehdr.io.imagefiles import read_exr
    from livehdr.scenes import demo_frame_sdr

    png = tmp_path / "in.png"
    Image.fromarray(demo_frame_sdr(3.0, 96, 64)).save(png)
    assert main(["-i", str(png), "-o", str(tmp_path / "out.exr"), "--model", "mqnet-int8", "--device", "cpu"]) == 0
    px = read_exr(str(tmp_path / "out.exr"))
    assert px.shape == (64, 96, 3) and np.isfinite(px).all() and px.max() > 203  # highlights above paper white
    clip = bench.make_test_clip(str(tmp_path / "in.mp4"), 96, 64, 3)
    out = tmp_path / "out.mkv"
    assert main(["-i", clip, "-o", str(out), "--model", "mqnet-int8", "--device", "cpu", "--preset", "ultrafast"]) == 0
    import av

    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 3


def test_full_range_files_record_it_and_load_with_it(tmp_path):
    from livehdr.engine.quantize import calibrate_int8, minmax_observer

    base = tiny_float(1)
    frames = [torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(9))]
    int8 = calibrate_int8(base, frames, ("head",), minmax_observer(False), reduce_range=False)
    path = str(tmp_path / "full.safetensors")
    W.save_model(path, int8, "mqnet-int8")
    loaded = W.load_model(path)
    assert loaded.config["reduce_range"] is False
    lo, hi = loaded.activation_ranges[0].tolist()
    assert float(loaded._graph.stem_0_input_scale_0) == pytest.approx((hi - lo) / 255, rel=1e-5)  # 0..255
