"""Still images: one photo or a folder of photos -> HDR EXR (absolute cd/m2) or PQ PNG (cICP).

The operator is created once by the caller and reused for every file of a folder.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from livehdr import color, imageio
from livehdr.errors import UserError

INPUT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
OUTPUT_EXTENSIONS = (".exr", ".png")


def encode_still_png(relative: np.ndarray, levels: color.ReferenceLevels) -> np.ndarray:
    """Operator output -> 16-bit PQ BT.2020 code values (full range, as PNG's cICP declares)."""
    from livehdr import pack

    nits = color.relative_BT709_to_display_nits_BT2020(relative.astype(np.float32), levels)
    return np.floor(pack.eotf_inverse_ST2084_numba(nits) * 65535.0 + 0.5).astype(np.uint16)


def write_still(path: str, relative: np.ndarray, levels: color.ReferenceLevels) -> None:
    """Write operator output by extension: .exr = linear BT.709 absolute cd/m2, .png = PQ BT.2020 16-bit."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".exr":
        # Absolute nits in BT.709 primaries, bounded by the peak like every display encoding.
        nits = color.rolloff_highlights(np.clip(relative, 0, None) * levels.paper_white, levels.peak,
                                        levels.peak)
        imageio.write_exr(path, nits.astype(np.float32), half=False, white_luminance=1.0)
    elif ext == ".png":
        cicp = (imageio.CICP_PRIMARIES_BT2020, imageio.CICP_TRANSFER_PQ, 0, 1)  # RGB, full range
        imageio.write_png16(path, encode_still_png(relative, levels), cicp)
    else:
        raise UserError(f"unsupported output extension {ext or '(none)'}: use .exr or .png")


def convert_file(src: str, dst: str, operator) -> list[str]:
    """Convert one image; returns notes (e.g. 'alpha dropped') for the caller to print."""
    code, notes = imageio.read_image_sdr(src)
    write_still(dst, operator(code), operator.levels)
    return notes


def _same_file(a: str, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(b) or (
        os.path.exists(b) and os.path.samefile(a, b))


def convert(src: str, dst: str, operator, folder_format: str = "exr") -> int:
    """CLI entry for stills: a file to a file, or a folder to a folder."""
    if os.path.isdir(src):
        return convert_folder(src, dst, operator, folder_format)
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
    imageio.check_writable(dst)
    for note in convert_file(src, dst, operator):
        print(f"livehdr: note: {note}", file=sys.stderr)
    return 0


def convert_folder(src: str, dst: str, operator, folder_format: str) -> int:
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
    imageio.check_writable(os.path.join(dst, "x"))
    failures = []
    for name in tqdm(files, desc="converting", unit="img", file=sys.stderr, disable=len(files) < 2):
        out = os.path.join(dst, os.path.splitext(name)[0] + "." + folder_format)
        try:
            for note in convert_file(os.path.join(src, name), out, operator):
                print(f"livehdr: note: {note}", file=sys.stderr)
        except UserError as e:
            failures.append(str(e))
    for f in failures:
        print(f"livehdr: error: {f}", file=sys.stderr)
    if failures:
        print(f"livehdr: {len(files) - len(failures)} of {len(files)} images converted", file=sys.stderr)
        return 2
    return 0
