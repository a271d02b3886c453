"""Training data (loader, hold-out, views), SDR synthesis, the loss and the training loop/CLI."""
import contextlib
import io
import math
import os

import numpy as np
import pytest
import torch

from livehdr import color
from livehdr.color import tonecurves
from livehdr.base.errors import UserError
from livehdr.io.imagefiles import write_exr
from livehdr.train import synthesis
from livehdr.train.data import (Splits, find_hdr_files, load_images, perspective_view, random_view, read_splits,
                                split_holdout, training_images)
from livehdr.train.losses import itm_loss
from livehdr.train.loop import Sampler, lr_at

def toy_panorama(seed: int, h: int = 64) -> np.ndarray:
    """A tiny equirect scene: sky gradient, a sun far above paper white, textured ground."""
    rng = np.random.default_rng(seed)
    w = 2 * h
    img = np.empty((h, w, 3), np.float32)
    rows = np.linspace(0, 1, h)[:, None]
    img[...] = (0.4 + 1.5 * (1 - rows))[..., None] * np.array([0.6, 0.8, 1.0], np.float32)
    img[h // 2:] = rng.uniform(0.02, 0.4, size=(h - h // 2, w, 1)) * np.array([0.5, 0.45, 0.4], np.float32)
    cy, cx = h // 4, int(rng.integers(w // 4, 3 * w // 4))
    img[cy - 2:cy + 2, cx - 2:cx + 2] = 300.0
    return img


def write_radiance_flat(path: str, rgb: np.ndarray) -> None:
    """Minimal flat (uncompressed) RGBE writer for the loader test (Ward, Graphics Gems II)."""
    h, w = rgb.shape[:2]
    m = rgb.max(axis=-1)
    e = np.where(m > 1e-32, np.ceil(np.log2(np.maximum(m, 1e-32)) + 1e-9), -128).astype(np.int32)
    scale = np.where(m > 1e-32, 256.0 / np.ldexp(1.0, e), 0.0)
    mant = np.clip(np.floor(rgb * scale[..., None]), 0, 255).astype(np.uint8)
    expo = np.where(m > 1e-32, e + 128, 0).astype(np.uint8)
    body = np.concatenate([mant, expo[..., None]], axis=-1).tobytes()
    with open(path, "wb") as f:
        f.write(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + f"-Y {h} +X {w}\n".encode() + body)


@pytest.fixture
def hdr_folder(tmp_path):
    d = tmp_path / "hdr"
    (d / "sub").mkdir(parents=True)
    write_exr(str(d / "alpha.exr"), toy_panorama(1), half=False)
    write_exr(str(d / "sub" / "beta.exr"), toy_panorama(2), half=False)
    write_radiance_flat(str(d / "gamma.hdr"), toy_panorama(3))
    (d / "notes.txt").write_text("not an image")
    return d


def test_loader_finds_exr_and_hdr_recursively(hdr_folder):
    files = find_hdr_files([str(hdr_folder)])
    assert [os.path.basename(f) for f in files] == ["alpha.exr", "gamma.hdr", "beta.exr"]
    images = {im.name: im for im in load_images([str(hdr_folder)])}
    assert set(images) == {"alpha", "beta", "gamma"}
    np.testing.assert_allclose(images["alpha"].pixels, toy_panorama(1), rtol=1e-6)
    # RGBE keeps ~8 bits of mantissa per pixel
    np.testing.assert_allclose(images["gamma"].pixels, toy_panorama(3), rtol=1e-2, atol=1e-3)
    assert all(im.is_panorama for im in images.values())


def test_loader_errors_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no .exr or .hdr"):
        find_hdr_files([str(tmp_path)])
    with pytest.raises(UserError, match="not found"):
        find_hdr_files([str(tmp_path / "nope")])
    bad = tmp_path / "bad.exr"
    bad.write_bytes(b"garbage")
    with pytest.raises(UserError):
        load_images([str(bad)])


def test_holdout_never_reaches_training(hdr_folder):
    images = load_images([str(hdr_folder)])
    train, val = split_holdout(images, ["beta"])
    assert [im.name for im in val] == ["beta"]
    assert "beta" not in [im.name for im in train]
    with pytest.raises(UserError, match="no such image"):
        split_holdout(images, ["courtyard"])
    with pytest.raises(UserError, match="nothing is left"):
        split_holdout(images, ["alpha", "beta", "gamma"])


def test_trainer_never_reads_held_out_scenes(tmp_path, monkeypatch):
    """A data folder holding a scene that the shipped models/splits.json holds out: the trainer's loader
    skips it before opening it, and it appears in neither the training nor the validation set."""
    splits = read_splits(None)  # the shipped split file
    assert "courtyard" in splits.held_out and len(splits.held_out) >= 6 and len(splits.validation) >= 3
    d = tmp_path / "data"
    (d / "deep").mkdir(parents=True)
    held = splits.held_out[0]
    write_exr(str(d / "deep" / f"{held}.exr"), toy_panorama(5), half=False)
    write_exr(str(d / "courtyard.exr"), toy_panorama(6), half=False)
    write_exr(str(d / "alpha.exr"), toy_panorama(1), half=False)
    write_exr(str(d / "beta.exr"), toy_panorama(2), half=False)
    from livehdr.train import data as D

    opened = []
    real = D.read_hdr_image
    monkeypatch.setattr(D, "read_hdr_image", lambda path: opened.append(os.path.basename(path)) or real(path))
    train, val = training_images([str(d)], splits, val_names=["beta"])
    assert sorted(opened) == ["alpha.exr", "beta.exr"]  # the held-out files were never even read
    assert [im.name for im in train] == ["alpha"] and [im.name for im in val] == ["beta"]
    # a held-out scene cannot be smuggled in as validation either
    with pytest.raises(UserError, match="held out"):
        training_images([str(d)], splits, val_names=["courtyard"])
    # a folder of nothing but held-out scenes trains on nothing, with one line
    only_held = tmp_path / "only"
    only_held.mkdir()
    write_exr(str(only_held / "courtyard.exr"), toy_panorama(6), half=False)
    with pytest.raises(UserError, match="every image"):
        training_images([str(only_held)], splits)


def test_split_file_validation_scenes_and_errors(tmp_path, hdr_folder):
    path = tmp_path / "s.json"
    path.write_text('{"held_out": {"gamma": "x"}, "validation": ["beta", "not_here"], "rule": "rest trains"}')
    splits = read_splits(str(path))
    assert splits == Splits(("gamma",), ("beta", "not_here"), str(path))
    train, val = training_images([str(hdr_folder)], splits)  # validation from the file, absent names dropped
    assert [im.name for im in train] == ["alpha"] and [im.name for im in val] == ["beta"]
    path.write_text('{"held_out": ["beta"], "validation": ["beta"]}')
    with pytest.raises(UserError, match="both held out and validation"):
        read_splits(str(path))
    path.write_text("{not json")
    with pytest.raises(UserError, match="cannot read the split file"):
        read_splits(str(path))


def test_shipped_split_spans_the_kinds_of_scene():
    import json

    from livehdr.train.data import default_splits_path

    with open(default_splits_path()) as f:
        raw = json.load(f)
    notes = " ".join(raw["held_out"].values())
    for kind in ("day", "sunset", "night", "interior", "studio", "close-up"):
        assert kind in notes, kind
    assert any(n.startswith("oexr_") for n in raw["held_out"])
    assert raw["rule"] == "everything else trains"


def test_grid_cases_cover_every_recipe_and_exposure(hdr_folder):
    images = load_images([str(hdr_folder)])
    cases = synthesis.make_grid_cases(images, views=2, width=48, height=32, seed=3)
    assert len(cases) == 3 * 2 * len(synthesis.EVAL_RECIPES) * len(synthesis.EVAL_STOPS)
    combos = {(c["image"], c["view"], c["recipe"], c["stops"]) for c in cases}
    assert len(combos) == len(cases)
    again = synthesis.make_grid_cases(images[:1], views=2, width=48, height=32, seed=3)
    np.testing.assert_array_equal(again[0]["sdr"], cases[0]["sdr"])  # a view depends on the name, not the order
    # the clip cases of one view differ only by exposure: 2 stops apart is 4x the light below the clip
    clip = {c["stops"]: c for c in cases if c["image"] == "alpha" and c["view"] == 0 and c["recipe"] == "clip"}
    assert clip[1.0]["exposure"] == pytest.approx(4 * clip[-1.0]["exposure"], rel=1e-6)
    np.testing.assert_allclose(clip[1.0]["target"], np.minimum(4 * clip[-1.0]["target"], synthesis.HEADROOM),
                               rtol=1e-5, atol=1e-6)


def test_perspective_view_looks_where_it_is_pointed():
    pano = np.zeros((64, 128, 3), np.float32)
    pano[30:34, 62:66] = 100.0  # a spot at longitude 0, on the horizon (centre of the equirect)
    pano[0:2] = 7.0  # the zenith row
    front = perspective_view(pano, 33, 33, yaw=0.0, pitch=0.0, fov_deg=60)
    assert front[16, 16, 0] > 50 and front[0, 0, 0] < 1
    back = perspective_view(pano, 33, 33, yaw=math.pi, pitch=0.0, fov_deg=60)
    assert back.max() < 1e-6
    left = perspective_view(pano, 33, 33, yaw=math.radians(20), pitch=0.0, fov_deg=60)
    assert left[16, 16, 0] < 1 and left[16].max() > 50  # the spot moved sideways in the frame
    up = perspective_view(pano, 33, 33, yaw=0.0, pitch=math.radians(89), fov_deg=30)
    assert abs(up[16, 16, 0] - 7.0) < 0.5


def test_random_view_shapes(hdr_folder):
    rng = np.random.default_rng(0)
    for im in load_images([str(hdr_folder)]):
        for _ in range(5):
            v = random_view(im, 32, rng)
            assert v.shape == (32, 32, 3) and v.dtype == np.float32 and np.all(v >= 0)


def test_synthesis_clip_recipe_and_target_follow_the_contract():
    hdr = toy_panorama(4)
    e = 0.5
    sdr = synthesis.synthesize_sdr(hdr, synthesis.SdrRecipe("clip", e))
    expected = tonecurves.quantize_8bit(color.eotf_inverse_sRGB(np.clip(hdr * e, 0, 1))) / 255.0
    np.testing.assert_allclose(sdr, expected, atol=1e-7)
    target = synthesis.target_from_hdr(hdr, e)
    assert target.max() == pytest.approx(1000 / 203)  # the sun is clamped at the headroom
    np.testing.assert_allclose(target[hdr * e < 4], (hdr * e)[hdr * e < 4], rtol=1e-6)
    # unclipped pixels: the naive decode of the SDR already equals the target, up to 8-bit rounding
    ok = hdr.max(axis=-1) * e < 0.9
    np.testing.assert_allclose(color.eotf_sRGB(sdr)[ok], target[ok], atol=5e-3)


def test_synthesis_gamma22_is_reencoded_to_srgb_codes():
    hdr = toy_panorama(5)
    sdr = synthesis.synthesize_sdr(hdr, synthesis.SdrRecipe("gamma22", 0.7))
    code22 = tonecurves.quantize_8bit(np.clip(hdr * 0.7, 0, 1) ** (1 / 2.2)) / 255.0
    np.testing.assert_allclose(color.eotf_sRGB(sdr), code22 ** 2.2, rtol=1e-4, atol=1e-6)


def test_synthesis_degradations_and_recipes():
    rng = np.random.default_rng(0)
    hdr = toy_panorama(6)
    clean = synthesis.synthesize_sdr(hdr, synthesis.SdrRecipe("aces", 1.0))
    jpeg = synthesis.synthesize_sdr(hdr, synthesis.SdrRecipe("aces", 1.0, jpeg_quality=60))
    noisy = synthesis.synthesize_sdr(hdr, synthesis.SdrRecipe("aces", 1.0, noise=0.01), rng)
    assert 0 < np.abs(jpeg - clean).mean() < 0.05
    assert 0 < np.abs(noisy - clean).mean() < 0.02
    names = {synthesis.random_recipe(hdr, rng).recipe for _ in range(200)}
    assert names == set(synthesis.RECIPE_WEIGHTS) and names <= set(synthesis.RECIPES)
    # the key exposure puts the log-average luminance at 0.18
    e = synthesis.key_exposure(hdr)
    Y = color.luminance_BT709(hdr * e)
    assert abs(math.exp(np.mean(np.log(np.maximum(Y, 1e-6 * e)))) - 0.18) < 1e-3


def test_eval_cases_are_deterministic(hdr_folder):
    images = load_images([str(hdr_folder)])
    a = synthesis.make_eval_cases(images, 6, 48, 32, seed=3)
    b = synthesis.make_eval_cases(images, 6, 48, 32, seed=3)
    assert [c["recipe"] for c in a] == ["clip", "gamma22", "reinhard", "aces", "hable", "clip"]
    for x, y in zip(a, b):
        assert x["sdr"].shape == (32, 48, 3) and np.array_equal(x["sdr"], y["sdr"])
        assert np.array_equal(x["target"], y["target"])


def test_lr_schedule():
    assert lr_at(0, 1000, 1e-3, 100) == pytest.approx(1e-5)
    assert lr_at(99, 1000, 1e-3, 100) == pytest.approx(1e-3)
    assert lr_at(1000, 1000, 1e-3, 100) == pytest.approx(1e-5)
    assert lr_at(550, 1000, 1e-3, 100) == pytest.approx(0.505e-3, rel=1e-3)


def test_loss_is_zero_at_the_target_and_weights_highlights():
    t = torch.rand(1, 3, 16, 16) * 4
    code = torch.rand(1, 3, 16, 16) * 0.5
    loss, parts = itm_loss(t, t, code)
    assert float(loss) == 0.0
    pred = t * 0.5
    lo, _ = itm_loss(pred, t, code)
    hi, _ = itm_loss(pred, t, torch.ones_like(code))  # same error where the input was clipped
    assert float(hi) > float(lo) > 0


def test_loss_punishes_over_expansion_of_unclipped_light_more():
    t = torch.full((1, 3, 16, 16), 0.5)
    code = torch.full_like(t, 0.7)  # nothing clipped
    over, _ = itm_loss(t * 1.5, t, code)
    under, _ = itm_loss(t / 1.5, t, code)
    assert float(over) > float(under) > 0
    # where the input was clipped, brightening is what ITM is for: no extra penalty
    over_c, parts = itm_loss(t * 1.5, t, torch.ones_like(code))
    assert parts["over"] == 0.0


def test_loss_psnr_term_rewards_near_exact_cases():
    """The per-image PU21-PSNR term: a 1 % error on an image that is otherwise exact costs more than the
    same 1 % added to an image that is already far off (a mean of dB values)."""
    t = torch.full((1, 3, 16, 16), 0.5)
    code = torch.full_like(t, 0.7)
    clean = t.clone()
    clean[..., :8] *= 1.01  # 1 % too bright on the left half of an otherwise exact image
    dirty0 = t.clone()
    dirty0[..., 8:] *= 1.5  # an image already 50 % off on the right half ...
    dirty1 = dirty0.clone()
    dirty1[..., :8] *= 1.01  # ... gets the same 1 % on the left
    cost_clean = itm_loss(clean, t, code)[1]["mse_db"]
    cost_dirty = itm_loss(dirty1, t, code)[1]["mse_db"] - itm_loss(dirty0, t, code)[1]["mse_db"]
    assert cost_clean > 20 * cost_dirty > 0


def test_a_few_training_steps_lower_the_loss_on_a_fixed_batch():
    """A scene with one thing to learn: a large window 40x brighter than the room, clipped in every recipe."""
    from livehdr.models.mqnet import MQNet
    from livehdr.train.data import HdrImage

    rng = np.random.default_rng(0)
    images = []
    for k in range(3):
        img = rng.uniform(0.02, 0.5, size=(96, 96, 1)).astype(np.float32) * np.array([0.9, 1.0, 0.8], np.float32)
        img[20:50, 30:70] = 40.0
        images.append(HdrImage(f"window{k}", "", img))
    torch.manual_seed(0)
    sdr, target = Sampler(images, 64, np.random.default_rng(0)).batch(4)
    model = MQNet(width=0.1, head_channels=8).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    with torch.no_grad():
        before = float(itm_loss(model(sdr), target, sdr)[0])
    for _ in range(12):
        loss, _ = itm_loss(model(sdr), target, sdr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(itm_loss(model(sdr), target, sdr)[0])
    assert after < 0.9 * before


def _train_cli(*args):
    """Run the CLI in-process (no second torch import); returns (exit code, stderr)."""
    from livehdr.train.__main__ import main

    threads = torch.get_num_threads()
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            rc = main(list(args))
    finally:
        torch.set_num_threads(threads)
    return rc, err.getvalue()


def test_train_cli_writes_weights_card_checkpoint_and_resumes(hdr_folder, tmp_path):
    out = str(tmp_path / "m")
    common = ["--data", str(hdr_folder), "--out", out, "--steps-per-epoch", "2", "--crop", "32", "--batch", "2",
              "--width", "0.1", "--val", "beta", "--val-cases", "1", "--synthetic-fraction", "0", "--quiet"]
    rc, err = _train_cli(*common, "--epochs", "1")
    assert rc == 0, err
    from livehdr.models.weights import load_model, read_card, read_metadata

    card = read_card(out + ".json")
    assert card["data"]["validation"] == ["beta"] and "beta" not in card["data"]["train"]
    assert card["data"]["held_out"] == list(read_splits(None).held_out)
    assert card["metrics"]["beats_naive"] is False  # only evaluate on the held-out split may claim that
    import datetime

    assert card["date"] == datetime.date.today().isoformat() and card["recipe"]["steps"] == 2
    assert set(card["metrics"]["validation"]["model"]) >= {"pu21_psnr", "highlight_log10_error"}
    assert set(card["metrics"]["validation"]["delta_vs_naive"]["per_scene"]) == {"beta"}
    model = load_model(out + ".safetensors")
    assert model.config["width"] == 0.1
    rc, err = _train_cli(*common, "--epochs", "2", "--resume")
    assert rc == 0, err
    import json

    assert json.loads(read_metadata(out + ".ckpt.safetensors")["counters"])["step"] == 4
    with open(out + ".safetensors", "rb") as f:
        assert b"pickle" not in f.read(64)


def test_train_cli_bad_input_is_one_line(tmp_path):
    rc, err = _train_cli("--data", str(tmp_path / "missing"), "--out", str(tmp_path / "m"))
    assert rc == 2
    assert err.strip().count("\n") == 0 and "error:" in err and "Traceback" not in err
    rc, err = _train_cli("--data", str(tmp_path), "--out", str(tmp_path / "m"), "--crop", "50")
    assert rc == 2 and "multiple of 32" in err
    rc, err = _train_cli("--data", str(tmp_path), "--out", "/proc/livehdr-model")  # checked before training
    assert rc == 2 and "not writable" in err
