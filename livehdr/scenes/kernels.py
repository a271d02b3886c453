"""The numba kernels of the scene renderer (one fused pass per surface kind) and their textures.
Called only by render.py, which prepares their inputs."""
from __future__ import annotations

from collections import namedtuple
import functools
import math

import numba
import numpy as np

# --------------------------------------------------------------------------------------------------------
# Outdoor sky + ground: one fused numba pass over the frame (the numpy version made ~60 full-frame
# temporaries; this touches each pixel once). Scalars travel in a namedtuple, colours in a palette array.
# --------------------------------------------------------------------------------------------------------
_PAL_ZEN, _PAL_HOR, _PAL_SUN, _PAL_FOG, _PAL_GROUND, _PAL_DEEP = 0, 1, 2, 3, 4, 5

_Outdoor = namedtuple("_Outdoor", [
    "sun_x", "sun_y", "sun_z", "sun_intensity", "cos_disk_out", "cos_disk_in", "glow_tight", "glow_wide",
    "night", "clouds", "cloud_dx", "cloud_dz", "haze", "fog_density", "moon", "moon_x", "moon_y", "moon_z",
    "sun_e", "ambient", "ground_light", "cam_x", "cam_z", "cam_h", "phase", "road", "wet_road", "water",
    "shore", "far_shore"])


@functools.lru_cache(maxsize=8)
def _fbm_texture(seed: int, beta: float = 1.9) -> np.ndarray:
    """A tileable 256 x 256 fractal-noise texture: white noise shaped to a 1/f^beta spectrum, std 0.5.
    Larger beta is smoother (clouds); 1.9 keeps grain (grass)."""
    size = 256  # _tex wraps with & 255
    rng = np.random.default_rng(seed)
    k = np.fft.fftfreq(size)
    kk = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)
    kk[0, 0] = 1.0
    spec = np.fft.fft2(rng.standard_normal((size, size))) / kk ** (beta / 2)
    spec[0, 0] = 0.0
    tex = np.real(np.fft.ifft2(spec))
    return (0.5 * tex / tex.std()).astype(np.float32)


@numba.njit(cache=True, inline="always", fastmath=True)
def _tex(tex, x, y):
    """Bilinear, wrapping lookup in a 256 x 256 texture (texel units)."""
    fx, fy = math.floor(x), math.floor(y)
    ax, ay = x - fx, y - fy
    ix, iy = int(fx) & 255, int(fy) & 255
    jx, jy = (ix + 1) & 255, (iy + 1) & 255
    top = tex[iy, ix] * (1.0 - ax) + tex[iy, jx] * ax
    bot = tex[jy, ix] * (1.0 - ax) + tex[jy, jx] * ax
    return top * (1.0 - ay) + bot * ay


@numba.njit(cache=True, inline="always", fastmath=True)
def _sky_base(pal, c, dx, dy, dz, disk):
    """Sky radiance in a normalised world direction: horizon-to-zenith gradient, sun aureole, optional
    disk (off for the main sky, which dims the disk behind clouds itself) -> r, g, b, cos(angle to sun)."""
    q = 1.0 - max(dy, 0.0)
    q2 = q * q
    g = 1.0 - q2 * q2
    cosg = dx * c.sun_x + dy * c.sun_y + dz * c.sun_z
    m = cosg - 1.0
    glow = c.glow_wide * math.exp(m * 12.0)
    if m > -0.05:  # the tight aureole is negligible beyond ~18 degrees: skip its exp
        glow += c.glow_tight * math.exp(m * 900.0)
    if disk and c.sun_intensity > 0.0:
        glow += c.sun_intensity * min(max((cosg - c.cos_disk_out) / (c.cos_disk_in - c.cos_disk_out), 0.0), 1.0)
    r = pal[_PAL_HOR, 0] + (pal[_PAL_ZEN, 0] - pal[_PAL_HOR, 0]) * g + glow * pal[_PAL_SUN, 0]
    gg = pal[_PAL_HOR, 1] + (pal[_PAL_ZEN, 1] - pal[_PAL_HOR, 1]) * g + glow * pal[_PAL_SUN, 1]
    b = pal[_PAL_HOR, 2] + (pal[_PAL_ZEN, 2] - pal[_PAL_HOR, 2]) * g + glow * pal[_PAL_SUN, 2]
    return r, gg, b, cosg


