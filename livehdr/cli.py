"""Command line: arguments -> frozen settings -> the right job (stills, file conversion, live window).

The only module that reads argparse, prints summaries and decides exit codes: every failure the user can
fix becomes one line on stderr and exit code 2; Ctrl-C exits with 130. Lower layers raise or return.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

from livehdr import __version__
from livehdr.argtypes import name_value, positive_float, positive_int
from livehdr.base.errors import Stopped, UserError
from livehdr.base.memory import keep_freed_memory
from livehdr.color.levels import PAPER_WHITE_BT2408, PEAK_DEFAULT, ReferenceLevels


KEYS_HELP = """\
window keys:
  space        pause / resume            <- / ->   seek 5 s (files)
  + / -        peak nits up / down       [ / ]     paper white down / up
  m            cycle the model           c         cycle the view (hdr, sdr, split, heatmap, diff)
  v            output mode pq <-> sdr    l         layout wipe <-> side-by-side (compare)
  x            swap sides (compare)      a         A/B toggle (compare)
  f            fullscreen                s         screenshot (EXR of the HDR frame + 16-bit PNG)
  h            hide / show the HUD       mouse     drag the split divider
  e            SDR preview exposure 0, -1, -2, -3 stops (both sides: the highlight detail an expansion adds)
  t            cycle the source curve (auto, then each --source-curve; the HUD names it)
  q / Esc      quit
"""

EXAMPLES = """\
examples:
  run_live.py --input demo --output demo_hdr.mkv        built-in game-like clip -> HDR10 HEVC file
  run_live.py --input photo.jpg --output photo.exr      one photo -> linear EXR in absolute cd/m2
  run_live.py --input photos/ --output hdr/ --format png    a folder -> 16-bit PQ PNGs (cICP tagged)
  run_live.py --input library/ --output hdr/ --jobs 4   every image and video under library/, 4 at once
                                                        (Ray); a re-run converts only what is new
  run_live.py --input video.mp4 --output out.mkv --model bt2446a --crf 16
  run_live.py --input video.mp4 --compare               live window, SDR | HDR split view, with sound
  run_live.py --input video.mp4 --player mpv            HDR through mpv: signalled on Windows, macOS and
                                                        Wayland (--mpv-args=--vo=gpu-next), tone-mapped on X11
  run_live.py --input screen --compare                  screen capture passthrough for games
  run_live.py --input 'window:My Game' --model naive    one window, followed as it moves
  run_live.py --input screen --output game.mkv          record the screen to HDR10 (capture-clock timing)
  run_live.py --list-models
