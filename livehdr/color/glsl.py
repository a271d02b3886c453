"""The colour constants as GLSL ``#define``s, generated from this package when a program is built.

The shaders hold no hand-copied numbers: ``present.frag`` uses these names, and the tests compare the
framebuffer it renders with ``livehdr.color`` to 10-bit precision.
"""
from __future__ import annotations

from livehdr.color import levels, primaries, transfer


def glsl_float(x: float) -> str:
    # repr round-trips a double; GLSL wants a decimal point or exponent on every float literal.
    text = repr(float(x))
    return text if any(c in text for c in ".eE") else text + ".0"


def glsl_mat3(m) -> str:
    """GLSL's mat3 constructor takes columns; our matrices act on column vectors (row-major numpy)."""
    cols = [m[r][c] for c in range(3) for r in range(3)]
    return "mat3(" + ", ".join(glsl_float(v) for v in cols) + ")"


def glsl_vec3(v) -> str:
    return "vec3(" + ", ".join(glsl_float(x) for x in v) + ")"


def glsl_defines() -> str:
    """One ``#define`` per constant, in the order the shader reads them."""
    values = {
        # IEC 61966-2-1:1999 clauses 5.2 / 5.3
        "SRGB_DECODE_KNEE": 0.04045, "SRGB_ENCODE_KNEE": 0.0031308, "SRGB_SLOPE": 12.92,
        "SRGB_OFFSET": 0.055, "SRGB_GAMMA": 2.4,
        # SMPTE ST 2084:2014 clause 5.1
        "PQ_M1": transfer.PQ_M1, "PQ_M2": transfer.PQ_M2, "PQ_C1": transfer.PQ_C1, "PQ_C2": transfer.PQ_C2,
        "PQ_C3": transfer.PQ_C3, "PQ_PEAK": levels.PQ_PEAK,
    }
    lines = [f"#define {k} {glsl_float(v)}" for k, v in values.items()]
    lines.append(f"#define BT709_TO_BT2020 {glsl_mat3(primaries.MATRIX_BT709_TO_BT2020)}")
    lines.append(f"#define WEIGHTS_BT709 {glsl_vec3(primaries.WEIGHTS_BT709)}")
    return "\n".join(lines) + "\n"


def glsl_highlight_defines() -> str:
    """The highlight stage's constants (color/highlight.py) for present.frag's SHADER_HIGHLIGHT."""
    from livehdr.color import highlight

    values = {"HIGHLIGHT_APPLY_KNEE": highlight.APPLY_KNEE,
              "HIGHLIGHT_APPLY_SCALE": 1.0 / (1.0 - highlight.APPLY_KNEE)}  # apply_weight's reciprocal, as the CPU
    return "".join(f"#define {k} {glsl_float(v)}\n" for k, v in values.items())
