"""Procedural game-like HDR scenes (skies with a sun, lamps, speculars, fog, night): the built-in demo
input and synthetic training data. Renders scene-linear BT.709 light with numba kernels."""
from livehdr.scenes.demo import DEMO_EXPOSURE, demo_frame_hdr, demo_frame_sdr, demo_scene_params
from livehdr.scenes.render import render_scene
from livehdr.scenes.sampler import random_scene_params
from livehdr.scenes.types import KINDS, Box, Lamp, SceneParams, Sphere

__all__ = ["DEMO_EXPOSURE", "KINDS", "Box", "Lamp", "SceneParams", "Sphere", "demo_frame_hdr", "demo_frame_sdr",
           "demo_scene_params", "random_scene_params", "render_scene"]
