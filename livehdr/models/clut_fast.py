"""The CLUT forward for one frame on the CPU, cheap (issue #21 item 4): the same numbers as
``CLUT.basis_weights`` / ``fields`` / ``lut_from_fields`` (livehdr/models/clut.py, the reference), within
float32 rounding (tests/test_clut_fast.py measures it).

What it does differently, each step measured in docs/CLUT.md ("Where the time goes"):
- the thumbnail is one numba gather from the uint8 frame, and the image statistics one numba pass over it
  (instead of a numpy row-then-column gather and eight torch reductions);
- the convolutions run channels-last (the H x W x 3 thumbnail already is, so there is no copy) under
  ``torch.inference_mode``; the two-layer classifier and the mixing of the compressed bases are small numpy
  products (no torch dispatch for a 100 -> 64 -> 6 MLP);
- everything about the LUT that does not depend on the frame (the nodes' light L, its luminance Y and
  chroma L - Y; for ``--input-gamma`` 2.2 / 2.4 the resampled factors M_s, M_w) is computed once, and the
  LUT itself (tanh, exp2, fit under the top, the luminance running maxima, the clamp) is one numba kernel
  over the 33^3 nodes.
There is nothing to fold: the network has no batch norm, and int8 (torch.ao) was measured slower.
"""
from __future__ import annotations

import numba
import numpy as np
import torch

from livehdr import color
from livehdr.models.clut import (
    CLIP_CODE, HIST_BINS, THUMBNAIL, CLUT, resample_matrix, thumbnail_indices,
)


@numba.njit(cache=True)
def _gather_u8(frame, rows, cols, out):
    scale = np.float32(255.0)
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(cols.shape[0]):
            c = cols[j]
            for k in range(3):
                out[i, j, k] = np.float32(frame[r, c, k]) / scale


@numba.njit(cache=True)
def _statistics(thumb, bins, clip, hist):
    """hist[:bins] += brightest-channel counts; returns (any clipped, all clipped, sum of all values)."""
    any_c = 0
    all_c = 0
    total = 0.0
    fb = np.float32(bins)
    for i in range(thumb.shape[0]):
        for j in range(thumb.shape[1]):
            r, g, b = thumb[i, j, 0], thumb[i, j, 1], thumb[i, j, 2]
            hi = max(r, g, b)
            lo = min(r, g, b)
            k = min(max(int(hi * fb), 0), bins - 1)
            hist[k] += 1.0
            if hi >= clip:
                any_c += 1
            if lo >= clip:
                all_c += 1
            total += np.float64(r) + np.float64(g) + np.float64(b)
    return any_c, all_c, total


@numba.njit(cache=True)
def _build_lut(t, Y, C, w, gmax, cmax, top, out, lum):
    """tanh of the fields t (2, D, D, D) -> out (D, D, D, 3), as CLUT.lut_from_fields (float32 throughout;
    tanh comes in from numpy, whose vectorised tanh is ~50x faster than numba's scalar one)."""
    d = t.shape[1]
    one = np.float32(1.0)
    tiny = np.float32(1e-12)
    for b in range(d):
        for g in range(d):
            for r in range(d):
                scale = np.exp2(gmax * t[0, b, g, r])
                chroma = one + cmax * t[1, b, g, r]
                y = Y[b, g, r]
                hi = np.float32(0.0)
                for k in range(3):
                    e = max(scale * (y + chroma * C[b, g, r, k]), np.float32(0.0))
                    out[b, g, r, k] = e
                    hi = max(hi, e)
                fit = min(top / max(hi, tiny), one)
                s = np.float32(0.0)
                for k in range(3):
                    e = out[b, g, r, k] * fit
                    out[b, g, r, k] = e
                    s += e * w[k]
                lum[b, g, r] = s
    mono = lum.copy()
    for b in range(d):  # running maximum along r, then g, then b (monotonic_luminance)
        for g in range(d):
            for r in range(1, d):
                mono[b, g, r] = max(mono[b, g, r], mono[b, g, r - 1])
    for b in range(d):
        for g in range(1, d):
            for r in range(d):
                mono[b, g, r] = max(mono[b, g, r], mono[b, g - 1, r])
    for b in range(1, d):
        for g in range(d):
            for r in range(d):
                mono[b, g, r] = max(mono[b, g, r], mono[b - 1, g, r])
    for b in range(d):
        for g in range(d):
            for r in range(d):
                y = lum[b, g, r]
                ratio = mono[b, g, r] / max(y, tiny) if y > tiny else one
                for k in range(3):
                    out[b, g, r, k] = min(max(out[b, g, r, k] * ratio, np.float32(0.0)), top)


