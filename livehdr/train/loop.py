"""The training loop: sampler, Adam with warm-up + cosine decay, per-epoch validation, safetensors checkpoints.

Outputs for ``--out models/NAME``:
- ``models/NAME.safetensors``       best weights so far (by the validation score, ``selection_score``: the
                                    validation scenes only, never the held-out split), loadable by the operator;
- ``models/NAME.json``              its model card (data, recipe, validation metrics beside naive);
- ``models/NAME.ckpt.safetensors``  the last epoch's model + optimizer state, for ``--resume``.
"""
from __future__ import annotations

import datetime

from dataclasses import dataclass
import math
import os
import sys
import time

import numpy as np
import torch

from livehdr.base.errors import UserError
from livehdr.train import synthesis
from livehdr.train.data import random_view
from livehdr.train.losses import PUMPING_ALLOWANCE, itm_loss, pumping_loss



@dataclass
class TrainConfig:
    data: list
    out: str
    epochs: int = 30
    steps_per_epoch: int = 200
    crop: int = 128
    batch: int = 8
    width: float = 0.35
    attention: str = "csa"
    arch: str = "mqnet"  # "mqnet" (per-pixel U-Net) or "clut" (thumbnail CNN + compressed adaptive 3D LUT)
    lut_size: int = 33  # clut: nodes per axis
    bases: int = 6  # clut: basis LUTs
    lr: float = 2e-3
    warmup: int = 100
    synthetic_fraction: float = 0.3
    val: list | None = None  # None: the split file's validation scenes
    val_cases: int = 1  # views per validation scene (each view x 5 recipes x 3 exposures)
    splits: str | None = None  # None: models/splits.json when present
    seed: int = 0
    resume: bool = False
    global_stage: str | None = None  # mqnet: a trained CLUT's weights, run first and kept frozen
    context: int = 256  # mqnet with a global stage: the view the CLUT sees; the U-Net trains on a crop of it
    pair_weight: float = 0.0  # temporal loss on noisy twins (losses.pumping_loss); 0 = off
    pair_every: int = 2  # twins replace half the batch on every n-th step
    init: str | None = None  # start from these weights (same architecture and config): a fine-tune
    threads: int = 2
    quiet: bool = False


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 1 % of the base rate."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


class SyntheticScenes:
    """Game-like HDR renders from livehdr.scenes, kept in a small pool that is refreshed gradually
    (rendering is the expensive part; crops and recipes still vary every step)."""

    def __init__(self, rng: np.random.Generator, size: int, pool: int = 24, refresh: float = 0.1):
        from livehdr import scenes  # noqa: F401  (ImportError tells the caller synthetic data is unavailable)

        self.scenes = scenes
        self.rng = rng
        self.size = size
        self.refresh = refresh
        self.pool = [self._render() for _ in range(pool)]

    def _render(self) -> np.ndarray:
        params = self.scenes.random_scene_params(self.rng)
        s = int(self.size * 1.5)
        hdr = self.scenes.render_scene(params, s, s, float(self.rng.uniform(0, 10)))
        return np.clip(np.nan_to_num(np.asarray(hdr, dtype=np.float32)), 0.0, None)

    def sample(self) -> np.ndarray:
        if self.rng.random() < self.refresh:
            self.pool[int(self.rng.integers(len(self.pool)))] = self._render()
        px = self.pool[int(self.rng.integers(len(self.pool)))]
        h, w = px.shape[:2]
        y = int(self.rng.integers(0, h - self.size + 1))
        x = int(self.rng.integers(0, w - self.size + 1))
        crop = px[y:y + self.size, x:x + self.size]
        return np.ascontiguousarray(crop[:, ::-1] if self.rng.random() < 0.5 else crop)


