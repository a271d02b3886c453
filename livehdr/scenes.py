"""Procedural, game-like HDR scenes rendered analytically in numpy (no GL, no ray-tracing loops).

Output of ``render_scene``: float32 H x W x 3, linear BT.709 *scene* light where 1.0 is a white diffuse
surface under normal exposure; the sun disk reaches thousands, lamps 20-200, speculars and glints 5-50+.
These feed the demo source (``--input demo``) and the synthetic half of the training data.

Why it is fast: the camera never pitches or rolls (the horizon is moved with an off-axis lens shift, as an
architectural camera does), so every horizontal surface has a depth that depends on the row only and
every vertical wall one that depends on the column only.  Sky, ground, water, ceilings and building faces
then reduce to outer products of 1-D row/column arrays, and small objects (spheres, lamps, light pools)
are shaded inside their screen bounding boxes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import math

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

    def to_world_dir(self, a, b, c):
        """Camera-space direction -> world direction."""
        return a * self.cos + c * self.sin, b, -a * self.sin + c * self.cos

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
    def __init__(self, p: SceneParams, t: float):
        el = math.radians(p.sun_elevation)
        az = math.radians(p.sun_azimuth + p.sun_swing * math.sin(2 * math.pi * t / p.period))
        self.sun = np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)], np.float32)
        self.zen = np.asarray(p.sky_zenith, np.float32)
        self.hor = np.asarray(p.sky_horizon, np.float32)
        self.sun_col = np.asarray(p.sun_color, np.float32)
        self.p = p
        self.cos_disk_out = math.cos(math.radians(0.9))  # a game-sized sun: ~1.8 degrees across
        self.cos_disk_in = math.cos(math.radians(0.7))
        self.glow_tight = 0.02 * p.sun_intensity ** 0.75 * (0.15 if p.night else 1.0)
        self.glow_wide = 0.0 if p.night else (0.6 if p.kind == "sunset" else 0.3)
        self.fog = np.asarray(p.fog_color if p.fog_color is not None else p.sky_horizon, np.float32)

    def radiance(self, dx, dy, dz, sun_disk=True, ground_below=True, return_cos=False):
        """Sky radiance for normalised world directions (any broadcastable arrays) -> (..., 3)."""
        p = self.p
        up = np.clip(dy, 0.0, 1.0)
        g = np.sqrt(up)[..., None]
        col = self.hor + (self.zen - self.hor) * g
        cosg = dx * self.sun[0] + dy * self.sun[1] + dz * self.sun[2]
        m = cosg - 1.0
        glow = self.glow_tight * np.exp(m * 900.0) + self.glow_wide * np.exp(m * 12.0)
        col += glow[..., None] * self.sun_col
        if sun_disk and p.sun_intensity > 0:
            disk = np.clip((cosg - self.cos_disk_out) / (self.cos_disk_in - self.cos_disk_out), 0.0, 1.0)
            col = col + (p.sun_intensity * disk)[..., None] * self.sun_col
        if ground_below:  # below the horizon, an environment ball sees a dim ground
            below = np.clip(-dy * 8.0, 0.0, 1.0)[..., None]
            ground = np.asarray(p.ground_color, np.float32) * (
                p.sun_illuminance * max(self.sun[1], 0.0) + p.ambient)
            col = col * (1 - below) + ground * below
        return (col, cosg) if return_cos else col


def _upsample2(a, shape):
    """Nearest-neighbour x2 upsampling cropped to ``shape`` (for smooth fields computed at half res)."""
    return np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)[: shape[0], : shape[1]]


def _value_noise_2d(x, z, seed):
    """Sum of rotated sines with domain warping: cheap, smooth, non-repeating enough for clouds and grass."""
    rng = np.random.default_rng(seed)
    acc = np.zeros(np.broadcast(x, z).shape, np.float32)
    amp, freq, total = 1.0, 1.0, 0.0
    for _ in range(4):
        a, ph1, ph2 = rng.uniform(0, math.pi), rng.uniform(0, 6.3), rng.uniform(0, 6.3)
        ca, sa = math.cos(a) * freq, math.sin(a) * freq
        px = x * ca + z * sa
        pz = z * ca - x * sa
        acc += amp * np.sin(px + ph1 + 0.8 * np.sin(pz * 0.7 + ph2)) * np.sin(pz * 0.9 + ph2)
        total += amp
        amp *= 0.55
        freq *= 2.1
    return acc / total


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
    depth = np.full((height, width), np.inf, np.float32) if False else None  # painter's order suffices
    ns = cam.n_sky
    sun = sky.sun
    sun_e = p.sun_illuminance if not p.night else 0.0

    if p.ceiling is None:
        _render_sky(img[:ns], cam, sky, p, t)
        _render_ground(img[ns:], cam, sky, p, t)
        _render_far_city_glow(img, cam, p)
    else:
        _render_room(img, cam, sky, p, t)
    for box in sorted(p.buildings, key=lambda b: -_dist_xz(cam, (b.x0 + b.x1) / 2, (b.z0 + b.z1) / 2)):
        _render_box(img, cam, sky, p, box, sun_e)
    for sph in sorted(p.spheres, key=lambda s: -_dist_xz(cam, s.x, s.z)):
        _render_sphere(img, cam, sky, p, sph, sun_e)
    for k, lamp in enumerate(p.lamps):
        _render_lamp(img, cam, p, lamp, _flicker(lamp, t, p.period, k))
    np.maximum(img, 0.0, out=img)
    del depth, sun
    return img


def _dist_xz(cam, x, z):
    return math.hypot(x - cam.cx, z - cam.cz)


def _fog_blend(col, dist, sky, p, cos_sun_h=None):
    """Exponential fog towards the fog colour, brighter in the sun's direction (in-scatter)."""
    if p.fog_density <= 0:
        return col
    T = np.exp(-p.fog_density * dist).astype(np.float32)[..., None]
    fog = sky.fog
    if cos_sun_h is not None and not p.night:
        fog = fog + (0.5 * np.exp((cos_sun_h - 1.0) * 4.0))[..., None] * sky.sun_col
    col = col - fog  # col may be a fresh temporary or the caller's buffer; never modify shared inputs
    col *= T
    col += fog
    return col


