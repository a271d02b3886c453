"""Issue #22, the second hardening round: each test here failed before its fix."""
from __future__ import annotations

import dataclasses
import io
import os
import subprocess

import numpy as np
import pytest

from _batch_media import make_library
from livehdr import __version__, cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["--model", "naive", "--preset", "ultrafast", "--encoder", "libx265", "--hwaccel", "none"]


def _images(root, n):
    """A library of ``n`` images only (make_library adds a broken video and a text file)."""
    src = make_library(root, videos=0, images=n)
    (src / "sub" / "broken.mp4").unlink()
    (src / "notes.txt").unlink()
    return src


def _run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


# 1 ---------------------------------------------------------------------------------------------------------
def test_overwrite_on_a_folder_redoes_finished_files(tmp_path, capsys):
    src = _images(tmp_path / "in", 3)
    out = tmp_path / "out"
    code, err = _run(capsys, "-i", src, "-o", out, *FAST)
    assert code == 0 and "3 converted (3 frames), 0 already done" in err, err
    first = {p: os.stat(out / p).st_mtime_ns for p in ("img0.exr", "img2.exr", "sub/deeper/img1.exr")}
    code, err = _run(capsys, "-i", src, "-o", out, *FAST, "--overwrite")
    assert code == 0 and "3 converted (3 frames), 0 already done" in err, err
    assert all(os.stat(out / p).st_mtime_ns != t for p, t in first.items())
    code, err = _run(capsys, "-i", src, "-o", out, *FAST)  # and without it a re-run is still a no-op
    assert code == 0 and "0 converted (0 frames), 3 already done" in err, err


# 2 ---------------------------------------------------------------------------------------------------------
def test_run_sh_keeps_the_users_working_directory(tmp_path):
    from PIL import Image

    Image.new("RGB", (32, 24), (120, 60, 200)).save(tmp_path / "photo.png")
    r = subprocess.run(["bash", os.path.join(REPO, "scripts", "run.sh"), "--input", "photo.png", "--output",
                        "photo.exr", "--model", "naive"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "photo.exr").stat().st_size > 0


# 3 ---------------------------------------------------------------------------------------------------------
def _plain(times_and_frames, total=300):
    now = [0.0]
    stream = io.StringIO()
    progress = cli.PlainProgress("out.mkv", stream, every_s=5.0, clock=lambda: now[0])
    for t, frames in times_and_frames:
        now[0] = t
        progress(frames, total)
    return stream.getvalue().splitlines()


def test_no_eta_before_the_rate_is_known():
    # 11 s of model loading, then 10 fps: the first line must not claim 0.09 fps and 55 min.
    lines = _plain([(11.0, 1), (11.1, 2), (16.1, 52)])
    assert lines[0] == "livehdr: out.mkv: 1/300 frames"
    assert lines[1] == "livehdr: out.mkv: 52/300 frames, 10.00 fps, ETA 25 s"  # measured from the first frame


def test_no_rate_from_a_single_instant():
    lines = _plain([(5.0, 1), (10.0, 2)])  # two frames 5 s apart: fewer than MIN_FRAMES after the first
    assert lines == ["livehdr: out.mkv: 1/300 frames", "livehdr: out.mkv: 2/300 frames"]


# 4 ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra,kind,expected", [
    (["--stats"], "image", "livehdr: note: --stats does not apply to stills"),
    (["--hwaccel", "cuda"], "image", "livehdr: note: --hwaccel does not apply to images"),
    (["--capture-fps", "30"], "image", "livehdr: note: --capture-fps does not apply to files"),
    (["--stats"], "folder", "livehdr: note: --stats does not apply to folders"),
])
def test_options_that_do_not_apply_say_so_in_one_line(tmp_path, capsys, extra, kind, expected):
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (32, 24), (10, 200, 90)).save(folder / "a.png")
    src, out = (folder / "a.png", tmp_path / "a.exr") if kind == "image" else (folder, tmp_path / "out")
    args = ["-i", src, "-o", out, "--model", "naive", *extra]
    if "--hwaccel" not in extra:
        args += ["--hwaccel", "none"] if kind == "folder" else []
    code, err = _run(capsys, *args)
    assert code == 0, err
    notes = [ln for ln in err.splitlines() if ln.startswith("livehdr: note: ")]
    assert len(notes) == 1 and notes[0].startswith(expected), err


