"""One frame on the torch device path (issue #25): the upload of the decoded frame, and the operator's output
packed on the device with one download of the 10-bit planes straight into the encoder's frame.

The CUDA-only parts are the small functions at the top (pinned host memory, the event that guards a pinned
buffer's reuse, the asynchronous copies); everything else is the same code on torch's CPU backend, which is
what CI runs (``LIVEHDR_FRAME_PATH=torch-cpu``).
"""
from __future__ import annotations

import threading

import numpy as np
import torch

from livehdr.engine.device_pack import relative_to_yuv420p10_torch


# ---- CUDA-only ---------------------------------------------------------------------------------------------
def _host_empty(shape, dtype, device: torch.device) -> torch.Tensor:
    """A host buffer for copies to / from ``device``: pinned for a GPU (asynchronous copies)."""
    return torch.empty(shape, dtype=dtype, pin_memory=device.type == "cuda")


def _copy_done(device: torch.device):
    """An event marking the copies queued so far (None on the CPU, where copies are done when they return)."""
    if device.type != "cuda":
        return None
    event = torch.cuda.Event()
    event.record()
    return event


def _wait(event) -> None:
    if event is not None:
        event.synchronize()


_LOCAL = threading.local()


def _download_buffer(numel: int, device: torch.device) -> torch.Tensor:
    """This thread's pinned int16 buffer for one frame's planes (pinning memory per frame would cost more
    than the copy)."""
    cache = getattr(_LOCAL, "buffers", None)
    if cache is None:
        cache = _LOCAL.buffers = {}
    if (numel, device) not in cache:
        cache.clear()  # one frame size at a time
        cache[(numel, device)] = _host_empty((numel,), torch.int16, device)
    return cache[(numel, device)]


# ---- upload ------------------------------------------------------------------------------------------------
class Uploader:
    """H x W x 3 code values (uint8, or float32 from > 8-bit sources) -> 1 x 3 x H x W float32 code values in
    [0, 1] on the device. On CUDA through two pinned buffers used in turn: a buffer is refilled only after
    its last copy finished, so the copy of frame n+1 overlaps the work queued for frame n."""

    SLOTS = 2

    def __init__(self, device):
        self.device = torch.device(device)
        self._slots: dict = {}
        self._next = 0

    def __call__(self, frame: np.ndarray) -> torch.Tensor:
        code = self.raw(frame).permute(2, 0, 1)[None].float()
        return code.mul_(1.0 / 255.0) if frame.dtype == np.uint8 else code

    def raw(self, frame: np.ndarray) -> torch.Tensor:
        """The frame as it is (H x W x 3, its own dtype) on the device."""
        frame = np.ascontiguousarray(frame)
        host = torch.from_numpy(frame)
        if self.device.type != "cpu":
            key = (self._next, frame.shape, host.dtype)
            self._next = (self._next + 1) % self.SLOTS
            if key not in self._slots:
                self._slots[key] = [_host_empty(frame.shape, host.dtype, self.device), None]
            slot = self._slots[key]
            _wait(slot[1])  # this buffer's previous copy has left it
            slot[0].copy_(host)
            host = slot[0]
        on_device = host.to(self.device, non_blocking=True)
        if self.device.type != "cpu":
            slot[1] = _copy_done(self.device)
        return on_device


# ---- the packed frame --------------------------------------------------------------------------------------
class DeviceFrame:
    """An operator's output still on its device (3 x H x W float32 relative light, the colour contract).

    The HDR10 writer packs it through ``pack_into`` (it duck-types on that name, as on ``LutFrame``), with
    the dither seed and levels it would give the numba kernel, so either path dithers a frame alike."""

    def __init__(self, relative: torch.Tensor):
        if relative.dim() == 4:
            relative = relative[0]
        self.relative = relative
        self.shape = (int(relative.shape[1]), int(relative.shape[2]), 3)

    def pack_into(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, paper_white: float, peak: float, *,
                  hlg: bool = False, seed: int = 0, source_peak: float | None = None) -> tuple[float, float]:
        """Pack on the device, download once into the uint16 planes ``y``, ``u``, ``v`` (views into the
        encoder's frame are fine). Returns (MaxCLL, frame-average light) in cd/m2, as the numba kernel."""
        with torch.inference_mode():
            packed = relative_to_yuv420p10_torch(self.relative, paper_white, peak, hlg=hlg, seed=seed,
                                                 source_peak=source_peak)
        return download_planes(packed, y, u, v)


class DeviceTableFrame:
    """A pointwise operator's frame on the device: its uint8 code values and the composed table
    (``color/table.py``, target 'pq' or 'hlg'), applied in torch when the writer packs it; ``highlight``: the
    operator's highlight stage for this frame (``engine.device_table.DeviceHighlight``), or None."""

    def __init__(self, code_values: torch.Tensor, table: torch.Tensor, target: str, highlight=None):
        self.code_values, self.table, self.target, self.highlight = code_values, table, target, highlight
        self.shape = tuple(int(n) for n in code_values.shape)

    def pack_into(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, paper_white: float, peak: float, *,
                  hlg: bool = False, seed: int = 0, source_peak: float | None = None) -> tuple[float, float]:
        """As ``DeviceFrame.pack_into``; the levels and transfer are already in the table."""
        from livehdr.engine.device_table import table_to_yuv420p10_torch

        if hlg != (self.target == "hlg"):
            raise ValueError(f"a {self.target!r} table cannot be packed for {'HLG' if hlg else 'PQ'}")
        with torch.inference_mode():
            packed = table_to_yuv420p10_torch(self.code_values, self.table, seed=seed, highlight=self.highlight)
        return download_planes(packed, y, u, v)


def download_planes(packed, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """(Y, U, V int16 planes, MaxCLL, average) on a device -> the uint16 planes ``y``, ``u``, ``v`` (views
    into the encoder's frame are fine) in ONE device-to-host copy; returns the two statistics as floats."""
    py, pu, pv, cll, fall = packed
    with torch.inference_mode():
        stats = torch.stack([cll.float(), fall.float()]).view(torch.int16)  # 2 float32 as 4 int16
        flat = torch.cat([py.reshape(-1), pu.reshape(-1), pv.reshape(-1), stats])
        host = _download_buffer(flat.numel(), flat.device) if flat.device.type != "cpu" else None
        if host is not None:
            host.copy_(flat, non_blocking=True)
            _wait(_copy_done(flat.device))
        words = (host if host is not None else flat).numpy().view(np.uint16)
    start = 0
    for dst in (y, u, v):
        n = dst.shape[0] * dst.shape[1]
        dst[...] = words[start:start + n].reshape(dst.shape)
        start += n
    cll_value, fall_value = words[start:].view(np.float32)
    return float(cll_value), float(fall_value)


def download_relative(relative: torch.Tensor) -> np.ndarray:
    """An operator's output on its device (3 x H x W, or 1 x 3 x H x W) -> H x W x 3 float32 on the host, in one
    copy (for the live window, whose GL texture is filled from host memory: CUDA-GL interop is not reachable
    from moderngl)."""
    if relative.dim() == 4:
        relative = relative[0]
    with torch.inference_mode():
        hwc = relative.float().permute(1, 2, 0).contiguous()
        if hwc.device.type == "cpu":
            return hwc.numpy()
        host = _host_empty(tuple(hwc.shape), torch.float32, hwc.device)
        host.copy_(hwc, non_blocking=True)
        _wait(_copy_done(hwc.device))
        return host.numpy()
