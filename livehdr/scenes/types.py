"""The scene types: what a procedural scene is made of (boxes, lamps, spheres) and its parameters."""
from __future__ import annotations

from dataclasses import dataclass, field

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
