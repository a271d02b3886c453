"""Folder conversion without Ray: layout, summary, manifest and re-runs, locks, segments joined exactly."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from _batch_media import decoded, make_gop_clip, make_library, max_pixel_difference
from _media import content_light_level, read_video
from livehdr import cli
from livehdr.batch.join import decode_times
from livehdr.base.files import remove_stale_temporaries
from livehdr.batch.manifest import Manifest
from livehdr.batch.plan import plan_folder
from livehdr.io.imagefiles import read_exr

FAST = ["--model", "naive", "--preset", "ultrafast", "--encoder", "libx265", "--hwaccel", "none"]


def _run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _outputs(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, dirs, files in os.walk(folder)
                  for f in files if ".livehdr" not in d)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return make_library(tmp_path_factory.mktemp("lib") / "in")


def test_folder_converts_images_and_videos_keeping_the_layout(library, tmp_path, capsys):
    out = tmp_path / "out"
    code, err = _run(capsys, "-i", library, "-o", out, *FAST)
    assert code == 2, err  # the broken video failed; everything else converted
    assert _outputs(out) == ["clip0.mkv", "img0.exr", "img2.exr", "sub/clip1.mkv", "sub/deeper/img1.exr"]
    lines = err.strip().splitlines()
    assert "livehdr: 5 converted (15 frames), 0 already done, 1 skipped, 1 failed" in err
    assert "livehdr: skipped notes.txt: not an image or video livehdr converts" in lines
    assert any(ln.startswith("livehdr: failed sub/broken.mp4: not a media file") for ln in lines)
    assert "Traceback" not in err
    for clip in ("clip0.mkv", "sub/clip1.mkv"):
        info = read_video(out / clip)
        assert (info["codec"], info["frames"], info["audio"]) == ("hevc", 6, ["aac"])
        assert np.allclose(np.diff(info["pts"]), 0.1, atol=1e-3)  # mkv may shift the origin (AAC priming)
    # A folder image is the same as the image converted on its own.
    assert cli.main(["-i", str(library / "sub/deeper/img1.png"), "-o", str(tmp_path / "one.exr"), *FAST]) == 0
    assert np.array_equal(read_exr(str(out / "sub/deeper/img1.exr")), read_exr(str(tmp_path / "one.exr")))


def test_rerun_skips_finished_files_and_redoes_only_what_changed(tmp_path, capsys, monkeypatch):
    from livehdr import operators

    src = make_library(tmp_path / "in")
    (src / "sub" / "broken.mp4").unlink()
    out = tmp_path / "out"
    assert _run(capsys, "-i", src, "-o", out, *FAST)[0] == 0
    stamps = {f: os.stat(out / f).st_mtime_ns for f in _outputs(out)}
    created = []
    real = operators.create_operator
    monkeypatch.setattr(operators, "create_operator", lambda *a, **k: created.append(a) or real(*a, **k))

    t0 = time.perf_counter()
    code, err = _run(capsys, "-i", src, "-o", out, *FAST)
    assert code == 0 and "0 converted (0 frames), 5 already done, 1 skipped, 0 failed" in err, err
    assert time.perf_counter() - t0 < 5 and created == []  # no model loaded, nothing re-encoded
    assert {f: os.stat(out / f).st_mtime_ns for f in _outputs(out)} == stamps

    # Touched but identical: the hash says unchanged. Changed content: redone.
    os.utime(src / "img0.png")
    (src / "sub" / "deeper" / "img1.png").write_bytes((src / "img2.png").read_bytes())
    code, err = _run(capsys, "-i", src, "-o", out, *FAST)
    assert "1 converted (1 frames), 4 already done" in err, err
    assert np.array_equal(read_exr(str(out / "sub/deeper/img1.exr")), read_exr(str(out / "img2.exr")))
    # A video setting changes the videos only; a deleted output is made again.
    (out / "img0.exr").unlink()
    code, err = _run(capsys, "-i", src, "-o", out, *FAST, "--crf", "22")
    assert "3 converted (13 frames), 2 already done" in err, err


def test_foreign_existing_output_needs_overwrite_and_damaged_manifest_is_harmless(tmp_path, capsys):
    src = make_library(tmp_path / "in", videos=0, images=2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "img0.exr").write_bytes(b"somebody else's file")
    code, err = _run(capsys, "-i", src, "-o", out, *FAST)
    assert "livehdr: skipped img0.png: img0.exr exists and no earlier run here made it (add --overwrite" in err
    assert (out / "img0.exr").read_bytes() == b"somebody else's file"
    code, err = _run(capsys, "-i", src, "-o", out, *FAST, "--overwrite")  # redoes every file (issue #22)
    assert code == 2 and "2 converted (2 frames), 0 already done" in err, err
    assert read_exr(str(out / "img0.exr")).shape == (24, 32, 3)
    (out / ".livehdr" / "manifest.json").write_text("{ not json")
    code, err = _run(capsys, "-i", src, "-o", out, *FAST)
    # The entries survive in the lock files, so nothing is converted again; broken.mp4 fails.
    assert code == 2 and "0 converted (0 frames), 2 already done" in err, err
    with open(out / ".livehdr" / "manifest.json") as f:
        assert sorted(json.load(f)["files"]) == ["img0.exr", "sub/deeper/img1.exr"]  # rebuilt whole


def test_busy_output_is_skipped_and_stale_temporaries_are_removed(tmp_path, capsys):
    src = make_library(tmp_path / "in", videos=0, images=2)
    out = tmp_path / "out"
    (out / "sub" / "deeper").mkdir(parents=True)
    stale = out / ".img0.ab12cd34.partial.exr"
    other = out / ".img0.x.ab12cd34.partial.exr"  # another output's temporary (img0.x.exr): kept
    stale.write_bytes(b"half")
    other.write_bytes(b"half")
    from livehdr.batch.runner import output_lock

    held = output_lock(str(out / ".livehdr"), "sub/deeper/img1.exr")
    assert held.try_acquire()  # as another run converting it would
    try:
        code, err = _run(capsys, "-i", src, "-o", out, *FAST)
    finally:
        held.release()
    assert "livehdr: skipped sub/deeper/img1.png: being converted by another run on this output folder" in err
    assert (out / "img0.exr").exists() and not (out / "sub/deeper/img1.exr").exists()
    assert not stale.exists() and other.exists()
    assert remove_stale_temporaries(str(out / "img0.x.exr")) == 1


def test_manifest_updates_from_two_runs_merge(tmp_path):
    a, b = Manifest(str(tmp_path)).load(), Manifest(str(tmp_path)).load()
    a.record("x.exr", {"size": 1})
    b.record("y.exr", {"size": 2})
    a.flush()
    b.flush()
    assert set(Manifest(str(tmp_path)).load().entries) == {"x.exr", "y.exr"}


def test_plan_names_clashing_outputs_and_skips_an_output_inside_the_input(tmp_path):
    (tmp_path / "hdr").mkdir()
    for name in ("a.jpg", "a.png", "b.mp4", ".hidden.png", "hdr/old.png"):
        (tmp_path / name).write_bytes(b"x")
    plan = plan_folder(str(tmp_path), str(tmp_path / "hdr"), "exr")
    assert [j.rel_output for j in plan.jobs] == ["a.jpg.exr", "a.png.exr", "b.mkv"]


def test_jobs_without_ray_is_one_line(tmp_path, capsys, monkeypatch):
    from livehdr.batch import runner

    monkeypatch.setattr(runner, "ray_missing", lambda: True)
    src = make_library(tmp_path / "in", videos=0, images=1)
    code, err = _run(capsys, "-i", src, "-o", tmp_path / "out", "--jobs", "2", *FAST)
    assert code == 2 and err.strip().splitlines() == [
        "livehdr: error: --jobs > 1, --ray-address and $RAY_ADDRESS need Ray: pip install livehdr[ray] "
        "(or run with --jobs 1)"]


@pytest.mark.parametrize("pts", [[0, 4, 2, 1, 3, 8, 6, 5, 7], [0, 1, 2, 3], [10, 13, 11, 12, 14, 17, 15, 16]])
def test_decode_times_are_increasing_and_never_after_presentation(pts):
    dts = decode_times(pts, 1)
    assert all(a < b for a, b in zip(dts, dts[1:]))
    assert all(d <= p for d, p in zip(dts, pts))


def test_segments_join_to_exactly_the_single_pass_frames(tmp_path, capsys, monkeypatch):
    """Lossless encoding isolates the split and the join: every decoded pixel must equal the single pass's
    (the dither follows the global frame index), with the same timestamps, audio and MaxCLL/MaxFALL."""
    from livehdr.io import hdr10

    real = hdr10.x265_params
    monkeypatch.setattr(hdr10, "x265_params", lambda *a: real(*a) + ":lossless=1")
    src = make_gop_clip(tmp_path / "in" / "long.mp4", frames=36, gop=10)
    code, err = _run(capsys, "-i", src, "-o", tmp_path / "whole.mkv", *FAST)
    assert code == 0, err
    code, err = _run(capsys, "-i", src, "-o", tmp_path / "split.mkv", *FAST, "--segment-seconds", "1")
    assert code == 0, err
    with av.open(str(tmp_path / "split.mkv")) as c:
        keys = [p.pts for p in c.demux(video=0) if p.size and p.is_keyframe]
    assert len(keys) >= 3  # three segments (0-10, 10-20, 20-36 frames), each starting with an IDR picture
    whole, split = decoded(tmp_path / "whole.mkv"), decoded(tmp_path / "split.mkv")
    assert len(split) == len(whole) == 36
    assert [t for t, _ in split] == [t for t, _ in whole]
    assert max_pixel_difference(whole, split) == 0
    a, b = read_video(tmp_path / "whole.mkv"), read_video(tmp_path / "split.mkv")
    assert b["audio"] == ["aac"]
    assert content_light_level(b["side_data"]) == content_light_level(a["side_data"])
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no work files left behind


def test_two_runs_at_once_on_one_output_folder_share_the_work(tmp_path):
    """Two processes on the same folder: every image converted exactly once between them, each output whole,
    and the manifest holding all of them (locks per output, merged manifest updates)."""
    src = make_library(tmp_path / "in", videos=0, images=16)
    (src / "sub" / "broken.mp4").unlink()
    out = tmp_path / "out"
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    argv = [sys.executable, "-m", "livehdr", "-i", str(src), "-o", str(out), *FAST]
    runs = [subprocess.Popen(argv, cwd=repo, env={**os.environ, "PYTHONPATH": repo}, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    errs = [r.communicate(timeout=600)[1] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], errs
    converted = []
    for err in errs:
        summary = next(ln for ln in err.splitlines() if " converted (" in ln)
        converted.append(int(summary.split("livehdr: ")[1].split(" converted")[0]))
        assert "exists and no earlier run" not in err and "Traceback" not in err
    assert sum(converted) == 16, errs
    assert len([f for f in _outputs(out) if f.endswith(".exr")]) == 16
    assert all(read_exr(str(out / f)).shape == (24, 32, 3) for f in _outputs(out))
    with open(out / ".livehdr" / "manifest.json") as f:
        assert len(json.load(f)["files"]) == 16