def _render_sky(out, cam, sky, p, t):
    n = out.shape[0]
    if n == 0:
        return
    u, v = cam.u, cam.v[:n]
    inv = 1.0 / np.sqrt(1.0 + u[None, :] ** 2 + v[:, None] ** 2)
    dx, dy, dz = cam.dx[None, :] * inv, v[:, None] * inv, cam.dz[None, :] * inv
    col, cosg = sky.radiance(dx, dy, dz, sun_disk=False, ground_below=False, return_cos=True)
    # Stars and moon before clouds, so clouds cover them.
    if p.stars:
        _render_stars(col, cam, p)
    if p.moon:
        mdir = np.array([-0.35, 0.35, 0.87], np.float32)
        mdir /= np.linalg.norm(mdir)
        cm = dx * mdir[0] + dy * mdir[1] + dz * mdir[2]
        moon = 12.0 * np.clip((cm - math.cos(math.radians(1.0))) / 2e-5, 0, 1) + 0.15 * np.exp((cm - 1) * 300)
        col += moon[..., None] * np.float32([0.85, 0.9, 1.0])
    cover = np.zeros_like(dy)
    if p.clouds > 0:
        # A cloud layer 1.5 km up: its hit point per row is 1500 / v, so it moves with parallax as we pan.
        # Soft shapes: evaluate at half resolution and repeat (a quarter of the work).
        s = (1500.0 / np.maximum(v[::2], 1e-3))[:, None]
        wx, wz = cam.cx + s * cam.dx[None, ::2], s * cam.dz[None, ::2] + 40.0 * t
        nse = _upsample2(_value_noise_2d(wx * 0.0012, wz * 0.0012, p.seed + 7), dy.shape)
        cover = np.clip((nse + (p.clouds - 0.55) * 1.6) * 2.5, 0.0, 1.0) * np.clip(v * 12.0, 0.0, 1.0)[:, None]
        sil = np.exp((cosg - 1.0) * 25.0)  # silver lining around the sun
        if p.night:
            lit = 0.02 + 0.03 * cover
            cloud = lit[..., None] * np.float32([0.6, 0.55, 0.5])
        else:
            # Thin cloud edges glow, thick cores are greyer; clouds in front of the sun light up.
            lit = (0.7 + 0.5 * (1 - cover)) * (sky.p.sun_illuminance * (0.5 + 3.0 * sil) + p.ambient * 1.5)
            cloud = lit[..., None] * (0.55 * sky.sun_col + 0.45 * np.float32([0.9, 0.92, 1.0]))
        c = cover[..., None]
        col = col * (1 - c) + cloud * c
    if p.sun_intensity > 0:
        disk = np.clip((cosg - sky.cos_disk_out) / (sky.cos_disk_in - sky.cos_disk_out), 0.0, 1.0)
        col += (p.sun_intensity * disk * (1 - 0.85 * cover))[..., None] * sky.sun_col
    # Haze at the horizon blends the sky into the fog colour at infinity.
    haze = np.exp(-dy * 25.0)[..., None] * min(1.0, 0.3 + 30 * p.fog_density)
    col = col * (1 - haze) + sky.fog * haze
    if p.mountains:
        _render_mountains(col, cam, sky, p)
    out[...] = col


