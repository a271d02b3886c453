"""MQNet with a global stage (a CLUT first, the U-Net refining its light): identity, neutrality, files, int8,
and the trainer's pieces for it (aligned crops, noisy twins, the temporal pair loss)."""
import contextlib
import io

import numpy as np
import pytest
import torch

from livehdr import color
from livehdr.base.errors import UserError
from livehdr.models import create_model
from livehdr.models.weights import load_model, save_model
from livehdr.train.losses import pumping_loss
from livehdr.train.loop import Sampler, random_crops

SMALL_CLUT = dict(lut_size=9, bases=3, s_rank=5, w_rank=8, width=4, max_log2_gain=2.0)


def trained_like_clut(seed: int = 0):
    """A small CLUT with non-zero cores (an untrained one is naive and would hide mistakes)."""
    torch.manual_seed(seed)
    clut = create_model("clut", **SMALL_CLUT)
    with torch.no_grad():
        clut.cores.normal_(0.0, 0.3)
    return clut.eval()


def composite(seed: int = 0, head_std: float = 0.0):
    clut = trained_like_clut(seed)
    model = create_model("mqnet", width=0.1, attention="csa", global_stage=dict(clut.config))
    model.global_stage.load_state_dict(clut.state_dict())
    if head_std:
        with torch.no_grad():
            model.head[-1].weight.normal_(0.0, head_std)
    return model.eval(), clut


def test_zero_head_is_exactly_the_clut():
    model, clut = composite()
    x = torch.rand(2, 3, 45, 70)
    with torch.no_grad():
        ours, theirs = model(x), clut(x)
    assert not torch.allclose(theirs, color.eotf_sRGB(x), atol=1e-2)  # the CLUT is not naive here
    assert float((ours - theirs).abs().max()) <= 1e-6
    assert model.stem[0].in_channels == 4  # code values + the CLUT's log luminance


def test_the_head_refines_the_clut_light_and_keeps_grey_grey():
    from livehdr.metrics import delta_uv_from_D65

    model, clut = composite(head_std=0.2)
    x = torch.rand(1, 3, 64, 64)
    x[..., :24, :24] = 1.0  # white patch
    x[..., 40:, 40:] = 0.5  # grey patch
    with torch.no_grad():
        out, base = model(x), clut(x)
    assert float((out - base).abs().max()) > 1e-3
    assert float(out.max()) <= model.max_relative + 1e-6 and float(out.min()) >= 0.0
    white = out[0, :, 4:20, 4:20].permute(1, 2, 0).numpy()
    grey = out[0, :, 44:60, 44:60].permute(1, 2, 0).numpy()
    assert delta_uv_from_D65(white) <= 1e-6 and delta_uv_from_D65(grey) <= 1e-6


def test_a_given_base_replaces_the_global_stage():
    model, clut = composite(head_std=0.2)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), model(x, base=clut(x)))
        assert not torch.allclose(model(x), model(x, base=2.0 * clut(x)))


def test_composite_weights_round_trip_and_bounds(tmp_path):
    model, _ = composite(head_std=0.1)
    path = str(tmp_path / "m.safetensors")
    save_model(path, model, "mqnet")
    loaded = load_model(path, expect_arch="mqnet")
    assert loaded.config["global_stage"]["lut_size"] == SMALL_CLUT["lut_size"]
    x = torch.rand(1, 3, 40, 50)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    from livehdr.models.weights import check_config

    for bad, words in (({**model.config, "global_stage": {"lut_size": 5000}}, "lut_size"),
                       ({**model.config, "global_stage": {"depth": 3}}, "'depth'"),
                       ({**model.config, "global_stage": 7}, "clut config")):
        with pytest.raises(UserError, match=words):
            check_config(path, "mqnet", bad)


def test_int8_at_load_keeps_the_global_stage_in_float():
    from livehdr.engine.quantize import calibration_frames, quantize_int8

    model, _ = composite(head_std=0.1)
    q = quantize_int8(model, calibration_frames(2, 64, 64))
    x = torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        ours, ref = q(x), model(x)
    assert q.global_stage is model.global_stage
    assert float(((ours - ref).abs() / (ref + 1e-2)).median()) < 0.05


def test_random_crops_keep_twins_aligned():
    rng = np.random.default_rng(0)
    a = torch.arange(4 * 1 * 16 * 16, dtype=torch.float32).reshape(4, 1, 16, 16)
    a[2:] = a[:2]  # samples 2, 3 are twins of 0, 1
    b = a * 10
    ca, cb = random_crops(8, rng, a, b, twins=2)
    assert ca.shape == (4, 1, 8, 8) and torch.equal(cb, ca * 10)
    assert torch.equal(ca[2:], ca[:2])


def test_noisy_twins_differ_by_one_code_value():
    sampler = Sampler([], 8, np.random.default_rng(0))
    sdr = torch.randint(0, 256, (4, 3, 8, 8)).float() / 255
    target = torch.rand(4, 3, 8, 8)
    s, t, half = sampler.with_noisy_twins(sdr, target)
    assert half == 2 and torch.equal(s[:2], sdr[:2]) and torch.equal(t[2:], target[:2])
    steps = torch.round((s[2:] - s[:2]) * 255)
    assert set(steps.unique().tolist()) <= {-1.0, 0.0, 1.0} and float(steps.abs().mean()) > 0.3


