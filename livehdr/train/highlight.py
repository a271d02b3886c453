"""Fitting the spatial highlight stage (issue #23) on top of a shipped clut (``python -m livehdr.fit_highlight``).

The stage is a few hundred parameters (models/highlight.py) over fixed features (color/highlight.py), so it
is fitted directly on the evaluation protocol's own loss:
- cases: the training scenes of models/splits.json (held-out scenes are never read), ``--views`` views at
  every synthesis recipe (the five evaluation recipes plus agx and pbr-neutral) and ``--stops``;
- stages: one per base, ``--stage known`` after the exact inverse of each case's own curve
  (``--source-curve``) and ``--stage auto`` after the blind clut, level-free (centred on each fully clipped
  region, so it shapes the region and keeps the LUT's level);
- loss: minus the mean per-case PU21-PSNR (dB, all pixels: the unaffected ones enter as a constant) plus
  ``--highlight-weight`` x the mean |log10| luminance error on the clipped pixels plus ``--shape-weight`` x
  the level-free |log10| error inside the shape measure's regions (metrics.shape_regions: one rule) plus
  ``--loss-weight`` x the mean dB the cases that lose against the base lose (a hinge on the worst cases);
- selection: every ``EVAL_EVERY`` steps on the validation scenes, the best mean PU21 gain - 5 x highlight
  error + the sampled shape correlation + half the worst case's loss (dB, against the base).
The result is written into a copy of the clut weights (``--out``) with the card's recipe and metrics.
"""
from __future__ import annotations

import math

import numpy as np

from livehdr import color


TRAIN_RECIPES = ("clip", "gamma22", "reinhard", "aces", "hable", "agx", "pbr-neutral")
PIXELS_PER_CASE = 3000  # near-clipped pixels kept per case (the rest enter through their count)


def _pu(rel):
    from livehdr.metrics import pu21_encode

    return pu21_encode(rel * 203.0)


def prepare_case(sdr: np.ndarray, target: np.ndarray, base_light: np.ndarray, white_rgb, rng,
                 measure_code: np.ndarray | None = None, knee_rgb=None) -> dict | None:
    """One case's fixed part: the features of the cells its sampled pixels read (and of every cell of a
    fully clipped region's reach, for the level-free centring), the sampled near-clipped pixels with their
    shape-measure region (``metrics.shape_regions`` on ``measure_code``, default ``sdr``), the rest's error.
    ``knee_rgb``: the base's light at grey code ``APPLY_KNEE`` (the level-free floor; None: the white's)."""
    from livehdr.color import highlight as hl
    from livehdr.metrics import shape_regions

    h, w = sdr.shape[:2]
    q = hl.apply_weight(sdr.max(axis=-1))
    near = q > 0
    if not near.any():
        return None
    sums = hl.cell_sums(sdr)
    regions = hl.GridRegions(sums)
    feats = hl.features_from_sums(sums, hl.log2_white(white_rgb), regions)
    gh, gw = sums.shape[:2]
    pu_e, pu_t = _pu(base_light.astype(np.float64)), _pu(target.astype(np.float64))
    sq = ((pu_e - pu_t) ** 2).sum(axis=-1)
    constant = float(sq[~near].sum())
    measured, _ = shape_regions(target, sdr if measure_code is None else measure_code)
    ys, xs = np.nonzero(near)
    clipped = sdr.max(axis=-1)[ys, xs] >= hl.FULL_CLIP
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
    used, inverse = np.unique(np.concatenate([corners.ravel(), np.flatnonzero(regions.reach)]), return_inverse=True)
    region = measured[ys, xs]
    size = np.bincount(measured.ravel())[region] if region.any() else np.zeros(len(ys), np.int64)
    return {
        "cells": used, "features": feats[used], "corners": inverse[:corners.size].reshape(corners.shape),
        "weights": weights.astype(np.float32),
        "cell_region": regions.reach.ravel()[used].astype(np.int64),
        "cell_weight": regions.weight.ravel()[used].astype(np.float32),
        "light": base_light[ys, xs].astype(np.float32), "target": target[ys, xs].astype(np.float32),
        "q": q[ys, xs].astype(np.float32), "q_min": hl.apply_weight(sdr.min(axis=-1)[ys, xs]).astype(np.float32),
        "clipped": clipped,
        "region": region.astype(np.int64), "region_size": np.where(region > 0, size, 0).astype(np.float32),
        "scale": n_near / len(ys), "clipped_scale": (n_clipped / max(int(clipped.sum()), 1)),
        "constant": constant, "count": 3 * h * w, "n_clipped": n_clipped,
        "floor": hl.level_free_floor(white_rgb, white_rgb if knee_rgb is None else knee_rgb),
    }