def _render_stars(col, cam, p):
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
    inside = (c >= 0) & (c < col.shape[1]) & (r >= 0) & (r < col.shape[0])
    col[r[inside], c[inside]] += m[inside, None] * np.float32([0.9, 0.95, 1.0])


def _render_mountains(col, cam, sky, p):
    """A distant ridge: its elevation is a function of azimuth, so each column has a threshold row."""
    az = cam.yaw + np.arctan(cam.u)
    rng = np.random.default_rng(p.seed + 3)
    ridge = np.full_like(az, 0.035)
    for k, a in zip((2, 3, 5, 9, 17, 31), (0.35, 0.3, 0.2, 0.12, 0.06, 0.03)):
        ridge += 0.05 * a * np.sin(k * az + rng.uniform(0, 6.3))
    ridge = np.maximum(ridge, 0.004)
    thr = ridge * np.sqrt(1 + cam.u ** 2)  # tan(elevation) -> v at that column
    r0 = int(np.searchsorted(-cam.v[: col.shape[0]], -thr.max()))  # only rows the ridge can reach
    col = col[r0:]
    v = cam.v[r0: r0 + col.shape[0]]
    mask = v[:, None] < thr[None, :]
    slope = np.gradient(ridge) / max(np.gradient(az).mean(), 1e-6)
    shade = np.clip(0.55 + 0.9 * (slope * math.sin(math.atan2(sky.sun[0], sky.sun[2]) - 0.0)), 0.2, 1.4)
    rock = np.float32([0.16, 0.17, 0.2]) * (p.sun_illuminance * max(sky.sun[1], 0.05) * shade[:, None] + p.ambient)
    snow = (v[:, None] > thr[None, :] - 0.012) & (ridge[None, :] > 0.05)
    mcol = np.where(snow[..., None], rock * 4.0, rock[None, :, :])
    aerial = 0.55 if not p.night else 0.3  # far away: mostly haze
    if p.night:
        mcol = mcol * 0.0 + np.float32([0.004, 0.005, 0.009])
        aerial = 0.2
    mcol = mcol * (1 - aerial) + sky.fog * aerial
    np.copyto(col, np.broadcast_to(mcol, col.shape), where=mask[..., None])


