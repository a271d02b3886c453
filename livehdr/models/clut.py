"""CLUT: a learned, compressed, image-adaptive 3D LUT for inverse tone mapping (after CLUT-Net, ACM MM 2022).

- A tiny CNN looks at a 256x256 thumbnail (plus global statistics: a histogram of its brightest channel and
  the log share of clipped pixels) and predicts the weights of N basis LUTs.
- The bases are stored compressed as in CLUT-Net: basis i, field k is the D x D^2 matrix M_s C_ik M_w, with
  M_s in R^{D x S} and M_w in R^{W x D^2} shared by every basis, so mixing happens on the small C (S x W)
  and one decompression gives the frame's fields.
- What a basis holds is not RGB but two fields over the grid of SDR code values, as MQNet's head predicts
  per pixel (docs/MODEL.md): a log2 *luminance gain* g = G tanh(f0) and a *chroma term* s = S tanh(f1).
  The LUT entry for the code values c = (r, g, b) / (D - 1), with L = EOTF(c) and Y its BT.709 luminance, is
      E = 2^g (Y + (1 + s) (L - Y)),
  then scaled down where a channel would pass the top, then made monotonic in luminance (below).
- **Untrained = naive**: the compressed bases start at zero, so g = s = 0 and E = L at every node.
- **Grey in, grey out** at every node, whatever the weights: for R = G = B the chroma L - Y is zero and
  every channel computes the same expression.  Between nodes trilinear interpolation mixes neighbouring
  (slightly chromatic) nodes, so grey stays grey only to the smoothness of the gain (tested <= 0.002 u'v').
- **Monotonic in luminance by construction**: the entry's luminance is replaced by its running maximum along
  r, then g, then b (each pass keeps the earlier ones' monotonicity), and the entry is rescaled to it.  The
  output luminance is linear in the entries, so trilinear interpolation of such a grid is monotonic too.  A
  regulariser keeps the raw fields close to monotonic so the projection rarely has work to do.  The only
  exception is the per-channel clamp at the top (max_relative) after it.

LUT layout (the interface with livehdr.color.lut3d and the window's 3D texture): float32 (D, D, D, 3), indexed
``lut[b, g, r]`` (red fastest), linear BT.709 relative to paper white.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from livehdr import color
from livehdr.color.levels import PAPER_WHITE_BT2408, PEAK_DEFAULT
from livehdr.models.highlight import HighlightMLP, stage_attribute
from livehdr.models.registry import register_model

THUMBNAIL = 256  # the CNN's input size (CLUT-Net's)
HIST_BINS = 16  # histogram of the thumbnail's brightest channel, a global input beside the CNN features
FIELDS = 2  # log2 luminance gain, chroma term


# --------------------------------------------------------------------------------------------------------
# Thumbnail: the same pixels from numpy (operator) and torch (model forward), so the two paths agree exactly
# --------------------------------------------------------------------------------------------------------
def thumbnail_indices(h: int, w: int, size: int = THUMBNAIL) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of a size x size nearest-neighbour sample of an h x w frame (pixel centres).
    Strided sampling costs one gather (0.2 ms at 1080p); the CNN ends in a global average, so aliasing of
    fine detail hardly matters, and sensor noise averages out over the 65536 samples."""
    rows = np.minimum(((np.arange(size) + 0.5) * h / size).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(size) + 0.5) * w / size).astype(np.int64), w - 1)
    return rows, cols


def thumbnail_numpy(frame: np.ndarray, size: int = THUMBNAIL) -> np.ndarray:
    """H x W x 3 uint8 or float code values -> size x size x 3 float32 code values in [0, 1]."""
    rows, cols = thumbnail_indices(frame.shape[0], frame.shape[1], size)
    small = frame[rows][:, cols]
    if small.dtype == np.uint8:
        return small.astype(np.float32) / np.float32(255)  # as the float paths divide: equal bits
    return np.clip(np.asarray(small, dtype=np.float32), 0.0, 1.0)


def thumbnail_torch(code: torch.Tensor, size: int = THUMBNAIL) -> torch.Tensor:
    """N x 3 x H x W code values -> N x 3 x size x size (the same samples as ``thumbnail_numpy``)."""
    key = (code.shape[-2], code.shape[-1], size, code.device)
    if key not in _INDEX_CACHE:
        # kept on the device: a CUDA graph cannot capture the host-to-device copy (engine/frame_path.py)
        if len(_INDEX_CACHE) > 16:
            _INDEX_CACHE.clear()
        rows, cols = thumbnail_indices(code.shape[-2], code.shape[-1], size)
        _INDEX_CACHE[key] = (torch.from_numpy(rows).to(code.device), torch.from_numpy(cols).to(code.device))
    rows, cols = _INDEX_CACHE[key]
    return code.index_select(-2, rows).index_select(-1, cols).clamp(0.0, 1.0)


