"""How close an int8 MQNet stays to fp32 on held-out scenes (issue #12's goals), shared by the int8 scripts.

Cases are ``livehdr.evaluate``'s grid (held-out scenes x views x 5 SDR recipes x 3 exposures). Reported:
- PU21-PSNR (dB) of each model against the HDR target, and the int8 - fp32 difference;
- the highlight error: mean |log2(int8 / fp32)| in stops over pixels where the fp32 output exceeds
  1.5x paper white (where int8 used to blotch suns and dim lamps).
"""
from __future__ import annotations

import numpy as np
import torch

HIGHLIGHT_RELATIVE = 1.5  # x paper white


def heldout_cases(data, views: int = 1, width: int = 320, height: int = 240, seed: int = 2026):
    from livehdr.train.data import find_hdr_files, image_name, load_images, read_splits
    from livehdr.train.synthesis import make_grid_cases

    held = set(read_splits(None).held_out) & {image_name(p) for p in find_hdr_files(data)}
    if not held:
        raise SystemExit(f"no held-out scene of models/splits.json under {', '.join(data)}")
    return make_grid_cases(load_images(data, min_size=16, only=held), views, width, height, seed=seed)


def run_model(model, sdr: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(sdr, dtype=np.float32)).permute(2, 0, 1)[None]
    with torch.inference_mode():
        return model(x)[0].permute(1, 2, 0).float().numpy()


def compare(reference, candidate, cases) -> dict:
    """Mean PU21-PSNR of both, and the candidate's highlight error in stops against the reference."""
    from livehdr.metrics import frame_metrics

    pu_ref, pu_cand, stops, bright = [], [], [], 0
    for c in cases:
        ref, cand = run_model(reference, c["sdr"]), run_model(candidate, c["sdr"])
        pu_ref.append(frame_metrics(ref, c["target"], c["sdr"])["pu21_psnr"])
        pu_cand.append(frame_metrics(cand, c["target"], c["sdr"])["pu21_psnr"])
        mask = ref.max(axis=2) > HIGHLIGHT_RELATIVE
        if mask.any():
            y_ref = ref[mask] @ np.array([0.2126, 0.7152, 0.0722], np.float32)
            y_cand = cand[mask] @ np.array([0.2126, 0.7152, 0.0722], np.float32)
            stops.append(np.abs(np.log2((y_cand + 1e-4) / (y_ref + 1e-4))))
            bright += int(mask.sum())
    all_stops = np.concatenate(stops) if stops else np.zeros(0)
    return {"cases": len(cases), "pu21_psnr_fp32": float(np.mean(pu_ref)), "pu21_psnr_int8": float(np.mean(pu_cand)),
            "pu21_drop_db": float(np.mean(pu_ref) - np.mean(pu_cand)),
            "highlight_stops_mean": float(all_stops.mean()) if all_stops.size else float("nan"),
            "highlight_stops_p95": float(np.percentile(all_stops, 95)) if all_stops.size else float("nan"),
            "highlight_pixels": bright}


def pumping_ratio(reference, candidate, frames: int = 12, seeds=(1, 2, 3)) -> dict:
    """Frame-mean change per frame on static procedural night scenes with fresh +-1 code value noise each
    frame (tests/test_mqnet.py's measure), candidate over reference: int8 thresholds can turn noise into
    flicker, which the quality goals above do not see."""
    from livehdr import scenes
    from livehdr.metrics import frame_mean_pumping
    from livehdr.train.synthesis import SdrRecipe, key_exposure, synthesize_sdr

    totals = {"reference": 0.0, "candidate": 0.0}
    for seed in seeds:
        hdr = scenes.render_scene(scenes.random_scene_params(np.random.default_rng(seed + 2), "night"), 256, 160, 0.0)
        hdr = np.clip(np.nan_to_num(np.asarray(hdr, np.float32)), 0, None)
        base = np.round(synthesize_sdr(hdr, SdrRecipe("clip", key_exposure(hdr))) * 255).astype(np.int16)
        for key, model in (("reference", reference), ("candidate", candidate)):
            rng = np.random.default_rng(seed)
            outs = [run_model(model, np.clip(base + rng.integers(-1, 2, size=base.shape), 0, 255).astype(np.float32)
                              / 255) for _ in range(frames)]
            totals[key] += frame_mean_pumping(outs)
    return {"pumping_fp32": totals["reference"] / len(seeds), "pumping_int8": totals["candidate"] / len(seeds),
            "pumping_int8_over_fp32": totals["candidate"] / max(totals["reference"], 1e-12)}
