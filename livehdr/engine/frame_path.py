"""The whole frame on the device (issue #13): one upload of the 8-bit frame, the model, the packing, one
download of the 10-bit planes.

On CUDA:
- the host side of each transfer is a pinned buffer, so both copies are asynchronous;
- frames alternate between two slots, each with its own stream and buffers, so frame n+1's upload and
  model overlap frame n's packing and download (``submit`` returns at once, ``Pending.result`` waits);
- the model runs as a CUDA graph captured once per frame size and slot (``GraphedModel``): an MQNet-class
  U-Net is hundreds of small kernels, and replaying a graph launches them all at once instead of one
  Python call each.

On the CPU the same code runs synchronously (no pinned memory, no graphs), which is what CI tests: the
planes equal the numba packing of the operator's own output to +-1 code value.

NOT YET MEASURED ON A GPU: no device was lent to the sessions that wrote this (docs/BENCHMARKS.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from livehdr.engine.device_pack import relative_to_yuv420p10_torch


class GraphedModel:
    """``fn(x)`` replayed from a CUDA graph per input shape; eager on the CPU or when capture fails."""

    WARMUP = 3  # cuDNN picks its algorithms and the caching allocator settles before capture

    def __init__(self, fn, device: torch.device, enabled: bool = True):
        self.fn = fn
        self.device = device
        self.enabled = enabled and device.type == "cuda"
        self._graphs: dict = {}
        self.capture_error: str | None = None

    def __call__(self, x: torch.Tensor, key=None) -> torch.Tensor:
        if not self.enabled:
            return self.fn(x)
        slot = (tuple(x.shape), x.dtype, key)
        if slot not in self._graphs:
            try:
                self._graphs[slot] = self._capture(x)
            except RuntimeError as e:  # an op that cannot be captured: stay eager, say why once
                self.enabled = False
                self.capture_error = str(e).splitlines()[0]
                return self.fn(x)
        graph, static_in, static_out = self._graphs[slot]
        static_in.copy_(x)
        graph.replay()
        return static_out

    def _capture(self, x: torch.Tensor):
        static_in = x.clone()
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(self.WARMUP):
                self.fn(static_in)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: the pipeline's other threads (the writer packing the previous frame) keep running
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            static_out = self.fn(static_in)
        return graph, static_in, static_out


@dataclass
class Planes:
    """One packed frame on the host: 10-bit BT.2100 limited-range 4:2:0 planes and its light statistics."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    max_cll: float
    frame_average: float


class Pending:
    """A frame in flight; ``result()`` waits for its download."""

    def __init__(self, event, host: tuple, stats: tuple):
        self._event, self._host, self._stats = event, host, stats

    def result(self) -> Planes:
        if self._event is not None:
            self._event.synchronize()
        y, u, v = (t.numpy().view(np.uint16) for t in self._host)
        cll, fall = (float(s) for s in self._stats)
        return Planes(y, u, v, cll, fall)


class DeviceFramePath:
    """uint8 RGB frames (H x W x 3, H and W even) -> ``Planes``, with ``model(code) -> relative light``
    (N x 3 x H x W in, N x 3 x H x W out) running on ``device`` in ``dtype``."""

    SLOTS = 2

    def __init__(self, model, device, paper_white: float, peak: float, *, hlg: bool = False,
                 source_peak: float | None = None, dtype=torch.float32, use_graphs: bool = True):
        self.device = torch.device(device)
        self.on_cuda = self.device.type == "cuda"
        self.dtype = dtype
        self.encoding = dict(paper_white=float(paper_white), peak=float(peak), hlg=bool(hlg),
                             source_peak=source_peak)
        self.model = GraphedModel(model, self.device, enabled=use_graphs)
        self._streams = [torch.cuda.Stream(self.device) for _ in range(self.SLOTS)] if self.on_cuda else []
        self._buffers: dict = {}
        self._next = 0

    def _host_buffers(self, slot: int, h: int, w: int):
        key = (slot, h, w)
        if key not in self._buffers:
            pin = self.on_cuda
            frame = torch.empty((h, w, 3), dtype=torch.uint8, pin_memory=pin)
            planes = tuple(torch.empty(shape, dtype=torch.int16, pin_memory=pin)
                           for shape in ((h, w), (h // 2, w // 2), (h // 2, w // 2)))
            stats = tuple(torch.empty((), dtype=torch.float32, pin_memory=pin) for _ in range(2))
            self._buffers[key] = (frame, planes, stats)
        return self._buffers[key]

    def submit(self, frame_u8: np.ndarray, seed: int = 0) -> Pending:
        h, w = frame_u8.shape[:2]
        if h % 2 or w % 2 or frame_u8.ndim != 3 or frame_u8.shape[2] != 3:
            raise ValueError(f"expected an even-sized H x W x 3 uint8 frame, got {frame_u8.shape}")
        slot = self._next
        self._next = (self._next + 1) % self.SLOTS
        host_frame, host_planes, host_stats = self._host_buffers(slot, h, w)
        if not self.on_cuda:
            planes, stats = self._run(torch.from_numpy(np.ascontiguousarray(frame_u8)), slot, seed)
            return Pending(None, tuple(p.contiguous() for p in planes), stats)
        stream = self._streams[slot]
        # The slot's previous frame must have left its host buffers before they are refilled.
        stream.synchronize()
        host_frame.numpy()[...] = frame_u8
        with torch.cuda.stream(stream):
            planes, stats = self._run(host_frame.to(self.device, non_blocking=True), slot, seed)
            for dst, src in zip(host_planes + host_stats, planes + stats):
                dst.copy_(src, non_blocking=True)
            done = torch.cuda.Event()
            done.record(stream)
        return Pending(done, host_planes, host_stats)

    def _run(self, frame: torch.Tensor, slot: int, seed: int):
        with torch.inference_mode():
            code = frame.permute(2, 0, 1)[None].to(self.dtype).mul_(1.0 / 255.0)
            if self.on_cuda:
                code = code.contiguous(memory_format=torch.channels_last)
            rel = self.model(code, key=slot).float()
            y, u, v, cll, fall = relative_to_yuv420p10_torch(rel[0], seed=seed, **self.encoding)
        return (y, u, v), (cll.float(), fall.float())

    def planes(self, frame_u8: np.ndarray, seed: int = 0) -> Planes:
        """Synchronous convenience: one frame in, its planes out."""
        return self.submit(frame_u8, seed).result()
