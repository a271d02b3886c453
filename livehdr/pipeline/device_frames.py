"""The operator stage of the pipelines on the chosen frame path (issue #25, ``engine/frame_path_choice.py``).

- ``cpu``: what ``stages.TableComposer.frame`` gives (a pointwise operator's ``TableFrame``, else the numpy
  output or a ``LutFrame``), packed by numba in the writer;
- ``cuda`` / ``torch-cpu``: the decoded frame is uploaded once (pinned on CUDA); a pointwise operator's composed
  table goes with it (a LUT operator's is composed on the device each frame) and is applied there when the
  writer packs the ``DeviceTableFrame``; any other operator runs in torch on the device (its network from a
  CUDA graph on CUDA) and the writer packs the ``DeviceFrame`` there. Either way one download of the 10-bit
  planes goes into the encoder's frame (``engine/device_frame.py``). ``WindowStage`` is the live window's twin.

Both paths take the same operator calls in the same order, so temporal state (the learned operators' head
maps, the LUT operators' basis weights, the highlight stage's field) evolves alike, and the planes agree to +-1
code value. An operator's highlight stage (issue #23) is called once per frame after its table, as
``TableComposer.frame`` does, from the frame's cell sums computed on the device; the field goes with the frame
(``engine.device_table.DeviceHighlight``) and the gained pixels are encoded when the writer packs it.
"""
from __future__ import annotations

import threading

import numpy as np

from livehdr.base.log import say
from livehdr.engine.frame_path_choice import choose_frame_path, describe, torch_device
from livehdr.pipeline.stages import applies_lut, apply_operator, operator_output, to_uint8

_REPORTED: set[str] = set()
_REPORT_LOCK = threading.Lock()


def operator_device_setting(operator) -> str:
    """Where the operator runs: its resolved torch device (learned models), else its --device setting."""
    device = getattr(operator, "device", None)
    kind = getattr(device, "type", None)
    if kind is not None:
        return str(kind)
    config = getattr(operator, "config", None)
    return str(getattr(config, "device", "auto"))


def frame_path_for(operator) -> str:
    """'cuda', 'torch-cpu' or 'cpu' for this operator (the one decision: ``choose_frame_path``)."""
    return choose_frame_path(operator_device_setting(operator))


def graphable_network(operator):
    """A learned per-pixel model's network call (``model.log2_gain``: a pure function of its padded input,
    hundreds of small kernels), which the CUDA path replays from a CUDA graph per frame size; else None.
    The temporal stage and ``finish`` around it stay eager: they keep state between frames."""
    return getattr(getattr(operator, "model", None), "log2_gain", None)


def use_cuda_graphs(operator, device) -> bool:
    """CUDA only: route the operator's network through ``engine.frame_path.GraphedModel`` (once per operator;
    a capture that fails falls back to eager and says why in ``capture_error``). True when it is graphed."""
    from livehdr.engine.frame_path import GraphedModel

    net = graphable_network(operator)
    if net is None or getattr(device, "type", str(device)) != "cuda":
        return False
    if not isinstance(net, GraphedModel):
        operator.model.log2_gain = GraphedModel(net, device)
    return True


def packer_threads() -> int:
    """The numba threads the file writer's packer runs on (``pack.share_cores_in_this_thread`` at its default
    share of the cores), for the start-up line."""
    import numba

    from livehdr.color import pack

    (fraction,) = pack.share_cores_in_this_thread.__defaults__
    return max(1, int(numba.config.NUMBA_NUM_THREADS * fraction))


def frame_path_line(kind: str, operator, source=None) -> str:
    return describe(kind, nvdec=getattr(source, "hwaccel", None) == "cuda", threads=packer_threads(),
                    precision=getattr(operator, "precision", None) if kind == "cuda" else None,
                    graphs=kind == "cuda" and graphable_network(operator) is not None)


def report_frame_path(line: str) -> None:
    """The start-up line ('livehdr: frame path: ...') on stderr, once per process for each distinct path
    (a folder of files converts every file on the same path)."""
    with _REPORT_LOCK:
        if line in _REPORTED:
            return
        _REPORTED.add(line)
    say(line)


