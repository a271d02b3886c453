"""What a weights file may ask MQNet to build (models/weights.py checks it before building anything).

Kept beside, not inside, mqnet.py: the bounds are about trusting files, the architecture is about maths.
A 330 KB file asking for head_channels=20000 once allocated 7.3 GB before failing.
"""
from livehdr.models.registry import ConfigOf, OneOf, Range, declare_config_bounds

declare_config_bounds(
    "mqnet",
    width=Range(0.05, 2.0),  # MobileNetV2 width multiplier; the shipped model uses 0.35
    attention=OneOf("ca", "sa", "csa", "none"),
    head_channels=Range(1, 256, integer=True),  # shipped: 16
    max_log2_gain=Range(0.0, 8.0),  # +-8 stops is already far past any display
    max_relative=Range(1.0, 10000.0 / 48.0),  # peak / paper white: 10000 cd/m2 over the lowest paper white
    output=OneOf("luma_chroma", "rgb"),  # luminance gain + bounded chroma (now), per-channel gains (first release)
    head_norm=OneOf("none", "instance"),
    max_chroma=Range(0.0, 1.0),  # the chroma term scales the input's own chroma by 1 +- this
    global_stage=ConfigOf("clut"),  # a CLUT before the U-Net (mqnet.py docstring), within clut's own bounds
)
