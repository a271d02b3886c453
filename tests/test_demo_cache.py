"""The demo rendered once into a cache file (livehdr/io/demo_cache.py) and played from it (io/sources.py)."""
import os

import numpy as np
import pytest

from livehdr import scenes
from livehdr.io import demo_cache
from livehdr.io.demo_cache import DemoCache, cache_dir
from livehdr.io.sources import DemoSource

W, H, FPS, SECONDS = 48, 27, 10.0, 0.5  # 5 frames


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """A private cache folder and a renderer that counts its calls."""
    monkeypatch.setenv("LIVEHDR_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    real = scenes.demo_frame_sdr

    def render(t, width, height):
        calls.append(t)
        return real(t, width, height)

    monkeypatch.setattr(scenes, "demo_frame_sdr", render)
    return calls


def play() -> list[np.ndarray]:
    return [f.rgb for f in DemoSource(W, H, FPS, SECONDS).frames()]


def rendered() -> list[np.ndarray]:
    return [np.asarray(scenes.demo_frame_sdr(i / FPS, W, H), dtype=np.uint8) for i in range(5)]


def the_file() -> str:
    names = os.listdir(cache_dir())
    assert len(names) == 1, names  # nothing half-written left beside it
    return os.path.join(cache_dir(), names[0])


def test_second_run_reads_the_cache_and_frames_equal_the_renderer(counted, capsys):
    first = play()
    assert len(counted) == 5
    assert "rendering the demo once" in capsys.readouterr().err
    second = play()
    assert len(counted) == 5  # not rendered again
    expect = rendered()
    assert len(first) == len(second) == 5
    for a, b, c in zip(first, second, expect):
        assert a.dtype == np.uint8 and a.shape == (H, W, 3)
        assert np.array_equal(a, c) and np.array_equal(b, c)  # lossless
    assert len({a.tobytes() for a in first}) == 5  # the frames move
    path = the_file()
    assert path.startswith(str(cache_dir())) and os.path.getsize(path) == DemoCache(W, H, 5, FPS).file_bytes()


def test_seek_reads_from_the_cache(counted):
    play()
    source = DemoSource(W, H, FPS, SECONDS)
    source.seek(0.3)
    got = [(f.index, f.rgb) for f in source.frames()]
    assert [i for i, _ in got] == [3, 4]
    assert np.array_equal(got[0][1], rendered()[3])
    assert len(counted) == 5 + 5  # the cache's 5, then rendered() above; seeking rendered nothing


@pytest.mark.parametrize("damage", ["truncate", "garbage", "header"])
def test_a_damaged_cache_is_rebuilt_with_one_line(counted, capsys, damage):
    play()
    path = the_file()
    size = os.path.getsize(path)
    if damage == "truncate":
        with open(path, "r+b") as f:
            f.truncate(size // 2)
    elif damage == "garbage":
        with open(path, "wb") as f:
            f.write(os.urandom(size))
    else:
        with open(path, "r+b") as f:
            f.write(b"something else!!")
    capsys.readouterr()
    frames = play()
    err = capsys.readouterr().err
    assert len(counted) == 10  # rendered again
    damaged = [line for line in err.splitlines() if "is damaged" in line]
    assert len(damaged) == 1 and "Traceback" not in err
    # that line, then (stderr is no terminal here) the build's first and last progress lines
    lines = err.strip("\n").split("\n")
    assert len(lines) == 3 and "rendering the demo once" in lines[1] and "rendered once into" in lines[2], lines
    for a, b in zip(frames, rendered()):
        assert np.array_equal(a, b)
    assert play() and len(counted) == 15  # rendered() above; the rebuilt cache is read again
    assert the_file() == path


def test_a_damaged_frame_is_rendered_instead_and_the_cache_removed(counted, capsys):
    play()
    path = the_file()
    with open(path, "r+b") as f:
        f.seek(demo_cache.HEADER_BYTES + 2 * W * H * 3 + 100)
        f.write(b"\x00\xff\x00")
    capsys.readouterr()
    frames = play()
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if "is damaged" in line]) == 1
    for a, b in zip(frames, rendered()):
        assert np.array_equal(a, b)
    assert not os.path.exists(path)  # rebuilt on the next run
    play()
    assert os.path.exists(path)


def test_the_key_follows_size_frames_and_the_renderer_code(counted, monkeypatch):
    a = DemoCache(W, H, 5, FPS).path
    assert DemoCache(W + 2, H, 5, FPS).path != a and DemoCache(W, H, 6, FPS).path != a
    monkeypatch.setattr(demo_cache, "renderer_fingerprint", lambda: "0123456789abcdef")
    assert DemoCache(W, H, 5, FPS).path != a  # another renderer: another file


def test_a_new_renderer_replaces_the_old_renderers_file(counted, monkeypatch):
    play()
    old = the_file()
    other = DemoCache(W + 2, H, 5, FPS)  # another clip: kept
    other.open()
    monkeypatch.setattr(demo_cache, "renderer_fingerprint", lambda: "0123456789abcdef")
    play()
    assert len(counted) == 5 + 5 + 5
    assert not os.path.exists(old) and os.path.exists(other.path)
    assert os.path.exists(DemoCache(W, H, 5, FPS).path)


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("LIVEHDR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == str(tmp_path / "xdg" / "livehdr" / "demo")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == str(tmp_path / "home" / ".cache" / "livehdr" / "demo")


def test_an_unwritable_cache_folder_plays_rendered_frames_with_one_line(monkeypatch, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LIVEHDR_CACHE_DIR", str(blocker))
    frames = play()
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if "cannot write the demo cache" in line]) == 1
    for a, b in zip(frames, rendered()):
        assert np.array_equal(a, b)