class FastCLUT:
    """One frame's thumbnail -> basis weights -> LUT for a loaded ``CLUT`` on the CPU (see the module
    docstring). ``size`` is the thumbnail's side (the model's 256 unless told)."""

    def __init__(self, model: CLUT, size: int = THUMBNAIL):
        self.size = int(size)
        self.model = model
        self._convs = []  # channels-last copies of the convolutions' weights
        for m in model.backbone:
            if isinstance(m, torch.nn.Conv2d):
                self._convs.append((m.weight.detach().contiguous(memory_format=torch.channels_last).clone(),
                                    m.bias.detach().clone(), m.stride, m.padding))
        self._slope = float(model.backbone[1].negative_slope)
        lin1, lin2 = model.classifier[0], model.classifier[2]
        self._w1 = lin1.weight.detach().numpy().T.copy()  # (features, 64)
        self._b1 = lin1.bias.detach().numpy().copy()
        self._w2 = lin2.weight.detach().numpy().T.copy()
        self._b2 = lin2.bias.detach().numpy().copy()
        self._slope_mlp = float(model.classifier[1].negative_slope)
        self._cores = model.cores.detach().numpy().reshape(model.bases, -1).copy()
        self._core_shape = tuple(model.cores.shape[1:])
        self._m_s = model.m_s.detach().numpy().copy()
        self._m_w = model.m_w.detach().numpy().copy()
        self._indices: dict = {}
        self._nodes: dict = {}
        self._w709 = np.asarray(color.WEIGHTS_BT709, dtype=np.float32)

    # ---- thumbnail ------------------------------------------------------------------------------------
    def thumbnail(self, frame: np.ndarray) -> np.ndarray:
        """H x W x 3 uint8 -> size x size x 3 float32 code values, the same bits as ``thumbnail_numpy``."""
        key = frame.shape[:2]
        if key not in self._indices:
            self._indices[key] = thumbnail_indices(frame.shape[0], frame.shape[1], self.size)
        rows, cols = self._indices[key]
        out = np.empty((self.size, self.size, 3), np.float32)
        _gather_u8(np.ascontiguousarray(frame), rows, cols, out)
        return out

    # ---- thumbnail -> basis weights -------------------------------------------------------------------
    def statistics(self, thumb: np.ndarray) -> np.ndarray:
        """(STAT_FEATURES,) float32: ``clut.global_statistics`` of an S x S x 3 float32 thumbnail."""
        hist = np.zeros(HIST_BINS, np.float64)
        any_c, all_c, total = _statistics(thumb, HIST_BINS, np.float32(CLIP_CODE), hist)
        n = thumb.shape[0] * thumb.shape[1]
        hist = (hist / n).astype(np.float32)
        shares = np.array([any_c / n, all_c / n], np.float32)
        logs = np.log10(np.concatenate([hist, shares]) + np.float32(1e-5)) / np.float32(5.0) + np.float32(1.0)
        mean = np.float32(total / (3 * n))
        return np.concatenate([hist, logs, shares[:1], [mean]]).astype(np.float32)

    def features(self, thumb: np.ndarray) -> np.ndarray:
        """The backbone's global average (8 * width,) of an S x S x 3 float32 thumbnail."""
        import torch.nn.functional as F

        with torch.inference_mode():
            x = torch.from_numpy(thumb).permute(2, 0, 1)[None]  # N C H W view of H W C memory: channels-last
            x = x * 2.0 - 1.0
            for weight, bias, stride, padding in self._convs:
                x = F.leaky_relu_(F.conv2d(x, weight, bias, stride, padding), self._slope)
            return x.mean(dim=(2, 3))[0].numpy()

    def basis_weights(self, thumb: np.ndarray) -> np.ndarray:
        """S x S x 3 float32 thumbnail -> (1, bases) float32 (``CLUT.basis_weights``)."""
        thumb = np.ascontiguousarray(thumb, dtype=np.float32)
        z = np.concatenate([self.features(thumb), self.statistics(thumb)])
        h = z @ self._w1 + self._b1
        h = np.where(h >= 0, h, h * np.float32(self._slope_mlp))
        return (h @ self._w2 + self._b2)[None].astype(np.float32)

    # ---- weights -> fields -> LUT ---------------------------------------------------------------------
    def fields(self, weights: np.ndarray, input_gamma: str = "srgb") -> np.ndarray:
        """(1, bases) numpy or CPU torch -> (2, D, D, D) float32 raw fields (``CLUT.fields``), for
        ``input_gamma`` 2.2 / 2.4 already read at the sRGB code of the same light (``resample_axes``): the
        resampling is linear, so it is applied once to the shared factors, not per frame."""
        d = self.model.lut_size
        m_s, m_w = self.factors(input_gamma)
        core = (np.asarray(weights, np.float32).reshape(1, -1) @ self._cores).reshape(self._core_shape)
        return (m_s @ core @ m_w).reshape(core.shape[0], d, d, d)

    def factors(self, input_gamma: str) -> tuple[np.ndarray, np.ndarray]:
        """M_s (D x S) and M_w (W x D^2), resampled along b (M_s) and g, r (M_w's planes) for 2.2 / 2.4."""
        if input_gamma == "srgb":
            return self._m_s, self._m_w
        key = "factors " + input_gamma
        if key not in self._nodes:
            d = self.model.lut_size
            codes = torch.linspace(0.0, 1.0, d, dtype=torch.float32)
            positions = color.eotf_inverse_sRGB(color.eotf_input(codes, input_gamma))
            a = resample_matrix(positions, d).numpy()
            planes = self._m_w.reshape(-1, d, d)  # (W, g, r)
            m_w = np.ascontiguousarray((a @ planes @ a.T).reshape(-1, d * d), dtype=np.float32)
            self._nodes[key] = (np.ascontiguousarray(a @ self._m_s, dtype=np.float32), m_w)
        return self._nodes[key]

    def nodes(self, input_gamma: str) -> tuple:
        """What the LUT needs besides the fields, per input gamma, computed once as the reference does."""
        if input_gamma not in self._nodes:
            d = self.model.lut_size
            codes = torch.linspace(0.0, 1.0, d, dtype=torch.float32)
            lin = color.eotf_input(codes, input_gamma)
            L = torch.stack(torch.broadcast_tensors(lin.view(1, 1, d), lin.view(1, d, 1), lin.view(d, 1, 1)),
                            dim=-1)
            Y = (L * torch.tensor(color.WEIGHTS_BT709, dtype=torch.float32)).sum(dim=-1, keepdim=True)
            self._nodes[input_gamma] = (np.ascontiguousarray(Y[..., 0].numpy()),
                                        np.ascontiguousarray((L - Y).numpy()))
        return self._nodes[input_gamma]

    def lut_from_fields(self, fields: np.ndarray, max_relative: float | None = None,
                        input_gamma: str = "srgb") -> np.ndarray:
        """(2, D, D, D) fields from ``fields(weights, input_gamma)`` -> (D, D, D, 3) float32 LUT
        (``CLUT.lut_from_fields`` with the same ``input_gamma``; the lut3d contract)."""
        model = self.model
        top = model.max_relative if max_relative is None else float(max_relative)
        Y, C = self.nodes(input_gamma)
        d = model.lut_size
        out = np.empty((d, d, d, 3), np.float32)
        lum = np.empty((d, d, d), np.float32)
        _build_lut(np.tanh(np.ascontiguousarray(fields, dtype=np.float32)), Y, C, self._w709,
                   np.float32(model.max_log2_gain), np.float32(model.max_chroma), np.float32(top), out, lum)
        return out
