"""livehdr.evaluate on a tiny case set built from synthetic EXR files in a temp folder."""
import json
import math

import numpy as np
import pytest
import torch

from livehdr import evaluate
from livehdr.io.imagefiles import write_exr
from livehdr.models import weights as W
from livehdr.models.mqnet import MQNet
from livehdr.operators import create_operator
from livehdr.train.data import load_images
from livehdr.train.synthesis import make_eval_cases


def scene(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.uniform(0.02, 0.5, size=(48, 96, 1)).astype(np.float32) * np.array([0.9, 1.0, 0.8], np.float32)
    img[5:12, 20:40] = 40.0  # a bright window: clipped in every recipe
    return img


@pytest.fixture
def setup(tmp_path):
    data = tmp_path / "held"
    data.mkdir()
    write_exr(str(data / "one.exr"), scene(1), half=False)
    write_exr(str(data / "two.exr"), scene(2), half=False)
    torch.manual_seed(0)
    identity = MQNet(width=0.1, head_channels=8)  # zero head: the naive operator in disguise
    path = str(tmp_path / "ident.safetensors")
    W.save_model(path, identity.eval(), "mqnet")
    W.write_card(str(tmp_path / "ident.json"), {"data": {"train": ["elsewhere"]}})
    return data, path


def test_evaluate_reports_baselines_and_model_on_the_same_cases(setup, tmp_path, capsys):
    data, weights = setup
    out = tmp_path / "r.json"
    rc = evaluate.main(["--data", str(data), "--model", "mqnet", "--weights", weights, "--cases", "5",
                        "--size", "48x32", "--json", str(out), "--write-card", "--no-cvvdp"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "naive" in text and "bt2446a" in text and "bt2446c" in text and "mqnet" in text and "PU21-PSNR" in text
    summary = json.loads(out.read_text())
    res = summary["results"]
    assert set(res) == {"naive", "bt2446a", "bt2446c", "mqnet"}
    assert all(len(r["cases"]) == 5 for r in res.values())
    # the identity network is exactly naive: same scores, so it must not "beat" naive
    assert res["mqnet"]["mean"]["pu21_psnr"] == pytest.approx(res["naive"]["mean"]["pu21_psnr"], abs=1e-3)
    assert summary["beats_naive"]["mqnet"] is False
    # bt2446a expands the clipped window, so it has a smaller highlight error than naive here
    assert res["bt2446a"]["mean"]["highlight_log10_error"] < res["naive"]["mean"]["highlight_log10_error"]
    card = W.read_card(str(tmp_path / "ident.json"))
    assert card["metrics"]["beats_naive"] is False
    assert card["metrics"]["heldout"]["cases"] == 5
    assert set(card["metrics"]["heldout"]["mean"]) == {"naive", "bt2446a", "bt2446c", "mqnet"}
    assert card["metrics"]["heldout"]["goals"]["mean_pu21_gain_db"] == pytest.approx(0.0, abs=1e-3)


def test_evaluate_grid_reports_every_scene_recipe_and_exposure(setup, tmp_path, capsys):
    """The default grid: every scene x view x recipe x exposure, with per-scene and per-exposure tables and
    the goal numbers (worst scene, worst exposure x curve) computed from them."""
    data, weights = setup
    out = tmp_path / "g.json"
    rc = evaluate.main(["--data", str(data), "--model", "mqnet", "--weights", weights, "--views", "1",
                        "--size", "48x32", "--json", str(out), "--no-cvvdp"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "Per scene" in text and "per exposure" in text and "worst scene" in text
    summary = json.loads(out.read_text())
    assert summary["cases"] == 2 * 5 * 3 and summary["split"] == "all"  # no held-out scene in this folder
    bt = summary["results"]["bt2446a"]
    assert set(bt["per_scene"]) == {"one", "two"} and set(bt["per_exposure"]) == {"-1", "+0", "+1"}
    assert len(bt["per_scene_curve"]) == 2 * 5 * 3
    naive = summary["results"]["naive"]
    g = summary["goals"]["bt2446a"]
    gains = {k: bt["per_scene"][k]["pu21_psnr"] - naive["per_scene"][k]["pu21_psnr"] for k in ("one", "two")}
    assert g["worst_scene_gain_db"] == pytest.approx(min(gains.values()))
    combos = [bt["per_scene_curve"][k]["pu21_psnr"] - naive["per_scene_curve"][k]["pu21_psnr"]
              for k in bt["per_scene_curve"]]
    assert g["worst_scene_curve_gain_db"] == pytest.approx(min(combos)) and min(combos) <= g["worst_scene_gain_db"]
    # the identity network is naive on every scene
    assert summary["goals"]["mqnet"]["worst_scene_gain_db"] == pytest.approx(0.0, abs=1e-3)


def test_evaluate_scores_only_the_held_out_split(setup, tmp_path, capsys):
    data, weights = setup
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"held_out": ["two"], "validation": ["one"]}))
    out = tmp_path / "h.json"
    common = ["--data", str(data), "--model", "mqnet", "--weights", weights, "--views", "1", "--size", "48x32",
              "--no-cvvdp", "--splits", str(split)]
    assert evaluate.main(common + ["--json", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["data"] == ["two"] and summary["split"] == "held_out"
    assert set(summary["results"]["naive"]["per_scene"]) == {"two"}
    assert evaluate.main(common + ["--split", "validation", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["data"] == ["one"]
    split.write_text(json.dumps({"held_out": ["elsewhere"], "validation": []}))
    capsys.readouterr()
    assert evaluate.main(common + ["--split", "held_out"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none of elsewhere" in err


def test_evaluate_metrics_match_a_direct_computation(setup):
    data, _ = setup
    images = load_images([str(data)])
    cases = make_eval_cases(images, 3, 48, 32, seed=7)
    naive = create_operator("naive")
    res = evaluate.evaluate({"naive": naive}, cases, use_cvvdp=False)
    from livehdr.metrics import pu21_psnr

    direct = [pu21_psnr(naive(c["sdr"]) * 203, c["target"] * 203) for c in cases]
    assert res["naive"]["mean"]["pu21_psnr"] == pytest.approx(float(np.mean(direct)), rel=1e-9)
    assert all(math.isfinite(x) for x in direct)


def test_beats_naive_rule():
    def r(psnr, hl):
        return {"mean": {"pu21_psnr": psnr, "highlight_log10_error": hl}}

    assert evaluate.beats_naive({"naive": r(25, 0.4), "m": r(26.1, 0.3)}, "m")
    assert not evaluate.beats_naive({"naive": r(25, 0.4), "m": r(25.9, 0.3)}, "m")  # < 1 dB
    assert not evaluate.beats_naive({"naive": r(25, 0.4), "m": r(27, 0.5)}, "m")  # worse highlights


def test_evaluate_flags_training_images(setup, tmp_path, capsys):
    data, weights = setup
    W.write_card(str(tmp_path / "ident.json"), {"data": {"train": ["one"]}})
    rc = evaluate.main(["--data", str(data), "--model", "mqnet", "--weights", weights, "--cases", "2",
                        "--size", "32x32", "--no-cvvdp"])
    assert rc == 0
    assert "trained on one" in capsys.readouterr().err


def test_evaluate_bad_input_is_a_one_line_error(tmp_path, capsys):
    assert evaluate.main(["--data", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err
    assert evaluate.main(["--data", str(tmp_path), "--size", "big"]) == 2


def test_evaluate_writes_a_contact_sheet_with_the_known_curve_column(setup, tmp_path):
    """--contact-sheet: the shipped clut, clut/srgb (exact inverse + highlight stage), naive and the truth."""
    from PIL import Image

    from livehdr.contact_sheet import render_contact_sheet
    from livehdr.operators import OperatorConfig
    from livehdr.operators.source_curve import SourceCurveOperator
    from livehdr.train.synthesis import make_grid_cases

    data, _ = setup
    sheet = tmp_path / "sheet.png"
    rc = evaluate.main(["--data", str(data), "--model", "clut", "--views", "1", "--size", "96x48", "--no-cvvdp",
                        "--contact-sheet", str(sheet)])
    assert rc == 0
    got = np.asarray(Image.open(sheet).convert("RGB"))
    clut = create_operator("clut", OperatorConfig())
    cases = [c for c in make_grid_cases(load_images([str(data)]), 1, 96, 48) if c["recipe"] == "clip"]
    from livehdr.contact_sheet import choose_cases

    want = render_contact_sheet(choose_cases(cases, 3), {"clut": clut, "clut/srgb": SourceCurveOperator(clut, "srgb"),
                                                         "naive": create_operator("naive", OperatorConfig())})
    assert np.array_equal(got, want)
