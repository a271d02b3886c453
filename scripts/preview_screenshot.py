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

from livehdr.argtypes import parse_size  # noqa: E402
from livehdr.base.errors import UserError, one_line  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="clut")
    p.add_argument("--out", default="docs/preview_exposure.png")
    p.add_argument("--size", type=parse_size, default=(640, 360), metavar="WxH")
    p.add_argument("--time", type=float, default=6.0, help="demo time in seconds (default 6: a sun and sky)")
    args = p.parse_args()
    try:
        return render(args)
    except UserError as e:
        print(f"preview_screenshot: {one_line(e)}", file=sys.stderr)
        return 2


def render(args) -> int:
    import moderngl
    from PIL import Image

    from livehdr import scenes
    from livehdr.operators import OperatorConfig, create_operator
    from livehdr.operators.lut import relative_at_nodes_of_lut
    from livehdr.window import renderer as gl
    from livehdr.window.renderer import Renderer, ViewState

    w, h = args.size
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
    from livehdr.base.files import atomic_output

    with atomic_output(args.out) as tmp:  # nothing half-written under the final name
        Image.fromarray(np.concatenate(rows, axis=0)).save(tmp)
    print(f"wrote {args.out}: SDR input | {args.model}, preview at 0 (top) and -2 stops (bottom)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
