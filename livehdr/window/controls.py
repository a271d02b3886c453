"""Keys -> actions -> view state: no GL, no glfw, so every key is testable directly."""
from __future__ import annotations

import dataclasses

from livehdr.color.levels import PAPER_WHITE_BT2408, PEAK_DEFAULT, PQ_PEAK
from livehdr.window.renderer import LAYOUTS, VIEWS, ViewState

# Steps for the peak and paper-white keys; the defaults (color.levels) are always among them.
PEAK_STEPS = tuple(sorted({400.0, 600.0, 800.0, PEAK_DEFAULT, 1500.0, 2000.0, 4000.0, PQ_PEAK}))
PAPER_WHITE_STEPS = tuple(sorted({80.0, 100.0, 120.0, 160.0, PAPER_WHITE_BT2408, 250.0, 300.0, 400.0}))
SEEK_SECONDS = 5.0
EXPOSURE_STEPS = (0.0, -1.0, -2.0, -3.0)  # the SDR preview's exposure key: stops under the picture's own



def next_in_cycle(choices, current):
    """The choice after ``current`` (the first one when ``current`` is not among them), wrapping around.

    >>> next_in_cycle(["auto", "srgb", "hable"], "hable"), next_in_cycle(["auto", "srgb"], "agx")
    ('auto', 'auto')
    """
    choices = list(choices)
    index = choices.index(current) if current in choices else -1
    return choices[(index + 1) % len(choices)]


def step_value(value: float, steps, direction: int) -> float:
    """The next value in ``steps`` above (direction +1) or below (-1) ``value``; stays at the ends."""
    if direction > 0:
        bigger = [s for s in steps if s > value + 1e-9]
        return bigger[0] if bigger else value
    smaller = [s for s in steps if s < value - 1e-9]
    return smaller[-1] if smaller else value


CHAR_ACTIONS = {
    " ": "pause", "+": "peak_up", "=": "peak_up", "-": "peak_down", "_": "peak_down",
    "[": "paper_white_down", "]": "paper_white_up", "m": "model", "c": "view", "v": "mode",
    "l": "layout", "x": "swap", "a": "ab", "f": "fullscreen", "s": "screenshot", "q": "quit", "h": "hud",
    "e": "exposure", "t": "curve",
}


@dataclasses.dataclass
class Controls:
    state: ViewState
    paused: bool = False
    quit: bool = False
    show_hud: bool = True
    operator_dirty: bool = False  # peak / paper white changed: the operator must be rebuilt
    next_model: bool = False
    next_curve: bool = False  # 't': the source's tone curve (auto, then each known curve, inverted exactly)
    toggle_fullscreen: bool = False
    screenshot: bool = False
    seek: float = 0.0  # seconds to seek by (files)
    message: str = ""

    def handle(self, action: str) -> None:
        s = self.state
        if action == "pause":
            self.paused = not self.paused
        elif action == "quit":
            self.quit = True
        elif action in ("peak_up", "peak_down"):
            peak = step_value(s.peak, PEAK_STEPS, 1 if action == "peak_up" else -1)
            if peak >= s.paper_white and peak != s.peak:
                s.peak = peak
                self.operator_dirty = True
        elif action in ("paper_white_up", "paper_white_down"):
            pw = step_value(s.paper_white, PAPER_WHITE_STEPS, 1 if action == "paper_white_up" else -1)
            if pw <= s.peak and pw != s.paper_white:
                s.paper_white = pw
                self.operator_dirty = True
        elif action == "view":
            s.view = VIEWS[(VIEWS.index(s.view) + 1) % len(VIEWS)]
        elif action == "mode":
            s.mode = "sdr" if s.mode == "pq" else "pq"
        elif action == "layout":
            s.layout = LAYOUTS[(LAYOUTS.index(s.layout) + 1) % len(LAYOUTS)]
        elif action == "swap":
            s.swap = not s.swap
        elif action == "ab":  # flip the whole picture between A (SDR input) and B (expansion)
            s.view = "hdr" if s.view == "sdr" else "sdr"
        elif action == "seek_back":
            self.seek -= SEEK_SECONDS
        elif action == "seek_forward":
            self.seek += SEEK_SECONDS
        elif action == "model":
            self.next_model = True
        elif action == "curve":
            self.next_curve = True
        elif action == "fullscreen":
            self.toggle_fullscreen = True
        elif action == "screenshot":
            self.screenshot = True
        elif action == "hud":
            self.show_hud = not self.show_hud
        elif action == "exposure":
            i = EXPOSURE_STEPS.index(s.exposure) if s.exposure in EXPOSURE_STEPS else -1
            s.exposure = EXPOSURE_STEPS[(i + 1) % len(EXPOSURE_STEPS)]
            self.message = (f"preview exposure {s.exposure:+g} stops" if s.mode == "sdr"
                            else "exposure applies to the SDR preview (v switches to it)")