class Sampler:
    """Batches of (SDR code values, target), N x 3 x H x W float32 tensors."""

    def __init__(self, images, crop: int, rng: np.random.Generator, synthetic=None, synthetic_fraction: float = 0.0):
        self.images = images
        self.crop = crop
        self.rng = rng
        self.synthetic = synthetic
        self.synthetic_fraction = synthetic_fraction if synthetic is not None else 0.0

    def batch(self, n: int):
        sdr, tgt = [], []
        for _ in range(n):
            if self.rng.random() < self.synthetic_fraction:
                hdr = self.synthetic.sample()
            else:
                hdr = random_view(self.images[int(self.rng.integers(len(self.images)))], self.crop, self.rng)
            s, t, _ = synthesis.make_pair(hdr, self.rng)
            sdr.append(s)
            tgt.append(t)
        to = lambda xs: torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous()
        return to(sdr), to(tgt)

    def with_noisy_twins(self, sdr: torch.Tensor, target: torch.Tensor):
        """The first half of the batch, then the same frames with fresh +-1 code-value noise (the static
        noisy scene of issue #10's pumping goal): the second half is replaced."""
        half = sdr.shape[0] // 2
        a = sdr[:half]
        step = torch.from_numpy(self.rng.integers(-1, 2, size=tuple(a.shape)).astype(np.float32)) / 255.0
        twin = (torch.round(a * 255.0) / 255.0 + step).clamp(0.0, 1.0)
        return torch.cat([a, twin]), torch.cat([target[:half], target[:half]]), half


def random_crops(size: int, rng: np.random.Generator, *batches: torch.Tensor, twins: int = 0):
    """The same random size x size window of each sample in every batch (N x C x H x W each); with ``twins``,
    sample i + twins gets the window of sample i (noisy twins stay aligned)."""
    h, w = batches[0].shape[-2:]
    if h == size and w == size:
        return batches
    n = batches[0].shape[0]
    ys = rng.integers(0, h - size + 1, size=n)
    xs = rng.integers(0, w - size + 1, size=n)
    if twins:
        ys[twins:2 * twins], xs[twins:2 * twins] = ys[:twins], xs[:twins]
    return tuple(torch.stack([b[i, :, y:y + size, x:x + size] for i, (y, x) in enumerate(zip(ys, xs))])
                 for b in batches)


def evaluate_cases(model, cases) -> dict:
    """Mean metrics of the model (and of naive, for scale) over fixed cases, plus the PU21-PSNR difference
    to naive per scene (mean over its cases) and per case (each exposure x curve)."""
    from livehdr.metrics import frame_metrics, nanmean
    from livehdr.operators import create_operator

    naive = create_operator("naive")
    rows = {"model": [], "naive": []}
    model.eval()
    with torch.inference_mode():
        for c in cases:
            x = torch.from_numpy(c["sdr"]).permute(2, 0, 1)[None]
            pred = model(x)[0].permute(1, 2, 0).numpy()
            rows["model"].append(frame_metrics(pred, c["target"], c["sdr"]))
            rows["naive"].append(frame_metrics(naive(c["sdr"]), c["target"], c["sdr"]))
    out = {k: {m: nanmean(r[m] for r in v) for m in v[0]} for k, v in rows.items()}
    delta = [m["pu21_psnr"] - n["pu21_psnr"] for m, n in zip(rows["model"], rows["naive"])]
    scenes = {}
    for c, d in zip(cases, delta):
        scenes.setdefault(c.get("image", c["name"]), []).append(d)
    out["delta"] = {"mean": float(np.mean(delta)), "worst_case": float(np.min(delta)),
                    "per_scene": {k: float(np.mean(v)) for k, v in scenes.items()}}
    out["delta"]["worst_scene"] = min(out["delta"]["per_scene"].values())
    return out


def selection_score(metrics: dict) -> float:
    """Epoch choice on the validation scenes: the mean PU21-PSNR gain over naive, minus penalties for a
    scene below -0.5 dB or an exposure x curve below -1 dB (the issue's 'no scene made worse' bars)."""
    d = metrics["delta"]
    return d["mean"] + 2.0 * min(0.0, d["worst_scene"] + 0.5) + 0.5 * min(0.0, d["worst_case"] + 1.0)


