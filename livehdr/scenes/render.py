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

import math

import numpy as np

from livehdr.scenes.kernels import (_FACE_DAY, _FACE_NIGHT, _FACE_SUNSET, _Outdoor, _face_kernel, _fbm_texture,
                                    _outdoor_kernel, _room_kernel, _sphere_kernel)
from livehdr.scenes.types import KINDS, Box, Lamp, SceneParams, Sphere

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
