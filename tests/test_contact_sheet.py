"""The contact sheet of issue #23: tiles at known places with exact pixels, flat discs visibly flat, labels,
the PNG, case choice and the command's one-line errors."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from livehdr import color
from livehdr.base.errors import UserError
from livehdr.color.tonecurves import quantize_8bit, sdr_from_hdr
from livehdr.contact_sheet import (BACKGROUND, OURS, choose_cases, main, render_contact_sheet, resolve_columns,
                                   sheet_layout, write_contact_sheet)
from livehdr.operators import create_operator

SIZE = 64
RADIUS_CLIPPED = 13  # the disc below clips (all channels at 255) out to r ~ 13.4 px


def radial(peak: float = 4.2, sigma: float = 10.0, base: float = 0.3) -> np.ndarray:
    """Grey light relative to paper white: a Gaussian sun over a flat sky, centred in a SIZE x SIZE frame."""
    yy, xx = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    r2 = xx**2 + yy**2
    y = base + peak * np.exp(-r2 / sigma**2)
    return np.repeat(y[..., None], 3, axis=-1).astype(np.float32)


def case_of(hdr: np.ndarray, name: str, image: str) -> dict:
    sdr = quantize_8bit(sdr_from_hdr(hdr, 1.0, "clip", "srgb")).astype(np.float32) / 255
    return {"name": name, "image": image, "view": 0, "recipe": "clip", "stops": 0.0, "sdr": sdr,
            "target": np.clip(hdr, 0, 1000 / 203).astype(np.float32)}


def disc_mask(radius: float = RADIUS_CLIPPED - 1) -> np.ndarray:
    yy, xx = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    return xx**2 + yy**2 <= radius**2


class Truth:
    """A perfect operator: it returns the case's own truth."""

    def __init__(self, target):
        self.target, self.resets = target, 0

    def reset(self):
        self.resets += 1

    def __call__(self, sdr):
        return self.target


@pytest.fixture(scope="module")
def sheet_and_layout():
    case = case_of(radial(), "sun#0/clip/+0", "sun")
    assert np.all(case["sdr"][disc_mask()] == 1.0)  # the disc is clipped in the input
    ops = {"perfect": Truth(case["target"]), "naive": create_operator("naive")}
    columns = resolve_columns((("sdr", OURS, "naive", "truth")), ops)
    assert columns == ["sdr", "perfect", "naive", "truth"]
    sheet = render_contact_sheet([case], ops)
    layout = sheet_layout([case], columns, (0, -3))
    assert ops["perfect"].resets == 1
    return case, sheet, layout


def tile(sheet, layout, row, column):
    y, x = layout.tile_origin(row, column)
    return sheet[y:y + layout.tile_h, x:x + layout.tile_w]


def test_sheet_shape_and_tiles_at_known_offsets(sheet_and_layout):
    case, sheet, layout = sheet_and_layout
    assert sheet.dtype == np.uint8 and sheet.shape == layout.shape
    assert (layout.tile_w, layout.tile_h, layout.columns, layout.rows) == (SIZE, SIZE, 4, 2)
    # the SDR column is the input as is, in both rows
    for row in (0, 1):
        assert np.array_equal(tile(sheet, layout, row, 0), np.rint(case["sdr"] * 255).astype(np.uint8))


def test_truth_tile_at_minus_3_stops_is_the_srgb_encoded_light(sheet_and_layout):
    case, sheet, layout = sheet_and_layout
    expected = quantize_8bit(color.eotf_inverse_sRGB(np.clip(case["target"].astype(np.float64) / 8, 0, 1)))
    got = tile(sheet, layout, 1, 3)
    assert np.array_equal(got, expected)
    # by hand at the background: 0.3 / 8 = 0.0375 -> 1.055 * 0.0375^(1/2.4) - 0.055 = 0.2116 -> 54
    assert got[0, 0, 0] == 54
    # at 0 stops everything above paper white is white
    assert np.all(tile(sheet, layout, 0, 3)[disc_mask()] == 255)
    # the perfect operator's tile is the truth's
    assert np.array_equal(tile(sheet, layout, 1, 1), got)


