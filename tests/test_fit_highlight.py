"""The highlight stage's trainer (train/highlight.py): its level-free field is the stage's, and a level-free
fit on synthetic suns learns a peak without moving a region's level."""
import numpy as np
import torch

from livehdr.color import highlight as hl
from livehdr.color.tonecurves import quantize_8bit, sdr_from_hdr
from livehdr.models.highlight import HighlightMLP, field_numpy
from livehdr.operators.highlight import HighlightStage
from livehdr.train.highlight import Batch, cell_field, fit, prepare_case

H, W = 120, 160
BASE = 1.6  # the flat light a pointwise operator gives every clipped pixel
KNEE = np.full(3, 0.97)  # the base's light at the knee code (the synthetic base is the truth below the clip)
TOP = 4.9


def _sun(cy, cx, radius, peak):
    yy, xx = np.mgrid[:H, :W]
    r = np.hypot(yy - cy, xx - cx)
    light = 0.3 + (peak - 0.3) * np.exp(-(r / radius) ** 2)
    hdr = np.repeat(light[..., None], 3, axis=2).astype(np.float32)
    sdr = quantize_8bit(sdr_from_hdr(hdr, 1.0, "clip", "srgb"))
    base = np.where(sdr.min(axis=-1, keepdims=True) == 255, BASE, hdr).astype(np.float32)
    return sdr, hdr, base


def _cases(seed, n):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        sdr, hdr, base = _sun(rng.uniform(40, 80), rng.uniform(50, 110), rng.uniform(18, 30), rng.uniform(3.0, 4.5))
        case = prepare_case(sdr, hdr, base, np.full(3, BASE), rng, knee_rgb=KNEE)
        assert case is not None and case["region"].max() == 1  # one measured region: the sun
        out.append(case)
    return out


def test_the_trainers_level_free_field_is_the_stages():
    sdr, hdr, base = _sun(60, 80, 25, 4.0)
    case = prepare_case(sdr, hdr, base, np.full(3, BASE), np.random.default_rng(0), knee_rgb=KNEE)
    torch.manual_seed(2)
    mlp = HighlightMLP(8)
    torch.nn.init.normal_(mlp.outer.weight, std=0.5)
    with torch.no_grad():
        trained = cell_field(mlp, Batch([case]), level_free=True).numpy()
    stage = HighlightStage(mlp.numpy_parameters(), level_free=True)
    field = stage.raw_field(hl.cell_sums(sdr), np.full(3, BASE), KNEE).ravel()
    assert np.allclose(trained, field[case["cells"]], atol=1e-5)
    plain = field_numpy(hl.features_from_sums(hl.cell_sums(sdr), hl.log2_white(np.full(3, BASE))),
                        mlp.numpy_parameters())
    assert not np.allclose(plain[case["cells"]], trained, atol=1e-3)  # the centring did something


def test_a_level_free_fit_gives_a_synthetic_sun_a_peak_and_keeps_its_level():
    mlp, best, history = fit(_cases(0, 12), _cases(1, 4), hidden=8, steps=60, lr=2e-2, highlight_weight=4.0,
                             top=TOP, seed=0, log=lambda msg: None, level_free=True, shape_weight=20.0)
    assert history[-1]["val_shape_corr_sampled"] > 0.5
    sdr, hdr, base = _sun(62, 78, 24, 4.0)
    stage = HighlightStage(mlp.numpy_parameters(), level_free=True)
    out = hl.apply_field(base, sdr, stage.field_for_frame(sdr, np.full(3, BASE), KNEE), TOP)[..., 1]
    clipped = sdr.min(axis=-1) == 255
    rim = clipped & ~(np.roll(clipped, 2, 0) & np.roll(clipped, -2, 0) & np.roll(clipped, 2, 1)
                      & np.roll(clipped, -2, 1))
    assert out[62, 78] > 1.3 * out[rim].mean()  # a peak inside, a fall-off to the rim
    # the region's level stays the base's, but for the floor at the knee's light that lifts the rim
    assert abs(np.log2(out[clipped]).mean() - np.log2(BASE)) < 0.25
    assert out[clipped].min() >= KNEE[1] - 1e-6  # no clipped pixel below the light at the knee


def _wall(cy, cx, radius):
    """A clipped disc whose truth is flat at the base's level: the same geometry as a sun, nothing to shape."""
    yy, xx = np.mgrid[:H, :W]
    inside = np.hypot(yy - cy, xx - cx) < radius
    hdr = np.where(inside[..., None], 1.15 * BASE, 0.3).astype(np.float32).repeat(3, axis=2)
    sdr = quantize_8bit(sdr_from_hdr(hdr, 1.0, "clip", "srgb"))
    base = np.where(inside[..., None], BASE, 0.31).astype(np.float32).repeat(3, axis=2)
    return sdr, hdr, base


def test_the_loss_hinge_protects_the_cases_a_shared_field_would_hurt():
    rng = np.random.default_rng(3)

    def cases(n):
        out = []
        for make in (_sun, _wall):
            for _ in range(n):
                args = (rng.uniform(40, 80), rng.uniform(50, 110), rng.uniform(18, 30))
                sdr, hdr, base = make(*args, rng.uniform(3.0, 4.5)) if make is _sun else make(*args)
                out.append(prepare_case(sdr, hdr, base, np.full(3, BASE), rng, knee_rgb=KNEE))
        return out

    train, val = cases(8), cases(3)
    kw = dict(hidden=8, steps=40, lr=2e-2, highlight_weight=0.0, top=TOP, seed=0, log=lambda msg: None,
              level_free=True, shape_weight=0.0)
    _, _, plain = fit(train, val, **kw)
    _, _, hinged = fit(train, val, **kw, loss_weight=10.0)
    # measured: worst -1.89 dB without the hinge, -0.04 with it (the mean gain 2.30 -> 0.59 dB)
    assert plain[-1]["val_worst_gain_db"] < -1.0  # shaping every disc costs a flat wall
    assert hinged[-1]["val_worst_gain_db"] > max(-0.3, plain[-1]["val_worst_gain_db"] + 1.0)
    assert hinged[-1]["val_gain_db"] > 0.3


def test_bad_numbers_get_one_line_and_no_output(tmp_path, capsys):
    from livehdr.fit_highlight import main

    out = tmp_path / "clut.safetensors"
    for flag, value in (("--loss-weight", "-1"), ("--shape-weight", "nan"), ("--steps", "0"), ("--lr", "0")):
        assert main(["--data", str(tmp_path), "--out", str(out), flag, value]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"livehdr.fit_highlight: error: {flag} "), err
    assert not out.exists()