def test_options_that_apply_give_no_note(tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (32, 24), (10, 200, 90)).save(tmp_path / "a.png")
    code, err = _run(capsys, "-i", tmp_path / "a.png", "-o", tmp_path / "a.exr", "--model", "naive")
    assert code == 0 and "note" not in err, err


# 5 ---------------------------------------------------------------------------------------------------------
def test_folder_progress_in_a_log_is_plain_lines(tmp_path, capsys, monkeypatch):
    src = _images(tmp_path / "in", 2)
    monkeypatch.setattr(cli.PlainProgress, "__init__", _every_call(cli.PlainProgress.__init__))
    code, err = _run(capsys, "-i", src, "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if ln.startswith("livehdr: converting: ")]
    assert lines and lines[-1] == "livehdr: converting: 2/2 frames, 2/2 files", err
    assert "\r" not in err


def _every_call(init):
    def patched(self, name, stream, every_s=5.0, clock=None):
        init(self, name, stream, every_s=0.0)
    return patched


# 8 ---------------------------------------------------------------------------------------------------------
def test_version_has_one_source_and_a_flag(capsys):
    import tomllib

    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "livehdr.__version__"}
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"livehdr {__version__}\n"


def test_batch_digest_follows_the_content_not_the_version(monkeypatch):
    import livehdr
    from livehdr.batch import runner
    from livehdr.color.levels import ReferenceLevels
    from livehdr.operators import OperatorConfig
    from livehdr.pipeline import ConversionSettings

    config = OperatorConfig(levels=ReferenceLevels())
    settings = runner.BatchSettings(input="in", output="out", model="naive", operator_config=config,
                                    conversion=ConversionSettings(output="x.mkv", levels=config.levels))
    base = runner.digests(settings, "abc")
    monkeypatch.setattr(livehdr, "__version__", "9.9.9")
    assert runner.digests(settings, "abc") == base  # a new release alone redoes nothing
    assert runner.digests(settings, "abd") != base  # other weights do
    # Every OperatorConfig field counts, including ones added later (asdict, not a hand-made list) ...
    for field in dataclasses.fields(OperatorConfig):
        if field.name in ("weights", "levels"):
            continue
        value = {"input_gamma": "2.4", "saturation": 1.5, "device": "cuda", "precision": "fp16",
                 "params": (("a", 1.0),), "source_curve": "hable"}[field.name]
        changed = dataclasses.replace(settings, operator_config=dataclasses.replace(config, **{field.name: value}))
        assert runner.digests(changed, "abc")["image"] != base["image"], field.name
    # ... but the weights' path does not: the hash stands for it.
    moved = dataclasses.replace(settings, operator_config=dataclasses.replace(config, weights="/elsewhere.st"))
    assert runner.digests(moved, "abc") == base


# 6 ---------------------------------------------------------------------------------------------------------
def test_one_flock_output_lock_for_every_output(tmp_path):
    import importlib.util

    from livehdr.base.files import OutputLock
    from livehdr.batch.runner import output_lock

    assert importlib.util.find_spec("livehdr.batch.locks") is None  # the second lock class is gone
    assert type(output_lock(str(tmp_path), "a.exr")) is OutputLock
    # A lock file a killed holder left (the old pid file, or an empty one) is no claim: flock decides.
    (tmp_path / ".x.mkv.lock").write_text("999999\n")
    a, b = OutputLock.beside(str(tmp_path / "x.mkv")), OutputLock.beside(str(tmp_path / "x.mkv"))
    assert a.try_acquire() and not b.try_acquire()  # even within one process
    a.release()
    assert not (tmp_path / ".x.mkv.lock").exists()  # removed on release, while still held
    assert b.try_acquire()
    b.release()


def test_a_waiter_never_holds_a_removed_lock_file(tmp_path):
    """The pid lock's takeover let two runs both hold it; with remove-on-release a waiter that locked the
    unlinked file must retry on the new one, so at most one holder exists at any time."""
    import threading

    from livehdr.base.files import OutputLock

    path = str(tmp_path / "o.mkv")
    holders, overlaps = [0], [0]
    guard = threading.Lock()

    def worker():
        for _ in range(200):
            lock = OutputLock.beside(path)
            if lock.try_acquire():
                with guard:
                    holders[0] += 1
                    overlaps[0] = max(overlaps[0], holders[0])
                with guard:
                    holders[0] -= 1
                lock.release()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps[0] == 1


