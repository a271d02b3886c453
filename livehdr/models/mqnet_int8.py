"""mqnet-int8: MQNet with an int8 backbone for the CPU, shipped already calibrated (no calibration at load).

MQNet's own recipe for speed (Le et al., BMVC 2021) is mixed precision: the backbone fully int8, the head
with int8 weights and float activations. Here:
- the backbone (encoder, decoder, and whatever ``float_modules`` does not name) is torch.ao FX static
  quantization for the x86 / fbgemm engine: per-channel symmetric int8 weights, per-tensor uint8
  activations (reduce_range, as fbgemm needs on CPUs without VNNI);
- the modules named in ``float_modules`` (the head by default; the shipped file also keeps the two
  highest-resolution decoder levels, docs/MODEL.md) run in float with their weights rounded to
  per-channel int8: the paper's int8 weights with float activations;
- padding, the tanh bounds and the output maps (``mqnet.apply_maps``) stay in float, so grey in, grey out
  holds exactly as in MQNet.

The weights file holds the float weights plus ``activation_ranges``: one (low, high) row per activation
observer of the prepared graph, found offline on calibration crops with suns, lamps and speculars
(``livehdr.engine.quantize``). Loading prepares the graph, writes those ranges into its observers and
converts it: no frame is seen at load. The graph is built on the first forward (``load_model``'s sanity
pass), after the weights are in.
"""
from __future__ import annotations

import copy
import warnings

import torch
from torch import nn
import torch.nn.functional as F

from livehdr.models.mqnet import MQNet, finish, network_input, pad_to_align
from livehdr.models.registry import register_model

# Modules that may stay in float (names inside MQNet): the full-resolution ones are the sensitive ones.
FLOAT_CHOICES = ("head", "decoder.4", "decoder.3", "decoder.2", "decoder.1", "decoder.0", "stem",
                 "encoder.0", "encoder.1", "encoder.2", "encoder.3", "encoder.4")
INT8_KEYS = ("observers", "float_modules", "reduce_range")  # the config beyond MQNet's own
SPLIT_LEVELS = (4,)  # decoder levels whose concatenation is split (SplitConcatLevel)
# uint8 activations in 0..127 (reduce_range) are exact on every x86 CPU: without VNNI, fbgemm adds pairs of
# u8 x s8 products in int16, which saturate for full-range activations. With VNNI (AVX-512 VNNI, AVX-VNNI)
# the full 0..255 is exact, and that one bit is what lets the full-resolution decoder level stay int8
# (docs/MODEL.md). Each file records which it was calibrated for (config ``reduce_range``).
REDUCE_RANGE = True


def relu6_to_relu(module: nn.Module, keep=()) -> set[str]:
    """Swap every ReLU6 for a ReLU, in place, so that FX fuses conv + BN + ReLU into one int8 kernel (a
    separate quantized ReLU6 was a third of the int8 frame). The 6 is kept by capping the range of those
    convs' outputs at 6 (``effective_ranges``): an int8 value saturates there. Modules under ``keep`` (the
    float ones) keep their ReLU6. Returns the names of the convs whose ReLU6 went."""
    names = set()
    for name, child in module.named_modules():
        if isinstance(child, nn.Sequential) and not any(name == k or name.startswith(k + ".") for k in keep):
            items = list(child.named_children())
            for i, (key, m) in enumerate(items):
                if isinstance(m, nn.ReLU6):
                    setattr(child, key, nn.ReLU(inplace=True))
                    conv = next((k for k, c in reversed(items[:i]) if isinstance(c, nn.Conv2d)), None)
                    if conv is not None:
                        names.add(f"{name}.{conv}" if name else conv)
    return names