_INDEX_CACHE: dict = {}  # (h, w, size, device) -> thumbnail rows and columns as tensors


CLIP_CODE = 254.5 / 255  # a channel at the top code value: clipped
STAT_FEATURES = 2 * HIST_BINS + 4


def global_statistics(thumb: torch.Tensor, bins: int = HIST_BINS) -> torch.Tensor:
    """N x STAT_FEATURES image-level inputs beside the CNN features (not differentiable; need not be):
    the share of thumbnail pixels per bin of the brightest channel, linear and on a log scale, and the log
    share of pixels with any / all channels clipped. Whether 0.01 % or 1 % of a frame is clipped decides
    between leaving a near-lossless frame alone and expanding its highlights, and only a log scale tells
    those apart."""
    m = thumb.amax(dim=1).flatten(1)
    n = m.shape[1]
    idx = (m * bins).long().clamp(0, bins - 1)
    hist = torch.zeros(m.shape[0], bins, dtype=thumb.dtype, device=thumb.device)
    hist.scatter_add_(1, idx, torch.ones_like(m))
    hist = hist / n
    any_clipped = (m >= CLIP_CODE).to(thumb.dtype).mean(dim=1, keepdim=True)
    all_clipped = (thumb.amin(dim=1).flatten(1) >= CLIP_CODE).to(thumb.dtype).mean(dim=1, keepdim=True)
    mean = thumb.mean(dim=(1, 2, 3)).unsqueeze(1)
    logs = [torch.log10(v + 1e-5) / 5.0 + 1.0 for v in (hist, any_clipped, all_clipped)]  # 0 .. 1
    return torch.cat([hist, logs[0], logs[1], logs[2], any_clipped, mean], dim=1)


# --------------------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------------------
def dct_basis(n: int, k: int) -> torch.Tensor:
    """n x k: the first k DCT-II vectors on n points (orthonormal, smooth): the initial M_s / M_w factors."""
    x = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    cols = [torch.cos(math.pi * j * x) * (math.sqrt(1 / n) if j == 0 else math.sqrt(2 / n)) for j in range(k)]
    return torch.stack(cols, dim=1).float()


def smooth_plane_basis(d: int, k: int) -> torch.Tensor:
    """k x d^2: products of 1-D DCT vectors over the (g, r) plane, lowest total frequency first."""
    one = dct_basis(d, d)
    pairs = sorted(((i, j) for i in range(d) for j in range(d)), key=lambda p: (p[0] + p[1], max(p)))[:k]
    return torch.stack([torch.outer(one[:, i], one[:, j]).reshape(-1) for i, j in pairs])