@numba.njit(cache=True, fastmath=True, nogil=True)
def _outdoor_kernel(out, openness, u, v, dx, dz, n_sky, c, pal, tex, cloud_tex, fog_col, mtn_thr, mtn_rock,
                    mtn_snow, lamps):
    H, W = out.shape[0], out.shape[1]
    reach = 14.0
    for i in range(H):
        vi = v[i]
        if i < n_sky:
            for j in range(W):
                inv = 1.0 / math.sqrt(1.0 + u[j] * u[j] + vi * vi)
                ddx, ddy, ddz = dx[j] * inv, vi * inv, dz[j] * inv
                r, g, b, cosg = _sky_base(pal, c, ddx, ddy, ddz, False)
                if c.moon > 0.0:
                    cm = ddx * c.moon_x + ddy * c.moon_y + ddz * c.moon_z
                    mo = 12.0 * min(max((cm - 0.99985) / 2e-5, 0.0), 1.0) + 0.15 * math.exp((cm - 1.0) * 300.0)
                    r += 0.85 * mo
                    g += 0.9 * mo
                    b += mo
                cover = 0.0
                if c.clouds > 0.0:
                    # A cloud layer 1.5 km up: hit point 1500 / v per row, so clouds move with parallax.
                    s = 1500.0 / max(vi, 1e-3)
                    wx = (c.cam_x + s * dx[j] + c.cloud_dx) * 0.04
                    wz = (c.cam_z + s * dz[j] + c.cloud_dz) * 0.04
                    n = _tex(cloud_tex, wx, wz) + 0.25 * _tex(tex, wx * 3.1 + 37.0, wz * 3.1 + 11.0)
                    cover = min(max((n + (c.clouds - 0.5) * 1.2) * 1.6, 0.0), 1.0) * min(max(vi * 12.0, 0.0), 1.0)
                    if c.night > 0.0:
                        lit = 0.02 + 0.03 * cover
                        cr, cg, cb = 0.6 * lit, 0.55 * lit, 0.5 * lit
                    else:
                        # thin edges glow, thick cores are greyer; clouds near the sun light up
                        sil = math.exp((cosg - 1.0) * 25.0) if cosg > 0.4 else 0.0
                        lit = (0.7 + 0.5 * (1.0 - cover)) * (c.sun_e * (0.5 + 3.0 * sil) + c.ambient * 1.5)
                        cr = lit * (0.55 * pal[_PAL_SUN, 0] + 0.45 * 0.9)
                        cg = lit * (0.55 * pal[_PAL_SUN, 1] + 0.45 * 0.92)
                        cb = lit * (0.55 * pal[_PAL_SUN, 2] + 0.45 * 1.0)
                    r += (cr - r) * cover
                    g += (cg - g) * cover
                    b += (cb - b) * cover
                if c.sun_intensity > 0.0:
                    d = c.sun_intensity * (1.0 - 0.85 * cover) * min(max(
                        (cosg - c.cos_disk_out) / (c.cos_disk_in - c.cos_disk_out), 0.0), 1.0)
                    r += d * pal[_PAL_SUN, 0]
                    g += d * pal[_PAL_SUN, 1]
                    b += d * pal[_PAL_SUN, 2]
                hz = math.exp(-ddy * 25.0) * c.haze if ddy < 0.6 else 0.0  # sky fades into fog at the horizon
                r += (pal[_PAL_FOG, 0] - r) * hz
                g += (pal[_PAL_FOG, 1] - g) * hz
                b += (pal[_PAL_FOG, 2] - b) * hz
                op = 1.0 - cover
                if vi < mtn_thr[j]:
                    src = mtn_snow if vi > mtn_thr[j] - 0.012 else mtn_rock
                    r, g, b = src[j, 0], src[j, 1], src[j, 2]
                    op = 0.0
                if c.night > 0.0:  # light pollution over the town
                    cg_ = 0.02 * math.exp(-vi * 20.0)
                    r += cg_
                    g += 0.6 * cg_
                    b += 0.3 * cg_
                out[i, j, 0], out[i, j, 1], out[i, j, 2] = r, g, b
                openness[i, j] = op
        else:
            s = c.cam_h / max(-vi, 1e-5)  # depth of the ground plane on this row
            fade = math.exp(-s / 40.0)  # texture detail fades with distance (cheap anti-aliasing)
            for j in range(W):
                gx = c.cam_x + s * dx[j]
                gz = c.cam_z + s * dz[j]
                nse = (0.6 * _tex(tex, gx * 3.0, gz * 3.0) + 0.8 * _tex(tex, gx * 0.4 + 91.0, gz * 0.4 + 17.0)) * fade
                L = c.ground_light
                k = L * (1.0 + 0.45 * nse)
                r, g, b = pal[_PAL_GROUND, 0] * k, pal[_PAL_GROUND, 1] * k, pal[_PAL_GROUND, 2] * k
                if c.road > 0.0 and abs(gx - 2.5) < 7.3:  # the road wanders within 2.5 +- 4 m
                    d = abs(gx - (2.5 + 4.0 * math.sin(gz * 0.012)))
                    if d < 3.2:
                        paint = (d < 0.12 and (gz % 6.0) < 3.0) or abs(d - 3.0) < 0.08
                        k = L * (1.0 + 0.1 * nse)
                        if paint:
                            r, g, b = 0.75 * k, 0.72 * k, 0.6 * k
                        else:
                            r, g, b = 0.07 * k, 0.07 * k, 0.075 * k
                        if c.wet_road > 0.0:  # a wet road picks up a sheen of the sky
                            r += 0.2 * pal[_PAL_HOR, 0]
                            g += 0.2 * pal[_PAL_HOR, 1]
                            b += 0.2 * pal[_PAL_HOR, 2]
                for q in range(lamps.shape[0]):
                    # lamp on the ground: E = I cos / d^2 = (L pi r^2) y / d^3, with a neutral reflectance
                    ex, ez = gx - lamps[q, 0], gz - lamps[q, 2]
                    if abs(ex) > reach or abs(ez) > reach:
                        continue
                    d2 = ex * ex + ez * ez + lamps[q, 1] * lamps[q, 1]
                    if d2 < reach * reach:
                        w = 1.0 - d2 / (reach * reach)  # window: the pool fades out instead of ending in a ring
                        E = 0.25 * lamps[q, 3] * lamps[q, 1] / (d2 * math.sqrt(d2)) * w * w
                        r += E * lamps[q, 4]
                        g += E * lamps[q, 5]
                        b += E * lamps[q, 6]
                if c.water > 0.0:
                    wob = 6.0 * math.sin(gx * 0.04 + 1.0)
                    if c.shore + wob < gz < c.far_shore + wob:
                        r, g, b = _water(pal, c, tex, gx, gz, s, u[j], vi, dx[j], dz[j])
                T = math.exp(-c.fog_density * s * fog_col[j, 3])
                fr, fg, fb = fog_col[j, 0], fog_col[j, 1], fog_col[j, 2]
                out[i, j, 0] = r * T + fr * (1.0 - T)
                out[i, j, 1] = g * T + fg * (1.0 - T)
                out[i, j, 2] = b * T + fb * (1.0 - T)
                openness[i, j] = 0.0


