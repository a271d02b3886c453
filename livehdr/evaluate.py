"""python -m livehdr.evaluate --data DIR --model NAME: score operators on the held-out real HDR scenes.

The scenes are the ``held_out`` list of models/splits.json found under ``--data`` (``--split``). By default
every scene gives ``--views`` views, and every view is turned into 8-bit SDR by every synthesis recipe (sRGB
clip, gamma 2.2, Reinhard, ACES, Hable) at every exposure (-1/0/+1 stops around the key), so each scene,
each recipe, each exposure and each exposure x curve of a scene is reported on its own (``--cases N`` gives
the older N cases cycling through recipes and exposures instead). Every operator expands the same SDR and
is compared with the HDR target on absolute light (paper white and peak: color/levels.py's defaults):
- PU21-PSNR (banding_glare, livehdr.metrics);
- mean |log10| luminance error where the SDR input was clipped ("highlight") and on mid-tones;
- ColorVideoVDP (JOD) when the optional ``pycvvdp`` package is installed.
``naive``, ``bt2446a`` and ``bt2446c`` are always reported beside the requested model.

``--source-curve known`` adds a column ``MODEL/known`` beside each learned model: every case through the exact
inverse of its own recipe's curve (what ``--source-curve`` gives a user who knows it); ``--source-curve NAME``
adds ``MODEL/NAME``, every case through that one curve. ``--recipes`` picks the recipes (default: the
evaluation protocol's, ``synthesis.EVAL_RECIPES``; agx and pbr-neutral are trainable but not in it).
"""
from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

from livehdr.base.errors import UserError
from livehdr.base.memory import keep_freed_memory
from livehdr.color.levels import PAPER_WHITE_BT2408, PEAK_DEFAULT
from livehdr.train.synthesis import recipe_source_curve  # noqa: F401 - evaluate's public name since #23

BASELINES = ("naive", "bt2446a", "bt2446c")
METRICS = ("pu21_psnr", "highlight_log10_error", "midtone_log10_error", "highlight_shape_corr")


def _cvvdp_metric():
    """ColorVideoVDP on an HDR display model, or None when the package is missing."""
    try:
        import pycvvdp
    except ImportError:
        return None
    try:
        return pycvvdp.cvvdp(display_name="standard_hdr_linear")
    except Exception:  # any set-up failure just drops the optional column
        return None


class SourceCurveColumn:
    """An evaluation column of source-curve operators in place of a learned model: one fixed curve, or
    (``curve='known'``) each case's own recipe's curve. Cases hold sRGB code values of the display light
    (``synthesis.synthesize_sdr``); a curve on another display gets its own codes back, as a real source has."""

    def __init__(self, learned, curve: str):
        from livehdr.operators.source_curve import SourceCurveOperator

        self.learned, self.curve = learned, curve
        self.name = f"{learned.name}/{curve}"
        self._ops = {}
        self._make = lambda name: SourceCurveOperator(learned, name)

    def operator_for(self, recipe: str):
        name = recipe_source_curve(recipe) if self.curve == "known" else self.curve
        if name not in self._ops:
            self._ops[name] = self._make(name)
        return self._ops[name]

    def expand_case(self, case) -> np.ndarray:
        from livehdr import color

        op = self.operator_for(case["recipe"])
        op.reset()
        sdr = case["sdr"]
        if op.curve.encoding != "srgb":
            sdr = color.eotf_inverse_input(color.eotf_sRGB(sdr), op.curve.encoding).astype(np.float32)
        return np.asarray(op(sdr), dtype=np.float32)


def _expand_case(op, case) -> np.ndarray:
    if isinstance(op, SourceCurveColumn):
        return op.expand_case(case)
    op.reset()  # every case is its own still: no temporal state (clut's EMA) carries over
    return np.asarray(op(case["sdr"]), dtype=np.float32)


