"""MQNet: a MobileNetV2 U-Net for inverse tone mapping (Le et al., BMVC 2021), with a fixed output.

Structure as published:
- encoder: MobileNetV2 (Sandler et al. 2018, Table 2) inverted-residual linear-bottleneck (IRLB) blocks
  down to 1/32, with a width multiplier (0.35 in the public code);
- decoder: per level, nearest-neighbour x2 upsampling, concatenation with the encoder skip, an IRLB, an
  attention block ('ca' | 'sa' | 'csa' | 'none'), a second IRLB;
- head: conv3x3 -> ReLU -> conv1x1 -> ReLU -> conv1x1, residual on the input.

The fix (docs/MODEL.md): the published output sigma(I + tanh(head)) only spans about 0.27-0.88, so it
cannot express our contract (linear BT.709 relative to paper white, 0 .. peak / paper_white).  Here the
head predicts two maps, a bounded log2 *luminance* gain g = G tanh(h0) and a bounded chroma term
s = S tanh(h1), applied to the sRGB-decoded input L (luminance Y = BT.709 weights . L):
    out = 2^g * (Y + (1 + s) (L - Y)),  clamped to [0, headroom]          (output = "luma_chroma")
- the gain is the same for R, G and B, and the chroma term scales the input's own chroma L - Y, so an
  achromatic input (R = G = B) comes out achromatic by construction: grey in, grey out, at any weights;
- g = s = 0 is the identity ("naive"), so an untrained head is exactly the naive operator;
- the head has no normalisation and the default attention ('csa') has no global average: nothing in the
  network renormalises per frame, so a static scene with sensor noise does not pump (docs/MODEL.md).
Global stage (optional, config ``global_stage``): a CLUT (models/clut.py) maps the whole frame first through
its own image-adaptive 3D LUT, and the U-Net then refines that light locally, with the same two maps:
    B = CLUT(I),  out = 2^g * (Y_B + (1 + s) (B - Y_B))
This is the global-then-local split of HDRTVNet (Chen et al., ICCV 2021: global colour mapping, then local
enhancement and highlight generation). A LUT sees the whole frame through its thumbnail and inverts the tone
curve (a game's Hable or ACES), which a U-Net trained on small crops cannot see; the U-Net sees shapes (a lamp,
a window, the sun) that a LUT cannot. The U-Net also reads log2 Y_B as a fourth input channel, so it knows
what the LUT already did. Grey in stays grey: the LUT's grey nodes are grey and the maps keep grey grey.
With a zero head the composite is exactly the CLUT.
The first release predicted a per-channel gain (out = L * 2^g, 3 maps) behind an InstanceNorm head and 'ca'
attention; configs without an ``output`` key are that layout (output = "rgb", head_norm = "instance") and
still load.
"""
from __future__ import annotations


import torch
from torch import nn
import torch.nn.functional as F

from livehdr import color
from livehdr.color.levels import PAPER_WHITE_BT2408, PEAK_DEFAULT
from livehdr.models.clut import CLUT
from livehdr.models.registry import register_model

ATTENTIONS = ("ca", "sa", "csa", "none")
OUTPUTS = ("luma_chroma", "rgb")
HEAD_NORMS = ("none", "instance")
LEGACY_KEYS = frozenset(("width", "attention", "head_channels", "max_log2_gain", "max_relative"))
# MobileNetV2 Table 2: (expansion t, channels c, repeats n, stride s), after the 32-channel stem.
MOBILENETV2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                        (6, 160, 3, 2), (6, 320, 1, 1))
ALIGN = 32  # the encoder reaches 1/32


