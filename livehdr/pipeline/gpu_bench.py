"""The product's frame path timed where it runs (issue #25 goals; ``python -m livehdr.bench --gpu``).

Every figure times the code the conversions run (``device_frames.DeviceStage`` and the writer's
``pack_into``), not a copy of it. On CUDA the clock is read after a device synchronise, so a figure is the
whole wall time of that step, host work (thumbnails, the table's composition) included. The same functions
run on torch's CPU backend (``kind='torch-cpu'``), which is how CI keeps them working without a GPU.
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

from livehdr.engine.frame_path_choice import torch_device
from livehdr.pipeline.device_frames import DeviceStage
from livehdr.pipeline.stages import TableComposer


def _sync(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _median_ms(fn, device, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 3)


def bench_frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A uint8 frame with smooth gradients, noise and a clipped-white band (highlights to expand)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / max(1, width - 1), yy / max(1, height - 1), 0.5 + 0.5 * np.sin(xx / 37.0)], axis=-1)
    frame = np.clip(base * 255 + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
    frame[: max(2, height // 10)] = 255
    return frame


def frame_path_ms(operator, width: int, height: int, kind: str = "cuda", hlg: bool = False,
                  repeats: int = 10) -> dict:
    """The whole frame path without the encoder (upload -> operator -> pack -> one download into host
    planes), median ms, as ``run_conversion`` runs it on frame path ``kind``."""
    composer = TableComposer(operator.levels, "hlg" if hlg else "pq")
    stage = DeviceStage(operator, kind, composer)
    frame = bench_frame(width, height)
    y = np.empty((height, width), np.uint16)
    u = np.empty((height // 2, width // 2), np.uint16)
    v = np.empty_like(u)
    levels = operator.levels.for_content(getattr(operator, "content_peak", None))
    cll = []

    def once():
        out = stage(frame)
        cll.append(out.pack_into(y, u, v, levels.paper_white, levels.peak, hlg=hlg,
                                 source_peak=levels.source_peak)[0])

    ms = _median_ms(once, stage.device, repeats)
    return {"ms": ms, "size": f"{width}x{height}", "frame": type(stage(frame)).__name__,
            "max_cll": round(cll[-1], 1)}


def table_ms(operator, width: int, height: int, kind: str = "cuda", repeats: int = 10) -> dict:
    """A pointwise operator's composed table: built for a frame as the device path builds it
    (``DeviceStage.table``: for clut the thumbnail, the CNN, the LUT at the nodes and the composition on the
    device) and applied on the device at this size, median ms each."""
    from livehdr.engine.device_table import table_to_yuv420p10_torch

    stage = DeviceStage(operator, kind, TableComposer(operator.levels, "pq"))
    frame = bench_frame(width, height)
    built = _median_ms(lambda: stage.table(frame), stage.device, repeats)
    table = stage.table(frame)
    on_device = stage.upload.raw(frame)
    applied = _median_ms(lambda: table_to_yuv420p10_torch(on_device, table), stage.device, repeats)
    return {"built_ms": built, "applied_ms": applied, "total_ms": round(built + applied, 3),
            "size": f"{width}x{height}"}


def window_copy_ms(width: int, height: int, kind: str = "cuda", repeats: int = 10) -> dict:
    """The live window's copy of an operator's light from the device to host memory (the GL texture is
    filled from there: no CUDA-GL interop from moderngl), median ms for one H x W float32 frame."""
    import torch

    from livehdr.engine.device_frame import download_relative

    device = torch.device(torch_device(kind))
    relative = torch.rand(3, height, width, device=device)
    ms = _median_ms(lambda: download_relative(relative), device, repeats)
    return {"ms": ms, "size": f"{width}x{height}", "bytes": 12 * width * height}


def conversion_fps(operator, clip: str, output: str, encoder: str = "auto") -> dict:
    """A whole file conversion through ``run_conversion`` (the frame path it chooses, the encoder ``encoder``
    resolves to): frames per second from start to finished file, and the bound: the stage with the largest
    median ms (x265 encodes on its own threads, so 'encode' there is only the time inside the call)."""
    from livehdr.io.sources import FileSource
    from livehdr.pipeline.convert import ConversionSettings, run_conversion

    source = FileSource(clip)
    try:
        t0 = time.perf_counter()
        result = run_conversion(ConversionSettings(output=output, levels=operator.levels, preset="ultrafast",
                                                   encoder=encoder, overwrite=True), source, operator)
        seconds = time.perf_counter() - t0
        decoder = source.hwaccel
    finally:
        source.close()
    stages = {k: round(v, 2) for k, v in result.stage_ms.items()}
    frames = result.summary["frames"]
    return {"fps": round(frames / seconds, 2), "frames": frames, "encoder": result.summary["encoder"],
            "decoder": "NVDEC" if decoder == "cuda" else "CPU", "stage_ms": stages,
            "bound": max(stages, key=stages.get) if stages else None}


# --------------------------------------------------------------------------------------------------------
# The whole report (``bench --gpu``)
# --------------------------------------------------------------------------------------------------------
GOALS = {  # issue #25's goals table (an H100-class GPU, batch 1): figure -> (goal, "max" or "min")
    "mqnet_fp16_1080p_ms": (2.0, "max"), "mqnet_fp16_4k_ms": (8.0, "max"), "clut_table_4k_ms": (0.5, "max"),
    "frame_path_4k_clut_ms": (6.0, "max"), "frame_path_4k_mqnet_ms": (12.0, "max"),
    "conversion_4k_fps": (60.0, "min"), "startup_cold_s": (5.0, "max"), "startup_warm_s": (2.0, "max"),
    "passthrough_4k_egl_fps": (60.0, "min"), "passthrough_4k_egl_latency_ms": (1000 / 60 + 5.0, "max"),
}


def goal_table(figures: dict) -> dict:
    """Each goal's figure, its goal and whether it is met (None: not measured)."""
    rows = {}
    for key, (goal, kind) in GOALS.items():
        value = figures.get(key)
        met = None if value is None else (value <= goal if kind == "max" else value >= goal)
        rows[key] = {"value": value, "goal": round(goal, 2), "kind": kind, "met": met}
    return rows


