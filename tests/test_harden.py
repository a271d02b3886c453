"""Issue #9, hardening: every case here once ended in a traceback, a hang, a lost file or a silent loss."""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import time
import subprocess
import sys
import threading
import warnings

import av
import numpy as np
import pytest
import torch
from PIL import Image

from _damage import clip_with_opus, cut_at, jpeg_header, png_header, zero_packet_payload
from _media import make_clip, read_video
from livehdr import cli
from livehdr.base.errors import Stopped, UserError
from livehdr.color import ReferenceLevels
from livehdr.io import hdr10
from livehdr.io.imagefiles import read_exr
from livehdr.io.sources import FileSource
from livehdr.operators import OperatorConfig, create_operator
from livehdr.pipeline import ConversionSettings, run_conversion

FAST = ["--preset", "ultrafast", "--encoder", "libx265", "--hwaccel", "none", "--model", "naive"]


def _cli(argv, capsys):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _one_error_line(err, fragment):
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("livehdr: error:"), err
    assert fragment in lines[0], err


def _leftovers(folder, keep=()):
    return sorted(n for n in os.listdir(folder) if n not in keep)


def _convert(src, out, **settings):
    levels = ReferenceLevels()
    op = create_operator("naive", OperatorConfig(levels=levels))
    with FileSource(str(src), hwaccel="none") as source:
        return run_conversion(ConversionSettings(output=str(out), levels=levels, preset="ultrafast",
                                                 encoder="libx265", **settings), source, op)


# 1 ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,data,size", [
    ("png60k.png", png_header(60000, 60000), "60000x60000"),
    ("png16.png", png_header(30000, 30000, depth=16), "30000x30000"),
    ("big.jpg", jpeg_header(65000, 65000), "65000x65000"),
    ("wide.png", png_header(2**31 - 1, 1), "2147483647x1"),
    ("warns.png", png_header(11000, 10000), "11000x10000"),  # Pillow only warns at this size
])
def test_huge_claimed_image_sizes_are_refused_in_one_line(tmp_path, capsys, name, data, size):
    (tmp_path / name).write_bytes(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, err = _cli(["--input", tmp_path / name, "--output", tmp_path / "o.exr", "--model", "naive"], capsys)
    assert code == 2
    _one_error_line(err, size)
    assert not [w for w in caught if "Image" in type(w.message).__name__ or "pixels" in str(w.message)]
    assert _leftovers(tmp_path, {name}) == []


# 2 ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["pipe.png", "pipe.mp4"])
def test_a_fifo_input_is_refused_not_waited_on(tmp_path, capsys, name):
    os.mkfifo(tmp_path / name)
    result = {}
    t = threading.Thread(target=lambda: result.update(code=cli.main(
        ["--input", str(tmp_path / name), "--output", str(tmp_path / "o.mkv"), *FAST])), daemon=True)
    t.start()
    t.join(60)
    if t.is_alive():  # unblock the reader so the test process can end
        with open(tmp_path / name, "wb"):
            pass
        pytest.fail("the FIFO input hung")
    err = capsys.readouterr().err
    assert result["code"] == 2
    _one_error_line(err, "FIFO")
    assert "0 bytes" not in err


# 3 ---------------------------------------------------------------------------------------------------------
def test_second_ctrl_c_while_finishing_leaves_nothing_and_says_so(tmp_path, monkeypatch):
    src = make_clip(tmp_path / "in.mkv", width=64, height=48, frames=12, rate=10)
    out = tmp_path / "out.mkv"
    from livehdr.io import hevc_sei

    real = hevc_sei.patch_sample
    sent = []

    def patch_and_interrupt(*a, **k):  # the remux of finish(): the user presses Ctrl-C again here
        if not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)
        return real(*a, **k)

    monkeypatch.setattr(hevc_sei, "patch_sample", patch_and_interrupt)
    levels = ReferenceLevels()
    op = create_operator("naive", OperatorConfig(levels=levels))
    first = []

    def progress(done, total):  # the first Ctrl-C, after a few frames
        if done >= 3 and not first:
            first.append(1)
            os.kill(os.getpid(), signal.SIGINT)

    with FileSource(str(src), hwaccel="none") as source, pytest.raises(Stopped) as e:
        run_conversion(ConversionSettings(output=str(out), levels=levels, preset="ultrafast", encoder="libx265"),
                       source, op, progress)
    assert "nothing written" in str(e.value) and e.value.exit_code == 130
    assert _leftovers(tmp_path, {"in.mkv"}) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler given back


