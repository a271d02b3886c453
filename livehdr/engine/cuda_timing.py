"""The issue #13 measurements on a CUDA GPU, timed with CUDA events (``python -m livehdr.bench --gpu``).

Operators are built by the caller (engine sits below operators in the layer rule).

One call measures, per frame size: the model alone (eager, and replayed from a CUDA graph), the whole frame
path (upload -> model -> pack -> download, ``engine.frame_path``), and, once, the start-up to the first
frame. Medians of ``repeats`` runs after a warm-up; CUDA events time the device, not Python.
"""
from __future__ import annotations

import statistics
import time


def _median_event_ms(fn, repeats: int, warmup: int = 3) -> float:
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return round(statistics.median(times), 3)


def measure(make_operator, sizes=((1920, 1080), (3840, 2160)), repeats: int = 20) -> dict:
    """Timings in ms on the first CUDA device; raises RuntimeError when torch sees none.

    ``make_operator()`` builds the operator on CUDA (the caller chooses model and precision): its time plus
    one 1080p frame is the start-up to the first frame.
    """
    import numpy as np
    import torch

    from livehdr.engine.frame_path import DeviceFramePath, GraphedModel

    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device")
    t0 = time.perf_counter()
    op = make_operator()
    op(torch.rand(1, 3, 1080, 1920, device="cuda"))
    torch.cuda.synchronize()
    report = {"device": torch.cuda.get_device_name(0), "model": getattr(op, "name", "?"),
              "precision": getattr(op, "precision", None),
              "startup_to_first_frame_s": round(time.perf_counter() - t0, 2), "sizes": {}}
    for w, h in sizes:
        x = torch.rand(1, 3, h, w, device="cuda")
        graphed = GraphedModel(lambda t: op(t), torch.device("cuda"))
        frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        path = DeviceFramePath(lambda t: op(t), "cuda", op.levels.paper_white, op.levels.peak)
        report["sizes"][f"{w}x{h}"] = {
            "model_eager_ms": _median_event_ms(lambda: op(x), repeats),
            "model_graph_ms": _median_event_ms(lambda: graphed(x), repeats),
            "graph_capture_error": graphed.capture_error,
            "frame_path_ms": _median_event_ms(lambda: path.planes(frame), repeats),
        }
    return report
