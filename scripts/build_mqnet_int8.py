"""Build models/mqnet-int8.safetensors + card: calibrate MQNet's int8 activation ranges once, offline.

    .venv/bin/python scripts/build_mqnet_int8.py --data ../shared/data/hdri ../shared/data/hdri-extra

Calibration crops come from the *training* scenes only (models/splits.json's held-out and validation
scenes are never read here, ``load_images(exclude=...)``), chosen so that most hold clipped suns, lamps or
speculars, plus synthetic scenes from ``livehdr.scenes``. The held-out scenes are then used once, to score
the result against fp32 (scripts/int8_quality.py); the score goes into the card.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from livehdr.base.memory import keep_freed_memory  # noqa: E402

BRIGHT_SHARE = 0.75  # of the real crops: at least MIN_CLIPPED of their pixels at code 255
MIN_CLIPPED = 0.003


def calibration_crops(data, count: int, size: int, synthetic: int, seed: int):
    from livehdr.engine.quantize import calibration_frames
    from livehdr.train.data import load_images, random_view, read_splits
    from livehdr.train.synthesis import make_pair

    splits = read_splits(None)
    images = load_images(data, min_size=size, exclude=set(splits.held_out) | set(splits.validation))
    rng = np.random.default_rng(seed)
    crops, names, bright = [], set(), 0
    tries = 0
    while len(crops) < count - synthetic and tries < 50 * count:
        tries += 1
        image = images[int(rng.integers(len(images)))]
        sdr, _, recipe = make_pair(random_view(image, size, rng), rng, degrade=False)
        clipped = float((sdr.max(axis=2) >= 254.5 / 255).mean())
        want_bright = bright < BRIGHT_SHARE * (count - synthetic)
        if want_bright and clipped < MIN_CLIPPED and rng.random() < 0.9:
            continue
        bright += clipped >= MIN_CLIPPED
        names.add(image.name)
        crops.append(torch.from_numpy(np.ascontiguousarray(sdr)).permute(2, 0, 1)[None].contiguous())
    crops += list(calibration_frames(synthetic, size, size, seed))
    return crops, sorted(names), bright


def main() -> int:
    keep_freed_memory()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--base", default="models/mqnet.safetensors")
    p.add_argument("--out", default="models/mqnet-int8")
    p.add_argument("--crops", type=int, default=320)
    p.add_argument("--synthetic", type=int, default=48, help="of --crops: livehdr.scenes renders")
    p.add_argument("--size", type=int, default=128, help="crop size (multiple of 32)")
    p.add_argument("--float", nargs="*", default=["head"], help="modules left in float (int8 weights)")
    p.add_argument("--observer", choices=("histogram", "minmax"), default="histogram")
    p.add_argument("--full-range", action="store_true",
                   help="activations 0..255 (exact on CPUs with VNNI) instead of 0..127")
    p.add_argument("--views", type=int, default=2, help="held-out views per scene for the card's score")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--score-only", action="store_true",
                   help="keep the existing --out weights; only re-score them and update the card's metrics")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    from livehdr.engine.quantize import calibrate_int8, histogram_observer, minmax_observer
    from livehdr.models.weights import file_sha256, load_model, read_card, save_model, write_card

    base = load_model(args.base)
    if args.score_only:
        card = read_card(args.out + ".json")
        if card is None:
            raise SystemExit(f"{args.out}.json: no card to update")
        return score(args, base, card)
    t0 = time.perf_counter()
    crops, scenes, bright = calibration_crops(args.data, args.crops, args.size, args.synthetic, args.seed)
    reduce_range = not args.full_range
    observer = histogram_observer(reduce_range) if args.observer == "histogram" else minmax_observer(reduce_range)
    int8 = calibrate_int8(base, crops, args.float, observer, reduce_range)
    seconds = time.perf_counter() - t0
    save_model(args.out + ".safetensors", int8, "mqnet-int8")
    print(f"calibrated on {len(crops)} crops in {seconds:.0f} s; scoring on the held-out scenes", flush=True)
    base_sha = file_sha256(args.base)
    card = {
        "name": os.path.basename(args.out),
        "description": "MQNet with an int8 backbone; " + ", ".join(args.float) + " in float with int8 weights (CPU)",
        "architecture": "mqnet-int8",
        "config": int8.config,
        "date": datetime.date.today().isoformat(),
        "base_weights": {"file": os.path.basename(args.base), "sha256": base_sha},
        "recipe": {
            "method": "torch.ao FX post-training static quantization, x86/fbgemm engine",
            "weights": "per-channel symmetric int8",
            "activations": f"per-tensor uint8 ({'0..127, reduce_range' if reduce_range else '0..255, needs VNNI'}), "
            f"{args.observer} observer, ranges stored (no calibration at load)",
            "float_modules": list(args.float), "float_module_weights": "rounded to per-channel int8",
            "relu6": "fused conv+ReLU with the output range capped at 6",
            "calibration": {"crops": len(crops), "size": args.size, "real_crops": len(crops) - args.synthetic,
                            "real_crops_with_clipped_highlights": int(bright), "min_clipped_share": MIN_CLIPPED,
                            "synthetic_scenes": args.synthetic, "seed": args.seed, "seconds": round(seconds, 1)},
        },
        "data": {"calibration_scenes": scenes, "split": "models/splits.json",
                 "never_read": "held_out and validation scenes (load_images exclude=)",
                 "credits": "see models/mqnet.json (CC0 Poly Haven, BSD-3 OpenEXR samples)"},
        "metrics": {},
        "output": "as mqnet: linear BT.709 relative to paper white",
    }
    write_card(args.out + ".json", card)  # first without a score: --precision auto then never picks it
    return score(args, base, card)


def score(args, base, card: dict) -> int:
    """The held-out comparison with fp32 and the noise-pumping ratio, into the card (what auto reads)."""
    from int8_quality import compare, heldout_cases, pumping_ratio

    from livehdr.models.weights import load_model, write_card

    loaded = load_model(args.out + ".safetensors", expect_arch="mqnet-int8")  # the file as users load it
    quality = compare(base, loaded, heldout_cases(args.data, args.views))
    card.setdefault("metrics", {})["heldout_vs_fp32"] = {
        **quality, "views": args.views, "size": "320x240",
        "command": "scripts/build_mqnet_int8.py " + " ".join(sys.argv[1:])}
    card["metrics"]["noise_pumping"] = {
        **pumping_ratio(base, loaded), "scene": "3 procedural night scenes 256x160, plain clip, +-1 code noise, "
        "12 frames each (tests/test_mqnet.py's measure)"}
    write_card(args.out + ".json", card)
    print(json.dumps(card["metrics"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
