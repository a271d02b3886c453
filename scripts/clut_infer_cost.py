"""Where clut's per-frame time goes, reference against the fast CPU path, one step at a time (issue #21 item 4).

    .venv/bin/python scripts/clut_infer_cost.py [--repeats 200]

One thread (torch.set_num_threads(1)), a 1080p uint8 frame, the shipped model. Every variant runs in the
same loop, round robin, so a loaded machine slows them alike; medians in ms. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import copy
import time
import warnings

import numpy as np
import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=200)
    args = p.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")

    from livehdr.models.clut import global_statistics, thumbnail_numpy
    from livehdr.models.clut_fast import FastCLUT
    from livehdr.models.weights import load_model, shipped_path
    from livehdr.operators import OperatorConfig, create_operator

    model = load_model(shipped_path("clut"), expect_arch="clut")
    fast = FastCLUT(model)
    frame = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    thumb = thumbnail_numpy(frame)
    x = torch.from_numpy(thumb).permute(2, 0, 1)[None]
    x_nchw = x.contiguous()
    with torch.inference_mode():
        weights = model.basis_weights(x)
        fields_t = model.fields(weights)
    weights_np = weights.numpy()
    fields_np = fast.fields(weights_np)
    top = model.max_relative
    with torch.no_grad():
        t0 = time.perf_counter()
        traced = torch.jit.freeze(torch.jit.trace(copy.deepcopy(model.backbone).eval(), x_nchw))
        traced(x_nchw), traced(x_nchw)
        jit_start = time.perf_counter() - t0
    int8 = int8_backbone(model, thumb)
    small = {s: thumbnail_numpy(frame, s) for s in (192, 128)}
    op_ref, op_fast = create_operator("clut", OperatorConfig()), create_operator("clut", OperatorConfig())
    op_ref.fast = None

    def backbone_grad():
        return model.backbone(x_nchw * 2 - 1).mean(dim=(2, 3))

    def inference(fn):
        def run():
            with torch.inference_mode():
                return fn()
        return run

    steps = [
        ("thumbnail: numpy rows-then-columns gather (reference)", lambda: thumbnail_numpy(frame)),
        ("thumbnail: numba gather (fast)", lambda: fast.thumbnail(frame)),
        ("CNN convs, NCHW, autograd on", backbone_grad),
        ("CNN convs, NCHW, inference_mode (reference)", inference(backbone_grad)),
        ("CNN convs, channels-last, inference_mode (fast)", lambda: fast.features(thumb)),
        ("CNN convs, torch.jit trace + freeze, NCHW", inference(lambda: traced(x_nchw * 2 - 1).mean(dim=(2, 3)))),
        ("CNN convs, int8 torch.ao (x86 engine), NCHW", inference(lambda: int8(x_nchw * 2 - 1).mean(dim=(2, 3)))),
        ("CNN convs, channels-last, thumbnail 192", lambda: fast.features(small[192])),
        ("CNN convs, channels-last, thumbnail 128", lambda: fast.features(small[128])),
        ("image statistics: torch (reference)", inference(lambda: global_statistics(x))),
        ("image statistics: numba (fast)", lambda: fast.statistics(thumb)),
        ("basis_weights in all: torch (reference)", inference(lambda: model.basis_weights(x))),
        ("basis_weights in all: fast", lambda: fast.basis_weights(thumb)),
        ("fields (mix + decompress): torch (reference)", inference(lambda: model.fields(weights))),
        ("fields (mix + decompress): numpy (fast)", lambda: fast.fields(weights_np)),
        ("lut_from_fields: torch (reference)", inference(lambda: model.lut_from_fields(fields_t, top))),
        ("lut_from_fields: constants once + numba (fast)", lambda: fast.lut_from_fields(fields_np, top)),
        ("lut_from_fields --input-gamma 2.4: torch (reference)",
         inference(lambda: model.lut_from_fields(fields_t, top, "2.4"))),
        ("fields + lut_from_fields --input-gamma 2.4: fast (resampled factors)",
         lambda: fast.lut_from_fields(fast.fields(weights_np, "2.4"), top, "2.4")),
        ("operator lut_for_frame 1080p (reference)", lambda: op_ref.lut_for_frame(frame)),
        ("operator lut_for_frame 1080p (fast)", lambda: op_fast.lut_for_frame(frame)),
    ]
    times = {name: [] for name, _ in steps}
    for _, fn in steps:
        for _ in range(5):
            fn()
    for _ in range(args.repeats):
        for name, fn in steps:
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1000)
    print(f"| step (1080p uint8 frame, one thread, {args.repeats} rounds) | median ms | p10 ms |")
    print("|---|---|---|")
    for name, _ in steps:
        v = np.array(times[name])
        print(f"| {name} | {np.median(v):.3f} | {np.percentile(v, 10):.3f} |")
    print(f"\ntorch.jit trace + freeze start-up: {jit_start * 1000:.0f} ms")


def int8_backbone(model, thumb: np.ndarray):
    """The convs with torch.ao eager static quantization (x86 engine), calibrated on the thumbnail."""
    from torch import nn
    from torch.ao.quantization import DeQuantStub, QuantStub, convert, get_default_qconfig, prepare

    class Quantized(nn.Module):
        def __init__(self, backbone):
            super().__init__()
            self.q, self.backbone, self.dq = QuantStub(), backbone, DeQuantStub()

        def forward(self, x):
            return self.dq(self.backbone(self.q(x)))

    torch.backends.quantized.engine = "x86"
    q = Quantized(copy.deepcopy(model.backbone)).eval()
    q.qconfig = get_default_qconfig("x86")
    prepare(q, inplace=True)
    with torch.no_grad():
        q(torch.from_numpy(thumb).permute(2, 0, 1)[None].contiguous() * 2 - 1)
    return convert(q, inplace=True)


if __name__ == "__main__":
    main()