def _render_ground(out, cam, sky, p, t):
    n = out.shape[0]
    if n == 0:
        return
    v = cam.v[cam.n_sky:]
    s = cam.h / np.maximum(-v, 1e-5)  # depth of the ground per row
    gx = cam.cx + s[:, None] * cam.dx[None, :]
    gz = cam.cz + s[:, None] * cam.dz[None, :]
    fade = np.exp(-s / 40.0)[:, None]  # texture detail fades with distance (cheap anti-aliasing)
    nse = _upsample2(_value_noise_2d(gx[::2, ::2] * 0.35, gz[::2, ::2] * 0.35, p.seed + 11), gx.shape) * fade
    grass = np.asarray(p.ground_color, np.float32) * (1.0 + 0.45 * nse)[..., None]
    light = p.sun_illuminance * max(sky.sun[1], 0.0) + p.ambient if not p.night else p.ambient
    col = grass * light
    if p.road:
        road_x = 2.5 + 4.0 * np.sin(gz * 0.012)
        d = np.abs(gx - road_x)
        asphalt = (d < 3.2)
        paint = (d < 0.12) & (np.mod(gz, 6.0) < 3.0)
        edge = (np.abs(d - 3.0) < 0.08)
        rc = np.where((paint | edge)[..., None], np.float32([0.75, 0.72, 0.6]), np.float32([0.07, 0.07, 0.075]))
        rc = rc * light * (1.0 + 0.1 * nse[..., None])
        if p.night or p.kind == "fog":  # wet road: a little sheen of the sky
            rc = rc + 0.2 * sky.hor
        col = np.where(asphalt[..., None], rc, col)
    for lamp in p.lamps:
        _light_pool(col, gx, gz, s, cam, lamp)
    if p.water:
        _render_water(col, gx, gz, s, cam, sky, p, t)
    cos_sun_h = (cam.dx * sky.sun[0] + cam.dz * sky.sun[2]) / np.sqrt(1 + cam.u ** 2)
    dist = s[:, None] * np.sqrt(1 + cam.u ** 2)[None, :]
    out[...] = _fog_blend(col, dist, sky, p, cos_sun_h[None, :])


def _light_pool(col, gx, gz, s, cam, lamp: Lamp, reach=14.0):
    """Irradiance of a lamp on the ground, L * pi r^2 * cos / d^2, inside the rows/cols it can reach."""
    rows = np.nonzero((s > max(0.0, _forward(cam, lamp.x, lamp.z) - reach)) &
                      (s < _forward(cam, lamp.x, lamp.z) + reach))[0]
    if rows.size == 0:
        return
    r0, r1 = rows[0], rows[-1] + 1
    ddx, ddz = gx[r0:r1] - lamp.x, gz[r0:r1] - lamp.z
    d2 = ddx * ddx + ddz * ddz + lamp.y * lamp.y
    E = (lamp.intensity * math.pi * lamp.radius ** 2 * lamp.y) / (d2 * np.sqrt(d2))
    E = np.where(d2 < reach * reach, E, 0.0)
    # Reflectance of what is there: col / (its current light) is unknown, so use a neutral 0.25.
    col[r0:r1] += (0.25 * E)[..., None] * np.asarray(lamp.color, np.float32)


def _forward(cam, x, z):
    return (x - cam.cx) * cam.sin + (z - cam.cz) * cam.cos


def _render_water(col, gx, gz, s, cam, sky, p, t):
    """A lake between ``shore`` and ``far_shore``: Fresnel-weighted sky reflection with wind ripples."""
    band = np.nonzero((s > p.shore * 0.6) & (s < p.far_shore * 1.6))[0]
    if band.size == 0:
        return
    r0, r1 = band[0], band[-1] + 1
    x, z, ss = gx[r0:r1], gz[r0:r1], s[r0:r1, None]
    wobble = 6.0 * np.sin(x * 0.04 + 1.0)
    wet = (z > p.shore + wobble) & (z < p.far_shore + wobble)
    if not wet.any():
        return
    w = 2 * math.pi / p.period
    fade = np.exp(-ss / 120.0)
    nx = 0.05 * fade * (np.sin(x * 1.3 + z * 0.4 + 3 * w * t) + 0.5 * np.sin(x * 3.1 - z * 1.7 - 5 * w * t))
    nz = 0.05 * fade * (np.sin(z * 1.1 - x * 0.3 + 4 * w * t) + 0.5 * np.sin(z * 2.7 + x * 2.1 + 7 * w * t))
    v = cam.v[cam.n_sky + r0:cam.n_sky + r1][:, None]
    inv = 1.0 / np.sqrt(1.0 + cam.u[None, :] ** 2 + v ** 2)
    dx, dy, dz = cam.dx[None, :] * inv, v * inv, cam.dz[None, :] * inv
    ny = 1.0
    nn = 1.0 / np.sqrt(nx * nx + nz * nz + 1.0)
    nx, ny, nz = nx * nn, ny * nn, nz * nn
    dn = dx * nx + dy * ny + dz * nz
    rx, ry, rz = dx - 2 * dn * nx, dy - 2 * dn * ny, dz - 2 * dn * nz
    refl = sky.radiance(rx, np.maximum(ry, 0.0), rz, sun_disk=True, ground_below=False)
    F = 0.02 + 0.98 * (1 - np.clip(-dn, 0, 1)) ** 5  # Schlick, n = 1.33
    deep = np.float32([0.01, 0.03, 0.035]) * (p.sun_illuminance * max(sky.sun[1], 0) + p.ambient)
    water = refl * F[..., None] + deep * (1 - F[..., None])
    if p.night:  # lights of the far city shimmer on the water
        water += (0.4 * np.exp(-((ry - 0.02) ** 2) * 2000) * fade[..., 0:1] * 0)[..., None]
    c = col[r0:r1]
    c[wet] = water[wet]