def build_cases(images, views: int, stops, recipes, size, seed: int, learned, progress=None,
                bases=("auto", "known")) -> list[dict]:
    """Every image x view x stop x recipe, through the blind model (``auto``) and / or through its own curve's
    exact inverse (``known``)."""
    from livehdr.color.highlight import APPLY_KNEE
    from livehdr.color.lut3d import apply_lut3d
    from livehdr.operators.source_curve import SourceCurveOperator
    from livehdr.train.synthesis import make_grid_cases, recipe_source_curve

    # one sampling stream per base: fitting one stage draws the same pixels as a build of both
    rngs = {base: np.random.default_rng([seed, k]) for k, base in enumerate(("auto", "known"))}
    known = {r: SourceCurveOperator(learned, recipe_source_curve(r)) for r in recipes}
    ones = np.ones((1, 1, 3), np.float32)
    knee = np.full((1, 1, 3), APPLY_KNEE, np.float32)
    out = []
    for i, image in enumerate(images):
        for case in make_grid_cases([image], views, size[0], size[1], seed=seed, recipes=recipes, stops=stops):
            sdr, target = case["sdr"], case["target"]
            auto = exact = None
            if "auto" in bases:
                learned.reset()
                lut = learned.lut_for_frame(sdr)
                auto = prepare_case(sdr, target, apply_lut3d(sdr, lut), lut[-1, -1, -1], rngs["auto"],
                                    knee_rgb=apply_lut3d(knee, lut)[0, 0])
            if "known" in bases:
                op = known[case["recipe"]]
                code = sdr
                if op.curve.encoding != "srgb":
                    from livehdr import color

                    code = color.eotf_inverse_input(color.eotf_sRGB(sdr), op.curve.encoding).astype(np.float32)
                exact = prepare_case(code, target, np.asarray(op.base_light(code), np.float32),
                                     np.asarray(op.base_light(ones))[0, 0], rngs["known"],
                                     measure_code=sdr, knee_rgb=np.asarray(op.base_light(knee))[0, 0])
            for base, prepared in (("auto", auto), ("known", exact)):
                if prepared is not None:
                    prepared.update(image=image.name, recipe=case["recipe"], stops=case["stops"], base=base)
                    out.append(prepared)
        if progress:
            progress(i + 1, len(images))
    return out


class Batch:
    """Cases concatenated into flat tensors for one loss evaluation (cell and region indices made global)."""

    def __init__(self, cases):
        import torch

        feats, corners, cell_region, region, offset, regions, measured = [], [], [], [], 0, 0, 0
        for c in cases:
            feats.append(c["features"])
            corners.append(c["corners"] + offset)
            offset += len(c["features"])
            # grid regions and measured regions, numbered 1.. per case: global ids, 0 stays "none"
            cell_region.append(np.where(c["cell_region"] > 0, c["cell_region"] + regions, 0))
            regions += int(c["cell_region"].max(initial=0))
            region.append(np.where(c["region"] > 0, c["region"] + measured, 0))
            measured += int(c["region"].max(initial=0))
        t = lambda a, dt=torch.float32: torch.from_numpy(np.ascontiguousarray(a)).to(dt)  # noqa: E731
        self.features = t(np.concatenate(feats))
        self.corners = t(np.concatenate(corners), torch.int64)
        self.weights = t(np.concatenate([c["weights"] for c in cases]), torch.float64)
        self.cell_region = t(np.concatenate(cell_region), torch.int64)
        self.cell_weight = t(np.concatenate([c["cell_weight"] for c in cases]), torch.float64)
        self.cell_floor = t(np.concatenate([np.full(len(c["features"]), c["floor"]) for c in cases]), torch.float64)
        self.grid_regions = regions + 1
        self.light = t(np.concatenate([c["light"] for c in cases]), torch.float64)
        self.target = t(np.concatenate([c["target"] for c in cases]), torch.float64)
        self.q = t(np.concatenate([c["q"] for c in cases]), torch.float64)
        self.q_min = t(np.concatenate([c["q_min"] for c in cases]), torch.float64)
        self.clipped = torch.from_numpy(np.concatenate([c["clipped"] for c in cases]))
        self.region = t(np.concatenate(region), torch.int64)
        self.region_size = t(np.concatenate([c["region_size"] for c in cases]), torch.float64)
        self.measured_regions = measured + 1
        self.case = torch.from_numpy(np.concatenate([np.full(len(c["q"]), k) for k, c in enumerate(cases)]))
        self.scale = t(np.array([c["scale"] for c in cases]), torch.float64)
        self.clipped_scale = t(np.array([c["clipped_scale"] for c in cases]), torch.float64)
        self.constant = t(np.array([c["constant"] for c in cases]), torch.float64)
        self.count = t(np.array([c["count"] for c in cases]), torch.float64)
        self.has_clipped = torch.from_numpy(np.array([c["n_clipped"] > 0 for c in cases]))
        self.n = len(cases)


