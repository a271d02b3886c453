"""python -m livehdr.fit_highlight: fit the spatial highlight stage on top of a shipped clut (issue #23).

The data, the loss and the selection are livehdr/train/highlight.py's; this is its command line.
"""
from __future__ import annotations

import argparse
import sys
import time

from livehdr.base.errors import UserError
from livehdr.models.highlight import BASES
from livehdr.train.highlight import TRAIN_RECIPES, build_cases, fit


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m livehdr.fit_highlight", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="folders of HDR images")
    p.add_argument("--base", default=None, metavar="FILE.safetensors", help="clut weights (default: shipped)")
    p.add_argument("--out", required=True, metavar="FILE.safetensors", help="clut weights with the stage")
    p.add_argument("--views", type=int, default=2)
    p.add_argument("--stops", type=float, nargs="+", default=[-2.0, -1.0, 0.0, 1.0])
    p.add_argument("--size", default="320x240", metavar="WxH")
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--stage", choices=BASES, default="known",
                   help="which stage to fit: after a known source curve's exact inverse (default), or after the blind "
                        "LUT (auto: level-free, it only shapes each clipped region); the other stage is kept")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--highlight-weight", type=float, default=4.0)
    p.add_argument("--shape-weight", type=float, default=0.0,
                   help="weight of the level-free log error inside the shape measure's regions (default 0)")
    p.add_argument("--loss-weight", type=float, default=0.0,
                   help="weight of the mean dB a training case loses against the base, a hinge on the worst cases "
                        "(default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--splits", default=None, metavar="FILE.json")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except UserError as e:
        print(f"livehdr.fit_highlight: error: {e}", file=sys.stderr)
        return e.exit_code


def run(args) -> int:
    from livehdr.models.weights import card_path, load_model, read_card, save_model, shipped_path, write_card
    from livehdr.operators import OperatorConfig
    from livehdr.operators.lut import LUTOperator
    from livehdr.train.data import read_splits, training_images

    try:
        size = tuple(int(v) for v in args.size.lower().split("x"))
        if len(size) != 2 or min(size) < 32 or max(size) > 2048:
            raise ValueError
    except ValueError:
        raise UserError(f"--size {args.size!r}: expected WxH, each 32 .. 2048") from None
    for flag, value, low in (("--views", args.views, 1), ("--hidden", args.hidden, 1), ("--steps", args.steps, 1),
                             ("--highlight-weight", args.highlight_weight, 0.0),
                             ("--shape-weight", args.shape_weight, 0.0), ("--loss-weight", args.loss_weight, 0.0)):
        if not value >= low:  # also catches nan
            raise UserError(f"{flag} {value}: must be at least {low}")
    if not args.lr > 0:
        raise UserError(f"--lr {args.lr}: must be above 0")
    base_path = args.base or shipped_path("clut")
    splits = read_splits(args.splits)
    train_images, val_images = training_images(args.data, splits)
    learned = LUTOperator(OperatorConfig(), "clut", base_path)
    learned.highlight = learned.known_curve_highlight = None  # the cases need the pointwise base alone
    t0 = time.time()
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    bases = (args.stage,)
    train = build_cases(train_images, args.views, tuple(args.stops), TRAIN_RECIPES, size, 2026, learned,
                        lambda i, n: say(f"training cases: {i}/{n} scenes"), bases)
    val = build_cases(val_images, args.views, (-1.0, 0.0, 1.0), TRAIN_RECIPES[:5], size, 2027, learned,
                      lambda i, n: say(f"validation cases: {i}/{n} scenes"), bases)
    say(f"{len(train)} training and {len(val)} validation cases in {time.time() - t0:.0f} s")
    level_free = args.stage == "auto"
    mlp, best_step, history = fit(train, val, args.hidden, args.steps, args.lr, args.highlight_weight,
                                  learned.max_relative, args.seed, say, level_free, args.shape_weight,
                                  args.loss_weight)
    model = load_model(base_path, expect_arch="clut")
    model.attach_highlight(mlp, args.stage)
    save_model(args.out, model, "clut")
    card = read_card(card_path(base_path)) or {}
    card["highlight_stage" if args.stage == "known" else "highlight_stage_auto"] = {
        "what": f"spatial highlight stage for the {args.stage} base (issue #23): color/highlight.py features, "
                "models/highlight.py MLP" + (", level-free (GridRegions.centred)" if level_free else ""),
        "data": {"train": [im.name for im in train_images], "validation": [im.name for im in val_images],
                 "held_out": "never read (models/splits.json)"},
        "recipe": {"views": args.views, "stops": list(args.stops), "size": args.size, "recipes": list(TRAIN_RECIPES),
                   "hidden": args.hidden,
                   "steps": args.steps, "lr": args.lr, "highlight_weight": args.highlight_weight,
                   "shape_weight": args.shape_weight, "loss_weight": args.loss_weight,
                   "optimizer": "Adam, full batch", "stage": args.stage, "seed": args.seed,
                   "selection": "validation, every 10 steps: mean PU21 gain - 5 x highlight log10 error + sampled "
                                "shape correlation + 0.5 x the worst case's loss", "best_step": best_step,
                   "train_seconds": round(time.time() - t0, 1), "hardware": "CPU (2 cores)",
                   "command": "python -m livehdr.fit_highlight " + " ".join(sys.argv[1:])},
        "validation_history": history,
        "date": time.strftime("%Y-%m-%d"),
    }
    write_card(card_path(args.out), card)
    say(f"wrote {args.out} (best step {best_step})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