# 4 ---------------------------------------------------------------------------------------------------------
def test_sigterm_ends_the_input_and_still_finishes_a_playable_file(tmp_path):
    src = make_clip(tmp_path / "in.mkv", width=64, height=48, frames=40, rate=10)
    out = tmp_path / "out.mkv"
    levels = ReferenceLevels()
    naive = create_operator("naive", OperatorConfig(levels=levels))

    class Slow(type(naive)):  # 40 frames take >= 0.8 s: the signal lands mid-file, not after it
        pointwise = False  # the per-frame call (a composed table would call the curve once per file)

        def expand_uint8(self, frame):
            time.sleep(0.02)
            return super().expand_uint8(frame)

    op = Slow(naive.config, naive.curve)
    sent = []

    def progress(done, total):
        if done >= 3 and not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGTERM)

    def safety_net(signum, frame):  # before the fix SIGTERM killed the process; fail instead
        raise AssertionError("SIGTERM reached the default handler")

    previous = signal.signal(signal.SIGTERM, safety_net)
    try:
        with FileSource(str(src), hwaccel="none") as source:
            result = run_conversion(ConversionSettings(output=str(out), levels=levels, preset="ultrafast",
                                                       encoder="libx265"), source, op, progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.interrupted and result.stopped_by == signal.SIGTERM
    assert 3 <= read_video(out)["frames"] < 40
    assert _leftovers(tmp_path, {"in.mkv", "out.mkv"}) == []


def test_stale_temporaries_and_lock_of_a_killed_run_are_cleaned(tmp_path, capsys):
    src = make_clip(tmp_path / "in.mkv", width=64, height=48, frames=4, rate=10)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".out.mkv.lock").write_text(f"{dead.pid}\n")  # a run killed with -9
    (tmp_path / ".out.k3j9x_2a.video.mkv").write_bytes(b"x" * 100)
    (tmp_path / ".out.a8Bc0dE1.partial.mkv").write_bytes(b"x" * 100)
    (tmp_path / ".other.a8Bc0dE1.partial.mkv").write_bytes(b"keep: another output's")
    code, err = _cli(["-i", src, "-o", tmp_path / "out.mkv", *FAST], capsys)
    assert code == 0, err
    assert "removed 2 temporary file(s)" in err
    assert _leftovers(tmp_path) == [".other.a8Bc0dE1.partial.mkv", "in.mkv", "out.mkv"]


# 5 ---------------------------------------------------------------------------------------------------------
def _writer(path, **kw):
    return hdr10.HDR10Writer(str(path), 64, 48, ReferenceLevels(), fps=10, preset="ultrafast", encoder="libx265",
                             **kw)


def _frames(writer, n=3):
    for i in range(n):
        writer.write(np.full((48, 64, 3), 0.5, np.float32), i / 10)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_during_the_remux_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    real = hdr10.hidden_temp

    def full_disk(path, tag):  # the remuxed copy lands on a full disk
        if tag != "partial":
            return real(path, tag)
        link = str(tmp_path / f".out.fulldisk.{tag}.mkv")
        os.symlink("/dev/full", link)
        return link

    monkeypatch.setattr(hdr10, "hidden_temp", full_disk)
    w = _writer(tmp_path / "out.mkv")
    _frames(w)
    with pytest.raises(UserError) as e:
        w.finish()
    assert "No space left on device" in str(e.value) and "\n" not in str(e.value)
    assert _leftovers(tmp_path) == []


