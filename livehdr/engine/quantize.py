"""int8 on the CPU: torch.ao FX post-training static quantization (x86 / fbgemm engine).

Today the whole MQNet gain network is quantized (weights and activations); padding, linearisation and the
gain itself stay in float. Calibration frames come from the project's own synthetic scenes (no data files).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from livehdr import color
from livehdr.models.mqnet import ALIGN, MQNet, apply_maps

class _GainGraph(nn.Module):
    """The traceable part of MQNet (padded code values -> log2 gain map)."""

    def __init__(self, model: MQNet):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.log2_gain(x)


class MQNetInt8(nn.Module):
    """MQNet with an int8 gain network; padding, linearisation and the gain stay in float."""

    def __init__(self, quantized_gain: nn.Module, config: dict):
        super().__init__()
        self.gain = quantized_gain
        self.config = dict(config)
        self.max_relative = float(config["max_relative"])
        self.output = config.get("output", "rgb")

    def forward(self, code, max_relative: float | None = None):
        n, c, h, w = code.shape
        ph, pw = (-h) % ALIGN, (-w) % ALIGN
        padded = F.pad(code, (0, pw, 0, ph), mode="replicate") if ph or pw else code
        maps = self.gain(padded.contiguous())[..., :h, :w].float()
        top = self.max_relative if max_relative is None else max_relative
        return apply_maps(code, maps, self.output, top)


def quantize_int8(model: MQNet, calibration) -> MQNetInt8:
    """Post-training static int8 quantization of the whole gain network (weights and activations).

    ``calibration``: an iterable of N x 3 x H x W sRGB code-value tensors (H, W multiples of 32), used to
    set the activation ranges. On the held-out courtyard cases this cost 0.14 dB PU21-PSNR (docs/MODEL.md).
    """
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "x86" if "x86" in torch.backends.quantized.supported_engines else "fbgemm"
    graph = _GainGraph(model.float().eval().to(memory_format=torch.contiguous_format)).eval()
    frames = list(calibration)
    if not frames:
        raise ValueError("int8 quantization needs at least one calibration frame")
    with warnings.catch_warnings():  # torch.ao announces its own deprecation on every call
        warnings.simplefilter("ignore")
        prepared = prepare_fx(graph, get_default_qconfig_mapping(torch.backends.quantized.engine), (frames[0],))
        with torch.inference_mode():
            for x in frames:
                prepared(x)
        quantized = convert_fx(prepared)
    return MQNetInt8(quantized, model.config).eval()


def calibration_frames(count: int = 6, width: int = 256, height: int = 192, seed: int = 0):
    """SDR frames for int8 calibration: synthetic scenes, exposed to a middle-grey key and tone-mapped
    through the game curves in turn, then quantized to 8 bits (as a game's swap chain would)."""
    from livehdr.color.tonecurves import quantize_8bit, sdr_from_hdr
    from livehdr.scenes import random_scene_params, render_scene

    rng = np.random.default_rng(seed)
    curves = ("clip", "aces", "reinhard", "hable")
    for i in range(count):
        hdr = np.clip(np.nan_to_num(np.asarray(render_scene(random_scene_params(rng), width, height, float(i)),
                                               np.float32)), 0, None)
        log_mean = float(np.exp(np.mean(np.log(color.luminance_BT709(hdr) + 1e-4))))
        code = quantize_8bit(sdr_from_hdr(hdr, 0.18 / max(log_mean, 1e-6), curves[i % len(curves)]))
        yield torch.from_numpy(code.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
