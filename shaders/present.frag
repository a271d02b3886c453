#version 330 core
// The live window's one pass: comparison layout -> view -> output encoding (PQ or SDR preview).
// VIEW (0 hdr, 1 sdr, 2 split, 3 heatmap, 4 diff) and MODE (0 pq, 1 sdr) are #defined by gl_renderer,
// one program per pair: CPU renderers (llvmpipe) run every side of a uniform `if`, and selecting at
// compile time made a 720p frame ~10x cheaper there.
// Every colour constant (PQ, sRGB, the BT.709->BT.2020 matrix, luma weights) is #defined from
// livehdr.color by livehdr/color/glsl.py when the program is built; none is written here.
// The maths mirrors livehdr.color exactly (tests read the framebuffer back and compare):
//   relative linear BT.709 -> x paper white -> BT.709->BT.2020 (BT.2087) -> roll-off -> PQ (ST 2084).

uniform sampler2D u_hdr;      // operator output: linear BT.709, relative to paper white (RGB32F)
uniform sampler2D u_sdr;      // the SDR input: code values in [0, 1]
uniform sampler2D u_overlay;  // HUD / legend labels, already in output code values (encoded on the CPU by
                              // gl_renderer: cheaper than per pixel here); row 0 at the top, window-sized

uniform vec4 u_rect;          // picture area in window pixels (x, y from the bottom-left, w, h)
uniform vec2 u_window;        // window (framebuffer) size in pixels
uniform int u_layout;         // 0 wipe, 1 side by side
uniform float u_divider;      // wipe position, 0..1 of the picture width
uniform bool u_swap;          // false: SDR input left / expansion right
uniform float u_paper_white;  // cd/m2
uniform float u_peak;         // cd/m2
uniform int u_input_gamma;    // 0 sRGB, 1 gamma 2.2, 2 gamma 2.4
uniform float u_dither;       // noise amplitude in output code units (1/1023 for 10 bits; 0 = off)
uniform float u_preview_gain; // 2^exposure of the SDR preview (renderer.preview_gain): highlight detail
uniform vec4 u_legend;        // heatmap legend bar in window pixels (x, y, w, h); w = 0: none

out vec4 frag_color;

// ---- transfer functions (same constants and clauses as color.py) -----------------------------------
// IEC 61966-2-1:1999 clause 5.2
vec3 eotf_sRGB(vec3 V) {
    return mix(V / SRGB_SLOPE, pow(max((V + SRGB_OFFSET) / (1.0 + SRGB_OFFSET), 0.0), vec3(SRGB_GAMMA)),
               greaterThan(V, vec3(SRGB_DECODE_KNEE)));
}

// IEC 61966-2-1:1999 clause 5.3
vec3 eotf_inverse_sRGB(vec3 L) {
    vec3 hi = (1.0 + SRGB_OFFSET) * pow(max(L, vec3(SRGB_ENCODE_KNEE)), vec3(1.0 / SRGB_GAMMA)) - SRGB_OFFSET;
    return mix(L * SRGB_SLOPE, hi, greaterThan(L, vec3(SRGB_ENCODE_KNEE)));
}

vec3 eotf_input(vec3 V) {
    if (u_input_gamma == 1) return pow(max(V, 0.0), vec3(2.2));
    if (u_input_gamma == 2) return pow(max(V, 0.0), vec3(2.4));
    return eotf_sRGB(V);
}

// SMPTE ST 2084:2014 clause 5.3 (inverse EOTF), cd/m2 -> code value
vec3 eotf_inverse_ST2084(vec3 nits) {
    vec3 Ym = pow(clamp(nits / PQ_PEAK, 0.0, 1.0), vec3(PQ_M1));
    return pow((PQ_C1 + PQ_C2 * Ym) / (1.0 + PQ_C3 * Ym), vec3(PQ_M2));
}

