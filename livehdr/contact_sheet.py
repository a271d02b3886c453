"""python -m livehdr.contact_sheet --data DIR --model NAME: a PNG of what people see in clipped highlights.

Issue #23: a sun in haze, a sunset sky or a lit night sky is clipped in the SDR input; today's operators
make it one flat plateau with a hard edge, the truth has a peak and a smooth fall-off. The sheet shows, for
a few held-out cases that have such a highlight, one row per display exposure (0 and -3 stops):
    SDR input (as is) | each operator | naive | truth
Every light column is shown as an SDR picture: light x 2^stops, clipped to [0, 1] (1 = paper white),
sRGB-encoded, 8-bit. At 0 stops everything above paper white is white; at -3 stops everything up to 8x
paper white keeps its shape, so a flat disc shows as flat.

For a caller (e.g. ``livehdr.evaluate --contact-sheet``): ``choose_cases`` -> ``render_contact_sheet`` ->
``write_contact_sheet``.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
import sys

import numpy as np

from livehdr import color
from livehdr.base.errors import UserError
from livehdr.color.tonecurves import quantize_8bit
from livehdr.window.font import GLYPH_H, text_mask, text_width

OURS = "ours"  # a column standing for every operator that no other column names, in the dict's order
DEFAULT_COLUMNS = ("sdr", OURS, "naive", "truth")
DEFAULT_STOPS = (0, -3)

BACKGROUND = (24, 24, 24)
INK = (235, 235, 235)
SEPARATOR = 2  # px between tiles
CASE_GAP = 8  # px between the rows of one case and the next
LABEL_SCALE = 2
LABEL_PAD = 6
LABEL_CHARS = 14  # row labels wrap at this many characters (scene names are long)
LINE_H = (GLYPH_H + 3) * LABEL_SCALE


# --------------------------------------------------------------------------------------------------------
# Which cases: clipped highlights with a real shape
# --------------------------------------------------------------------------------------------------------
def highlight_score(case: dict) -> tuple[int, float, float]:
    """(shaped clipped regions, true peak / edge luminance, fully clipped fraction) of one case, by
    ``livehdr.metrics.highlight_shape`` with the truth as the prediction: regions of >= SHAPE_MIN_REGION fully
    clipped px whose true log10 luminance varies (>= SHAPE_MIN_STD). Larger is a better example."""
    from livehdr.metrics import highlight_shape

    sdr = np.asarray(case["sdr"])
    shape = highlight_shape(case["target"], case["target"], sdr)
    regions = int(shape["highlight_regions"])
    ratio = float(shape["peak_to_edge_true"]) if regions else 0.0
    fully_clipped = float(np.mean(np.min(sdr, axis=-1) >= 254.5 / 255))
    return regions, ratio, fully_clipped


def choose_cases(cases: list, n: int) -> list:
    """``n`` cases that show clipped highlights with a shape: one per scene while scenes last (each scene's
    best case; scenes ordered by it), then the next best cases. Cases with a shaped clipped region come
    before any without. Deterministic: ties go by case name."""
    if n < 1:
        return []
    scored = []
    for c in cases:
        regions, ratio, clipped = highlight_score(c)
        # shaped first, then the clearest peak, then the larger clipped area; the name breaks ties
        scored.append(((regions > 0, round(ratio, 6), round(clipped, 6)), c["name"], c))
    scored.sort(key=lambda s: (tuple(-v for v in s[0]), s[1]))
    chosen, scenes = [], set()
    for key, _, c in scored:  # first pass: the best shaped case of each scene
        scene = c.get("image", c["name"])
        if key[0] and scene not in scenes:
            chosen.append(c)
            scenes.add(scene)
    for _, _, c in scored:  # then fill with whatever ranks next
        if not any(c is x for x in chosen):
            chosen.append(c)
    return chosen[:n]


# --------------------------------------------------------------------------------------------------------
# Layout and rendering
# --------------------------------------------------------------------------------------------------------
def shown_as_sdr(light: np.ndarray, stops: float) -> np.ndarray:
    """Linear light relative to paper white -> the 8-bit sRGB picture of it ``stops`` down: x 2^stops,
    clipped to [0, 1], sRGB inverse EOTF (IEC 61966-2-1), rounded to 8 bits."""
    scaled = np.clip(np.asarray(light, np.float64) * 2.0 ** stops, 0.0, 1.0)
    return quantize_8bit(color.eotf_inverse_sRGB(scaled))


def sdr_as_is(sdr_code: np.ndarray) -> np.ndarray:
    """The SDR input's own code values as 8 bits."""
    return quantize_8bit(np.asarray(sdr_code, np.float32))


def resolve_columns(columns, operators: dict) -> list[str]:
    """Column names with OURS expanded to the operators that no other column names."""
    named = set(columns)
    out = []
    for col in columns:
        if col == OURS:
            out += [n for n in operators if n not in named]
        elif col in ("sdr", "truth") or col in operators:
            out.append(col)
        else:
            raise UserError(f"contact sheet column {col!r} is neither sdr, truth nor one of the operators "
                            f"({', '.join(operators) or 'none'})")
    return out