def cell_field(mlp, batch: Batch, level_free: bool):
    """The field on the batch's stored cells; ``level_free``: centred on each grid region as
    ``GridRegions.centred`` does (weighted by fully clipped samples, shifted over the region's reach, never
    below ``level_free_floor``, 0 outside every reach)."""
    import torch

    h = mlp(batch.features).double()
    if not level_free:
        return h
    zeros = torch.zeros(batch.grid_regions, dtype=torch.float64)
    total = zeros.index_add(0, batch.cell_region, batch.cell_weight)
    mean = zeros.index_add(0, batch.cell_region, batch.cell_weight * h) / total.clamp_min(1e-9)
    shaped = torch.maximum(h - mean[batch.cell_region], batch.cell_floor)
    return torch.where(batch.cell_region > 0, shaped, torch.zeros_like(h))


def case_predictions(mlp, batch: Batch, top: float, level_free: bool):
    """The batch's sampled pixels through the stage: N x 3 relative light."""
    import torch

    h = cell_field(mlp, batch, level_free)
    hp = (h[batch.corners] * batch.weights).sum(dim=1)
    q = torch.where(hp >= 0, batch.q, batch.q_min)  # color.highlight.gain_weight
    return (batch.light * torch.exp2(q * hp)[:, None]).clamp(max=top)


def _log10_nits(rel):
    import torch

    from livehdr.metrics import SHAPE_FLOOR_NITS

    w = torch.tensor(color.WEIGHTS_BT709, dtype=torch.float64)
    return torch.log10(((rel @ w) * 203.0).clamp_min(SHAPE_FLOOR_NITS))


def shape_error(pred, batch: Batch):
    """(mean level-free |log10| error inside the measured regions, their sampled Pearson correlation weighted
    by region size): the shape measure's regions (metrics.shape_regions), on the sampled pixels."""
    import torch

    inside = batch.region > 0
    if not bool(inside.any()):
        zero = pred.sum() * 0.0
        return zero, float("nan")
    r = batch.region[inside]
    p, t = _log10_nits(pred[inside]), _log10_nits(batch.target[inside])
    zeros = torch.zeros(batch.measured_regions, dtype=torch.float64)
    n = zeros.index_add(0, r, torch.ones_like(p))
    e = p - t
    e_mean = zeros.index_add(0, r, e) / n.clamp_min(1)
    err = (e - e_mean[r]).abs().mean()
    with torch.no_grad():
        sums = [zeros.index_add(0, r, v) for v in (p, t, p * p, t * t, p * t)]
        sp, st, spp, stt, spt = (s / n.clamp_min(1) for s in sums)
        cov, vp, vt = spt - sp * st, (spp - sp * sp).clamp_min(0), (stt - st * st).clamp_min(0)
        corr = torch.where(vp > 1e-12, cov / (vp * vt).clamp_min(1e-24).sqrt(), torch.zeros_like(cov))
        size = zeros.index_add(0, r, batch.region_size[inside]) / n.clamp_min(1)
        ok = (n >= 8) & (size > 0)
        sampled_corr = float((corr[ok] * size[ok]).sum() / size[ok].sum()) if bool(ok.any()) else float("nan")
    return err, sampled_corr