// color.rolloff_highlights: identity below the knee k, then k + d / (1 + a d) with d = x - k, never above
// the peak. k and a come from color.rolloff_knee / rolloff_slope (a = 0 when the content fits).
uniform float u_rolloff_knee;
uniform float u_rolloff_a;
vec3 rolloff_highlights(vec3 x) {
    vec3 d = max(x - u_rolloff_knee, 0.0);
    vec3 shoulder = u_rolloff_knee + d / (1.0 + u_rolloff_a * d);
    return min(mix(x, shoulder, greaterThan(x, vec3(u_rolloff_knee))), vec3(u_peak));
}

// color.encode_PQ_BT2020
vec3 encode_PQ_BT2020(vec3 rel) {
    vec3 nits = max(BT709_TO_BT2020 * (max(rel, 0.0) * u_paper_white), 0.0);
    return eotf_inverse_ST2084(rolloff_highlights(nits));
}

// color.tonemap_preview_SDR: extended Reinhard with white at the headroom, then sRGB
vec3 tonemap_preview_SDR(vec3 rel) {
    vec3 x = max(rel * u_preview_gain, 0.0);
    float w = max(u_peak / u_paper_white, 1.0 + 1e-6);
    vec3 y = clamp(x * (1.0 + x / (w * w)) / (1.0 + x), 0.0, 1.0);
    return eotf_inverse_sRGB(y);
}

// Picture light (relative linear BT.709) -> the window's code values.
vec3 encode_output(vec3 rel) {
#if MODE == 0
    return encode_PQ_BT2020(rel);
#else
    return tonemap_preview_SDR(rel);
#endif
}

// Graphics (heatmap colours, HUD, divider) are sRGB code values: shown as-is on an SDR screen,
// at paper white on an HDR one (BT.2408's graphics white).
vec3 encode_graphics(vec3 code) {
#if MODE == 0
    return encode_PQ_BT2020(eotf_sRGB(code));
#else
    return code;
#endif
}

// ---- heatmap ---------------------------------------------------------------------------------------
// False colour by absolute luminance: one colour per decade, linear in log10(nits) between them:
// 0.01 black, 0.1 purple, 1 blue, 10 cyan, 100 green, 1000 yellow, 10000 red. Light above the
// display peak (it will be rolled off) is zebra-striped magenta.
vec3 heat_palette(float nits) {
    const vec3 stops[7] = vec3[7](vec3(0.0, 0.0, 0.0), vec3(0.25, 0.0, 0.5), vec3(0.0, 0.0, 1.0),
                                  vec3(0.0, 1.0, 1.0), vec3(0.0, 1.0, 0.0), vec3(1.0, 1.0, 0.0),
                                  vec3(1.0, 0.0, 0.0));
    float t = clamp(log(max(nits, 1e-6)) / log(10.0) + 2.0, 0.0, 6.0);
    int i = min(int(floor(t)), 5);
    return mix(stops[i], stops[i + 1], t - float(i));
}

const vec3 CLIP_COLOUR = vec3(1.0, 0.0, 1.0);

vec3 heatmap(vec3 rel, vec2 frag) {
    vec3 nits709 = max(rel, 0.0) * u_paper_white;
    float Y = dot(nits709, WEIGHTS_BT709);
    vec3 nits2020 = BT709_TO_BT2020 * nits709;
    bool clipped = max(nits2020.r, max(nits2020.g, nits2020.b)) > u_peak;
    if (clipped && mod(floor((frag.x + frag.y) / 6.0), 2.0) < 1.0) return CLIP_COLOUR;
    return heat_palette(Y);
}

// ---- difference view -------------------------------------------------------------------------------
// Expansion gain in stops, log2(Y_hdr / Y_sdr): red where the operator brightened, blue where it
// darkened, black where both agree; full colour at +-4 stops.
vec3 difference(vec3 rel_hdr, vec3 rel_sdr) {
    vec3 w = WEIGHTS_BT709;
    float stops = log2((dot(max(rel_hdr, 0.0), w) + 1e-4) / (dot(max(rel_sdr, 0.0), w) + 1e-4));
    float a = clamp(abs(stops) / 4.0, 0.0, 1.0);
    return stops >= 0.0 ? vec3(a, 0.0, 0.0) : vec3(0.0, 0.0, a);
}