def timed_cli(argv: list[str], timeout: float = 120.0, env: dict | None = None) -> tuple[float, str]:
    """(wall seconds, stderr) of ``python -m livehdr ARGV`` in a fresh process (``env``: added variables)."""
    import subprocess

    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "livehdr", *argv], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError((r.stderr.strip().splitlines() or ["no output"])[-1])
    return seconds, r.stderr


def startup_s(argv: list[str], cache_dir: str) -> dict:
    """Start-up to the first frame, cold (an empty numba cache: every kernel compiled) then warm (the cache
    the cold run filled), each a fresh process converting one frame until its file is finished: an upper
    bound, the encoder's finish and the remux included."""
    cache = {"NUMBA_CACHE_DIR": cache_dir}
    return {"cold_s": round(timed_cli(argv, env=cache)[0], 2), "warm_s": round(timed_cli(argv, env=cache)[0], 2),
            "what": "a fresh process converting one 4K frame with the default model, until the file is finished"}


def parse_presented(stderr: str) -> tuple[float | None, float | None]:
    """(fps, median latency ms) from the window's 'livehdr: presented N frames in S s (F fps), capture->present
    latency median L ms' line."""
    import re

    m = re.search(r"\(([\d.]+) fps\), capture->present latency median ([\d.]+|-) ms", stderr)
    if not m:
        return None, None
    return float(m.group(1)), (None if m.group(2) == "-" else float(m.group(2)))


def _guarded(report: dict, key: str, fn, progress):
    """``report[key] = fn()``, or the one-line error: one failing figure must not cost the others."""
    try:
        report[key] = fn()
    except Exception as e:  # reported in the JSON, the bench goes on
        report[key] = {"error": (str(e).strip().splitlines() or [type(e).__name__])[0]}
    progress(key, report[key])


CLIP_FRAMES, CLIP_RATE = 120, 60  # the 4K clip of the conversion, start-up and passthrough figures


def gpu_figures(folder: str, make_clip, progress=lambda key, section: None) -> dict:
    """Every figure of the goals table on the first CUDA device; ``make_clip(path, w, h, frames, rate)``
    writes the SDR test clip, ``progress(key, section)`` is given each section as it is done (so a run cut
short by its time limit still shows what it measured)."""
    import torch

    from livehdr.engine.cuda_timing import measure
    from livehdr.operators import OperatorConfig, create_operator

    def mqnet():
        return create_operator("mqnet", OperatorConfig(device="cuda", precision="fp16"))

    report: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    _guarded(report, "mqnet_model", lambda: measure(mqnet, sizes=((1920, 1080), (3840, 2160))), progress)
    clut = create_operator("clut", OperatorConfig(device="cuda"))
    mq = mqnet()
    _guarded(report, "clut_table_4k", lambda: table_ms(clut, 3840, 2160), progress)
    _guarded(report, "frame_path_4k", lambda: {"clut": frame_path_ms(clut, 3840, 2160),
                                               "mqnet": frame_path_ms(mq, 3840, 2160)}, progress)
    _guarded(report, "window_copy_4k", lambda: window_copy_ms(3840, 2160), progress)
    clip = make_clip(os.path.join(folder, "4k.mp4"), 3840, 2160, CLIP_FRAMES, rate=CLIP_RATE)
    _guarded(report, "conversion_4k", lambda: conversion_fps(clut, clip, os.path.join(folder, "o.mkv")), progress)
    one = ["-i", clip, "-o", os.path.join(folder, "one.mkv"), "--max-frames", "1", "--overwrite",
           "--preset", "ultrafast"]
    _guarded(report, "startup", lambda: startup_s(one, os.path.join(folder, "numba-cache")), progress)
    passthrough = ["-i", clip, "--offscreen", "--model", "naive", "--no-audio", "--max-frames", str(CLIP_FRAMES)]
    _guarded(report, "passthrough_4k_egl",
             lambda: dict(zip(("fps", "latency_ms"), parse_presented(timed_cli(passthrough)[1]))), progress)
    return {"device": report["device"], "goals": goal_table(figures_of(report)), **report}


def figures_of(report: dict) -> dict:
    """The goals table's figures out of the report's sections (None where a section failed)."""
    def section(key):
        value = report.get(key)
        return value if isinstance(value, dict) else {}

    sizes = section("mqnet_model").get("sizes", {})

    def best(size):
        row = sizes.get(size) or {}
        times = [t for t in (row.get("model_eager_ms"), row.get("model_graph_ms")) if t]
        return min(times) if times else None

    paths = section("frame_path_4k")
    return {"mqnet_fp16_1080p_ms": best("1920x1080"), "mqnet_fp16_4k_ms": best("3840x2160"),
            "clut_table_4k_ms": section("clut_table_4k").get("total_ms"),
            "frame_path_4k_clut_ms": (paths.get("clut") or {}).get("ms"),
            "frame_path_4k_mqnet_ms": (paths.get("mqnet") or {}).get("ms"),
            "conversion_4k_fps": section("conversion_4k").get("fps"),
            "startup_cold_s": section("startup").get("cold_s"), "startup_warm_s": section("startup").get("warm_s"),
            "passthrough_4k_egl_fps": section("passthrough_4k_egl").get("fps"),
            "passthrough_4k_egl_latency_ms": section("passthrough_4k_egl").get("latency_ms")}