def wrap_label(text: str, width: int = LABEL_CHARS) -> list[str]:
    """Break a label into lines of at most ``width`` characters, at '_', ' ' or '/' where possible."""
    lines, rest = [], text
    while len(rest) > width:
        cut = max(rest.rfind(ch, 1, width + 1) for ch in "_ /")
        cut = cut + 1 if cut > 0 else width
        lines.append(rest[:cut].rstrip(" "))
        rest = rest[cut:].lstrip(" ")
    return lines + ([rest] if rest else [])


def row_label(case: dict, stops: float) -> list[str]:
    """Scene (and view), recipe and exposure of the case, and how far down this row shows the light."""
    scene = str(case.get("image", case["name"]))
    if "view" in case:
        scene += f" #{case['view']}"
    lines = wrap_label(scene)
    recipe = str(case.get("recipe", ""))
    if "stops" in case:
        recipe += f" {case['stops']:+g} EV"
    return lines + wrap_label(recipe.strip()) + [f"SHOWN {stops:+g}" if stops else "SHOWN 0", "STOPS"]


@dataclass(frozen=True)
class SheetLayout:
    """Where everything goes: a header strip with the column names, a label column at the left, then one
    tile per (row, column); rows are case-major (case 0 at every stop, then case 1, ...)."""

    tile_w: int
    tile_h: int
    columns: int
    stops_per_case: int
    cases: int
    header_h: int
    label_w: int

    @property
    def rows(self) -> int:
        return self.cases * self.stops_per_case

    def tile_origin(self, row: int, column: int) -> tuple[int, int]:
        """(y, x) of the top-left pixel of a tile."""
        case = row // self.stops_per_case
        y = self.header_h + SEPARATOR + row * (self.tile_h + SEPARATOR) + case * CASE_GAP
        x = self.label_w + SEPARATOR + column * (self.tile_w + SEPARATOR)
        return y, x

    @property
    def shape(self) -> tuple[int, int, int]:
        y, x = self.tile_origin(self.rows - 1, self.columns - 1)
        return y + self.tile_h + SEPARATOR, x + self.tile_w + SEPARATOR, 3


def sheet_layout(cases: list, columns: list[str], stops) -> SheetLayout:
    tile_h = max(np.asarray(c["sdr"]).shape[0] for c in cases)
    tile_w = max(np.asarray(c["sdr"]).shape[1] for c in cases)
    longest = max(len(line) for c in cases for s in stops for line in row_label(c, s))
    return SheetLayout(tile_w, tile_h, len(columns), len(stops), len(cases),
                       header_h=2 * LABEL_PAD + GLYPH_H * LABEL_SCALE,
                       label_w=2 * LABEL_PAD + text_width("x" * longest, LABEL_SCALE))


def draw_text(canvas: np.ndarray, y: int, x: int, text: str, colour=INK) -> None:
    """The house 5x7 font (livehdr.window.font) straight into an RGB canvas, clipped at its edges."""
    mask = text_mask(text, LABEL_SCALE)
    h = min(mask.shape[0], canvas.shape[0] - y)
    w = min(mask.shape[1], canvas.shape[1] - x)
    if h > 0 and w > 0:
        canvas[y:y + h, x:x + w][mask[:h, :w]] = colour


def render_contact_sheet(cases: list, operators: dict, columns=DEFAULT_COLUMNS, stops=DEFAULT_STOPS) -> np.ndarray:
    """The sheet as uint8 H x W x 3 (sRGB).

    ``cases``: dicts with "sdr" (float H x W x 3 sRGB code values) and "target" (linear BT.709 relative to
    paper white), labelled by "image", "view", "recipe", "stops" where present (livehdr.train.synthesis).
    ``operators``: {name: callable(sdr) -> linear light relative to paper white}; ``reset()`` is called (when
    there) before each case, and each runs once per case. ``columns``: "sdr" (the input as is, in every row),
    "truth", an operator name, or OURS (every operator no other column names). ``stops``: one row per value
    per case, the light shown x 2^stops.
    """
    if not cases:
        raise UserError("contact sheet: no cases to show")
    columns = resolve_columns(columns, operators)
    stops = tuple(stops)
    layout = sheet_layout(cases, columns, stops)
    sheet = np.empty(layout.shape, dtype=np.uint8)
    sheet[:] = BACKGROUND
    for j, col in enumerate(columns):
        _, x = layout.tile_origin(0, j)
        draw_text(sheet, LABEL_PAD, x, "SDR (AS IS)" if col == "sdr" else col)
    for i, case in enumerate(cases):
        light = {"truth": np.asarray(case["target"], np.float32)}
        for name in columns:
            if name in operators:
                op = operators[name]
                if hasattr(op, "reset"):
                    op.reset()  # every case is its own still: no temporal state carries over
                light[name] = np.asarray(op(case["sdr"]), dtype=np.float32)
        for k, st in enumerate(stops):
            row = i * len(stops) + k
            y, _ = layout.tile_origin(row, 0)
            for line_no, line in enumerate(row_label(case, st)):
                draw_text(sheet, y + LABEL_PAD + line_no * LINE_H, LABEL_PAD, line)
            for j, col in enumerate(columns):
                tile = sdr_as_is(case["sdr"]) if col == "sdr" else shown_as_sdr(light[col], st)
                ty, tx = layout.tile_origin(row, j)
                sheet[ty:ty + tile.shape[0], tx:tx + tile.shape[1]] = tile
    return sheet


