"""Procedural, game-like HDR scenes, shaded analytically on the CPU (no GL, no Python pixel loops).

Output of ``render_scene``: float32 H x W x 3, linear BT.709 *scene* light where 1.0 is a white diffuse
surface under normal exposure; the sun disk reaches thousands, lamps 20-200, speculars and glints 5-50+.
These feed the demo source (``--input demo``) and the synthetic half of the training data.

Why it is fast: the camera never pitches or rolls (the horizon is moved with an off-axis lens shift, as an
architectural camera does), so every horizontal surface (ground, lake, clouds, ceiling) has a depth that
depends on the row only and every vertical wall one that depends on the column only: no ray casting, just
closed-form depths.  The full-frame parts (sky + ground, or a hall) are one fused numba pass; building
faces are shaded per column inside their row span, balls and lamps inside their screen boxes.
About 40 ms of one core for a 1280x720 frame (``python -m livehdr.bench``).
"""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field
import functools
import math

import numba
import numpy as np

KINDS = ("day", "sunset", "night", "fog", "hall")
DEMO_LOOP_SECONDS = 10.0


@dataclass(frozen=True)
class Box:
    """A building or pillar standing on the ground: x0..x1, z0..z1 (metres), height, wall colour."""

    x0: float
    x1: float
    z0: float
    z1: float
    height: float
    color: tuple = (0.4, 0.38, 0.35)
    window_lit: float = 0.4  # fraction of windows lit (night) / emissive
    seed: int = 0
    windows: bool = True  # False: a plain wall (pillars)


@dataclass(frozen=True)
class Lamp:
    """An emissive bulb (radiance ``intensity``, radius in metres) on an optional post."""

    x: float
    y: float
    z: float
    intensity: float = 60.0
    color: tuple = (1.0, 0.8, 0.55)
    radius: float = 0.25
    flicker: float = 0.0  # 0 = steady, 1 = strong flicker
    post: bool = True


@dataclass(frozen=True)
class Sphere:
    """A shiny ball: 'chrome' reflects the environment, 'glossy' is a coloured dielectric with a specular."""

    x: float
    y: float
    z: float
    radius: float
    color: tuple = (0.8, 0.1, 0.1)
    material: str = "glossy"


@dataclass
class SceneParams:
    kind: str = "day"  # one of KINDS
    sun_elevation: float = 35.0  # degrees above the horizon
    sun_azimuth: float = 15.0  # degrees, 0 = straight ahead (+z), positive towards +x
    sun_intensity: float = 3000.0  # radiance of the sun disk (relative to diffuse white)
    sun_color: tuple = (1.0, 0.95, 0.88)
    sun_illuminance: float = 1.0  # irradiance on a surface facing the sun
    sun_swing: float = 0.0  # degrees of azimuth the sun swings over the loop
    night: bool = False
    sky_zenith: tuple = (0.10, 0.22, 0.55)
    sky_horizon: tuple = (0.50, 0.60, 0.75)
    ambient: float = 0.3  # sky irradiance on a horizontal surface
    clouds: float = 0.4  # cloud cover 0..1
    fog_density: float = 0.002  # 1/m
    fog_color: tuple | None = None  # default: the sky's horizon colour
    ground_color: tuple = (0.10, 0.16, 0.06)
    road: bool = True
    water: bool = True
    shore: float = 70.0  # where the lake begins (m ahead)
    far_shore: float = 320.0
    mountains: bool = True
    camera_height: float = 1.7
    camera_x: float = 0.0
    yaw: float = 0.0  # degrees
    pan_amplitude: float = 12.0  # degrees of camera pan over the loop
    fov: float = 75.0  # horizontal, degrees
    horizon: float = 0.52  # horizon row as a fraction of the height (lens shift)
    period: float = DEMO_LOOP_SECONDS  # every motion repeats with this period (seconds)
    ceiling: float | None = None  # interior: ceiling height (m); walls at room_half_width / room_depth
    room_half_width: float = 14.0
    room_depth: float = 70.0
    buildings: list = field(default_factory=list)
    lamps: list = field(default_factory=list)
    spheres: list = field(default_factory=list)
    stars: int = 0
    moon: bool = False
    seed: int = 0


