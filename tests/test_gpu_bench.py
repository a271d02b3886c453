"""The CPU-side pieces of ``bench --gpu`` (pipeline/gpu_bench.py): they time the product's own frame path, so
on CI they run it on torch's CPU backend at a tiny size; the report's plumbing is checked on made-up data."""
import os

import pytest

from _media import make_clip
from livehdr.color import ReferenceLevels
from livehdr.operators import OperatorConfig, create_operator
from livehdr.pipeline import gpu_bench


@pytest.mark.parametrize("model", ["naive", "clut", "mqnet"])
def test_frame_path_is_timed_through_the_product_stage(model):
    op = create_operator(model, OperatorConfig(device="cpu", precision="fp32"))
    row = gpu_bench.frame_path_ms(op, 96, 64, kind="torch-cpu", repeats=2)
    # pointwise operators (the curves; clut once its per-frame table is composed) go through the table
    kind = "DeviceTableFrame" if getattr(op, "pointwise", False) else "DeviceFrame"
    assert row["ms"] > 0 and row["size"] == "96x64" and row["frame"] == kind
    assert model != "naive" or kind == "DeviceTableFrame"
    assert row["max_cll"] > 150  # the clipped band was expanded and measured


@pytest.mark.parametrize("model", ["naive", "clut"])
def test_table_is_built_and_applied(model):
    op = create_operator(model, OperatorConfig(device="cpu"))
    if not getattr(op, "pointwise", False):
        pytest.skip(f"{model} has no composed table in this tree")
    row = gpu_bench.table_ms(op, 96, 64, kind="torch-cpu", repeats=2)
    assert row["built_ms"] > 0 and row["applied_ms"] > 0
    assert row["total_ms"] == pytest.approx(row["built_ms"] + row["applied_ms"], abs=2e-3)


def test_window_copy_is_timed():
    row = gpu_bench.window_copy_ms(96, 64, kind="torch-cpu", repeats=2)
    assert row["ms"] >= 0 and row["bytes"] == 12 * 96 * 64 and row["size"] == "96x64"


def test_conversion_reports_fps_and_its_bound(tmp_path):
    clip = make_clip(tmp_path / "in.mkv", width=128, height=96, frames=6, rate=10)
    op = create_operator("naive", OperatorConfig(levels=ReferenceLevels(), device="cpu"))
    row = gpu_bench.conversion_fps(op, str(clip), str(tmp_path / "o.mkv"), encoder="libx265")
    assert row["frames"] == 6 and row["fps"] > 0 and row["encoder"] == "libx265" and row["decoder"] == "CPU"
    assert row["bound"] in row["stage_ms"] and row["stage_ms"][row["bound"]] == max(row["stage_ms"].values())


def test_presented_line_and_goals():
    line = ("livehdr: presented 120 frames in 2.0 s (59.8 fps), capture->present latency median 19.4 ms\n")
    assert gpu_bench.parse_presented(line) == (59.8, 19.4)
    assert gpu_bench.parse_presented("livehdr: error: no EGL") == (None, None)
    report = {"mqnet_model": {"sizes": {"1920x1080": {"model_eager_ms": 3.0, "model_graph_ms": 1.5},
                                        "3840x2160": {"model_eager_ms": 9.0, "model_graph_ms": None}}},
              "clut_table_4k": {"total_ms": 0.7}, "frame_path_4k": {"error": "out of memory"},
              "conversion_4k": {"fps": 75.0}, "startup": {"cold_s": 4.0, "warm_s": 2.5},
              "passthrough_4k_egl": {"fps": 60.0, "latency_ms": 21.0}}
    goals = gpu_bench.goal_table(gpu_bench.figures_of(report))
    assert set(goals) == set(gpu_bench.GOALS)
    assert goals["mqnet_fp16_1080p_ms"] == {"value": 1.5, "goal": 2.0, "kind": "max", "met": True}
    assert goals["mqnet_fp16_4k_ms"]["value"] == 9.0 and goals["mqnet_fp16_4k_ms"]["met"] is False
    assert goals["frame_path_4k_clut_ms"]["value"] is None and goals["frame_path_4k_clut_ms"]["met"] is None
    assert goals["conversion_4k_fps"]["met"] is True and goals["startup_warm_s"]["met"] is False
    assert goals["passthrough_4k_egl_latency_ms"]["goal"] == 21.67 and goals["passthrough_4k_egl_latency_ms"]["met"]


@pytest.mark.slow  # the cold run compiles every numba kernel (about 25 s on 2 cores)
def test_start_up_runs_cold_then_warm(tmp_path):
    clip = make_clip(tmp_path / "in.mkv", width=64, height=48, frames=2, rate=10)
    argv = ["-i", str(clip), "-o", str(tmp_path / "one.mkv"), "--max-frames", "1", "--overwrite", "--preset",
            "ultrafast", "--model", "naive", "--encoder", "libx265", "--hwaccel", "none"]
    row = gpu_bench.startup_s(argv, str(tmp_path / "cache"))
    assert row["cold_s"] > row["warm_s"] > 0
    assert os.listdir(tmp_path / "cache")  # the cold run compiled into the fresh cache the warm run reads
    with pytest.raises(RuntimeError, match="error"):
        gpu_bench.timed_cli(["-i", str(tmp_path / "missing.mkv"), "-o", str(tmp_path / "x.mkv")])