def _render_far_city_glow(img, cam, p):
    """Night: the sky above the horizon glows orange over a city (light pollution)."""
    if not p.night:
        return
    ns = cam.n_sky
    if ns == 0:
        return
    v = cam.v[:ns]
    img[:ns] += (0.02 * np.exp(-v * 20.0))[:, None, None] * np.float32([1.0, 0.6, 0.3])


def _render_room(img, cam, sky, p, t):
    """Interior: floor, ceiling with light panels, walls with bright windows onto daylight."""
    H, W = img.shape[:2]
    v = cam.v
    hc = p.ceiling
    far = np.float32(1e6)  # "never hit" as a finite depth, so texture maths stays NaN-free
    s_floor = np.where(v < 0, cam.h / np.maximum(-v, 1e-6), far)
    s_ceil = np.where(v > 0, (hc - cam.h) / np.maximum(v, 1e-6), far)
    s_rowsurf = np.minimum(s_floor, s_ceil).astype(np.float32)
    # Walls: left/right x = +-half width and the back wall z = depth; nearest per column.
    with np.errstate(divide="ignore", invalid="ignore"):
        s_back = np.where(cam.dz > 1e-6, (p.room_depth - cam.cz) / cam.dz, np.inf)
        s_side = np.where(cam.dx > 1e-6, (p.room_half_width - cam.cx) / cam.dx,
                          np.where(cam.dx < -1e-6, (-p.room_half_width - cam.cx) / cam.dx, np.inf))
    back_is_nearest = s_back <= s_side
    s_wall = np.minimum(s_back, s_side).astype(np.float32)
    wall_a = np.where(back_is_nearest, cam.cx + s_wall * cam.dx, cam.cz + s_wall * cam.dz)

    light = p.ambient
    # Floor (polished: mirrors the ceiling panels) and ceiling, per row.
    ceil_rows = v > 0
    gx = cam.cx + s_rowsurf[:, None] * cam.dx[None, :]
    gz = cam.cz + s_rowsurf[:, None] * cam.dz[None, :]
    panels = _ceiling_panels(gx, gz)
    ceil_col = np.float32([0.05, 0.05, 0.055]) * light + panels[..., None] * np.float32([30.0, 29.0, 26.0])
    tiles = ((np.floor(gx / 1.5) + np.floor(gz / 1.5)) % 2).astype(np.float32)
    floor_base = (np.float32([0.18, 0.16, 0.14]) + tiles[..., None] * np.float32([0.1, 0.09, 0.08])) * light
    # Mirror image of the ceiling seen in the floor: ray from the camera mirrored below the floor.
    s_mirror = np.where(v < 0, (hc + cam.h) / np.maximum(-v, 1e-6), far)
    mx = cam.cx + s_mirror[:, None] * cam.dx[None, :]
    mz = cam.cz + s_mirror[:, None] * cam.dz[None, :]
    refl_hit = (s_mirror[:, None] * np.ones_like(cam.u)[None, :]) < s_wall[None, :]
    refl = _ceiling_panels(mx, mz) * refl_hit * np.exp(-s_mirror / 60.0)[:, None]
    floor_col = floor_base + (0.12 * refl)[..., None] * np.float32([30.0, 29.0, 26.0])
    surf = np.where(ceil_rows[:, None, None], ceil_col, floor_col)
    # Walls.
    y = cam.h + s_wall[None, :] * v[:, None]
    is_wall = s_wall[None, :] < s_rowsurf[:, None]
    win = (np.mod(wall_a, 8.0)[None, :] > 2.0) & (np.mod(wall_a, 8.0)[None, :] < 6.5) & (y > 1.2) & (y < hc - 1.5)
    wall_col = np.float32([0.45, 0.4, 0.33]) * light
    outside = sky.hor * 12.0 + (sky.zen * 6.0)  # daylight far brighter than the room
    wcol = np.where(win[..., None], outside, wall_col)
    mull = win & ((np.abs(np.mod(y, 1.5) - 0.75) < 0.04) | (np.abs(np.mod(wall_a, 1.5)[None, :] - 0.75) < 0.04))
    wcol = np.where(mull[..., None], np.float32([0.05, 0.05, 0.05]), wcol)
    img[...] = np.where(is_wall[..., None], wcol, surf)
    dist = np.minimum(s_rowsurf[:, None], s_wall[None, :])
    np.copyto(img, _fog_blend(img, dist, sky, p))