# --------------------------------------------------------------------------------------------------------
# Camera
# --------------------------------------------------------------------------------------------------------
class _Camera:
    """Pinhole camera at (cx, h, cz) with yaw only; off-axis shift puts the horizon at row ``hz*H``.

    A pixel's (unnormalised) ray is u * right + v * up + forward, so depth along ``forward`` is the ray
    parameter ``s`` itself.
    """

    def __init__(self, width, height, fov_deg, horizon, yaw_deg, cx, h, cz=0.0):
        self.W, self.H = width, height
        self.f = (width / 2) / math.tan(math.radians(fov_deg) / 2)
        self.row0 = horizon * height  # v = 0 here
        self.u = ((np.arange(width, dtype=np.float32) + 0.5 - width / 2) / self.f).astype(np.float32)
        self.v = ((self.row0 - (np.arange(height, dtype=np.float32) + 0.5)) / self.f).astype(np.float32)
        th = math.radians(yaw_deg)
        self.sin, self.cos = math.sin(th), math.cos(th)
        self.dx = (self.u * self.cos + self.sin).astype(np.float32)  # world x of the ray per column
        self.dz = (-self.u * self.sin + self.cos).astype(np.float32)  # world z of the ray per column
        self.cx, self.h, self.cz = cx, h, cz
        self.yaw = th
        self.n_sky = int(np.searchsorted(-self.v, 0.0))  # rows with v > 0

    def to_camera(self, x, y, z):
        rx, ry, rz = x - self.cx, y - self.h, z - self.cz
        return rx * self.cos - rz * self.sin, ry, rx * self.sin + rz * self.cos

    def project(self, xc, yc, zc):
        return self.W / 2 + self.f * xc / zc - 0.5, self.row0 - self.f * yc / zc - 0.5

    def row_of_v(self, v):
        return self.row0 - 0.5 - self.f * v


def _clamp_span(a, b, n):
    a, b = int(max(0, math.floor(a))), int(min(n, math.ceil(b) + 1))
    return a, b


# --------------------------------------------------------------------------------------------------------
# Environment: sky, sun, clouds, stars
# --------------------------------------------------------------------------------------------------------
class _Sky:
    """Per-frame sun direction and sky constants (the shading itself is in the kernels)."""

    def __init__(self, p: SceneParams, t: float):
        el = math.radians(p.sun_elevation)
        az = math.radians(p.sun_azimuth + p.sun_swing * math.sin(2 * math.pi * t / p.period))
        self.sun = np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)], np.float32)
        self.zen = np.asarray(p.sky_zenith, np.float32)
        self.hor = np.asarray(p.sky_horizon, np.float32)
        self.sun_col = np.asarray(p.sun_color, np.float32)
        self.cos_disk_out = math.cos(math.radians(0.9))  # a game-sized sun: ~1.8 degrees across
        self.cos_disk_in = math.cos(math.radians(0.7))
        self.glow_tight = 0.02 * p.sun_intensity ** 0.75 * (0.15 if p.night else 1.0)
        self.glow_wide = 0.0 if p.night else (0.6 if p.kind == "sunset" else 0.3)
        self.fog = np.asarray(p.fog_color if p.fog_color is not None else p.sky_horizon, np.float32)
        self.sun_e = 0.0 if p.night else p.sun_illuminance  # irradiance from the sun on a surface facing it
        self.ground_light = self.sun_e * max(float(self.sun[1]), 0.0) + p.ambient  # ... on the ground


# --------------------------------------------------------------------------------------------------------
# The renderer
# --------------------------------------------------------------------------------------------------------
def _flicker(lamp: Lamp, t: float, period: float, k: int) -> float:
    if lamp.flicker <= 0:
        return 1.0
    w = 2 * math.pi / period  # integer harmonics keep the loop seamless
    s = math.sin(37 * w * t + k) + 0.6 * math.sin(53 * w * t + 2 * k) + 0.4 * math.sin(91 * w * t + 3 * k)
    dip = max(0.0, s - 0.6) / 1.4  # mostly on, with short dips like a failing tube
    return max(0.05, 1.0 - lamp.flicker * dip)


