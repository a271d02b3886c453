"""A file's audio track, decoded for playback: float32 interleaved samples at the device's rate, with the
presentation time of each chunk's first sample (seconds, the same time line as the video's pts).

The track opens its own demuxer, so the window's video decoding and the sound never wait for each other.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from livehdr.base.errors import UserError, one_line


def audio_stream_count(path: str) -> int:
    """How many audio streams ``path`` has (0 for a file FFmpeg cannot read)."""
    import av

    try:
        with av.open(path) as container:
            return len(container.streams.audio)
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return 0


class AudioTrack:
    """The first audio stream of ``path`` as (pts, samples) chunks; samples: frames x channels float32."""

    def __init__(self, path: str, rate: int = 48000, channels: int = 2):
        import av

        self._av = av
        self.path = path
        self.rate, self.channels = int(rate), int(channels)
        try:
            self.container = av.open(path)
        except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
            raise UserError(f"cannot open the audio of {path}: {one_line(e)}") from None
        if not self.container.streams.audio:
            self.container.close()
            raise UserError(f"no audio stream in {path}")
        self.stream = self.container.streams.audio[0]
        self.stream.thread_type = "AUTO"
        self._layout = "stereo" if self.channels == 2 else "mono"
        self._trim_to: float | None = None

    def _resampler(self):
        return self._av.AudioResampler(format="flt", layout=self._layout, rate=self.rate)

    def seek(self, seconds: float) -> None:
        """The next chunks() starts at ``seconds`` (decoded from the packet before, trimmed to the sample)."""
        seconds = max(0.0, float(seconds))
        tb = self.stream.time_base
        self.container.seek(int(seconds / tb), stream=self.stream, backward=True, any_frame=False)
        self.stream.codec_context.flush_buffers()
        self._trim_to = seconds

    def chunks(self) -> Iterator[tuple[float, np.ndarray]]:
        av = self._av
        resampler = self._resampler()
        next_pts: float | None = None  # the resampler's output is contiguous: count samples from the first pts
        trim = self._trim_to
        self._trim_to = None
        demux = self.container.demux(self.stream)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                break
            except (av.FFmpegError, EOFError):
                break  # cut-off file: play what was readable
            try:
                frames = packet.decode()
            except (av.FFmpegError, EOFError):
                continue  # one damaged packet: skip it, as players do
            for frame in frames:
                if next_pts is None and frame.pts is not None and frame.time_base:
                    next_pts = float(frame.pts * frame.time_base)
                for out in resampler.resample(frame):
                    samples = _interleaved(out, self.channels)
                    if next_pts is None:
                        next_pts = 0.0
                    pts = next_pts
                    next_pts = pts + len(samples) / self.rate
                    if trim is not None:
                        if next_pts <= trim:
                            continue
                        if pts < trim:
                            skip = int(round((trim - pts) * self.rate))
                            samples, pts = samples[skip:], pts + skip / self.rate
                        trim = None
                    if len(samples):
                        yield pts, samples
        for out in resampler.resample(None):
            samples = _interleaved(out, self.channels)
            if len(samples) and next_pts is not None:
                yield next_pts, samples
                next_pts += len(samples) / self.rate

    def close(self) -> None:
        self.container.close()


def _interleaved(frame, channels: int) -> np.ndarray:
    """A packed 'flt' AudioFrame -> frames x channels float32 (a copy: PyAV reuses its buffers)."""
    data = frame.to_ndarray()  # packed: 1 x (samples * channels)
    return np.array(data.reshape(-1, channels)[: frame.samples], dtype=np.float32)