def widen_spatial_gates(module: nn.Module) -> None:
    """CSA adds a 1-channel logit to a C-channel one; int8 broadcast adds take a slow path (a fifth of the
    int8 frame). The same 1x1 conv repeated to C outputs gives the same sum with no broadcast."""
    from livehdr.models.mqnet import ChannelSpatialAttention

    for m in module.modules():
        if isinstance(m, ChannelSpatialAttention) and m.spatial.out_channels == 1:
            c = m.spatial.in_channels
            wide = nn.Conv2d(c, c, 1).to(m.spatial.weight.dtype)
            with torch.no_grad():
                wide.weight.copy_(m.spatial.weight.expand(c, -1, -1, -1))
                wide.bias.copy_(m.spatial.bias.expand(c))
            m.spatial = wide


class SplitConcatLevel(nn.Module):
    """A decoder level whose concatenation never happens: the first 1x1 conv (with its BatchNorm folded in)
    is split into one conv over the upsampled features and one over the skip, and the two are added.

    Exact in float. In int8 each operand keeps its own scale: a quantized cat must share one, and at full
    resolution the skip is the input picture (0..1) beside features up to 6, so the picture was quantized
    to about 20 levels, which is what blotched the highlights."""

    def __init__(self, level, c_in: int):
        super().__init__()
        block = level.first.block
        conv, bn = block[0], block[1]
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        weight = conv.weight * scale.view(-1, 1, 1, 1)
        bias = bn.bias - bn.running_mean * scale
        hidden, c_total = weight.shape[:2]
        self.from_features = nn.Conv2d(c_in, hidden, 1)
        self.from_skip = nn.Conv2d(c_total - c_in, hidden, 1, bias=False)
        with torch.no_grad():
            self.from_features.weight.copy_(weight[:, :c_in])
            self.from_features.bias.copy_(bias)
            self.from_skip.weight.copy_(weight[:, c_in:])
        self.act = nn.ReLU6()
        self.rest = nn.Sequential(*list(block.children())[3:])
        self.attention, self.second = level.attention, level.second

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        h = self.act(self.from_features(x) + self.from_skip(skip))
        return self.second(self.attention(self.rest(h)))


class HeadLogits(nn.Module):
    """The traceable part of MQNet: padded code values -> the head's logits (before the tanh bounds).
    The attribute names are MQNet's, so module names ('head', 'decoder.4') mean the same in both."""

    def __init__(self, net: MQNet, float_modules=()):
        super().__init__()
        net = copy.deepcopy(net)  # relu6_to_relu edits it
        self.stem, self.encoder, self.decoder, self.head = net.stem, net.encoder, net.decoder, net.head
        for i in SPLIT_LEVELS:
            if f"decoder.{i}" not in float_modules:
                c_in = net.decoder[i - 1].second.block[-2].out_channels if i else net.skip_channels[-1]
                self.decoder[i] = SplitConcatLevel(self.decoder[i], c_in)
        self.relu6_convs = relu6_to_relu(self, keep=float_modules)
        widen_spatial_gates(self)

    def forward(self, code):
        skips = [code]
        x = self.stem(code)
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        x = skips.pop()
        for level in self.decoder:
            x = level(x, skips.pop())
        return self.head(x)


def quantization_engine() -> str:
    engines = torch.backends.quantized.supported_engines
    engine = "x86" if "x86" in engines else "fbgemm" if "fbgemm" in engines else None
    if engine is None:
        raise RuntimeError("this torch build has no x86/fbgemm quantized engine")
    torch.backends.quantized.engine = engine
    return engine


def qconfig_mapping(float_modules, activation_observer=None, reduce_range: bool = REDUCE_RANGE):
    """Per-channel int8 weights, per-tensor uint8 activations (min/max unless told), float_modules left out."""
    from torch.ao.quantization import MinMaxObserver, QConfig, QConfigMapping, default_per_channel_weight_observer

    observer = activation_observer or MinMaxObserver.with_args(dtype=torch.quint8, reduce_range=reduce_range)
    mapping = QConfigMapping().set_global(QConfig(activation=observer, weight=default_per_channel_weight_observer))
    for name in float_modules:
        mapping.set_module_name(name, None)
    return mapping


