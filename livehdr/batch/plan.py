"""What a folder holds: images and videos to convert (with their output paths), and what is skipped.

The sub-folder layout is kept: ``in/a/b.jpg`` -> ``out/a/b.exr``, ``in/a/c.mp4`` -> ``out/a/c.mkv``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
import os

from livehdr.base.errors import UserError
from livehdr.io.stills import INPUT_EXTENSIONS as IMAGE_EXTENSIONS

# Containers FFmpeg reads that people keep videos in; anything else is listed as unsupported, not probed
# (probing every stray .txt or .pdf with FFmpeg would be slow and noisy).
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm", ".wmv", ".flv", ".mpg", ".mpeg", ".ts",
                    ".m2ts", ".mts", ".3gp", ".ogv", ".vob", ".y4m")
VIDEO_OUTPUT_EXT = ".mkv"
STATE_DIR = ".livehdr"  # manifest, locks and segment work files, hidden in the output folder


@dataclass(frozen=True)
class Job:
    kind: str  # 'image' or 'video'
    source: str  # absolute path
    rel_source: str  # relative to the input folder ('/' separated): the manifest's key for the source
    output: str  # absolute path
    rel_output: str  # relative to the output folder: the manifest's key


@dataclass(frozen=True)
class Plan:
    jobs: tuple[Job, ...]
    unsupported: tuple[str, ...]  # relative paths of files that are neither image nor video


def kind_of(path: str) -> str | None:
    lower = path.lower()
    if lower.endswith(IMAGE_EXTENSIONS):
        return "image"
    if lower.endswith(VIDEO_EXTENSIONS):
        return "video"
    return None


def _walk(root: str, skip: str | None):
    """Relative paths of every regular file under ``root``, sorted; hidden files and folders and ``skip``
    (an output folder inside the input) are left out."""
    found = []
    for folder, dirs, files in os.walk(root, onerror=None):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (skip is None or os.path.abspath(os.path.join(folder, d)) != skip))
        for name in files:
            if name.startswith("."):
                continue
            full = os.path.join(folder, name)
            if os.path.isfile(full):
                found.append(os.path.relpath(full, root).replace(os.sep, "/"))
    return sorted(found)


def plan_folder(src: str, dst: str, still_format: str) -> Plan:
    """Every image and video under ``src`` with its output under ``dst``. Two inputs that would give the
    same output name (a.jpg and a.png -> a.exr) both keep their extension in the name (a.jpg.exr)."""
    src, dst = os.path.abspath(src), os.path.abspath(dst)
    if src == dst:
        raise UserError("output folder is the input folder; choose another one")
    if os.path.exists(dst) and not os.path.isdir(dst):
        raise UserError(f"a folder input needs a folder output, but {dst} is a file")
    candidates, unsupported = [], []
    for rel in _walk(src, skip=dst):
        kind = kind_of(rel)
        if kind is None:
            unsupported.append(rel)
        else:
            candidates.append((kind, rel))
    ext = {"image": "." + still_format, "video": VIDEO_OUTPUT_EXT}
    plain = [os.path.splitext(rel)[0] + ext[kind] for kind, rel in candidates]
    clashes = {name for name, n in Counter(plain).items() if n > 1}
    jobs = []
    for (kind, rel), out in zip(candidates, plain):
        if out in clashes:
            out = rel + ext[kind]
        jobs.append(Job(kind, os.path.join(src, rel), rel, os.path.join(dst, out), out))
    return Plan(tuple(jobs), tuple(unsupported))


def plan_file(src: str, dst: str) -> Plan:
    """One video to one output file (segmented or on Ray): a plan of one job."""
    return Plan((Job("video", os.path.abspath(src), os.path.basename(src), os.path.abspath(dst),
                     os.path.basename(dst)),), ())