@numba.njit(cache=True, inline="always", fastmath=True)
def _water(pal, c, tex, gx, gz, s, u, v, dx, dz):
    """Lake surface: Fresnel-weighted reflection of the sky (sun disk included) off wind ripples."""
    fade = math.exp(-s / 120.0)
    ph = c.phase  # integer harmonics of the loop phase keep the ripples seamless
    nx = 0.05 * fade * (math.sin(gx * 1.3 + gz * 0.4 + 3.0 * ph) + 0.5 * math.sin(gx * 3.1 - gz * 1.7 - 5.0 * ph))
    nz = 0.05 * fade * (math.sin(gz * 1.1 - gx * 0.3 + 4.0 * ph) + 0.5 * math.sin(gz * 2.7 + gx * 2.1 + 7.0 * ph))
    nn = 1.0 / math.sqrt(nx * nx + nz * nz + 1.0)
    nx, ny, nz = nx * nn, nn, nz * nn
    inv = 1.0 / math.sqrt(1.0 + u * u + v * v)
    ddx, ddy, ddz = dx * inv, v * inv, dz * inv
    dn = ddx * nx + ddy * ny + ddz * nz
    rx, ry, rz = ddx - 2.0 * dn * nx, max(ddy - 2.0 * dn * ny, 0.0), ddz - 2.0 * dn * nz
    r, g, b, _ = _sky_base(pal, c, rx, ry, rz, True)
    F = 0.02 + 0.98 * (1.0 - min(max(-dn, 0.0), 1.0)) ** 5  # Schlick, n = 1.33
    k = c.ground_light * (1.0 - F)
    return (F * r + k * pal[_PAL_DEEP, 0], F * g + k * pal[_PAL_DEEP, 1], F * b + k * pal[_PAL_DEEP, 2])