"""


class OneLineParser(argparse.ArgumentParser):
    """argparse prints a 14-line usage block before a bad value; every livehdr error is one line."""

    def error(self, message: str):
        self.exit(2, f"livehdr: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from livehdr.color.tonecurves import SOURCE_CURVE_CHOICES, SOURCE_CURVES
    from livehdr.color.transfer import INPUT_GAMMAS
    from livehdr.engine.device import PRECISIONS
    from livehdr.window.renderer import LAYOUTS, MODES, VIEWS  # numpy and colour only: no GL at import

    p = OneLineParser(
        prog="run_live.py",
        description="livehdr: expand SDR video, game frames and photos into real HDR with a learned "
        "inverse tone mapper (or a classical curve), and show or save the result.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXAMPLES + "\n" + KEYS_HELP,
    )
    io = p.add_argument_group("input and output")
    io.add_argument("--input", "-i", default=None,
                    help="image file, image folder, video file, 'demo' (built-in clip), 'screen', "
                    "'screen:N' (monitor N), 'screen:x,y,w,h' (region) or 'window:TITLE' (one window, "
                    "followed when it moves)")
    io.add_argument("--output", "-o", default=None,
                    help="output file: .exr/.png for stills, .mkv/.mp4 for HDR10 video; a folder for a "
                    "folder of images. Without it a window opens (when a display exists)")
    io.add_argument("--format", choices=("exr", "png"), default="exr",
                    help="still format when --output is a folder (default: exr)")
    io.add_argument("--overwrite", action="store_true", help="replace existing outputs (video, stills; a folder "
                    "conversion otherwise skips images whose output exists)")
    io.add_argument("--capture-fps", type=positive_float, default=None, metavar="FPS",
                    help="screen / window capture: grabs per second (default: 60, the usual display rate); "
                    "fewer leave more CPU to the rest on small machines")
    io.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                    help="stop after N frames (video, demo, screen)")

    model = p.add_argument_group("expansion")
    model.add_argument("--model", "-m", default=None,
                       help="operator name (default: the shipped learned model when it is installed, "
                       "else 'naive'); see --list-models")
    model.add_argument("--list-models", action="store_true", help="list the operators and exit")
    p.add_argument("--version", action="version", version=f"livehdr {__version__}")
    model.add_argument("--weights", default=None, metavar="FILE.safetensors",
                       help="weights for a learned model, instead of the shipped file")
    model.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                       help="where learned models run (default: cuda when available)")
    model.add_argument("--precision", choices=PRECISIONS, default="auto",
                       help="learned models: auto = fp16 on CUDA; on the CPU the model's shipped int8 twin "
                       "(e.g. mqnet-int8) when its card meets the quality goals, else fp32; int8 = that twin, "
                       "or the model quantized at load (default: auto)")
    model.add_argument("--input-gamma", choices=INPUT_GAMMAS, default=None,
                       help="the SDR input's display EOTF: piecewise sRGB, gamma 2.2 (many games/PCs) or "
                       "2.4 (BT.1886 video) (default: srgb; a known --source-curve brings its own)")
    model.add_argument("--source-curve", choices=SOURCE_CURVE_CHOICES, default="auto", metavar="NAME",
                       help="the tone curve that made the SDR, when you know it: auto (default: the learned "
                       "model works it out, blind) or one of " + ", ".join(SOURCE_CURVES) + " (docs/SOURCE_CURVES.md). "
                       "A known curve is inverted exactly below its clip, decoded with its own display EOTF, and "
                       "stands in for the learned model's curve (learned models only); the window's t key cycles it")
    model.add_argument("--paper-white", type=positive_float, default=PAPER_WHITE_BT2408, metavar="NITS",
                       help=f"cd/m2 for SDR reference white (default: {PAPER_WHITE_BT2408:g}, ITU-R BT.2408)")
    model.add_argument("--peak", type=positive_float, default=PEAK_DEFAULT, metavar="NITS",
                       help=f"display / mastering peak in cd/m2 (default: {PEAK_DEFAULT:g})")
    model.add_argument("--curve-param", type=name_value, action="append", default=[], metavar="NAME=VALUE",
                       help="a classical curve's parameter, within its range (e.g. bt2446a sdr_white=120, "
                       "48..400 cd/m2); repeat for several; --list-models shows each curve's")
    model.add_argument("--saturation", type=float, default=1.0,
                       help="chroma scale after expansion, 1.0 = unchanged (default: 1.0)")

    video = p.add_argument_group("video encoding (HDR10 HEVC)")
    video.add_argument("--crf", type=float, default=18.0, help="x265 constant rate factor (default: 18)")
    video.add_argument("--preset", default=None,
                       help="x265 preset, ultrafast..placebo (default: fast; ultrafast when recording a screen "
                       "or window, so the encoder keeps up with the capture)")
    video.add_argument("--hlg", action="store_true", help="write HLG (ARIB STD-B67) instead of PQ")
    video.add_argument("--encoder", choices=("auto", "libx265", "hevc_nvenc"), default="auto",
                       help="auto uses NVENC when the GPU has an encoder, else libx265")
    video.add_argument("--hwaccel", choices=("auto", "none", "cuda"), default="auto",
                       help="hardware decode (NVDEC) when available (default: auto)")
    video.add_argument("--stats", action="store_true",
                       help="print the median time per stage at the end")

    batch = p.add_argument_group("folders and parallel conversion (docs/CLUSTER.md)")
    batch.add_argument("--jobs", "-j", type=positive_int, default=1, metavar="N",
                       help="convert up to N files (or video segments) at once on a local Ray instance "
                       "(needs: pip install livehdr[ray]); 1 = in this process (default: 1)")
    batch.add_argument("--ray-address", default=None, metavar="ADDR",
                       help="run on an existing Ray cluster (e.g. HEAD_IP:6379; default: $RAY_ADDRESS when "
                       "--jobs > 1)")
    batch.add_argument("--segment-seconds", type=positive_float, default=None, metavar="S",
                       help="cut videos longer than about 1.5*S seconds at keyframes into segments of about S "
                       "seconds, convert them in parallel and join them losslessly")

    win = p.add_argument_group("window")
    win.add_argument("--window", action="store_true",
                     help="open the live window (the default when no --output is given; writing a file "
                     "while showing it is not supported yet)")
    win.add_argument("--compare", action="store_true", help="split view: SDR input beside the HDR result")
    win.add_argument("--layout", choices=LAYOUTS, default="wipe",
                     help="comparison layout (default: wipe)")
    win.add_argument("--view", choices=VIEWS, default=None,
                     help="initial view (default: split with --compare, else hdr)")
    win.add_argument("--mode", choices=MODES, default=None,
                     help="window output: pq for an HDR10 display, sdr for a tone-mapped preview "
                     "(default: pq on a 10-bit HDR screen, else sdr)")
    win.add_argument("--fullscreen", action="store_true", help="start fullscreen")
    win.add_argument("--screenshot", default=None, metavar="PATH.png",
                     help="save a 16-bit PNG of the presented frame at the end")
    win.add_argument("--offscreen", action="store_true",
                     help="render into an EGL offscreen surface instead of a window (automation)")
    win.add_argument("--no-audio", action="store_true",
                     help="do not play the file's sound (default: played in sync on the default device)")
    win.add_argument("--player", choices=("window", "mpv"), default="window",
                     help="window: livehdr's own window (HDR only on a display already in PQ mode; the SDR "
                     "preview elsewhere); mpv: stream the HDR10 result with its sound and subtitles into "
                     "mpv, which signals HDR on Windows, macOS and Wayland (color-management-v1) and "
                     "tone-maps on SDR desktops and X11. See docs/WINDOW.md")
    win.add_argument("--mpv-ipc", default=None, metavar="SOCKET",
                     help="--player mpv: put mpv's JSON IPC socket here (for scripts; default: a private one)")
    win.add_argument("--mpv-args", default="", metavar="'ARGS'",
                     help="--player mpv: extra mpv options, e.g. '--vo=gpu-next --fs'")
    return p


# --------------------------------------------------------------------------------------------------------
# Arguments -> settings
# --------------------------------------------------------------------------------------------------------
def reference_levels(args) -> ReferenceLevels:
    try:
        return ReferenceLevels(paper_white=args.paper_white, peak=args.peak)
    except ValueError as e:
        raise UserError(str(e)) from None


def input_gamma(args) -> str:
    """The input's display EOTF: a known --source-curve's own encoding, else --input-gamma (default srgb)."""
    from livehdr.color.tonecurves import input_encoding

    return input_encoding(args.source_curve, args.input_gamma)


def input_gamma_note(args) -> str | None:
    """The note when --input-gamma and a known --source-curve disagree (the curve's encoding wins)."""
    if args.input_gamma is None or args.source_curve == "auto" or args.input_gamma == input_gamma(args):
        return None
    return (f"--source-curve {args.source_curve} is decoded with its own display EOTF ({input_gamma(args)}); "
            f"--input-gamma {args.input_gamma} is not used")


def operator_config(args, levels: ReferenceLevels):
    from livehdr.operators import OperatorConfig

    if not (0.0 <= args.saturation <= 4.0):
        raise UserError(f"--saturation {args.saturation:g} is outside 0..4")
    return OperatorConfig(levels=levels, input_gamma=input_gamma(args), saturation=args.saturation,
                          device=args.device, weights=args.weights, precision=args.precision,
                          params=tuple(args.curve_param), source_curve=args.source_curve)


def build_operator(args, levels: ReferenceLevels):
    from livehdr.operators import create_operator, default_operator_name

    return create_operator(args.model or default_operator_name(), operator_config(args, levels))


def conversion_settings(args, levels: ReferenceLevels):
    from livehdr.pipeline import ConversionSettings

    from livehdr.io.capture import is_capture_spec

    preset = args.preset or ("ultrafast" if is_capture_spec(args.input) else "fast")
    return ConversionSettings(output=args.output, levels=levels, hlg=args.hlg, crf=args.crf, preset=preset,
                              encoder=args.encoder, overwrite=args.overwrite, max_frames=args.max_frames)


def window_settings(args, levels: ReferenceLevels):
    from livehdr.window.app import WindowSettings

    return WindowSettings(levels=levels, input_gamma=input_gamma(args), compare=args.compare, layout=args.layout,
                          view=args.view, mode=args.mode, fullscreen=args.fullscreen, screenshot=args.screenshot,
                          offscreen=args.offscreen, max_frames=args.max_frames, title=f"livehdr - {args.input}",
                          sound=not args.no_audio)


def classify_input(spec: str) -> str:
    """'demo', 'screen', 'image', 'folder' or 'video'."""
    from livehdr.io.capture import is_capture_spec

    if spec == "demo":
        return "demo"
    if is_capture_spec(spec):
        return "screen"
    if os.path.isdir(spec):
        return "folder"
    from livehdr.base.files import check_regular_file
    from livehdr.io.stills import INPUT_EXTENSIONS

    check_regular_file(spec)  # a FIFO would block the reader forever; a device is never a picture

    if spec.lower().endswith(INPUT_EXTENSIONS):
        return "image"
    return "video"


# --------------------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------------------
def print_models() -> int:
    from livehdr.operators import list_operators
    from livehdr.operators.registry import default_operator_choice

    default, why = default_operator_choice()
    for entry in list_operators():
        mark = "*" if entry.name == default else " "
        kind = "learned" if entry.learned else "classical"
        print(f"{mark} {entry.name:<12} {kind:<9}  {entry.description}")
    print(f"(* = default: {default}: {why})")
    return 0


def run_stills(args, levels: ReferenceLevels) -> int:
    from livehdr.io import stills

    if args.output is None:
        raise UserError("stills need --output (a .exr or .png file, or a folder for a folder input)")
    operator = build_operator(args, levels)
    stills.convert(args.input, args.output, operator, operator.output_levels, folder_format=args.format,
                   overwrite=args.overwrite)
    return 0


def batch_settings(args, levels: ReferenceLevels):
    from livehdr.batch import BatchSettings
    from livehdr.operators import default_operator_name

    address = args.ray_address or (os.environ.get("RAY_ADDRESS") if args.jobs > 1 else None)
    return BatchSettings(input=args.input, output=args.output, model=args.model or default_operator_name(),
                         operator_config=operator_config(args, levels),
                         conversion=conversion_settings(args, levels), still_format=args.format, jobs=args.jobs,
                         ray_address=address, segment_seconds=args.segment_seconds, hwaccel=args.hwaccel,
                         overwrite=args.overwrite)


def run_folder(args, levels: ReferenceLevels) -> int:
    """A folder tree (or one video in segments): everything converted, resumable; one summary at the end."""
    from livehdr.batch import run_batch
    from livehdr.batch.runner import ray_missing

    if args.output is None:
        raise UserError("a folder input needs --output (a folder)")
    settings = batch_settings(args, levels)
    if settings.uses_ray and ray_missing():
        raise UserError("--jobs > 1, --ray-address and $RAY_ADDRESS need Ray: pip install livehdr[ray] "
                        "(or run with --jobs 1)")
    if os.path.isfile(args.input):
        from livehdr.io.hdr10 import check_output

        check_output(args.output, args.overwrite)  # before any slow work
    shown = None  # the same progress as a single file: a bar on a terminal, plain lines in a log

    def progress(p) -> None:
        nonlocal shown
        if shown is None:
            if p.files_done >= p.files_total:
                return  # nothing to convert: no progress at all
            shown = progress_for("converting")
        shown.detail = f"{p.files_done}/{p.files_total} files"
        shown(p.frames_done, p.frames_total)

    try:
        report = run_batch(settings, progress)
    finally:
        if shown is not None:
            shown.close()
    return print_batch_report(report)


def print_batch_report(report) -> int:
    counts = {s: len(report.having(s)) for s in ("converted", "unchanged", "skipped", "failed")}
    frames = sum(o.frames for o in report.having("converted"))
    print(f"livehdr: {counts['converted']} converted ({frames} frames), {counts['unchanged']} already done, "
          f"{counts['skipped']} skipped, {counts['failed']} failed in {report.seconds:.1f} s ({report.workers})",
          file=sys.stderr)
    if report.retries:
        print(f"livehdr: {report.retries} {'retry' if report.retries == 1 else 'retries'} after a lost Ray worker "
              "or node", file=sys.stderr)
    for o in report.having("skipped"):
        print(f"livehdr: skipped {o.source}: {o.reason}", file=sys.stderr)
    for o in report.having("failed"):
        print(f"livehdr: failed {o.source}: {o.reason}", file=sys.stderr)
    return 2 if counts["failed"] else 0


def run_window(args, levels: ReferenceLevels) -> int:
    from livehdr.io.inputs import open_source
    from livehdr.window import app

    if args.output is not None:
        raise UserError("--window with --output (showing and recording at once) is not supported yet: record "
                        "with --output alone, or watch with the window alone")
    if args.player == "mpv":
        return run_player_mpv(args, levels)
    settings = window_settings(args, levels)
    app.check_window_settings(settings)
    operator = build_operator(args, levels)
    models = model_switcher(operator)
    source = open_source(args.input, hwaccel=args.hwaccel, capture_fps=args.capture_fps)
    report = app.run_window(settings, source, operator, models)
    fps = report.presented / report.seconds if report.seconds > 0 else 0.0
    dropped = ("" if report.dropped_share is None else
               f", {100 * report.dropped_share:.0f} % of {report.produced} grabbed frames dropped")
    print(f"livehdr: presented {report.presented} frames in {report.seconds:.1f} s ({fps:.1f} fps), "
          f"capture->present latency median {app.fmt_ms(report.latency_ms)} ms{dropped}", file=sys.stderr)
    if args.stats:
        print("livehdr: median ms per stage: " + ", ".join(f"{k} {app.fmt_ms(v)}" for k, v in report.stage_ms.items()),
              file=sys.stderr)
    return 0


def model_switcher(operator):
    """The window's and the player's model and curve keys: every operator, built with this one's settings at new
    levels; a name 'clut/hable' is a learned model with a source curve (the classical curves take none)."""
    from livehdr.color.tonecurves import SOURCE_CURVE_CHOICES
    from livehdr.operators import create_operator, list_operators
    from livehdr.operators.source_curve import split_name
    from livehdr.window import app

    base_config = operator.config
    learned = {e.name: e.learned for e in list_operators()}

    def create(name, new_levels):
        model, curve = split_name(name)
        if not learned.get(model, True):
            curve = "auto"  # a classical curve is its own inverse of the source: the window keeps the choice
        return create_operator(model, dataclasses.replace(base_config, levels=new_levels, source_curve=curve))

    return app.ModelSwitcher(names=tuple(learned), create=create, curves=SOURCE_CURVE_CHOICES)


def run_player_mpv(args, levels: ReferenceLevels) -> int:
    """--player mpv: the HDR10 stream (or SDR | HDR side by side with --compare) into mpv."""
    import shlex

    from livehdr.io.inputs import open_source
    from livehdr.window import mpv_player

    reason = mpv_player.mpv_missing()
    if reason:
        raise UserError(reason)
    kind = classify_input(args.input)
    if kind not in ("video", "demo"):
        raise UserError(f"--player mpv plays video files (and demo), not {kind} input; screen capture stays in "
                        "livehdr's window")
    try:
        extra = tuple(shlex.split(args.mpv_args))
    except ValueError as e:
        raise UserError(f"--mpv-args: {e}") from None
    view = "split" if (args.compare or args.view == "split") else "hdr"
    settings = mpv_player.MpvSettings(levels=levels, view=view, input_gamma=input_gamma(args), ipc_path=args.mpv_ipc,
                                      mpv_args=extra, title=f"livehdr - {args.input}", fullscreen=args.fullscreen)
    operator = build_operator(args, levels)
    models = model_switcher(operator)
    source = open_source(args.input, hwaccel=args.hwaccel, capture_fps=args.capture_fps)
    path = args.input if kind == "video" else None
    report = mpv_player.run_mpv(settings, source, operator, models, path)
    first = "-" if report.first_picture_s is None else f"{report.first_picture_s:.2f} s"
    print(f"livehdr: streamed {report.written} frames into mpv in {report.seconds:.1f} s ({report.runs} run(s)); "
          f"first picture after {first}", file=sys.stderr)
    return 0


def format_stats(medians: dict[str, float]) -> str:
    from livehdr.pipeline import STAGES

    parts = [f"{stage} {medians[stage]:.1f}" for stage in STAGES if stage in medians]
    return "livehdr: median ms per frame: " + ", ".join(parts)


class PlainProgress:
    """Progress for a log file or pipe (stderr not a terminal): one plain line every ``every_s`` seconds with
    frames, fps and the time left, instead of tqdm's carriage returns (or nothing at all).

    The rate is measured from the first frame, not from the start (model loading and encoder start-up are
    not speed), and neither it nor an ETA is printed until ``MIN_FRAMES`` frames over ``MIN_SECONDS``."""

    MIN_FRAMES, MIN_SECONDS = 3, 2.0

    def __init__(self, name: str, stream, every_s: float = 5.0, clock=time.monotonic):
        self.name, self.stream, self.every_s, self.clock = name, stream, every_s, clock
        self.started = clock()
        self.next_at = self.started + every_s
        self.first: tuple[float, int] | None = None  # (time, frames) when frames first appeared
        self.detail = ""  # e.g. "3/8 files", appended to the line

    def rate(self, now: float, done: int) -> float | None:
        if self.first is None:
            return None
        t0, d0 = self.first
        if done - d0 < self.MIN_FRAMES or now - t0 < self.MIN_SECONDS:
            return None
        return (done - d0) / (now - t0)

    def __call__(self, done: int, total: int | None) -> None:
        now = self.clock()
        if self.first is None and done > 0:
            self.first = (now, done)
        if now < self.next_at:
            return
        self.next_at = now + self.every_s
        count = f"{done}/{total}" if total else f"{done}"
        detail = f", {self.detail}" if self.detail else ""
        fps = self.rate(now, done)
        if fps is None:
            print(f"livehdr: {self.name}: {count} frames{detail}", file=self.stream, flush=True)
            return
        eta = f", ETA {format_seconds((total - done) / fps)}" if total and fps > 0 and total >= done else ""
        print(f"livehdr: {self.name}: {count} frames, {fps:.2f} fps{eta}{detail}", file=self.stream, flush=True)

    def close(self) -> None:
        pass


class BarProgress:
    """tqdm's bar on a terminal."""

    def __init__(self, name: str, stream):
        self.name, self.stream, self.bar = name, stream, None
        self.detail = ""

    def __call__(self, done: int, total: int | None) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, unit="frame", file=self.stream, dynamic_ncols=True, desc=self.name)
        if total is not None and total != self.bar.total:
            self.bar.total = total
        if self.detail:
            self.bar.set_postfix_str(self.detail, refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def progress_for(name: str, stream=None):
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return BarProgress(name, stream) if isatty is not None and isatty() else PlainProgress(name, stream)


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def run_conversion(args, levels: ReferenceLevels) -> int:
    from livehdr.io.hdr10 import check_output
    from livehdr.io.inputs import open_source
    from livehdr.pipeline import run_conversion as convert

    check_output(args.output, args.overwrite)  # before any slow work
    source = open_source(args.input, hwaccel=args.hwaccel, capture_fps=args.capture_fps)
    progress = progress_for(os.path.basename(args.output))
    try:
        operator = build_operator(args, levels)
        result = convert(conversion_settings(args, levels), source, operator, progress)
    finally:
        progress.close()
        source.close()
    s = result.summary
    print(f"livehdr: wrote {args.output}: {s['frames']} frames, {s['encoder']}, "
          f"{'HLG' if args.hlg else 'PQ'}, MaxCLL {s['max_cll']} cd/m2, MaxFALL {s['max_fall']} cd/m2"
          + (" (interrupted)" if result.interrupted else ""), file=sys.stderr)
    if args.stats:
        print(format_stats(result.stage_ms), file=sys.stderr)
    code = 128 + (result.stopped_by or 2) if result.interrupted else 0
    if s.get("encoder_stuck"):
        # The file is complete and in place; a stuck encoder thread would hang the interpreter's exit.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def options_not_applying(args, kind: str) -> list[str]:
    """One line per option given that this kind of input ignores (said, not silently dropped)."""
    unused = []
    if args.stats and kind in ("image", "folder"):
        unused.append(f"--stats does not apply to {'stills' if kind == 'image' else 'folders'} "
                      "(only to one video, demo or screen conversion)")
    if args.hwaccel != "auto" and kind == "image":
        unused.append("--hwaccel does not apply to images (hardware decoding is for video)")
    if args.capture_fps is not None and kind in ("image", "folder", "video"):
        unused.append("--capture-fps does not apply to files (only to screen and window capture)")
    return unused


def run(args) -> int:
    if args.list_models:
        return print_models()
    if args.input is None:
        raise UserError("no --input given; try --input demo, a video, an image or a folder (see --help)")
    if args.curve_param:
        from livehdr.operators.classical import CURVES

        if (args.model or "") not in CURVES:
            raise UserError(f"--curve-param is for the classical curves ({', '.join(CURVES)}); give --model")
    kind = classify_input(args.input)
    levels = reference_levels(args)  # validate numbers before any work
    for option in options_not_applying(args, kind):
        print(f"livehdr: note: {option}", file=sys.stderr)
    gamma_note = input_gamma_note(args)
    if gamma_note:
        print(f"livehdr: note: {gamma_note}", file=sys.stderr)
    if kind == "image":
        return run_stills(args, levels)
    if kind == "folder":
        return run_folder(args, levels)
    if args.window or args.output is None:
        return run_window(args, levels)
    if kind == "video" and (args.jobs > 1 or args.segment_seconds or args.ray_address):
        return run_folder(args, levels)  # one video, split into segments and/or run on Ray
    return run_conversion(args, levels)


def main(argv=None) -> int:
    keep_freed_memory()  # before any tensor: glibc would return every large one to the kernel
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args) or 0
    except Stopped as e:  # not an error: the user asked; the message says what is on disk
        print(f"livehdr: {e}", file=sys.stderr)
        return e.exit_code
    except UserError as e:
        print(f"livehdr: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("livehdr: interrupted", file=sys.stderr)
        return 130