def case_scores(pred, batch: Batch):
    """(per-case PU21-PSNR in dB, per-case mean |log10| luminance error on clipped pixels) of the predictions."""
    import torch

    from livehdr.metrics import PU21_L_MAX, PU21_L_MIN, PU21_PEAK, pu21_encode

    sq = ((pu21_encode(pred * 203.0) - pu21_encode(batch.target * 203.0)) ** 2).sum(dim=1)
    per_case = torch.zeros(batch.n, dtype=torch.float64).index_add_(0, batch.case, sq)
    mse = (batch.constant + batch.scale * per_case) / batch.count
    psnr = 10 * torch.log10(PU21_PEAK**2 / mse.clamp_min(1e-12))
    w = torch.tensor(color.WEIGHTS_BT709, dtype=torch.float64)
    yp = ((pred @ w) * 203.0).clamp(PU21_L_MIN, PU21_L_MAX)
    yt = ((batch.target @ w) * 203.0).clamp(PU21_L_MIN, PU21_L_MAX)
    err = (torch.log10(yp) - torch.log10(yt)).abs() * batch.clipped
    err_sum = torch.zeros(batch.n, dtype=torch.float64).index_add_(0, batch.case, err)
    n_clip = torch.zeros(batch.n, dtype=torch.float64).index_add_(0, batch.case, batch.clipped.double())
    hl_err = err_sum / n_clip.clamp_min(1)
    return psnr, hl_err


EVAL_EVERY = 10  # steps between validation passes (and candidate selections)


def fit(train_cases, val_cases, hidden: int, steps: int, lr: float, highlight_weight: float, top: float,
        seed: int, log=print, level_free: bool = False, shape_weight: float = 0.0, loss_weight: float = 0.0):
    """Adam on the full batch; loss: -(mean PU21-PSNR) + highlight_weight x highlight error + shape_weight x
    level-free shape error + loss_weight x the mean dB a case loses against the base (a hinge: the worst
    cases count, the gains do not); kept: the validation step with the best mean gain - 5 x highlight error +
    the sampled shape correlation + half the worst case's loss. Returns (mlp, best step, history)."""
    import torch

    from livehdr.models.highlight import HighlightMLP

    torch.manual_seed(seed)
    mlp = HighlightMLP(hidden)
    opt = torch.optim.Adam(mlp.parameters(), lr=lr)
    val = Batch(val_cases)
    with torch.no_grad():
        base_psnr, base_hl = case_scores(case_predictions(mlp, val, top, level_free), val)
    best = (-math.inf, None, 0)
    history = []
    batch = Batch(train_cases)  # full batch: the features are fixed, a step is one pass over the kept pixels
    with torch.no_grad():
        train_base, _ = case_scores(case_predictions(mlp, batch, top, level_free), batch)
    for step in range(1, steps + 1):
        pred = case_predictions(mlp, batch, top, level_free)
        psnr, hl_err = case_scores(pred, batch)
        loss = -psnr.mean() + highlight_weight * hl_err[batch.has_clipped].mean()
        if loss_weight:
            loss = loss + loss_weight * (train_base - psnr).clamp_min(0.0).mean()
        if shape_weight:
            loss = loss + shape_weight * shape_error(pred, batch)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % EVAL_EVERY == 0 or step == steps:
            with torch.no_grad():
                vpred = case_predictions(mlp, val, top, level_free)
                vp, vh = case_scores(vpred, val)
                _, corr = shape_error(vpred, val)
            gains = vp - base_psnr
            gain, worst = float(gains.mean()), float(gains.min())
            vhl = float(vh[val.has_clipped].mean())
            history.append({"step": step, "val_gain_db": round(gain, 4), "val_worst_gain_db": round(worst, 4),
                            "val_highlight_log10_error": round(vhl, 4), "val_shape_corr_sampled": round(corr, 4)})
            log(f"step {step}: train loss {float(loss.detach()):.3f}; validation {gain:+.3f} dB (worst {worst:+.2f}), "
                f"highlight error {float(base_hl[val.has_clipped].mean()):.3f} -> {vhl:.3f}, shape corr {corr:.3f}")
            score = gain - 5.0 * vhl + (0.0 if math.isnan(corr) else corr) + 0.5 * min(worst, 0.0)
            if score > best[0]:
                best = (score, {k: v.clone() for k, v in mlp.state_dict().items()}, step)
    mlp.load_state_dict(best[1])
    return mlp, best[2], history