def render_scene(params: SceneParams, width: int, height: int, t: float = 0.0) -> np.ndarray:
    """Render ``params`` at time ``t`` (seconds) -> float32 H x W x 3 linear BT.709 scene light."""
    if width < 2 or height < 2:
        raise ValueError(f"scene size must be at least 2x2, got {width}x{height}")
    if params.kind not in KINDS:
        raise ValueError(f"unknown scene kind {params.kind!r}; choose one of {', '.join(KINDS)}")
    p = params
    phase = 2 * math.pi * t / p.period
    cam = _Camera(width, height, p.fov, p.horizon, p.yaw + p.pan_amplitude * math.sin(phase),
                  p.camera_x, p.camera_height)
    sky = _Sky(p, t)
    img = np.empty((height, width, 3), np.float32)
    sun_e = sky.sun_e

    gains = [_flicker(lamp, t, p.period, k) for k, lamp in enumerate(p.lamps)]
    consts, pal, lamps = _kernel_inputs(cam, sky, p, t, gains)
    if p.ceiling is None:
        _render_outdoor(img, cam, sky, p, consts, pal, lamps)
    else:
        _render_room(img, cam, sky, p, t)
    for box in sorted(p.buildings, key=lambda b: -_dist_xz(cam, (b.x0 + b.x1) / 2, (b.z0 + b.z1) / 2)):
        _render_box(img, cam, sky, p, box, sun_e)
    for sph in sorted(p.spheres, key=lambda s: -_dist_xz(cam, s.x, s.z)):
        _render_sphere(img, cam, sky, p, sph, consts, pal, lamps)
    for lamp, gain in zip(p.lamps, gains):
        _render_lamp(img, cam, p, lamp, gain)
    np.maximum(img, 0.0, out=img)
    return img


def _dist_xz(cam, x, z):
    return math.hypot(x - cam.cx, z - cam.cz)


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


def _kernel_inputs(cam, sky, p, t, lamp_gains):
    """Scalars (namedtuple), palette and lamp table shared by the numba kernels for one frame."""
    phase = 2 * math.pi * t / p.period
    sun = sky.sun
    moon = np.array([-0.35, 0.35, 0.87])
    moon /= np.linalg.norm(moon)
    c = _Outdoor(
        sun_x=float(sun[0]), sun_y=float(sun[1]), sun_z=float(sun[2]), sun_intensity=float(p.sun_intensity),
        cos_disk_out=sky.cos_disk_out, cos_disk_in=sky.cos_disk_in, glow_tight=float(sky.glow_tight),
        glow_wide=float(sky.glow_wide), night=float(p.night), clouds=float(p.clouds),
        cloud_dx=60.0 * math.sin(phase), cloud_dz=25.0 * math.cos(phase),  # a periodic drift: the loop stays seamless
        haze=min(1.0, 0.3 + 30 * p.fog_density), fog_density=float(p.fog_density), moon=float(p.moon),
        moon_x=float(moon[0]), moon_y=float(moon[1]), moon_z=float(moon[2]), sun_e=float(sky.sun_e),
        ambient=float(p.ambient), ground_light=float(sky.ground_light), cam_x=float(cam.cx), cam_z=float(cam.cz),
        cam_h=float(cam.h), phase=phase, road=float(p.road), wet_road=float(p.night or p.kind == "fog"),
        water=float(p.water), shore=float(p.shore), far_shore=float(p.far_shore))
    zen, hor = sky.zen, sky.hor
    if p.ceiling is not None:  # what a ball in a hall mirrors: bright ceiling panels above, walls around
        zen, hor = (1.2, 1.15, 1.0), tuple(0.45 * p.ambient * np.float32([1.0, 0.9, 0.75]))
    pal = np.array([zen, hor, sky.sun_col, sky.fog, p.ground_color, (0.01, 0.03, 0.035)], np.float64)
    # x, y, z, radiance, bulb area, r, g, b (flicker applied)
    lamps = np.array([[lp.x, lp.y, lp.z, lp.intensity * g, math.pi * lp.radius ** 2, *lp.color]
                      for lp, g in zip(p.lamps, lamp_gains)], np.float64).reshape(-1, 8)
    return c, pal, lamps


def _render_outdoor(img, cam, sky, p, consts, pal, lamps):
    """Sky, clouds, mountains, ground, road, lake and fog in one pass, then the stars."""
    # the ground kernel wants x, y, z, intensity (radiance x area), r, g, b
    pool = np.concatenate([lamps[:, :3], lamps[:, 3:4] * lamps[:, 4:5], lamps[:, 5:]], axis=1)
    thr, rock, snow = _mountain_profile(cam, sky, p)
    W = cam.u.shape[0]
    fog_T, fog = _fog_per_column(cam, sky, p, 0, W, np.ones(W))
    # per column: the fog colour and the ray length per unit depth, sqrt(1 + u^2)
    fog_col = np.concatenate([fog, np.sqrt(1.0 + cam.u.astype(np.float64) ** 2)[:, None]], axis=1)
    openness = np.empty(img.shape[:2], np.float32)
    _outdoor_kernel(img, openness, cam.u.astype(np.float64), cam.v.astype(np.float64), cam.dx.astype(np.float64),
                    cam.dz.astype(np.float64), cam.n_sky, consts, pal, _fbm_texture(p.seed % 1000),
                    _fbm_texture(p.seed % 1000 + 1, beta=3.2), fog_col, thr, rock, snow,
                    np.ascontiguousarray(pool))
    if p.stars:
        _render_stars(img, openness, cam, p)


