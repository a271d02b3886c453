"""Fuzzing the command line with damaged inputs (fixed seed): never a traceback, never a hang, never a file
left behind. Every case runs ``cli.main`` in-process on a worker thread with its own time limit; the inputs
are tiny so the whole run takes seconds per few dozen cases."""
from __future__ import annotations

import contextlib
import io
import os
import random
import threading
import traceback
import warnings

import numpy as np
import pytest
from PIL import Image

from _damage import jpeg_header, png_header
from _media import make_clip
from livehdr import cli

SEED = 20261123
CASE_TIMEOUT_S = 60  # a hang, not a slow case: the slowest real case takes a few seconds
VIDEO = ["--model", "naive", "--max-frames", "3", "--preset", "ultrafast", "--encoder", "libx265",
         "--hwaccel", "none"]


def _seeds(folder):
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).save(folder / "seed.png")
    Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).save(folder / "seed.jpg", quality=90)
    Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).save(folder / "seed.tif")
    make_clip(folder / "seed.mkv", width=64, height=48, frames=4, rate=10)
    make_clip(folder / "seed.mp4", width=64, height=48, frames=4, rate=10)
    return {ext: (folder / f"seed{ext}").read_bytes() for ext in (".png", ".jpg", ".tif", ".mkv", ".mp4")}


def _mutations(rng: random.Random, data: bytes):
    """Name and mutated bytes: flipped bytes, truncation, a zeroed chunk, a duplicated chunk."""
    b = bytearray(data)
    kind = rng.choice(("flip", "truncate", "zero", "duplicate"))
    if kind == "flip":
        for _ in range(rng.randint(1, 12)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        b = b[:rng.randrange(1, len(b))]
    elif kind == "zero":
        at = rng.randrange(len(b))
        b[at:at + rng.randint(8, 2048)] = bytes(len(b[at:at + 2048]))[: rng.randint(8, 2048)]
    else:
        at = rng.randrange(len(b))
        b[at:at] = b[at:at + rng.randint(16, 512)]
    return kind, bytes(b)


def _cases(folder):
    """[(name, input path, output path)]; inputs are made here, each output in its own folder."""
    rng = random.Random(SEED)
    seeds = _seeds(folder / "seeds")
    cases = []

    def add(name, make, out_ext):
        path = folder / "in" / f"{len(cases):03d}-{name}"
        make(path)
        out = folder / "out" / f"{len(cases):03d}" / f"result{out_ext}"
        out.parent.mkdir(parents=True)
        cases.append((name, path, out))

    def write(data):
        return lambda p: p.write_bytes(data)

    (folder / "in").mkdir()
    for i in range(84):  # mutated seeds, mostly named for what they are
        ext = [".png", ".jpg", ".tif", ".mkv", ".mp4"][i % 5]
        kind, data = _mutations(rng, seeds[ext])
        add(f"{kind}{ext}", write(data), ".mkv" if ext in (".mkv", ".mp4") else ".exr")
    for src, ext in ((".png", ".mp4"), (".mkv", ".png"), (".jpg", ".mkv"), (".mp4", ".jpg"), (".tif", ".png"),
                     (".png", ".jpg"), (".mkv", ".mp4")):  # wrong extensions
        add(f"really{src}{ext}", write(seeds[src]), ".mkv" if ext in (".mkv", ".mp4") else ".exr")
    for ext in (".png", ".jpg", ".mkv", ".mp4", ".tif"):  # empty files
        add(f"empty{ext}", write(b""), ".mkv" if ext in (".mkv", ".mp4") else ".exr")
    for name, data in (("huge.png", png_header(60000, 60000)), ("huge16.png", png_header(30000, 30000, 16)),
                       ("huge.jpg", jpeg_header(65000, 65000)), ("long.png", png_header(2**31 - 1, 1)),
                       ("zero.png", png_header(0, 0))):
        add(name, write(data), ".exr")
    add("fifo.png", os.mkfifo, ".exr")
    add("fifo.mkv", os.mkfifo, ".mkv")

    def loop(p):
        os.symlink(p.name + ".other", p)
        os.symlink(p.name, str(p) + ".other")

    add("loop.png", loop, ".exr")
    add("loop.mkv", loop, ".mkv")
    add("dangling.png", lambda p: os.symlink("nowhere.png", p), ".exr")
    add("folder.mkv", lambda p: p.mkdir(), ".mkv")
    add("folder.png", lambda p: p.mkdir(), ".exr")
    add("text.mkv", write(b"hello, not a video\n" * 20), ".mkv")
    add("random.mp4", write(rng.randbytes(5000)), ".mkv")
    return cases


def _run_case(inp, out):
    """(exit code or None on a hang, stderr, the exception that escaped main or None)."""
    result = {}
    err = io.StringIO()

    def work():
        try:
            result["code"] = cli.main(["--input", str(inp), "--output", str(out), *VIDEO])
        except SystemExit as e:
            result["code"] = e.code
        except BaseException as e:  # a traceback the user would have seen
            result["escaped"] = e

    with contextlib.redirect_stderr(err), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = threading.Thread(target=work, daemon=True)
        t.start()
        t.join(CASE_TIMEOUT_S)
    if t.is_alive():
        if os.path.exists(inp) and not os.path.isfile(inp):  # a FIFO: give the stuck reader its EOF
            with contextlib.suppress(OSError), open(inp, "wb"):
                pass
        return None, err.getvalue(), None
    for w in caught:  # a warning the CLI would have printed on stderr
        err.write(f"Warning escaped: {w.category.__name__}: {w.message}\n")
    return result.get("code"), err.getvalue(), result.get("escaped")


@pytest.mark.slow  # ~20 s on an idle 2-core machine, 40-60 s on a busy one
def test_fuzzed_inputs_never_crash_hang_or_leave_files(tmp_path):
    cases = _cases(tmp_path)
    assert len(cases) >= 100
    tracebacks, hangs, leftovers, bad_exits = [], [], [], []
    outcomes = {0: 0, 2: 0}
    for name, inp, out in cases:
        code, err, escaped = _run_case(inp, out)
        if code is None and escaped is None:
            hangs.append(name)
            continue
        if escaped is not None or "Traceback" in err or "Warning escaped" in err:
            where = "".join(traceback.format_exception(escaped)[-3:]) if escaped is not None else ""
            tracebacks.append(f"{name}: {escaped!r} {where} {err[-300:]}")
            continue
        if code not in (0, 2):
            bad_exits.append(f"{name}: exit {code}: {err[-200:]}")
        elif code == 2 and not err.strip().splitlines()[-1].startswith("livehdr: error:"):
            bad_exits.append(f"{name}: exit 2 without an error line: {err[-200:]}")
        outcomes[code] = outcomes.get(code, 0) + 1
        left = sorted(os.listdir(out.parent))
        if left != ([out.name] if code == 0 else []):
            leftovers.append(f"{name} (exit {code}): {left}")
        if code == 0 and out.suffix == ".mkv":
            assert out.stat().st_size > 0
    print(f"fuzz: {len(cases)} cases, {outcomes.get(0, 0)} converted, {outcomes.get(2, 0)} refused; "
          f"{len(tracebacks)} tracebacks, {len(hangs)} hangs, {len(leftovers)} with files left behind")
    assert tracebacks == []
    assert hangs == []
    assert leftovers == []
    assert bad_exits == []
    assert outcomes[0] >= 10 and outcomes[2] >= 30  # both paths really ran
    # Nothing escaped into the input folders either (temporaries, locks).
    assert not [n for n in os.listdir(tmp_path / "in") if n.startswith(".")]
