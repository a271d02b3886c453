"""Learned ITM architectures (one file each) and their bridge to the operator registry.

``create_model(name, **kw)`` builds an architecture by name (timm-style registry); ``register_operators``
is the hook ``livehdr.operators`` calls to add the learned operators; ``default_operator_name`` names the
shipped model only when its card says it beat ``naive`` on held-out data.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from livehdr import color
from livehdr.errors import UserError

_MODELS: dict[str, Callable] = {}


def register_model(name: str):
    def deco(fn):
        _MODELS[name] = fn
        return fn
    return deco


def list_models() -> list[str]:
    _populate()
    return sorted(_MODELS)


def create_model(name: str, **kw):
    _populate()
    if name not in _MODELS:
        raise ValueError(f"unknown architecture {name!r}; available: {', '.join(sorted(_MODELS))}")
    return _MODELS[name](**kw)


def _populate():
    if "mqnet" not in _MODELS:
        from livehdr.models import mqnet

        register_model("mqnet")(mqnet.mqnet)


# --------------------------------------------------------------------------------------------------------
# The learned operator
# --------------------------------------------------------------------------------------------------------
def resolve_device(device: str):
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise UserError(f"unknown device {device!r}; choose auto, cpu or cuda")
    return torch.device(device)


def _make_learned_operator_class():
    from livehdr.operators import Operator

    class LearnedOperator(Operator):
        """Runs a network from a safetensors file under the operator contract.

        numpy H x W x 3 in -> numpy float32 out; torch N x 3 x H x W in -> torch out on the input's device.
        The network was trained on sRGB-decoded input; for ``--input-gamma 2.2/2.4`` the code values are
        re-encoded to the sRGB code values of the same display light first, so blacks stay where they were.
        """

        arch = "mqnet"

        def __init__(self, config, name: str, weights_path: str):
            super().__init__(config)
            import torch

            from livehdr.models.weights import load_model

            self.name = name
            self.weights_path = weights_path
            self.device = resolve_device(config.device)
            self.model = load_model(weights_path, expect_arch=self.arch).to(self.device)
            precision = config.precision
            on_cuda = self.device.type == "cuda"
            if precision == "int8" and on_cuda or precision == "fp16" and not on_cuda:
                raise UserError(f"--precision {precision} needs {'the CPU' if on_cuda else 'a CUDA GPU'}; "
                                "use auto or fp32")
            self.half = on_cuda and precision in ("auto", "fp16")
            if self.half:
                self.model = self.model.half()
            # int8 only on request: 3x faster on the CPU, but whole-network int8 blotches the brightest
            # highlights (mean error 0.78 stops where the fp32 output exceeds 1.5x paper white, demo frame),
            # and keeping the head and last decoder level in float erases the gain (docs/MODEL.md).
            self.int8 = not on_cuda and precision == "int8"
            if self.int8:
                from livehdr.models.mqnet import calibration_frames, quantize_int8

                self.model = quantize_int8(self.model, calibration_frames())
            else:
                # channels_last: depthwise convs run ~2x faster on CPU (oneDNN), tensor cores on CUDA.
                self.model = self.model.to(memory_format=torch.channels_last)

        def _to_srgb_code(self, V):
            if self.config.input_gamma == "srgb":
                return V
            return color.eotf_inverse_sRGB(color.eotf_input(V, self.config.input_gamma))

        def expand(self, V):
            import torch

            is_numpy = not isinstance(V, torch.Tensor)
            if is_numpy:
                x = torch.from_numpy(np.ascontiguousarray(V, dtype=np.float32)).permute(2, 0, 1)[None]
                src_device, src_dtype = torch.device("cpu"), torch.float32
            else:
                x = V
                src_device, src_dtype = V.device, V.dtype if V.is_floating_point() else torch.float32
            with torch.inference_mode():
                x = self._to_srgb_code(x.to(self.device, torch.float32))
                if self.half:
                    x = x.half()
                x = x.contiguous(memory_format=torch.channels_last)
                y = self.model(x, max_relative=self.levels.headroom).float()
            if is_numpy:
                return y[0].permute(1, 2, 0).cpu().numpy()
            return y.to(src_device, src_dtype)

    return LearnedOperator


_OPERATOR_CLASS = None


def learned_operator_class():
    global _OPERATOR_CLASS
    if _OPERATOR_CLASS is None:
        _OPERATOR_CLASS = _make_learned_operator_class()
    return _OPERATOR_CLASS


def mqnet_operator(config):
    from livehdr.models.weights import shipped_path

    path = config.weights or shipped_path("mqnet")
    return learned_operator_class()(config, "mqnet", path)


def register_operators(register) -> None:
    register("mqnet", mqnet_operator, "MQNet U-Net (learned ITM)", learned=True)


def default_operator_name():
    """'mqnet' when the shipped weights exist and their card records a held-out win over naive."""
    import os

    from livehdr.models.weights import card_path, read_card, shipped_path

    path = shipped_path("mqnet")
    if not os.path.isfile(path):
        return None
    card = read_card(card_path(path)) or {}
    metrics = card.get("metrics") if isinstance(card.get("metrics"), dict) else {}
    return "mqnet" if metrics.get("beats_naive") is True else None
