"""The scenes as one module, as callers knew it before the split (types.py, sampler.py, render.py with
kernels.py, demo.py): the public names, re-exported."""
from livehdr.scenes.demo import DEMO_EXPOSURE, demo_frame_hdr, demo_frame_sdr, demo_scene_params  # noqa: F401
from livehdr.scenes.render import render_scene  # noqa: F401
from livehdr.scenes.sampler import random_scene_params  # noqa: F401
from livehdr.scenes.types import DEMO_LOOP_SECONDS, KINDS, Box, Lamp, SceneParams, Sphere  # noqa: F401