def evaluate(operators: dict, cases: list, paper_white: float = PAPER_WHITE_BT2408, use_cvvdp: bool = True) -> dict:
    """{operator: {"mean": {...}, "per_recipe": {...}, "cases": [...]}} over the same cases."""
    from livehdr.metrics import frame_metrics, nanmean

    cvvdp = _cvvdp_metric() if use_cvvdp else None
    results = {}
    for name, op in operators.items():
        rows = []
        for c in cases:
            pred = _expand_case(op, c)
            m = frame_metrics(pred, c["target"], c["sdr"], paper_white)
            if cvvdp is not None:
                m["cvvdp_jod"] = _cvvdp_score(cvvdp, pred * paper_white, c["target"] * paper_white)
            rows.append({"case": c["name"], "image": c.get("image", c["name"]), "recipe": c["recipe"],
                         "stops": c.get("stops", math.nan), **m})
        keys = [k for k in rows[0] if k not in ("case", "image", "recipe", "stops")]
        mean = {k: nanmean([r[k] for r in rows]) for k in keys}

        def group(key):
            out = {}
            for g in sorted({key(r) for r in rows}):
                sel = [r for r in rows if key(r) == g]
                out[g] = {k: nanmean([r[k] for r in sel]) for k in METRICS}
            return out

        results[name] = {"mean": mean, "per_recipe": group(lambda r: r["recipe"]),
                         "per_scene": group(lambda r: r["image"]),
                         "per_exposure": group(lambda r: f"{r['stops']:+g}"),
                         "per_scene_curve": group(lambda r: f"{r['image']}/{r['recipe']}/{r['stops']:+g}"),
                         "cases": rows}
    return results


def goals(results: dict, model: str) -> dict:
    """The issue #10 numbers for ``model`` against naive on these cases: mean PU21 gain, worst scene gain
    (scene mean over its cases) and worst exposure x curve of a scene (mean over its views)."""
    m, n = results[model], results["naive"]
    scene = {k: m["per_scene"][k]["pu21_psnr"] - n["per_scene"][k]["pu21_psnr"] for k in m["per_scene"]}
    combo = {k: m["per_scene_curve"][k]["pu21_psnr"] - n["per_scene_curve"][k]["pu21_psnr"]
             for k in m["per_scene_curve"]}
    worst_scene = min(scene, key=scene.get)
    worst_combo = min(combo, key=combo.get)
    return {
        "mean_pu21_gain_db": m["mean"]["pu21_psnr"] - n["mean"]["pu21_psnr"],
        "highlight_log10_error": m["mean"]["highlight_log10_error"],
        "worst_scene": worst_scene, "worst_scene_gain_db": scene[worst_scene],
        "worst_scene_curve": worst_combo, "worst_scene_curve_gain_db": combo[worst_combo],
    }


def _cvvdp_score(metric, test_nits, ref_nits) -> float:
    import torch

    try:
        q, _ = metric.predict(torch.from_numpy(test_nits), torch.from_numpy(ref_nits), dim_order="HWC")
        return float(q)
    except Exception:
        return math.nan


def beats_naive(results: dict, model: str) -> bool:
    """The project's bar: >= 1 dB PU21-PSNR over naive and a lower highlight error."""
    m, n = results[model]["mean"], results["naive"]["mean"]
    return bool(m["pu21_psnr"] >= n["pu21_psnr"] + 1.0 and m["highlight_log10_error"] < n["highlight_log10_error"])


