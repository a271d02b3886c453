"""The HUD and labels drawn over the picture: a window-sized RGBA image, rebuilt only when it changes."""
from __future__ import annotations

import numpy as np

from livehdr.window import renderer as gl_renderer
from livehdr.window.controls import Controls
from livehdr.window.font import Overlay, text_width
from livehdr.window.renderer import ViewState


def build_overlay(win_w: int, win_h: int, rect, state: ViewState, controls: Controls, hud_lines: list[str],
                  compare_labels: tuple[str, str]) -> np.ndarray:
    """Window-sized RGBA: the HUD panel, comparison labels, legend labels (row 0 = top)."""
    ov = Overlay(win_w, win_h)
    scale = 2 if win_w >= 800 else 1
    x, y, w, h = rect
    top = win_h - (y + h)  # picture top, measured from the window top
    if controls.show_hud:  # small (1x font, ~50 px tall) so it hides little of the picture; 'h' hides it
        ov.panel(x + 8, top + 8, hud_lines, scale=1, pad=4)
    label_y = top + h - 8 - 14 * scale
    if state.view == "split":
        left, right = compare_labels if not state.swap else compare_labels[::-1]
        ov.panel(x + 8, label_y, [left], scale=scale)
        ov.panel(x + w - 8 - text_width(right, scale) - 12, label_y, [right], scale=scale)
    elif state.view in ("hdr", "sdr"):
        ov.panel(x + 8, label_y, [compare_labels[0] if state.view == "sdr" else compare_labels[1]], scale=scale)
    elif state.view == "heatmap":
        legend = gl_renderer.legend_rect(rect, win_h)
        for text, lx, ly in gl_renderer.legend_labels(legend, win_h):
            ov.text(lx, ly, text, scale=1)
        ov.panel(x + 8, label_y, ["HEATMAP: CD/M2, MAGENTA STRIPES = ABOVE PEAK"], scale=scale)
    elif state.view == "diff":
        ov.panel(x + 8, label_y, ["DIFF: RED = BRIGHTER, BLUE = DARKER THAN SDR (FULL AT 4 STOPS)"], scale=scale)
    return ov.rgba