def write_contact_sheet(path: str, image: np.ndarray) -> None:
    """Write the sheet (uint8 H x W x 3) as a PNG, atomically; an unwritable path is a one-line UserError."""
    from PIL import Image

    from livehdr.base.files import atomic_output

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"a contact sheet is uint8 H x W x 3, not {image.dtype} {image.shape}")
    with atomic_output(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", optimize=True)


# --------------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m livehdr.contact_sheet",
        description="Write a contact sheet of clipped highlights: SDR | MODEL | naive | truth, each case shown "
        "at paper white and 3 stops down (issue #23). The cases are the held-out grid of livehdr.evaluate; "
        "the ones with fully clipped regions whose true light has a shape are picked, one per scene.")
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="HDR images (folders or files)")
    p.add_argument("--model", required=True, metavar="NAME", help="the operator to show beside naive (e.g. clut)")
    p.add_argument("--out", default="docs/contact_sheet.png", metavar="OUT.png",
                   help="the PNG to write (default docs/contact_sheet.png)")
    p.add_argument("--cases", type=int, default=3, help="how many cases (rows of two stops) to show (default 3)")
    p.add_argument("--size", default="240x180", metavar="WxH", help="case (tile) size (default 240x180)")
    p.add_argument("--views", type=int, default=2, help="views per scene to choose from (default 2)")
    p.add_argument("--split", choices=("held_out", "validation", "all"), default="held_out",
                   help="which scenes of --data (models/splits.json, or --splits; default held_out)")
    p.add_argument("--splits", default=None, metavar="FILE.json", help="split file (default models/splits.json)")
    p.add_argument("--weights", default=None, metavar="FILE.safetensors", help="weights for a learned model")
    p.add_argument("--seed", type=int, default=2026, help="view seed (default 2026, livehdr.evaluate's)")
    return p


def progress(text: str) -> None:
    print(f"livehdr.contact_sheet: {text}", file=sys.stderr, flush=True)


def run(args) -> tuple[np.ndarray, list]:
    from livehdr.argtypes import parse_size
    from livehdr.base.files import check_writable
    from livehdr.operators import OperatorConfig, create_operator
    from livehdr.train.data import find_hdr_files, image_name, load_images, read_splits
    from livehdr.train.synthesis import make_grid_cases

    check_writable(args.out)  # before minutes of loading
    if args.cases < 1:
        raise UserError("--cases must be at least 1")
    if args.views < 1:
        raise UserError("--views must be at least 1")
    try:
        width, height = parse_size(args.size, minimum=16, maximum=4096)
    except argparse.ArgumentTypeError as e:
        raise UserError(f"--size {e}") from None
    only = None
    if args.split != "all":
        wanted = set(getattr(read_splits(args.splits), args.split))
        only = wanted & {image_name(p) for p in find_hdr_files(args.data)}
        if not only:
            raise UserError(f"--split {args.split}: none of {', '.join(sorted(wanted)) or 'no scenes'} "
                            f"is under {', '.join(args.data)}")
    config = OperatorConfig(weights=args.weights, precision="fp32")
    operators = {args.model: create_operator(args.model, config)}
    if "naive" not in operators:
        operators["naive"] = create_operator("naive", config)
    progress(f"loading {len(only) if only is not None else 'all'} scenes")
    images = load_images(args.data, min_size=16, only=only)
    cases = make_grid_cases(images, args.views, width, height, seed=args.seed)
    progress(f"{len(cases)} cases; choosing {args.cases} with shaped clipped highlights")
    chosen = choose_cases(cases, args.cases)
    for c in chosen:
        progress(f"  {c['name']}")
    progress(f"rendering {args.model}, naive and the truth")
    sheet = render_contact_sheet(chosen, operators)
    write_contact_sheet(args.out, sheet)
    return sheet, chosen


def main(argv=None) -> int:
    from livehdr.base.memory import keep_freed_memory

    keep_freed_memory()  # before any tensor: glibc would return every large one to the kernel
    args = build_parser().parse_args(argv)
    try:
        sheet, chosen = run(args)
    except UserError as e:
        print(f"livehdr.contact_sheet: error: {e}", file=sys.stderr)
        return e.exit_code
    print(f"wrote {args.out}: {sheet.shape[1]}x{sheet.shape[0]}, {len(chosen)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