// ---- sampling --------------------------------------------------------------------------------------
// Frames are uploaded top row first, so the texture's t axis points down the picture.
vec3 sample_sdr_code(vec2 uv) { return texture(u_sdr, vec2(uv.x, 1.0 - uv.y)).rgb; }
vec3 sample_sdr_relative(vec2 uv) { return eotf_input(sample_sdr_code(uv)); }

// ---- classical curves evaluated here (games: capture -> texture -> this, nothing per pixel on the CPU) --
// SHADER_CURVE (1 naive, 2 bt2446c, 3 bt2446a) is #defined by gl_renderer when the operator is a classical
// curve; the maths mirrors operators/classical.py (tests compare the framebuffer to 10-bit precision).
#ifdef SHADER_CURVE
uniform float u_saturation;    // OperatorConfig.saturation (operators.base.adjust_saturation)
uniform float u_max_relative;  // the operator's output range (peak / paper white)
uniform float u_curve_peak;    // cd/m2 the curve was built for (ReferenceLevels.peak)
uniform float u_curve_paper_white;
uniform float u_sdr_white;     // bt2446a's L_SDR parameter

#if SHADER_CURVE == 2
// classical.luminance_inverse_BT2446c: ITU-R BT.2446-1 Method C tone curve inverse (clause 6.2), cd/m2
float luminance_inverse_BT2446c(float Y) {
    float Y_hdr_ip = BT2446C_Y_SDR_IP / BT2446C_K1;
    return Y < BT2446C_Y_SDR_IP ? Y / BT2446C_K1
                                : (exp((Y - BT2446C_K4) / BT2446C_K2) + BT2446C_K3) * Y_hdr_ip;
}
#endif

#if SHADER_CURVE == 3
// classical.luma_inverse_BT2446a: ITU-R BT.2446-1 Method A luma curve inverse (clause 4.2, steps 2-5)
float rho_BT2446a(float L) { return 1.0 + 32.0 * pow(L / PQ_PEAK, 1.0 / 2.4); }
float luma_inverse_BT2446a(float Y_sdr) {
    float rho_s = rho_BT2446a(u_sdr_white), rho_h = rho_BT2446a(u_curve_peak);
    float Yc = log(1.0 + (rho_s - 1.0) * clamp(Y_sdr, 0.0, 1.0)) / log(rho_s);
    float lo = 1.077 * BT2446A_YP_KNEE_LOW, hi = 0.5 * BT2446A_YP_KNEE_HIGH + 0.5;
    float disc = max(2.7811 * 2.7811 - 4.0 * 1.1510 * (Yc + 0.6302), 0.0);
    float Yp = Yc <= lo ? Yc / 1.077 : (Yc < hi ? (2.7811 - sqrt(disc)) / (2.0 * 1.1510) : (Yc - 0.5) / 0.5);
    return (exp(Yp * log(rho_h)) - 1.0) / (rho_h - 1.0);
}
#endif

