"""python -m livehdr.train --data DIR [DIR...] --out models/NAME [options]"""
from __future__ import annotations

import argparse
import os
import sys

from livehdr.argtypes import positive_int
from livehdr.base.errors import UserError
from livehdr.base.memory import keep_freed_memory


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m livehdr.train",
        description="Train MQNet (or CLUT, --arch clut) on folders of HDR images (.exr/.hdr) plus synthetic "
        "scenes. The scenes that models/splits.json holds out are never read; its validation scenes only choose "
        "the epoch; everything else trains.")
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="folders or files of HDR images")
    p.add_argument("--out", required=True, metavar="models/NAME",
                   help="output stem: writes NAME.safetensors, NAME.json (card), NAME.ckpt.safetensors")
    p.add_argument("--epochs", type=positive_int, default=30)
    p.add_argument("--steps-per-epoch", type=positive_int, default=200)
    p.add_argument("--crop", type=positive_int, default=128, help="training patch size (pixels)")
    p.add_argument("--batch", type=positive_int, default=8)
    p.add_argument("--arch", choices=("mqnet", "clut"), default="mqnet",
                   help="mqnet: per-pixel U-Net; clut: thumbnail CNN mixing compressed 3D LUTs (docs/CLUT.md)")
    p.add_argument("--width", type=float, default=0.35, help="mqnet: MobileNetV2 width multiplier")
    p.add_argument("--lut-size", type=positive_int, default=33, help="clut: LUT nodes per axis (default 33)")
    p.add_argument("--bases", type=positive_int, default=6, help="clut: basis LUTs mixed per frame (default 6)")
    p.add_argument("--attention", choices=("ca", "sa", "csa", "none"), default="csa",
                   help="decoder attention (default csa: no global average, so no per-frame pumping)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--synthetic-fraction", type=float, default=0.3,
                   help="share of patches from livehdr.scenes renders (0 = real HDR only)")
    p.add_argument("--splits", default=None, metavar="FILE.json",
                   help="scene split (default models/splits.json when present): held_out is never read, "
                   "validation chooses the epoch")
    p.add_argument("--val", nargs="*", default=None, metavar="NAME",
                   help="validation image names (file stems), replacing the split file's list; "
                   "never trained on, used only to choose the epoch")
    p.add_argument("--val-cases", type=positive_int, default=1,
                   help="views per validation scene (each scored at 5 recipes x 3 exposures)")
    p.add_argument("--global-stage", default=None, metavar="CLUT.safetensors",
                   help="mqnet: run this trained CLUT first (frozen) and train the U-Net to refine its light "
                   "locally (docs/MODEL.md)")
    p.add_argument("--context", type=positive_int, default=256,
                   help="with --global-stage: the view the CLUT sees; the U-Net trains on a --crop of it")
    p.add_argument("--pair-weight", type=float, default=0.0,
                   help="weight of the temporal loss on noisy twins (+-1 code value), 0 = off")
    p.add_argument("--init", default=None, metavar="WEIGHTS.safetensors",
                   help="start from these weights (same architecture and config): fine-tune instead of from naive")
    p.add_argument("--warmup", type=int, default=100, help="learning-rate warm-up steps (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=positive_int, default=2)
    p.add_argument("--resume", action="store_true", help="continue from NAME.ckpt.safetensors")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None) -> int:
    keep_freed_memory()  # before any tensor: glibc would return every large one to the kernel
    args = build_parser().parse_args(argv)
    try:
        from livehdr.train.loop import TrainConfig, train

        if not 0.0 <= args.synthetic_fraction <= 1.0:
            raise UserError(f"--synthetic-fraction {args.synthetic_fraction:g} is outside 0..1")
        if args.crop < 32 or args.crop % 32:
            raise UserError(f"--crop {args.crop}: use a multiple of 32 (the network works at 1/32)")
        if args.arch == "clut" and not 2 <= args.lut_size <= 129:
            raise UserError(f"--lut-size {args.lut_size}: use 2..129 (33 is the default)")
        if args.pair_weight < 0:
            raise UserError(f"--pair-weight {args.pair_weight:g} is negative")
        if args.init is not None and not os.path.isfile(args.init):
            raise UserError(f"--init {args.init}: no such file")
        if args.warmup < 0:
            raise UserError(f"--warmup {args.warmup} is negative")
        if args.global_stage is not None and not os.path.isfile(args.global_stage):
            raise UserError(f"--global-stage {args.global_stage}: no such file")
        if not 0.05 <= args.width <= 2.0:
            raise UserError(f"--width {args.width:g} is outside 0.05..2")
        from livehdr.io.imagefiles import check_writable

        check_writable(args.out + ".safetensors")  # before any training, not after the first epoch
        cfg = TrainConfig(data=args.data, out=args.out, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                          crop=args.crop, batch=args.batch, width=args.width, attention=args.attention, lr=args.lr,
                          arch=args.arch, lut_size=args.lut_size, bases=args.bases,
                          synthetic_fraction=args.synthetic_fraction, val=args.val, val_cases=args.val_cases,
                          splits=args.splits, global_stage=args.global_stage, context=args.context,
                          pair_weight=args.pair_weight, init=args.init, warmup=args.warmup,
                          seed=args.seed, resume=args.resume, threads=args.threads, quiet=args.quiet)
        train(cfg)
    except UserError as e:
        print(f"livehdr.train: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("livehdr.train: interrupted (resume with --resume)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
