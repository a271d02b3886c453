"""What a weights file may ask CLUT to build (models/weights.py checks it before building anything)."""
from livehdr.models.registry import Range, declare_config_bounds

declare_config_bounds(
    "clut",
    lut_size=Range(2, 129, integer=True),  # nodes per axis; shipped: 33 (129^3 x 3 floats is 26 MB)
    bases=Range(1, 64, integer=True),  # basis LUTs mixed per frame; shipped: 6
    s_rank=Range(1, 129, integer=True),  # M_s columns (<= lut_size, checked by the model)
    w_rank=Range(1, 1024, integer=True),  # M_w rows
    width=Range(1, 64, integer=True),  # thumbnail CNN's first-layer channels; shipped: 8
    max_log2_gain=Range(0.0, 8.0),
    max_chroma=Range(0.0, 1.0),
    max_relative=Range(1.0, 10000.0 / 48.0),  # peak / paper white
    highlight_hidden=Range(0, 256, integer=True),  # the known-curve highlight stage's hidden units (0: none)
    highlight_auto_hidden=Range(0, 256, integer=True),  # the blind (auto) stage's hidden units (0: none)
)
