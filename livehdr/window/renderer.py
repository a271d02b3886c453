"""moderngl resources shared by the window and the offscreen presenter: textures, the program, one draw.

The renderer knows nothing about glfw or EGL: it draws into whatever framebuffer it is given (the
window's default framebuffer, or an RGB10_A2 offscreen one) and reads pixels back as float code values.
"""
from __future__ import annotations

from dataclasses import dataclass
import os

import numpy as np

from livehdr import color
from livehdr.base.errors import UserError
from livehdr.base.resources import resource_dir
from livehdr.color.glsl import glsl_defines, glsl_float, glsl_highlight_defines, glsl_mat3, glsl_vec3
from livehdr.color.levels import PAPER_WHITE_BT2408, PEAK_DEFAULT
from livehdr.color.transfer import INPUT_GAMMAS

GL_MIN_VERSION = 330  # GLSL 3.30 core: texelFetch, bvec mix, gl_VertexID
GL_RGB10_A2 = 0x8059  # internal format (DESIGN.md: create with dtype 'f1', read back with 'f4')

VIEWS = ("hdr", "sdr", "split", "heatmap", "diff")
LAYOUTS = ("wipe", "side")
MODES = ("pq", "sdr")
DITHER_10BIT = 1.0 / 1023.0
# Classical curves present.frag evaluates itself from the SDR texture (#define SHADER_CURVE n).
SHADER_CURVES = {"naive": 1, "bt2446c": 2, "bt2446a": 3}
# The HDR source that is a LUT operator's 3D LUT sampled from the SDR texture (#define SHADER_LUT), with
# the texture unit's LINEAR filter, or (SHADER_LUT_EXACT) with the trilinear weights computed in the shader.
SHADER_LUT = "lut"
SHADER_LUT_EXACT = "lut-exact"
# The composed table (color/table.py) of a pointwise operator and of the SDR input, already in the output's
# code values: the hdr, sdr and split views are one SDR fetch plus one 3D fetch (#define SHADER_TABLE).
SHADER_TABLE = "table"
TABLE_VIEWS = ("hdr", "sdr", "split")
# A pointwise operator the shader has neither as a curve nor as a LUT (a known source curve's exact inverse,
# operators/source_curve.py): its light is interpolated from its values at the table's nodes
# (#define SHADER_NODES), what the heatmap and diff views need; the other views draw the composed table.
SHADER_NODES = "nodes"
# Renderers whose texture filter interpolates in float: exact to the LUT contract with one fetch. GPUs
# quantise filter weights (8 fractional bits on NVIDIA), so they get the eight-fetch SHADER_LUT_EXACT.
FLOAT_FILTER_RENDERERS = ("llvmpipe", "softpipe")
GL_TEXTURE_2D, GL_RGBA, GL_UNSIGNED_INT_2_10_10_10_REV, GL_UNPACK_ALIGNMENT = 0x0DE1, 0x1908, 0x8368, 0x0CF5


def shader_can_expand(operator) -> bool:
    """True when present.frag computes this operator's output itself (no per-pixel work on the CPU): a
    classical curve, a LUT operator's per-frame 3D LUT (``applies_lut``; the CPU computes only the LUT), or
    another pointwise operator from its values at the table's nodes (``SHADER_NODES``)."""
    from livehdr.pipeline.stages import applies_lut

    return (getattr(operator, "shader_curve", None) in SHADER_CURVES or applies_lut(operator)
            or bool(getattr(operator, "pointwise", False)))


def table_grid_defines() -> str:
    """color.table's grid constants for the shader's ``table_coordinate`` (#define TABLE_GRID)."""
    from livehdr.color import table

    values = {"TABLE_SIZE": table.TABLE_SIZE, "TABLE_CELLS": table.TABLE_CELLS,
              "TABLE_BLACK_NODES": table.BLACK_NODES, "TABLE_BLACK_TOP": table.BLACK_TOP,
              "TABLE_UNIFORM_NODES": table.UNIFORM_NODES, "TABLE_TOP_START": table.TOP_START,
              "TABLE_TOP_SPLIT": table.TOP_SPLIT}
    return "#define TABLE_GRID 1\n" + "".join(f"#define {k} {glsl_float(v)}\n" for k, v in values.items())


