"""Fitting the spatial highlight stage (issue #23) on top of a shipped clut (``python -m livehdr.fit_highlight``).

The stage is a few hundred parameters (models/highlight.py) over fixed features (color/highlight.py), so it
is fitted directly on the evaluation protocol's own loss:
- cases: the training scenes of models/splits.json (held-out scenes are never read), ``--views`` views at
  every synthesis recipe (the five evaluation recipes plus agx and pbr-neutral) and ``--stops``;
- bases: every case twice, through the blind clut (``auto``) and through the exact inverse of its own curve
  (``--source-curve``), so one conditioned stage serves both; the feature ``log2_white`` (the base's light
  at white) tells them apart;
- loss: minus the mean per-case PU21-PSNR (dB, all pixels: the unaffected ones enter as a constant) plus
  ``--highlight-weight`` x the mean |log10| luminance error on the clipped pixels;
- selection: the step with the best mean PU21 gain on the validation scenes (auto and known alike).
The result is written into a copy of the clut weights (``--out``) with the card's recipe and metrics.
"""
from __future__ import annotations

import math

import numpy as np


TRAIN_RECIPES = ("clip", "gamma22", "reinhard", "aces", "hable", "agx", "pbr-neutral")
PIXELS_PER_CASE = 3000  # near-clipped pixels kept per case (the rest enter through their count)


def _pu(rel):
    from livehdr.metrics import pu21_encode

    return pu21_encode(rel * 203.0)


def prepare_case(sdr: np.ndarray, target: np.ndarray, base_light: np.ndarray, white_rgb, rng) -> dict | None:
    """One case's fixed part: features of the used cells, the sampled near-clipped pixels, the rest's error."""
    from livehdr.color import highlight as hl

    h, w = sdr.shape[:2]
    q = hl.apply_weight(sdr.max(axis=-1))
    near = q > 0
    if not near.any():
        return None
    sums = hl.cell_sums(sdr)
    feats = hl.features_from_sums(sums, hl.log2_white(white_rgb))
    gh, gw = sums.shape[:2]
    pu_e, pu_t = _pu(base_light.astype(np.float64)), _pu(target.astype(np.float64))
    sq = ((pu_e - pu_t) ** 2).sum(axis=-1)
    constant = float(sq[~near].sum())
    ys, xs = np.nonzero(near)
    clipped = sdr.max(axis=-1)[ys, xs] >= 254.5 / 255
    n_near, n_clipped = len(ys), int(clipped.sum())
    if len(ys) > PIXELS_PER_CASE:
        pick = np.sort(rng.choice(len(ys), PIXELS_PER_CASE, replace=False))
        ys, xs, clipped = ys[pick], xs[pick], clipped[pick]
    fy, fx = hl.field_coordinate(ys, h, gh), hl.field_coordinate(xs, w, gw)
    y0, x0 = np.floor(fy).astype(np.int64), np.floor(fx).astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, gh - 1), np.minimum(x0 + 1, gw - 1)
    ty, tx = fy - y0, fx - x0
    corners = np.stack([y0 * gw + x0, y0 * gw + x1, y1 * gw + x0, y1 * gw + x1], axis=1)
    weights = np.stack([(1 - ty) * (1 - tx), (1 - ty) * tx, ty * (1 - tx), ty * tx], axis=1)
    used, inverse = np.unique(corners, return_inverse=True)
    return {
        "features": feats[used], "corners": inverse.reshape(corners.shape), "weights": weights.astype(np.float32),
        "light": base_light[ys, xs].astype(np.float32), "target": target[ys, xs].astype(np.float32),
        "q": q[ys, xs].astype(np.float32), "clipped": clipped,
        "scale": n_near / len(ys), "clipped_scale": (n_clipped / max(int(clipped.sum()), 1)),
        "constant": constant, "count": 3 * h * w, "n_clipped": n_clipped,
    }


def build_cases(images, views: int, stops, recipes, size, seed: int, learned, progress=None) -> list[dict]:
    """Every image x view x stop x recipe, through the blind model and through its own curve's inverse."""
    from livehdr.color.lut3d import apply_lut3d
    from livehdr.operators.source_curve import SourceCurveOperator
    from livehdr.train.synthesis import make_grid_cases, recipe_source_curve

    rng = np.random.default_rng(seed)
    known = {r: SourceCurveOperator(learned, recipe_source_curve(r)) for r in recipes}
    ones = np.ones((1, 1, 3), np.float32)
    out = []
    for i, image in enumerate(images):
        for case in make_grid_cases([image], views, size[0], size[1], seed=seed, recipes=recipes, stops=stops):
            sdr, target = case["sdr"], case["target"]
            learned.reset()
            lut = learned.lut_for_frame(sdr)
            auto = prepare_case(sdr, target, apply_lut3d(sdr, lut), lut[-1, -1, -1], rng)
            op = known[case["recipe"]]
            code = sdr
            if op.curve.encoding != "srgb":
                from livehdr import color

                code = color.eotf_inverse_input(color.eotf_sRGB(sdr), op.curve.encoding).astype(np.float32)
            exact = prepare_case(code, target, np.asarray(op.base_light(code), np.float32),
                                 np.asarray(op.base_light(ones))[0, 0], rng)
            for base, prepared in (("auto", auto), ("known", exact)):
                if prepared is not None:
                    prepared.update(image=image.name, recipe=case["recipe"], stops=case["stops"], base=base)
                    out.append(prepared)
        if progress:
            progress(i + 1, len(images))
    return out


