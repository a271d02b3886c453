"""Stills through the real CLI: the issue's grey-ramp numbers, file formats, folders and every error case."""
import os

import numpy as np
import pytest
from PIL import Image

from livehdr import color
from livehdr.cli import main
from livehdr.io.imagefiles import read_exr, read_png_chunks


def ramp_u8(h=4):
    r = np.repeat(np.arange(256, dtype=np.uint8)[None, :], h, 0)
    return np.stack([r] * 3, -1)


@pytest.fixture
def ramp_png(tmp_path):
    p = tmp_path / "ramp.png"
    Image.fromarray(ramp_u8()).save(p)
    return str(p)


def run(*argv):
    return main([str(a) for a in argv])


def exr_header(path):
    import OpenEXR

    with OpenEXR.File(str(path)) as f:
        return dict(f.header())  # copy: the header is released with the file


def test_bt2446a_grey_ramp_in_absolute_nits(ramp_png, tmp_path):
    out = tmp_path / "a.exr"
    assert run("--input", ramp_png, "--output", out, "--model", "bt2446a", "--input-gamma", "2.4") == 0
    px = read_exr(str(out))
    assert px[0, 255, 1] == pytest.approx(1000.0, rel=0.02)
    assert px[0, 128, 1] == pytest.approx(81.7, rel=0.01)
    hdr = exr_header(out)
    np.testing.assert_allclose(hdr["chromaticities"], (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290), atol=1e-6)
    assert hdr["whiteLuminance"] == pytest.approx(1.0)


def test_naive_white_is_203_nits_and_options_apply(ramp_png, tmp_path):
    out = tmp_path / "n.exr"
    assert run("--input", ramp_png, "--output", out, "--model", "naive") == 0
    assert read_exr(str(out))[1, 255] == pytest.approx([203.0] * 3, rel=1e-3)
    assert run("--input", ramp_png, "--output", out, "--model", "naive", "--paper-white", "100",
               "--overwrite") == 0
    assert read_exr(str(out))[1, 255, 0] == pytest.approx(100.0, rel=1e-3)
    assert run("--input", ramp_png, "--output", out, "--model", "bt2446a", "--peak", "600", "--overwrite") == 0
    assert read_exr(str(out))[1, 255, 0] == pytest.approx(600.0, rel=0.02)


def test_png_output_is_pq_bt2020_with_cicp(ramp_png, tmp_path):
    import av

    out = tmp_path / "p.png"
    assert run("--input", ramp_png, "--output", out, "--model", "naive") == 0
    chunks = read_png_chunks(str(out))
    assert chunks[b"cICP"] == bytes([9, 16, 0, 1])  # BT.2020, PQ, RGB, full range
    assert chunks[b"IHDR"][8] == 16 and chunks[b"IHDR"][9] == 2  # 16-bit RGB
    with av.open(str(out)) as c:  # an independent decoder reads it back
        px = next(c.decode(video=0)).to_ndarray(format="rgb48le")
    assert px[0, 255, 0] / 65535 == pytest.approx(0.5807, abs=2e-4)  # 203 cd/m2 in PQ
    assert px[0, 0, 0] / 65535 == pytest.approx(0.0, abs=1e-4)


def test_input_variants_grey_16bit_alpha_jpeg_tiff(tmp_path, capsys):
    r = ramp_u8()
    Image.fromarray(r[..., 0]).save(tmp_path / "grey.png")
    Image.fromarray(np.dstack([r, np.full(r.shape[:2], 128, np.uint8)])).save(tmp_path / "alpha.png")
    Image.fromarray(r).save(tmp_path / "photo.jpg", quality=95)
    Image.fromarray(r).save(tmp_path / "photo.tif")
    Image.fromarray(r[..., 0].astype(np.uint16) * 257).save(tmp_path / "grey16.png")
    for name in ["grey.png", "alpha.png", "photo.jpg", "photo.tif", "grey16.png"]:
        out = tmp_path / (name + ".exr")
        assert run("--input", tmp_path / name, "--output", out, "--model", "naive") == 0, name
        px = read_exr(str(out))
        assert px.shape == (4, 256, 3)
        assert px[2, 255, 0] == pytest.approx(203.0, rel=0.02), name  # white
        assert px[2, 0, 1] < 0.5, name  # black
    assert "alpha channel dropped" in capsys.readouterr().err


def test_16bit_rgb_keeps_precision(tmp_path):
    import av

    # A 16-bit ramp between two 8-bit codes must survive as distinct values (Pillow alone would drop them).
    val = (np.linspace(0.5, 0.5 + 1 / 255, 64) * 65535).astype(np.uint16)
    img = np.repeat(np.stack([val] * 3, -1)[None], 2, 0)
    frame = av.VideoFrame.from_ndarray(img, format="rgb48le")
    with av.open(str(tmp_path / "deep.png"), "w", format="image2") as c:
        s = c.add_stream("png", rate=1)
        s.width, s.height, s.pix_fmt = 64, 2, "rgb48be"
        for p in s.encode(frame.reformat(format="rgb48be")):
            c.mux(p)
        for p in s.encode():
            c.mux(p)
    assert run("--input", tmp_path / "deep.png", "--output", tmp_path / "d.exr", "--model", "naive") == 0
    assert len(np.unique(read_exr(str(tmp_path / "d.exr"))[0, :, 0])) > 30