def highlight_defines(curve: str | None) -> str:
    """#defines for SHADER_HIGHLIGHT (the stage's constants); the table views also read the operator's light
    at the nodes, to encode the pixels the stage gains."""
    extra = "#define NODES_LIGHT 1\n" if curve == SHADER_TABLE else ""
    return "#define SHADER_HIGHLIGHT 1\n" + glsl_highlight_defines() + extra


def curve_defines(curve: str | None) -> str:
    """#defines for SHADER_CURVE (the curve's number and its constants, taken from the Python code), or for
    SHADER_LUT (the LUT's filter: the texture unit's, or computed in the shader)."""
    if curve is None:
        return ""
    if curve == SHADER_LUT:
        return "#define SHADER_LUT 1\n"
    if curve == SHADER_LUT_EXACT:
        return "#define SHADER_LUT 1\n#define LUT_FILTER_IN_SHADER 1\n"
    if curve == SHADER_TABLE:
        return "#define SHADER_TABLE 1\n" + table_grid_defines()
    if curve == SHADER_NODES:
        return "#define SHADER_NODES 1\n#define NODES_LIGHT 1\n" + table_grid_defines()
    from livehdr.operators import classical as c

    values = {"BT2446C_K1": c.BT2446C_K1, "BT2446C_K2": c.BT2446C_K2, "BT2446C_K3": c.BT2446C_K3,
              "BT2446C_K4": c.BT2446C_K4, "BT2446C_Y_SDR_IP": c.BT2446C_Y_SDR_IP,
              "BT2446A_YP_KNEE_LOW": c.BT2446A_YP_KNEE_LOW, "BT2446A_YP_KNEE_HIGH": c.BT2446A_YP_KNEE_HIGH,
              "CURVE_SDR_REFERENCE_WHITE": color.SDR_REFERENCE_WHITE}
    lines = [f"#define SHADER_CURVE {SHADER_CURVES[curve]}"]
    lines += [f"#define {k} {glsl_float(v)}" for k, v in values.items()]
    lines.append(f"#define CURVE_WEIGHTS_BT2020 {glsl_vec3(color.WEIGHTS_BT2020)}")
    lines.append(f"#define CURVE_BT2020_TO_BT709 {glsl_mat3(color.MATRIX_BT2020_TO_BT709)}")
    return "\n".join(lines) + "\n"


def shader_uniforms(operator) -> dict:
    """The uniforms expand_curve reads, from the operator's own settings."""
    return {"u_saturation": float(operator.config.saturation), "u_max_relative": float(operator.max_relative),
            "u_curve_peak": float(operator.levels.peak), "u_curve_paper_white": float(operator.levels.paper_white),
            "u_sdr_white": float(getattr(operator, "params", {}).get("sdr_white", color.SDR_REFERENCE_WHITE))}


_gl = None


def _raw_gl():
    """libOpenGL (glvnd) for the one call moderngl does not offer: packed 2-10-10-10 pixel uploads."""
    global _gl
    if _gl is None:
        import ctypes
        import ctypes.util

        lib = ctypes.CDLL(ctypes.util.find_library("OpenGL") or "libOpenGL.so.0")
        u, i = ctypes.c_uint, ctypes.c_int
        lib.glBindTexture.argtypes = [u, u]
        lib.glPixelStorei.argtypes = [u, i]
        lib.glTexSubImage2D.argtypes = [u, i, i, i, i, i, u, u, ctypes.c_void_p]
        _gl = lib
    return _gl


@dataclass
class ViewState:
    """Everything the user can change at run time that affects the picture."""

    view: str = "hdr"
    layout: str = "wipe"
    mode: str = "sdr"
    divider: float = 0.5
    swap: bool = False
    paper_white: float = PAPER_WHITE_BT2408
    peak: float = PEAK_DEFAULT
    input_gamma: str = "srgb"
    dither: float = DITHER_10BIT
    source_peak: float | None = None  # brightest the frames can be (the operator's peak); None = peak
    exposure: float = 0.0  # stops applied to both sides of the SDR preview (0, -1, -2, -3): highlight detail