class Batch:
    """Cases concatenated into flat tensors for one loss evaluation."""

    def __init__(self, cases):
        import torch

        feats, corners, offset = [], [], 0
        for c in cases:
            feats.append(c["features"])
            corners.append(c["corners"] + offset)
            offset += len(c["features"])
        t = lambda a, dt=torch.float32: torch.from_numpy(np.ascontiguousarray(a)).to(dt)  # noqa: E731
        self.features = t(np.concatenate(feats))
        self.corners = t(np.concatenate(corners), torch.int64)
        self.weights = t(np.concatenate([c["weights"] for c in cases]), torch.float64)
        self.light = t(np.concatenate([c["light"] for c in cases]), torch.float64)
        self.target = t(np.concatenate([c["target"] for c in cases]), torch.float64)
        self.q = t(np.concatenate([c["q"] for c in cases]), torch.float64)
        self.clipped = torch.from_numpy(np.concatenate([c["clipped"] for c in cases]))
        self.case = torch.from_numpy(np.concatenate([np.full(len(c["q"]), k) for k, c in enumerate(cases)]))
        self.scale = t(np.array([c["scale"] for c in cases]), torch.float64)
        self.clipped_scale = t(np.array([c["clipped_scale"] for c in cases]), torch.float64)
        self.constant = t(np.array([c["constant"] for c in cases]), torch.float64)
        self.count = t(np.array([c["count"] for c in cases]), torch.float64)
        self.has_clipped = torch.from_numpy(np.array([c["n_clipped"] > 0 for c in cases]))
        self.n = len(cases)


def case_scores(mlp, batch: Batch, top: float):
    """(per-case PU21-PSNR in dB, per-case mean |log10| luminance error on clipped pixels)."""
    import torch

    from livehdr.metrics import PU21_L_MAX, PU21_L_MIN, PU21_PEAK, pu21_encode

    h = mlp(batch.features).double()
    hp = (h[batch.corners] * batch.weights).sum(dim=1)
    pred = (batch.light * torch.exp2(batch.q * hp)[:, None]).clamp(max=top)
    sq = ((pu21_encode(pred * 203.0) - pu21_encode(batch.target * 203.0)) ** 2).sum(dim=1)
    per_case = torch.zeros(batch.n, dtype=torch.float64).index_add_(0, batch.case, sq)
    mse = (batch.constant + batch.scale * per_case) / batch.count
    psnr = 10 * torch.log10(PU21_PEAK**2 / mse.clamp_min(1e-12))
    w = torch.tensor([0.2126, 0.7152, 0.0722], dtype=torch.float64)
    yp = ((pred @ w) * 203.0).clamp(PU21_L_MIN, PU21_L_MAX)
    yt = ((batch.target @ w) * 203.0).clamp(PU21_L_MIN, PU21_L_MAX)
    err = (torch.log10(yp) - torch.log10(yt)).abs() * batch.clipped
    err_sum = torch.zeros(batch.n, dtype=torch.float64).index_add_(0, batch.case, err)
    n_clip = torch.zeros(batch.n, dtype=torch.float64).index_add_(0, batch.case, batch.clipped.double())
    hl_err = err_sum / n_clip.clamp_min(1)
    return psnr, hl_err


def fit(train_cases, val_cases, hidden: int, steps: int, lr: float, highlight_weight: float, top: float,
        seed: int, log=print):
    import torch

    from livehdr.models.highlight import HighlightMLP

    torch.manual_seed(seed)
    mlp = HighlightMLP(hidden)
    opt = torch.optim.Adam(mlp.parameters(), lr=lr)
    val = Batch(val_cases)
    with torch.no_grad():
        base_psnr, base_hl = case_scores(mlp, val, top)
    best = (-math.inf, None, 0)
    history = []
    batch = Batch(train_cases)  # full batch: the features are fixed, a step is one pass over the kept pixels
    for step in range(1, steps + 1):
        psnr, hl_err = case_scores(mlp, batch, top)
        loss = -psnr.mean() + highlight_weight * hl_err[batch.has_clipped].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 0 or step == steps:
            with torch.no_grad():
                vp, vh = case_scores(mlp, val, top)
            gain = float((vp - base_psnr).mean())
            vhl = float(vh[val.has_clipped].mean())
            history.append({"step": step, "val_gain_db": gain, "val_highlight_log10_error": vhl})
            log(f"step {step}: train loss {float(loss):.3f}; validation {gain:+.3f} dB, highlight error "
                f"{float(base_hl[val.has_clipped].mean()):.3f} -> {vhl:.3f}")
            score = gain - 5.0 * vhl
            if score > best[0]:
                best = (score, {k: v.clone() for k, v in mlp.state_dict().items()}, step)
    mlp.load_state_dict(best[1])
    return mlp, best[2], history
