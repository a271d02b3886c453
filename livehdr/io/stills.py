"""Still images: one photo or a folder of photos -> HDR EXR (absolute cd/m2) or PQ PNG (cICP).

The operator is created once by the caller and reused for every file of a folder.
"""
from __future__ import annotations

from dataclasses import dataclass
import os
import sys

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


@dataclass(frozen=True)
class StillsReport:
    converted: int
    failures: tuple[str, ...]  # one line each
    skipped: int = 0  # folder conversions: outputs that already existed (complete: written atomically)


def convert(src: str, dst: str, operator, levels: color.ReferenceLevels, folder_format: str = "exr",
            overwrite: bool = False) -> StillsReport:
    """A file to a file, or a folder to a folder. ``levels`` are the display's, with the operator's content
    peak as their source peak. Per-image failures of a folder are collected, not raised."""
    if os.path.isdir(src):
        return convert_folder(src, dst, operator, levels, folder_format, overwrite)
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
    return StillsReport(1, ())


def convert_folder(src: str, dst: str, operator, levels: color.ReferenceLevels, folder_format: str,
                   overwrite: bool = False) -> StillsReport:
    from tqdm import tqdm

    if os.path.exists(dst) and not os.path.isdir(dst):
        raise UserError(f"a folder input needs a folder output, but {dst} is a file")
    if os.path.abspath(src) == os.path.abspath(dst):
        raise UserError("output folder is the input folder; choose another one")
    files = sorted(f for f in os.listdir(src) if f.lower().endswith(INPUT_EXTENSIONS)
                   and os.path.isfile(os.path.join(src, f)))
    if not files:
        raise UserError(f"no PNG, JPEG or TIFF images in {src}")
    try:
        os.makedirs(dst, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create output folder {dst}: {e.strerror}") from None
    check_writable(os.path.join(dst, "x"))
    failures = []
    outputs = {name: os.path.join(dst, os.path.splitext(name)[0] + "." + folder_format) for name in files}
    # Outputs are renamed into place only when complete, so an existing one is a finished earlier result:
    # a second run after an interruption only does what is missing.
    done = [] if overwrite else [name for name in files if os.path.isfile(outputs[name])]
    files = [name for name in files if name not in done]
    for name in tqdm(files, desc="converting", unit="img", file=sys.stderr, disable=len(files) < 2):
        out = outputs[name]
        try:
            convert_file(os.path.join(src, name), out, operator, levels)
        except UserError as e:
            failures.append(str(e))
    return StillsReport(len(files) - len(failures), tuple(failures), skipped=len(done))
