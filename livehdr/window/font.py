"""HUD text without font files: a built-in 5x7 bitmap font drawn into an RGBA overlay (numpy).

The overlay is as large as the window; the presenter uploads it as a texture and the fragment shader
blends it over the picture (in PQ mode its sRGB colours are shown at paper white). Text is upper-case
only; unknown characters draw as '?'.
"""
from __future__ import annotations

import numpy as np

GLYPH_W, GLYPH_H = 5, 7

# Each glyph: 7 rows of 5 columns, '#' = ink. Drawn for this project.
_GLYPHS_SRC = {
    " ": ".....|.....|.....|.....|.....|.....|.....",
    "A": ".###.|#...#|#...#|#####|#...#|#...#|#...#",
    "B": "####.|#...#|#...#|####.|#...#|#...#|####.",
    "C": ".###.|#...#|#....|#....|#....|#...#|.###.",
    "D": "####.|#...#|#...#|#...#|#...#|#...#|####.",
    "E": "#####|#....|#....|####.|#....|#....|#####",
    "F": "#####|#....|#....|####.|#....|#....|#....",
    "G": ".###.|#...#|#....|#.###|#...#|#...#|.####",
    "H": "#...#|#...#|#...#|#####|#...#|#...#|#...#",
    "I": ".###.|..#..|..#..|..#..|..#..|..#..|.###.",
    "J": "..###|...#.|...#.|...#.|...#.|#..#.|.##..",
    "K": "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#",
    "L": "#....|#....|#....|#....|#....|#....|#####",
    "M": "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#",
    "N": "#...#|##..#|#.#.#|#..##|#...#|#...#|#...#",
    "O": ".###.|#...#|#...#|#...#|#...#|#...#|.###.",
    "P": "####.|#...#|#...#|####.|#....|#....|#....",
    "Q": ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#",
    "R": "####.|#...#|#...#|####.|#.#..|#..#.|#...#",
    "S": ".####|#....|#....|.###.|....#|....#|####.",
    "T": "#####|..#..|..#..|..#..|..#..|..#..|..#..",
    "U": "#...#|#...#|#...#|#...#|#...#|#...#|.###.",
    "V": "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..",
    "W": "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.",
    "X": "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#",
    "Y": "#...#|#...#|.#.#.|..#..|..#..|..#..|..#..",
    "Z": "#####|....#|...#.|..#..|.#...|#....|#####",
    "0": ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.",
    "1": "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
    "2": ".###.|#...#|....#|...#.|..#..|.#...|#####",
    "3": "#####|...#.|..#..|...#.|....#|#...#|.###.",
    "4": "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.",
    "5": "#####|#....|####.|....#|....#|#...#|.###.",
    "6": "..##.|.#...|#....|####.|#...#|#...#|.###.",
    "7": "#####|....#|...#.|..#..|.#...|.#...|.#...",
    "8": ".###.|#...#|#...#|.###.|#...#|#...#|.###.",
    "9": ".###.|#...#|#...#|.####|....#|...#.|.##..",
    ".": ".....|.....|.....|.....|.....|.##..|.##..",
    ",": ".....|.....|.....|.....|.##..|..#..|.#...",
    ":": ".....|.##..|.##..|.....|.##..|.##..|.....",
    "-": ".....|.....|.....|#####|.....|.....|.....",
    "+": ".....|..#..|..#..|#####|..#..|..#..|.....",
    "/": "....#|...#.|...#.|..#..|.#...|.#...|#....",
    "%": "##..#|##..#|...#.|..#..|.#...|#..##|#..##",
    "=": ".....|.....|#####|.....|#####|.....|.....",
    "(": "...#.|..#..|.#...|.#...|.#...|..#..|...#.",
    ")": ".#...|..#..|...#.|...#.|...#.|..#..|.#...",
    "<": "...#.|..#..|.#...|#....|.#...|..#..|...#.",
    ">": ".#...|..#..|...#.|....#|...#.|..#..|.#...",
    "[": ".###.|.#...|.#...|.#...|.#...|.#...|.###.",
    "]": ".###.|...#.|...#.|...#.|...#.|...#.|.###.",
    "|": "..#..|..#..|..#..|..#..|..#..|..#..|..#..",
    "_": ".....|.....|.....|.....|.....|.....|#####",
    "'": "..#..|..#..|.#...|.....|.....|.....|.....",
    "!": "..#..|..#..|..#..|..#..|..#..|.....|..#..",
    "?": ".###.|#...#|....#|...#.|..#..|.....|..#..",
    "*": ".....|#.#.#|.###.|#####|.###.|#.#.#|.....",
    "#": ".#.#.|.#.#.|#####|.#.#.|#####|.#.#.|.#.#.",
}


def _parse(src: str) -> np.ndarray:
    rows = src.split("|")
    assert len(rows) == GLYPH_H and all(len(r) == GLYPH_W for r in rows), src
    return np.array([[c == "#" for c in r] for r in rows], dtype=bool)


GLYPHS = {ch: _parse(s) for ch, s in _GLYPHS_SRC.items()}


def text_mask(text: str, scale: int = 2) -> np.ndarray:
    """One line of text as a boolean mask, (7*scale) x (6*len*scale): 1 column of spacing per glyph."""
    text = text.upper()
    cell = np.zeros((GLYPH_H, (GLYPH_W + 1) * max(len(text), 1)), dtype=bool)
    for i, ch in enumerate(text):
        cell[:, i * (GLYPH_W + 1):i * (GLYPH_W + 1) + GLYPH_W] = GLYPHS.get(ch, GLYPHS["?"])
    return np.kron(cell, np.ones((scale, scale), dtype=bool)) if scale > 1 else cell


class Overlay:
    """An RGBA8 canvas the size of the window (row 0 = top), with sRGB-coded colours."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.rgba = np.zeros((height, width, 4), dtype=np.uint8)

    def clear(self):
        self.rgba[:] = 0

    def box(self, x: int, y: int, w: int, h: int, colour=(0, 0, 0), alpha: int = 160):
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, self.width), min(y + h, self.height)
        if x1 > x0 and y1 > y0:
            self.rgba[y0:y1, x0:x1, :3] = colour
            self.rgba[y0:y1, x0:x1, 3] = alpha

    def text(self, x: int, y: int, text: str, colour=(235, 235, 235), scale: int = 2):
        """Draw ``text`` with its top-left corner at (x, y); clipped at the canvas edges."""
        m = text_mask(text, scale)
        h, w = m.shape
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, self.width), min(y + h, self.height)
        if x1 <= x0 or y1 <= y0:
            return
        sub = m[y0 - y:y1 - y, x0 - x:x1 - x]
        region = self.rgba[y0:y1, x0:x1]
        region[sub, :3] = colour
        region[sub, 3] = 255

    def panel(self, x: int, y: int, lines: list[str], scale: int = 2, pad: int = 6):
        """Lines of text on a translucent dark box (the HUD); returns the box height."""
        if not lines:
            return 0
        line_h = (GLYPH_H + 3) * scale
        width = max(len(s) for s in lines) * (GLYPH_W + 1) * scale
        height = len(lines) * line_h - 3 * scale
        self.box(x, y, width + 2 * pad, height + 2 * pad)
        for i, s in enumerate(lines):
            self.text(x + pad, y + pad + i * line_h, s, scale=scale)
        return height + 2 * pad


def text_width(text: str, scale: int = 2) -> int:
    return len(text) * (GLYPH_W + 1) * scale