def _ceiling_panels(x, z):
    fx, fz = np.mod(x, 6.0), np.mod(z, 6.0)
    return ((np.abs(fx - 3.0) < 0.6) & (np.abs(fz - 3.0) < 1.6)).astype(np.float32)


def _render_box(img, cam, sky, p, box: Box, sun_e):
    """The camera-facing vertical faces of a box: depth per column, row span per column."""
    H, W = img.shape[:2]
    faces = []
    if cam.cz < box.z0:
        faces.append(("z", box.z0, box.x0, box.x1, (0.0, -1.0)))
    if cam.cz > box.z1:
        faces.append(("z", box.z1, box.x0, box.x1, (0.0, 1.0)))
    if cam.cx < box.x0:
        faces.append(("x", box.x0, box.z0, box.z1, (-1.0, 0.0)))
    if cam.cx > box.x1:
        faces.append(("x", box.x1, box.z0, box.z1, (1.0, 0.0)))
    albedo = np.asarray(box.color, np.float32)
    for axis, plane, a0, a1, (nx, nz) in faces:
        with np.errstate(divide="ignore", invalid="ignore"):
            if axis == "z":
                s = (plane - cam.cz) / cam.dz
                a = cam.cx + s * cam.dx
            else:
                s = (plane - cam.cx) / cam.dx
                a = cam.cz + s * cam.dz
        ok = np.isfinite(s) & (s > 0.2) & (a >= a0) & (a <= a1)
        cols = np.nonzero(ok)[0]
        if cols.size == 0:
            continue
        c0, c1 = cols[0], cols[-1] + 1
        s_c, a_c = s[c0:c1], a[c0:c1]
        top = cam.row_of_v((box.height - cam.h) / s_c)
        bot = cam.row_of_v(-cam.h / s_c)
        r0, r1 = _clamp_span(top.min(), bot.max(), H)
        if r1 <= r0:
            continue
        rows = np.arange(r0, r1, dtype=np.float32)[:, None]
        mask = (rows >= top[None, :]) & (rows <= bot[None, :]) & ok[None, c0:c1]
        v = cam.v[r0:r1, None]
        y = cam.h + s_c[None, :] * v
        # Windows on a 3 m x 3.5 m grid; which are lit is a hash of the window's integer coordinates.
        ia, iy = np.floor(a_c / 3.0), np.floor(y / 3.5)
        fa, fy = a_c / 3.0 - ia, y / 3.5 - iy
        win = (fa > 0.2)[None, :] & (fa < 0.8)[None, :] & (fy > 0.3) & (fy < 0.8) & (y > 2.0) & \
            (y < box.height - 1.0)
        h = np.sin(ia[None, :] * 12.9898 + iy * 78.233 + box.seed * 3.7) * 43758.5453
        h = h - np.floor(h)
        ndl = max(0.0, nx * sky.sun[0] + nz * sky.sun[2]) if sun_e > 0 else 0.0
        ao = np.clip(0.55 + 0.45 * y / 6.0, 0.55, 1.0)
        wall = albedo * ((sun_e * ndl + p.ambient * 0.8) * ao)[..., None]
        if p.night or p.kind == "sunset":
            lit = win & (h < box.window_lit)
            glow = (1.0 + 5.0 * (h / max(box.window_lit, 1e-3)))[..., None] * np.float32([1.0, 0.78, 0.5])
            if not p.night:
                glow = glow * 0.5
            glass = np.float32([0.02, 0.025, 0.03]) + 0.3 * sky.hor * (0.0 if p.night else 1.0)
            wincol = np.where(lit[..., None], glow, glass)
        else:  # daytime glass reflects the sky; facing the sun, a hot glint
            wincol = 0.45 * sky.hor + np.float32([0.01, 0.015, 0.02])
            wincol = wincol * (0.6 + 0.8 * h)[..., None]
            if ndl > 0.6:
                wincol = wincol + (8.0 * (ndl - 0.6) * (h > 0.9))[..., None] * sky.sun_col
        col = np.where(win[..., None], wincol, wall)
        dist = s_c * np.sqrt(1 + cam.u[c0:c1] ** 2)
        cos_sun_h = (cam.dx[c0:c1] * sky.sun[0] + cam.dz[c0:c1] * sky.sun[2]) / np.sqrt(1 + cam.u[c0:c1] ** 2)
        col = _fog_blend(col, dist[None, :], sky, p, cos_sun_h[None, :])
        np.copyto(img[r0:r1, c0:c1], col, where=mask[..., None])