def preview_gain(state: ViewState) -> float:
    """The light scale of the SDR preview's exposure (both sides alike); 1 in PQ, where nothing is squeezed."""
    return float(2.0 ** state.exposure) if state.mode == "sdr" else 1.0


def fit_rect(win_w: int, win_h: int, content_w: int, content_h: int) -> tuple[int, int, int, int]:
    """Largest rectangle with the content's aspect ratio centred in the window (x, y from bottom-left)."""
    if content_w <= 0 or content_h <= 0 or win_w <= 0 or win_h <= 0:
        return 0, 0, max(win_w, 0), max(win_h, 0)
    scale = min(win_w / content_w, win_h / content_h)
    w = max(1, min(win_w, int(round(content_w * scale))))
    h = max(1, min(win_h, int(round(content_h * scale))))
    return (win_w - w) // 2, (win_h - h) // 2, w, h


def content_size(frame_w: int, frame_h: int, state: ViewState) -> tuple[int, int]:
    """The picture's natural size: side-by-side comparison puts two frames next to each other."""
    if state.view == "split" and state.layout == "side":
        return 2 * frame_w, frame_h
    return frame_w, frame_h


def legend_rect(rect, win_h: int) -> tuple[int, int, int, int]:
    """Heatmap legend bar at the right edge of the picture (window pixels, from the bottom-left)."""
    x, y, w, h = rect
    bar_w = max(8, min(24, w // 40))
    bar_h = int(h * 0.6)
    return x + w - bar_w - 90, y + int(h * 0.15), bar_w, bar_h


def legend_labels(legend, win_h: int):
    """(text, x, y_top) for the decade labels beside the legend bar, y measured from the window top."""
    lx, ly, lw, lh = legend
    labels = []
    for i, text in enumerate(("0.01", "0.1", "1", "10", "100", "1000", "10000")):
        y_gl = ly + lh * i / 6.0
        labels.append((text, lx + lw + 6, int(win_h - y_gl) - 7))
    labels.append(("CLIP", lx + lw + 6, int(win_h - (ly + lh * 1.07)) - 7))
    return labels


def _read_shader(name: str) -> str:
    path = os.path.join(resource_dir("shaders"), name)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        raise UserError(f"shader file missing: {path} (incomplete installation?)") from None


def check_gl_version(ctx) -> None:
    if ctx.version_code < GL_MIN_VERSION:
        v = ctx.version_code
        raise UserError(f"OpenGL {v // 100}.{v % 100 // 10} is too old: the window needs OpenGL 3.3 or newer "
                        f"(renderer: {ctx.info.get('GL_RENDERER', '?')}); use --output to write a file instead")


class Renderer:
    """Owns the program and textures; ``draw`` renders one frame into a framebuffer."""

    def __init__(self, ctx):
        check_gl_version(ctx)
        self.ctx = ctx
        self._vertex = _read_shader("fullscreen.vert")
        self._fragment = _read_shader("present.frag")
        self._programs = {}  # (view, mode, curve) -> (program, vertex array), compiled on first use
        self.hdr_tex = self.sdr_tex = self.overlay_tex = self.lut_tex = None
        self.table_tex = None  # both tables side by side along x (SDR input, operator): (2D, D, D) RGB32F
        self.table_nodes = None  # the pointwise operator at color.table's nodes for the current frame
        self._table_key = None  # what the table textures hold
        self.nodes_tex = None  # table_nodes as light, (D, D, D) RGB32F: SHADER_NODES and the highlight stage
        self._nodes_in_tex = None  # the array nodes_tex holds
        self.field_tex = None  # the highlight stage's field for the current frame, (cols, rows) R32F
        self.highlight_field = None  # (rows, cols) log2 gains, or None: the frame has no highlight stage
        self.highlight_top = 0.0  # the operator's max_relative: the gained light's ceiling
        self._field_in_tex = None  # the array field_tex holds
        self._sdr_kind = None  # what sdr_tex holds: 'f1', 'f4', 'bgrx8' or 'x2rgb10'
        # What computes the HDR picture from sdr_tex: a SHADER_CURVES name, SHADER_LUT / SHADER_LUT_EXACT
        # (the 3D LUT in lut_tex), or None (hdr_tex holds it, computed on the CPU)
        self.curve = None
        self.curve_uniforms: dict = {}
        self._overlay_box = None  # (x0, y0, x1, y1) the overlay texture holds painted pixels in
        self.frame_size = (0, 0)
        renderer_name = str(ctx.info.get("GL_RENDERER", "")).lower()
        self.lut_source = SHADER_LUT if any(n in renderer_name for n in FLOAT_FILTER_RENDERERS) else SHADER_LUT_EXACT
        # The same choice for the operator's nodes and the highlight field (#define FILTER_IN_SHADER)
        self.filter_in_shader = self.lut_source == SHADER_LUT_EXACT
        self.program(VIEWS[0], MODES[0])  # fail early (and clearly) if the driver rejects the shaders
        self.set_overlay(np.zeros((1, 1, 4), dtype=np.uint8))

    def program(self, view: str, mode: str, curve: str | None = None, highlight: bool = False):
        """The program specialised for one view, output mode, HDR source and highlight stage (on or not;
        see the note in present.frag). The key is (view, mode, curve) without the stage."""
        import moderngl

        key = (view, mode, curve, "highlight") if highlight else (view, mode, curve)
        if key not in self._programs:
            version, rest = self._fragment.split("\n", 1)
            stage = highlight_defines(curve) if highlight else ""
            filtering = "#define FILTER_IN_SHADER 1\n" if self.filter_in_shader else ""
            source = (f"{version}\n#define VIEW {VIEWS.index(view)}\n#define MODE {MODES.index(mode)}\n"
                      f"{glsl_defines()}{curve_defines(curve)}{stage}{filtering}{rest}")
            try:
                prog = self.ctx.program(vertex_shader=self._vertex, fragment_shader=source)
            except moderngl.Error as e:
                first = str(e).strip().splitlines()
                raise UserError(f"the GL driver rejected the shaders: {' '.join(first[:3])}") from None
            for name, unit in (("u_hdr", 0), ("u_sdr", 1), ("u_overlay", 2), ("u_lut", 3), ("u_table", 4),
                               ("u_nodes", 5), ("u_field", 6)):
                if name in prog:
                    prog[name].value = unit
            self._programs[key] = (prog, self.ctx.vertex_array(prog, []))
        return self._programs[key]

    # ---- uploads ---------------------------------------------------------------------------------
    def _texture(self, old, w, h, dtype):
        import moderngl

        if old is not None and old.size == (w, h) and old.dtype == dtype:
            return old
        if old is not None:
            old.release()
        tex = self.ctx.texture((w, h), 3, dtype=dtype, alignment=1)
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        tex.repeat_x = tex.repeat_y = False
        return tex

    def upload(self, sdr: np.ndarray, hdr: np.ndarray) -> None:
        """sdr: H x W x 3 uint8 (or float32 code values); hdr: H x W x 3 float32 relative linear BT.709."""
        h, w = hdr.shape[:2]
        if sdr.shape[:2] != (h, w):
            raise ValueError(f"SDR frame {sdr.shape[:2]} and HDR frame {(h, w)} differ in size")
        self._write_sdr(sdr)
        self.hdr_tex = self._texture(self.hdr_tex, w, h, "f4")
        self.hdr_tex.write(np.ascontiguousarray(hdr, dtype=np.float32))
        self.curve, self.curve_uniforms = None, {}
        self.table_nodes = self.highlight_field = None  # the CPU's light already has the highlight stage

    def upload_sdr(self, sdr, curve: str, uniforms: dict) -> None:
        """Only the SDR input (an array, or capture.RawPixels as grabbed); the shader computes the HDR
        picture with ``curve`` (SHADER_CURVES) and ``uniforms`` (shader_uniforms)."""
        if curve not in SHADER_CURVES:
            raise ValueError(f"the shader has no curve {curve!r}")
        self._write_sdr(sdr)
        self.curve, self.curve_uniforms = curve, dict(uniforms)
        self.table_nodes = self.highlight_field = None

    def upload_sdr_for_nodes(self, sdr) -> None:
        """Only the SDR input, for a pointwise operator the shader knows by its nodes alone (``set_table``
        follows): the table views draw its composed table, heatmap and diff its light from the nodes."""
        self._write_sdr(sdr)
        self.curve, self.curve_uniforms = SHADER_NODES, {}
        self.table_nodes = self.highlight_field = None

    def upload_lut(self, sdr, lut: np.ndarray) -> None:
        """The SDR input (an array or capture.RawPixels) and a LUT operator's 3D LUT for it (lut3d's contract:
        float32 (D, D, D, 3) indexed [b, g, r]); the shader samples the LUT from the SDR texture."""
        lut = np.ascontiguousarray(lut, dtype=np.float32)
        d = lut.shape[0]
        if lut.shape != (d, d, d, 3) or d < 2:
            raise ValueError(f"a 3D LUT is (D, D, D, 3) with D >= 2, got {lut.shape}")
        self._write_sdr(sdr)
        self._lut_texture(d)
        self.lut_tex.write(lut)  # C order [b][g][r]: red is the texture's x, blue its z
        self.curve, self.curve_uniforms = self.lut_source, {"u_lut_size": float(d)}
        self.table_nodes = self.highlight_field = None

    def set_table(self, nodes: np.ndarray | None) -> None:
        """After ``upload_sdr`` / ``upload_lut``: the same operator at ``color.table.table_nodes()`` (linear
        relative light, (D, D, D, 3)). The hdr, sdr and split views then draw from composed tables (composed
        again only when the operator's nodes or the view's encoding change); heatmap and diff keep the
        curve or LUT, which give them the light itself."""
        self.table_nodes = None if nodes is None else np.asarray(nodes, dtype=np.float32)

    def set_highlight(self, field: np.ndarray | None, top: float) -> None:
        """After an upload: this frame's highlight field ((rows, cols) log2 gains, color/highlight.py) and the
        operator's max_relative. Every view the shader expands applies it (SHADER_HIGHLIGHT); frames without
        one (None) draw with programs that have no stage in them."""
        self.highlight_field = None if field is None else np.ascontiguousarray(field, dtype=np.float32)
        self.highlight_top = float(top)

    def _upload_field(self) -> None:
        """The field as a small R32F texture (field_at's bilinear: the LINEAR filter, or FILTER_IN_SHADER)."""
        import moderngl

        field = self.highlight_field
        if field is self._field_in_tex:
            return
        rows, cols = field.shape
        if self.field_tex is None or self.field_tex.size != (cols, rows):
            if self.field_tex is not None:
                self.field_tex.release()
            self.field_tex = self.ctx.texture((cols, rows), 1, dtype="f4", alignment=1)
            self.field_tex.filter = (moderngl.LINEAR, moderngl.LINEAR)  # FILTER_IN_SHADER ignores it
            self.field_tex.repeat_x = self.field_tex.repeat_y = False  # clamp to edge: field_at's clamp
        self.field_tex.write(field)  # row 0 first: the field's top row at texel row 0
        self._field_in_tex = field

    def _upload_nodes(self) -> None:
        """The operator's light at the nodes as a 3D texture, once per new array of nodes."""
        import moderngl

        from livehdr.color.table import TABLE_SIZE

        if self.table_nodes is self._nodes_in_tex:
            return
        if self.nodes_tex is None:
            d = TABLE_SIZE
            self.nodes_tex = self.ctx.texture3d((d, d, d), 3, dtype="f4", alignment=1)
            self.nodes_tex.filter = (moderngl.LINEAR, moderngl.LINEAR)  # FILTER_IN_SHADER ignores it
            self.nodes_tex.repeat_x = self.nodes_tex.repeat_y = self.nodes_tex.repeat_z = False  # clamp to edge
        self.nodes_tex.write(np.ascontiguousarray(self.table_nodes))  # C order [b][g][r]: red is x, blue z
        self._nodes_in_tex = self.table_nodes

    def _upload_tables(self, state: ViewState) -> None:
        """Compose the SDR input's and the operator's tables for the view's encoding (color/table.py) into the
        one table texture, once per change of frame nodes, mode, levels, input gamma or exposure."""
        import moderngl

        from livehdr.color.table import TABLE_SIZE, compose_table, table_nodes

        source_peak = state.peak if state.source_peak is None else state.source_peak
        gain = preview_gain(state)
        key = (id(self.table_nodes), state.mode, state.paper_white, state.peak, source_peak, state.input_gamma, gain)
        if key == self._table_key:
            return
        d = TABLE_SIZE
        if self.table_tex is None:
            self.table_tex = self.ctx.texture3d((2 * d, d, d), 3, dtype="f4", alignment=1)
            self.table_tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
            self.table_tex.repeat_x = self.table_tex.repeat_y = self.table_tex.repeat_z = False  # clamp to edge
            self._both = np.empty((d, d, 2 * d, 3), dtype=np.float32)
        levels = color.ReferenceLevels(state.paper_white, state.peak)
        target = "rgb-pq" if state.mode == "pq" else "rgb-sdr"
        if self._table_key is None or self._table_key[1:] != key[1:]:  # the SDR side: its light as decoded
            sdr_light = (color.eotf_input(table_nodes(), state.input_gamma) * gain).astype(np.float32)
            self._both[:, :, :d] = compose_table(sdr_light, levels, target, source_peak)[..., :3]
        self._both[:, :, d:] = compose_table(self.table_nodes * gain, levels, target, source_peak)[..., :3]
        self.table_tex.write(self._both)  # C order [b][g][x]: x is the texture's x, blue its z
        self._table_key = key

    def _lut_texture(self, d: int) -> None:
        import moderngl

        if self.lut_tex is not None and self.lut_tex.size == (d, d, d):
            return
        if self.lut_tex is not None:
            self.lut_tex.release()
        # RGB32F: the LUT holds HDR light above 1.0, and float16's 11 bits would cost 5e-4 of relative error.
        tex = self.ctx.texture3d((d, d, d), 3, dtype="f4", alignment=1)
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)  # texelFetch (SHADER_LUT_EXACT) ignores it
        tex.repeat_x = tex.repeat_y = tex.repeat_z = False  # clamp to edge
        self.lut_tex = tex

    def _write_sdr(self, sdr) -> None:
        layout = getattr(sdr, "layout", None) if not isinstance(sdr, np.ndarray) else None
        if layout is None and not isinstance(sdr, np.ndarray):
            sdr = sdr.to_rgb()  # raw pixels in a layout the GPU cannot take as they are
        if layout is not None:  # X server words straight into the texture: no per-pixel work on the CPU
            words = np.ascontiguousarray(sdr.words)
            h, w = words.shape
            self._sdr_texture(layout, w, h)
            if layout == "bgrx8":
                self.sdr_tex.write(words)
            else:
                gl = _raw_gl()
                self.sdr_tex.use(1)
                gl.glBindTexture(GL_TEXTURE_2D, self.sdr_tex.glo)
                gl.glPixelStorei(GL_UNPACK_ALIGNMENT, 4)
                # As RGBA the words are copied as they are (GL_BGRA made Mesa repack them: 51 ms against 1.3 ms
                # at 1080p); red and blue land swapped and the texture's swizzle swaps them back.
                gl.glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, w, h, GL_RGBA, GL_UNSIGNED_INT_2_10_10_10_REV,
                                   words.ctypes.data)
        else:
            h, w = sdr.shape[:2]
            kind = "f1" if sdr.dtype == np.uint8 else "f4"
            self._sdr_texture(kind, w, h)
            self.sdr_tex.write(np.ascontiguousarray(sdr if kind == "f1" else sdr.astype(np.float32)))
        self.frame_size = (w, h)

    def _sdr_texture(self, kind: str, w: int, h: int) -> None:
        import moderngl

        if self.sdr_tex is not None and self.sdr_tex.size == (w, h) and self._sdr_kind == kind:
            return
        if self.sdr_tex is not None:
            self.sdr_tex.release()
        if kind in ("f1", "f4"):
            tex = self.ctx.texture((w, h), 3, dtype=kind, alignment=1)
        elif kind == "bgrx8":  # bytes B, G, R, X: the swizzle puts them in place when sampling
            tex = self.ctx.texture((w, h), 4, dtype="f1", alignment=4)
            tex.swizzle = "BGRA"
        else:  # x2rgb10: depth-30 words (blue in the low bits), uploaded as 2_10_10_10_REV: exact 10 bits
            tex = self.ctx.texture((w, h), 4, dtype="f1", internal_format=GL_RGB10_A2, alignment=4)
            tex.swizzle = "BGRA"
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        tex.repeat_x = tex.repeat_y = False
        self.sdr_tex, self._sdr_kind = tex, kind

    def set_overlay(self, rgba: np.ndarray) -> None:
        """Window-sized RGBA8 overlay (row 0 = top, sRGB colours): HUD text and legend labels."""
        self._overlay_rgba = rgba
        self._overlay_key = None  # encode and upload at the next draw

    def _upload_overlay(self, state: ViewState) -> None:
        """Encode the overlay's graphics for the output mode on the CPU, as present.frag's encode_graphics
        would (only its painted pixels), so the shader only blends."""
        import moderngl

        key = (state.mode, state.paper_white, state.peak, state.source_peak)
        if key == self._overlay_key:
            return
        rgba = self._overlay_rgba
        h, w = rgba.shape[:2]
        if self.overlay_tex is None or self.overlay_tex.size != (w, h):
            if self.overlay_tex is not None:
                self.overlay_tex.release()
            self.overlay_tex = self.ctx.texture((w, h), 4, dtype="f2", alignment=1)
            self.overlay_tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
            self.overlay_tex.write(np.zeros((h, w, 4), dtype=np.float16))
            self._overlay_box = None
        # Only the rectangle the HUD paints is encoded and written (a full window of float16 cost ~70 ms per
        # HUD refresh at 1728x972 on llvmpipe's machine); what the previous overlay painted is cleared first.
        alpha = rgba[..., 3]
        rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
        box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1) if rows.size else None
        old = self._overlay_box
        if old is not None and old != box:
            x0, y0, x1, y1 = old
            self.overlay_tex.write(np.zeros((y1 - y0, x1 - x0, 4), np.float16), viewport=(x0, y0, x1 - x0, y1 - y0))
        self._overlay_box = box
        if box is not None:
            x0, y0, x1, y1 = box
            sub = rgba[y0:y1, x0:x1]
            out = np.zeros(sub.shape, dtype=np.float16)
            painted = sub[..., 3] > 0
            pixels = sub[painted]
            # An overlay has a handful of colours: encode each once, not each pixel.
            keys = (pixels[:, 0].astype(np.uint32) << 16) | (pixels[:, 1].astype(np.uint32) << 8) | pixels[:, 2]
            unique, inverse = np.unique(keys, return_inverse=True)
            colours = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], axis=-1) / 255.0
            if state.mode == "pq":
                levels = color.ReferenceLevels(state.paper_white, state.peak)
                colours = color.encode_PQ_BT2020(color.eotf_sRGB(colours), levels)
            out[painted, :3] = colours[inverse.reshape(-1)]
            out[painted, 3] = pixels[:, 3] / 255.0
            self.overlay_tex.write(out, viewport=(x0, y0, x1 - x0, y1 - y0))
        self._overlay_key = key

    # ---- drawing ---------------------------------------------------------------------------------
    def picture_rect(self, win_w: int, win_h: int, state: ViewState) -> tuple[int, int, int, int]:
        cw, ch = content_size(*self.frame_size, state)
        return fit_rect(win_w, win_h, cw, ch)

    def draw(self, fbo, win_size: tuple[int, int], state: ViewState, with_legend: bool = True) -> None:
        if self.sdr_tex is None:
            raise RuntimeError("draw() before the first upload()")
        win_w, win_h = win_size
        rect = self.picture_rect(win_w, win_h, state)
        use_table = self.table_nodes is not None and state.view in TABLE_VIEWS
        curve = SHADER_TABLE if use_table else self.curve
        if curve == SHADER_NODES and self.table_nodes is None:
            raise RuntimeError("a SHADER_NODES frame needs set_table(nodes) before draw()")
        # The stage only where the shader computes the light (the CPU's uploaded light has it already)
        use_highlight = self.highlight_field is not None and curve is not None
        prog, vao = self.program(state.view, state.mode, curve, use_highlight)

        def put(name, value):
            if name in prog:  # the GLSL compiler drops uniforms a variant does not use
                prog[name].value = value

        fbo.use()
        self.ctx.viewport = (0, 0, win_w, win_h)
        put("u_rect", tuple(float(v) for v in rect))
        put("u_window", (float(win_w), float(win_h)))
        put("u_layout", LAYOUTS.index(state.layout))
        put("u_divider", float(state.divider))
        put("u_swap", bool(state.swap))
        put("u_paper_white", float(state.paper_white))
        put("u_peak", float(state.peak))
        put("u_rolloff_knee", float(color.rolloff_knee(state.peak)))
        source_peak = state.peak if state.source_peak is None else state.source_peak
        put("u_rolloff_a", float(color.rolloff_slope(state.peak, source_peak)))
        put("u_input_gamma", INPUT_GAMMAS.index(state.input_gamma))
        put("u_dither", float(state.dither))
        put("u_preview_gain", preview_gain(state))
        legend = legend_rect(rect, win_h) if (with_legend and state.view == "heatmap") else (0, 0, 0, 0)
        put("u_legend", tuple(float(v) for v in legend))
        for name, value in self.curve_uniforms.items():
            put(name, value)
        self._upload_overlay(state)
        if use_highlight:
            put("u_highlight_top", self.highlight_top)
            self._upload_field()
            self.field_tex.use(6)
        if curve == SHADER_NODES or (use_highlight and use_table):
            self._upload_nodes()
            self.nodes_tex.use(5)
        if use_table:
            self._upload_tables(state)
            self.table_tex.use(4)
        elif self.curve is None:
            self.hdr_tex.use(0)
        elif self.curve in (SHADER_LUT, SHADER_LUT_EXACT):
            self.lut_tex.use(3)
        self.sdr_tex.use(1)
        self.overlay_tex.use(2)
        vao.render(vertices=3)

    @staticmethod
    def read(fbo, size: tuple[int, int] | None = None) -> np.ndarray:
        """The framebuffer as float32 code values H x W x 3, top row first ('f4': exact for 10 bits)."""
        w, h = size if size is not None else fbo.size
        raw = fbo.read(viewport=(0, 0, w, h), components=3, dtype="f4")
        return np.frombuffer(raw, dtype=np.float32).reshape(h, w, 3)[::-1].copy()

    def release(self):
        for prog, vao in self._programs.values():
            vao.release()
            prog.release()
        self._programs.clear()
        for tex in (self.hdr_tex, self.sdr_tex, self.overlay_tex, self.lut_tex, self.table_tex, self.nodes_tex,
                    self.field_tex):
            if tex is not None:
                tex.release()