def _render_stars(img, openness, cam, p):
    """Point stars at fixed sky positions, hidden by clouds, mountains and everything in front."""
    rng = np.random.default_rng(p.seed + 101)
    n = p.stars
    az = rng.uniform(-math.pi, math.pi, n)
    el = np.arcsin(rng.uniform(0.03, 1.0, n))
    mag = np.exp(rng.normal(-2.5, 1.0, n)).astype(np.float32)
    x, y, z = np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)
    xc, yc, zc = x * cam.cos - z * cam.sin, y, x * cam.sin + z * cam.cos
    ok = zc > 0.05
    c, r = cam.project(xc[ok], yc[ok], zc[ok])
    c, r, m = np.rint(c).astype(int), np.rint(r).astype(int), mag[ok]
    inside = (c >= 0) & (c < img.shape[1]) & (r >= 0) & (r < img.shape[0])
    c, r, m = c[inside], r[inside], m[inside]
    img[r, c] += (m * openness[r, c])[:, None] * np.float32([0.9, 0.95, 1.0])


def _mountain_profile(cam, sky, p):
    """A distant ridge whose elevation depends on azimuth only: a threshold v per column, and its colours."""
    W = cam.u.shape[0]
    if not p.mountains:
        return np.full(W, -1.0), np.zeros((W, 3)), np.zeros((W, 3))
    az = cam.yaw + np.arctan(cam.u.astype(np.float64))
    rng = np.random.default_rng(p.seed + 3)
    ridge = np.full_like(az, 0.035)
    dridge = np.zeros_like(az)
    for k, a in zip((2, 3, 5, 9, 17, 31), (0.35, 0.3, 0.2, 0.12, 0.06, 0.03)):
        ph = rng.uniform(0, 6.3)
        ridge += 0.05 * a * np.sin(k * az + ph)
        dridge += 0.05 * a * k * np.cos(k * az + ph)
    ridge = np.maximum(ridge, 0.004)
    thr = ridge * np.sqrt(1 + cam.u.astype(np.float64) ** 2)  # tan(elevation) -> v at that column
    sun_az = math.atan2(sky.sun[0], sky.sun[2])
    # slopes facing the sun's azimuth are lit; the far range is mostly aerial haze
    shade = np.clip(0.55 + 3.0 * dridge * math.sin(sun_az - 0.0), 0.2, 1.4)
    rock = np.float64([0.16, 0.17, 0.2]) * (sky.sun_e * max(float(sky.sun[1]), 0.05) * shade[:, None] + p.ambient)
    snow = np.where((ridge > 0.05)[:, None], rock * 4.0, rock)
    if p.night:
        rock = np.zeros_like(rock) + np.float64([0.004, 0.005, 0.009])
        snow = rock
    aerial = 0.2 if p.night else 0.55
    fog = sky.fog.astype(np.float64)
    return thr, rock * (1 - aerial) + fog * aerial, snow * (1 - aerial) + fog * aerial


def _render_room(img, cam, sky, p, t):
    """Interior: polished floor, ceiling with light panels, walls with windows onto bright daylight.

    Floor and ceiling depths depend on the row, the nearest wall's on the column, so a pixel is a wall
    exactly where the column's wall depth is below the row's floor/ceiling depth."""
    v = cam.v.astype(np.float64)
    dx, dz = cam.dx.astype(np.float64), cam.dz.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        s_back = np.where(dz > 1e-6, (p.room_depth - cam.cz) / dz, 1e6)
        s_side = np.where(dx > 1e-6, (p.room_half_width - cam.cx) / dx,
                          np.where(dx < -1e-6, (-p.room_half_width - cam.cx) / dx, 1e6))
    s_wall = np.minimum(s_back, s_side)
    wall_a = np.where(s_back <= s_side, cam.cx + s_wall * dx, cam.cz + s_wall * dz)  # position along the wall
    outside = (sky.hor * 12.0 + sky.zen * 6.0).astype(np.float64)  # daylight, far brighter than the room
    _room_kernel(img, v, dx, dz, s_wall, wall_a, float(cam.cx), float(cam.cz), float(cam.h), float(p.ceiling),
                 float(p.ambient), float(p.fog_density), sky.fog.astype(np.float64), outside)


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


_FACE_DAY, _FACE_SUNSET, _FACE_NIGHT = 0, 1, 2


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