def test_output_folder_deleted_during_the_run_is_one_line(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    w = _writer(folder / "out.mkv")
    _frames(w)
    shutil.rmtree(folder)
    with pytest.raises(UserError, match="writing .*out.mkv failed"):
        w.finish()
    assert not folder.exists()


def test_too_little_free_space_is_refused_before_starting(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(UserError, match="not enough free space"):
        _writer(tmp_path / "out.mkv", expected_frames=300)
    assert _leftovers(tmp_path) == []


# 6 ---------------------------------------------------------------------------------------------------------
def test_a_second_run_on_the_same_output_is_refused(tmp_path):
    first = _writer(tmp_path / "out.mkv")
    try:
        with pytest.raises(UserError, match="another livehdr run is writing .*out.mkv"):
            _writer(tmp_path / "out.mkv")
        # Another live process holding the lock (a flock, as every output lock is): refused too.
        other = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a');"
                                  "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)",
                                  str(tmp_path / ".b.mkv.lock")], stdout=subprocess.PIPE, text=True)
        try:
            assert other.stdout.readline() == "held\n"
            with pytest.raises(UserError, match="another livehdr run is writing .*b.mkv"):
                _writer(tmp_path / "b.mkv")
        finally:
            other.kill()
            other.wait()
        _writer(tmp_path / "b.mkv").abort()  # the kernel dropped the killed holder's lock: free at once
        _frames(first)
    finally:
        first.finish()
    assert _leftovers(tmp_path) == ["out.mkv"]  # lock files go with their release


# 7 ---------------------------------------------------------------------------------------------------------
def test_stills_refuse_to_overwrite_without_the_flag(tmp_path, capsys):
    Image.new("RGB", (4, 4), (100, 150, 200)).save(tmp_path / "a.png")
    args = ["--input", tmp_path / "a.png", "--output", tmp_path / "a.exr", "--model", "naive"]
    assert _cli(args, capsys)[0] == 0
    before = os.stat(tmp_path / "a.exr").st_mtime_ns
    code, err = _cli(args, capsys)
    assert code == 2
    _one_error_line(err, "--overwrite")
    assert os.stat(tmp_path / "a.exr").st_mtime_ns == before
    assert _cli(args + ["--overwrite"], capsys)[0] == 0


def test_folder_conversion_skips_finished_outputs(tmp_path, capsys):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(3):
        Image.new("RGB", (4, 4), (50 * i, 100, 200)).save(src / f"p{i}.png")
    dst.mkdir()
    (dst / "p1.exr").write_bytes(b"an earlier result")
    code, err = _cli(["--input", src, "--output", dst, "--model", "naive"], capsys)
    assert code == 0 and "2 converted" in err and "1 skipped" in err and "add --overwrite" in err, err
    assert (dst / "p1.exr").read_bytes() == b"an earlier result"
    assert sorted(f for f in os.listdir(dst) if not f.startswith(".")) == ["p0.exr", "p1.exr", "p2.exr"]
    code, err = _cli(["--input", src, "--output", dst, "--model", "naive", "--overwrite"], capsys)
    assert code == 0 and "0 skipped" in err and "add --overwrite" not in err, err
    assert read_exr(str(dst / "p1.exr")).shape == (4, 4, 3)


# 8, 10 -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clip60(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "c60.mkv", width=64, height=48, frames=60, rate=30)


def test_a_damaged_packet_is_skipped_and_counted(tmp_path, clip60, caplog):
    zero_packet_payload(clip60, tmp_path / "bad.mkv", 20)
    with FileSource(str(tmp_path / "bad.mkv"), hwaccel="none") as s:
        n = sum(1 for _ in s.frames())
    assert n >= 58  # was 18: the first error ended the input
    assert s.decode_errors == 1
    assert "1 damaged packet(s) could not be decoded" in caplog.text


def test_a_cut_file_warns_with_both_frame_counts(tmp_path, clip60, caplog):
    cut_at(clip60, tmp_path / "cut.mkv", 1.13)
    with FileSource(str(tmp_path / "cut.mkv"), hwaccel="none") as s:
        n = sum(1 for _ in s.frames())
    assert n == 34
    assert "34 frames decoded of the 60 the container announced" in caplog.text


