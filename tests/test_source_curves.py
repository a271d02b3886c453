"""--source-curve (issue #23 part 2): each known curve with its exact inverse, the operator that inverts it,
the CLI, the window's curve key and the evaluation column."""
from __future__ import annotations

import doctest
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from livehdr import color
from livehdr.base.errors import UserError
from livehdr.color import pack
from livehdr.color import table as T
from livehdr.color import tonecurves as tc
from livehdr.operators import OperatorConfig, create_operator
from livehdr.operators.source_curve import SourceCurveOperator, qualified_name, split_name
from livehdr.train import synthesis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = list(tc.SOURCE_CURVES)


def scene_samples(name: str, n: int = 3000, seed: int = 0) -> np.ndarray:
    """Scene values inside the curve's unclipped range (RGB rows)."""
    entry = tc.SOURCE_CURVES[name]
    rng = np.random.default_rng(seed)
    top = min(entry.scene_white, 40.0) * 0.999
    if name == "agx":  # near-neutral colours inside the log2 range (saturated ones leave it)
        return np.exp(rng.uniform(np.log(2e-3), np.log(10.0), (n, 1))) * np.exp(rng.uniform(-0.3, 0.3, (n, 3)))
    return np.exp(rng.uniform(np.log(1e-3), np.log(top), (n, 3)))