def test_naive_disc_is_flat_where_the_truth_has_a_peak(sheet_and_layout):
    _, sheet, layout = sheet_and_layout
    inside = disc_mask()
    naive = tile(sheet, layout, 1, 2)[inside]
    truth = tile(sheet, layout, 1, 3)[inside]
    assert len(np.unique(naive)) == 1  # one flat plateau
    assert len(np.unique(truth[:, 0])) > 20  # a peak and a fall-off
    centre = tile(sheet, layout, 1, 3)[SIZE // 2, SIZE // 2, 0]
    assert centre > naive[0, 0] + 40  # 4.5 x paper white / 8 -> 0.56 -> 196; naive's 1.0 / 8 -> 99


def test_labels_draw_in_the_label_strips(sheet_and_layout):
    _, sheet, layout = sheet_and_layout
    background = np.all(sheet == BACKGROUND, axis=-1)
    for j in range(layout.columns):  # every column has a name in the header strip above it
        _, x = layout.tile_origin(0, j)
        assert (~background[:layout.header_h, x:x + layout.tile_w]).sum() > 20
    for row in range(layout.rows):  # every row has a label at the left
        y, _ = layout.tile_origin(row, 0)
        assert (~background[y:y + layout.tile_h, :layout.label_w]).sum() > 20
    # the separators between tiles stay background
    y, x = layout.tile_origin(0, 1)
    assert np.all(background[y:y + layout.tile_h, x - 2:x])


def test_png_round_trip(tmp_path, sheet_and_layout):
    from PIL import Image

    _, sheet, _ = sheet_and_layout
    path = str(tmp_path / "sheet.png")
    write_contact_sheet(path, sheet)
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert np.array_equal(np.asarray(im.convert("RGB")), sheet)
    assert os.listdir(tmp_path) == ["sheet.png"]  # no temporary left behind


def test_unwritable_path_is_a_user_error(tmp_path, sheet_and_layout):
    _, sheet, _ = sheet_and_layout
    with pytest.raises(UserError, match="does not exist"):
        write_contact_sheet(str(tmp_path / "missing" / "sheet.png"), sheet)


def test_unknown_column_is_a_user_error():
    with pytest.raises(UserError, match="neither"):
        resolve_columns(("sdr", "mqnet"), {"naive": None})


def test_choose_cases_prefers_a_shaped_clipped_region():
    flat_plateau = np.repeat(np.where(disc_mask(RADIUS_CLIPPED), 2.0, 0.3)[..., None], 3, axis=-1).astype(np.float32)
    plateau = case_of(flat_plateau, "a_plateau#0/clip/+0", "a_plateau")  # clipped, but nothing to shape
    unclipped = case_of(radial(peak=0.5), "b_dim#0/clip/+0", "b_dim")
    sun = case_of(radial(), "c_sun#0/clip/+0", "c_sun")
    assert choose_cases([plateau, unclipped, sun], 1) == [sun]
    assert choose_cases([plateau, unclipped, sun], 3)[0] is sun
    assert choose_cases([plateau, sun], 0) == []


def test_choose_cases_takes_one_per_scene_first():
    big = case_of(radial(peak=4.5), "x#0/clip/+0", "x")
    also_x = case_of(radial(peak=4.4), "x#1/clip/+0", "x")
    y = case_of(radial(peak=2.0), "y#0/clip/+0", "y")
    assert choose_cases([also_x, y, big], 2) == [big, y]
    assert choose_cases([also_x, y, big], 3) == [big, y, also_x]


def test_command_on_a_small_scene(tmp_path, capsys):
    from livehdr.io.imagefiles import write_exr

    hdr = np.tile(radial(peak=40.0, sigma=14.0, base=0.5), (1, 2, 1))  # 128 x 64: not a panorama
    write_exr(str(tmp_path / "sun.exr"), hdr)
    out = str(tmp_path / "sheet.png")
    rc = main(["--data", str(tmp_path), "--model", "naive", "--split", "all", "--views", "1",
               "--size", "64x48", "--cases", "2", "--out", out])
    assert rc == 0 and os.path.isfile(out)
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("args, words", [
    (["--out", "/nonexistent-folder/sheet.png"], "does not exist"),
    (["--cases", "0"], "--cases"),
    (["--size", "8x8"], "--size"),
])
def test_command_bad_input_is_one_line_and_nonzero(tmp_path, args, words):
    argv = ["--data", str(tmp_path), "--model", "naive", "--out", str(tmp_path / "x.png"), *args]
    r = subprocess.run([sys.executable, "-m", "livehdr.contact_sheet", *argv], capture_output=True, text=True,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), timeout=120)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in r.stderr
