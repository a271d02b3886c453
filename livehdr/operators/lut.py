"""The CLUT operator: one adaptive 3D LUT per frame (livehdr/models/clut.py), smoothed over time.

Per frame: a 256x256 nearest-neighbour thumbnail (one numpy gather), the tiny CNN on it (torch), the basis
weights smoothed over time (``TemporalWeights``), one decompression into the frame's LUT. Applying the LUT is
the caller's business where it can do better than here: the pipelines fuse it with packing (numba) or sample it
as a 3D texture (GLSL); ``expand`` applies it itself for stills and the generic paths.

The LUT (``lut_for_frame``) is the whole operator for the frame's code values: ``--input-gamma 2.2/2.4`` and
``--saturation`` are baked into it (the fields are read at the sRGB code of the same light; saturation is a
linear map of each entry, so it commutes with trilinear interpolation), and it is clamped to
[0, max_relative].  Nothing is done per pixel but the trilinear fetch.
"""
from __future__ import annotations


import numpy as np

from livehdr.base import log
from livehdr.base.errors import UserError
from livehdr.models.weights import load_model
from livehdr.operators.base import OperatorConfig, WeightsOperator, adjust_saturation
from livehdr.operators.highlight import HighlightStage
from livehdr.operators.temporal import frame_smoothing

CUT_BINS = 32


def relative_at_nodes_of_lut(lut: np.ndarray) -> np.ndarray:
    """A LUT (the lut3d contract) sampled at ``color.table.table_nodes()``: exact, the nodes above black are
    the LUT's own, so the composed table keeps its kinks."""
    from livehdr.color.lut3d import apply_lut3d
    from livehdr.color.table import TABLE_SIZE, table_nodes

    nodes = table_nodes()
    flat = apply_lut3d(nodes.reshape(TABLE_SIZE, TABLE_SIZE * TABLE_SIZE, 3), lut)
    return flat.reshape(nodes.shape)


def white_and_knee(lut) -> tuple[np.ndarray, np.ndarray]:
    """A frame's LUT (numpy, or torch on any device) at code (1, 1, 1) and at grey code
    ``color.highlight.APPLY_KNEE``, as the frame's pixels would get them, float64 on the host."""
    from livehdr.color.highlight import APPLY_KNEE

    if not isinstance(lut, np.ndarray) and lut.device.type == "cpu":
        lut = lut.numpy()  # the CPU pipelines apply the LUT with color.lut3d: the same arithmetic here
    if isinstance(lut, np.ndarray):
        from livehdr.color.lut3d import apply_lut3d

        knee = apply_lut3d(np.full((1, 1, 3), APPLY_KNEE, np.float32), lut)[0, 0]
        return np.array(lut[-1, -1, -1], np.float64), np.asarray(knee, np.float64)
    import torch

    from livehdr.models.clut import apply_lut_torch

    grey = torch.full((1, 3, 1, 1), APPLY_KNEE, dtype=lut.dtype, device=lut.device)
    both = torch.stack([lut[-1, -1, -1], apply_lut_torch(grey, lut[None])[0, :, 0, 0]])
    white, knee = both.double().cpu().numpy()
    return white, knee


class TemporalWeights:
    """An EMA on the basis weights that follows real changes at once and resets at scene cuts.

    - Static scene: the thumbnail's mean code value hardly moves (sensor noise averages out over 16384
      samples), so the weights are smoothed with ``smoothing`` (0.8: noise in the weights drops ~3x).
    - Fade or pan: the mean moves by more than ``follow`` per frame and the smoothing falls off as
      exp(-(step / follow)^2), so the LUT follows the picture without lag.
    - Cut: the histogram of the thumbnail's mean channel moves by more than ``cut`` (total variation,
      0..1): the history is dropped and the new frame's weights are used as they are.
    """

    def __init__(self, smoothing: float = 0.8, follow: float = 0.002, cut: float = 0.3):
        self.smoothing, self.follow, self.cut = float(smoothing), float(follow), float(cut)
        self.reset()

    def reset(self) -> None:
        self.weights = None
        self.hist = None
        self.mean = None
        self.last_event = "reset"

    def update(self, weights, thumb: np.ndarray):
        """``weights``: this frame's raw basis weights (torch, 1 x N); ``thumb``: its 256 x 256 x 3 float
        thumbnail. Returns the weights to build this frame's LUT from."""
        grey = thumb[::2, ::2].mean(axis=2)  # 16384 samples are plenty for a mean and a 32-bin histogram
        hist = np.bincount(np.minimum((grey * CUT_BINS).astype(np.int64), CUT_BINS - 1).ravel(),
                           minlength=CUT_BINS) / grey.size
        mean = float(grey.mean())
        fresh = self.weights is None
        alpha, self.last_event = frame_smoothing(
            self.smoothing, self.follow, None if fresh else mean - self.mean,
            not fresh and 0.5 * float(np.abs(hist - self.hist).sum()) > self.cut)
        self.weights = weights if alpha == 0.0 else alpha * self.weights + (1.0 - alpha) * weights
        self.hist, self.mean = hist, mean
        return self.weights