@numba.njit(cache=True, inline="always", fastmath=True)
def _ceiling_panel(x, z):
    """1 inside a 1.2 m x 3.2 m light panel on a 6 m grid, else 0."""
    return 1.0 if abs(x % 6.0 - 3.0) < 0.6 and abs(z % 6.0 - 3.0) < 1.6 else 0.0


@numba.njit(cache=True, fastmath=True, nogil=True)
def _room_kernel(img, v, dx, dz, s_wall, wall_a, cx, cz, h, hc, ambient, fog_density, fog, outside):
    H, W = img.shape[0], img.shape[1]
    panel_r, panel_g, panel_b = 30.0, 29.0, 26.0
    for i in range(H):
        vi = v[i]
        if vi > 0.0:
            s_row = (hc - h) / vi
        elif vi < 0.0:
            s_row = h / -vi
        else:
            s_row = 1e6
        s_mirror = (hc + h) / -vi if vi < 0.0 else 1e6  # floor reflection: the camera mirrored below the floor
        for j in range(W):
            sw = s_wall[j]
            if sw < s_row:  # wall
                y = h + sw * vi
                a = wall_a[j]
                am = a % 8.0
                if 2.0 < am < 6.5 and 1.2 < y < hc - 1.5:
                    if abs(y % 1.5 - 0.75) < 0.04 or abs(a % 1.5 - 0.75) < 0.04:  # window bars
                        r, g, b = 0.05, 0.05, 0.05
                    else:
                        r, g, b = outside[0], outside[1], outside[2]
                else:
                    r, g, b = 0.45 * ambient, 0.4 * ambient, 0.33 * ambient
                dist = sw
            else:
                gx, gz = cx + s_row * dx[j], cz + s_row * dz[j]
                if vi > 0.0:
                    k = _ceiling_panel(gx, gz)
                    r = 0.05 * ambient + k * panel_r
                    g = 0.05 * ambient + k * panel_g
                    b = 0.055 * ambient + k * panel_b
                else:
                    tile = (math.floor(gx / 1.5) + math.floor(gz / 1.5)) % 2.0
                    r = (0.18 + 0.1 * tile) * ambient
                    g = (0.16 + 0.09 * tile) * ambient
                    b = (0.14 + 0.08 * tile) * ambient
                    if s_mirror < sw:
                        k = 0.12 * math.exp(-s_mirror / 60.0) * _ceiling_panel(cx + s_mirror * dx[j],
                                                                                cz + s_mirror * dz[j])
                        r += k * panel_r
                        g += k * panel_g
                        b += k * panel_b
                dist = s_row
            T = math.exp(-fog_density * dist)
            img[i, j, 0] = r * T + fog[0] * (1.0 - T)
            img[i, j, 1] = g * T + fog[1] * (1.0 - T)
            img[i, j, 2] = b * T + fog[2] * (1.0 - T)


