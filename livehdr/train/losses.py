"""The training loss (documented in docs/MODEL.md).

    loss = mean |PU21(203 o) - PU21(203 t)| / 256  +  lambda_h * mean( w * |log2(o + eps) - log2(t + eps)| )
           + lambda_o * over-expansion  +  lambda_p * mean_i 10 log10(1 + MSE_PU21,i / floor)

- The first term is L1 in PU21 units on absolute nits (paper white 203 cd/m2), per channel: the same
  perceptual space the evaluation's PU21-PSNR uses, scaled so that 0..100 cd/m2 spans about 1.
- The second term is L1 on log2 light, weighted towards highlights: w = 1 + 4 s, where s ramps from 0 to 1
  as the brightest input channel goes from code 0.8 to 1.0 (the tone curves' shoulder and the clipped
  pixels). It gives clipped regions, which are few pixels but the whole point of ITM, their own gradient.
- The third term (issue #10, "no scene made worse") penalises only *over*-expansion where the input was not
  clipped: lambda_o * mean( (1 - c) * relu(log2(o + eps) - log2(t + eps)) ), c = 1 on pixels with a channel
  at the top code value. A glowing sky or lit fog below the clip point is not a light source, and a dark
  exposure through a plain clip must not be brightened; being too dark there is already paid for by the
  other terms, being too bright is paid twice.
- The fourth term is the evaluation's own per-image PU21-PSNR (in dB, negated, averaged over the batch). A
  mean of per-image dB values weighs an image by 1/MSE: a case that naive already gets almost exactly (a
  dark exposure through a plain clip: only 8-bit rounding is lost) loses tens of dB for a 1 % change in
  brightness, which the L1 terms hardly see. ``floor`` caps the reward at ~65 dB, about 8-bit rounding.
"""
from __future__ import annotations

import torch

from livehdr import color
from livehdr.metrics import pu21_encode

PU21_SCALE = 256.0  # PU21(100 cd/m2) ~ 256
LOG_EPS = 1e-3  # relative units: 0.2 cd/m2, below it log errors are not worth chasing
HIGHLIGHT_WEIGHT = 4.0
CLIP_CODE = 254.5 / 255  # the evaluation's clipped_mask threshold
MSE_FLOOR = 0.1  # PU21 units^2: PSNR 65.5 dB with the 10000 cd/m2 peak


def highlight_weight(code: torch.Tensor) -> torch.Tensor:
    s = ((code.amax(dim=1, keepdim=True) - 0.8) / 0.2).clamp(0.0, 1.0)
    return 1.0 + HIGHLIGHT_WEIGHT * s * s * (3 - 2 * s)  # smoothstep


def itm_loss(pred: torch.Tensor, target: torch.Tensor, code: torch.Tensor, lambda_h: float = 0.5,
             paper_white: float = color.PAPER_WHITE_BT2408, lambda_o: float = 0.5,
             lambda_p: float = 0.1) -> tuple[torch.Tensor, dict]:
    """pred/target: N x 3 x H x W relative linear light; code: the SDR input. Returns (loss, parts)."""
    diff = pu21_encode(pred * paper_white) - pu21_encode(target * paper_white)
    pu = diff.abs().mean() / PU21_SCALE
    # 10 log10(MSE + floor) - 10 log10(floor): the PSNR loss against the cap, 0 at the target
    mse_db = 10.0 * torch.log10(1.0 + diff.square().flatten(1).mean(dim=1) / MSE_FLOOR).mean()
    signed = torch.log2(pred + LOG_EPS) - torch.log2(target + LOG_EPS)
    hl = (highlight_weight(code) * signed.abs()).mean()
    clipped = (code.amax(dim=1, keepdim=True) >= CLIP_CODE).to(pred.dtype)
    over = ((1.0 - clipped) * torch.relu(signed)).mean()
    loss = pu + lambda_h * hl + lambda_o * over + lambda_p * mse_db
    return loss, {"pu21_l1": float(pu.detach()), "log2_hl": float(hl.detach()), "over": float(over.detach()),
                  "mse_db": float(mse_db.detach())}


PUMPING_ALLOWANCE = 1.5  # issue #10: at most 2x naive's frame-mean change; train for a margin below it


def pumping_loss(pred_a: torch.Tensor, pred_b: torch.Tensor, code_a: torch.Tensor, code_b: torch.Tensor,
                 allowance: float = PUMPING_ALLOWANCE) -> torch.Tensor:
    """Twins a and b are the same frame with different +-1 code-value noise. The relative change of the mean
    luminance between them (what livehdr.metrics.frame_mean_pumping averages over a clip) is penalised where
    it exceeds ``allowance`` times naive's change on the same pair, in percent."""
    w = torch.tensor(color.WEIGHTS_BT709, dtype=pred_a.dtype, device=pred_a.device).view(1, 3, 1, 1)

    def relative_change(a, b):
        ya, yb = (a * w).sum(dim=1).flatten(1).mean(dim=1), (b * w).sum(dim=1).flatten(1).mean(dim=1)
        return (ya - yb).abs() / (0.5 * (ya + yb) + 1e-4)

    naive = relative_change(color.eotf_sRGB(code_a), color.eotf_sRGB(code_b)).detach()
    return 100.0 * torch.relu(relative_change(pred_a, pred_b) - allowance * naive).mean()
