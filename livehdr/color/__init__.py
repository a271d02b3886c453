"""The colour contract (DESIGN.md): transfer functions, primaries, reference levels, display encodings.

Conventions:
- operator output is *linear light, BT.709 primaries, relative to SDR reference white* (1.0 = paper white);
- absolute nits = relative x paper_white (default 203 cd/m2, ITU-R BT.2408-7 clause 2.2);
- the display peak defaults to 1000 cd/m2; content brighter than it is rolled off softly, never hard-clipped.

Stages, each in its own module (libplacebo-style explicit colour stages):
  transfer.py   EOTFs / OETFs and their inverses, one table (``CURVES``)
  primaries.py  BT.709 / BT.2020 matrices, luminance weights, chromaticity adaptation
  levels.py     ``ReferenceLevels``: paper white, peak, content peak (the only home of the defaults)
  encode.py     after the operator: nits, roll-off, BT.2020, PQ / HLG, SDR preview
  glsl.py       the same constants as GLSL ``#define``s for the shaders
  pack.py       numba kernels fusing encode.py for whole frames (imported on its own: numba is heavy)
  tonecurves.py forward SDR tone curves of cameras and games (Reinhard, ACES, Hable)
  highlight.py  the spatial highlight stage's grid: cell sums, regions, features, the field's application
  regions.py    8-connected labelling (the shape measure's and the grid's one rule)
This package re-exports the public names of the first four, so ``color.eotf_sRGB`` etc. work.
"""
from livehdr.color.encode import *  # noqa: F401,F403
from livehdr.color.encode import __all__ as _encode_all
from livehdr.color.levels import *  # noqa: F401,F403
from livehdr.color.levels import __all__ as _levels_all
from livehdr.color.primaries import *  # noqa: F401,F403
from livehdr.color.primaries import __all__ as _primaries_all
from livehdr.color.shim import _ops as ops_for, _prepare as prepare_array  # noqa: F401  (public: for operators on the shim)
from livehdr.color.transfer import *  # noqa: F401,F403
from livehdr.color.transfer import __all__ as _transfer_all

__all__ = [*_levels_all, *_transfer_all, *_primaries_all, *_encode_all]