def train(cfg: TrainConfig) -> dict:
    from tqdm import tqdm

    from livehdr.models import create_model
    from livehdr.models.mqnet import parameter_count
    from livehdr.models.weights import load_checkpoint, save_checkpoint, save_model, write_card
    from livehdr.train.data import read_splits, training_images

    torch.set_num_threads(max(1, cfg.threads))
    torch.set_flush_denormal(True)  # subnormal activations/gradients are ~100x slower on x86 CPUs
    torch.manual_seed(cfg.seed)
    out_dir = os.path.dirname(os.path.abspath(cfg.out))
    if not os.path.isdir(out_dir):
        raise UserError(f"--out {cfg.out}: folder {out_dir} does not exist")
    weights_path, card_file, ckpt_path = cfg.out + ".safetensors", cfg.out + ".json", cfg.out + ".ckpt.safetensors"

    splits = read_splits(cfg.splits)
    train_images, val_images = training_images(cfg.data, splits, cfg.val)
    say = (lambda *a: None) if cfg.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    say(f"train on {len(train_images)}: {', '.join(im.name for im in train_images)}; "
        f"validate on {', '.join(im.name for im in val_images) or 'nothing'}; "
        f"never read (held out): {', '.join(splits.held_out) or 'nothing'}")

    rng = np.random.default_rng(cfg.seed)
    global_stage = _global_stage(cfg)
    # what the sampler cuts: with a global stage, the CLUT's view (the U-Net's crop is taken from it later)
    view = max(cfg.crop, cfg.context) if global_stage is not None else cfg.crop
    synthetic, synth_note = None, "none"
    if cfg.synthetic_fraction > 0:
        try:
            synthetic = SyntheticScenes(rng, view)
            synth_note = "livehdr.scenes (procedural game-like renders)"
        except ImportError:
            say("livehdr.scenes is not available: training on real HDR only")
    sampler = Sampler(train_images, view, rng, synthetic, cfg.synthetic_fraction)
    val_cases = synthesis.make_grid_cases(val_images, cfg.val_cases, 256, 192, seed=1234) if val_images else []

    model = create_model(cfg.arch, **model_config(cfg, global_stage))
    if global_stage is not None:  # frozen: the CLUT keeps what it learned, the U-Net learns the rest
        model.global_stage.load_state_dict(global_stage.state_dict())
        model.global_stage.requires_grad_(False)
    if cfg.init is not None:
        from livehdr.models.weights import load_model

        start = load_model(cfg.init, expect_arch=cfg.arch)
        if start.config != model.config:
            raise UserError(f"--init {cfg.init}: its config differs from this run's ({start.config} against "
                            f"{model.config}); pass the same --width/--attention")
        model.load_state_dict(start.state_dict())
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    counters = {"epoch": 0, "step": 0, "best_score": -math.inf, "history": [], "seconds": 0.0}
    if cfg.resume:
        if not os.path.isfile(ckpt_path):
            raise UserError(f"--resume: no checkpoint at {ckpt_path}")
        counters.update(load_checkpoint(ckpt_path, model, opt))
        say(f"resumed from {ckpt_path} at epoch {counters['epoch']}, step {counters['step']}")
        rng = np.random.default_rng(cfg.seed + 1000 * counters["epoch"])
        sampler.rng = rng

    total = cfg.epochs * cfg.steps_per_epoch
    result = {}
    for epoch in range(counters["epoch"], cfg.epochs):
        model.train()
        t0 = time.time()
        bar = tqdm(range(cfg.steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=cfg.quiet,
                   mininterval=5.0, file=sys.stderr)
        running = []
        for _ in bar:
            for g in opt.param_groups:
                g["lr"] = lr_at(counters["step"], total, cfg.lr, cfg.warmup)
            sdr, target = sampler.batch(cfg.batch)
            half = 0
            if cfg.pair_weight > 0 and counters["step"] % cfg.pair_every == 0:
                sdr, target, half = sampler.with_noisy_twins(sdr, target)
            if hasattr(model, "forward_with_regularisation"):  # clut: LUT smoothness + monotonicity
                pred, reg = model.forward_with_regularisation(sdr)
                loss, parts = itm_loss(pred, target, sdr)
                loss = loss + reg
            elif global_stage is not None:
                with torch.no_grad():  # the LUT from the whole view, as from the whole frame at run time
                    base = model.global_stage(sdr)
                sdr, target, base = random_crops(cfg.crop, rng, sdr, target, base, twins=half)
                pred = model(sdr, base=base)
                loss, parts = itm_loss(pred, target, sdr)
            else:
                pred = model(sdr)
                loss, parts = itm_loss(pred, target, sdr)
            if half:
                loss = loss + cfg.pair_weight * pumping_loss(pred[:half], pred[half:], sdr[:half], sdr[half:])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            counters["step"] += 1
            running.append(float(loss.detach()))
            bar.set_postfix(loss=f"{np.mean(running[-50:]):.4f}", lr=f"{opt.param_groups[0]['lr']:.1e}", refresh=False)
        counters["epoch"] = epoch + 1
        counters["seconds"] += time.time() - t0
        entry = {"epoch": epoch + 1, "step": counters["step"], "train_loss": float(np.mean(running))}
        if val_cases:
            metrics = evaluate_cases(model, val_cases)
            score = selection_score(metrics)
            entry.update(val_pu21_psnr=metrics["model"]["pu21_psnr"], naive_pu21_psnr=metrics["naive"]["pu21_psnr"],
                         val_highlight=metrics["model"]["highlight_log10_error"],
                         naive_highlight=metrics["naive"]["highlight_log10_error"],
                         worst_scene_delta=metrics["delta"]["worst_scene"],
                         worst_case_delta=metrics["delta"]["worst_case"], score=score)
            better = score > counters.get("best_score", -math.inf)
        else:
            metrics, better = None, True
        counters["history"].append(entry)
        say(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items()))
        if better:
            counters["best_score"] = entry.get("score", -math.inf)
            counters["best_epoch"] = epoch + 1
            save_model(weights_path, model, cfg.arch)
            card = _card(cfg, model, parameter_count(model), train_images, val_images, synth_note, counters, metrics,
                         splits)
            write_card(card_file, card)
            result = card
        save_checkpoint(ckpt_path, model, opt, cfg.arch, counters)
    return result