def test_pumping_loss_is_zero_for_naive_and_punishes_amplified_flicker():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 250, size=(2, 3, 16, 16))
    base[:, :, :6, :6] = 255  # a clipped lamp
    a = torch.from_numpy(base).float() / 255
    b = (a + torch.from_numpy(rng.integers(-1, 2, size=a.shape)).float() / 255).clamp(0, 1)
    naive_a, naive_b = color.eotf_sRGB(a), color.eotf_sRGB(b)
    assert float(pumping_loss(naive_a, naive_b, a, b)) == 0.0
    assert float(pumping_loss(naive_a, naive_a, a, b)) == 0.0
    # an expansion that boosts exactly the clipped pixels: each 255 <-> 254 flip becomes a 5x jump
    boost = lambda code, light: torch.where(code.amax(dim=1, keepdim=True) >= 254.5 / 255, 5.0 * light, light)
    assert float(pumping_loss(boost(a, naive_a), boost(b, naive_b), a, b)) > 0.0


def test_train_cli_with_a_global_stage(tmp_path):
    from livehdr.io.imagefiles import write_exr
    from livehdr.models.weights import read_card
    from livehdr.train.__main__ import main

    d = tmp_path / "hdr"
    d.mkdir()
    for i, name in enumerate(("alpha", "beta")):  # tiny panoramas: textured light with a sun far above white
        px = np.random.default_rng(i).uniform(0.02, 1.5, size=(64, 128, 3)).astype(np.float32)
        px[10:14, 40:44] = 300.0
        write_exr(str(d / f"{name}.exr"), px, half=False)
    clut = trained_like_clut()
    stage = str(tmp_path / "clut.safetensors")
    save_model(stage, clut, "clut")
    out = str(tmp_path / "m")
    threads, err = torch.get_num_threads(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            rc = main(["--data", str(d), "--out", out, "--epochs", "1", "--steps-per-epoch", "2", "--crop", "32",
                       "--context", "64", "--batch", "4", "--width", "0.1", "--val", "beta", "--synthetic-fraction",
                       "0", "--global-stage", stage, "--pair-weight", "10", "--quiet"])
            bad = main(["--data", str(d), "--out", out, "--global-stage", str(tmp_path / "none.safetensors")])
    finally:
        torch.set_num_threads(threads)
    assert rc == 0, err.getvalue()
    assert bad == 2 and "--global-stage" in err.getvalue().splitlines()[-1]
    model = load_model(out + ".safetensors", expect_arch="mqnet")
    for k, v in clut.state_dict().items():  # frozen: the CLUT is the one given, bit for bit
        assert torch.equal(model.global_stage.state_dict()[k], v), k
    recipe = read_card(out + ".json")["recipe"]
    assert recipe["global_stage"]["frozen"] and len(recipe["global_stage"]["sha256"]) == 64
    assert "temporal pair loss" in recipe["loss"]


def test_train_cli_init_fine_tunes_from_weights_and_refuses_other_configs(tmp_path):
    from livehdr.io.imagefiles import write_exr
    from livehdr.models.weights import read_card
    from livehdr.train.__main__ import main

    d = tmp_path / "hdr"
    d.mkdir()
    for i, name in enumerate(("alpha", "beta")):
        px = np.random.default_rng(i).uniform(0.02, 1.5, size=(64, 128, 3)).astype(np.float32)
        px[10:14, 40:44] = 300.0
        write_exr(str(d / f"{name}.exr"), px, half=False)
    torch.manual_seed(3)
    start = create_model("mqnet", width=0.1, attention="csa")
    with torch.no_grad():
        start.head[-1].weight.normal_(0.0, 0.05)
    init = str(tmp_path / "start.safetensors")
    save_model(init, start, "mqnet")
    common = ["--data", str(d), "--epochs", "1", "--steps-per-epoch", "1", "--crop", "32", "--batch", "2",
              "--val", "beta", "--synthetic-fraction", "0", "--init", init, "--lr", "1e-9", "--warmup", "0",
              "--quiet"]
    threads, err = torch.get_num_threads(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            rc = main([*common, "--out", str(tmp_path / "ft"), "--width", "0.1"])
            bad = main([*common, "--out", str(tmp_path / "other"), "--width", "0.2"])
    finally:
        torch.set_num_threads(threads)
    assert rc == 0, err.getvalue()
    assert bad == 2 and "--init" in err.getvalue().splitlines()[-1]
    tuned = load_model(str(tmp_path / "ft.safetensors"))
    w0, w1 = start.head[-1].weight, tuned.head[-1].weight
    assert float((w0 - w1).abs().max()) < 1e-4 and float(w0.abs().max()) > 1e-3  # started from init, not zero
    assert len(read_card(str(tmp_path / "ft.json"))["recipe"]["init"]["sha256"]) == 64
