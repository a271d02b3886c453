"""Threads and bounded queues between a source, an operator and the outputs, with per-stage timings:
``convert`` for files (every frame, in order), ``live`` for the window (newest frame wins)."""
from livehdr.pipeline.convert import ConversionResult, ConversionSettings, run_conversion
from livehdr.pipeline.live import LivePipeline, ProcessedFrame
from livehdr.pipeline.stages import STAGES, StageTimes, apply_operator

__all__ = ["ConversionResult", "ConversionSettings", "LivePipeline", "ProcessedFrame", "STAGES", "StageTimes",
           "apply_operator", "run_conversion"]
