"""MaxCLL / MaxFALL of an encoded PQ stream as a player decodes it (CTA-861.3 on the decoded content).

Why: the light measured before encoding is not what the file shows. x265 overshoots at the sharp edge of a
highlight clamped at the peak (a 1000 cd/m2 sun decoded to luma code 762, about 1510 cd/m2, at crf 18;
739 / 1187 cd/m2 on a test sun, 730 even at crf 0), and 4:2:0 chroma adds a few per cent on saturated
edges (1030 cd/m2 from a 1000 cd/m2 input with no encoder at all). Clamping before encoding cannot stop
either, so the writer decodes its own output once (far cheaper than the encode) and states the larger value.
"""
from __future__ import annotations

import numpy as np

from livehdr.color.primaries import WEIGHTS_BT2020
from livehdr.color.transfer import eotf_ST2084


def frame_light_pq(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> tuple[float, float]:
    """(max of max(R,G,B), mean of max(R,G,B)) in cd/m2 for one frame of 10-bit limited-range BT.2020 NCL
    Y'CbCr with PQ; chroma (half size) is repeated to full size, as the simplest decoders show it."""
    kr, _, kb = WEIGHTS_BT2020
    kg = 1.0 - kr - kb
    h, w = y.shape
    Y = (y.astype(np.float32) - 64.0) / 876.0
    Cb = np.repeat(np.repeat((cb.astype(np.float32) - 512.0) / 896.0, 2, 0), 2, 1)[:h, :w]
    Cr = np.repeat(np.repeat((cr.astype(np.float32) - 512.0) / 896.0, 2, 0), 2, 1)[:h, :w]
    r = Y + (2 - 2 * kr) * Cr
    b = Y + (2 - 2 * kb) * Cb
    g = (Y - kr * r - kb * b) / kg
    top = np.clip(np.maximum(np.maximum(r, g), b), 0.0, 1.0)  # code values: PQ is monotonic, so max first
    nits = eotf_ST2084(top.astype(np.float64))
    return float(nits.max()), float(nits.mean())


def decoded_light_levels(path: str) -> tuple[float, float] | None:
    """(MaxCLL, MaxFALL) in cd/m2 over every decoded frame of ``path``; None when it cannot be decoded."""
    import av

    max_cll = max_fall = 0.0
    try:
        with av.open(path) as c:
            stream = c.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in c.decode(stream):
                if frame.format.name != "yuv420p10le":
                    frame = frame.reformat(format="yuv420p10le")
                h, w = frame.height, frame.width
                planes = [np.frombuffer(p, np.uint16).reshape(-1, p.line_size // 2) for p in frame.planes]
                cll, fall = frame_light_pq(planes[0][:h, :w], planes[1][:(h + 1) // 2, :(w + 1) // 2],
                                           planes[2][:(h + 1) // 2, :(w + 1) // 2])
                max_cll, max_fall = max(max_cll, cll), max(max_fall, fall)
    except (av.FFmpegError, IndexError, ValueError):
        return None
    return max_cll, max_fall
