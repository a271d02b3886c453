"""Screen capture (`--input screen...`): a known pattern put on a private Xvfb screen comes back exactly."""
import numpy as np
import pytest

from livehdr.io import capture
from livehdr.base.errors import UserError

from xvfb import display_env, put_root_pixels, xvfb


def test_parse_screen_spec():
    assert capture.parse_screen_spec("screen") == ("monitor", 1)
    assert capture.parse_screen_spec("screen:0") == ("monitor", 0)
    assert capture.parse_screen_spec("screen:2") == ("monitor", 2)
    assert capture.parse_screen_spec("screen:10,20,64,48") == ("region", (10, 20, 64, 48))
    for bad in ("screen:", "screen:a", "screen:1,2,3", "screen:0,0,1,1", "screen:-1", "screenx"):
        with pytest.raises(UserError):
            capture.parse_screen_spec(bad)


def test_no_display_is_one_line_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(UserError, match="DISPLAY is not set"):
        capture.open_screen_source("screen")


def test_decode_masked_pixels_depth30_layout():
    # Depth-30 TrueColor: R in bits 29..20, G in 19..10, B in 9..0.
    words = np.array([[(1023 << 20) | (512 << 10) | 1, (3 << 20) | (0 << 10) | 700]], dtype=np.uint32)
    rgb = capture.decode_masked_pixels(words, (0x3FF00000, 0xFFC00, 0x3FF))
    assert rgb.dtype == np.float32
    np.testing.assert_array_equal(np.rint(rgb * 1023), [[[1023, 512, 1], [3, 0, 700]]])


def _pattern(h, w, bits, seed):
    return np.random.default_rng(seed).integers(0, 1 << bits, size=(h, w, 3), dtype=np.int64)


def test_capture_depth24_region_and_monitor_exact():
    with xvfb(320, 240, 24) as display, display_env(display):
        pattern = _pattern(48, 64, 8, 1)
        put_root_pixels(display, 10, 20, pattern, bits=8)

        src = capture.open_screen_source("screen:10,20,64,48")
        try:
            assert src.backend == "xshm-depth24" and src.is_live
            assert (src.width, src.height) == (64, 48)
            frame = next(iter(src.frames()))
        finally:
            src.close()
        assert frame.rgb.dtype == np.uint8 and frame.rgb.shape == (48, 64, 3)
        np.testing.assert_array_equal(frame.rgb, pattern)
        assert frame.captured_at > 0 and frame.index == 0

        src = capture.open_screen_source("screen")
        try:
            assert (src.width, src.height) == (320, 240)
            frames = src.frames()
            first, second = next(frames), next(frames)
        finally:
            src.close()
        np.testing.assert_array_equal(first.rgb[20:68, 10:74], pattern)
        assert second.index == 1 and second.captured_at > first.captured_at

        with pytest.raises(UserError, match="outside the screen"):
            capture.open_screen_source("screen:300,200,64,48")
        with pytest.raises(UserError, match="no monitor 5"):
            capture.open_screen_source("screen:5")


def test_capture_depth30_keeps_ten_bits():
    with xvfb(320, 240, 30) as display, display_env(display):
        pattern = _pattern(32, 40, 10, 2)
        put_root_pixels(display, 5, 7, pattern, bits=10)
        src = capture.open_screen_source("screen:5,7,40,32")
        try:
            assert src.backend == "xshm-depth30"
            frame = next(iter(src.frames()))
        finally:
            src.close()
        assert frame.rgb.dtype == np.float32
        np.testing.assert_array_equal(np.rint(frame.rgb * 1023).astype(np.int64), pattern)
        # Values that 8 bits cannot hold survive (k / 1023 with k not a multiple of 4).
        assert len(np.unique(frame.rgb)) > 256