def _fog_per_column(cam, sky, p, c0, c1, depth):
    """Transmittance and fog colour (with sun in-scatter) for objects at ``depth`` in columns c0:c1."""
    inv = 1.0 / np.sqrt(1.0 + cam.u[c0:c1].astype(np.float64) ** 2)
    T = np.exp(-p.fog_density * depth / inv)
    fog = np.broadcast_to(sky.fog.astype(np.float64), (c1 - c0, 3))
    if not p.night:
        cos_h = (cam.dx[c0:c1] * sky.sun[0] + cam.dz[c0:c1] * sky.sun[2]) * inv
        fog = fog + (0.5 * np.exp((cos_h - 1.0) * 4.0))[:, None] * sky.sun_col
    return T, np.ascontiguousarray(fog, dtype=np.float64)


def _render_box(img, cam, sky, p, box: Box, sun_e):
    """The camera-facing vertical faces of a box: depth per column, row span per column."""
    faces = []
    if cam.cz < box.z0:
        faces.append(("z", box.z0, box.x0, box.x1, (0.0, -1.0)))
    if cam.cz > box.z1:
        faces.append(("z", box.z1, box.x0, box.x1, (0.0, 1.0)))
    if cam.cx < box.x0:
        faces.append(("x", box.x0, box.z0, box.z1, (-1.0, 0.0)))
    if cam.cx > box.x1:
        faces.append(("x", box.x1, box.z0, box.z1, (1.0, 0.0)))
    mode = _FACE_NIGHT if p.night else (_FACE_SUNSET if p.kind == "sunset" else _FACE_DAY)
    for axis, plane, a0, a1, (nx, nz) in faces:
        with np.errstate(divide="ignore", invalid="ignore"):
            if axis == "z":
                s = (plane - cam.cz) / cam.dz.astype(np.float64)
                a = cam.cx + s * cam.dx
            else:
                s = (plane - cam.cx) / cam.dx.astype(np.float64)
                a = cam.cz + s * cam.dz
        ok = np.isfinite(s) & (s > 0.2) & (a >= a0) & (a <= a1)
        cols = np.nonzero(ok)[0]
        if cols.size == 0:
            continue
        c0, c1 = cols[0], cols[-1] + 1  # a flat face in front of the camera spans one run of columns
        s_c, a_c = s[c0:c1], a[c0:c1]
        top = cam.row_of_v((box.height - cam.h) / s_c)
        bot = cam.row_of_v(-cam.h / s_c)
        T, fogc = _fog_per_column(cam, sky, p, c0, c1, s_c)
        ndl = max(0.0, nx * float(sky.sun[0]) + nz * float(sky.sun[2])) if sun_e > 0 else 0.0
        _face_kernel(img, int(c0), s_c, a_c, top, bot, T, fogc, cam.v.astype(np.float64), float(cam.h),
                     float(box.height), float(box.seed), float(box.window_lit), mode, ndl,
                     sun_e * ndl + p.ambient * 0.8, np.asarray(box.color, np.float64),
                     sky.hor.astype(np.float64), sky.sun_col.astype(np.float64), box.windows)


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


def _render_sphere(img, cam, sky, p, sph: Sphere, consts, pal, lamps_world):
    H, W = img.shape[:2]
    xc, yc, zc = cam.to_camera(sph.x, sph.y, sph.z)
    r = sph.radius
    if zc < r + 0.3:
        return
    col_c, row_c = cam.project(xc, yc, zc)
    rad = cam.f * r / math.sqrt(max(zc * zc - r * r, 1e-6)) * 1.15 + 2
    c0, c1 = _clamp_span(col_c - rad, col_c + rad, W)
    r0, r1 = _clamp_span(row_c - rad, row_c + rad, H)
    if c1 <= c0 or r1 <= r0:
        return
    lamps = np.zeros((0, 8))
    if len(lamps_world):
        near = [lp for lp in lamps_world if math.dist((lp[0], lp[1], lp[2]), (sph.x, sph.y, sph.z)) < 20.0]
        lamps = np.array([(*cam.to_camera(*lp[:3]), *lp[3:]) for lp in near], np.float64).reshape(-1, 8)
    _sphere_kernel(img, r0, r1, c0, c1, cam.u.astype(np.float64), cam.v.astype(np.float64), float(xc),
                   float(yc), float(zc), float(r), sph.material == "chrome", np.asarray(sph.color, np.float64),
                   cam.cos, cam.sin, consts, pal, lamps)