def to_png16(code_values: np.ndarray) -> np.ndarray:
    """Float code values in [0, 1] -> uint16 (a 10-bit k becomes round(k / 1023 * 65535))."""
    return np.rint(np.clip(code_values, 0.0, 1.0) * 65535.0).astype(np.uint16)


def release_egl_current() -> None:
    """Unbind the thread's current EGL context, if any.

    libglvnd refuses a GLX context (glfw's window on X11) with BadAccess while an EGL context from an
    earlier offscreen run is still current on the same thread, and moderngl's release() does not unbind it.
    """
    import ctypes
    import ctypes.util

    try:
        egl = ctypes.CDLL(ctypes.util.find_library("EGL") or "libEGL.so.1")
    except OSError:
        return
    egl.eglGetCurrentDisplay.restype = ctypes.c_void_p
    egl.eglMakeCurrent.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    dpy = egl.eglGetCurrentDisplay()
    if dpy:
        egl.eglMakeCurrent(dpy, None, None, None)


def release_standalone(ctx) -> None:
    """Release an EGL standalone context and leave no context current (see release_egl_current)."""
    ctx.release()
    release_egl_current()


def create_offscreen_target(ctx, width: int, height: int):
    """An RGB10_A2 colour buffer the size of the picture: the same 10 bits a 30-bit window has."""
    tex = ctx.texture((width, height), 4, dtype="f1", internal_format=GL_RGB10_A2)
    return ctx.framebuffer(color_attachments=[tex])