def _global_stage(cfg: TrainConfig):
    """The trained CLUT named by ``--global-stage``, or None."""
    if cfg.global_stage is None:
        return None
    if cfg.arch != "mqnet":
        raise UserError("--global-stage is for --arch mqnet (a CLUT before the U-Net)")
    from livehdr.models.weights import load_model

    return load_model(cfg.global_stage, expect_arch="clut")


def _weights_note(path: str, **more) -> dict:
    """What a card records of weights a run started from: the file, its sha256 and its card's date."""
    from livehdr.models.weights import card_path, file_sha256, read_card

    card = read_card(card_path(path)) or {}
    return {"weights": os.path.basename(path), "sha256": file_sha256(path), "card_date": card.get("date"), **more}


def _init_note(path: str) -> dict:
    from livehdr.models.weights import card_path, read_card

    return _weights_note(path, card_recipe=(read_card(card_path(path)) or {}).get("recipe"))


def _global_stage_note(cfg: TrainConfig) -> dict:
    return _weights_note(cfg.global_stage, frozen=True,
                         context=f"the CLUT sees a {max(cfg.crop, cfg.context)}-pixel view; the U-Net trains on a "
                         f"random {cfg.crop}-pixel crop of it")


def model_config(cfg: TrainConfig, global_stage=None) -> dict:
    """The architecture's settings from the trainer's options."""
    if cfg.arch == "mqnet":
        extra = {} if global_stage is None else {"global_stage": dict(global_stage.config)}
        return {"width": cfg.width, "attention": cfg.attention, **extra}
    if cfg.arch == "clut":
        # the compressed ranks (CLUT-Net's S and W) cannot exceed what the grid holds
        return {"lut_size": cfg.lut_size, "bases": cfg.bases, "s_rank": min(12, cfg.lut_size),
                "w_rank": min(24, cfg.lut_size ** 2)}
    raise UserError(f"--arch {cfg.arch!r}: the trainer knows mqnet and clut")


