"""docs/preview_exposure.png: the window's compare view (SDR input | expansion) in the SDR preview at 0 and
-2 stops (the 'e' key), drawn offscreen by the window's own renderer from one demo frame.

    .venv/bin/python scripts/preview_screenshot.py --model clut --out docs/preview_exposure.png
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="clut")
    p.add_argument("--out", default="docs/preview_exposure.png")
    p.add_argument("--size", default="640x360")
    p.add_argument("--time", type=float, default=6.0, help="demo time in seconds (default 6: a sun and sky)")
    args = p.parse_args()
    import moderngl
    from PIL import Image

    from livehdr import scenes
    from livehdr.operators import OperatorConfig, create_operator
    from livehdr.operators.lut import relative_at_nodes_of_lut
    from livehdr.window import renderer as gl
    from livehdr.window.renderer import Renderer, ViewState

    w, h = (int(v) for v in args.size.split("x"))
    sdr = np.asarray(scenes.demo_frame_sdr(args.time, w, h), dtype=np.uint8)
    op = create_operator(args.model, OperatorConfig())
    ctx = moderngl.create_standalone_context(backend="egl")
    r = Renderer(ctx)
    if getattr(op, "applies_lut", False):
        lut = op.lut_for_frame(sdr)
        r.upload_lut(sdr, lut)
        r.set_table(relative_at_nodes_of_lut(lut))
    else:
        r.upload_sdr(sdr, op.shader_curve, gl.shader_uniforms(op))
        r.set_table(op.relative_at_nodes(sdr))
    rows = []
    for stops in (0.0, -2.0):
        state = ViewState(view="split", layout="side", mode="sdr", dither=0.0, exposure=stops,
                          source_peak=op.content_peak)
        fbo = gl.create_offscreen_target(ctx, 2 * w, h)
        r.draw(fbo, (2 * w, h), state)
        rows.append(np.rint(r.read(fbo) * 255).astype(np.uint8))
        fbo.release()
    r.release()
    gl.release_standalone(ctx)
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out)
    print(f"wrote {args.out}: SDR input | {args.model}, preview at 0 (top) and -2 stops (bottom)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