def display_samples(name: str, n: int = 3000, seed: int = 1) -> np.ndarray:
    """Display values in [0, 1) that the curve reaches: any colour for the per-channel curves; greys and
    colours below the compression for the channel-coupled ones."""
    rng = np.random.default_rng(seed)
    if tc.SOURCE_CURVES[name].per_channel:
        return rng.uniform(0.0, 0.999, (n, 3))
    greys = np.repeat(rng.uniform(0.01, 0.99, (n // 2, 1)), 3, axis=1)
    colours = rng.uniform(0.05, 0.7, (n // 2, 3)) if name == "pbr-neutral" else \
        np.clip(greys * np.exp(rng.uniform(-0.05, 0.05, (n // 2, 3))), 0.0, 0.99)
    return np.concatenate([greys, colours])


def test_the_table_and_its_doctests():
    assert set(tc.SOURCE_CURVES) == {"srgb", "gamma2.2", "bt1886", "aces", "hable", "reinhard", "agx", "pbr-neutral"}
    assert tc.SOURCE_CURVE_CHOICES[0] == "auto"
    for entry in tc.SOURCE_CURVES.values():
        assert entry.encoding in color.INPUT_GAMMAS and entry.citation
    assert {"agx", "pbr-neutral"} <= set(tc.TONE_CURVES)
    assert doctest.testmod(tc).failed == 0


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("name", NAMES)
def test_every_curve_round_trips(name):
    entry = tc.SOURCE_CURVES[name]
    x = scene_samples(name)
    np.testing.assert_allclose(entry.inverse(entry.forward(x)), x, rtol=1e-5, atol=1e-9)
    y = display_samples(name)
    np.testing.assert_allclose(entry.forward(entry.inverse(y)), y, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_torch_and_numpy_give_the_same_numbers(name):
    entry = tc.SOURCE_CURVES[name]
    x = scene_samples(name, 600).reshape(20, 30, 3)
    as_torch = lambda a: torch.from_numpy(np.moveaxis(a, -1, 0)[None].copy())  # noqa: E731
    back = lambda t: np.moveaxis(t[0].numpy(), 0, -1)  # noqa: E731
    np.testing.assert_allclose(back(entry.forward(as_torch(x))), entry.forward(x), rtol=1e-9, atol=1e-12)
    y = entry.forward(x)
    np.testing.assert_allclose(back(entry.inverse(as_torch(y))), entry.inverse(y), rtol=1e-7, atol=1e-12)
    got32 = back(entry.inverse(as_torch(y).float()))  # the float32 path too (the GPU's)
    want = entry.inverse(y)
    # relative to the pixel's brightest channel: PBR Neutral's desaturation swamps a dim channel beside a bright one
    tol = 1e-3 if name == "pbr-neutral" else 1e-4
    assert np.all(np.abs(got32 - want) <= tol * want.max(axis=-1, keepdims=True) + 1e-6)


def test_spec_values():
    # Khronos PBR Neutral: below the compression start only the toe offset (0.04 once min >= 0.08).
    x = np.array([[0.5, 0.3, 0.1], [0.7, 0.75, 0.2]])
    np.testing.assert_allclose(tc.tonemap_pbr_neutral(x), x - 0.04, atol=1e-12)
    assert float(tc.tonemap_pbr_neutral(np.full((1, 3), 1e6))[0, 0]) == pytest.approx(1.0, abs=1e-6)
    # Hable: the white point W = 11.2 maps to 1, and back.
    assert float(tc.tonemap_hable(np.array(tc.HABLE_W))) == pytest.approx(1.0)
    assert float(tc.tonemap_inverse_hable(np.array(1.0))) == pytest.approx(tc.HABLE_W)
    # Reinhard eq. 3: 1 -> 1/2; Narkowicz's fit reaches 1 at its white (about 7.24).
    assert float(tc.tonemap_inverse_reinhard(np.array(0.5))) == pytest.approx(1.0)
    assert float(tc.tonemap_aces_fitted(np.array(tc.aces_fitted_white()))) == pytest.approx(1.0)
    assert 7.2 < tc.aces_fitted_white() < 7.3
    # AgX: middle grey at half the code range; the top of its log2 range near 16.3.
    grey = tc.tonemap_agx(np.full((1, 3), 0.18))
    assert float(color.eotf_inverse_sRGB(grey)[0, 1]) == pytest.approx(0.5, abs=2e-3)
    assert 16.0 < tc.SOURCE_CURVES["agx"].scene_white < 16.5


def _hdr_image(seed=3, h=40, w=60):
    rng = np.random.default_rng(seed)
    return np.exp(rng.uniform(-5, 3.5, (h, w, 3))).astype(np.float32)


@pytest.mark.parametrize("recipe,curve", [("hable", "hable"), ("aces", "aces"), ("reinhard", "reinhard"),
                                          ("clip", "srgb")])
def test_operator_on_8bit_frames_is_within_quantization_of_the_target(recipe, curve):
    hdr = _hdr_image()
    exposure = synthesis.key_exposure(hdr) * synthesis.EXPOSURE_BIAS[recipe]
    sdr = synthesis.synthesize_sdr(hdr, synthesis.SdrRecipe(recipe, exposure))
    target = synthesis.target_from_hdr(hdr, exposure)
    op = SourceCurveOperator(create_operator("naive", OperatorConfig()), curve)
    got = op.expand_uint8(np.rint(sdr * 255).astype(np.uint8))
    entry = tc.SOURCE_CURVES[curve]
    # the target lies between the inverse at the code's half-steps (the curve is monotone per channel)
    lo = entry.inverse(color.eotf_sRGB(np.clip(sdr - 0.5 / 255, 0, 1)))
    hi = entry.inverse(color.eotf_sRGB(np.clip(sdr + 0.5 / 255, 0, 1)))
    below = (sdr < 1.0) & (target < op.max_relative)
    assert below.mean() > 0.5
    assert np.all((target[below] >= lo[below] * (1 - 1e-5) - 1e-7) & (target[below] <= hi[below] * (1 + 1e-5) + 1e-7))
    assert np.all(np.abs(got - target)[below] <= (hi - lo)[below] + 1e-6)
    assert np.all(got[sdr >= 1.0] == np.float32(min(entry.inverse(np.array(1.0)), op.max_relative)))


def test_channel_coupled_operators_recover_the_target_of_agx_and_pbr_neutral():
    hdr = _hdr_image(h=20, w=30) * 0.3 + 0.02
    for recipe in ("agx", "pbr-neutral"):
        exposure = synthesis.key_exposure(hdr)
        sdr = synthesis.synthesize_sdr(hdr, synthesis.SdrRecipe(recipe, exposure))
        target = synthesis.target_from_hdr(hdr, exposure)
        got = SourceCurveOperator(create_operator("naive", OperatorConfig()), recipe)(sdr)
        below = (sdr < 250 / 255).all(axis=-1) & (target < 4.0).all(axis=-1) & (target > 0.01).all(axis=-1)
        err = np.abs(np.log(np.maximum(got[below], 1e-9) / target[below]))
        assert below.mean() > 0.3 and np.median(err) < 0.02, (recipe, np.median(err))


# Measured: the clip curves within 1 code; the steep inverse shoulders between the table's uniform nodes (codes
# 225-246) cost more: hable 2 (grey ramp 4), aces 4, agx 13 (grey ramp 12). color/table.py's grid decides it.
TABLE_CODES = {"bt1886": 1, "srgb": 1, "hable": 4, "aces": 4, "agx": 13}


@pytest.mark.parametrize("curve", sorted(TABLE_CODES))
def test_table_path_equals_the_float_path_as_measured(curve):
    op = SourceCurveOperator(create_operator("naive", OperatorConfig()), curve)
    v = np.unique(np.r_[np.arange(0, 256, 5), 255]).astype(np.uint8)
    r, g, b = np.meshgrid(v, v, v, indexing="ij")
    frame = np.repeat(np.repeat(np.stack([r, g, b], -1).reshape(len(v) ** 2, len(v), 3), 2, 0), 2, 1)
    levels = color.ReferenceLevels().for_content(op.content_peak)
    h, w = frame.shape[:2]
    planes = lambda: [np.zeros((h, w), np.uint16), np.zeros((h // 2, w // 2), np.uint16),  # noqa: E731
                      np.zeros((h // 2, w // 2), np.uint16)]
    exact, fast = planes(), planes()
    pack.relative_to_yuv420p10(op.expand_uint8(frame), *exact, levels.paper_white, levels.peak, dither=False,
                               source_peak=levels.source_peak)
    T.table_to_yuv420p10(frame, T.compose_table(op.relative_at_nodes(frame), levels, "pq"), *fast, dither=False)
    diffs = [np.abs(a.astype(int) - b.astype(int)) for a, b in zip(exact, fast)]
    assert max(int(d.max()) for d in diffs) <= TABLE_CODES[curve]
    assert max(float(np.median(d)) for d in diffs) == 0


class _Stage:
    def __init__(self):
        self.resets = 0

    def clone(self):
        return _Stage()

    def reset(self):
        self.resets += 1


def test_operator_keeps_a_clone_of_the_learned_highlight_stage_and_resets_it():
    learned = create_operator("naive", OperatorConfig())
    learned.highlight = _Stage()
    op = SourceCurveOperator(learned, "hable")
    assert op.highlight is not learned.highlight and isinstance(op.highlight, _Stage)
    op.reset()
    assert op.highlight.resets == 1 and learned.highlight.resets == 0
    assert op.pointwise and op.name == "naive/hable" and op.source_curve == "hable"
    assert SourceCurveOperator(create_operator("naive", OperatorConfig()), "aces").highlight is None
    assert split_name(qualified_name("clut", "agx")) == ("clut", "agx")
    assert split_name("clut") == ("clut", "auto") and qualified_name("clut", "auto") == "clut"


def test_registry_wraps_learned_models_and_refuses_classical_curves():
    op = create_operator("clut", OperatorConfig(source_curve="hable"))
    assert isinstance(op, SourceCurveOperator) and op.name == "clut/hable"
    with pytest.raises(UserError, match="classical"):
        create_operator("naive", OperatorConfig(source_curve="hable"))
    with pytest.raises(UserError, match="pbr-neutral"):
        create_operator("clut", OperatorConfig(source_curve="filmic9000"))


def _cli(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "run_live.py"), *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def test_cli_bad_source_curve_is_one_line_listing_the_names():
    r = _cli("--input", "demo", "--source-curve", "filmic9000")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0
    for name in tc.SOURCE_CURVE_CHOICES:
        assert name in r.stderr
    r = _cli("--input", "demo", "--model", "naive", "--source-curve", "hable", "--output", "x.mkv")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "classical" in r.stderr


def test_cli_the_curve_encoding_wins_over_input_gamma():
    from livehdr import cli

    args = cli.build_parser().parse_args(["--input", "demo", "--source-curve", "bt1886", "--input-gamma", "2.2"])
    assert cli.input_gamma(args) == "2.4" and "2.4" in cli.input_gamma_note(args)
    args = cli.build_parser().parse_args(["--input", "demo", "--source-curve", "hable"])
    assert cli.input_gamma(args) == "srgb" and cli.input_gamma_note(args) is None
    assert cli.input_gamma(cli.build_parser().parse_args(["--input", "demo"])) == "srgb"
    assert "pbr-neutral" in cli.build_parser().format_help() and "t  " in cli.KEYS_HELP


def test_window_curve_key_cycles_and_the_hud_names_it():
    from livehdr import cli
    from livehdr.window import app, controls, presenters
    from livehdr.window.renderer import ViewState

    assert controls.CHAR_ACTIONS["t"] == "curve"
    op = create_operator("clut", OperatorConfig())
    models = cli.model_switcher(op)
    presenter = presenters.OffscreenPresenter(64, 48)

    class Pipe:
        def set_operator(self, o):
            self.op = o

        def set_paused(self, b):
            pass

        def stats(self):
            return {}

    try:
        live = app.LiveWindow(presenter, Pipe(), type("S", (), {"is_live": True})(), op, ViewState(input_gamma="srgb"),
                              models, "t")
        assert "CURVE auto" in live.hud_lines()[0]
        live.apply(["curve"])
        assert live.operator.name == "clut/srgb" and "CURVE srgb" in live.hud_lines()[0]
        assert live.state.input_gamma == "srgb"
        live.apply(["curve"])  # gamma2.2: the SDR side is decoded with the curve's own display EOTF
        assert live.operator.name == "clut/gamma2.2" and live.state.input_gamma == "2.2"
        for _ in range(3):
            live.apply(["curve"])
        assert live.operator.name == "clut/hable" and "source curve hable" in live.controls.message
        live.apply(["peak_up"])  # the rebuild keeps the curve
        assert live.operator.name == "clut/hable" and live.operator.levels.peak == 1500.0
        for _ in range(4):
            live.apply(["curve"])
        assert live.operator.name == "clut" and live.source_curve == "auto"
        assert live.state.input_gamma == "srgb"  # back to the start-up decoding
    finally:
        presenter.close()


def test_evaluate_known_column_and_recipes(tmp_path):
    from livehdr import evaluate
    from livehdr.io.imagefiles import write_exr

    assert [evaluate.recipe_source_curve(r) for r in synthesis.RECIPES] == \
        ["srgb", "gamma2.2", "reinhard", "aces", "hable", "agx", "pbr-neutral"]
    assert {"agx", "pbr-neutral"} <= set(synthesis.RECIPES) and "agx" not in synthesis.RECIPE_WEIGHTS
    assert "agx" not in synthesis.EVAL_RECIPES
    write_exr(str(tmp_path / "one.exr"), _hdr_image(h=48, w=96), half=False)
    args = evaluate.build_parser().parse_args(["--data", str(tmp_path), "--model", "clut", "--views", "1",
                                               "--size", "48x32", "--no-cvvdp", "--source-curve", "known",
                                               "--recipes", "hable", "gamma22", "pbr-neutral"])
    summary = evaluate.run(args)
    res = summary["results"]
    assert set(res["clut/known"]["per_recipe"]) == {"hable", "gamma22", "pbr-neutral"}
    assert res["clut/known"]["per_recipe"]["hable"]["pu21_psnr"] > res["clut"]["per_recipe"]["hable"]["pu21_psnr"]
    assert res["clut/known"]["per_recipe"]["hable"]["pu21_psnr"] > 30
    assert "clut/known" in evaluate.format_table(res)