def test_a_complete_file_does_not_warn(clip60, caplog):
    with FileSource(str(clip60), hwaccel="none") as s:
        assert sum(1 for _ in s.frames()) == 60
    assert "announced" not in caplog.text and "damaged" not in caplog.text


# 9 ---------------------------------------------------------------------------------------------------------
def test_opus_timestamps_going_backwards_cost_audio_packets_not_the_video(tmp_path, caplog):
    clip_with_opus(tmp_path / "in.mkv")
    result = _convert(tmp_path / "in.mkv", tmp_path / "out.mkv")
    info = read_video(tmp_path / "out.mkv")
    assert info["frames"] == 20 and info["audio"] == ["opus"]
    assert result.summary["dropped_audio_packets"] >= 1
    assert "impossible timestamps" in caplog.text


# 11 --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good_weights(tmp_path_factory):
    from livehdr.models.registry import create_model
    from livehdr.models.weights import save_model

    path = str(tmp_path_factory.mktemp("w") / "good.safetensors")
    torch.manual_seed(0)
    save_model(path, create_model("mqnet"), "mqnet")
    return path


def _variant(good, path, change_tensor=None, change_config=None):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(good, framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if change_tensor:
        tensors = {k: change_tensor(k, v) for k, v in tensors.items()}
    if change_config:
        meta["config"] = json.dumps(change_config(json.loads(meta["config"])))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=meta)
    return str(path)


def test_good_weights_load(good_weights):
    from livehdr.models.weights import load_model

    model = load_model(good_weights)
    # The loaded network is the saved one: every saved tensor, bit for bit.
    from safetensors import safe_open

    with safe_open(good_weights, framework="pt") as f:
        saved = {k: f.get_tensor(k) for k in f.keys()}
    state = model.state_dict()
    assert set(saved) <= set(state) and saved
    assert all(torch.equal(state[k], v) for k, v in saved.items())


@pytest.mark.parametrize("case,message", [
    ("huge", "head_channels is 20000, outside"),
    ("nan", "NaN or infinite"),
    ("randn", "non-finite output"),
    ("rand", "moves mid-grey"),
    ("shape", "the config needs"),
    ("unknown", "is not a 'mqnet' setting"),
])
def test_bad_weights_are_refused_before_use(tmp_path, good_weights, case, message):
    from livehdr.models.weights import load_model

    g = torch.Generator().manual_seed(1)
    floats = lambda f: (lambda k, v: f(v) if v.is_floating_point() else v)  # noqa: E731
    path = tmp_path / f"{case}.safetensors"
    if case == "huge":  # once: 7.3 GB allocated over 29 s before anything failed
        _variant(good_weights, path, change_config=lambda c: dict(c, head_channels=20000, width=2))
    elif case == "nan":
        _variant(good_weights, path, lambda k, v: v.clone().fill_(float("nan")) if k == "head.0.weight" else v)
    elif case == "randn":
        _variant(good_weights, path, floats(lambda v: torch.randn(v.shape, generator=g)))
    elif case == "rand":
        _variant(good_weights, path, floats(lambda v: torch.rand(v.shape, generator=g)))
    elif case == "shape":
        _variant(good_weights, path, lambda k, v: v[:1] if k == "head.0.weight" else v)
    else:
        _variant(good_weights, path, change_config=lambda c: dict(c, depth=3))
    with pytest.raises(UserError, match=message):
        load_model(str(path))


def test_a_config_without_declared_bounds_still_has_a_parameter_budget():
    from livehdr.models.weights import check_tensors

    huge = {"w": torch.empty((10**5, 10**3), device="meta")}
    with pytest.raises(UserError, match="M values"):
        check_tensors("x.safetensors", "any", huge, {})


# 12 --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(1, 1), (1, 7), (5, 1)])
def test_images_of_any_size_convert(tmp_path, capsys, size):
    Image.new("RGB", size, (255, 255, 255)).save(tmp_path / "tiny.png")
    code, err = _cli(["--input", tmp_path / "tiny.png", "--output", tmp_path / "tiny.exr", "--model", "naive"],
                     capsys)
    assert code == 0, err
    px = read_exr(str(tmp_path / "tiny.exr"))
    assert px.shape == (size[1], size[0], 3)
    np.testing.assert_allclose(px, 203.0, atol=0.05)  # white = paper white


