"""The bench's model-only mode: repeated --model, start-up, page faults per frame, the allocator's before/after."""
from __future__ import annotations

import os

from livehdr import bench

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_inference_only_reports_faults_and_ratios():
    report, _ = bench.run(["--inference-only", "--model", "naive", "--model", "bt2446a", "--size", "64x48",
                           "--frames", "2", "--json"])
    assert [r["model"] for r in report["inference"]] == ["naive", "bt2446a"]  # --model repeats, in order
    for r in report["inference"]:
        assert r["median_ms"] > 0 and r["startup_to_first_frame_s"] >= 0
        assert r["minor_faults_per_frame"] >= 0 and len(r["minor_faults"]) == 2
    assert report["speed_vs_first"]["naive/cpu"] == 1.0 and report["speed_vs_first"]["bt2446a/cpu"] > 0
    assert report["malloc"] in ("threshold", "no-mmap", "unsupported", "defaults")


def test_allocator_compare_runs_the_before_in_a_child_with_glibc_defaults(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.chdir(REPO)
    report, _ = bench.run(["--inference-only", "--model", "naive", "--size", "64x48", "--frames", "2",
                           "--allocator-compare", "--json"])
    alloc = report["allocator"]
    assert alloc["before"] == "defaults" and alloc["after"] == report["malloc"]
    (pair,) = alloc["models"]
    assert pair["model"] == "naive" and pair["before_ms"] > 0 and pair["after_ms"] > 0
    assert pair["speedup"] == round(pair["before_ms"] / pair["after_ms"], 2)
