"""CLUT (livehdr/models/clut.py) and its operator (livehdr/operators/lut.py): parameterisation, weights,
the three ways to apply the LUT, operator discovery and the default choice. Temporal behaviour:
tests/test_clut_temporal.py."""
import json
import os

import numpy as np
import pytest
import torch

from livehdr import color
from livehdr.base.errors import UserError
from livehdr.models import create_model
from livehdr.models.clut import CLUT, apply_lut_torch, thumbnail_numpy, thumbnail_torch
from livehdr.models.weights import load_model, save_model, shipped_path
from livehdr.operators import OperatorConfig, create_operator

SHIPPED = shipped_path("clut")
needs_shipped = pytest.mark.skipif(not os.path.isfile(SHIPPED), reason="shipped clut weights absent")
W709 = np.array(color.WEIGHTS_BT709)


def random_clut(seed: int = 0, scale: float = 0.4, **config) -> CLUT:
    """A CLUT with non-zero compressed bases (an untrained one is naive, which would hide everything)."""
    torch.manual_seed(seed)
    m = CLUT(**config).eval()
    with torch.no_grad():
        m.cores.normal_(0.0, scale)
    return m


def lut_of(model: CLUT, weights: torch.Tensor, **kw) -> np.ndarray:
    with torch.inference_mode():
        return model.lut_from_fields(model.fields(weights), **kw)[0].numpy()


