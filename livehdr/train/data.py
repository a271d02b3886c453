"""Real HDR training data: folders of OpenEXR / Radiance files, random crops and perspective views.

Panoramas (equirectangular, width = 2 x height) also yield rectilinear views: a virtual pinhole camera
with random yaw, pitch and field of view, resampled bilinearly from the sphere. That gives natural
framing (horizon, sun and sky in the upper part) that a plain crop of the distorted equirect lacks.
"""
from __future__ import annotations

from dataclasses import dataclass
import json
import math
import os

import numpy as np

from livehdr.base.errors import UserError
from livehdr.io.imagefiles import read_hdr_image

HDR_EXTENSIONS = (".exr", ".hdr", ".pic", ".rgbe")


@dataclass
class HdrImage:
    name: str  # file stem, used for --val and in the model card
    path: str
    pixels: np.ndarray  # float32 H x W x 3, linear BT.709 (relative scene light, arbitrary scale)

    @property
    def is_panorama(self) -> bool:
        h, w = self.pixels.shape[:2]
        return abs(w - 2 * h) <= 2


def find_hdr_files(paths) -> list[str]:
    """Files with an HDR extension in the given folders (recursively) or given directly."""
    found = []
    for p in paths:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                found += [os.path.join(root, n) for n in sorted(names) if n.lower().endswith(HDR_EXTENSIONS)]
        elif os.path.isfile(p):
            if not p.lower().endswith(HDR_EXTENSIONS):
                raise UserError(f"{p}: not an HDR image (.exr or .hdr expected)")
            found.append(p)
        else:
            raise UserError(f"data path not found: {p}")
    if not found:
        raise UserError(f"no .exr or .hdr files in {', '.join(paths)}")
    return sorted(found)


def image_name(path: str) -> str:
    """The scene name of a file: its stem (what splits.json, --val and the model card use)."""
    return os.path.splitext(os.path.basename(path))[0]


def load_images(paths, min_size: int = 32, exclude=(), only=None) -> list[HdrImage]:
    """Read the HDR files under ``paths``. Files whose stem is in ``exclude`` are skipped before they are
    opened (the trainer passes the held-out split here, so held-out pixels never enter its memory); with
    ``only``, just those stems are read."""
    exclude = set(exclude or ())
    images = []
    for path in find_hdr_files(paths):
        name = image_name(path)
        if name in exclude or (only is not None and name not in only):
            continue
        px = read_hdr_image(path)
        if px.ndim != 3 or px.shape[0] < min_size or px.shape[1] < min_size:
            raise UserError(f"{path}: image is too small for training ({px.shape[1]}x{px.shape[0]})")
        px = np.clip(np.nan_to_num(px, nan=0.0, posinf=0.0, neginf=0.0), 0.0, None).astype(np.float32)
        images.append(HdrImage(name, path, px))
    return images


# --------------------------------------------------------------------------------------------------------
# The scene split (models/splits.json): held_out never trains, validation only picks the epoch
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Splits:
    held_out: tuple = ()
    validation: tuple = ()
    path: str | None = None


def default_splits_path() -> str:
    from livehdr.models.weights import shipped_path

    return shipped_path("splits", ".json")


def read_splits(path: str | None) -> Splits:
    """``{"held_out": [...] or {name: note}, "validation": [...] or {...}, "rule": ...}``; a missing default
    file means no split (a fresh clone without data still trains on a user's own folder)."""
    if path is None:
        path = default_splits_path()
        if not os.path.isfile(path):
            return Splits()
    try:
        with open(path) as f:
            raw = json.load(f)
        held, val = raw.get("held_out", []), raw.get("validation", [])
    except (OSError, ValueError, AttributeError) as e:
        raise UserError(f"cannot read the split file {path}: {e}") from None
    held, val = tuple(sorted(held)), tuple(sorted(val))
    both = sorted(set(held) & set(val))
    if both:
        raise UserError(f"{path}: {', '.join(both)} is both held out and validation")
    return Splits(held, val, path)


def training_images(paths, splits: Splits, val_names=None, min_size: int = 32):
    """(train, validation) for the trainer. Held-out scenes are never read; ``val_names`` (if given)
    replaces the split's validation list, and naming a held-out scene there is an error."""
    from_split = val_names is None
    val_names = list(splits.validation if from_split else val_names)
    leaked = sorted(set(val_names) & set(splits.held_out))
    if leaked:
        raise UserError(f"--val {', '.join(leaked)}: held out in {splits.path}; it may not be used in training")
    if not find_hdr_files(paths):  # the no-files error first, before anything is filtered
        raise UserError(f"no .exr or .hdr files in {', '.join(paths)}")
    images = load_images(paths, min_size, exclude=splits.held_out)
    if not images:
        raise UserError(f"every image in {', '.join(paths)} is held out by {splits.path}; nothing to train on")
    names = {im.name for im in images}
    if from_split:
        val_names = [n for n in val_names if n in names]  # the split may name scenes of a folder not given
    return split_holdout(images, val_names)