vec3 expand_curve(vec3 V) {
    V = clamp(V, 0.0, 1.0);
#if SHADER_CURVE == 1
    vec3 rel = eotf_input(V);  // classical.expand_naive
#elif SHADER_CURVE == 2
    vec3 lin = eotf_input(V);  // classical.expand_BT2446c
    float Y_sdr = dot(lin, WEIGHTS_BT709) * CURVE_SDR_REFERENCE_WHITE;
    vec3 rel = lin * (luminance_inverse_BT2446c(Y_sdr) / max(Y_sdr, 1e-6))
             * (CURVE_SDR_REFERENCE_WHITE / u_curve_paper_white);
#else
    // classical.expand_BT2446a: BT.2020 Y'C'bC'r (BT.2020-2 Table 4) with gamma 2.4, luma inverted,
    // chroma through the inverse colour correction.
    vec3 lin2020 = max(BT709_TO_BT2020 * eotf_input(V), 0.0);
    vec3 p = pow(lin2020, vec3(1.0 / 2.4));
    float Y = dot(p, CURVE_WEIGHTS_BT2020);
    float Cb = (p.b - Y) / 1.8814, Cr = (p.r - Y) / 1.4746;
    float Y_sdr = clamp(Y + max(0.1 * Cr, 0.0), 0.0, 1.0);
    float Y_hdr = luma_inverse_BT2446a(Y_sdr);
    float gain = 1.1 * Y_hdr / max(Y_sdr, 1e-6);
    Cb *= gain;
    Cr *= gain;
    float R = Y_hdr + 1.4746 * Cr, B = Y_hdr + 1.8814 * Cb;
    float G = (Y_hdr - CURVE_WEIGHTS_BT2020.r * R - CURVE_WEIGHTS_BT2020.b * B) / CURVE_WEIGHTS_BT2020.g;
    vec3 rgb2020 = pow(clamp(vec3(R, G, B), 0.0, 1.0), vec3(2.4)) * u_curve_peak;
    vec3 rel = CURVE_BT2020_TO_BT709 * rgb2020 / u_curve_paper_white;
#endif
    float Yr = dot(rel, WEIGHTS_BT709);  // adjust_saturation: chroma scaled around BT.709 luminance
    return clamp(Yr + u_saturation * (rel - Yr), 0.0, u_max_relative);
}
#endif

// ---- a LUT operator's 3D LUT (issue #11): one trilinear fetch per pixel ----------------------------
// SHADER_LUT is #defined by gl_renderer for LUT operators: the CPU computes only the small LUT per frame
// (lut3d's contract: entry [b][g][r] = output for code values (r, g, b) / (D - 1), linear light relative to
// paper white; red along the texture's x, blue along z). The input axis is the operator's code values:
// --input-gamma and saturation are already inside the LUT.
#ifdef SHADER_LUT
uniform sampler3D u_lut;
uniform float u_lut_size;  // D
vec3 expand_lut(vec3 V) {
    V = clamp(V, 0.0, 1.0);
#ifdef LUT_FILTER_IN_SHADER
    // Trilinear from the eight entries around V, weights in float. GPUs' LINEAR filters quantise the weights
    // (8 fractional bits on NVIDIA), up to 1/512 of a cell's step off; this matches lut3d.py exactly.
    int top = int(u_lut_size) - 1;
    vec3 x = V * float(top);
    ivec3 i = min(ivec3(x), ivec3(top - 1));
    vec3 f = x - vec3(i);
    vec3 c00 = mix(texelFetch(u_lut, i, 0).rgb, texelFetch(u_lut, i + ivec3(1, 0, 0), 0).rgb, f.x);
    vec3 c01 = mix(texelFetch(u_lut, i + ivec3(0, 1, 0), 0).rgb, texelFetch(u_lut, i + ivec3(1, 1, 0), 0).rgb, f.x);
    vec3 c10 = mix(texelFetch(u_lut, i + ivec3(0, 0, 1), 0).rgb, texelFetch(u_lut, i + ivec3(1, 0, 1), 0).rgb, f.x);
    vec3 c11 = mix(texelFetch(u_lut, i + ivec3(0, 1, 1), 0).rgb, texelFetch(u_lut, i + ivec3(1, 1, 1), 0).rgb, f.x);
    return mix(mix(c00, c01, f.y), mix(c10, c11, f.y), f.z);
#else
    // The texture's LINEAR filter (exact in float on Mesa's software rasterisers). Texel centres lie at
    // (i + 0.5) / D, so code value c samples at (c (D - 1) + 0.5) / D, between entries i and i + 1.
    return texture(u_lut, (V * (u_lut_size - 1.0) + 0.5) / u_lut_size).rgb;
#endif
}
#endif

