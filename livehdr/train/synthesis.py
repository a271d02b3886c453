"""SDR synthesis: make the 8-bit frames a camera or a game would have produced from an HDR scene.

exposure (Reinhard's key) -> tone curve (livehdr.tonecurves) -> clip -> display encoding -> optional noise
-> 8-bit quantization -> optional JPEG round trip.  The training target follows the colour contract:
    target = hdr * exposure, clamped to [0, headroom]   (1.0 = SDR white = paper white).
Inputs encoded for a gamma-2.2 display are converted to the sRGB code values of the same display light,
exactly as the operator does for ``--input-gamma 2.2``, so the network only ever sees sRGB code values.
"""
from __future__ import annotations

from dataclasses import dataclass
import io
import math

import numpy as np

from livehdr import color
from livehdr.color import tonecurves

HEADROOM = color.PEAK_DEFAULT / color.PAPER_WHITE_BT2408

# Named SDR recipes: (tone curve, display encoding). 'gamma22' is a clip curve on a gamma-2.2 display.
RECIPES = {
    "clip": ("clip", "srgb"),
    "gamma22": ("clip", "2.2"),
    "reinhard": ("reinhard", "srgb"),
    "aces": ("aces", "srgb"),
    "hable": ("hable", "srgb"),
    # Trainable, but not in RECIPE_WEIGHTS / EVAL_RECIPES: the training mix and the evaluation protocol stay.
    "agx": ("agx", "srgb"),
    "pbr-neutral": ("pbr-neutral", "srgb"),
}
RECIPE_WEIGHTS = {"clip": 0.35, "gamma22": 0.15, "reinhard": 0.15, "aces": 0.2, "hable": 0.15}
# Hable's published shader applies an exposure bias of 2 before the curve; the others take the key as is.
EXPOSURE_BIAS = {"clip": 1.0, "gamma22": 1.0, "reinhard": 1.0, "aces": 1.0, "hable": 2.0, "agx": 1.0,
                 "pbr-neutral": 1.0}
# Exposure range around the key, in stops. Skewed dark: a dark exposure through a plain clip has nothing to
# expand, and the network must learn to leave it alone (issue #10: dark sRGB-clip inputs are not brightened).
STOPS_RANGE = (-2.5, 1.5)
KEY = 0.18  # Reinhard et al. 2002 eq. 2: the log-average luminance maps to the middle-grey key a = 0.18


def recipe_source_curve(recipe: str) -> str:
    """The ``SOURCE_CURVES`` entry that inverts a synthesis recipe: the same tone curve and display encoding."""
    from livehdr.base.errors import UserError
    from livehdr.color.tonecurves import SOURCE_CURVES, TONE_CURVES

    curve, encoding = RECIPES[recipe]
    for entry in SOURCE_CURVES.values():
        if entry.forward is TONE_CURVES[curve] and entry.encoding == encoding:
            return entry.name
    raise UserError(f"no source curve inverts recipe {recipe!r} ({curve} on a {encoding} display)")


@dataclass
class SdrRecipe:
    recipe: str = "clip"
    exposure: float = 1.0
    noise: float = 0.0  # std-dev of Gaussian noise in code values, before quantization
    jpeg_quality: int | None = None


def key_exposure(hdr: np.ndarray, stops: float = 0.0) -> float:
    """Exposure that puts the log-average luminance at the key (Reinhard 2002 eq. 1-2), +/- stops."""
    Y = color.luminance_BT709(hdr)
    log_avg = float(np.exp(np.mean(np.log(np.maximum(Y, 1e-6)))))
    return KEY / max(log_avg, 1e-6) * 2.0**stops


def random_recipe(hdr: np.ndarray, rng: np.random.Generator, degrade: bool = True) -> SdrRecipe:
    names = list(RECIPE_WEIGHTS)
    p = np.array([RECIPE_WEIGHTS[n] for n in names])
    name = names[int(rng.choice(len(names), p=p / p.sum()))]
    exposure = key_exposure(hdr, float(rng.uniform(*STOPS_RANGE))) * EXPOSURE_BIAS[name]
    noise = float(rng.uniform(0.0, 0.01)) if degrade and rng.random() < 0.3 else 0.0
    quality = int(rng.integers(60, 96)) if degrade and rng.random() < 0.25 else None
    return SdrRecipe(name, exposure, noise, quality)


