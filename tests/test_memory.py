"""The allocator fix (livehdr/base/memory.py): freed heap memory stays in the process, so a repeated
large-tensor workload stops faulting fresh pages in every time. Each run is a child process, because the
setting lasts for the life of a process."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from livehdr.base import memory

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A 1x24x540x960 float tensor is 50 MB: above the 32 MiB up to which glibc's default mmap threshold adapts
# by itself, as a 1080p MQNet activation (16 x 1088 x 1920 floats: 134 MB) is.
# It runs on the main thread and on a worker thread (the pipeline's operator thread): a thread's own malloc
# arena used to mmap such blocks whatever the threshold.
WORKLOAD = """
import json, sys, threading
from livehdr.base import memory
applied = memory.keep_freed_memory()
import torch
torch.set_num_threads(1)
x = torch.rand(1, 24, 540, 960)
conv = torch.nn.Conv2d(24, 24, 1)
result = {"applied": applied}

def work(key):
    faults = []
    with torch.inference_mode():
        for _ in range(6):  # the heap grows to its working set over the first few rounds (seen: up to 5)
            conv(x) * 2 + 1
        for _ in range(7):
            before = memory.minor_faults()
            y = conv(x) * 2 + 1
            del y
            faults.append(memory.minor_faults() - before)
    result[key] = sorted(faults)[3]  # the median: the heap may still grow once, on any one iteration

work("main")
worker = threading.Thread(target=work, args=("thread",))
worker.start()
worker.join()
print(json.dumps(result))
"""


def run_workload(defaults: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop(memory.OFF_SWITCH, None)
    if defaults:
        env[memory.OFF_SWITCH] = "1"
    proc = subprocess.run([sys.executable, "-c", WORKLOAD], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="minor-fault counts and mallopt are glibc/Linux")
def test_keeping_freed_memory_stops_the_page_faults():
    after = run_workload(defaults=False)
    if after["applied"] == "unsupported":
        pytest.skip("not glibc")
    before = run_workload(defaults=True)
    assert before["applied"] == "defaults" and after["applied"] in ("threshold", "no-mmap")
    # glibc's defaults: the 33 MB outputs are mmapped and unmapped again, thousands of faults each time
    for where in ("main", "thread"):
        assert before[where] > 1000, where
        assert after[where] <= 0.01 * before[where], where


def test_is_a_no_op_without_glibc(monkeypatch):
    monkeypatch.setattr(memory, "_applied", None)
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    monkeypatch.delenv(memory.OFF_SWITCH, raising=False)
    assert memory.keep_freed_memory() == "unsupported"
    assert memory.keep_freed_memory() == "unsupported"  # once per process, the same answer


def test_off_switch_keeps_the_defaults(monkeypatch):
    monkeypatch.setattr(memory, "_applied", None)
    monkeypatch.setenv(memory.OFF_SWITCH, "1")
    calls = []
    monkeypatch.setattr(memory, "_glibc", lambda: calls.append(1))
    assert memory.keep_freed_memory() == "defaults" and calls == []


def test_refused_threshold_falls_back_to_no_mmap(monkeypatch):
    class OldGlibc:  # caps M_MMAP_THRESHOLD at 32 MiB: larger values are refused (mallopt returns 0)
        def __init__(self):
            self.set = {}

        def mallopt(self, param, value):
            if param == memory.M_MMAP_THRESHOLD and value > 32 << 20:
                return 0
            self.set[param] = value
            return 1

    libc = OldGlibc()
    monkeypatch.setattr(memory, "_applied", None)
    monkeypatch.setattr(memory, "_glibc", lambda: libc)
    monkeypatch.delenv(memory.OFF_SWITCH, raising=False)
    assert memory.keep_freed_memory() == "no-mmap"
    assert libc.set == {memory.M_TRIM_THRESHOLD: memory.KEEP_UP_TO, memory.M_ARENA_MAX: 1, memory.M_MMAP_MAX: 0}


def test_entry_points_apply_it_at_start_up():
    """The CLI, the bench, training and evaluation each call it first thing in main()."""
    import ast

    for rel in ("livehdr/cli.py", "livehdr/bench.py", "livehdr/train/__main__.py", "livehdr/evaluate.py"):
        tree = ast.parse(open(os.path.join(REPO, rel), encoding="utf-8").read())
        main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
        first = main.body[0]
        assert isinstance(first, ast.Expr) and isinstance(first.value, ast.Call), rel
        assert getattr(first.value.func, "id", None) == "keep_freed_memory", rel