// ---- the composed table's grid (issue #21, color/table.py) ------------------------------------------
// TABLE_GRID is #defined by gl_renderer with the grid's constants (from the Python module) whenever a
// program reads the table or the operator's light at its nodes.
#ifdef TABLE_GRID
// color.table.table_coordinate: square-spaced nodes at black, the uniform k / 32, the top cell split
vec3 table_coordinate(vec3 c) {
    c = clamp(c, 0.0, 1.0);
    vec3 black = TABLE_BLACK_NODES * sqrt(c / TABLE_BLACK_TOP);
    vec3 uniform_part = TABLE_BLACK_NODES + (c - TABLE_BLACK_TOP) * TABLE_CELLS;
    vec3 top = TABLE_BLACK_NODES + TABLE_UNIFORM_NODES + (c - TABLE_TOP_START) * (TABLE_CELLS * TABLE_TOP_SPLIT);
    return mix(mix(black, uniform_part, step(TABLE_BLACK_TOP, c)), top, step(TABLE_TOP_START, c));
}
#endif

// NODES_LIGHT: u_nodes holds a pointwise operator's light at the table's nodes (linear BT.709 relative to
// paper white, [b][g][r]: red along x), trilinear at the code's shaped coordinate: what the table kernels do
// for a pixel the highlight stage gains. FILTER_IN_SHADER (GPUs, whose LINEAR filters quantise the weights)
// takes the eight nodes with weights in float; Mesa's software rasterisers filter in float: one fetch.
#ifdef NODES_LIGHT
uniform sampler3D u_nodes;
vec3 nodes_light(vec3 c) {
    vec3 t = table_coordinate(c);
#ifndef FILTER_IN_SHADER
    return texture(u_nodes, (t + 0.5) / TABLE_SIZE).rgb;  // texel centres at (t + 0.5) / D, clamped to edge
#else
    ivec3 i = min(ivec3(t), ivec3(int(TABLE_SIZE) - 2));
    vec3 f = t - vec3(i);
    vec3 c00 = mix(texelFetch(u_nodes, i, 0).rgb, texelFetch(u_nodes, i + ivec3(1, 0, 0), 0).rgb, f.x);
    vec3 c01 = mix(texelFetch(u_nodes, i + ivec3(0, 1, 0), 0).rgb, texelFetch(u_nodes, i + ivec3(1, 1, 0), 0).rgb, f.x);
    vec3 c10 = mix(texelFetch(u_nodes, i + ivec3(0, 0, 1), 0).rgb, texelFetch(u_nodes, i + ivec3(1, 0, 1), 0).rgb, f.x);
    vec3 c11 = mix(texelFetch(u_nodes, i + ivec3(0, 1, 1), 0).rgb, texelFetch(u_nodes, i + ivec3(1, 1, 1), 0).rgb, f.x);
    return mix(mix(c00, c01, f.y), mix(c10, c11, f.y), f.z);
#endif
}
#endif