@numba.njit(cache=True, fastmath=True, nogil=True)
def _face_kernel(img, c0, s_c, a_c, top, bot, T, fogc, v, cam_h, box_h, seed, lit_frac, mode, ndl,
                 wall_light, albedo, hor, sun_col, has_windows):
    """Shade one vertical building face, column by column, inside its per-column row span."""
    H = img.shape[0]
    for k in range(s_c.shape[0]):
        r_lo, r_hi = max(int(math.ceil(top[k])), 0), min(int(math.floor(bot[k])), H - 1)
        if r_hi < r_lo:
            continue
        a = a_c[k] / 3.0
        ia = math.floor(a)
        fa = a - ia
        win_col = 0.2 < fa < 0.8
        Tk = T[k]
        for r in range(r_lo, r_hi + 1):
            y = cam_h + s_c[k] * v[r]
            # windows on a 3 m x 3.5 m grid; which are lit is a hash of the window's integer coordinates
            yy = y / 3.5
            iy = math.floor(yy)
            fy = yy - iy
            if has_windows and win_col and 0.3 < fy < 0.8 and 2.0 < y < box_h - 1.0:
                h = math.sin(ia * 12.9898 + iy * 78.233 + seed * 3.7) * 43758.5453
                h -= math.floor(h)
                if mode != _FACE_DAY and h < lit_frac:
                    e = (1.0 + 5.0 * h / max(lit_frac, 1e-3)) * (0.5 if mode == _FACE_SUNSET else 1.0)
                    cr, cg, cb = e, 0.78 * e, 0.5 * e
                elif mode == _FACE_NIGHT:
                    cr, cg, cb = 0.02, 0.025, 0.03
                else:  # glass reflects the sky; the odd pane facing the sun throws a hot glint
                    m = (0.3 + 0.5 * h) if mode == _FACE_DAY else 0.25
                    cr, cg, cb = m * hor[0] + 0.01, m * hor[1] + 0.015, m * hor[2] + 0.02
                    if ndl > 0.6 and h > 0.9:
                        gl = 8.0 * (ndl - 0.6)
                        cr += gl * sun_col[0]
                        cg += gl * sun_col[1]
                        cb += gl * sun_col[2]
            else:
                ao = min(max(0.55 + 0.075 * y, 0.55), 1.0)  # darker near the ground
                e = wall_light * ao
                cr, cg, cb = albedo[0] * e, albedo[1] * e, albedo[2] * e
            img[r, c0 + k, 0] = cr * Tk + fogc[k, 0] * (1.0 - Tk)
            img[r, c0 + k, 1] = cg * Tk + fogc[k, 1] * (1.0 - Tk)
            img[r, c0 + k, 2] = cb * Tk + fogc[k, 2] * (1.0 - Tk)


