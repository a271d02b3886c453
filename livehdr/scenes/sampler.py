"""The random scene sampler: a varied ``SceneParams`` of each kind, for the synthetic training data."""
from __future__ import annotations

import math

import numpy as np

from livehdr.scenes.types import KINDS, Box, Lamp, SceneParams, Sphere

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
