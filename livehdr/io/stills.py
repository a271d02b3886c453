"""Still images: one photo -> HDR EXR (absolute cd/m2) or PQ PNG (cICP). Folders: livehdr.batch, which
calls ``convert_file`` per image with one operator for all of them.
"""
from __future__ import annotations

import os

import numpy as np

from livehdr import color
from livehdr.io import imagefiles as imageio
from livehdr.base.errors import UserError
from livehdr.base.files import check_regular_file, check_writable
from livehdr.base.log import note

INPUT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
OUTPUT_EXTENSIONS = (".exr", ".png")


def encode_still_png(relative: np.ndarray, levels: color.ReferenceLevels) -> np.ndarray:
    """Operator output -> 16-bit PQ BT.2020 code values (full range, as PNG's cICP declares)."""
    from livehdr.color import pack

    nits = color.relative_BT709_to_display_nits_BT2020(relative.astype(np.float32), levels)
    return np.floor(pack.eotf_inverse_ST2084_numba(nits) * 65535.0 + 0.5).astype(np.uint16)


def write_still(path: str, relative: np.ndarray, levels: color.ReferenceLevels) -> None:
    """Write operator output by extension: .exr = linear BT.709 absolute cd/m2, .png = PQ BT.2020 16-bit."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".exr":
        # Absolute nits in BT.709 primaries, bounded by the peak like every display encoding.
        nits = color.rolloff_highlights(np.clip(relative, 0, None) * levels.paper_white, levels.peak,
                                        levels.content_peak)
        imageio.write_exr(path, nits.astype(np.float32), half=False, white_luminance=1.0)
    elif ext == ".png":
        cicp = (imageio.CICP_PRIMARIES_BT2020, imageio.CICP_TRANSFER_PQ, 0, 1)  # RGB, full range
        imageio.write_png16(path, encode_still_png(relative, levels), cicp)
    else:
        raise UserError(f"unsupported output extension {ext or '(none)'}: use .exr or .png")


def convert_file(src: str, dst: str, operator, levels: color.ReferenceLevels) -> None:
    """Convert one image; what was dropped or changed on the way (e.g. alpha) is noted on the log."""
    code, notes = imageio.read_image_sdr(src)
    operator.reset()  # every still stands alone: no temporal state (clut's EMA on its LUT) carries over
    write_still(dst, operator(code), levels)
    for message in notes:
        note(message)


def _same_file(a: str, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(b) or (
        os.path.exists(b) and os.path.samefile(a, b))


def convert(src: str, dst: str, operator, levels: color.ReferenceLevels, folder_format: str = "exr",
            overwrite: bool = False) -> None:
    """One image file to ``dst`` (a file, or a folder to put ``NAME.<folder_format>`` in). ``levels`` are the
    display's, with the operator's content peak as their source peak. Folders of images go through
    ``livehdr.batch`` (resumable, in parallel), not through here."""
    ext = os.path.splitext(dst)[1].lower()
    if os.path.isdir(dst):
        dst = os.path.join(dst, os.path.splitext(os.path.basename(src))[0] + "." + folder_format)
        ext = "." + folder_format
    if ext not in OUTPUT_EXTENSIONS:
        raise UserError(f"unsupported output extension {ext or '(none)'} for {dst}: use .exr or .png")
    if not src.lower().endswith(INPUT_EXTENSIONS):
        raise UserError(f"unsupported input extension for {src}: use PNG, JPEG or TIFF")
    if _same_file(src, dst):
        raise UserError(f"output {dst} is the input file; choose another name")
    check_regular_file(src)
    check_writable(dst)
    # One policy for every output (video too): an existing file is replaced only with --overwrite.
    if os.path.exists(dst) and not overwrite:
        raise UserError(f"output exists: {dst} (add --overwrite to replace it)")
    convert_file(src, dst, operator, levels)