def format_table(results: dict) -> str:
    cols = ["pu21_psnr", "highlight_log10_error", "midtone_log10_error", "highlight_shape_corr",
            "peak_to_edge_pred", "peak_to_edge_true"]
    if any("cvvdp_jod" in r["mean"] for r in results.values()):
        cols.append("cvvdp_jod")
    w = max([12] + [len(n) + 1 for n in results])  # 'clut/pbr-neutral' is longer than the usual names
    head = f"{'operator':<{w}}" + "".join(f"{c:>22}" for c in cols)
    lines = [head, "-" * len(head)]
    for name, r in results.items():
        lines.append(f"{name:<{w}}" + "".join(f"{r['mean'].get(c, math.nan):>22.4f}" for c in cols))
    first = next(iter(results.values()))
    recipes = sorted(first["per_recipe"])
    rw = max([10] + [len(x) + 1 for x in recipes])  # 'pbr-neutral' is wider than the evaluation recipes
    lines += ["", "PU21-PSNR (dB) per SDR recipe", f"{'operator':<{w}}" + "".join(f"{x:>{rw}}" for x in recipes)]
    for name, r in results.items():
        lines.append(f"{name:<{w}}" + "".join(f"{r['per_recipe'][x]['pu21_psnr']:>{rw}.2f}" for x in recipes))
    lines += ["", "Highlight log10 error per SDR recipe",
              f"{'operator':<{w}}" + "".join(f"{x:>{rw}}" for x in recipes)]
    for name, r in results.items():
        lines.append(f"{name:<{w}}" + "".join(f"{r['per_recipe'][x]['highlight_log10_error']:>{rw}.3f}"
                                              for x in recipes))
    exposures = sorted(first.get("per_exposure", {}), key=float)
    if exposures:
        lines += ["", "PU21-PSNR (dB) per exposure (stops around the key)",
                  f"{'operator':<{w}}" + "".join(f"{x:>10}" for x in exposures)]
        for name, r in results.items():
            lines.append(f"{name:<{w}}" + "".join(f"{r['per_exposure'][x]['pu21_psnr']:>10.2f}" for x in exposures))
    scenes = list(first.get("per_scene", {}))
    if scenes:
        names = list(results)
        lines += ["", "Per scene: PU21-PSNR (dB) / highlight log10 error",
                  f"{'scene':<26}" + "".join(f"{n:>18}" for n in names)]
        for sc in scenes:
            cells = []
            for n in names:
                v = results[n]["per_scene"][sc]
                cells.append(f"{v['pu21_psnr']:>10.2f} / {v['highlight_log10_error']:<5.3f}")
            lines.append(f"{sc:<26}" + "".join(f"{c:>18}" for c in cells))
    return "\n".join(lines)


def write_sheet(path: str, cases: list, models: dict, naive) -> None:
    """The contact sheet of issue #23 for the clipped-sRGB cases (there the SDR lost the highlights' shape)."""
    from livehdr.contact_sheet import choose_cases, render_contact_sheet, write_contact_sheet
    from livehdr.operators.source_curve import SourceCurveOperator

    operators = {}
    for name, op in models.items():
        operators[name] = op
        if hasattr(op, "weights_path"):
            operators[f"{name}/srgb"] = SourceCurveOperator(op, "srgb")
    operators["naive"] = naive
    chosen = choose_cases([c for c in cases if c["recipe"] == "clip"], 3)
    write_contact_sheet(path, render_contact_sheet(chosen, operators))