class DeviceStage:
    """``stage(code_values)``: one frame through the operator on the torch device -> a ``DeviceFrame`` (the
    operator's light) or, for pointwise operators with a ``composer`` (``stages.TableComposer``) and 8-bit
    frames, a ``DeviceTableFrame`` (the frame's composed table, applied on the device when packed)."""

    def __init__(self, operator, kind: str, composer=None):
        import torch

        from livehdr.engine.device_frame import Uploader

        self.operator = operator
        self.composer = composer
        self.device = torch.device(torch_device(kind))
        self.upload = Uploader(self.device)
        self.graphs = use_cuda_graphs(operator, self.device)
        self._torch = torch
        # (host table, its device copy, the operator at the nodes on the device or None): a stateless
        # operator's table is reused until the composer gives a new one
        self._table = (None, None, None)

    def _device_table(self, table):
        if self._table[0] is not table:
            self._table = (table, self._torch.from_numpy(table).to(self.device), None)
        return self._table[1]

    def _lut_nodes(self, op, rgb):
        """This frame's LUT (the thumbnail CNN; updates the operator's temporal state) at the table's nodes,
        1 x 3 x D x D*D on the device."""
        from livehdr.engine.device_table import nodes_torch
        from livehdr.models.clut import apply_lut_torch

        lut = self._torch.from_numpy(op.lut_for_frame(rgb)).to(self.device)[None]
        return apply_lut_torch(nodes_torch(self.device), lut)

    def _lut_table(self, op, rgb):
        """This frame's table for a LUT operator, composed on the device: its LUT sampled at the table's
        nodes, then the display encoding (``engine.device_table.compose_table_torch``)."""
        return self._compose_on_device(self._lut_nodes(op, rgb))

    def _compose_on_device(self, relative):
        from livehdr.engine.device_table import compose_table_torch

        return compose_table_torch(relative, self._levels(), self.composer.target)

    def _levels(self):
        return self.composer.levels.for_content(getattr(self.operator, "content_peak", None))

    def table(self, rgb):
        """A pointwise operator's table for this uint8 frame, on the device (as ``TableComposer.table``; a LUT
        operator's table changes every frame and is composed here on the device)."""
        if applies_lut(self.operator):
            return self._lut_table(self.operator, rgb)
        return self._device_table(self.composer.table(self.operator, rgb))

    def _table_and_nodes(self, rgb):
        """(table, the operator at the nodes as (D, D, D, 3)) on the device, for an operator with a highlight
        stage (whose gained pixels are encoded from the operator's own light)."""
        if applies_lut(self.operator):
            relative = self._lut_nodes(self.operator, rgb)
            n = relative.shape[2]
            return self._compose_on_device(relative), relative[0].permute(1, 2, 0).reshape(n, n, n, 3)
        table = self.table(rgb)
        if self._table[2] is None:  # the same array the composer composed (stateless: cached by the operator)
            nodes = self._torch.from_numpy(np.asarray(self.operator.relative_at_nodes(rgb), np.float32)).to(self.device)
            self._table = (*self._table[:2], nodes)
        return table, self._table[2]

    def _highlight(self, frame_u8, relative):
        """This frame's ``DeviceHighlight`` (None for a field of zeros), as ``TableComposer.frame`` builds its
        ``HighlightField``: the stage is called once per frame, after the table (it reads the frame's white),
        with the same cell sums, computed on the device (only the small grid comes to the host for the MLP
        and the smoothing)."""
        from livehdr.color.highlight import cell_sums_torch
        from livehdr.engine.device_table import DeviceHighlight

        op = self.operator
        field = op.highlight_field(sums=cell_sums_torch(frame_u8.permute(2, 0, 1)[None]).cpu().numpy())
        if field is None:  # the temporal state followed; nothing to gain on this frame
            return None
        return DeviceHighlight(self._torch.from_numpy(field).to(self.device), relative, self._levels(),
                               self.composer.target, float(op.max_relative))

    def _table_frame(self, rgb):
        from livehdr.engine.device_frame import DeviceTableFrame

        target = self.composer.target
        if getattr(self.operator, "highlight", None) is None:
            return DeviceTableFrame(self.upload.raw(rgb), self.table(rgb), target)
        table, relative = self._table_and_nodes(rgb)
        frame_u8 = self.upload.raw(rgb)
        return DeviceTableFrame(frame_u8, table, target, self._highlight(frame_u8, relative))

    def __call__(self, rgb):
        from livehdr.engine.device_frame import DeviceFrame
        from livehdr.models.clut import apply_lut_torch

        torch = self._torch
        op = self.operator
        with torch.inference_mode():
            if self.composer is not None and getattr(op, "pointwise", False) and rgb.dtype == np.uint8:
                return self._table_frame(rgb)
            code = self.upload(rgb)
            if applies_lut(op):
                lut = op.lut_for_frame(to_uint8(rgb))  # the same call as the numba path's LutFrame
                rel = apply_lut_torch(code, torch.from_numpy(lut).to(self.device)[None])
            else:
                rel = op(code)
            return DeviceFrame(rel.float())


def frame_stage(operator, kind: str, composer=None):
    """The operator call the pipelines make per frame on frame path ``kind``: on numba the composer's
    ``TableFrame`` (pointwise operators, 8-bit frames) or ``operator_output``; on torch a ``DeviceStage``."""
    if kind == "cpu":
        if composer is not None:
            return lambda rgb: composer.frame(operator, rgb)
        return lambda rgb: operator_output(operator, rgb)
    return DeviceStage(operator, kind, composer)


class WindowStage:
    """The live window's operator call for operators its shader cannot run (learned per-pixel models): H x W x 3
    code values -> H x W x 3 float32 relative light on the host, which the renderer uploads to its texture.

    On the torch path the frame goes up as uint8 (3 bytes a pixel instead of a float frame's 12), the
    operator runs on the device, and the light comes down in one copy; on ``cpu`` it is ``apply_operator``."""

    def __init__(self, operator, kind: str):
        self.operator, self.kind = operator, kind
        if kind != "cpu":
            import torch

            from livehdr.engine.device_frame import Uploader

            self.upload = Uploader(torch.device(torch_device(kind)))
            use_cuda_graphs(operator, self.upload.device)

    def __call__(self, rgb):
        if self.kind == "cpu":
            return apply_operator(self.operator, rgb)
        import torch

        from livehdr.engine.device_frame import download_relative

        with torch.inference_mode():
            return download_relative(self.operator(self.upload(rgb)))
