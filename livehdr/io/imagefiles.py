"""Image files in and out: SDR photos, OpenEXR and Radiance HDR, 16-bit PQ PNG with a cICP chunk.

Readers return numpy arrays and raise ``UserError`` with one line for anything unreadable, so the CLI
never shows a traceback. Writers go through ``atomic_output`` (temporary name, then rename).
"""
from __future__ import annotations

import os
import re
import struct
import threading
import warnings
import zlib

import numpy as np

from livehdr.base.errors import UserError, one_line
from livehdr.base.files import atomic_output, check_regular_file, check_writable  # noqa: F401
from livehdr.color.primaries import CHROMATICITIES_BT709, matrix_chromaticities_to_BT709



# --------------------------------------------------------------------------------------------------------
# SDR images (PNG / JPEG / TIFF)
# --------------------------------------------------------------------------------------------------------
# The largest picture livehdr reads: 100 megapixels (e.g. 12000x8000). A decoded pixel costs 12 bytes as
# float32 RGB and the operator needs a few such buffers, so this is already several GB. Bigger headers are
# refused before any pixel is decoded (Pillow's own limit would raise DecompressionBombError, or only warn).
MAX_IMAGE_PIXELS = 100_000_000


def _too_large(path: str, width: int | None, height: int | None, pixels: int | None = None) -> UserError:
    size = f"{width}x{height}" if width and height else f"{pixels} pixels" if pixels else "too many pixels"
    total = pixels if pixels is not None else (width or 0) * (height or 0)
    return UserError(f"{path}: image is {size} ({total / 1e6:.0f} megapixels); livehdr reads at most "
                     f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels")


_PILLOW_LIMIT_LOCK = threading.Lock()


def _header_size(path: str, error: Exception) -> tuple[int | None, int | None, int | None]:
    """Width and height from the header of a file Pillow refused as a bomb: opening is lazy (header only),
    so it is reopened once with Pillow's global limit lifted for that moment."""
    from PIL import Image

    with _PILLOW_LIMIT_LOCK:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(path) as im:
                return im.size[0], im.size[1], None
        except Exception:
            m = re.search(r"\((\d+) pixels\)", str(error))
            return None, None, int(m.group(1)) if m else None
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def open_image_checked(path: str):
    """Image.open with livehdr's pixel limit and without Pillow's warnings on stderr."""
    from PIL import Image

    check_regular_file(path)  # a FIFO would block Image.open forever
    with warnings.catch_warnings():
        # The size is checked below; Pillow's other warnings (odd TIFF tags, corrupt EXIF) would reach stderr.
        warnings.simplefilter("ignore")
        try:
            im = Image.open(path)
        except Image.DecompressionBombError as e:
            raise _too_large(path, *_header_size(path, e)) from None
    w, h = im.size
    if w * h > MAX_IMAGE_PIXELS:
        im.close()
        raise _too_large(path, w, h)
    return im


def read_image_sdr(path: str) -> tuple[np.ndarray, list[str]]:
    """Read an 8- or 16-bit PNG/JPEG/TIFF as float32 code values H x W x 3 in [0, 1].

    Greyscale is expanded to RGB, palettes are resolved, and alpha is dropped (reported in the notes).
    16-bit files keep their precision.
    """
    from PIL import UnidentifiedImageError

    notes = []
    check_regular_file(path)
    if path.lower().endswith(".png"):
        _refuse_hdr_png(path)
    try:
        with open_image_checked(path) as im, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's warnings (truncated data, odd chunks) never reach stderr
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit greyscale
                arr = np.asarray(im, dtype=np.float32) / 65535.0
                arr = np.repeat(arr[..., None], 3, axis=2)
            elif mode == "F":
                raise UserError(f"{path}: floating-point images are already HDR; livehdr expects SDR input")
            else:
                if "A" in mode or mode == "P" and "transparency" in im.info:
                    notes.append(f"{os.path.basename(path)}: alpha channel dropped")
                if mode == "CMYK":
                    notes.append(f"{os.path.basename(path)}: CMYK converted to RGB without a profile")
                arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
                deep = _read_rgb48(path, im.format)
                if deep is not None:
                    arr = deep
    except UserError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise UserError(f"cannot read image {path}: {one_line(e)}") from None
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise UserError(f"{path}: image has no pixels")
    return np.ascontiguousarray(arr, dtype=np.float32), notes


def _refuse_hdr_png(path: str) -> None:
    """A PNG whose cICP chunk says PQ or HLG is already HDR (for example our own output)."""
    with open(path, "rb") as f:
        data = f.read(1 << 16)  # cICP must precede IDAT, so it is near the start
    at = data.find(b"cICP")
    if at >= 4 and len(data) >= at + 6 and data[at + 5] in (CICP_TRANSFER_PQ, CICP_TRANSFER_HLG):
        kind = "PQ" if data[at + 5] == CICP_TRANSFER_PQ else "HLG"
        raise UserError(f"{path} is already HDR ({kind}, cICP); livehdr expands SDR images")


def _read_rgb48(path: str, fmt: str | None):
    """Pillow reduces 16-bit RGB PNG/TIFF to 8 bits; decode those through PyAV to keep all 16 bits."""
    if fmt not in ("PNG", "TIFF"):
        return None
    if fmt == "PNG" and not _png_is_16bit_colour(path):
        return None
    try:
        import av

        with av.open(path) as container:
            frame = next(container.decode(video=0))
            if frame.format.name not in ("rgb48be", "rgb48le", "rgba64be", "rgba64le"):
                return None
            arr = frame.to_ndarray(format="rgb48le")
    except Exception:
        return None
    return arr.astype(np.float32) / 65535.0


def _png_is_16bit_colour(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(33)
    # IHDR: bit depth at byte 24, colour type at byte 25 (2 = RGB, 6 = RGBA).
    return len(head) >= 26 and head[24] == 16 and head[25] in (2, 6)



# --------------------------------------------------------------------------------------------------------
# OpenEXR
# --------------------------------------------------------------------------------------------------------
def read_exr(path: str, to_bt709: bool = True) -> np.ndarray:
    """Read an OpenEXR file's RGB as float32 H x W x 3 linear light.

    With ``to_bt709`` and a ``chromaticities`` attribute, the pixels are converted to BT.709 primaries.
    """
    import OpenEXR

    try:
        with OpenEXR.File(path) as f:
            header = dict(f.header())  # copy: released with the file
            channels = f.channels()
            if "RGB" in channels:
                rgb = np.asarray(channels["RGB"].pixels, dtype=np.float32)
            elif "RGBA" in channels:
                rgb = np.asarray(channels["RGBA"].pixels, dtype=np.float32)[..., :3]
            elif all(c in channels for c in "RGB"):
                rgb = np.stack([np.asarray(channels[c].pixels, dtype=np.float32) for c in "RGB"], axis=-1)
            elif "Y" in channels:
                y = np.asarray(channels["Y"].pixels, dtype=np.float32)
                rgb = np.repeat(y[..., None], 3, axis=2)
            else:
                raise UserError(f"{path}: no RGB or Y channels (has {', '.join(channels)})")
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"cannot read EXR {path}: {one_line(e)}") from None
    rgb = np.nan_to_num(rgb, nan=0.0, posinf=0.0, neginf=0.0)
    chroma = header.get("chromaticities")
    if to_bt709 and chroma is not None and not np.allclose(chroma, CHROMATICITIES_BT709, atol=2e-3):
        rgb = rgb @ matrix_chromaticities_to_BT709(chroma).astype(np.float32).T
    return np.ascontiguousarray(rgb, dtype=np.float32)


def write_exr(path: str, rgb: np.ndarray, half: bool = True, white_luminance: float | None = None) -> None:
    """Write linear BT.709 RGB (H x W x 3) to OpenEXR with the chromaticities attribute, atomically.

    ``white_luminance`` (cd/m2 of RGB = 1) is set to 1.0 when the pixels are absolute nits.
    """
    import OpenEXR

    pixels = np.ascontiguousarray(rgb, dtype=np.float16 if half else np.float32)
    header = {
        "compression": OpenEXR.ZIP_COMPRESSION,
        "type": OpenEXR.scanlineimage,
        "chromaticities": tuple(float(c) for c in CHROMATICITIES_BT709),
    }
    if white_luminance is not None:
        header["whiteLuminance"] = float(white_luminance)
    with atomic_output(path) as tmp:
        with OpenEXR.File(header, {"RGB": pixels}) as f:
            f.write(tmp)


# --------------------------------------------------------------------------------------------------------
# Radiance RGBE (.hdr)
# --------------------------------------------------------------------------------------------------------
def read_radiance_hdr(path: str) -> np.ndarray:
    """Read a Radiance RGBE picture (flat or new-style run-length encoded scanlines) as float32 RGB."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        first = True
        while True:
            end = data.index(b"\n", pos)
            line = data[pos:end].strip()
            pos = end + 1
            if first and not line.startswith(b"#?"):
                raise ValueError("not a Radiance file")
            first = False
            if line.startswith(b"FORMAT=") and b"32-bit_rle_rgbe" not in line:
                raise ValueError(f"unsupported format {line.decode(errors='replace')}")
            if not line:
                break
        end = data.index(b"\n", pos)
        dims = data[pos:end].split()
        pos = end + 1
        if len(dims) != 4 or dims[0] != b"-Y" or dims[2] != b"+X":
            raise ValueError("only standard -Y H +X W orientation is supported")
        height, width = int(dims[1]), int(dims[3])
        rgbe = _decode_rgbe(np.frombuffer(data, dtype=np.uint8, offset=pos), width, height)
    except (OSError, ValueError, IndexError) as e:
        raise UserError(f"cannot read Radiance HDR {path}: {one_line(e)}") from None
    exponent = np.where(rgbe[..., 3] > 0, np.ldexp(1.0, rgbe[..., 3].astype(np.int32) - 136), 0.0)
    return (rgbe[..., :3].astype(np.float32) * exponent[..., None].astype(np.float32)).astype(np.float32)


def _decode_rgbe(buf: np.ndarray, width: int, height: int) -> np.ndarray:
    out = np.empty((height, width, 4), dtype=np.uint8)
    p = 0
    for y in range(height):
        rle = 8 <= width < 32768 and buf[p] == 2 and buf[p + 1] == 2 and not (buf[p + 2] & 0x80)
        if not rle:  # flat scanline
            out[y] = buf[p:p + 4 * width].reshape(width, 4)
            p += 4 * width
            continue
        if (int(buf[p + 2]) << 8 | int(buf[p + 3])) != width:
            raise ValueError("corrupt run-length scanline")
        p += 4
        for c in range(4):
            x = 0
            while x < width:
                count = int(buf[p])
                p += 1
                if count > 128:
                    count -= 128
                    out[y, x:x + count, c] = buf[p]
                    p += 1
                else:
                    out[y, x:x + count, c] = buf[p:p + count]
                    p += count
                x += count
    return out


def read_hdr_image(path: str) -> np.ndarray:
    """Any supported HDR file (.exr or .hdr/.pic) -> float32 linear BT.709 H x W x 3."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".exr":
        return read_exr(path)
    if ext in (".hdr", ".pic", ".rgbe"):
        return read_radiance_hdr(path)
    raise UserError(f"{path}: not an HDR image (.exr or .hdr expected)")


# --------------------------------------------------------------------------------------------------------
# 16-bit PNG with cICP (PQ or HLG, BT.2020)
# --------------------------------------------------------------------------------------------------------
CICP_PRIMARIES_BT2020 = 9  # ITU-T H.273 Table 2
CICP_TRANSFER_PQ = 16  # ITU-T H.273 Table 3 (SMPTE ST 2084)
CICP_TRANSFER_HLG = 18  # ITU-T H.273 Table 3 (ARIB STD-B67)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def encode_png16(rgb16: np.ndarray, cicp: tuple[int, int, int, int] | None = None) -> bytes:
    """Encode H x W x 3 uint16 as a 16-bit RGB PNG; ``cicp`` adds the cICP chunk (PNG 3rd ed. 11.3.2.6).

    cICP goes before IDAT, as the specification requires.
    """
    h, w, _ = rgb16.shape
    rows = np.ascontiguousarray(rgb16, dtype=">u2").reshape(h, w * 3).view(np.uint8)  # 6 bytes a pixel
    raw = np.concatenate([np.zeros((h, 1), dtype=np.uint8), rows], axis=1)  # filter byte 0 per row
    out = [b"\x89PNG\r\n\x1a\n", _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))]
    if cicp is not None:
        out.append(_png_chunk(b"cICP", bytes(cicp)))
    out.append(_png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)))
    out.append(_png_chunk(b"IEND", b""))
    return b"".join(out)


def write_png16(path: str, rgb16: np.ndarray, cicp: tuple[int, int, int, int] | None = None) -> None:
    data = encode_png16(rgb16, cicp)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def read_png_chunks(path: str) -> dict[bytes, bytes]:
    """All chunks of a PNG (last one wins per type): used to check cICP and IHDR."""
    chunks = {}
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise UserError(f"{path}: not a PNG file")
    p = 8
    while p + 8 <= len(data):
        (n,) = struct.unpack(">I", data[p:p + 4])
        kind = data[p + 4:p + 8]
        chunks.setdefault(kind, data[p + 8:p + 8 + n])
        p += 12 + n
    return chunks