def build_parser() -> argparse.ArgumentParser:
    from livehdr.color.tonecurves import SOURCE_CURVES
    from livehdr.train.synthesis import EVAL_RECIPES, RECIPES

    p = argparse.ArgumentParser(prog="python -m livehdr.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="HDR images (folders or files)")
    p.add_argument("--split", choices=("auto", "held_out", "validation", "all"), default="auto",
                   help="which scenes of --data to score (models/splits.json, or --splits): auto = the held-out "
                   "scenes when --data has any, else all")
    p.add_argument("--splits", default=None, metavar="FILE.json", help="split file (default models/splits.json)")
    p.add_argument("--model", nargs="+", default=["mqnet"], metavar="NAME",
                   help="operator(s) to score (naive and bt2446a are always added)")
    p.add_argument("--weights", default=None, metavar="FILE.safetensors", help="weights for a learned model")
    p.add_argument("--views", type=int, default=2,
                   help="views per scene, each at every recipe and exposure (default 2)")
    p.add_argument("--cases", type=int, default=None,
                   help="instead of the full grid: N cases cycling through scenes, recipes and exposures")
    p.add_argument("--size", default="320x240", metavar="WxH", help="case size (default 320x240)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    p.add_argument("--precision", choices=("auto", "fp32", "int8", "fp16"), default="fp32",
                   help="learned models' arithmetic (default fp32, the reference; auto = what the CLI runs)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the full results as JSON")
    p.add_argument("--contact-sheet", default=None, metavar="OUT.png",
                   help="also write a contact sheet (livehdr/contact_sheet.py): SDR | each model | MODEL/srgb (the "
                   "exact sRGB inverse + the highlight stage) | naive | truth, at paper white and 3 stops down, for "
                   "three clipped-sRGB cases whose clipped regions have a shape")
    p.add_argument("--write-card", action="store_true",
                   help="record the result (and beats_naive) in the learned model's card (models/NAME.json)")
    p.add_argument("--no-cvvdp", action="store_true", help="skip ColorVideoVDP even when installed")
    p.add_argument("--source-curve", choices=("auto", "known", *SOURCE_CURVES), default="auto", metavar="NAME",
                   help="auto (default): the models as they are; known: also MODEL/known, each case through the "
                   "exact inverse of its recipe's curve; or a curve name (" + ", ".join(SOURCE_CURVES) + "): "
                   "also MODEL/NAME, every case through that curve (learned models only)")
    p.add_argument("--recipes", nargs="+", choices=tuple(RECIPES), default=list(EVAL_RECIPES), metavar="RECIPE",
                   help="SDR recipes of the grid (default: " + " ".join(EVAL_RECIPES) + "; also: "
                   + " ".join(r for r in RECIPES if r not in EVAL_RECIPES) + ")")
    return p


def _parse_size(s: str) -> tuple[int, int]:
    from livehdr.argtypes import parse_size

    try:
        return parse_size(s, minimum=16, maximum=4096)
    except argparse.ArgumentTypeError as e:
        raise UserError(f"--size {e}") from None


def run(args) -> dict:
    import os

    from livehdr.models.weights import card_path, read_card, shipped_path, write_card
    from livehdr.operators import OperatorConfig, create_operator
    from livehdr.train.data import find_hdr_files, image_name, load_images, read_splits
    from livehdr.train.synthesis import EVAL_RECIPES, make_eval_cases, make_grid_cases

    if args.cases is not None and args.cases < 1:
        raise UserError("--cases must be at least 1")
    if args.views < 1:
        raise UserError("--views must be at least 1")
    recipes = tuple(dict.fromkeys(getattr(args, "recipes", None) or EVAL_RECIPES))
    if args.cases is not None and recipes != EVAL_RECIPES:
        raise UserError("--recipes chooses the grid's recipes; --cases N cycles the evaluation protocol's own")
    width, height = _parse_size(args.size)
    splits = read_splits(args.splits)
    available = {image_name(p) for p in find_hdr_files(args.data)}
    split = args.split
    if split == "auto":
        split = "held_out" if available & set(splits.held_out) else "all"
    if split == "all":
        only = None
    else:
        only = set(getattr(splits, split)) & available
        if not only:
            raise UserError(f"--split {split}: none of {', '.join(getattr(splits, split)) or 'no scenes'} "
                            f"is under {', '.join(args.data)}")
    images = load_images(args.data, min_size=16, only=only)
    config = OperatorConfig(device=args.device, weights=args.weights, precision=args.precision)
    names = list(BASELINES) + [m for m in args.model if m not in BASELINES]
    operators = {n: create_operator(n, config) for n in names}
    notes = []
    for n, op in operators.items():
        card = read_card(card_path(op.weights_path)) if hasattr(op, "weights_path") else None
        seen = sorted({im.name for im in images} & set((card or {}).get("data", {}).get("train", [])))
        if seen:
            notes.append(f"warning: {n} was trained on {', '.join(seen)}; these scores are not held-out")
    if args.cases is None:
        cases = make_grid_cases(images, args.views, width, height, seed=args.seed, recipes=recipes)
    else:
        cases = make_eval_cases(images, args.cases, width, height, seed=args.seed)
    learned = [n for n in names if hasattr(operators[n], "weights_path")]
    columns = dict(operators)
    curve = getattr(args, "source_curve", "auto")
    if curve != "auto":
        if not learned:
            raise UserError(f"--source-curve {curve} stands in for a learned model; give one with --model")
        for n in learned:  # beside each learned model, the same cases through the known curve
            column = SourceCurveColumn(operators[n], curve)
            columns[column.name] = column
    results = evaluate(columns, cases, use_cvvdp=not args.no_cvvdp)
    if args.contact_sheet:
        write_sheet(args.contact_sheet, cases, {n: operators[n] for n in names if n not in BASELINES},
                    operators["naive"])
    scored = [n for n in columns if n != "naive"]
    summary = {
        "data": [im.name for im in images], "split": split, "cases": len(cases),
        "views": args.views if args.cases is None else None, "size": f"{width}x{height}",
        "seed": args.seed, "paper_white": PAPER_WHITE_BT2408, "peak": PEAK_DEFAULT, "notes": notes,
        "beats_naive": {n: beats_naive(results, n) for n in scored},
        "goals": {n: goals(results, n) for n in scored},
        "results": results,
    }
    if args.write_card:
        for n in learned:
            path = card_path(operators[n].weights_path)
            if not os.path.isfile(path) and operators[n].weights_path != shipped_path(n):
                continue
            card = read_card(path) or {}
            metrics = card.setdefault("metrics", {})
            metrics["heldout"] = {
                "data": summary["data"], "split": split, "cases": len(cases), "views": summary["views"],
                "size": summary["size"], "seed": args.seed,
                "command": "python -m livehdr.evaluate " + " ".join(getattr(args, "argv", []) or []),
                "mean": {k: results[k]["mean"] for k in names},
                "goals": summary["goals"][n],
                "per_scene": {k: {sc: {"pu21_psnr": v["pu21_psnr"], "highlight_log10_error": v["highlight_log10_error"]}
                                  for sc, v in results[k]["per_scene"].items()} for k in names},
                "per_recipe_pu21_psnr": {k: {r: v["pu21_psnr"] for r, v in results[k]["per_recipe"].items()}
                                         for k in names},
                "per_exposure_pu21_psnr": {k: {r: v["pu21_psnr"] for r, v in results[k]["per_exposure"].items()}
                                           for k in names},
            }
            metrics["beats_naive"] = summary["beats_naive"][n] and not notes
            write_card(path, card)
    return summary


def main(argv=None) -> int:
    keep_freed_memory()  # before any tensor: glibc would return every large one to the kernel
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        summary = run(args)
        if args.json:
            from livehdr.io.imagefiles import atomic_output

            with atomic_output(args.json) as tmp:
                with open(tmp, "w") as f:
                    json.dump(summary, f, indent=2, allow_nan=True)
    except UserError as e:
        print(f"livehdr.evaluate: error: {e}", file=sys.stderr)
        return e.exit_code
    for note in summary["notes"]:
        print(note, file=sys.stderr)
    print(f"{summary['cases']} cases of {summary['size']} from {', '.join(summary['data'])} "
          f"(split: {summary['split']})")
    print(format_table(summary["results"]))
    for n, g in summary["goals"].items():
        print(f"{n}: mean {g['mean_pu21_gain_db']:+.2f} dB vs naive; worst scene {g['worst_scene']} "
              f"{g['worst_scene_gain_db']:+.2f} dB; worst exposure x curve {g['worst_scene_curve']} "
              f"{g['worst_scene_curve_gain_db']:+.2f} dB; highlight log10 error {g['highlight_log10_error']:.3f}")
    for n, ok in summary["beats_naive"].items():
        print(f"{n}: {'beats' if ok else 'does not beat'} naive (>= 1 dB PU21-PSNR and lower highlight error)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
