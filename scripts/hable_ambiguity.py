"""How much of the mean PU21 gap is one global brightness decision, and can frame statistics make it (issue #10).

    .venv/bin/python scripts/hable_ambiguity.py      (about 3 minutes on 2 cores)

On the validation scenes (models/splits.json; the held-out scenes are never read), per SDR recipe:
- naive: the plain sRGB decode;
- oracle: naive times the best single gain for that case (-2 .. +3 stops), i.e. a perfect global decision;
- pred: naive times the gain an MLP predicts from frame statistics (64-bin histogram of the brightest
  channel, linear and log, a 32-bin luminance histogram, the shares of pixels at 255, 250-254 and 240-249,
  the means), trained on 2500 views of the training scenes with the training recipe mix.
Measured 2026-12-02: Hable naive 18.84, oracle 34.55, pred 23.76 dB; clip naive 36.43, oracle 36.93,
pred 30.68 dB. A Hable frame at its key looks like a clip frame 1.4 stops darker, so statistics that lift
Hable also lift dark clip frames (worst case -32 dB).
"""
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from livehdr import color  # noqa: E402
from livehdr.metrics import pu21_psnr  # noqa: E402
from livehdr.train import synthesis  # noqa: E402
from livehdr.train.data import load_images, random_view, read_splits  # noqa: E402

DATA = [os.path.join(ROOT, "..", "shared", "data", d) for d in ("hdri", "hdri-extra")]
TOP = color.PEAK_DEFAULT / color.PAPER_WHITE_BT2408
GAINS = np.linspace(-2.0, 3.0, 26)  # stops
BT709 = np.array(color.WEIGHTS_BT709, np.float32)


def features(code: np.ndarray) -> np.ndarray:
    m = code.max(axis=-1).ravel()
    Y = (code @ BT709).ravel()
    h1 = np.histogram(m, 64, (0, 1))[0] / m.size
    h2 = np.histogram(Y, 32, (0, 1))[0] / m.size
    at = [(m >= 254.5 / 255).mean(), ((m >= 249.5 / 255) & (m < 254.5 / 255)).mean(),
          ((m >= 239.5 / 255) & (m < 249.5 / 255)).mean()]
    return np.concatenate([h1, np.log10(h1 + 1e-5) / 5 + 1, h2, np.log10(np.array(at) + 1e-5), [m.mean(), Y.mean()]])


def psnr_at(linear: np.ndarray, target: np.ndarray, stops: float) -> float:
    return pu21_psnr(np.clip(linear * 2.0 ** stops, 0, TOP) * 203, target * 203)


def best_gain(code: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    linear = color.eotf_sRGB(code).astype(np.float32)
    scores = [psnr_at(linear, target, g) for g in GAINS]
    return float(GAINS[int(np.argmax(scores))]), float(max(scores))


def main() -> int:
    torch.set_num_threads(2)
    splits = read_splits(None)
    train = load_images(DATA, exclude=set(splits.held_out) | set(splits.validation))
    val = load_images(DATA, only=set(splits.validation))
    rng = np.random.default_rng(0)
    names = list(synthesis.RECIPE_WEIGHTS)
    p = np.array([synthesis.RECIPE_WEIGHTS[n] for n in names])
    X, y = [], []
    t0 = time.time()
    for _ in range(2500):
        hdr = random_view(train[int(rng.integers(len(train)))], 192, rng)
        name = names[int(rng.choice(len(names), p=p / p.sum()))]
        recipe = synthesis.SdrRecipe(name, synthesis.key_exposure(hdr, float(rng.uniform(-1.5, 1.5)))
                                     * synthesis.EXPOSURE_BIAS[name])
        code = synthesis.synthesize_sdr(hdr, recipe)
        X.append(features(code))
        y.append(best_gain(code, synthesis.target_from_hdr(hdr, recipe.exposure))[0])
    print(f"2500 training views in {time.time() - t0:.0f} s", file=sys.stderr)
    X, y = torch.tensor(np.array(X), dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                              torch.nn.ReLU(), torch.nn.Linear(64, 1))
    opt = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-4)
    for _ in range(3000):
        idx = torch.randint(0, len(X), (128,))
        loss = (net(X[idx])[:, 0] - y[idx]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    cases = synthesis.make_grid_cases(val, 2, 256, 192, seed=1234)
    with torch.no_grad():
        predicted = net(torch.tensor(np.array([features(c["sdr"]) for c in cases]), dtype=torch.float32))[:, 0]
    rows = {}
    for c, g in zip(cases, predicted.numpy()):
        linear = color.eotf_sRGB(c["sdr"]).astype(np.float32)
        g_best, oracle = best_gain(c["sdr"], c["target"])
        rows.setdefault(c["recipe"], []).append((psnr_at(linear, c["target"], 0.0), psnr_at(linear, c["target"], g),
                                                 oracle, g, g_best))
    print("recipe     naive   pred  oracle  (dB)   predicted / best gain (stops)")
    for name, v in rows.items():
        v = np.array(v).mean(axis=0)
        print(f"{name:9s} {v[0]:6.2f} {v[1]:6.2f} {v[2]:6.2f}        {v[3]:+.2f} / {v[4]:+.2f}")
    every = np.concatenate([np.array(v) for v in rows.values()])
    print(f"all       {every[:, 0].mean():6.2f} {every[:, 1].mean():6.2f} {every[:, 2].mean():6.2f}   "
          f"worst case pred - naive {np.min(every[:, 1] - every[:, 0]):+.1f} dB")
    return 0


if __name__ == "__main__":
    from livehdr.base.errors import UserError

    try:
        sys.exit(main())
    except UserError as e:  # no data folder, an unreadable scene: one line
        sys.exit(f"hable_ambiguity.py: error: {e}")
