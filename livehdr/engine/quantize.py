"""int8 on the CPU: torch.ao FX static quantization (x86 / fbgemm engine) of MQNet.

Two ways in:
- ``calibrate_int8``: the shipped ``mqnet-int8`` is made with it once, offline (scripts/build_mqnet_int8.py):
  activation ranges from calibration crops, stored in the weights file, so loading sees no frame;
- ``quantize_int8``: any MQNet weights file run with ``--precision int8`` that has no shipped int8 twin is
  quantized whole at load, calibrated on a few synthetic scenes (slower start-up, dimmer highlights).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from livehdr import color
from livehdr.models.mqnet import ALIGN, MQNet, network_input, pad_to_align
from livehdr.models.mqnet_int8 import REDUCE_RANGE, Int8Network, MQNetInt8, effective_ranges, prepare


def histogram_observer(reduce_range: bool = REDUCE_RANGE):
    """Activation ranges from a histogram search (torch's default for x86)."""
    from torch.ao.quantization import HistogramObserver

    return HistogramObserver.with_args(dtype=torch.quint8, reduce_range=reduce_range)


def minmax_observer(reduce_range: bool = REDUCE_RANGE):
    """Activation ranges from the extremes seen: nothing clipped, coarser steps."""
    from torch.ao.quantization import MinMaxObserver

    return MinMaxObserver.with_args(dtype=torch.quint8, reduce_range=reduce_range)


def calibrate_int8(model: MQNet, frames, float_modules=("head",), observer=None,
                   reduce_range: bool = REDUCE_RANGE) -> MQNetInt8:
    """An ``MQNetInt8`` holding the activation ranges seen on ``frames`` (N x 3 x H x W sRGB code values,
    H and W multiples of 32). ``observer``: how a range is chosen (default: histogram search); it must use
    the same ``reduce_range``."""
    frames = list(frames)
    if not frames:
        raise ValueError("int8 calibration needs at least one frame")
    for x in frames:
        if x.shape[-1] % ALIGN or x.shape[-2] % ALIGN:
            raise ValueError(f"calibration frames must be multiples of {ALIGN}, got {tuple(x.shape)}")
    model = model.float().eval().to(memory_format=torch.contiguous_format)
    prepared = prepare(model, float_modules, observer or histogram_observer(reduce_range), reduce_range=reduce_range)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        for x in frames:  # with a global stage the U-Net's input has the CLUT's light as a fourth channel
            prepared(network_input(model.global_stage, x.float(), model.max_relative)[0].contiguous())
    ranges = effective_ranges(prepared)
    int8 = MQNetInt8(observers=ranges.shape[0], float_modules=tuple(float_modules), reduce_range=reduce_range,
                     **model.config)
    int8.net.load_state_dict(model.state_dict())
    int8.activation_ranges.copy_(ranges)
    return int8.eval()


# --------------------------------------------------------------------------------------------------------
# Whole-network int8, calibrated at load (any MQNet file, also the first release's layout)
# --------------------------------------------------------------------------------------------------------
class _GainGraph(nn.Module):
    """The traceable part of MQNet (padded code values -> log2 gain map)."""

    def __init__(self, model: MQNet):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.log2_gain(x)


class CalibratedAtLoadInt8(Int8Network):
    """MQNet with an int8 gain network; padding, linearisation, the global stage (a CLUT, when the model
    has one) and the gain stay in float (``Int8Network``'s forward and head_maps)."""

    def __init__(self, quantized_gain: nn.Module, config: dict, global_stage: nn.Module | None = None):
        super().__init__()
        self.gain = quantized_gain
        self.global_stage = global_stage
        self.config = dict(config)
        self.max_relative = float(config["max_relative"])
        self.output = config.get("output", "rgb")

    def gain_maps(self, padded):
        return self.gain(padded.contiguous())


def quantize_int8(model: MQNet, calibration) -> CalibratedAtLoadInt8:
    """Post-training static int8 quantization of the whole gain network (weights and activations).

    ``calibration``: an iterable of N x 3 x H x W sRGB code-value tensors (H, W multiples of 32)."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    from livehdr.models.mqnet_int8 import quantization_engine

    engine = quantization_engine()
    model = model.float().eval().to(memory_format=torch.contiguous_format)
    graph = _GainGraph(model).eval()
    with torch.inference_mode():  # what the U-Net sees: with a global stage, its light as a fourth channel
        frames = [pad_to_align(network_input(model.global_stage, x, model.max_relative)[0]) for x in calibration]
    if not frames:
        raise ValueError("int8 quantization needs at least one calibration frame")
    with warnings.catch_warnings():  # torch.ao announces its own deprecation on every call
        warnings.simplefilter("ignore")
        prepared = prepare_fx(graph, get_default_qconfig_mapping(engine), (frames[0],))
        with torch.inference_mode():
            for x in frames:
                prepared(x)
        quantized = convert_fx(prepared)
    return CalibratedAtLoadInt8(quantized, model.config, model.global_stage).eval()


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