def jpeg_round_trip(u8: np.ndarray, quality: int) -> np.ndarray:
    """Real JPEG compression artefacts (blocking, ringing, chroma subsampling) through Pillow."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def synthesize_sdr(hdr: np.ndarray, recipe: SdrRecipe, rng: np.random.Generator | None = None) -> np.ndarray:
    """HDR (H x W x 3 scene-linear) -> SDR sRGB code values (float32, on the 8-bit grid unless re-encoded)."""
    curve, encoding = RECIPES[recipe.recipe]
    code = tonecurves.sdr_from_hdr(hdr, recipe.exposure, curve, encoding)
    if recipe.noise > 0:
        rng = rng or np.random.default_rng()
        code = code + rng.normal(0.0, recipe.noise, size=code.shape).astype(np.float32)
    u8 = tonecurves.quantize_8bit(code)
    if recipe.jpeg_quality is not None:
        u8 = jpeg_round_trip(u8, recipe.jpeg_quality)
    code = u8.astype(np.float32) / 255.0
    if encoding != "srgb":  # what LearnedOperator does for --input-gamma 2.2
        code = color.eotf_inverse_sRGB(color.eotf_input(code, encoding)).astype(np.float32)
    return code


def target_from_hdr(hdr: np.ndarray, exposure: float, headroom: float = HEADROOM) -> np.ndarray:
    """The contract: HDR with the same exposure, 1.0 = SDR white = paper white, up to the headroom."""
    return np.clip(hdr * np.float32(exposure), 0.0, headroom).astype(np.float32)


def make_pair(hdr: np.ndarray, rng: np.random.Generator, degrade: bool = True):
    recipe = random_recipe(hdr, rng, degrade)
    return synthesize_sdr(hdr, recipe, rng), target_from_hdr(hdr, recipe.exposure), recipe


# --------------------------------------------------------------------------------------------------------
# Fixed evaluation cases (validation during training and livehdr.evaluate share them)
# --------------------------------------------------------------------------------------------------------
EVAL_RECIPES = ("clip", "gamma22", "reinhard", "aces", "hable")
EVAL_STOPS = (-1.0, 0.0, 1.0)


def _view(image, rng, width: int, height: int) -> np.ndarray:
    from livehdr.train.data import perspective_view

    px = image.pixels
    if image.is_panorama:
        return perspective_view(px, width, height, yaw=float(rng.uniform(-math.pi, math.pi)),
                                pitch=math.radians(float(rng.uniform(-20, 35))), fov_deg=float(rng.uniform(60, 95)))
    h, w = px.shape[:2]
    ch, cw = min(h, height), min(w, width)
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    return np.ascontiguousarray(px[y:y + ch, x:x + cw])


def make_grid_cases(images, views: int = 1, width: int = 320, height: int = 240, seed: int = 2026,
                    recipes=EVAL_RECIPES, stops=EVAL_STOPS) -> list[dict]:
    """Every image x ``views`` deterministic views x every recipe x every exposure (clean SDR), so each scene
    and each exposure x curve can be reported on its own. A view depends only on (seed, image name, view)."""
    import zlib

    cases = []
    for image in images:
        for v in range(views):
            rng = np.random.default_rng([seed, zlib.crc32(image.name.encode()), v])
            view = _view(image, rng, width, height)
            for st in stops:
                for name in recipes:
                    recipe = SdrRecipe(name, key_exposure(view, st) * EXPOSURE_BIAS[name])
                    cases.append({
                        "name": f"{image.name}#{v}/{name}/{st:+g}", "image": image.name, "view": v,
                        "recipe": name, "stops": st, "exposure": recipe.exposure,
                        "sdr": synthesize_sdr(view, recipe), "target": target_from_hdr(view, recipe.exposure),
                    })
    return cases


def make_eval_cases(images, n: int, width: int = 320, height: int = 240, seed: int = 2026) -> list[dict]:
    """n deterministic cases: perspective views (panoramas) or centre-weighted crops, cycling recipes and
    exposures (-1, 0, +1 stops around the key). Clean SDR (no noise/JPEG), so results are reproducible."""
    from livehdr.train.data import perspective_view

    cases = []
    for i in range(n):
        rng = np.random.default_rng(seed + i)
        image = images[i % len(images)]
        px = image.pixels
        if image.is_panorama:
            view = perspective_view(px, width, height, yaw=float(rng.uniform(-math.pi, math.pi)),
                                    pitch=math.radians(float(rng.uniform(-20, 35))), fov_deg=float(rng.uniform(60, 95)))
        else:
            h, w = px.shape[:2]
            ch, cw = min(h, height), min(w, width)
            y = int(rng.integers(0, h - ch + 1))
            x = int(rng.integers(0, w - cw + 1))
            view = np.ascontiguousarray(px[y:y + ch, x:x + cw])
        name = EVAL_RECIPES[i % len(EVAL_RECIPES)]
        stops = EVAL_STOPS[(i // len(EVAL_RECIPES)) % len(EVAL_STOPS)]
        recipe = SdrRecipe(name, key_exposure(view, stops) * EXPOSURE_BIAS[name])
        cases.append({
            "name": f"{image.name}#{i}", "image": image.name, "recipe": name, "stops": stops,
            "exposure": recipe.exposure, "sdr": synthesize_sdr(view, recipe),
            "target": target_from_hdr(view, recipe.exposure),
        })
    return cases
