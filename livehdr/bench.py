"""Speed of the video path, per stage: ``python -m livehdr.bench [--model M] [--device D] [--size WxH] --json``.

For each operator (``operators.list_operators()``, or only ``--model``) a short clip is converted through the
real threaded pipeline (decode -> to_rgb -> infer -> pack -> encode, libx265). Reported per operator and
device: the median ms of each stage, ``infer_ms``, and ``fps`` measured end to end (from the first frame
handed to the encoder until the file is finished, flush included; start-up costs are left out). The
``encode`` stage is only the time spent in the encode call: x265 works in its own threads, so ``fps`` is
the honest number. Learned models also run on CUDA when present.

Every result carries ``minor_faults_per_frame`` (page faults, the allocator fix of issue #12:
``base/memory.py``). ``--inference-only`` times just the model on one frame (start-up to the first frame,
median ms, faults per frame, and the speed ratio of every model to the first); ``--allocator-compare`` adds
the same run in a subprocess with glibc's malloc defaults, so "before" and "after" come from one run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from livehdr.base.errors import UserError
from livehdr.argtypes import parse_size
from livehdr.base.memory import OFF_SWITCH, keep_freed_memory, minor_faults


def make_test_clip(path: str, width: int, height: int, frames: int, rate: int = 30) -> str:
    """A short H.264 clip of FFmpeg's testsrc2 pattern: what a typical SDR input decodes like."""
    import av

    src = av.open(f"testsrc2=size={width}x{height}:rate={rate}", format="lavfi")
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        stream.codec_context.colorspace = 1  # BT.709, as HD material is tagged
        stream.codec_context.color_range = 1
        for n, frame in enumerate(src.decode(video=0)):
            if n >= frames:
                break
            frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709")
            frame.pts = n
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    src.close()
    return path


class _TimedWriter:
    """Wraps the HDR10 writer to note when each frame has been encoded."""

    def __init__(self, writer):
        self.writer = writer
        self.done_at: list[float] = []

    @property
    def timings(self):
        return self.writer.timings

    def write(self, *args, **kwargs):
        self.writer.write(*args, **kwargs)
        self.done_at.append(time.perf_counter())


def bench_operator(name: str, device: str, clip: str, folder: str, frames: int, preset: str,
                   precision: str = "auto") -> dict:
    from livehdr.color import ReferenceLevels
    from livehdr.io.hdr10 import HDR10Writer
    from livehdr.io.sources import FileSource
    from livehdr.operators import OperatorConfig, create_operator
    from livehdr.pipeline.convert import Conversion, conversion_stage
    from livehdr.pipeline.stages import STAGES

    operator = create_operator(name, OperatorConfig(levels=ReferenceLevels(), device=device, precision=precision))
    source = FileSource(clip, hwaccel="none")
    out = os.path.join(folder, f"{name}-{device}.mkv")
    writer = HDR10Writer(out, source.width & ~1, source.height & ~1, operator.levels.for_content(operator.content_peak),
                         fps=source.fps, time_base=source.time_base, preset=preset, encoder="libx265", overwrite=True)
    timed = _TimedWriter(writer)
    conversion = Conversion(source, operator, timed, frames, conversion_stage(operator, operator.levels))
    faults_before = minor_faults()
    try:
        conversion.run(lambda done: None)
        writer.finish(truncated=True)
        finished_at = time.perf_counter()  # x265 works in its own threads: count its flush too
    except BaseException:
        writer.abort()
        raise
    finally:
        source.close()
    faults = minor_faults() - faults_before
    medians = conversion.times.medians()
    stamps = timed.done_at
    fps = (len(stamps) - 1) / (finished_at - stamps[0]) if len(stamps) > 1 else None
    stages = {stage: round(medians.get(stage, 0.0), 3) for stage in STAGES}
    slowest = max(stages, key=stages.get)
    return {"model": name, "device": device, "precision": getattr(operator, "precision", None),
            "frames": len(stamps), "stages_ms": stages, "infer_ms": stages["infer"],
            "fps": round(fps, 3) if fps else None, "slowest_stage": slowest,
            "minor_faults_per_frame": round(faults / max(1, len(stamps)))}