def _output_note(model) -> str:
    c = model.config
    if "lut_size" in c:  # clut
        return (f"a {c['lut_size']}^3 3D LUT per frame, mixed from {c['bases']} compressed bases by a thumbnail "
                "CNN; entry for code values c: 2^g (Y + (1 + s)(L - Y)), L = eotf_sRGB(c), "
                f"g = {c['max_log2_gain']:g} tanh(f0), s = {c['max_chroma']:g} tanh(f1), then fitted under the "
                "top and made monotonic in luminance; trilinear between entries")
    if c.get("output") == "luma_chroma":
        return ("out = 2^g (Y + (1 + s)(L - Y)), L = eotf_sRGB(I), Y = BT.709 luminance of L, "
                f"g = {model.max_log2_gain:g} tanh(h0) (luminance gain), s = {c['max_chroma']:g} tanh(h1)")
    return "out = eotf_sRGB(I) * 2^(3 tanh(head))"


def _card(cfg, model, n_params, train_images, val_images, synth_note, counters, metrics, splits) -> dict:
    val = {}
    beats = False
    if metrics:
        m, n = metrics["model"], metrics["naive"]
        # Validation picks the epoch; only `python -m livehdr.evaluate --write-card` on the held-out split
        # may set beats_naive for the runtime, so a fresh training run never claims it.
        val = {"views_per_scene": cfg.val_cases, "cases": "scene x view x 5 recipes x 3 exposures",
               "size": "256x192", "model": m, "naive": n, "delta_vs_naive": metrics["delta"]}
    return {
        "name": os.path.basename(cfg.out),
        "architecture": cfg.arch,
        "config": model.config,
        "parameters": n_params,
        "date": datetime.date.today().isoformat(),
        "output": "linear BT.709 relative to paper white (203 cd/m2), 0 .. 1000/203; " + _output_note(model),
        "data": {
            "train": [im.name for im in train_images],
            "validation": [im.name for im in val_images],
            "held_out": list(splits.held_out),
            "split_file": os.path.relpath(splits.path) if splits.path else None,
            "synthetic": synth_note,
            "synthetic_fraction": cfg.synthetic_fraction if synth_note != "none" else 0.0,
            "sdr_synthesis": {"recipes": synthesis.RECIPE_WEIGHTS,
                              "exposure": f"key 0.18, {synthesis.STOPS_RANGE[0]:+g} .. "
                                          f"{synthesis.STOPS_RANGE[1]:+g} stops",
                              "noise": "30 %: Gaussian sigma <= 0.01", "jpeg": "25 %: quality 60-95",
                              "quantization": "8 bit"},
        },
        "recipe": {
            "epochs": counters["epoch"], "steps": counters["step"], "batch": cfg.batch, "crop": cfg.crop,
            "optimizer": "Adam", "lr": cfg.lr, "schedule": f"warm-up {cfg.warmup} steps, cosine to 1 %",
            "loss": "L1 in PU21 (nits, /256) + 0.5 x highlight-weighted L1 on log2 light "
                    "+ 0.5 x over-expansion (relu of log2 excess) on unclipped pixels "
                    "+ 0.1 x per-image PU21-PSNR loss in dB (10 log10(1 + MSE / 0.1))"
                    + (" + LUT regularisers: 1e-3 x smoothness (squared field steps per unit code) "
                       "+ 10 x monotonicity (luminance drops between nodes, stops)" if cfg.arch == "clut" else "")
                    + (f" + {cfg.pair_weight:g} x temporal pair loss on every {cfg.pair_every}. step (half the batch "
                       "replaced by twins with fresh +-1 code-value noise; relative frame-mean change above "
                       f"{PUMPING_ALLOWANCE:g} x naive's, in percent)" if cfg.pair_weight > 0 else ""),
            **({"global_stage": _global_stage_note(cfg)} if cfg.global_stage else {}),
            **({"init": _init_note(cfg.init)} if cfg.init else {}),
            "epoch_selection": "validation scenes: mean PU21 gain over naive, penalised below -0.5 dB per scene "
                               "and -1 dB per exposure x curve",
            "best_epoch": counters.get("best_epoch"),
            "train_seconds": round(counters["seconds"], 1), "hardware": "CPU",
        },
        "metrics": {"validation": val, "beats_naive": beats,
                    "beats_naive_rule": ">= 1 dB PU21-PSNR over naive and a lower highlight error, held-out data"},
        "history": counters["history"],
    }
