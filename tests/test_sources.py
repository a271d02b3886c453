"""Sources: YUV -> RGB with the stream's own matrix and range, 10-bit precision, timestamps, seeking, errors."""
from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from _media import make_clip
from livehdr.io import sources
from livehdr.base.errors import UserError
from livehdr.io.inputs import open_source
from livehdr.io.sources import DemoSource, FileSource


def _flat_yuv_clip(path, y, cb, cr, colorspace, color_range, pix_fmt="yuv420p", bits=8, frames=2):
    """A lossless (FFV1) clip whose every pixel has the given Y'CbCr code values."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=10)
        s.width, s.height, s.pix_fmt = 32, 16, pix_fmt
        s.codec_context.colorspace = colorspace
        s.codec_context.color_range = color_range
        for i in range(frames):
            f = av.VideoFrame(32, 16, pix_fmt)
            dtype = np.uint16 if bits > 8 else np.uint8
            for plane, value in zip(f.planes, (y, cb, cr)):
                np.frombuffer(plane, dtype=dtype)[:] = value
            f.colorspace, f.color_range, f.pts = colorspace, color_range, i
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    return path


def _expected_rgb(y, cb, cr, weights, full, bits=8):
    """Y'CbCr -> R'G'B' in [0, 1] from the matrix definition (BT.601-7 clause 2.5, BT.709-6 items 3.2-3.5)."""
    kr, _, kb = weights
    scale = 2 ** (bits - 8)
    if full:
        Y, Cb, Cr = y / (255 * scale), (cb - 128 * scale) / (255 * scale), (cr - 128 * scale) / (255 * scale)
    else:
        Y = (y - 16 * scale) / (219 * scale)
        Cb, Cr = (cb - 128 * scale) / (224 * scale), (cr - 128 * scale) / (224 * scale)
    R = Y + 2 * (1 - kr) * Cr
    B = Y + 2 * (1 - kb) * Cb
    G = (Y - kr * R - kb * B) / (1 - kr - kb)
    return np.clip([R, G, B], 0, 1)


@pytest.mark.parametrize("colorspace,weights,color_range", [
    (1, (0.2126, 0.7152, 0.0722), 1),  # BT.709, limited
    (6, (0.299, 0.587, 0.114), 1),  # BT.601 (SMPTE 170M), limited
    (1, (0.2126, 0.7152, 0.0722), 2),  # BT.709, full
])
def test_yuv_to_rgb_uses_the_streams_matrix_and_range(tmp_path, colorspace, weights, color_range):
    y, cb, cr = 120, 90, 170  # a saturated orange-red: the matrices disagree strongly on it
    path = _flat_yuv_clip(tmp_path / "flat.mkv", y, cb, cr, colorspace, color_range)
    with FileSource(str(path), hwaccel="none") as src:
        frame = next(iter(src.frames()))
    assert frame.rgb.dtype == np.uint8 and frame.rgb.shape == (16, 32, 3)
    expected = _expected_rgb(y, cb, cr, weights, full=color_range == 2) * 255
    got = frame.rgb.reshape(-1, 3).mean(axis=0)
    assert np.abs(got - expected).max() <= 0.6, (got, expected)  # correctly rounded
    # The other matrix would be visibly wrong: the test can tell them apart.
    other = (0.299, 0.587, 0.114) if colorspace == 1 else (0.2126, 0.7152, 0.0722)
    assert np.abs(_expected_rgb(y, cb, cr, other, full=color_range == 2) * 255 - expected).max() > 3


def test_ten_bit_source_keeps_precision_as_float(tmp_path):
    # Y = 502 of 1023 (limited range, neutral chroma): grey 0.5 = 127.5 / 255, halfway between 8-bit codes.
    path = _flat_yuv_clip(tmp_path / "ten.mkv", 502, 512, 512, 1, 1, pix_fmt="yuv420p10le", bits=10)
    with FileSource(str(path), hwaccel="none") as src:
        frame = next(iter(src.frames()))
    assert frame.rgb.dtype == np.float32
    assert np.allclose(frame.rgb, (502 - 64) / 876, atol=1e-5)  # an 8-bit path would be 1/510 off


def test_file_source_properties_and_frames(tmp_path):
    path = make_clip(tmp_path / "clip.mp4", 64, 48, frames=6, rate=10)
    with FileSource(str(path), hwaccel="auto") as src:
        assert (src.width, src.height, src.fps, src.frame_count, src.is_live) == (64, 48, 10.0, 6, False)
        assert src.duration == pytest.approx(0.6, abs=0.05)
        frames = list(src.frames())
    assert [f.index for f in frames] == list(range(6))
    assert [f.pts for f in frames] == pytest.approx([i / 10 for i in range(6)])
    assert all(f.rgb.shape == (48, 64, 3) and f.rgb.dtype == np.uint8 for f in frames)
    assert frames[0].duration == pytest.approx(0.1)
    assert frames[1].captured_at >= frames[0].captured_at


def test_variable_frame_rate_timestamps_are_kept(tmp_path):
    times = [0.0, 0.1, 0.25, 0.3, 0.7, 0.72]
    path = make_clip(tmp_path / "vfr.mkv", 64, 48, frames=len(times), frame_times=times, audio=False)
    with FileSource(str(path)) as src:
        assert [f.pts for f in src.frames()] == pytest.approx(times, abs=1e-3)


def test_odd_size_is_delivered_unchanged(tmp_path):
    path = make_clip(tmp_path / "odd.mkv", 65, 49, frames=2, codec="ffv1", audio=False)
    with FileSource(str(path)) as src:
        assert (src.width, src.height) == (65, 49)
        assert next(iter(src.frames())).rgb.shape == (49, 65, 3)


def test_seek_restarts_at_the_requested_time(tmp_path):
    path = make_clip(tmp_path / "clip.mkv", 64, 48, frames=20, rate=10, audio=False)
    with FileSource(str(path)) as src:
        first = next(iter(src.frames()))
        src.seek(1.2)
        after = next(iter(src.frames()))
    assert first.pts == 0.0
    assert after.pts == pytest.approx(1.2, abs=1e-3)
    # Same picture as decoding straight through to that frame.
    with FileSource(str(path)) as src:
        straight = [f for f in src.frames() if abs(f.pts - 1.2) < 1e-3][0]
    assert np.array_equal(after.rgb, straight.rgb)


def test_untagged_hd_uses_bt709_and_sd_bt601():
    hd = av.VideoFrame(1280, 720, "yuv420p")
    sd = av.VideoFrame(640, 480, "yuv420p")
    assert sources.ycbcr_matrix(hd) == "ITU709"
    assert sources.ycbcr_matrix(sd) == "ITU601"
    assert sources.ycbcr_range(av.VideoFrame(64, 48, "yuvj420p")) == "JPEG"
    assert sources.ycbcr_range(sd) == "MPEG"


@pytest.mark.parametrize("content,message", [
    (b"", "input is empty"),
    (b"this is a text file, not a video\n" * 20, "not a media file"),
])
def test_bad_files_raise_one_line_user_errors(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as info:
        FileSource(str(path))
    assert "\n" not in str(info.value)


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=48000)
        a.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, 0, Fraction(1, 48000)
        out.mux(a.encode(frame))
        out.mux(a.encode(None))
    with pytest.raises(UserError, match="no video stream"):
        FileSource(str(path))


def test_open_source_dispatch(tmp_path):
    demo = open_source("demo")
    assert isinstance(demo, DemoSource)
    assert (demo.width, demo.height, demo.fps, demo.frame_count) == (1280, 720, 30.0, 300)
    path = make_clip(tmp_path / "c.mp4", 64, 48, frames=2, audio=False)
    assert isinstance(open_source(str(path)), FileSource)


def test_demo_source_renders_frames_at_exact_times():
    demo = DemoSource(width=64, height=36, fps=10.0, seconds=0.3)
    frames = list(demo.frames())
    assert [f.pts for f in frames] == pytest.approx([0.0, 0.1, 0.2])
    assert all(f.rgb.shape == (36, 64, 3) and f.rgb.dtype == np.uint8 for f in frames)
    assert frames[0].rgb.std() > 1  # a picture, not a flat fill
    demo.seek(0.2)
    assert [f.index for f in demo.frames()] == [2]


@pytest.mark.parametrize("pix_fmt,values,color_range,expected", [
    ("yuv420p10le", (940, 512, 512), 1, (1.0, 1.0, 1.0)),  # limited-range 10-bit white is exactly 1.0
    ("yuv420p10le", (64, 512, 512), 1, (0.0, 0.0, 0.0)),
    ("yuv444p12le", (3760, 2048, 2048), 1, (1.0, 1.0, 1.0)),
    ("yuv420p10le", (1023, 512, 512), 2, (1.0, 1.0, 1.0)),  # full range
    # BT.709 limited: Y' = 0.5, C'r = 0.25 -> R' = 0.5 + 2 (1 - 0.2126) 0.25
    ("yuv420p10le", (502, 512, 736), 1, (0.5 + 1.5748 * 0.25, 0.5 - 2 * 0.2126 * 0.7874 / 0.7152 * 0.25, 0.5)),
])
def test_deep_ycbcr_conversion_is_exact(pix_fmt, values, color_range, expected):
    f = av.VideoFrame(33, 17, pix_fmt)  # odd size: chroma planes are rounded up
    for plane, value in zip(f.planes, values):
        np.frombuffer(plane, np.uint16)[:] = value
    f.colorspace, f.color_range = 1, color_range
    rgb = sources.frame_to_rgb(f)
    assert rgb.dtype == np.float32 and rgb.shape == (17, 33, 3)
    assert np.allclose(rgb, np.clip(expected, 0, 1), atol=1e-5)


def test_p010_hardware_layout_matches_planar():
    planar = av.VideoFrame(32, 16, "yuv420p10le")
    semi = av.VideoFrame(32, 16, "p010le")
    for plane, value in zip(planar.planes, (700, 300, 800)):
        np.frombuffer(plane, np.uint16)[:] = value
    np.frombuffer(semi.planes[0], np.uint16)[:] = 700 << 6
    uv = np.frombuffer(semi.planes[1], np.uint16)
    uv[0::2], uv[1::2] = 300 << 6, 800 << 6
    for f in (planar, semi):
        f.colorspace, f.color_range = 1, 1
    assert np.allclose(sources.frame_to_rgb(planar), sources.frame_to_rgb(semi), atol=1e-6)
