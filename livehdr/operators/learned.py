"""One operator for every learned model: the architecture and its config come from the weights' metadata.

The head maps are smoothed over the frames of a stream (operators/temporal.py) so that a static scene with
sensor noise does not pump; ``reset`` (a seek, a new file, every still) drops that history.

numpy H x W x 3 in -> numpy float32 out; torch N x 3 x H x W in -> torch out on the input's device.
Networks are trained on sRGB-decoded input; for ``--input-gamma 2.2/2.4`` the code values are re-encoded
to the sRGB code values of the same display light first, so blacks stay where they were.
"""
from __future__ import annotations

import os

import numpy as np

from livehdr import color
from livehdr.base.log import note as log_note
from livehdr.engine.device import resolve_precision
from livehdr.engine.int8 import choose_int8
from livehdr.models.mqnet import finish
from livehdr.models.weights import card_path, load_model, read_card, read_metadata, shipped_path
from livehdr.operators.base import OperatorConfig, WeightsOperator
from livehdr.operators.temporal import TemporalMaps


class LearnedOperator(WeightsOperator):
    def __init__(self, config: OperatorConfig, name: str, weights_path: str):
        super().__init__(config, name, weights_path)
        import torch

        self.model = load_model(weights_path).to(self.device)
        # int8 on the CPU: the model's shipped int8 twin (auto takes it only when its card meets the
        # quality goals), an int8 model file as it is, or (--precision int8 without a twin) quantized here.
        self.model, precision, note, self.device = choose_int8(self.model, weights_path, config.precision,
                                                               self.device, config.device)
        self.precision = resolve_precision(precision, self.device)
        if note:
            log_note(f"{name}: {note}")
        if self.precision == "fp16":
            self.model = self.model.half()
        self.temporal = TemporalMaps()  # frames of a batch are consecutive frames of one stream
        if self.precision != "int8":
            # channels_last: depthwise convs run ~2x faster on CPU (oneDNN), tensor cores on CUDA.
            self.model = self.model.to(memory_format=torch.channels_last)

    def reset(self) -> None:
        self.temporal.reset()

    def _expand_frame(self, code):
        """One frame (1 x 3 x H x W code values): the model's head maps, smoothed over the stream's
        previous frames (operators/temporal.py), applied to this frame's own light."""
        maps, base = self.model.head_maps(code, self.max_relative)
        return finish(code, self.temporal.update(code, maps), base, self.model.output, self.max_relative)

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
            if self.precision == "fp16":
                x = x.half()
            x = x.contiguous(memory_format=torch.channels_last)
            frames = [self._expand_frame(x[i:i + 1]) for i in range(x.shape[0])]  # in order: the history
            y = (frames[0] if len(frames) == 1 else torch.cat(frames)).float()
        if is_numpy:
            return y[0].permute(1, 2, 0).cpu().numpy()
        return y.to(src_device, src_dtype)


def shipped_learned_models() -> list[tuple[str, str]]:
    """(name, description) of each shipped ``models/NAME.safetensors`` naming a registered architecture."""
    from livehdr.models.registry import list_models

    folder = os.path.dirname(shipped_path("x"))
    if not os.path.isdir(folder):
        return []
    known = set(list_models())
    found = []
    for fname in sorted(os.listdir(folder)):
        if not fname.endswith(".safetensors") or fname.endswith(".ckpt.safetensors"):
            continue
        path = os.path.join(folder, fname)
        try:
            arch = read_metadata(path).get("arch")
        except Exception:  # an unreadable file is reported when it is used, not when listing
            continue
        if arch in known:
            card = read_card(card_path(path)) or {}
            found.append((fname[: -len(".safetensors")], str(card.get("description", f"{arch} (learned ITM)"))))
    return found


def default_learned_model(cuda: bool | None = None) -> str | None:
    """A shipped model whose card records a held-out win over naive ('metrics.beats_naive'), else None."""
    return default_learned_choice(cuda)[0]


def default_learned_choice(cuda: bool | None = None) -> tuple[str | None, str]:
    """(name or None, why). The default is the same on every device: among the shipped models whose card
    records a held-out win over naive, the largest held-out gain (PU21-PSNR) first. Only a card that states
    a rank measured on this kind of device ('default_rank_cuda' / 'default_rank_cpu', lower first) puts a
    model ahead there."""
    if cuda is None:
        try:
            import torch

            cuda = bool(torch.cuda.is_available())
        except ImportError:
            cuda = False
    device = "cuda" if cuda else "cpu"
    rank_key = f"default_rank_{device}"
    winners, losers = [], []
    for name, _ in shipped_learned_models():
        card = read_card(card_path(shipped_path(name))) or {}
        metrics = card.get("metrics") if isinstance(card.get("metrics"), dict) else {}
        if metrics.get("beats_naive") is True:
            gain = (metrics.get("heldout") or {}).get("goals", {}).get("mean_pu21_gain_db")
            winners.append((card.get(rank_key, 100), -(gain if gain is not None else -1e9), name, gain,
                            rank_key in card))
        else:
            losers.append(name)
    if not winners:
        return None, "no shipped model's card records a held-out win over naive"
    winners.sort()
    _, _, name, gain, ranked = winners[0]
    if ranked:
        why = f"its card ranks it first on {device} (measured there)"
    else:
        why = "its card records the largest held-out win over naive"
    if gain is not None:
        why += f" ({gain:+.2f} dB PU21-PSNR)"
    others = [f"{w[2]} {w[3]:+.2f} dB" if w[3] is not None else w[2] for w in winners[1:]]
    if others:
        why += f"; also winning: {', '.join(others)}"
    if not ranked:
        why += f"; the same default on every device (no card ranks another model first on {device})"
    if losers:
        why += f" ({', '.join(sorted(losers))}: no held-out win recorded)"
    return name, why