# 7 ---------------------------------------------------------------------------------------------------------
def test_the_join_uses_the_single_pass_remux(tmp_path):
    """A segmented job's join once had its own remux: backwards Opus timestamps failed the whole file and its
    video was not the default track. Now both go through io/remux.py."""
    import av

    from _damage import clip_with_opus
    from livehdr.batch.join import join_segments
    from livehdr.color.levels import ReferenceLevels
    from livehdr.io import hdr10
    import numpy as np

    clip_with_opus(tmp_path / "in.mkv")
    segment = tmp_path / "seg.mkv"
    w = hdr10.HDR10Writer(str(segment), 64, 48, ReferenceLevels(), fps=10, preset="ultrafast", encoder="libx265")
    for i in range(20):
        w.write(np.full((48, 64, 3), 0.5, np.float32), i / 10)
    w.finish()
    frames = join_segments([str(segment)], str(tmp_path / "out.mkv"), str(tmp_path / "in.mkv"), 203, 203)
    assert frames == 20
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert c.streams.video[0].disposition & av.stream.Disposition.default
        assert [s.codec_context.name for s in c.streams.audio] == ["opus"]
        assert sum(1 for p in c.demux(video=0) if p.size) == 20
    assert sorted(os.listdir(tmp_path)) == ["in.mkv", "out.mkv", "seg.mkv"]


# 11 --------------------------------------------------------------------------------------------------------
def test_the_windows_session_latency_median_is_bounded_in_memory():
    import statistics

    import numpy as np

    from livehdr.base.median import StreamingMedian
    from livehdr.window import app

    m = StreamingMedian()
    values = np.random.default_rng(0).lognormal(3.0, 0.5, 200_001)  # ms, one long session
    size = len(m.bins)
    for v in values:
        m.append(float(v))
    assert len(m.bins) == size and m.count == len(values)  # memory does not grow with the frames
    exact = statistics.median(values)
    assert abs(m.median() - exact) / exact < 0.003  # within half a 0.5 % bin
    assert StreamingMedian().median() is None
    # The window keeps the session's latencies in one of these, not in a list that grows per frame.
    source = open(app.__file__).read()
    assert "self.all_latencies = StreamingMedian()" in source and "all_latencies: list" not in source


# 14 --------------------------------------------------------------------------------------------------------
def test_one_forward_and_head_maps_for_both_int8_networks():
    from livehdr.engine.quantize import CalibratedAtLoadInt8
    from livehdr.models.mqnet_int8 import Int8Network, MQNetInt8

    for cls in (CalibratedAtLoadInt8, MQNetInt8):
        assert issubclass(cls, Int8Network)
        assert "forward" not in vars(cls)  # the shared one, not a copy
    assert "head_maps" not in vars(CalibratedAtLoadInt8)


# 9 ---------------------------------------------------------------------------------------------------------
def test_dead_code_is_gone():
    from livehdr.io import inputs, stills
    from livehdr.models import mqnet

    assert not hasattr(stills, "convert_folder") and not hasattr(stills, "StillsReport")
    assert not hasattr(mqnet, "padded_size") and not hasattr(inputs, "is_screen_spec")


def test_curve_param_reaches_the_curve_and_is_checked_against_its_range(tmp_path, capsys):
    from PIL import Image

    from livehdr.io.imagefiles import read_exr

    Image.new("RGB", (32, 24), (128, 128, 128)).save(tmp_path / "grey.png")  # mid grey: white goes to the peak
    base = ["-i", tmp_path / "grey.png", "--model", "bt2446a"]
    assert _run(capsys, *base, "-o", tmp_path / "a.exr")[0] == 0
    assert _run(capsys, *base, "-o", tmp_path / "b.exr", "--curve-param", "sdr_white=200")[0] == 0
    a, b = read_exr(str(tmp_path / "a.exr")), read_exr(str(tmp_path / "b.exr"))
    assert not np.allclose(a, b)  # the parameter changed the expansion
    code, err = _run(capsys, *base, "-o", tmp_path / "c.exr", "--curve-param", "sdr_white=1000")
    assert code == 2 and err == "livehdr: error: bt2446a sdr_white=1000 is outside 48..400\n"
    code, err = _run(capsys, *base, "-o", tmp_path / "c.exr", "--curve-param", "knee=2")
    assert code == 2 and err == "livehdr: error: bt2446a has no parameter 'knee'; it takes: sdr_white\n"
    code, err = _run(capsys, "-i", tmp_path / "grey.png", "-o", tmp_path / "c.exr", "--curve-param", "x=1")
    assert code == 2 and err.startswith("livehdr: error: --curve-param is for the classical curves"), err
    with pytest.raises(SystemExit):
        cli.main(["-i", "demo", "--curve-param", "sdr_white"])
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "c.exr").exists()