def _render_lamp(img, cam, p, lamp: Lamp, flick: float):
    """Bulb, a soft glow (the bloom a game would add is left to the tone mapper) and its post."""
    H, W = img.shape[:2]
    xc, yc, zc = cam.to_camera(lamp.x, lamp.y, lamp.z)
    if zc < 0.5:
        return
    col_c, row_c = cam.project(xc, yc, zc)
    rpx = max(cam.f * lamp.radius / zc, 0.7)
    color = np.asarray(lamp.color, np.float32)
    if lamp.post:
        pw = max(cam.f * 0.07 / zc, 0.6)
        pc0, pc1 = _clamp_span(col_c - pw, col_c + pw, W)
        pr0, pr1 = _clamp_span(row_c, cam.project(xc, -cam.h, zc)[1], H)
        if pc1 > pc0 and pr1 > pr0:
            img[pr0:pr1, pc0:pc1] = np.float32([0.02, 0.02, 0.02]) * (1 + (0 if p.night else 10 * p.ambient))
    R = int(min(max(rpx * 10, 6), 0.25 * W))
    c0, c1 = _clamp_span(col_c - R, col_c + R, W)
    r0, r1 = _clamp_span(row_c - R, row_c + R, H)
    if c1 <= c0 or r1 <= r0:
        return
    dc = np.arange(c0, c1, dtype=np.float32)[None, :] - col_c
    dr = np.arange(r0, r1, dtype=np.float32)[:, None] - row_c
    d = np.sqrt(dc * dc + dr * dr) / rpx
    bulb = np.clip((1.0 - d) * rpx + 0.5, 0.0, 1.0)  # disc with a one-pixel anti-aliased edge
    D = R / rpx  # the halo is shifted to reach zero at the box's inscribed circle: no visible square
    halo = 0.04 * np.clip(1.0 / (1.0 + d * d) - 1.0 / (1.0 + D * D), 0.0, None)
    I = lamp.intensity * flick
    img[r0:r1, c0:c1] = img[r0:r1, c0:c1] * (1 - bulb[..., None]) + \
        ((bulb + halo) * I)[..., None] * color


# --------------------------------------------------------------------------------------------------------
# Scene generation
# --------------------------------------------------------------------------------------------------------
def _city(rng, n, z_range, x_range, height_range, avoid_road=True, lit=(0.2, 0.6), seed0=0):
    boxes = []
    for i in range(n):
        w, d = rng.uniform(6, 16), rng.uniform(6, 16)
        z = rng.uniform(*z_range)
        x = rng.uniform(*x_range)
        if avoid_road and abs(x - 2.5) < w / 2 + 6:
            x += math.copysign(w / 2 + 8, x - 2.5 if x != 2.5 else 1.0)
        tint = rng.uniform(0.7, 1.1)
        color = tuple(float(c) * tint for c in rng.choice(
            [(0.42, 0.40, 0.37), (0.35, 0.30, 0.28), (0.5, 0.47, 0.42), (0.3, 0.33, 0.38), (0.45, 0.28, 0.2)]))
        boxes.append(Box(x - w / 2, x + w / 2, z, z + d, float(rng.uniform(*height_range)), color,
                         float(rng.uniform(*lit)), seed0 + i))
    return boxes


def _street_lamps(rng, n, spacing, intensity, flicker_one=True, color=(1.0, 0.72, 0.42)):
    lamps = []
    for i in range(n):
        z = 8.0 + i * spacing
        road_x = 2.5 + 4.0 * math.sin(z * 0.012)
        side = -1 if i % 2 else 1
        lamps.append(Lamp(road_x + side * 4.0, 5.0, z, float(intensity * rng.uniform(0.7, 1.3)), color, 0.22,
                          0.9 if (flicker_one and i == 1) else 0.0))
    return lamps


def _spheres(rng, n):
    out = []
    for i in range(n):
        r = float(rng.uniform(0.5, 1.4))
        x = float(rng.choice([-1, 1]) * rng.uniform(1.5, 7)) - 2.0
        z = float(rng.uniform(7, 25))
        color = tuple(float(c) for c in rng.choice([(0.8, 0.1, 0.08), (0.1, 0.3, 0.8), (0.9, 0.75, 0.2),
                                                    (0.9, 0.9, 0.9), (0.1, 0.6, 0.2)]))
        out.append(Sphere(x, r, z, r, color, "chrome" if rng.random() < 0.4 else "glossy"))
    return out