@pytest.mark.slow  # about 45 s on 2 cores: 50 images through bt2446a
def test_folder_of_50_pngs_in_one_process(tmp_path, monkeypatch):
    from livehdr import operators

    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(50):
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(src / f"img{i:02d}.png")
    (src / "notes.txt").write_text("not an image")
    created = []
    real = operators.create_operator
    monkeypatch.setattr(operators, "create_operator", lambda *a, **k: created.append(a) or real(*a, **k))
    assert run("--input", src, "--output", dst, "--model", "bt2446a", "--format", "png") == 0
    assert len(created) == 1  # the operator is loaded once for the whole folder
    outs = sorted(f for f in os.listdir(dst) if not f.startswith("."))  # .livehdr: the batch manifest
    assert outs == [f"img{i:02d}.png" for i in range(50)]
    assert all(read_png_chunks(str(dst / o))[b"cICP"] == bytes([9, 16, 0, 1]) for o in outs)
    assert run("--input", src, "--output", tmp_path / "exr") == 0
    assert len([f for f in os.listdir(tmp_path / "exr") if f.endswith(".exr")]) == 50


def _assert_error(capsys, argv, fragment):
    code = run(*argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("livehdr: error:"), err
    assert fragment in lines[0], err
    assert "Traceback" not in err


def test_error_cases(tmp_path, ramp_png, capsys):
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    (tmp_path / "text.jpg").write_text("hello")
    _assert_error(capsys, ["--input", tmp_path / "missing.png", "--output", tmp_path / "o.exr"], "not found")
    _assert_error(capsys, ["--input", bad, "--output", tmp_path / "o.exr"], "cannot read image")
    _assert_error(capsys, ["--input", tmp_path / "text.jpg", "--output", tmp_path / "o.exr"], "cannot read image")
    _assert_error(capsys, ["--input", ramp_png, "--output", tmp_path / "o.bmp"], "unsupported output extension")
    _assert_error(capsys, ["--input", ramp_png, "--output", tmp_path / "nodir" / "o.exr"], "does not exist")
    _assert_error(capsys, ["--input", ramp_png, "--output", ramp_png], "is the input")
    _assert_error(capsys, ["--input", ramp_png, "--output", tmp_path / "o.exr", "--peak", "100"], "paper white")
    _assert_error(capsys, ["--input", ramp_png, "--output", tmp_path / "o.exr", "--model", "zzz"], "unknown model")
    assert not any(p.name.startswith("o.") or ".partial" in p.name for p in tmp_path.iterdir())


def test_bad_numbers_are_refused_by_the_parser(ramp_png, tmp_path, capsys):
    for flag, value, msg in [("--peak", "0", "must be a positive"), ("--peak", "-3", "must be a positive"),
                             ("--paper-white", "abc", "is not a number"), ("--peak", "inf", "must be a positive")]:
        with pytest.raises(SystemExit) as e:
            run("--input", ramp_png, "--output", tmp_path / "o.exr", flag, value)
        assert e.value.code == 2
        assert msg in capsys.readouterr().err


def test_unwritable_output_folder(ramp_png, tmp_path, capsys):
    # /proc refuses new files even for root (CI runs as root, so permission bits alone would prove nothing).
    _assert_error(capsys, ["--input", ramp_png, "--output", "/proc/livehdr-test.exr"], "not writable")
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        _assert_error(capsys, ["--input", ramp_png, "--output", ro / "o.exr"], "not writable")


def test_failed_write_leaves_nothing_under_the_final_name(ramp_png, tmp_path, monkeypatch):
    from livehdr.io import imagefiles as imageio

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(imageio, "encode_png16", boom)
    with pytest.raises(RuntimeError):
        run("--input", ramp_png, "--output", tmp_path / "x.png")
    assert os.listdir(tmp_path) == ["ramp.png"]


def test_list_models(capsys):
    assert run("--list-models") == 0
    out = capsys.readouterr().out
    assert "naive" in out and "bt2446a" in out and "bt2446c" in out


def test_exr_is_linear_with_known_colours(tmp_path):
    # A saturated red patch through `naive` must come back as pure BT.709 red at 203 * 1.0 cd/m2.
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 255
    Image.fromarray(img).save(tmp_path / "red.png")
    assert run("--input", tmp_path / "red.png", "--output", tmp_path / "red.exr", "--model", "naive") == 0
    px = read_exr(str(tmp_path / "red.exr"))[0, 0]
    np.testing.assert_allclose(px, [203.0, 0.0, 0.0], atol=0.05)
    assert color.luminance_BT709(px) == pytest.approx(203 * 0.2126, rel=1e-3)


def test_hdr_png_input_is_refused(ramp_png, tmp_path, capsys):
    hdr = tmp_path / "hdr.png"
    assert run("--input", ramp_png, "--output", hdr, "--model", "naive") == 0  # our own PQ PNG
    _assert_error(capsys, ["--input", hdr, "--output", tmp_path / "again.exr"], "is already HDR (PQ, cICP)")