class CLUT(nn.Module):
    """See the module docstring. Input: sRGB code values N x 3 x H x W in [0, 1]; output: linear BT.709
    relative to paper white in [0, max_relative] (the frame through its own predicted LUT)."""

    def __init__(self, lut_size: int = 33, bases: int = 6, s_rank: int = 12, w_rank: int = 24, width: int = 8,
                 max_log2_gain: float = 3.0, max_chroma: float = 0.5,
                 max_relative: float = PEAK_DEFAULT / PAPER_WHITE_BT2408, highlight_hidden: int = 0,
                 highlight_auto_hidden: int = 0):
        super().__init__()
        if not 2 <= lut_size <= 129:
            raise ValueError(f"lut_size {lut_size} is outside 2 .. 129")
        if not 1 <= s_rank <= lut_size or not 1 <= w_rank <= lut_size * lut_size:
            raise ValueError(f"s_rank {s_rank} / w_rank {w_rank} do not fit lut_size {lut_size}")
        if not 0.0 <= max_chroma < 1.0:
            raise ValueError(f"max_chroma {max_chroma} is outside 0 .. 1")
        self.config = dict(lut_size=int(lut_size), bases=int(bases), s_rank=int(s_rank), w_rank=int(w_rank),
                           width=int(width), max_log2_gain=float(max_log2_gain), max_chroma=float(max_chroma),
                           max_relative=float(max_relative))
        for key, hidden in (("highlight_hidden", highlight_hidden), ("highlight_auto_hidden", highlight_auto_hidden)):
            if hidden:  # old files have no stage and no such key: their config stays as it was
                self.config[key] = int(hidden)
        self.lut_size, self.bases = int(lut_size), int(bases)
        self.max_log2_gain, self.max_chroma = float(max_log2_gain), float(max_chroma)
        self.max_relative = float(max_relative)

        c = int(width)
        chans = [3, c, 2 * c, 4 * c, 8 * c, 8 * c]  # 256 -> 8 in five stride-2 steps
        layers = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        self.backbone = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(8 * c + STAT_FEATURES, 64), nn.LeakyReLU(0.2, inplace=True),
                                        nn.Linear(64, self.bases))
        d = self.lut_size
        # CLUT-Net's compressed bases: shared factors, one small S x W core per basis and field. The cores
        # start at zero (the identity, i.e. naive); the factors start as smooth cosine bases.
        self.m_s = nn.Parameter(dct_basis(d, s_rank))
        self.m_w = nn.Parameter(smooth_plane_basis(d, w_rank))
        self.cores = nn.Parameter(torch.zeros(self.bases, FIELDS, s_rank, w_rank))
        # The spatial highlight stages (issue #23, models/highlight.py), fitted after the LUT; None: no stage.
        # ``highlight`` follows a known source curve's exact inverse, ``highlight_auto`` the blind LUT.
        self.highlight = HighlightMLP(highlight_hidden) if highlight_hidden else None
        self.highlight_auto = HighlightMLP(highlight_auto_hidden) if highlight_auto_hidden else None

    def attach_highlight(self, mlp, base: str = "known") -> None:
        """Carry a fitted highlight stage for ``base`` (its size goes into the config, so the file rebuilds it)."""
        name = stage_attribute(base)
        setattr(self, name, mlp)
        self.config[name + "_hidden"] = int(mlp.hidden)

    # ---- thumbnail -> basis weights -------------------------------------------------------------------
    def basis_weights(self, thumb: torch.Tensor) -> torch.Tensor:
        """N x 3 x 256 x 256 code values -> N x bases."""
        feats = self.backbone(thumb * 2.0 - 1.0).mean(dim=(2, 3))
        return self.classifier(torch.cat([feats, global_statistics(thumb)], dim=1))

    # ---- weights -> fields -> LUT ---------------------------------------------------------------------
    def fields(self, weights: torch.Tensor) -> torch.Tensor:
        """N x bases -> N x 2 x D x D x D raw fields (axes b, g, r), decompressed once after mixing."""
        d = self.lut_size
        core = torch.einsum("nb,bksw->nksw", weights, self.cores)
        f = self.m_s @ core @ self.m_w  # N x 2 x D x D^2
        return f.reshape(weights.shape[0], FIELDS, d, d, d)

    def lut_from_fields(self, fields: torch.Tensor, max_relative: float | None = None,
                        input_gamma: str = "srgb") -> torch.Tensor:
        """N x 2 x D^3 fields -> N x D x D x D x 3 LUT (``lut[n, b, g, r]``), see the module docstring.

        ``input_gamma`` 2.2 / 2.4: the nodes stand for code values of that display; the fields (learned on
        sRGB code values) are read at the sRGB code of the same light and L is that display's EOTF, so the
        re-encoding costs nothing per pixel and an untrained LUT is still naive for that gamma."""
        top = self.max_relative if max_relative is None else float(max_relative)
        d = self.lut_size
        codes = torch.linspace(0.0, 1.0, d, dtype=fields.dtype, device=fields.device)
        if input_gamma != "srgb":
            fields = resample_axes(fields, color.eotf_inverse_sRGB(color.eotf_input(codes, input_gamma)))
        lin = color.eotf_input(codes, input_gamma)
        L = torch.stack(torch.broadcast_tensors(lin.view(1, 1, d), lin.view(1, d, 1), lin.view(d, 1, 1)), dim=-1)
        w = torch.tensor(color.WEIGHTS_BT709, dtype=fields.dtype, device=fields.device)
        Y = (L * w).sum(dim=-1, keepdim=True)  # D x D x D x 1
        gain = self.max_log2_gain * torch.tanh(fields[:, 0, ..., None])
        chroma = self.max_chroma * torch.tanh(fields[:, 1, ..., None])
        entry = (torch.exp2(gain) * (Y + (1.0 + chroma) * (L - Y))).clamp_min(0.0)
        entry = entry * fit_under(entry, top)
        return monotonic_luminance(entry, w).clamp(0.0, top)

    # ---- the whole image -------------------------------------------------------------------------------
    def lut(self, code: torch.Tensor, max_relative: float | None = None, input_gamma: str = "srgb"):
        return self.lut_from_fields(self.fields(self.basis_weights(thumbnail_torch(code))), max_relative,
                                    input_gamma)

    def forward(self, code: torch.Tensor, max_relative: float | None = None) -> torch.Tensor:
        if code.dim() != 4 or code.shape[1] != 3:
            raise ValueError(f"CLUT expects N x 3 x H x W, got {tuple(code.shape)}")
        code = code.clamp(0.0, 1.0)
        return apply_lut_torch(code, self.lut(code, max_relative))

    def forward_with_regularisation(self, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training: the output and the LUT regularisers (smoothness + monotonicity) on the same fields."""
        code = code.clamp(0.0, 1.0)
        fields = self.fields(self.basis_weights(thumbnail_torch(code)))
        return apply_lut_torch(code, self.lut_from_fields(fields)), self.regularisation(fields)

    def regularisation(self, fields: torch.Tensor) -> torch.Tensor:
        """Smoothness: mean squared step of the bounded fields between neighbouring nodes, in stops (gain)
        and chroma units, scaled to a unit code step.  Monotonicity: how far the raw output luminance
        (before the projection) falls from one node to the next along any axis, in stops."""
        d = self.lut_size
        gain = self.max_log2_gain * torch.tanh(fields[:, 0])
        chroma = self.max_chroma * torch.tanh(fields[:, 1])
        smooth = 0.0
        for f in (gain, chroma):
            for axis in (1, 2, 3):
                smooth = smooth + (torch.diff(f, dim=axis) * (d - 1)).square().mean()
        codes = torch.linspace(0.0, 1.0, d, dtype=fields.dtype, device=fields.device)
        lin = color.eotf_sRGB(codes)
        w = color.WEIGHTS_BT709
        Y = w[0] * lin.view(1, 1, d) + w[1] * lin.view(1, d, 1) + w[2] * lin.view(d, 1, 1)
        logY = gain + torch.log2(Y.clamp_min(1e-4))  # chroma does not change luminance
        mono = sum(torch.relu(-torch.diff(logY, dim=axis)).mean() for axis in (1, 2, 3))
        return 1e-3 * smooth + 10.0 * mono


def fit_under(entry: torch.Tensor, top: float) -> torch.Tensor:
    """Per-entry factor <= 1 that brings the largest channel to ``top`` (keeps hue, unlike a channel clamp)."""
    return (top / entry.amax(dim=-1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)


def monotonic_luminance(entry: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Rescale every entry so that its luminance is the running maximum along r, then g, then b (axes -2,
    -3, -4 of N x D x D x D x 3). A running maximum along one axis keeps monotonicity along the others, so
    the result is monotonic along all three; entries already in order are untouched."""
    Y = (entry * weights).sum(dim=-1)
    mono = Y
    for axis in (-1, -2, -3):
        mono = torch.cummax(mono, dim=axis).values
    ratio = torch.where(Y > 1e-12, mono / Y.clamp_min(1e-12), torch.ones_like(Y))
    return entry * ratio[..., None]


def resample_axes(fields: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of N x K x D x D x D fields at ``positions`` (D values in [0, 1]) on each axis."""
    A = resample_matrix(positions, fields.shape[-1]).to(fields.dtype)
    out = torch.einsum("kr,nxbgr->nxbgk", A, fields)  # one axis at a time: a 4-operand einsum may not
    out = torch.einsum("jg,nxbgk->nxbjk", A, out)  # find this order and build a D^6 intermediate
    return torch.einsum("ib,nxbjk->nxijk", A, out)


def resample_matrix(positions: torch.Tensor, d: int) -> torch.Tensor:
    """D x D: row k linearly interpolates D nodes on [0, 1] at ``positions[k]`` (clamped)."""
    x = positions.clamp(0.0, 1.0) * (d - 1)
    i0 = x.floor().long().clamp(max=d - 2)
    t = x - i0
    A = torch.zeros(d, d, dtype=positions.dtype, device=positions.device)
    rows = torch.arange(d, device=positions.device)
    A[rows, i0] = 1.0 - t
    A[rows, i0 + 1] += t
    return A


def apply_lut_torch(code: torch.Tensor, lut: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W code values through N x D x D x D x 3 LUTs (``lut[n, b, g, r]``), trilinear.

    grid_sample's 5-D grid takes (x, y, z) = (W, H, D) of the volume, i.e. (r, g, b): the code values' own
    channel order. align_corners=True puts code 0 and 1 on the first and last nodes, as the contract says."""
    n, _, h, w = code.shape
    volume = lut.permute(0, 4, 1, 2, 3).to(code.dtype)  # N x 3 x D(b) x D(g) x D(r)
    grid = (code.permute(0, 2, 3, 1) * 2.0 - 1.0).unsqueeze(1)  # N x 1 x H x W x 3
    out = F.grid_sample(volume, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out[:, :, 0]


@register_model
def clut(**kw) -> CLUT:
    return CLUT(**kw)