def random_scene_params(rng: np.random.Generator, kind: str | None = None) -> SceneParams:
    """A random scene from the whole family: day, sunset, night, fog and an interior hall.

    ``kind`` forces one family; otherwise it is drawn too (days and nights most often).
    """
    if kind is None:
        kind = str(rng.choice(KINDS, p=[0.3, 0.2, 0.25, 0.12, 0.13]))
    elif kind not in KINDS:
        raise ValueError(f"unknown scene kind {kind!r}; choose one of {', '.join(KINDS)}")
    seed = int(rng.integers(0, 2**31 - 1))
    p = SceneParams(kind=kind, seed=seed)
    p.yaw = float(rng.uniform(-25, 25))
    p.pan_amplitude = float(rng.uniform(0, 15))
    p.fov = float(rng.uniform(55, 90))
    p.horizon = float(rng.uniform(0.4, 0.62))
    p.camera_height = float(rng.uniform(1.4, 3.5))
    p.camera_x = float(rng.uniform(-3, 3))
    p.sun_azimuth = float(rng.uniform(-60, 60))
    p.sun_swing = float(rng.uniform(0, 8))
    p.clouds = float(rng.uniform(0, 0.8))
    p.water = bool(rng.random() < 0.6)
    p.shore = float(rng.uniform(45, 110))
    p.mountains = bool(rng.random() < 0.75)
    p.ground_color = tuple(float(c) for c in rng.choice(
        [(0.10, 0.16, 0.06), (0.2, 0.17, 0.12), (0.14, 0.14, 0.12), (0.25, 0.22, 0.16)]))
    n_near = int(rng.integers(2, 9))
    near = _city(rng, n_near, (15, 90), (-45, 45), (6, 30), seed0=seed % 1000)
    far = _city(rng, int(rng.integers(0, 15)), (p.far_shore + 5, p.far_shore + 120), (-250, 250), (15, 80),
                avoid_road=False, seed0=seed % 1000 + 50) if p.water else []
    p.buildings = near + far
    p.spheres = _spheres(rng, int(rng.integers(0, 4)))
    if kind == "day":
        p.sun_elevation = float(rng.uniform(25, 70))
        p.sun_intensity = float(rng.uniform(1500, 6000))
        p.fog_density = float(rng.uniform(0.0005, 0.004))
    elif kind == "sunset":
        p.sun_elevation = float(rng.uniform(1.5, 10))
        p.sun_intensity = float(rng.uniform(800, 3000))
        p.sun_color = (1.0, float(rng.uniform(0.5, 0.7)), float(rng.uniform(0.25, 0.4)))
        p.sun_illuminance = 0.8
        p.sky_zenith = (0.06, 0.1, 0.25)
        p.sky_horizon = (0.9, float(rng.uniform(0.45, 0.6)), 0.3)
        p.ambient = 0.12
        p.fog_density = float(rng.uniform(0.001, 0.005))
        p.lamps = _street_lamps(rng, int(rng.integers(2, 7)), float(rng.uniform(10, 18)), 40.0)
    elif kind == "night":
        p.night = True
        p.sun_intensity = 0.0
        p.sun_illuminance = 0.0
        p.sun_elevation = -20.0
        p.sky_zenith = (0.0015, 0.002, 0.006)
        p.sky_horizon = (0.008, 0.009, 0.015)
        p.ambient = 0.02
        p.clouds = float(rng.uniform(0, 0.4))
        p.stars = int(rng.integers(150, 700))
        p.moon = bool(rng.random() < 0.5)
        p.fog_density = float(rng.uniform(0.0005, 0.006))
        p.lamps = _street_lamps(rng, int(rng.integers(3, 9)), float(rng.uniform(9, 16)),
                                float(rng.uniform(40, 150)))
    elif kind == "fog":
        p.sun_elevation = float(rng.uniform(8, 40))
        p.sun_intensity = float(rng.uniform(100, 400))  # a dim disc through the fog
        p.sun_illuminance = 0.35
        p.sky_zenith = (0.55, 0.58, 0.62)
        p.sky_horizon = (0.65, 0.66, 0.68)
        p.ambient = 0.45
        p.clouds = 0.0
        p.mountains = False
        p.fog_density = float(rng.uniform(0.012, 0.04))
        p.lamps = _street_lamps(rng, int(rng.integers(2, 6)), 12.0, float(rng.uniform(20, 60)))
    else:  # hall
        p.ceiling = float(rng.uniform(6, 10))
        p.room_half_width = float(rng.uniform(9, 18))
        p.room_depth = float(rng.uniform(40, 90))
        p.camera_height = float(rng.uniform(1.5, 2.5))
        p.horizon = float(rng.uniform(0.45, 0.55))
        p.ambient = float(rng.uniform(0.15, 0.35))
        p.fog_density = float(rng.uniform(0.0, 0.004))
        p.sun_intensity = 0.0
        p.sun_illuminance = 0.0
        p.water = p.road = p.mountains = False
        p.clouds = 0.0
        p.buildings = _pillars(rng, p)
        p.lamps = [Lamp(float(rng.uniform(-p.room_half_width + 2, p.room_half_width - 2)),
                        float(p.ceiling - rng.uniform(0.8, 2.5)), float(rng.uniform(6, p.room_depth - 5)),
                        float(rng.uniform(30, 200)), (1.0, float(rng.uniform(0.7, 0.95)), 0.6), 0.18,
                        0.8 if i == 0 else 0.0, post=False) for i in range(int(rng.integers(2, 7)))]
    return p