def bench_ffmpeg(clip: str, folder: str, frames: int, preset: str, flush_timeout_s: float = 120.0) -> dict:
    """FFmpeg alone on the same clip (``--vs-ffmpeg``): H.264 decode (FFmpeg's threads) -> yuv420p10le
    (swscale, as the ffmpeg CLI converts) -> libx265 at the same preset, crf and x265-params as livehdr's
    writer, muxed into Matroska. Through PyAV's own libavcodec, not the ffmpeg CLI: no binary needed, and
    the same libx265 build livehdr encodes with, so the ratio compares the pipelines, not two builds.

    ``fps`` is measured as ``bench_operator`` does (first frame encoded to the file closed, flush included);
    ``startup_s`` (opening the clip and the encoder, the first frame) is reported apart."""
    import inspect
    import threading

    import av

    from livehdr.color import ReferenceLevels
    from livehdr.io import hdr10

    crf = inspect.signature(hdr10.HDR10Writer).parameters["crf"].default  # the writer's own default
    t_open = time.perf_counter()
    source = av.open(clip)
    out = av.open(os.path.join(folder, "ffmpeg-alone.mkv"), "w")
    stamps: list[float] = []
    try:
        video = source.streams.video[0]
        video.thread_type = "AUTO"
        stream = out.add_stream("libx265", rate=video.average_rate)
        stream.width, stream.height = video.codec_context.width & ~1, video.codec_context.height & ~1
        stream.pix_fmt = "yuv420p10le"
        stream.options = {"crf": f"{crf:g}", "preset": preset,
                          "x265-params": hdr10.x265_params(ReferenceLevels(), hlg=False)}
        for n, frame in enumerate(source.decode(video)):
            if n >= frames:
                break
            ten = frame.reformat(width=stream.width, height=stream.height, format="yuv420p10le")
            ten.pts = n
            out.mux(stream.encode(ten))
            stamps.append(time.perf_counter())
        packets: list = []
        flush = threading.Thread(target=lambda: packets.extend(stream.encode(None)), daemon=True)
        flush.start()  # x265 4.2 may hang in its flush (io/hdr10.py): a deadline, not a stuck bench
        flush.join(flush_timeout_s)
        if flush.is_alive():
            raise UserError(f"--vs-ffmpeg: libx265 did not finish its flush in {flush_timeout_s:.0f} s")
        out.mux(packets)
    finally:
        out.close()
        source.close()
    finished_at = time.perf_counter()
    fps = (len(stamps) - 1) / (finished_at - stamps[0]) if len(stamps) > 1 else None
    return {"frames": len(stamps), "fps": round(fps, 3) if fps else None,
            "startup_s": round(stamps[0] - t_open, 3) if stamps else None,
            "how": f"PyAV {av.__version__} libavcodec: H.264 decode -> yuv420p10le -> libx265 {preset} crf {crf:g}"}


def bench_inference(name: str, device: str, width: int, height: int, frames: int, precision: str = "auto") -> dict:
    """The operator alone on one random frame: start-up to the first frame (building the operator, loading
    and checking the weights, the first expand), then the median of ``frames`` more, with page faults."""
    import statistics

    import numpy as np

    from livehdr.color import ReferenceLevels
    from livehdr.operators import OperatorConfig, create_operator

    frame = np.random.default_rng(0).random((height, width, 3), dtype=np.float32)
    t0 = time.perf_counter()
    operator = create_operator(name, OperatorConfig(levels=ReferenceLevels(), device=device, precision=precision))
    operator(frame)
    startup = time.perf_counter() - t0
    times, faults = [], []
    for _ in range(frames):
        f0, t0 = minor_faults(), time.perf_counter()
        operator(frame)
        times.append((time.perf_counter() - t0) * 1000)
        faults.append(minor_faults() - f0)
    return {"model": name, "device": device, "precision": getattr(operator, "precision", None),
            "size": f"{width}x{height}", "frames": frames, "startup_to_first_frame_s": round(startup, 3),
            "median_ms": round(statistics.median(times), 1), "ms": [round(t, 1) for t in times],
            "minor_faults_per_frame": round(statistics.median(faults)), "minor_faults": faults}


