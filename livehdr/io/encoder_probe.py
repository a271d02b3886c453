"""Encoder probing: is there an NVIDIA GPU, and does hevc_nvenc open at a given size (cached per size)."""
from __future__ import annotations

from fractions import Fraction
import os


def cuda_device_present() -> bool:
    """Whether an NVIDIA GPU exists at all (NVENC is worth mentioning only then); cheap, imports nothing."""
    import glob
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            return bool(torch.cuda.is_available())
        except Exception:
            return False
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/proc/driver/nvidia/version")


_nvenc_cache: dict[tuple[int, int], str | None] = {}


def nvenc_unavailable_reason(width: int, height: int) -> str | None:
    """None when hevc_nvenc opens at this size; else a short reason (no GPU, no NVENC, driver...)."""
    import av

    key = (width, height)
    if key not in _nvenc_cache:
        if "hevc_nvenc" not in av.codecs_available:
            _nvenc_cache[key] = "this FFmpeg build has no hevc_nvenc"
        else:
            try:
                cc = av.CodecContext.create("hevc_nvenc", "w")
                cc.width, cc.height, cc.pix_fmt = width, height, "p010le"
                cc.time_base = Fraction(1, 30)
                cc.open()
                _nvenc_cache[key] = None
            except av.FFmpegError as e:
                _nvenc_cache[key] = str(e).splitlines()[0] if str(e) else type(e).__name__
    return _nvenc_cache[key]