def _pillars(rng, p):
    out = []
    for row_x in (-p.room_half_width * 0.55, p.room_half_width * 0.55):
        for z in np.arange(10.0, p.room_depth - 5, float(rng.uniform(8, 14))):
            out.append(Box(row_x - 0.6, row_x + 0.6, float(z), float(z) + 1.2, p.ceiling, (0.55, 0.5, 0.45), 0.0,
                           windows=False))
    return out


# --------------------------------------------------------------------------------------------------------
# The demo clip
# --------------------------------------------------------------------------------------------------------
_DEMO_PARAMS = None


def demo_scene_params() -> SceneParams:
    """A fixed late-afternoon lakeside town: sun low over the water, a street with lamps, shiny balls."""
    global _DEMO_PARAMS
    if _DEMO_PARAMS is None:
        rng = np.random.default_rng(2024)
        p = SceneParams(kind="sunset", seed=2024)
        p.sun_elevation = 3.5  # low enough that its glitter path lands on the lake
        p.sun_azimuth = 4.0
        p.sun_swing = 3.0
        p.sun_intensity = 2500.0
        p.sun_color = (1.0, 0.78, 0.5)
        p.sun_illuminance = 1.0
        p.sky_zenith = (0.05, 0.11, 0.33)
        p.sky_horizon = (0.9, 0.5, 0.26)
        p.ambient = 0.22
        p.clouds = 0.35
        p.fog_density = 0.0025
        p.shore = 28.0
        p.far_shore = 300.0
        p.pan_amplitude = 14.0
        p.yaw = -4.0
        p.fov = 72.0
        p.horizon = 0.5
        p.camera_height = 1.8
        near = [Box(-32, -18, 2, 12, 14, (0.48, 0.42, 0.36), 0.5, 1),
                Box(-30, -18, 14, 25, 22, (0.36, 0.33, 0.32), 0.5, 2),
                Box(14, 26, 3, 13, 11, (0.5, 0.36, 0.26), 0.5, 3),
                Box(16, 30, 15, 25, 26, (0.34, 0.36, 0.4), 0.5, 4)]
        far = _city(rng, 14, (305, 380), (-220, 260), (20, 75), avoid_road=False, lit=(0.3, 0.5), seed0=40)
        p.buildings = near + far
        p.spheres = [Sphere(-3.0, 1.0, 9.0, 1.0, (0.95, 0.95, 0.95), "chrome"),
                     Sphere(-6.5, 0.7, 13.0, 0.7, (0.8, 0.08, 0.06), "glossy"),
                     Sphere(9.0, 1.2, 14.0, 1.2, (0.15, 0.3, 0.85), "glossy")]
        p.lamps = _street_lamps(rng, 3, 8.0, 90.0)
        _DEMO_PARAMS = p
    return _DEMO_PARAMS


def demo_frame_hdr(t: float, width: int, height: int) -> np.ndarray:
    """The built-in clip: a 10 s seamless loop (camera pan, swinging sun, rippling lake, a flickering lamp)."""
    return render_scene(demo_scene_params(), width, height, float(t) % DEMO_LOOP_SECONDS)


DEMO_EXPOSURE = 0.6  # fixed "auto exposure": Narkowicz's 0.6 pre-scale puts diffuse white near 0.84 sRGB


def demo_frame_sdr(t: float, width: int, height: int) -> np.ndarray:
    """The demo as a game presents it: ACES fitted, fixed exposure, sRGB encode, 8 bits (uint8 H x W x 3)."""
    from livehdr.color.tonecurves import sdr8_from_hdr

    return sdr8_from_hdr(demo_frame_hdr(t, width, height), DEMO_EXPOSURE, "aces", "srgb")
