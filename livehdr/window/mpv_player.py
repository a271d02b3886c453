"""``--player mpv``: the HDR10 result streamed into mpv, which presents HDR where the desktop can show it
(Windows, macOS, Wayland with color-management-v1) and tone-maps where it cannot (X11, SDR screens).

livehdr starts mpv idle with an IPC socket and its own key bindings (an input.conf): mpv's keys pause and
quit; the seek keys and livehdr's peak / paper-white and source-curve (t) keys come back as
``script-message livehdr ...``. Each position is one run (pipeline.player_stream) into a fresh FIFO that mpv
loads: a seek, a new level or a new source curve starts a new run at mpv's ``time-pos`` (the source's own
time line: ``--rebase-start-time=no``).
The stream is raw 10-bit PQ Y'CbCr in NUT (io.hdr_stream); its colour signalling is given to mpv with the
``format`` video filter, so ``video-out-params`` read PQ / BT.2020 and mpv tone-maps from the right peak.
"""
from __future__ import annotations

from dataclasses import dataclass
import os
import shutil
import subprocess
import tempfile
import time

from livehdr.base.errors import UserError, one_line
from livehdr.base.log import note, warn
from livehdr.color import ReferenceLevels
from livehdr.color.tonecurves import input_encoding
from livehdr.io.hdr_stream import player_tags
from livehdr.operators.source_curve import qualified_name
from livehdr.pipeline.player_stream import StreamRun
from livehdr.window.controls import PAPER_WHITE_STEPS, PEAK_STEPS, SEEK_SECONDS, next_in_cycle, step_value

MPV_MISSING = ("--player mpv needs mpv: install it (Debian/Ubuntu: apt install mpv; Fedora: dnf install mpv; "
               "macOS: brew install mpv; Windows: https://mpv.io/installation/)")
MPV_REF_WHITE = 203.0  # cd/m2 that mpv's sig-peak is relative to (mpv >= 0.35; PQ untagged: 10000/203)

INPUT_CONF = f"""\
LEFT script-message livehdr seek -{SEEK_SECONDS:g}
RIGHT script-message livehdr seek {SEEK_SECONDS:g}
+ script-message livehdr peak_up
= script-message livehdr peak_up
- script-message livehdr peak_down
[ script-message livehdr paper_white_down
] script-message livehdr paper_white_up
t script-message livehdr curve
"""


@dataclass(frozen=True)
class MpvSettings:
    levels: ReferenceLevels
    view: str = "hdr"  # hdr, or split: SDR | HDR side by side
    input_gamma: str = "srgb"  # the start-up decoding (cli.input_gamma): what operators without a known curve use
    ipc_path: str | None = None  # where mpv's JSON IPC socket goes (default: a private temporary folder)
    mpv_args: tuple[str, ...] = ()  # extra mpv options
    title: str = "livehdr"
    fullscreen: bool = False


@dataclass(frozen=True)
class MpvReport:
    runs: int  # streams started (1 + seeks + level changes)
    written: int  # frames written into the pipe
    first_picture_s: float | None  # from start to mpv's first picture on screen
    dropped: int | None  # frames mpv dropped (vo + decoder)
    seconds: float


def mpv_missing() -> str | None:
    return None if shutil.which("mpv") else MPV_MISSING


def format_filter(levels: ReferenceLevels) -> str:
    t = player_tags(levels)
    return (f"format=colormatrix={t['matrix']}:colorlevels={t['range']}:primaries={t['primaries']}:"
            f"gamma={t['transfer']}:sig-peak={t['peak'] / MPV_REF_WHITE:.4f}")


def mpv_command(settings: MpvSettings, ipc: str, input_conf: str) -> list[str]:
    return ["mpv", "--idle=yes", "--force-window=yes", "--keep-open=yes", f"--input-ipc-server={ipc}",
            f"--input-conf={input_conf}", "--rebase-start-time=no", "--demuxer=lavf", "--demuxer-lavf-format=nut",
            f"--vf={format_filter(settings.levels)}", "--target-colorspace-hint=yes",
            "--msg-level=all=warn", f"--title={settings.title}", *(["--fullscreen"] if settings.fullscreen else []),
            *settings.mpv_args]