# 13 --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag,value", [("--peak", "0"), ("--paper-white", "nan"), ("--peak", "-5"),
                                        ("--max-frames", "x"), ("--mode", "hdr")])
def test_bad_numbers_give_one_line_not_the_usage_block(capsys, flag, value):
    with pytest.raises(SystemExit) as e:
        cli.main(["--input", "demo", flag, value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("livehdr: error: ") and err.endswith("(see --help)\n"), err


# 14 --------------------------------------------------------------------------------------------------------
def test_progress_in_a_log_is_a_plain_line_every_few_seconds():
    now = [0.0]
    stream = io.StringIO()  # not a terminal
    progress = cli.progress_for("out.mkv", stream)
    progress.clock = lambda: now[0]
    progress.started, progress.next_at = 0.0, 5.0
    for frame in range(1, 301):
        now[0] = frame * 0.1  # 10 fps
        progress(frame, 300)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 6  # at 5, 10, ... 30 s
    assert lines[0] == "livehdr: out.mkv: 50/300 frames, 10.00 fps, ETA 25 s"
    assert lines[-1].startswith("livehdr: out.mkv: 300/300 frames")


# 15 --------------------------------------------------------------------------------------------------------
def test_no_nvenc_note_without_an_nvidia_gpu(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(hdr10, "cuda_device_present", lambda: False)
    w = hdr10.HDR10Writer(str(tmp_path / "o.mkv"), 64, 48, ReferenceLevels(), fps=10, preset="ultrafast")
    w.abort()
    assert w.encoder_name == "libx265"
    assert "NVENC" not in caplog.text and "nvenc" not in caplog.text


# 18 --------------------------------------------------------------------------------------------------------
def test_no_stale_cll_in_the_encoder_settings_and_the_video_is_the_default_track(tmp_path):
    w = _writer(tmp_path / "o.mkv")
    _frames(w)
    w.finish()
    data = (tmp_path / "o.mkv").read_bytes()
    assert b"cll=" not in data and b"max-cll" not in data  # x265's settings SEI carried the placeholder
    with av.open(str(tmp_path / "o.mkv")) as c:
        assert c.streams.video[0].disposition & av.stream.Disposition.default


def _decoded_max_nits(path):
    """Independent of the writer: the brightest decoded luma code of any frame, as grey light (PQ)."""
    from livehdr.color.transfer import eotf_ST2084

    top = 0
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            y = f.to_ndarray(format="yuv420p10le")[: f.height]  # luma rows first
            top = max(top, int(y.max()))
    return float(eotf_ST2084((top - 64) / 876))


def test_maxcll_is_true_of_the_decoded_stream_when_the_encoder_overshoots(tmp_path):
    # A sun clamped at the peak (1000 cd/m2) with a sharp edge: x265 rings past it (1510 cd/m2 in the demo).
    h, w = 96, 128
    yy, xx = np.mgrid[:h, :w]
    rng = np.random.default_rng(0)
    writer = hdr10.HDR10Writer(str(tmp_path / "sun.mkv"), w, h, ReferenceLevels(), fps=30, preset="fast",
                               encoder="libx265")
    for t in range(4):
        rel = 0.3 + rng.random((h, w, 3), dtype=np.float32) * 0.2
        rel[(yy - 40) ** 2 + (xx - 50 - 2 * t) ** 2 < 20 ** 2] = [20.0, 18.0, 10.0]
        rel[yy > 70] = [0.05, 0.2, 1.0]
        writer.write(rel.astype(np.float32), t / 30)
    summary = writer.finish()
    decoded = _decoded_max_nits(tmp_path / "sun.mkv")
    assert decoded > 1005  # the overshoot is real: a MaxCLL of 1000 would be false
    assert decoded - 0.5 <= summary["max_cll"] <= decoded + 1
    info = read_video(tmp_path / "sun.mkv")
    from _media import content_light_level

    assert content_light_level(info["side_data"])[0] == summary["max_cll"]