@numba.njit(cache=True, fastmath=True, nogil=True)
def _sphere_kernel(img, r0, r1, c0, c1, u, v, xc, yc, zc, rad, chrome, albedo, cos_y, sin_y, c, pal, lamps):
    """Ray-trace one ball inside its screen box: mirror (chrome) or paint with a clear coat (glossy).

    Camera space; ``lamps`` rows are (x, y, z in camera space, radiance, area, r, g, b)."""
    cc = xc * xc + yc * yc + zc * zc - rad * rad
    gl = c.ground_light
    for i in range(r0, r1):
        for j in range(c0, c1):
            uu, vv = u[j], v[i]
            a = 1.0 + uu * uu + vv * vv
            b = uu * xc + vv * yc + zc
            disc = b * b - a * cc
            if disc <= 0.0:
                continue
            s = (b - math.sqrt(disc)) / a
            px, py, pz = s * uu, s * vv, s
            nx, ny, nz = (px - xc) / rad, (py - yc) / rad, (pz - zc) / rad
            ia = 1.0 / math.sqrt(a)
            dx, dy, dz = uu * ia, vv * ia, ia
            dn = dx * nx + dy * ny + dz * nz
            rx, ry, rz = dx - 2.0 * dn * nx, dy - 2.0 * dn * ny, dz - 2.0 * dn * nz
            # camera -> world (yaw only)
            wx, wy, wz = rx * cos_y + rz * sin_y, ry, -rx * sin_y + rz * cos_y
            er, eg, eb, _ = _sky_base(pal, c, wx, wy, wz, True)
            below = min(max(-wy * 8.0, 0.0), 1.0)  # the lower half of the world is ground
            er += (pal[_PAL_GROUND, 0] * gl - er) * below
            eg += (pal[_PAL_GROUND, 1] * gl - eg) * below
            eb += (pal[_PAL_GROUND, 2] * gl - eb) * below
            nwx, nwz = nx * cos_y + nz * sin_y, -nx * sin_y + nz * cos_y
            ndl = max(nwx * c.sun_x + ny * c.sun_y + nwz * c.sun_z, 0.0) * c.sun_e
            rdl = max(wx * c.sun_x + wy * c.sun_y + wz * c.sun_z, 0.0)
            F = 0.04 + 0.96 * (1.0 - min(max(-dn, 0.0), 1.0)) ** 5  # Schlick, n = 1.5
            # The sun's true mirror image is far below a pixel: a game-style specular lobe stands in.
            if chrome:
                sp = 200.0 * c.sun_e * rdl ** 400
                r = er * (albedo[0] * 0.9 + 0.1) + sp * pal[_PAL_SUN, 0]
                g = eg * (albedo[1] * 0.9 + 0.1) + sp * pal[_PAL_SUN, 1]
                bb = eb * (albedo[2] * 0.9 + 0.1) + sp * pal[_PAL_SUN, 2]
            else:
                sp = 25.0 * c.sun_e * rdl ** 120
                e = ndl + c.ambient * (0.6 + 0.4 * ny)
                r = albedo[0] * e * (1.0 - F) + er * F + sp * pal[_PAL_SUN, 0]
                g = albedo[1] * e * (1.0 - F) + eg * F + sp * pal[_PAL_SUN, 1]
                bb = albedo[2] * e * (1.0 - F) + eb * F + sp * pal[_PAL_SUN, 2]
            for q in range(lamps.shape[0]):
                lx, ly, lz = lamps[q, 0] - px, lamps[q, 1] - py, lamps[q, 2] - pz
                d2 = lx * lx + ly * ly + lz * lz
                di = 1.0 / math.sqrt(d2)
                ndl_l = max((nx * lx + ny * ly + nz * lz) * di, 0.0)
                rdl_l = max((rx * lx + ry * ly + rz * lz) * di, 0.0)
                k = lamps[q, 3] * (rdl_l ** 800 if chrome else F * rdl_l ** 200)
                if not chrome:
                    k += (albedo[0] + albedo[1] + albedo[2]) / 3.0 * lamps[q, 3] * lamps[q, 4] * ndl_l / d2
                r += k * lamps[q, 5]
                g += k * lamps[q, 6]
                bb += k * lamps[q, 7]
            T = math.exp(-c.fog_density * s / ia)
            img[i, j, 0] = r * T + pal[_PAL_FOG, 0] * (1.0 - T)
            img[i, j, 1] = g * T + pal[_PAL_FOG, 1] * (1.0 - T)
            img[i, j, 2] = bb * T + pal[_PAL_FOG, 2] * (1.0 - T)


_FACE_DAY, _FACE_SUNSET, _FACE_NIGHT = 0, 1, 2
