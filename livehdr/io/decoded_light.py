"""MaxCLL / MaxFALL of an encoded PQ stream as a player decodes it (CTA-861.3 on the decoded content).

Why: the light measured before encoding is not what the file shows. x265 overshoots at the sharp edge of a
highlight clamped at the peak (a 1000 cd/m2 sun decoded to luma code 762, about 1510 cd/m2, at crf 18;
739 / 1187 cd/m2 on a test sun, 730 even at crf 0), and 4:2:0 chroma adds a few per cent on saturated
edges (1030 cd/m2 from a 1000 cd/m2 input with no encoder at all). Clamping before encoding cannot stop
the encoder's overshoot, so the writer decodes its own output once (far cheaper than the encode) and states
the larger of the two measurements. Only luma is measured here (see ``frame_light_pq``).
"""
from __future__ import annotations

import numpy as np

from livehdr.color.transfer import eotf_ST2084


def frame_light_pq(y: np.ndarray) -> tuple[float, float]:
    """(max, mean) in cd/m2 of the decoded luma Y' (10-bit limited range, PQ) taken as grey light.

    For grey and white, the usual highlights, that is exactly max(R, G, B). Chroma is left out on purpose:
    4:2:0 reconstruction at the edge between saturated colours and white lifts one channel of a few pixels
    far above any light in the content (a 203 cd/m2 colour-bar picture measured 399), and a MaxCLL stating
    that would make displays tone-map content that needs none."""
    nits = _pq_nits_of_code()[np.minimum(y, 1023)]  # a table: 10-bit codes have only 1024 values
    return float(nits.max()), float(nits.mean())


_TABLE: list = []


def _pq_nits_of_code() -> np.ndarray:
    if not _TABLE:
        code = np.clip((np.arange(1024, dtype=np.float64) - 64.0) / 876.0, 0.0, 1.0)
        _TABLE.append(eotf_ST2084(code).astype(np.float32))
    return _TABLE[0]


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
                luma = np.frombuffer(frame.planes[0], np.uint16).reshape(-1, frame.planes[0].line_size // 2)
                cll, fall = frame_light_pq(luma[:h, :w])
                max_cll, max_fall = max(max_cll, cll), max(max_fall, fall)
    except (av.FFmpegError, IndexError, ValueError):
        return None
    return max_cll, max_fall
