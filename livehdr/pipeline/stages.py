"""What both pipelines share: per-stage timings, the operator call, frame helpers, stoppable queue moves."""
from __future__ import annotations

from collections import deque
import queue
import threading

import numpy as np

STAGES = ("decode", "to_rgb", "infer", "pack", "encode")
END = object()  # end-of-stream marker in the queues


class StageTimes:
    """Recent per-stage durations (ms); bounded so a long run does not grow memory."""

    def __init__(self, keep: int = 1024):
        self._lock = threading.Lock()
        self._times: dict[str, deque] = {}
        self._keep = keep

    def add(self, stage: str, ms: float) -> None:
        with self._lock:
            self._times.setdefault(stage, deque(maxlen=self._keep)).append(ms)

    def medians(self) -> dict[str, float]:
        with self._lock:
            return {k: float(np.median(v)) for k, v in self._times.items() if v}


def apply_operator(operator, rgb: np.ndarray) -> np.ndarray:
    """uint8 or float code values -> float32 operator output (linear BT.709 relative to paper white)."""
    if rgb.dtype == np.uint8:
        return operator.expand_uint8(rgb)
    return np.asarray(operator(rgb), dtype=np.float32)


def applies_lut(operator) -> bool:
    """LUT operators (issue #11) compute one small 3D LUT per frame; the sink applies it to the pixels."""
    return bool(getattr(operator, "applies_lut", False))


def operator_output(operator, rgb: np.ndarray):
    """What a sink gets for one frame: the float output, or for LUT operators a ``LutFrame`` (the frame and
    its LUT; the file writer applies it inside its packing kernel, the window in its shader)."""
    if applies_lut(operator):
        from livehdr.color.lut3d import LutFrame

        return LutFrame(rgb, operator.lut_for_frame(to_uint8(rgb)))
    return apply_operator(operator, rgb)


class TableComposer:
    """The per-frame table of a pointwise operator for one sink (``color.table``): the operator at the nodes,
    composed with the sink's display encoding. Stateless operators are composed once (until the operator or
    the levels change); adaptive ones (LUT models) every frame, from their frame's LUT."""

    def __init__(self, levels, target: str):
        self.levels, self.target = levels, target
        self._static = None  # (operator, levels, table) of the last stateless operator

    def table(self, operator, rgb_u8: np.ndarray) -> np.ndarray:
        return self._compose(operator, rgb_u8)[0]

    def _compose(self, operator, rgb_u8: np.ndarray):
        """(table, the operator at the nodes, levels) for this frame."""
        from livehdr.color.table import compose_table

        levels = self.levels.for_content(getattr(operator, "content_peak", None))
        if applies_lut(operator):
            relative = operator.relative_at_nodes(rgb_u8)
            return compose_table(relative, levels, self.target), relative, levels
        if self._static is None or self._static[0] is not operator or self._static[1] != levels:
            relative = operator.relative_at_nodes(rgb_u8)
            self._static = (operator, levels, compose_table(relative, levels, self.target), relative)
        return self._static[2], self._static[3], levels

    def frame(self, operator, rgb: np.ndarray):
        """A ``TableFrame`` for uint8 frames of pointwise operators, else the ordinary ``operator_output``
        (> 8-bit sources keep the float path: the table is indexed by 8-bit codes). An operator with a
        highlight stage adds this frame's field (computed after the table: it reads the frame's white)."""
        from livehdr.color.table import HighlightField, TableFrame

        if not getattr(operator, "pointwise", False) or rgb.dtype != np.uint8:
            return operator_output(operator, rgb)
        table, relative, levels = self._compose(operator, rgb)
        stage = getattr(operator, "highlight", None)
        if stage is None:
            return TableFrame(rgb, table, self.target)
        field = operator.highlight_field(rgb)
        if field is None:  # the temporal state followed; nothing to gain on this frame
            return TableFrame(rgb, table, self.target)
        return TableFrame(rgb, table, self.target,
                          HighlightField(field, relative, levels, self.target, operator.max_relative))


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return rgb
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def even_crop(rgb: np.ndarray) -> np.ndarray:
    """HEVC 4:2:0 needs even sizes: drop the last row / column of odd-sized frames (docs/VIDEO.md)."""
    h, w = rgb.shape[:2]
    return rgb[: h & ~1, : w & ~1] if (h | w) & 1 else rgb


def put_or_stop(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Blocking put that gives up when ``stop`` is set (so no thread hangs on a full queue)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def get_or_end(q: queue.Queue, stop: threading.Event):
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    return END
