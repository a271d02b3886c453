"""Procedural HDR scenes: real HDR content, determinism, motion, and the game-style SDR demo."""
import math

import numpy as np
import pytest

from livehdr import scenes
from livehdr.color import luminance_BT709

W, H = 160, 96


def _render(kind, seed=0, t=0.0, w=W, h=H):
    return scenes.render_scene(scenes.random_scene_params(np.random.default_rng(seed), kind), w, h, t)


@pytest.mark.parametrize("kind", scenes.KINDS)
def test_every_kind_is_finite_non_negative_float32(kind):
    img = _render(kind, seed=3)
    assert img.shape == (H, W, 3) and img.dtype == np.float32
    assert np.isfinite(img).all() and img.min() >= 0.0
    assert img.std() > 0.01  # a picture, not a flat fill


def test_sun_is_far_above_diffuse_white_where_it_should_be():
    p = scenes.SceneParams(kind="day", sun_elevation=12.0, sun_azimuth=0.0, yaw=0.0, pan_amplitude=0.0,
                           clouds=0.0, horizon=0.6, fov=60.0)
    img = scenes.render_scene(p, 320, 200, 0.0)
    Y = luminance_BT709(img)
    assert Y.max() > 1000
    rows, cols = np.nonzero(Y > 100)
    # where a pinhole at yaw 0 puts the sun: column W/2, tan(elevation) * f above the horizon row
    f = 160 / math.tan(math.radians(30))
    assert abs(cols.mean() - 159.5) <= 1
    assert abs(rows.mean() - (0.6 * 200 - f * math.tan(math.radians(12)) - 0.5)) <= 1
    assert rows.size < 100  # a disk, not a blown-out sky
    # the ground under a high sun is of the order of diffuse white, far below the sun
    assert 0.02 < np.median(Y[-40:]) < 1.0


def test_night_is_darker_than_day_but_has_bright_lamps():
    day, night = _render("day", seed=5), _render("night", seed=5)
    Yd, Yn = luminance_BT709(day), luminance_BT709(night)
    assert np.median(Yn) < 0.1 * np.median(Yd)
    assert Yn.max() > 10  # lamps (20-200)
    p = scenes.random_scene_params(np.random.default_rng(5), "night")
    assert p.night and len(p.lamps) >= 3 and all(10 <= lamp.intensity <= 250 for lamp in p.lamps)


def test_chrome_ball_mirrors_the_sun_as_a_specular_highlight():
    p = scenes.SceneParams(kind="day", sun_elevation=20.0, sun_azimuth=180.0, yaw=0.0, pan_amplitude=0.0,
                           clouds=0.0, buildings=[], lamps=[],
                           spheres=[scenes.Sphere(0.0, 1.0, 6.0, 1.0, (0.9, 0.9, 0.9), "chrome")])
    img = scenes.render_scene(p, 320, 200, 0.0)
    Y = luminance_BT709(img)
    # the sun is behind the camera, so the only source of super-white pixels is its reflection
    assert Y.max() > 50
    r, c = np.unravel_index(np.argmax(Y), Y.shape)
    f = 160 / math.tan(math.radians(p.fov / 2))
    centre_row = p.horizon * 200 - f * (1.0 - p.camera_height) / 6.0 - 0.5
    radius_px = f * 1.0 / 6.0
    assert abs(c - 159.5) < 3  # on the ball, which sits in the middle column ...
    assert centre_row - radius_px < r < centre_row  # ... above its equator, since the sun is high


def test_interior_hall_has_emissive_panels_and_bright_windows():
    img = _render("hall", seed=2, w=200, h=120)
    Y = luminance_BT709(img)
    assert Y.max() > 20
    assert np.median(Y) < 1.0


def test_random_params_cover_all_kinds_and_reject_unknown():
    rng = np.random.default_rng(0)
    kinds = {scenes.random_scene_params(rng).kind for _ in range(60)}
    assert kinds == set(scenes.KINDS)
    with pytest.raises(ValueError):
        scenes.random_scene_params(rng, "underwater")
    with pytest.raises(ValueError):
        scenes.render_scene(scenes.SceneParams(kind="underwater"), 16, 16)
    with pytest.raises(ValueError):
        scenes.render_scene(scenes.SceneParams(), 1, 16)


def test_deterministic_for_a_seed_and_varied_across_seeds():
    a = _render(None, seed=11, t=0.4)
    b = _render(None, seed=11, t=0.4)
    np.testing.assert_array_equal(a, b)
    c = _render(None, seed=12, t=0.4)
    assert not np.array_equal(a, c)


def test_demo_moves_and_loops_every_ten_seconds():
    f0 = scenes.demo_frame_hdr(0.0, W, H)
    f1 = scenes.demo_frame_hdr(1.0, W, H)
    assert np.abs(f0 - f1).mean() > 0.01
    np.testing.assert_array_equal(scenes.demo_frame_hdr(10.0, W, H), f0)
    # continuous across the wrap: 1 ms before the loop point is almost the first frame
    assert np.abs(scenes.demo_frame_hdr(9.999, W, H) - f0).mean() < 0.05 * np.abs(f0 - f1).mean()


def test_demo_has_hdr_highlights():
    img = scenes.demo_frame_hdr(0.0, 320, 180)
    Y = luminance_BT709(img)
    assert Y.max() > 100  # the sun
    assert np.mean(Y > 5) > 0.001  # lamps, glints, lit sky around the sun
    assert 0.05 < np.median(Y) < 1.0


def test_demo_sdr_is_a_game_frame_with_clipped_highlights():
    sdr = scenes.demo_frame_sdr(0.0, 320, 180)
    assert sdr.shape == (180, 320, 3) and sdr.dtype == np.uint8
    assert (sdr == 255).all(axis=-1).sum() >= 10  # the sun and lamps burn out to white
    assert 60 <= np.median(sdr) <= 170
    # it is the ACES / sRGB / 8-bit rendering of the HDR frame (the fused path may differ by 1 at ties)
    from livehdr.color.tonecurves import quantize_8bit, sdr_from_hdr
    ref = quantize_8bit(sdr_from_hdr(scenes.demo_frame_hdr(0.0, 320, 180), scenes.DEMO_EXPOSURE, "aces"))
    assert np.abs(sdr.astype(int) - ref).max() <= 1