class MpvPlayer:
    """The mpv process, its IPC, and the runs that feed it."""

    def __init__(self, settings: MpvSettings, source, operator, models, input_path: str):
        reason = mpv_missing()
        if reason:
            raise UserError(reason)
        from livehdr.window.mpv_ipc import MpvIpc

        self.settings, self.source, self.operator, self.models = settings, source, operator, models
        self.input_path = input_path
        self.levels = settings.levels
        self.source_curve = getattr(operator, "source_curve", "auto")  # the user's choice ('t' key)
        self.dir = tempfile.mkdtemp(prefix="livehdr-mpv-")
        self.ipc_path = settings.ipc_path or os.path.join(self.dir, "ipc")
        conf = os.path.join(self.dir, "input.conf")
        with open(conf, "w") as f:
            f.write(INPUT_CONF)
        self.started = time.perf_counter()
        try:
            self.proc = subprocess.Popen(mpv_command(settings, self.ipc_path, conf), stdin=subprocess.DEVNULL)
        except OSError as e:
            raise UserError(f"cannot start mpv: {one_line(e)}") from None
        self.ipc = MpvIpc(self.ipc_path, alive=lambda: self.proc.poll() is None)
        self.run: StreamRun | None = None
        self.runs = 0
        self.written = 0
        self.first_picture: float | None = None

    def start_run(self, at: float) -> None:
        """A new stream from ``at`` seconds: mpv loads a fresh FIFO, the old run ends (its reader closed)."""
        old = self.run
        if old is not None:
            old.stop_event.set()
        fifo = os.path.join(self.dir, f"run{self.runs}.nut")
        os.mkfifo(fifo)
        self.ipc.command("loadfile", fifo, "replace")
        if old is not None:
            self._unblock(old)
            old.stop()
            self.written += old.written
        self.run = StreamRun(self.source, self.operator, self.levels, fifo, start=at, view=self.settings.view,
                             input_gamma=self.input_gamma(), copy_from=self.input_path).start()
        self.runs += 1
        for done in range(self.runs - 2):  # FIFOs of finished runs
            path = os.path.join(self.dir, f"run{done}.nut")
            if os.path.exists(path):
                os.unlink(path)

    def input_gamma(self) -> str:
        """The SDR side's decoding: the operator's source curve's own encoding ('t' to gamma2.2 decodes the SDR
        side with 2.2, as the curve's inverse does), else the start-up one (color.tonecurves.input_encoding, the
        rule cli.input_gamma applies at start-up)."""
        return input_encoding(getattr(self.operator, "source_curve", "auto"), self.settings.input_gamma)

    @staticmethod
    def _unblock(run: StreamRun) -> None:
        """A run whose writer still waits in open() for a reader (mpv moved on first): open and close the
        read end, so its open returns and its first write fails (the run ends)."""
        if run.first_written is None and isinstance(run.target, str) and os.path.exists(run.target):
            try:
                os.close(os.open(run.target, os.O_RDONLY | os.O_NONBLOCK))
            except OSError:
                pass

    def written_total(self) -> int:
        return self.written + (self.run.written if self.run is not None else 0)

    def position(self) -> float:
        pos = self.ipc.get("time-pos")
        return float(pos) if isinstance(pos, (int, float)) else (self.run.start_at if self.run else 0.0)

    def handle(self, args: list[str]) -> None:
        """``script-message livehdr ACTION [VALUE]`` from mpv's key bindings."""
        action = args[0] if args else ""
        if action == "seek":
            target = max(0.0, self.position() + float(args[1]))
            if self.source.duration:
                target = min(target, max(0.0, self.source.duration - 0.5))
            self.start_run(target)
            return
        if action == "curve":
            self.next_curve()
            return
        peak, pw = self.levels.peak, self.levels.paper_white
        if action in ("peak_up", "peak_down"):
            peak = step_value(peak, PEAK_STEPS, 1 if action == "peak_up" else -1)
        elif action in ("paper_white_up", "paper_white_down"):
            pw = step_value(pw, PAPER_WHITE_STEPS, 1 if action == "paper_white_up" else -1)
        else:
            return
        if (peak, pw) == (self.levels.peak, self.levels.paper_white) or pw > peak:
            return
        levels = ReferenceLevels(pw, peak)
        try:
            operator = self.models.create(self.operator.name, levels)
        except (UserError, ValueError) as e:
            self.ipc.command("show-text", f"livehdr: {one_line(e)}")
            return
        self.levels, self.operator = levels, operator
        self.ipc.command("set_property", "vf", format_filter(levels))
        self.start_run(self.position())
        self.ipc.command("show-text", f"livehdr: peak {peak:g}, paper white {pw:g} cd/m2", 3000)

    def next_curve(self) -> None:
        """'t': the next source curve in the window's cycle (``models.curves``), streamed from the current
        position by a new run; mpv's OSD names it as the window's HUD does (CURVE name)."""
        curves = list(self.models.curves)
        if not curves:
            self.ipc.command("show-text", "livehdr: no source curves to cycle", 3000)
            return
        curve = next_in_cycle(curves, self.source_curve)
        model = getattr(self.operator, "model_name", self.operator.name)
        try:
            operator = self.models.create(qualified_name(model, curve), self.levels)
        except (UserError, ValueError) as e:
            self.ipc.command("show-text", f"livehdr: {one_line(e)}", 3000)
            return
        self.operator, self.source_curve = operator, curve
        self.start_run(self.position())
        in_use = getattr(operator, "source_curve", "auto") == curve
        self.ipc.command("show-text", f"livehdr: CURVE {curve}" + ("" if in_use else
                                                                   f" (N/A: {operator.name} is a classical curve)"),
                         3000)

    def loop(self, max_seconds: float | None = None) -> None:
        self.start_run(0.0)
        while self.proc.poll() is None:
            if max_seconds is not None and time.perf_counter() - self.started > max_seconds:
                break
            try:
                ev = self.ipc.events.get(timeout=0.1)
            except Exception:  # queue.Empty
                ev = None
            if self.run is not None and self.run.error is not None:
                raise self.run.error
            if ev is None:
                continue
            name = ev.get("event")
            if name == "ipc-closed":
                break
            if name == "playback-restart" and self.first_picture is None:
                self.first_picture = time.perf_counter() - self.started
            if name == "client-message" and ev.get("args", [None])[0] == "livehdr":
                try:
                    self.handle(ev["args"][1:])
                except UserError as e:
                    warn(one_line(e))

    def dropped(self) -> int | None:
        counts = [self.ipc.get(p) for p in ("frame-drop-count", "decoder-frame-drop-count")]
        counts = [c for c in counts if isinstance(c, int)]
        return sum(counts) if counts else None

    def close(self) -> None:
        if self.run is not None:
            self.run.stop_event.set()
        if self.proc.poll() is None:
            try:
                self.ipc.command("quit", timeout=2)
            except UserError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.run is not None:
            self._unblock(self.run)
            self.run.stop()
        self.ipc.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_mpv(settings: MpvSettings, source, operator, models, input_path: str,
            max_seconds: float | None = None) -> MpvReport:
    """Stream ``source`` into mpv until mpv quits (q) or ``max_seconds`` pass. The source is closed on return."""
    player = None
    try:
        player = MpvPlayer(settings, source, operator, models, input_path)
        note(f"streaming HDR10 (PQ, BT.2020, {settings.levels.peak:g} cd/m2 peak) into mpv: it presents HDR where "
             "the desktop can, and tone-maps elsewhere; keys: space pause, <- / -> seek, + / - peak, [ / ] paper "
             "white, t source curve, q quit")
        player.loop(max_seconds)
        dropped = player.dropped() if player.proc.poll() is None else None
        return MpvReport(player.runs, player.written_total(), player.first_picture, dropped,
                         time.perf_counter() - player.started)
    finally:
        if player is not None:
            player.close()
        source.close()