def frame(seed: int = 0, h: int = 120, w: int = 160) -> np.ndarray:
    """A smooth colourful uint8 frame with a clipped highlight."""
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    rgb = np.stack([x, y, 0.5 + 0.5 * np.sin(6 * x + 3 * y + seed)], axis=-1)
    rgb[h // 3:h // 2, w // 3:w // 2] = 1.0
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def numpy_trilinear(code: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """The LUT contract written out slowly (float64): lut[b, g, r] at code (r, g, b) / (D - 1)."""
    d = lut.shape[0]
    x = np.clip(code.astype(np.float64), 0, 1) * (d - 1)
    i = np.minimum(np.floor(x), d - 2).astype(int)
    f = x - i
    out = np.zeros(code.shape, np.float64)
    for db in (0, 1):
        for dg in (0, 1):
            for dr in (0, 1):
                wgt = ((f[..., 2] if db else 1 - f[..., 2]) * (f[..., 1] if dg else 1 - f[..., 1])
                       * (f[..., 0] if dr else 1 - f[..., 0]))
                out += wgt[..., None] * lut[i[..., 2] + db, i[..., 1] + dg, i[..., 0] + dr]
    return out


# ---- parameterisation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("gamma", ["srgb", "2.2", "2.4"])
def test_untrained_lut_is_the_naive_operator(gamma):
    """Zero bases: every node holds the naive operator's output for its code values, to float rounding,
    whatever the thumbnail CNN says; between nodes only trilinear interpolation of the EOTF differs."""
    m = create_model("clut").eval()
    d = m.lut_size
    lut = lut_of(m, torch.randn(1, m.bases) * 5, input_gamma=gamma)
    codes = np.linspace(0, 1, d)
    b, g, r = np.meshgrid(codes, codes, codes, indexing="ij")
    naive = color.eotf_input(np.stack([r, g, b], axis=-1), gamma)
    np.testing.assert_allclose(lut, naive, rtol=0, atol=2e-7)
    code = frame().astype(np.float32) / 255
    with torch.inference_mode():
        out = m(torch.from_numpy(code).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    # |f''| h^2 / 8 for the sRGB curve with 33 nodes: the interpolation's own error, nothing learned
    assert np.abs(out - color.eotf_sRGB(code)).max() < 5e-4


def test_monotonic_in_luminance_at_any_weights():
    """Random (large) bases and weights: the LUT's luminance never falls from one node to the next along r,
    g or b (the running-maximum projection), except where the top clamp cut an entry."""
    for seed in range(3):
        m = random_clut(seed, scale=2.0)
        lut = lut_of(m, torch.randn(1, m.bases, generator=torch.Generator().manual_seed(seed)) * 3)
        Y = lut @ W709
        free = lut.max(axis=-1) < m.max_relative * (1 - 1e-6)
        for axis in (0, 1, 2):
            step = np.diff(Y, axis=axis)
            both = np.logical_and(np.take(free, range(1, lut.shape[0]), axis=axis),
                                  np.take(free, range(0, lut.shape[0] - 1), axis=axis))
            assert step[both].min() >= -1e-6 * m.max_relative  # float rounding of entries up to the top
        assert np.isfinite(lut).all() and lut.min() >= 0 and lut.max() <= m.max_relative + 1e-6


def test_raw_fields_have_a_monotonicity_and_smoothness_regulariser():
    m = random_clut(1, scale=1.0)
    fields = m.fields(torch.randn(2, m.bases))
    reg = m.regularisation(fields)
    assert reg.item() > 0
    reg.backward()
    assert m.cores.grad.abs().sum() > 0
    zero = create_model("clut")
    assert zero.regularisation(zero.fields(torch.randn(2, zero.bases))).item() == 0.0  # naive is monotonic


def test_grey_stays_grey_at_every_node_whatever_the_weights():
    m = random_clut(2, scale=1.5)
    lut = lut_of(m, torch.randn(1, m.bases))
    diag = lut[np.arange(33), np.arange(33), np.arange(33)]
    assert np.array_equal(diag[:, 0], diag[:, 1]) and np.array_equal(diag[:, 1], diag[:, 2])


@needs_shipped
def test_shipped_lut_keeps_a_grey_ramp_neutral_between_nodes():
    from livehdr.metrics import delta_uv_from_D65

    op = create_operator("clut", OperatorConfig(device="cpu"))
    ramp = np.repeat(np.linspace(0.02, 1.0, 512, dtype=np.float32)[None, :, None], 3, axis=2)
    pictures = [frame(s) for s in range(3)] + [np.full((64, 64, 3), v, np.uint8) for v in (40, 128, 250)]
    for pic in pictures:
        op.reset()
        lut = op.lut_for_frame(pic)
        from livehdr.color.lut3d import apply_lut3d

        out = apply_lut3d(np.ascontiguousarray(ramp), lut)
        assert float(np.max(delta_uv_from_D65(out[0]))) <= 0.002


@needs_shipped
def test_shipped_lut_is_monotonic_everywhere():
    op = create_operator("clut", OperatorConfig(device="cpu"))
    for s in range(3):
        op.reset()
        Y = op.lut_for_frame(frame(s)) @ W709
        for axis in (0, 1, 2):
            assert np.diff(Y, axis=axis).min() >= -1e-5


def test_compressed_bases_shapes_and_a_smaller_lut():
    for d, s_rank, w_rank in ((33, 12, 24), (17, 5, 10)):
        m = random_clut(3, lut_size=d, s_rank=s_rank, w_rank=w_rank, bases=4)
        assert m.m_s.shape == (d, s_rank) and m.m_w.shape == (w_rank, d * d)
        assert m.cores.shape == (4, 2, s_rank, w_rank)
        w = torch.randn(3, 4)
        assert m.fields(w).shape == (3, 2, d, d, d)
        with torch.inference_mode():
            lut = m.lut_from_fields(m.fields(w))
        assert lut.shape == (3, d, d, d, 3) and lut.dtype == torch.float32
        # stored compressed: far fewer numbers than the N full LUTs they stand for
        assert m.cores.numel() + m.m_s.numel() + m.m_w.numel() < 4 * 2 * d ** 3
    with pytest.raises(ValueError):
        CLUT(lut_size=9, s_rank=12)


def test_thumbnail_is_the_same_from_numpy_and_torch():
    f = frame(4, 1080 // 4, 1920 // 4)
    a = thumbnail_numpy(f)
    b = thumbnail_torch(torch.from_numpy(f.astype(np.float32) / 255).permute(2, 0, 1)[None])[0].permute(1, 2, 0)
    assert a.shape == (256, 256, 3)
    np.testing.assert_array_equal(a, b.numpy())
    assert np.array_equal(thumbnail_numpy(a), a)  # a 256x256 thumbnail is its own thumbnail


# ---- the application paths -------------------------------------------------------------------------------
def test_torch_grid_sample_follows_the_lut_contract():
    m = random_clut(4)
    lut = lut_of(m, torch.randn(1, m.bases))
    code = np.random.default_rng(0).random((40, 50, 3)).astype(np.float32)
    code[0, 0] = (0, 0, 0)
    code[0, 1] = (1, 1, 1)
    got = apply_lut_torch(torch.from_numpy(code).permute(2, 0, 1)[None], torch.from_numpy(lut)[None])
    got = got[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(got, numpy_trilinear(code, lut), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[0, 0], lut[0, 0, 0], atol=1e-7)
    np.testing.assert_allclose(got[0, 1], lut[-1, -1, -1], atol=1e-6)


def test_numba_apply_follows_the_lut_contract():
    from livehdr.color.lut3d import apply_lut3d

    m = random_clut(5)
    lut = lut_of(m, torch.randn(1, m.bases))
    u8 = frame(5)
    np.testing.assert_allclose(apply_lut3d(u8, lut), numpy_trilinear(u8 / 255.0, lut), rtol=1e-4, atol=1e-6)


def operator_from(model: CLUT, tmp_path, **config) -> "LUTOperator":  # noqa: F821
    from livehdr.operators.lut import LUTOperator

    path = str(tmp_path / "clut.safetensors")
    save_model(path, model, "clut")
    return LUTOperator(OperatorConfig(device="cpu", **config), "clut", path)


def test_operator_numpy_and_torch_paths_agree(tmp_path):
    """expand(numpy) = lut_for_frame + numba; expand(torch NCHW) = torch thumbnail + grid_sample: the same
    LUT (the same thumbnail pixels) and the same output to 1e-3 relative."""
    op = operator_from(random_clut(6), tmp_path)
    code = frame(6).astype(np.float32) / 255
    a = op(code)
    op.reset()
    b = op(torch.from_numpy(code).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert np.abs(a - b).max() <= 1e-3 * max(1e-3, float(np.abs(a).max()))
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    op.reset()
    lut = op.lut_for_frame(frame(6))
    assert lut.shape == (33, 33, 33, 3) and lut.dtype == np.float32 and lut.flags.c_contiguous
    assert op.lut_size == 33 and op.applies_lut is True
    np.testing.assert_allclose(numpy_trilinear(code, lut), a, rtol=1e-3, atol=1e-5)


def test_lut_for_thumbnail_matches_lut_for_frame(tmp_path):
    op = operator_from(random_clut(7), tmp_path)
    big = frame(7, 540, 960)
    a = op.lut_for_frame(big)
    op.reset()
    b = op.lut_for_thumbnail(thumbnail_numpy(big))
    np.testing.assert_array_equal(a, b)
    op.reset()
    from livehdr.models.clut import thumbnail_indices

    rows, cols = thumbnail_indices(*big.shape[:2])
    np.testing.assert_array_equal(op.lut_for_thumbnail(big[rows][:, cols]), a)  # a uint8 thumbnail, as capture makes
    op.reset()
    small = op.lut_for_thumbnail(big[::4, ::4])  # another size is resampled, not refused
    assert small.shape == a.shape and np.isfinite(small).all()


def test_input_gamma_and_saturation_are_baked_into_the_lut(tmp_path):
    """--input-gamma 2.2: the LUT's nodes are gamma-2.2 code values (an untrained LUT is naive-2.2 at the nodes);
    a trained one applied to gamma-2.2 codes matches the sRGB LUT applied to the sRGB codes of the same light.
    --saturation: lut_for_frame includes it, matching Operator.__call__'s per-pixel adjustment."""
    m = random_clut(8, scale=0.3)
    srgb = operator_from(m, tmp_path)
    g22 = operator_from(m, tmp_path, input_gamma="2.2")
    code22 = frame(8).astype(np.float32) / 255
    as_srgb = color.eotf_inverse_sRGB(color.eotf_input(code22, "2.2")).astype(np.float32)
    lut_s = srgb.lut_for_frame(as_srgb)
    g22.temporal.update(srgb.temporal.weights, thumbnail_numpy(as_srgb))  # the same basis weights
    with torch.inference_mode():
        lut_g = g22.model.lut_from_fields(g22.model.fields(g22.temporal.weights), input_gamma="2.2")[0].numpy()
    a, b = numpy_trilinear(code22, lut_g), numpy_trilinear(as_srgb, lut_s)
    assert np.median(np.abs(a - b) / (b + 1e-3)) < 0.01  # two interpolation grids, the same light
    sat = operator_from(m, tmp_path, saturation=1.3)
    out = sat(code22)
    sat.reset()
    baked = numpy_trilinear(code22, sat.lut_for_frame(code22))
    srgb.reset()
    plain = srgb(code22)
    Y = (plain @ W709)[..., None]
    inside = ((Y + 1.3 * (plain - Y)) >= 0).all(axis=-1)  # per entry and per pixel clamp differently below 0
    assert inside.mean() > 0.3  # the test frame holds many fully saturated pixels
    # identical but where a neighbouring node's entry was clamped at 0 (a few near-black channels)
    diff = np.abs(baked[inside] - out[inside])
    assert np.mean(diff <= 1e-3 * np.abs(out[inside]) + 1e-5) > 0.95 and diff.max() < 0.01


# ---- weights ---------------------------------------------------------------------------------------------
def test_weights_round_trip_through_safetensors(tmp_path):
    m = random_clut(9)
    path = str(tmp_path / "c.safetensors")
    save_model(path, m, "clut")
    back = load_model(path, expect_arch="clut")
    x = torch.from_numpy(frame(9).astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.inference_mode():
        torch.testing.assert_close(back(x), m(x), rtol=0, atol=0)
    assert back.config == m.config


def _one_line_error(path):
    with pytest.raises(UserError) as e:
        load_model(path)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_bad_weights_are_refused_in_one_line(tmp_path):
    from safetensors.torch import load_file, save_file

    m = random_clut(10)
    good = str(tmp_path / "good.safetensors")
    save_model(good, m, "clut")
    tensors = load_file(good)
    meta = {"format": "pt", "arch": "clut", "config": json.dumps(m.config)}

    bad = str(tmp_path / "nan.safetensors")
    t = dict(tensors, cores=tensors["cores"].clone().fill_(float("nan")))
    save_file(t, bad, metadata=meta)
    assert "NaN" in _one_line_error(bad)

    bad = str(tmp_path / "shape.safetensors")
    save_file(dict(tensors, m_s=torch.zeros(33, 5)), bad, metadata=meta)
    assert "m_s" in _one_line_error(bad)

    bad = str(tmp_path / "huge.safetensors")
    save_file(tensors, bad, metadata=dict(meta, config=json.dumps(dict(m.config, lut_size=100000))))
    assert "lut_size" in _one_line_error(bad)

    trunc = str(tmp_path / "trunc.safetensors")
    with open(good, "rb") as f, open(trunc, "wb") as g:
        g.write(f.read()[:300])
    _one_line_error(trunc)


# ---- discovery and the default ---------------------------------------------------------------------------
def _ship(folder, name, model, arch, card):
    save_model(str(folder / f"{name}.safetensors"), model, arch)
    (folder / f"{name}.json").write_text(json.dumps(card))


def test_registry_picks_the_lut_operator_and_the_same_default_everywhere(tmp_path, monkeypatch):
    from livehdr.models import weights
    from livehdr.operators import registry
    from livehdr.operators.learned import LearnedOperator, default_learned_choice
    from livehdr.operators.lut import LUTOperator
    from livehdr.models.mqnet import MQNet

    monkeypatch.setattr(weights, "MODELS_DIR", str(tmp_path))
    def win(gain, **ranks):
        return {"metrics": {"beats_naive": True, "heldout": {"goals": {"mean_pu21_gain_db": gain}}}, **ranks}

    _ship(tmp_path, "mqnet", MQNet(width=0.1, head_channels=8), "mqnet", win(1.2))
    _ship(tmp_path, "clut", random_clut(11, scale=0.1), "clut", win(1.5))
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "_learned_loaded", False)
    assert isinstance(create_operator("clut", OperatorConfig(device="cpu")), LUTOperator)
    assert type(create_operator("mqnet", OperatorConfig(device="cpu"))) is LearnedOperator
    # the largest held-out gain is the default on every device
    for cuda in (False, True):
        name, why = default_learned_choice(cuda=cuda)
        assert name == "clut" and "largest held-out win" in why and "+1.50 dB" in why and "mqnet +1.20 dB" in why
        assert "the same default on every device" in why
    # only a rank measured on that kind of device changes it, there only
    _ship(tmp_path, "mqnet", MQNet(width=0.1, head_channels=8), "mqnet", win(1.2, default_rank_cuda=0))
    name, why = default_learned_choice(cuda=True)
    assert name == "mqnet" and "ranks it first on cuda (measured there)" in why
    assert default_learned_choice(cuda=False)[0] == "clut"
    # a clut card without a held-out win leaves mqnet the default everywhere, and says why
    _ship(tmp_path, "clut", random_clut(11, scale=0.1), "clut", {"metrics": {"beats_naive": False}})
    name, why = default_learned_choice(cuda=False)
    assert name == "mqnet" and "clut: no held-out win" in why


@needs_shipped
def test_shipped_clut_loads_and_runs_every_frame_size():
    op = create_operator("clut", OperatorConfig(device="cpu"))
    for h, w in ((1, 1), (7, 300), (240, 320)):
        out = op(np.random.default_rng(h).random((h, w, 3)).astype(np.float32))
        assert out.shape == (h, w, 3) and np.isfinite(out).all() and out.max() <= op.max_relative


# ---- training --------------------------------------------------------------------------------------------
def test_trainer_trains_a_clut_without_reading_held_out_scenes(tmp_path, monkeypatch):
    """--arch clut through the same trainer: the shipped split's held-out scenes are never opened, the
    result is a loadable clut with a card (no beats_naive claim), and --resume continues it."""
    import contextlib
    import io

    from livehdr.io.imagefiles import write_exr
    from livehdr.models.weights import read_card, read_metadata
    from livehdr.train import data as D
    from livehdr.train.__main__ import main
    from livehdr.train.data import read_splits
    from test_train import toy_panorama

    held = read_splits(None).held_out
    d = tmp_path / "data"
    d.mkdir()
    for i, name in enumerate(["alpha", "beta", held[0], held[-1]]):
        write_exr(str(d / f"{name}.exr"), toy_panorama(i + 1), half=False)
    opened = []
    real = D.read_hdr_image
    monkeypatch.setattr(D, "read_hdr_image", lambda path: opened.append(os.path.basename(path)) or real(path))
    out = str(tmp_path / "c")
    common = ["--arch", "clut", "--lut-size", "9", "--bases", "3", "--data", str(d), "--out", out,
              "--steps-per-epoch", "2", "--crop", "64", "--batch", "2", "--val", "beta", "--synthetic-fraction", "0",
              "--quiet", "--threads", "1"]
    threads = torch.get_num_threads()
    try:
        for extra in (["--epochs", "1"], ["--epochs", "2", "--resume"]):
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                assert main(common + extra) == 0, err.getvalue()
    finally:
        torch.set_num_threads(threads)
    assert sorted(set(opened)) == ["alpha.exr", "beta.exr"]
    card = read_card(out + ".json")
    assert card["architecture"] == "clut" and card["data"]["train"] == ["alpha"]
    assert card["metrics"]["beats_naive"] is False and "LUT regularisers" in card["recipe"]["loss"]
    model = load_model(out + ".safetensors", expect_arch="clut")
    assert model.config["lut_size"] == 9 and model.config["bases"] == 3
    assert json.loads(read_metadata(out + ".ckpt.safetensors")["counters"])["step"] == 4