# 13 --------------------------------------------------------------------------------------------------------
def test_scenes_are_split_by_job_and_the_old_import_paths_work():
    from livehdr import scenes
    from livehdr.scenes import demo, kernels, procedural, render, sampler, types

    for name in scenes.__all__:  # the package's names, and the old module's, are the new modules' objects
        assert getattr(procedural, name) is getattr(scenes, name)
    assert scenes.render_scene is render.render_scene and scenes.random_scene_params is sampler.random_scene_params
    assert scenes.demo_frame_sdr is demo.demo_frame_sdr and scenes.SceneParams is types.SceneParams
    for module in (types, kernels, render, sampler, demo):
        assert len(open(module.__file__).read().splitlines()) < 400, module.__name__
    # every numba kernel lives in kernels.py, and nothing else does there
    assert all(hasattr(getattr(kernels, n), "py_func") for n in ("_outdoor_kernel", "_room_kernel", "_face_kernel",
                                                                  "_sphere_kernel"))
    assert not any(hasattr(v, "py_func") for m in (types, render, sampler, demo) for v in vars(m).values()
                   if getattr(v, "__module__", None) == m.__name__)


# 8 (the rest) ---------------------------------------------------------------------------------------------
def test_each_list_of_choices_is_typed_once():
    import ast

    from livehdr.color.transfer import INPUT_GAMMAS
    from livehdr.engine.device import PRECISIONS
    from livehdr.window import renderer

    parser = cli.build_parser()
    choices = {a.dest: tuple(a.choices) for a in parser._actions if a.choices}
    assert choices["input_gamma"] is INPUT_GAMMAS and choices["precision"] is PRECISIONS
    assert choices["view"] is renderer.VIEWS and choices["mode"] is renderer.MODES
    assert renderer.INPUT_GAMMAS is INPUT_GAMMAS
    # No other module spells the gamma tuple out.
    spelled = []
    for folder, _, names in os.walk(os.path.join(REPO, "livehdr")):
        for n in names:
            if n.endswith(".py"):
                tree = ast.parse(open(os.path.join(folder, n)).read())
                spelled += [n for node in ast.walk(tree) if isinstance(node, ast.Tuple)
                            and [getattr(e, "value", None) for e in node.elts] == ["srgb", "2.2", "2.4"]]
    assert spelled == ["transfer.py"]


def test_one_size_parser_and_evaluate_takes_the_reference_levels():
    import argparse

    from livehdr import evaluate
    from livehdr.argtypes import parse_size
    from livehdr.base.errors import UserError

    assert parse_size("320x240") == (320, 240)
    with pytest.raises(argparse.ArgumentTypeError, match="each side must be even and 64 or more"):
        parse_size("65x64", minimum=64, even=True)
    with pytest.raises(UserError, match=r"--size '8x8': each side must be 16\.\.4096"):
        evaluate._parse_size("8x8")
    source = open(evaluate.__file__).read()
    assert "203" not in source and "1000" not in source
    import pathlib

    import livehdr

    package = pathlib.Path(livehdr.__file__).parent
    defined = [p.name for p in package.rglob("*.py") if "def parse_size(" in p.read_text()]
    assert defined == ["argtypes.py"]  # bench, evaluate and the scripts all take this one


def test_the_output_levels_are_computed_in_one_place():
    from livehdr.color.levels import ReferenceLevels
    from livehdr.operators import OperatorConfig, create_operator

    op = create_operator("bt2446a", OperatorConfig(levels=ReferenceLevels(203.0, 600.0)))
    assert op.output_levels == ReferenceLevels(203.0, 600.0, op.content_peak)
    for module in ("cli.py", "batch/work.py"):  # the stills paths take it from the operator
        assert "for_content(" not in open(os.path.join(REPO, "livehdr", module)).read(), module


def test_a_helper_only_tests_used_lives_in_tests():
    from livehdr.io import hevc_sei

    assert not hasattr(hevc_sei, "read_content_light_level")  # now tests/_media.py
