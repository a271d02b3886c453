"""Which int8 network a learned operator runs, and whether ``--precision auto`` may pick int8 on the CPU.

A float model ``models/NAME.safetensors`` has an int8 twin when ``models/NAME-int8.safetensors`` exists and
its card names the float file's sha256 as its base (the ranges were calibrated for exactly those weights).
``auto`` takes the twin on the CPU only when its card records the quality goals (issue #12) met on the
held-out scenes. ``--precision int8`` takes the twin when there is one, and otherwise quantizes the float
model at load (slower start-up, and whole-network int8 dims the brightest highlights).
"""
from __future__ import annotations

import os

from livehdr.base.errors import UserError
from livehdr.models.weights import card_path, file_sha256, load_model, read_card

# mqnet-int8 against fp32 on the held-out scenes: at most this much lower PU21-PSNR (dB), and at most this
# mean error (stops) where the fp32 output is above 1.5x paper white (issue #12's goals). And it may not
# flicker noticeably more than fp32 on a static noisy scene (int8 thresholds turn +-1 code noise into
# output changes; the first mqnet-int8 pumped 3x as much as fp32, and flicker is what users notice first).
MAX_PU21_DROP_DB = 0.2
MAX_HIGHLIGHT_STOPS = 0.1
MAX_PUMPING_OVER_FP32 = 1.25


def is_int8_model(model) -> bool:
    from livehdr.models.mqnet_int8 import MQNetInt8

    return isinstance(model, MQNetInt8)



def int8_twin(weights_path: str) -> str | None:
    """The int8 weights calibrated for this float file, or None."""
    stem, ext = os.path.splitext(weights_path)
    twin = stem + "-int8" + ext
    if not os.path.isfile(twin) or not os.path.isfile(weights_path):
        return None
    base = ((read_card(card_path(twin)) or {}).get("base_weights") or {})
    return twin if isinstance(base, dict) and base.get("sha256") == file_sha256(weights_path) else None


def meets_quality_goals(int8_path: str) -> bool:
    """The int8 card records every goal met against fp32 (missing numbers never do)."""
    metrics = (read_card(card_path(int8_path)) or {}).get("metrics") or {}
    try:
        q, pumping = metrics["heldout_vs_fp32"], metrics["noise_pumping"]
        return (float(q["pu21_drop_db"]) <= MAX_PU21_DROP_DB and float(q["highlight_stops_mean"]) <= MAX_HIGHLIGHT_STOPS
                and float(pumping["pumping_int8_over_fp32"]) <= MAX_PUMPING_OVER_FP32)
    except (TypeError, KeyError, ValueError):
        return False


def choose_int8(model, weights_path: str, precision: str, device, asked_device: str | None = None):
    """(model to run, 'int8' or the float precision to resolve further, a note or None, the device to run on).

    - an int8 model file (mqnet-int8) runs as int8 on the CPU (also when ``--device auto`` found a GPU);
      asking it for float, or for ``--device cuda``, is a UserError;
    - a float model: ``int8`` -> its twin, else quantized at load; ``auto`` on the CPU -> its twin when the
      twin's card meets the goals; otherwise the precision is left to ``resolve_precision``."""
    import torch

    on_cpu = device.type == "cpu"
    if is_int8_model(model):
        if precision not in ("auto", "int8"):
            raise UserError(f"{os.path.basename(weights_path)} is an int8 model; --precision {precision} needs "
                            "its float original (e.g. --model mqnet)")
        if not on_cpu and asked_device in (None, "auto"):
            return model.cpu(), "int8", "int8 runs on the CPU", torch.device("cpu")
        if not on_cpu:
            raise UserError(f"{os.path.basename(weights_path)} is an int8 model, which runs on the CPU only; "
                            "use --device cpu, or the float model on a GPU")
        return model, "int8", None, device
    if not on_cpu or precision not in ("auto", "int8"):
        return model, precision, None, device
    twin = int8_twin(weights_path)
    if twin is not None and (precision == "int8" or meets_quality_goals(twin)):
        return load_model(twin, expect_arch="mqnet-int8"), "int8", f"int8 weights from {os.path.basename(twin)}", device
    if precision == "int8":
        from livehdr.engine.quantize import calibration_frames, quantize_int8

        return quantize_int8(model, calibration_frames()), "int8", "no int8 twin: quantized at load", device
    return model, precision, None, device