def _render_sphere(img, cam, sky, p, sph: Sphere, sun_e):
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
    u, v = cam.u[None, c0:c1], cam.v[r0:r1, None]
    a = 1.0 + u * u + v * v
    b = u * xc + v * yc + zc
    disc = b * b - a * (xc * xc + yc * yc + zc * zc - r * r)
    hit = disc > 0
    if not hit.any():
        return
    s = (b - np.sqrt(np.maximum(disc, 0))) / a
    Px, Py, Pz = s * u, s * v, s * np.ones_like(u) * np.ones_like(v)
    Nx, Ny, Nz = (Px - xc) / r, (Py - yc) / r, (Pz - zc) / r
    inv = 1.0 / np.sqrt(a)
    Dx, Dy, Dz = u * inv, v * inv, inv * np.ones_like(Nx)
    dn = Dx * Nx + Dy * Ny + Dz * Nz
    Rx, Ry, Rz = Dx - 2 * dn * Nx, Dy - 2 * dn * Ny, Dz - 2 * dn * Nz
    wx, wy, wz = cam.to_world_dir(Rx, Ry, Rz)
    env = sky.radiance(wx, wy, wz, sun_disk=True, ground_below=True)
    nwx, nwy, nwz = cam.to_world_dir(Nx, Ny, Nz)
    ndl = np.clip(nwx * sky.sun[0] + nwy * sky.sun[1] + nwz * sky.sun[2], 0, None) * sun_e
    albedo = np.asarray(sph.color, np.float32)
    F = 0.04 + 0.96 * (1 - np.clip(-dn, 0, 1)) ** 5
    # The sun's mirror image on a ball is far below a pixel, so give it a game-style specular lobe:
    # sharp and very bright for chrome, broader for glossy paint.
    rdl_sun = np.clip(wx * sky.sun[0] + wy * sky.sun[1] + wz * sky.sun[2], 0, None)
    if sph.material == "chrome":
        col = env * (albedo * 0.9 + 0.1)
        col += (200.0 * sun_e * rdl_sun ** 400)[..., None] * sky.sun_col
    else:
        amb = p.ambient * (0.6 + 0.4 * nwy)
        diffuse = albedo * (ndl + amb)[..., None]
        col = diffuse * (1 - F[..., None]) + env * F[..., None]
        col += (25.0 * sun_e * rdl_sun ** 120)[..., None] * sky.sun_col
    # Nearby lamps light the ball and leave a specular point on it.
    for lamp in p.lamps:
        lx, ly, lz = cam.to_camera(lamp.x, lamp.y, lamp.z)
        Lx, Ly, Lz = lx - Px, ly - Py, lz - Pz
        d2 = Lx * Lx + Ly * Ly + Lz * Lz
        dinv = 1 / np.sqrt(d2)
        ndl_l = np.clip((Nx * Lx + Ny * Ly + Nz * Lz) * dinv, 0, None)
        Il = lamp.intensity * math.pi * lamp.radius ** 2
        rdl = np.clip((Rx * Lx + Ry * Ly + Rz * Lz) * dinv, 0, None)
        spec = lamp.intensity * (rdl > np.sqrt(np.maximum(1 - lamp.radius ** 2 / d2, 0))) * \
            (1.0 if sph.material == "chrome" else F)
        col = col + ((albedo.mean() * Il * ndl_l / d2 + spec) if sph.material != "chrome" else spec)[..., None] * \
            np.asarray(lamp.color, np.float32)
    dist = s * np.sqrt(a)
    col = _fog_blend(col, dist, sky, p)
    np.copyto(img[r0:r1, c0:c1], col, where=hit[..., None])


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
    bulb = np.clip(1.5 - d, 0.0, 1.0)  # anti-aliased disc edge
    halo = 0.04 / (1.0 + d * d)
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
            out.append(Box(row_x - 0.6, row_x + 0.6, float(z), float(z) + 1.2, p.ceiling, (0.55, 0.5, 0.45), 0.0))
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
        p.sun_elevation = 9.0
        p.sun_azimuth = 18.0
        p.sun_swing = 3.0
        p.sun_intensity = 2500.0
        p.sun_color = (1.0, 0.78, 0.5)
        p.sun_illuminance = 1.0
        p.sky_zenith = (0.07, 0.14, 0.36)
        p.sky_horizon = (0.85, 0.62, 0.42)
        p.ambient = 0.22
        p.clouds = 0.35
        p.fog_density = 0.0025
        p.shore = 60.0
        p.far_shore = 300.0
        p.pan_amplitude = 14.0
        p.yaw = -4.0
        p.fov = 72.0
        p.horizon = 0.5
        p.camera_height = 1.8
        near = [Box(-30, -16, 20, 32, 14, (0.48, 0.42, 0.36), 0.5, 1), Box(-34, -20, 36, 50, 22, (0.36, 0.33, 0.32), 0.5, 2),
                Box(14, 26, 24, 36, 11, (0.5, 0.36, 0.26), 0.5, 3), Box(18, 34, 40, 54, 26, (0.34, 0.36, 0.4), 0.5, 4)]
        far = _city(rng, 14, (305, 380), (-220, 260), (20, 75), avoid_road=False, lit=(0.3, 0.5), seed0=40)
        p.buildings = near + far
        p.spheres = [Sphere(-3.0, 1.0, 9.0, 1.0, (0.95, 0.95, 0.95), "chrome"),
                     Sphere(-6.5, 0.7, 13.0, 0.7, (0.8, 0.08, 0.06), "glossy"),
                     Sphere(9.0, 1.2, 14.0, 1.2, (0.15, 0.3, 0.85), "glossy")]
        p.lamps = _street_lamps(rng, 5, 11.0, 90.0)
        _DEMO_PARAMS = p
    return _DEMO_PARAMS


def demo_frame_hdr(t: float, width: int, height: int) -> np.ndarray:
    """The built-in clip: a 10 s seamless loop (camera pan, swinging sun, rippling lake, a flickering lamp)."""
    return render_scene(demo_scene_params(), width, height, float(t) % DEMO_LOOP_SECONDS)


DEMO_EXPOSURE = 0.6  # fixed "auto exposure": Narkowicz's 0.6 pre-scale puts diffuse white near 0.84 sRGB


def demo_frame_sdr(t: float, width: int, height: int) -> np.ndarray:
    """The demo as a game presents it: ACES fitted, fixed exposure, sRGB encode, 8 bits (uint8 H x W x 3)."""
    from livehdr.tonecurves import quantize_8bit, sdr_from_hdr

    return quantize_8bit(sdr_from_hdr(demo_frame_hdr(t, width, height), DEMO_EXPOSURE, "aces", "srgb"))