def default_precision(name: str) -> str:
    """Float models at fp32 (so ``auto`` switching to an int8 twin does not hide the float time), int8
    model files at their own precision."""
    from livehdr.models.weights import read_metadata, shipped_path

    try:
        arch = read_metadata(shipped_path(name)).get("arch", "")
    except Exception:  # classical operators have no file; a broken file fails in create_operator
        return "auto"
    return "auto" if arch.endswith("-int8") else "fp32"


def allocator_before(argv: list[str]) -> dict:
    """The same inference bench in a child process that keeps glibc's malloc defaults (the "before")."""
    import subprocess

    env = dict(os.environ, **{OFF_SWITCH: "1"})
    proc = subprocess.run([sys.executable, "-m", "livehdr.bench", *argv], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise UserError(f"the allocator 'before' run failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise UserError("the allocator 'before' run printed no report") from None


def _median_ms(fn, repeats: int) -> float:
    import statistics

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench_kernels(width: int, height: int, repeats: int = 5) -> dict:
    """The numba packing kernels against the plain numpy path of color.py, on one random frame.

    Both produce the same code values (tests/test_pack.py); the ratio is numpy time / numba time,
    measured in this one run.
    """
    import numpy as np

    from livehdr import color
    from livehdr.color import pack

    levels = color.ReferenceLevels()
    rel = (np.random.default_rng(0).random((height, width, 3), dtype=np.float32) ** 2 * levels.headroom)
    y = np.empty((height, width), np.uint16)
    u = np.empty((height // 2, width // 2), np.uint16)
    v = np.empty_like(u)
    weights = np.asarray(color.WEIGHTS_BT2020, np.float32)

    def yuv_numpy():
        code = color.encode_PQ_BT2020(rel, levels)
        luma = code @ weights
        np.clip(np.floor(876 * luma + 64.5), 4, 1019).astype(np.uint16)
        for c, k in ((2, 1.8814), (0, 1.4746)):
            chroma = ((code[..., c] - luma) / k).reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
            np.clip(np.floor(896 * chroma + 512.5), 4, 1019).astype(np.uint16)

    def rgb10a2_numpy():
        q = np.floor(color.encode_PQ_BT2020(rel, levels) * 1023 + 0.5).astype(np.uint32)
        q[..., 0] | (q[..., 1] << 10) | (q[..., 2] << 20) | np.uint32(3 << 30)

    nits = rel * levels.paper_white
    pairs = {
        "yuv420p10": (lambda: pack.relative_to_yuv420p10(rel, y, u, v, levels.paper_white, levels.peak), yuv_numpy),
        "rgb10a2": (lambda: pack.relative_to_rgb10a2(rel, levels.paper_white, levels.peak), rgb10a2_numpy),
        "pq": (lambda: pack.eotf_inverse_ST2084_numba(nits), lambda: color.eotf_inverse_ST2084(nits)),
    }
    out = {}
    for name, (fast, reference) in pairs.items():
        fast()  # compile / load the cache outside the timing
        numba_ms = _median_ms(fast, repeats)
        numpy_ms = _median_ms(reference, max(3, repeats // 2))
        out[name] = {"numba_ms": round(numba_ms, 3), "numpy_ms": round(numpy_ms, 3),
                     "speedup": round(numpy_ms / numba_ms, 2)}
    import numba

    out["numba_threads"] = numba.get_num_threads()
    out["table"] = bench_table(width, height, repeats)
    return out


def bench_table(width: int, height: int, repeats: int = 5, operator: str = "naive") -> dict:
    """The composed table (color/table.py) against today's float path (operator output, then the packing),
    on one demo frame: compose, pack at 1, 2, 4 and 8 numba threads (as many as the machine has), and the
    largest code-value difference of the two paths (dither off)."""
    import numba
    import numpy as np

    from livehdr import color, scenes
    from livehdr.color import pack, table
    from livehdr.operators import OperatorConfig, create_operator

    frame = np.asarray(scenes.demo_frame_sdr(3.0, width, height), dtype=np.uint8)[: height & ~1, : width & ~1]
    h, w = frame.shape[:2]
    op = create_operator(operator, OperatorConfig())
    levels = color.ReferenceLevels().for_content(op.content_peak)
    nodes = op.relative_at_nodes(frame)
    tab = table.compose_table(nodes, levels, "pq")
    rel = op.expand_uint8(frame)

    def planes():
        return np.empty((h, w), np.uint16), np.empty((h // 2, w // 2), np.uint16), np.empty((h // 2, w // 2), np.uint16)

    exact, fast = planes(), planes()
    pack.relative_to_yuv420p10(rel, *exact, levels.paper_white, levels.peak, dither=False,
                               source_peak=levels.source_peak)
    table.table_to_yuv420p10(frame, tab, *fast, dither=False)
    out = {"operator": operator, "size": f"{w}x{h}", "table_size": table.TABLE_SIZE,
           "max_code_difference": max(int(np.abs(a.astype(np.int32) - b).max()) for a, b in zip(exact, fast)),
           "compose_ms": round(_median_ms(lambda: table.compose_table(nodes, levels, "pq"), repeats), 3),
           "threads": {}}
    before = numba.get_num_threads()
    try:
        for n in (1, 2, 4, 8):
            if n > numba.config.NUMBA_NUM_THREADS:
                break
            numba.set_num_threads(n)
            y, u, v = planes()
            out["threads"][str(n)] = {
                "table_pack_ms": round(_median_ms(lambda: table.table_to_yuv420p10(frame, tab, y, u, v), repeats), 3),
                "float_pack_ms": round(_median_ms(lambda: pack.relative_to_yuv420p10(
                    rel, y, u, v, levels.paper_white, levels.peak, source_peak=levels.source_peak), repeats), 3)}
    finally:
        numba.set_num_threads(before)
    return out


# --------------------------------------------------------------------------------------------------------
# Soak: does memory grow with the number of frames? (``--soak N``)
# --------------------------------------------------------------------------------------------------------
SOAK_WARMUP_FRAMES = 500  # allocator pools, numba caches and x265's buffers settle in the first frames


def rss_bytes() -> int:
    """Resident set size now (Linux /proc; elsewhere the peak from getrusage, an upper bound)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def soak(frames: int, width: int, height: int, preset: str, folder: str, every: int = 250) -> dict:
    """``frames`` synthetic frames through the real threaded pipeline (naive operator, libx265 ``preset``),
    RSS sampled every ``every`` frames. Growth per 1,000 frames is the least-squares slope after the warm-up."""
    import numpy as np

    from livehdr.color import ReferenceLevels
    from livehdr.io.hdr10 import HDR10Writer
    from livehdr.io.sources import Source, SourceFrame
    from livehdr.operators import OperatorConfig, create_operator
    from livehdr.pipeline.convert import Conversion, conversion_stage

    pictures = [np.random.default_rng(i).integers(0, 256, (height, width, 3), dtype=np.uint8) for i in range(4)]

    class Frames(Source):
        def __init__(self):
            self.width, self.height, self.fps, self.frame_count, self.time_base = width, height, 30.0, frames, None

        def frames(self):
            for i in range(frames):
                yield SourceFrame(i, i / 30, pictures[i % 4], time.perf_counter(), {}, 1 / 30)

    operator = create_operator("naive", OperatorConfig(levels=ReferenceLevels()))
    writer = HDR10Writer(os.path.join(folder, "soak.mkv"), width, height, operator.levels, fps=30.0,
                         preset=preset, encoder="libx265", overwrite=True)
    samples: list[tuple[int, int]] = [(0, rss_bytes())]

    def progress(done: int) -> None:
        if done - samples[-1][0] >= every:
            samples.append((done, rss_bytes()))

    conversion = Conversion(Frames(), operator, writer, None, conversion_stage(operator, operator.levels))
    t0 = time.perf_counter()
    try:
        conversion.run(progress)
        samples.append((conversion.written, rss_bytes()))  # before finish(): its remux buffers are not growth
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    seconds = time.perf_counter() - t0
    after_finish = rss_bytes()
    settled = [(n, r) for n, r in samples if n >= min(SOAK_WARMUP_FRAMES, frames // 4)]
    slope = 0.0
    if len(settled) >= 2:
        n = np.array([x for x, _ in settled], float)
        r = np.array([y for _, y in settled], float)
        slope = float(np.polyfit(n, r, 1)[0]) * 1000
    return {"frames": conversion.written, "size": f"{width}x{height}", "operator": "naive",
            "encoder": f"libx265 {preset}", "seconds": round(seconds, 1),
            "rss_mb_first": round(samples[0][1] / 1e6, 1), "rss_mb_settled": round(settled[0][1] / 1e6, 1),
            "rss_mb_last": round(samples[-1][1] / 1e6, 1), "rss_mb_after_finish": round(after_finish / 1e6, 1),
            "rss_growth_kb_per_1000_frames": round(slope / 1e3, 1),
            "samples": [[n, round(r / 1e6, 2)] for n, r in samples]}


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def gpu_report(args) -> dict:
    """Issue #25's figures on a CUDA GPU as one JSON object (pipeline/gpu_bench.py; ``goals`` first)."""
    if not cuda_available():
        raise UserError("--gpu needs a CUDA device, and torch sees none")
    from livehdr.pipeline.gpu_bench import gpu_figures

    with tempfile.TemporaryDirectory(prefix="livehdr-gpu-") as folder:
        return gpu_figures(folder, make_test_clip, lambda key, section: print(
            f"livehdr.bench: {key} done: {json.dumps(section)}", file=sys.stderr, flush=True))


def run(argv=None) -> tuple[dict, bool]:
    """Returns (the report, whether --json was asked for)."""
    from livehdr.operators import list_operators

    p = argparse.ArgumentParser(prog="python -m livehdr.bench", description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", default=None,
                   help="only this operator; repeat for several (default: every registered operator)")
    p.add_argument("--precision", choices=("auto", "fp32", "int8", "fp16"), default=None,
                   help="learned models (default: float models fp32, int8 models int8)")
    p.add_argument("--inference-only", action="store_true",
                   help="time only the operators on one frame (start-up, median ms, page faults)")
    p.add_argument("--allocator-compare", action="store_true",
                   help="with --inference-only: also run it with glibc's malloc defaults (the 'before')")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="only this device (default: cpu, plus cuda for learned models when present)")
    p.add_argument("--size", type=parse_size, default=(1920, 1080), metavar="WxH", help="default 1920x1080")
    p.add_argument("--frames", type=int, default=4, help="frames per operator (default 4)")
    p.add_argument("--preset", default="ultrafast", help="x265 preset (default ultrafast)")
    p.add_argument("--vs-ffmpeg", action="store_true",
                   help="also time FFmpeg alone on the same clip (H.264 decode -> libx265, the same preset), before "
                   "and after the operators, and report each operator's fps / FFmpeg's fps")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--kernels-only", action="store_true",
                   help="only time the packing kernels (numba against numpy), no encoding")
    p.add_argument("--soak", type=int, default=None, metavar="N",
                   help="instead: N frames (at --size, default 1920x1080; use e.g. 160x90) through the pipeline "
                   "with the naive operator, reporting RSS growth per 1,000 frames")
    p.add_argument("--gpu", action="store_true",
                   help="instead: issue #25's GPU figures as one JSON (MQNet fp16 at 1080p and 4K, the clut table, "
                   "the whole 4K frame path, a 4K conversion and its bound, start-up, EGL passthrough), each with "
                   "its goal; needs CUDA (scripts/device_check.sh runs it)")
    args = p.parse_args(argv)
    if args.gpu:
        return {"gpu": gpu_report(args)}, args.json
    if args.soak is not None:
        if args.soak < 10:
            raise UserError("--soak needs at least 10 frames")
        with tempfile.TemporaryDirectory(prefix="livehdr-soak-") as folder:
            return {"soak": soak(args.soak, args.size[0] & ~1, args.size[1] & ~1, args.preset, folder)}, args.json
    if args.frames < 2:
        raise UserError("--frames must be at least 2 (fps is measured between frames)")

    entries = list_operators()
    if args.model is not None:
        by_name = {e.name: e for e in entries}
        unknown = [m for m in args.model if m not in by_name]
        if unknown:
            raise UserError(f"unknown model {unknown[0]!r}; available: {', '.join(by_name)}")
        entries = [by_name[m] for m in dict.fromkeys(args.model)]
    has_cuda = cuda_available()
    if args.device == "cuda" and not has_cuda:
        raise UserError("--device cuda: no CUDA device here")
    width, height = args.size
    if args.inference_only:
        return inference_report(args, entries, has_cuda, argv), args.json
    report = {"size": f"{width}x{height}", "cpu_count": os.cpu_count(), "cuda": has_cuda,
              "malloc": keep_freed_memory(), "kernels": bench_kernels(width, height)}
    print("livehdr.bench: kernels done", file=sys.stderr)
    if args.kernels_only:
        return report, args.json
    results = []
    with tempfile.TemporaryDirectory(prefix="livehdr-bench-") as folder:
        clip = make_test_clip(os.path.join(folder, "input.mp4"), width, height, args.frames)
        ffmpeg_runs = [bench_ffmpeg(clip, folder, args.frames, args.preset)] if args.vs_ffmpeg else []
        for entry in entries:
            devices = [args.device] if args.device else (["cpu", "cuda"] if entry.learned and has_cuda else ["cpu"])
            for device in devices:
                try:
                    precision = args.precision or default_precision(entry.name)
                    results.append(bench_operator(entry.name, device, clip, folder, args.frames, args.preset,
                                                  precision))
                except UserError as e:  # e.g. a learned model without weights: report it, bench the rest
                    results.append({"model": entry.name, "device": device, "error": str(e)})
                print(f"livehdr.bench: {entry.name} on {device} done", file=sys.stderr)
        if args.vs_ffmpeg:
            ffmpeg_runs.append(bench_ffmpeg(clip, folder, args.frames, args.preset))
    report.update({"frames": args.frames, "encoder": "libx265", "preset": args.preset, "results": results})
    if args.vs_ffmpeg:
        report["ffmpeg"] = vs_ffmpeg(ffmpeg_runs, results)
    return report, args.json


def vs_ffmpeg(runs: list[dict], results: list[dict]) -> dict:
    """FFmpeg's fps as the mean of its runs before and after the operators (a shared machine drifts), and
    ``vs_ffmpeg`` = operator fps / that in each result."""
    rates = [r["fps"] for r in runs if r["fps"]]
    fps = sum(rates) / len(rates) if rates else None
    for r in results:
        if r.get("fps") and fps:
            r["vs_ffmpeg"] = round(r["fps"] / fps, 3)
    return {"fps": round(fps, 3) if fps else None, "runs": runs, "how": runs[0]["how"] if runs else None}


def inference_report(args, entries, has_cuda: bool, argv) -> dict:
    import torch

    width, height = args.size
    report = {"size": f"{width}x{height}", "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
              "cuda": has_cuda, "malloc": keep_freed_memory(), "inference": []}
    for entry in entries:
        devices = [args.device] if args.device else (["cpu", "cuda"] if entry.learned and has_cuda else ["cpu"])
        for device in devices:
            precision = args.precision or default_precision(entry.name)
            try:
                report["inference"].append(bench_inference(entry.name, device, width, height, args.frames, precision))
            except UserError as e:
                report["inference"].append({"model": entry.name, "device": device, "error": str(e)})
            print(f"livehdr.bench: {entry.name} on {device} done", file=sys.stderr)
    timed = [r for r in report["inference"] if "median_ms" in r]
    if timed:
        first = timed[0]
        report["speed_vs_first"] = {f"{r['model']}/{r['device']}": round(first["median_ms"] / r["median_ms"], 2)
                                    for r in timed}
    if args.allocator_compare:
        child = [a for a in (argv if argv is not None else sys.argv[1:]) if a not in ("--allocator-compare", "--json")]
        child.append("--json")  # the child reports to this process, whatever this one prints
        before = allocator_before(child)
        pairs = []
        for b, a in zip(before["inference"], report["inference"]):
            if "median_ms" in a and "median_ms" in b:
                pairs.append({"model": a["model"], "device": a["device"], "before_ms": b["median_ms"],
                              "after_ms": a["median_ms"], "speedup": round(b["median_ms"] / a["median_ms"], 2),
                              "before_faults_per_frame": b["minor_faults_per_frame"],
                              "after_faults_per_frame": a["minor_faults_per_frame"],
                              "faults_after_over_before": round(a["minor_faults_per_frame"]
                                                                / max(1, b["minor_faults_per_frame"]), 5)})
        report["allocator"] = {"before": before["malloc"], "after": report["malloc"], "models": pairs}
    return report


def main(argv=None) -> int:
    keep_freed_memory()  # before any tensor (docs/BENCHMARKS.md: the allocator fix)
    try:
        report, want_json = run(argv)
    except UserError as e:
        print(f"livehdr: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    if want_json:
        print(json.dumps(report))
    elif "soak" in report:
        r = report["soak"]
        print(f"soak: {r['frames']} frames at {r['size']} in {r['seconds']} s; RSS {r['rss_mb_first']} -> "
              f"{r['rss_mb_settled']} (settled) -> {r['rss_mb_last']} MB; growth "
              f"{r['rss_growth_kb_per_1000_frames']} kB per 1,000 frames")
    else:
        for name, k in report.get("kernels", {}).items():
            if isinstance(k, dict) and "numba_ms" in k:  # not the "table" entry (bench_table): JSON only
                print(f"kernel {name:<10} numba {k['numba_ms']:7.2f} ms  numpy {k['numpy_ms']:7.2f} ms  "
                      f"x{k['speedup']:.1f}")
        for r in report.get("inference", []):
            if "error" in r:
                print(f"{r['model']:<12} {r['device']:<4} skipped: {r['error']}")
                continue
            print(f"{r['model']:<12} {r['device']:<4} {r['precision'] or '':<5} {r['median_ms']:8.1f} ms/frame  "
                  f"start-up {r['startup_to_first_frame_s']:.2f} s  faults/frame {r['minor_faults_per_frame']}")
        for r in (report.get("allocator") or {}).get("models", []):
            print(f"allocator {r['model']}: {r['before_ms']:.0f} -> {r['after_ms']:.0f} ms (x{r['speedup']}), "
                  f"faults/frame {r['before_faults_per_frame']} -> {r['after_faults_per_frame']}")
        for r in report.get("results", []):
            if "error" in r:
                print(f"{r['model']:<12} {r['device']:<4} skipped: {r['error']}")
                continue
            stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stages_ms"].items())
            ratio = f"   {r['vs_ffmpeg']:.2f} x ffmpeg" if "vs_ffmpeg" in r else ""
            print(f"{r['model']:<12} {r['device']:<4} {r['fps'] or 0:6.2f} fps{ratio}   ms: {stages}")
        if report.get("ffmpeg"):
            f = report["ffmpeg"]
            starts = ", ".join(f"{r['startup_s']:.2f}" for r in f["runs"] if r["startup_s"] is not None)
            print(f"ffmpeg alone {f['fps'] or 0:6.2f} fps (mean of {len(f['runs'])} runs; start-up {starts} s, "
                  f"not counted): {f['how']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