class LUTOperator(WeightsOperator):
    """A shipped ``clut`` model as an operator (see the module docstring)."""

    applies_lut = True  # the pipelines ask for lut_for_frame and apply it themselves
    pointwise = True  # per frame: the LUT is the whole operator for the frame's code values
    kind = "learned 3D LUT"

    def __init__(self, config: OperatorConfig, name: str, weights_path: str):
        super().__init__(config, name, weights_path)
        import torch

        if config.precision in ("int8", "fp16"):
            log.note(f"{name}: --precision {config.precision} ignored; the thumbnail CNN is tiny and runs in fp32")
        self.model = load_model(weights_path, expect_arch="clut").to(self.device)
        self.temporal = TemporalWeights()
        self.fast = None  # the CPU forward (models/clut_fast.py): the same numbers, a fraction of the time
        if str(self.device) == "cpu":
            from livehdr.models.clut_fast import FastCLUT

            self.fast = FastCLUT(self.model)
        self._torch = torch
        # Two stages the weights may carry: the blind LUT's own, level-free (it shapes each clipped region
        # and keeps the LUT's level, docs/HIGHLIGHTS.md), and the known source curves' (operators/source_curve.py).
        self.highlight = HighlightStage.from_model(self.model, "auto")
        self.known_curve_highlight = HighlightStage.from_model(self.model, "known")
        self._white = self._knee = np.ones(3)

    def white_relative(self) -> np.ndarray:
        """The current frame's LUT at code (1, 1, 1) (the highlight stage's conditioning)."""
        return self._white

    def knee_relative(self) -> np.ndarray:
        """The current frame's LUT at grey code ``APPLY_KNEE`` (the level-free highlight field's floor)."""
        return self._knee

    @property
    def lut_size(self) -> int:
        return self.model.lut_size

    def reset(self) -> None:
        super().reset()
        self.temporal.reset()

    # ---- the LUT ------------------------------------------------------------------------------------
    def lut_for_frame(self, frame: np.ndarray) -> np.ndarray:
        """H x W x 3 uint8 RGB (or float code values in [0, 1]) -> this frame's (D, D, D, 3) float32 LUT."""
        from livehdr.models.clut import thumbnail_numpy

        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
            raise UserError(f"{self.name}: expected an H x W x 3 RGB frame, got {getattr(frame, 'shape', frame)}")
        if self.fast is not None and frame.dtype == np.uint8:
            return self.lut_for_thumbnail(self.fast.thumbnail(frame))  # the same bits, one numba gather
        return self.lut_for_thumbnail(thumbnail_numpy(frame))

    def relative_at_nodes(self, frame: np.ndarray) -> np.ndarray:
        """This frame's LUT at the composed table's nodes (``color.table``); updates the temporal state."""
        return relative_at_nodes_of_lut(self.lut_for_frame(frame))

    def lut_for_thumbnail(self, thumb: np.ndarray) -> np.ndarray:
        """A small H x W x 3 RGB image of the frame (uint8 or float code values; resampled to 256x256 when it
        is another size) -> the frame's LUT. Updates the temporal state."""
        lut = self._lut_tensor(self._thumbnail(thumb)).cpu().numpy()
        if self.config.saturation != 1.0:  # a linear map of each entry: it commutes with the trilinear fetch
            lut = np.clip(adjust_saturation(lut, self.config.saturation), 0.0, self.max_relative)
        return np.ascontiguousarray(lut, dtype=np.float32)

    def _thumbnail(self, thumb: np.ndarray) -> np.ndarray:
        from livehdr.models.clut import THUMBNAIL, thumbnail_numpy

        if thumb.shape[:2] != (THUMBNAIL, THUMBNAIL) or thumb.dtype != np.float32:
            thumb = thumbnail_numpy(thumb)
        return thumb

    def _lut_tensor(self, thumb: np.ndarray):
        """256 x 256 x 3 float32 thumbnail -> D x D x D x 3 torch LUT on the model's device."""
        torch = self._torch
        if self.fast is not None:
            weights = self.temporal.update(torch.from_numpy(self.fast.basis_weights(thumb)), thumb)
            gamma = self.config.input_gamma
            lut = torch.from_numpy(self.fast.lut_from_fields(self.fast.fields(weights, gamma), self.max_relative,
                                                             gamma))
            self._white, self._knee = white_and_knee(lut)
            return lut
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(thumb)).permute(2, 0, 1)[None].to(self.device)
            weights = self.temporal.update(self.model.basis_weights(x), thumb)
            lut = self.model.lut_from_fields(self.model.fields(weights), self.max_relative,
                                             self.config.input_gamma)[0]
            self._white, self._knee = white_and_knee(lut)
            return lut

    # ---- the generic operator path ---------------------------------------------------------------------
    def expand(self, V):
        """numpy H x W x 3: the LUT through livehdr.color.lut3d (numba); torch N x 3 x H x W: grid_sample on
        the input's device, frames of a batch in order (they update the temporal state in turn).
        Operator.__call__ adds --saturation after, so it is not baked in here."""
        torch = self._torch
        from livehdr.models.clut import apply_lut_torch, thumbnail_numpy, thumbnail_torch

        if not isinstance(V, torch.Tensor):
            from livehdr.color.lut3d import apply_lut3d

            frame = np.asarray(V, dtype=np.float32)
            lut = self._lut_tensor(thumbnail_numpy(frame)).cpu().numpy()
            return apply_lut3d(frame, lut)
        out = []
        with torch.inference_mode():
            x = V.to(self.device, torch.float32)
            for i in range(x.shape[0]):
                thumb = thumbnail_torch(x[i:i + 1])[0].permute(1, 2, 0).cpu().numpy()
                lut = self._lut_tensor(thumb)
                out.append(apply_lut_torch(x[i:i + 1], lut[None]))
        dtype = V.dtype if V.is_floating_point() else torch.float32
        return torch.cat(out).to(V.device, dtype)
