"""Converting a whole library: a folder tree of images and videos, resumable, serially or on Ray.

Sits between ``cli`` and ``pipeline``: it may import pipeline, io, operators and below; nothing below
imports it. ``run_batch(settings, progress)`` returns a ``BatchReport``; it never prints.
"""
from livehdr.batch.runner import BatchReport, BatchSettings, FileOutcome, Progress, run_batch

__all__ = ["BatchReport", "BatchSettings", "FileOutcome", "Progress", "run_batch"]