// ---- the spatial highlight stage (issue #23, color/highlight.py) -------------------------------------
// SHADER_HIGHLIGHT is #defined by gl_renderer only for frames that carry a field (an operator with a stage,
// a pixel at the knee): others compile without it and cost nothing. out = min(E(c) 2^(a(c) h(x)), top) on the relative light,
// before the view's encoding; a(c) is 0 below the knee, so every other pixel keeps its light.
#ifdef SHADER_HIGHLIGHT
uniform sampler2D u_field;      // (columns x rows) R32F log2 gains, row 0 at the top of the picture
uniform float u_highlight_top;  // the operator's max_relative
// color.highlight.apply_weight on the brightest channel
float highlight_weight(vec3 c) {
    return clamp((max(c.r, max(c.g, c.b)) - HIGHLIGHT_APPLY_KNEE) * HIGHLIGHT_APPLY_SCALE, 0.0, 1.0);
}
// color.highlight.field_at at picture position uv (from the bottom-left): bilinear between cell centres,
// clamped at the borders; texel centres at (x + 0.5) / w make (x + 0.5) * cols / w equal uv.x * cols.
float field_at(vec2 uv) {
#ifndef FILTER_IN_SHADER
    // LINEAR with clamp to edge is that bilinear: it samples at uv * cells - 0.5, clamped at the borders
    return texture(u_field, vec2(uv.x, 1.0 - uv.y)).r;
#else
    ivec2 cells = textureSize(u_field, 0);
    vec2 f = clamp(vec2(uv.x, 1.0 - uv.y) * vec2(cells) - 0.5, vec2(0.0), vec2(cells - 1));
    ivec2 i0 = min(ivec2(f), cells - 1);
    ivec2 i1 = min(i0 + 1, cells - 1);
    vec2 t = f - vec2(i0);
    float f00 = texelFetch(u_field, i0, 0).r, f01 = texelFetch(u_field, ivec2(i1.x, i0.y), 0).r;
    float f10 = texelFetch(u_field, ivec2(i0.x, i1.y), 0).r, f11 = texelFetch(u_field, i1, 0).r;
    float top = f00 + t.x * (f01 - f00);
    float bottom = f10 + t.x * (f11 - f10);
    return top + t.y * (bottom - top);
#endif
}
// color.highlight.pixel_gain: 2^(a h), exactly 1 below the knee; a darkening gain weighs the darkest channel
float highlight_gain(vec3 c, vec2 uv) {
    float a = highlight_weight(c);
    float gain = 1.0;
    if (a > 0.0) {
        float h = field_at(uv);
        if (h < 0.0) a = clamp((min(c.r, min(c.g, c.b)) - HIGHLIGHT_APPLY_KNEE) * HIGHLIGHT_APPLY_SCALE, 0.0, 1.0);
        if (a > 0.0) gain = exp2(a * h);
    }
    return gain;
}
vec3 with_highlight(vec3 rel, vec3 c, vec2 uv) {
    return min(rel * highlight_gain(c, uv), vec3(u_highlight_top));
}
#endif

// ---- the composed table (issue #21, color/table.py): operator + display encoding in one 3D fetch --------
// SHADER_TABLE is #defined by gl_renderer for pointwise operators in the hdr / sdr / split views: u_table
// holds the operator's output and the SDR input's, both already in this MODE's code values, on
// color.table's shaped grid.
#ifdef SHADER_TABLE
// One 3D texture holds both tables side by side along x: texels 0 .. D-1 the SDR input's, D .. 2D-1 the
// operator's, so either side is the same single fetch (a CPU renderer runs both sides of a branch).
uniform sampler3D u_table;
// Texel centres lie at (t + 0.5) / D: the LINEAR filter interpolates between nodes t and t + 1, never
// across into the other table. side 0: the SDR input, 1: the operator.
vec3 table_fetch(vec3 c, float side) {
    vec3 t = table_coordinate(c) + 0.5;
    return texture(u_table, vec3((t.x + side * TABLE_SIZE) / (2.0 * TABLE_SIZE), t.yz / TABLE_SIZE)).rgb;
}
// The operator's side with its highlight stage: the table holds encoded values, not light, so a pixel the
// stage gains is encoded here from the operator's light at the nodes (color/table.py _highlight_row); the
// others keep the table's value.
vec3 operator_table_code(vec3 code, vec3 c, vec2 uv) {
#ifdef SHADER_HIGHLIGHT
    float gain = highlight_gain(c, uv);
    if (gain != 1.0) return encode_output(min(nodes_light(c) * gain, vec3(u_highlight_top)));
#endif
    return code;
}
#endif

