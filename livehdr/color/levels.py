"""Where SDR reference white and the display peak sit, in cd/m2: the only place the defaults live.
"""
from __future__ import annotations

from dataclasses import dataclass
import math


# --------------------------------------------------------------------------------------------------------
# Reference levels
# --------------------------------------------------------------------------------------------------------
PAPER_WHITE_BT2408 = 203.0  # cd/m2, ITU-R BT.2408-7 clause 2.2 (HDR reference white)
PEAK_DEFAULT = 1000.0  # cd/m2, typical HDR10 mastering peak
SDR_REFERENCE_WHITE = 100.0  # cd/m2, ITU-R BT.2035 / BT.1886 reference display
PQ_PEAK = 10000.0  # cd/m2, SMPTE ST 2084 absolute ceiling


@dataclass(frozen=True)
class ReferenceLevels:
    """Where SDR reference white and the display peak sit, in cd/m2, and how bright the content can be.

    ``headroom`` is the largest relative value an operator may return: peak / paper_white.
    ``source_peak`` is the brightest the content can be (the operator's maximum output, in cd/m2); the
    display encoding rolls highlights from it onto ``peak``. None means the content already fits the peak.
    """

    paper_white: float = PAPER_WHITE_BT2408
    peak: float = PEAK_DEFAULT
    source_peak: float | None = None

    def __post_init__(self):
        if not (math.isfinite(self.peak) and self.peak > 0):
            raise ValueError(f"peak must be a positive number of cd/m2, got {self.peak}")
        if not (math.isfinite(self.paper_white) and self.paper_white > 0):
            raise ValueError(f"paper white must be a positive number of cd/m2, got {self.paper_white}")
        if self.paper_white > self.peak:
            raise ValueError(f"paper white ({self.paper_white:g}) cannot be above the peak ({self.peak:g})")
        if self.peak > PQ_PEAK:
            raise ValueError(f"peak {self.peak:g} cd/m2 is above PQ's 10000 cd/m2 ceiling")
        if self.source_peak is not None and not (math.isfinite(self.source_peak) and self.source_peak > 0):
            raise ValueError(f"source peak must be a positive number of cd/m2, got {self.source_peak}")

    @property
    def headroom(self) -> float:
        return self.peak / self.paper_white

    @property
    def content_peak(self) -> float:
        """The roll-off's input ceiling: ``source_peak`` when known, else the display peak (no compression)."""
        return self.peak if self.source_peak is None else self.source_peak

    def for_content(self, source_peak: float | None) -> "ReferenceLevels":
        """The same display levels for content that reaches ``source_peak`` cd/m2."""
        return ReferenceLevels(self.paper_white, self.peak, source_peak)


__all__ = [
    "PAPER_WHITE_BT2408",
    "PEAK_DEFAULT",
    "SDR_REFERENCE_WHITE",
    "PQ_PEAK",
    "ReferenceLevels",
]