def cpu_lacks_vnni() -> bool:
    """True only when /proc/cpuinfo is readable and lists no VNNI flag (full-range int8 may then saturate)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "vnni" not in flags


def activation_observers(prepared: nn.Module) -> list:
    """The prepared graph's activation observers, in graph order (the order the ranges are stored in)."""
    from torch.ao.quantization.observer import ObserverBase

    return [m for _, m in prepared.named_modules() if isinstance(m, ObserverBase)]


def round_weights_to_int8(module: nn.Module) -> None:
    """Int8 weights with float activations: round each conv weight to per-output-channel symmetric int8."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                w = m.weight
                scale = w.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12) / 127.0
                w.copy_(torch.round(w / scale).clamp(-127, 127) * scale)


def prepare(net: MQNet, float_modules, activation_observer=None, example_size=(64, 64),
            reduce_range: bool = REDUCE_RANGE):
    """The FX graph with observers (for calibration offline, or to receive stored ranges at load)."""
    from torch.ao.quantization.quantize_fx import prepare_fx

    quantization_engine()
    example = torch.rand(1, net.stem[0].in_channels, *example_size)  # 4 with a global stage
    with warnings.catch_warnings():  # torch.ao announces its own deprecation on every call
        warnings.simplefilter("ignore")
        logits = HeadLogits(net, float_modules).eval()
        prepared = prepare_fx(logits, qconfig_mapping(float_modules, activation_observer, reduce_range), (example,))
    prepared.relu6_convs = logits.relu6_convs
    return prepared


def capped_observers(prepared: nn.Module) -> set[int]:
    """Indices (in ``activation_observers`` order) of the observers right after a conv that fed a ReLU6."""
    from torch.ao.quantization.observer import ObserverBase

    convs = prepared.relu6_convs if hasattr(prepared, "relu6_convs") else set()
    modules = dict(prepared.named_modules())
    order = {id(m): i for i, m in enumerate(activation_observers(prepared))}
    capped = set()
    for node in prepared.graph.nodes:
        if node.op == "call_module" and isinstance(modules.get(node.target), ObserverBase):
            src = node.args[0] if node.args else None
            if getattr(src, "op", None) == "call_module" and src.target in convs:
                capped.add(order[id(modules[node.target])])
    return capped


RELU6_TOP = 6.0


def effective_ranges(prepared: nn.Module) -> torch.Tensor:
    """(K, 2) low/high per observer that reproduce each observer's own scale and zero point under a plain
    min/max observer (so any calibration method, e.g. a histogram search, ships as two numbers); the
    outputs of former ReLU6 convs capped at 6."""
    rows = []
    capped = capped_observers(prepared)
    for i, obs in enumerate(activation_observers(prepared)):
        if i in capped:
            obs.max_val = torch.minimum(obs.max_val, torch.tensor(RELU6_TOP))
            if hasattr(obs, "histogram"):  # a histogram search would undo the cap: take the capped extremes
                rows.append((min(float(obs.min_val), 0.0), max(float(obs.max_val), 1e-6)))
                continue
        scale, zero = obs.calculate_qparams()
        scale, zero = float(scale.reshape(-1)[0]), int(zero.reshape(-1)[0])
        rows.append(((obs.quant_min - zero) * scale, (obs.quant_max - zero) * scale))
    return torch.tensor(rows, dtype=torch.float32)


class Int8Network(nn.Module):
    """What every int8 MQNet shares (the shipped twin below, and ``engine/quantize``'s network quantized at
    load): padding, the float global stage, the crop and ``finish``; a subclass gives ``global_stage`` and
    ``gain_maps`` (the int8 part: padded network input -> head maps)."""

    output = "luma_chroma"
    max_relative: float
    global_stage: nn.Module | None

    def gain_maps(self, padded):
        raise NotImplementedError

    def forward(self, code, max_relative: float | None = None):
        top = self.max_relative if max_relative is None else max_relative
        maps, base = self.head_maps(code, top)
        return finish(code, maps, base, self.output, top)

    def head_maps(self, code, top: float):
        """As ``MQNet.head_maps``: (maps, the global stage's light or None)."""
        h, w = code.shape[-2:]
        # the global stage (a CLUT, when the model has one) stays in float: it is a thumbnail CNN and a LUT
        net_in, base = network_input(self.global_stage, code, top)
        return self.gain_maps(pad_to_align(net_in.float()))[..., :h, :w].float(), base


class MQNetInt8(Int8Network):
    """See the module docstring. Input: sRGB code values N x 3 x H x W in [0, 1] on the CPU."""

    def __init__(self, observers: int = 1, float_modules=("head",), reduce_range: bool = REDUCE_RANGE,
                 **mqnet_config):
        super().__init__()
        self.net = MQNet(**mqnet_config)
        if self.net.output != "luma_chroma":
            raise ValueError("mqnet-int8 needs the luma_chroma output")
        unknown = sorted(set(float_modules) - set(FLOAT_CHOICES))
        if unknown:
            raise ValueError(f"float_modules: unknown module {unknown[0]!r}")
        self.float_modules = [m for m in FLOAT_CHOICES if m in set(float_modules)]
        self.reduce_range = bool(reduce_range)
        self.config = dict(self.net.config, observers=int(observers), float_modules=list(self.float_modules),
                           reduce_range=self.reduce_range)
        self.max_relative = self.net.max_relative
        self.register_buffer("activation_ranges", torch.zeros(int(observers), 2))
        self._forget_graph()
        self.register_load_state_dict_post_hook(lambda module, keys: module._forget_graph())

    def _forget_graph(self):
        # Kept outside the module tree (not a submodule): the converted graph is derived, never saved.
        self.__dict__["_graph"] = None

    def build(self) -> nn.Module:
        """Prepare the FX graph, load the stored ranges into its observers, convert (no calibration)."""
        from torch.ao.quantization.quantize_fx import convert_fx

        net = MQNet(**{k: v for k, v in self.config.items() if k not in INT8_KEYS})
        net.load_state_dict(self.net.state_dict())
        net.eval()
        for name in self.float_modules:
            round_weights_to_int8(net.get_submodule(name))
        if not self.reduce_range and cpu_lacks_vnni():
            from livehdr.base.log import warn

            warn("mqnet-int8 was calibrated for full-range int8 (CPUs with VNNI); this CPU has none, so the "
                 "brightest pixels may come out slightly off")
        prepared = prepare(net, self.float_modules, reduce_range=self.reduce_range)
        observers = activation_observers(prepared)
        ranges = self.activation_ranges
        if len(observers) != ranges.shape[0]:
            raise ValueError(f"the graph has {len(observers)} activation observers, the file {ranges.shape[0]} "
                             f"ranges (made by another livehdr or torch version?)")
        if not bool(torch.isfinite(ranges).all()) or bool((ranges[:, 0] > 0).any() or (ranges[:, 1] < 0).any()):
            raise ValueError("activation ranges must be finite and contain zero")
        for obs, (lo, hi) in zip(observers, ranges.tolist()):
            obs.min_val = torch.tensor(lo)
            obs.max_val = torch.tensor(hi)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = convert_fx(prepared)
        for name in self.float_modules:  # oneDNN's fast float path (depthwise convs ~2x) wants NHWC
            graph.get_submodule(name).to(memory_format=torch.channels_last)
        self.__dict__["_graph"] = graph
        return graph

    @property
    def global_stage(self):
        return self.net.global_stage

    def head_maps(self, code, top: float):
        if code.shape[1] != 3:
            raise ValueError(f"mqnet-int8 expects N x 3 x H x W, got {tuple(code.shape)}")
        return super().head_maps(code, top)

    def gain_maps(self, padded):
        graph = self._graph if self._graph is not None else self.build()
        t = torch.tanh(graph(padded.contiguous(memory_format=torch.channels_last)).float())
        return torch.cat([self.net.max_log2_gain * t[:, :1], self.net.max_chroma * t[:, 1:]], dim=1)


@register_model(name="mqnet-int8")
def mqnet_int8(**kw) -> MQNetInt8:
    return MQNetInt8(**kw)