def split_holdout(images: list[HdrImage], val_names) -> tuple[list[HdrImage], list[HdrImage]]:
    """(train, val): images named in ``val_names`` never reach the training set."""
    val_names = list(val_names or [])
    names = {im.name for im in images}
    missing = [n for n in val_names if n not in names]
    if missing:
        raise UserError(f"--val {', '.join(missing)}: no such image in the data (have {', '.join(sorted(names))})")
    train = [im for im in images if im.name not in val_names]
    val = [im for im in images if im.name in val_names]
    if not train:
        raise UserError("every image is held out for validation; nothing is left to train on")
    return train, val


def random_crop(px: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A size x size crop; sometimes a 2x-larger crop box-filtered down, to vary the apparent scale."""
    h, w = px.shape[:2]
    scale = 2 if min(h, w) >= 2 * size and rng.random() < 0.3 else 1
    box = size * scale
    if h < box or w < box:  # small images: replicate-pad up to the crop
        px = np.pad(px, ((0, max(0, box - h)), (0, max(0, box - w)), (0, 0)), mode="edge")
        h, w = px.shape[:2]
    y = int(rng.integers(0, h - box + 1))
    x = int(rng.integers(0, w - box + 1))
    crop = px[y:y + box, x:x + box]
    if scale > 1:
        crop = crop.reshape(size, scale, size, scale, 3).mean(axis=(1, 3))
    return crop


def perspective_view(pano: np.ndarray, width: int, height: int, yaw: float, pitch: float,
                     fov_deg: float) -> np.ndarray:
    """Rectilinear (pinhole) view of an equirectangular panorama, bilinear, horizontal wrap-around.

    yaw and pitch in radians; fov is horizontal. Image rows go downwards, so +pitch looks up.
    """
    H, W = pano.shape[:2]
    f = 0.5 * width / math.tan(math.radians(fov_deg) / 2)
    xs = (np.arange(width) - (width - 1) / 2) / f
    ys = (np.arange(height) - (height - 1) / 2) / f
    x, y = np.meshgrid(xs, ys)
    # Camera frame: z forward, x right, y down; rotate by pitch (about x) then yaw (about the vertical).
    z = np.ones_like(x)
    cp, sp = math.cos(pitch), math.sin(pitch)
    y2 = y * cp - z * sp
    z2 = y * sp + z * cp
    cy, sy = math.cos(yaw), math.sin(yaw)
    x3 = x * cy + z2 * sy
    z3 = -x * sy + z2 * cy
    lon = np.arctan2(x3, z3)  # -pi..pi
    lat = np.arctan2(-y2, np.hypot(x3, z3))  # +pi/2 at the zenith
    u = (lon / (2 * math.pi) + 0.5) * W - 0.5
    v = (0.5 - lat / math.pi) * H - 0.5
    u0 = np.floor(u).astype(np.int64)
    v0 = np.floor(v).astype(np.int64)
    fu = (u - u0)[..., None].astype(np.float32)
    fv = (v - v0)[..., None].astype(np.float32)
    u0w, u1w = u0 % W, (u0 + 1) % W
    v0c, v1c = np.clip(v0, 0, H - 1), np.clip(v0 + 1, 0, H - 1)
    top = pano[v0c, u0w] * (1 - fu) + pano[v0c, u1w] * fu
    bottom = pano[v1c, u0w] * (1 - fu) + pano[v1c, u1w] * fu
    return (top * (1 - fv) + bottom * fv).astype(np.float32)


def random_view(image: HdrImage, size: int, rng: np.random.Generator, perspective_prob: float = 0.6) -> np.ndarray:
    """A random training patch: a perspective view (panoramas) or a crop, randomly flipped."""
    if image.is_panorama and rng.random() < perspective_prob:
        px = perspective_view(image.pixels, size, size, yaw=float(rng.uniform(-math.pi, math.pi)),
                              pitch=math.radians(float(rng.uniform(-40, 50))),
                              fov_deg=float(rng.uniform(45, 100)))
    else:
        px = random_crop(image.pixels, size, rng)
    if rng.random() < 0.5:
        px = px[:, ::-1]
    return np.ascontiguousarray(px, dtype=np.float32)
