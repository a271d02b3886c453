"""Procedural game-like HDR scenes (skies with a sun, lamps, speculars, fog, night): the built-in demo
input and synthetic training data. Renders scene-linear BT.709 light with numba kernels."""
from livehdr.scenes.procedural import (DEMO_EXPOSURE, KINDS, Box, Lamp, SceneParams, Sphere, demo_frame_hdr,
                                       demo_frame_sdr, demo_scene_params, random_scene_params, render_scene)

__all__ = ["DEMO_EXPOSURE", "KINDS", "Box", "Lamp", "SceneParams", "Sphere", "demo_frame_hdr", "demo_frame_sdr",
           "demo_scene_params", "random_scene_params", "render_scene"]
