"""The built-in demo clip (``--input demo``): one fixed scene, looped, in HDR and as the SDR a game shows."""
from __future__ import annotations

import numpy as np

from livehdr.scenes.render import render_scene
from livehdr.scenes.sampler import _city, _street_lamps
from livehdr.scenes.types import DEMO_LOOP_SECONDS, Box, SceneParams, Sphere

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