def make_divisible(v: float, divisor: int = 8) -> int:
    """MobileNetV2's channel rounding: nearest multiple of ``divisor``, never more than 10 % below ``v``."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new < 0.9 * v:
        new += divisor
    return new


class IRLB(nn.Module):
    """Inverted residual with linear bottleneck (MobileNetV2 section 3.3): expand 1x1, depthwise 3x3,
    project 1x1 without activation; identity shortcut when shape is kept."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, expand: int = 6):
        super().__init__()
        hidden = c_in * expand
        layers = []
        if expand != 1:
            layers += [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class ChannelAttention(nn.Module):
    """CA: squeeze (global average) and excite (1x1 -> ReLU -> 1x1 -> sigmoid), multiplied back."""

    def __init__(self, c: int, reduction: int = 4):
        super().__init__()
        mid = max(4, c // reduction)
        self.fc = nn.Sequential(nn.Conv2d(c, mid, 1), nn.ReLU(inplace=True), nn.Conv2d(mid, c, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.fc(F.adaptive_avg_pool2d(x, 1))


class SpatialAttention(nn.Module):
    """SA: a 1x1 conv to one channel, sigmoid, multiplied back (one weight per pixel)."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, 1, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.conv(x))


class ChannelSpatialAttention(nn.Module):
    """CSA: the SA logit plus a depthwise 3x3 branch (one logit per channel and pixel), one sigmoid gate."""

    def __init__(self, c: int):
        super().__init__()
        self.spatial = nn.Conv2d(c, 1, 1)
        self.depthwise = nn.Conv2d(c, c, 3, padding=1, groups=c)

    def forward(self, x):
        return x * torch.sigmoid(self.spatial(x) + self.depthwise(x))


def make_attention(kind: str, c: int) -> nn.Module:
    if kind == "ca":
        return ChannelAttention(c)
    if kind == "sa":
        return SpatialAttention(c)
    if kind == "csa":
        return ChannelSpatialAttention(c)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown attention {kind!r}; choose one of {', '.join(ATTENTIONS)}")


class DecoderLevel(nn.Module):
    """Upsample x2 (nearest), concatenate the skip, IRLB, attention, IRLB."""

    def __init__(self, c_in: int, c_skip: int, c_out: int, attention: str):
        super().__init__()
        self.first = IRLB(c_in + c_skip, c_out, expand=2)
        self.attention = make_attention(attention, c_out)
        self.second = IRLB(c_out, c_out, expand=2)

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        return self.second(self.attention(self.first(torch.cat([x, skip], dim=1))))


class MQNet(nn.Module):
    """See the module docstring. Input: sRGB code values N x 3 x H x W in [0, 1], any H and W.
    Output: linear BT.709 relative to paper white, in [0, max_relative]."""

    def __init__(self, width: float = 0.35, attention: str = "csa", head_channels: int = 16,
                 max_log2_gain: float = 3.0, max_relative: float = PEAK_DEFAULT / PAPER_WHITE_BT2408,
                 output: str = "luma_chroma", head_norm: str = "none", max_chroma: float = 0.5,
                 global_stage: dict | None = None):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"unknown attention {attention!r}; choose one of {', '.join(ATTENTIONS)}")
        if output not in OUTPUTS:
            raise ValueError(f"unknown output {output!r}; choose one of {', '.join(OUTPUTS)}")
        if head_norm not in HEAD_NORMS:
            raise ValueError(f"unknown head_norm {head_norm!r}; choose one of {', '.join(HEAD_NORMS)}")
        if not (0.05 <= width <= 2.0):
            raise ValueError(f"width {width} is outside 0.05 .. 2")
        if not (0.0 <= max_chroma < 1.0):
            raise ValueError(f"max_chroma {max_chroma} is outside 0 .. 1")
        if global_stage is not None and output != "luma_chroma":
            raise ValueError("a global stage needs output 'luma_chroma'")
        self.config = dict(width=float(width), attention=attention, head_channels=int(head_channels),
                           max_log2_gain=float(max_log2_gain), max_relative=float(max_relative), output=output,
                           head_norm=head_norm, max_chroma=float(max_chroma))
        # A CLUT first (module docstring); its LUT is fitted under the same top as the composite.
        self.global_stage = None
        if global_stage is not None:
            self.global_stage = CLUT(**dict(global_stage, max_relative=float(max_relative)))
            self.config["global_stage"] = dict(self.global_stage.config)
        in_channels = 3 if self.global_stage is None else 4
        self.max_log2_gain = float(max_log2_gain)
        self.max_relative = float(max_relative)
        self.max_chroma = float(max_chroma)
        self.output = output

        stem = make_divisible(32 * width)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem),
                                  nn.ReLU6(inplace=True))
        # Encoder stages grouped by output resolution so that each group's output is a skip.
        stages: dict[int, list[nn.Module]] = {}
        stage_channels: dict[int, int] = {}
        c, scale = stem, 2
        for t, ch, n, s in MOBILENETV2_SETTINGS:
            c_out = make_divisible(ch * width)
            for i in range(n):
                stride = s if i == 0 else 1
                scale *= stride
                stages.setdefault(scale, []).append(IRLB(c, c_out, stride, t))
                c = c_out
            stage_channels[scale] = c
        self.scales = sorted(stages)  # [2, 4, 8, 16, 32]
        self.encoder = nn.ModuleList(nn.Sequential(*stages[s]) for s in self.scales)
        self.skip_channels = [stage_channels[s] for s in self.scales]

        # Decoder: from 1/32 up to full resolution; the full-resolution skip is the input itself.
        dec_channels = self.skip_channels[:-1][::-1] + [head_channels]  # 1/16 .. 1/2, then full res
        skips = self.skip_channels[:-1][::-1] + [in_channels]
        levels, c = [], self.skip_channels[-1]
        for c_skip, c_out in zip(skips, dec_channels):
            levels.append(DecoderLevel(c, c_skip, c_out, attention))
            c = c_out
        self.decoder = nn.ModuleList(levels)

        h = head_channels
        norm = (lambda: nn.InstanceNorm2d(h, affine=True)) if head_norm == "instance" else nn.Identity
        self.head = nn.Sequential(
            nn.Conv2d(c, h, 3, padding=1), norm(), nn.ReLU(inplace=True),
            nn.Conv2d(h, h, 1), norm(), nn.ReLU(inplace=True),
            nn.Conv2d(h, 3 if output == "rgb" else 2, 1),
        )
        # Start at the identity (g = s = 0, i.e. the naive operator) so training only learns the expansion.
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def log2_gain(self, code):
        """The bounded head maps for sRGB code values (already padded to 32): output "luma_chroma":
        [log2 luminance gain, chroma term] (2 channels); "rgb": per-channel log2 gains (3 channels)."""
        skips = [code]
        x = self.stem(code)
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        x = skips.pop()  # 1/32 bottleneck
        for level in self.decoder:
            x = level(x, skips.pop())
        t = torch.tanh(self.head(x))
        if self.output == "rgb":
            return self.max_log2_gain * t
        return torch.cat([self.max_log2_gain * t[:, :1], self.max_chroma * t[:, 1:]], dim=1)

    def forward(self, code, max_relative: float | None = None, base=None):
        """``base``: the global stage's output for ``code`` when the caller already has it (training computes
        it on a larger view than the crop, as the whole frame is at run time)."""
        top = self.max_relative if max_relative is None else max_relative
        maps, base = self.head_maps(code, top, base)
        return finish(code, maps, base, self.output, top)

    def head_maps(self, code, top: float, base=None):
        """(the head maps for ``code``, the global stage's light or None): what ``finish`` applies. The
        operator smooths the maps over time in between (livehdr/operators/temporal.py)."""
        n, c, h, w = code.shape
        if c != 3:
            raise ValueError(f"MQNet expects N x 3 x H x W, got {tuple(code.shape)}")
        net_in, base = network_input(self.global_stage, code, top, base)
        return self.log2_gain(pad_to_align(net_in))[..., :h, :w], base


def network_input(global_stage, code, top: float, base=None):
    """(the U-Net's input, the light its maps apply to): the code values alone without a global stage
    (the maps apply to their sRGB decode), else code values + log2 luminance of the CLUT's light."""
    if global_stage is None:
        return code, None
    if base is None:
        base = global_stage(code, max_relative=top)
    return torch.cat([code, log_luminance_feature(base)], dim=1), base


def pad_to_align(x):
    """Pad H and W up to multiples of 32 (the encoder reaches 1/32). Replicate padding: reflect needs
    pad < size, which fails for frames smaller than 32 pixels."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % ALIGN, (-w) % ALIGN
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def finish(code, maps, base, output: str, top: float):
    """The head maps applied: to the sRGB decode of ``code``, or to the global stage's light ``base``."""
    if base is None:
        return apply_maps(code, maps, output, top)
    return expand_light(base, maps, top)


LOG_FEATURE_FLOOR = -8.0  # log2 relative light: 0.8 cd/m2 at 203 paper white; darker reads as black


def log_luminance_feature(light):
    """N x 1 x H x W: log2 of the luminance of relative light, mapped to about 0 .. 1 (-8 .. +2.3 stops)."""
    w = torch.tensor(color.WEIGHTS_BT709, dtype=light.dtype, device=light.device).view(1, 3, 1, 1)
    Y = (light * w).sum(dim=1, keepdim=True)
    return (torch.log2(Y + 2.0 ** LOG_FEATURE_FLOOR) - LOG_FEATURE_FLOOR) / 10.0


def apply_maps(code, maps, output: str, top: float):
    """The output parameterisation (module docstring): sRGB code values + head maps -> relative linear light."""
    linear = color.eotf_sRGB(code.clamp(0.0, 1.0))
    maps = maps.to(linear.dtype)
    if output == "rgb":
        return (linear * torch.exp2(maps)).clamp(0.0, top)
    return expand_light(linear, maps, top)


def expand_light(linear, maps, top: float):
    """Output "luma_chroma": a log2 luminance gain and a chroma term (2 maps) applied to relative light."""
    maps = maps.to(linear.dtype)
    w = torch.tensor(color.WEIGHTS_BT709, dtype=linear.dtype, device=linear.device).view(1, 3, 1, 1)
    Y = (linear * w).sum(dim=1, keepdim=True)
    # R = G = B in: every channel computes the same expression of the same two numbers (L and Y), so the
    # output is R = G = B too, whatever the maps and however Y rounds.
    return (torch.exp2(maps[:, :1]) * (Y + (1.0 + maps[:, 1:2]) * (linear - Y))).clamp(0.0, top)


@register_model
def mqnet(**kw) -> MQNet:
    """Registry factory. A config with exactly the first release's keys (no ``output``) is that layout."""
    if "output" not in kw and LEGACY_KEYS <= set(kw):
        kw = dict(kw, output="rgb", head_norm="instance")
    return MQNet(**kw)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