// The HDR picture's light. Each source of it is one compile-time branch; the highlight stage applies to
// the light the shader computes (the CPU's uploaded light already has it).
vec3 sample_hdr(vec2 uv) {
#if defined(SHADER_CURVE) || defined(SHADER_LUT) || defined(SHADER_NODES)
    vec3 c = sample_sdr_code(uv);
#ifdef SHADER_CURVE
    vec3 rel = expand_curve(c);  // classical curve on the SDR texture (capture passthrough)
#elif defined(SHADER_LUT)
    vec3 rel = expand_lut(c);  // the operator's LUT on the SDR texture
#else
    vec3 rel = nodes_light(c);  // a pointwise operator's light at the table's nodes
#endif
#ifdef SHADER_HIGHLIGHT
    rel = with_highlight(rel, c, uv);
#endif
    return rel;
#else
    return texture(u_hdr, vec2(uv.x, 1.0 - uv.y)).rgb;  // operator output uploaded by the CPU
#endif
}

// Interleaved gradient noise: cheap, stable per pixel, no texture needed.
float noise(vec2 p) { return fract(52.9829189 * fract(dot(p, vec2(0.06711056, 0.00583715)))); }

void main() {
    vec2 frag = gl_FragCoord.xy;
    vec2 p = (frag - u_rect.xy) / u_rect.zw;
    vec3 code = vec3(0.0);
    if (all(greaterThanEqual(p, vec2(0.0))) && all(lessThan(p, vec2(1.0)))) {
#if VIEW == 0 && defined(SHADER_TABLE)
        vec3 c = sample_sdr_code(p);
        code = operator_table_code(table_fetch(c, 1.0), c, p);
#elif VIEW == 0
        code = encode_output(sample_hdr(p));
#elif VIEW == 1 && defined(SHADER_TABLE)
        code = table_fetch(sample_sdr_code(p), 0.0);
#elif VIEW == 1
        code = encode_output(sample_sdr_relative(p));
#elif VIEW == 2
        // split: A = SDR input, B = expansion (swapped on request)
        bool left = p.x < (u_layout == 1 ? 0.5 : u_divider);
        vec2 uv = u_layout == 1 ? vec2(fract(p.x * 2.0), p.y) : p;
#ifdef SHADER_TABLE
        bool sdr_side = left != u_swap;
        vec3 c = sample_sdr_code(uv);
        code = table_fetch(c, sdr_side ? 0.0 : 1.0);
#ifdef SHADER_HIGHLIGHT
        if (!sdr_side) code = operator_table_code(code, c, uv);
#endif
#else
        code = encode_output(left != u_swap ? sample_sdr_relative(uv) : sample_hdr(uv));
#endif
        float divider_x = u_layout == 1 ? 0.5 : u_divider;
        // A 4-px light line with a dark 1-px edge each side: visible on any picture (1 px was not).
        float d = abs(frag.x - (u_rect.x + divider_x * u_rect.z));
        if (d < 3.0) code = encode_graphics(vec3(d < 2.0 ? 0.8 : 0.05));
#elif VIEW == 3
        code = encode_graphics(heatmap(sample_hdr(p), frag));
#else
        code = encode_graphics(difference(sample_hdr(p), sample_sdr_relative(p)));
#endif
    }

#if VIEW == 3
    // Heatmap legend: the palette from 0.01 to 10000 cd/m2, bottom to top, plus a clip swatch above.
    vec2 q = (frag - u_legend.xy) / u_legend.zw;
    bool in_column = u_legend.z > 0.0 && q.x >= 0.0 && q.x < 1.0;
    if (in_column && q.y >= 0.0 && q.y < 1.0) code = encode_graphics(heat_palette(pow(10.0, q.y * 6.0 - 2.0)));
    if (in_column && q.y >= 1.04 && q.y < 1.1) code = encode_graphics(CLIP_COLOUR);
#endif

    vec4 ov = texelFetch(u_overlay, ivec2(int(frag.x), int(u_window.y) - 1 - int(frag.y)), 0);
    code = mix(code, ov.rgb, ov.a);

    // Dither before the framebuffer's 10-bit quantisation: no banding in smooth HDR gradients.
    code += (noise(frag) - 0.5) * u_dither;
    frag_color = vec4(clamp(code, 0.0, 1.0), 1.0);
}
