"""Sound for the live window: a file's audio track played through PortAudio (sounddevice), and the clock the
video is paced by.

The device's clock is the master: ``media_time()`` is the presentation time of the sample at the speaker now
(the pts of the last buffer PortAudio asked for, plus the stream time elapsed since that buffer's DAC time).
The video waits for it and drops a frame that is late; the sound never waits for the video, except at the
start and after a seek, when it holds (silence, clock frozen at the target) until the first picture is up.
A decoder thread keeps about half a second of samples queued, so the callback only copies.
When the track ends before the picture does, the clock goes on in wall time from where the sound ended.
"""
from __future__ import annotations

from collections import deque
import threading
import time

from livehdr.base.errors import UserError, one_line
from livehdr.io.audio import AudioTrack

QUEUE_SECONDS = 0.5  # decoded samples kept ahead of the device
# Seconds of device buffer: the callback needs the GIL, which a 1080p draw can hold for 100+ ms (at PortAudio's
# "high" default the ALSA -> PulseAudio route underran hundreds of times a minute). The clock reads DAC times.
DEVICE_LATENCY = 0.25


def no_audio_reason() -> str | None:
    """Why there is no sound output here, or None when PortAudio has an output device."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as e:  # the module, or the PortAudio library (libportaudio2), is missing
        return f"sound off: PortAudio is not available ({one_line(e)}); pip install sounddevice and install " \
               "libportaudio2 (Debian) for sound"
    try:
        sd.query_devices(kind="output")
    except (sd.PortAudioError, ValueError) as e:
        return f"sound off: no audio output device ({one_line(e)})"
    return None


class AudioPlayer:
    """Plays ``track`` on the default output device; the window's master clock."""

    def __init__(self, track: AudioTrack, start: float = 0.0):
        import sounddevice as sd

        self.track = track
        self.rate, self.channels = track.rate, track.channels
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._chunks: deque = deque()  # (pts, samples) ready for the callback
        self._queued = 0  # samples in _chunks
        self._hold = True  # silence and a frozen clock until release()
        self._paused = False
        self._frozen = float(start)  # the clock while held / paused / starved
        self._anchor = None  # (pts of the buffer's first sample, its DAC time, seconds of sound in it)
        self._track_ended = False
        self._wall_from = None  # (media time, perf_counter): the track ended, the clock runs in wall time
        self._seek_to: float | None = float(start) if start else None
        self._stopping = False
        self.underruns = 0
        self._feeder = threading.Thread(target=self._feed, name="livehdr-audio-decode", daemon=True)
        self._feeder.start()
        try:
            self.stream = sd.OutputStream(samplerate=self.rate, channels=self.channels, dtype="float32",
                                          callback=self._callback, latency=DEVICE_LATENCY)
            self.stream.start()
        except (sd.PortAudioError, ValueError) as e:
            self._stop_feeder()
            raise UserError(f"sound off: the audio device cannot play ({one_line(e)})") from None

    # -- the clock -------------------------------------------------------------------------------------------
    def media_time(self) -> float:
        """Presentation time (seconds) of what is audible now."""
        with self._lock:
            if self._wall_from is not None:
                if self._paused or self._hold:
                    return self._frozen
                media, since = self._wall_from
                return media + (time.perf_counter() - since)
            anchor = self._anchor
            if anchor is None or self._hold or self._paused:
                return self._frozen
        pts, dac, seconds = anchor
        now = self.stream.time
        # before its DAC time the buffer is still queued: what plays now is that much earlier in the media
        return min(pts + (now - dac), pts + seconds)

    @property
    def holding(self) -> bool:
        return self._hold

    # -- controls (the window's thread) ----------------------------------------------------------------------
    def release(self) -> None:
        """Start (or, after a seek, restart) the sound: the first picture is on screen."""
        with self._lock:
            self._hold = False
            if self._wall_from is not None:
                self._wall_from = (self._frozen, time.perf_counter())

    def set_paused(self, paused: bool) -> None:
        """Pause: stop the device at once (what it had buffered, up to DEVICE_LATENCY, is dropped, so no sound
        plays past the frozen picture); resume: refill from the paused position and start again."""
        if paused == self._paused:
            return
        now = self.media_time()
        if paused:
            self._stream_call("abort")
        with self._lock:
            if paused:
                self._frozen = now
            elif self._wall_from is not None:
                self._wall_from = (self._frozen, time.perf_counter())
            elif not self._hold:  # the samples the device dropped are decoded again
                self._seek_to = self._frozen
                self._chunks.clear()
                self._queued = 0
                self._track_ended = False
                self._wake.notify_all()
            self._paused = paused
            self._anchor = None
        if not paused:
            self._stream_call("start")

    def _stream_call(self, name: str) -> None:
        try:
            getattr(self.stream, name)()
        except Exception:  # the device went away: the clock falls back to frozen / wall time
            pass

    def seek(self, seconds: float) -> None:
        """Jump to ``seconds``; the sound holds there until release()."""
        with self._lock:
            self._seek_to = max(0.0, float(seconds))
            self._chunks.clear()
            self._queued = 0
            self._hold = True
            self._frozen = self._seek_to
            self._anchor = None
            self._wall_from = None
            self._track_ended = False
            self._wake.notify_all()

    def close(self) -> None:
        try:
            self.stream.abort()
            self.stream.close()
        except Exception:  # the device went away: nothing left to stop
            pass
        self._stop_feeder()
        self.track.close()

    def _stop_feeder(self) -> None:
        with self._lock:
            self._stopping = True
            self._wake.notify_all()
        self._feeder.join(timeout=2)

    # -- the device callback (PortAudio's thread): copies only -----------------------------------------------
    def _callback(self, out, frames, time_info, status) -> None:
        if status.output_underflow:
            self.underruns += 1
        with self._lock:
            if self._hold or self._paused:
                out.fill(0)
                return
            filled, first = 0, None
            while filled < frames and self._chunks:
                pts, samples = self._chunks[0]
                n = min(frames - filled, len(samples))
                if first is None:
                    first = pts
                out[filled:filled + n] = samples[:n]
                if n == len(samples):
                    self._chunks.popleft()
                else:
                    self._chunks[0] = (pts + n / self.rate, samples[n:])
                filled += n
            self._queued -= filled
            out[filled:] = 0
            if first is not None:
                self._anchor = (first, time_info.outputBufferDacTime, filled / self.rate)
                self._frozen = first + filled / self.rate
            else:
                self._anchor = None
                if self._track_ended and self._wall_from is None:  # the sound is over: wall time from here
                    self._wall_from = (self._frozen, time.perf_counter())
            self._wake.notify_all()

    # -- the decoder thread ----------------------------------------------------------------------------------
    def _feed(self) -> None:
        chunks = None
        while True:
            with self._lock:
                while not self._stopping and self._seek_to is None and (
                        self._track_ended or self._queued >= QUEUE_SECONDS * self.rate):
                    self._wake.wait(0.1)
                if self._stopping:
                    return
                seek, self._seek_to = self._seek_to, None
            if seek is not None:
                self.track.seek(seek)
                chunks = None
            if chunks is None:
                chunks = self.track.chunks()
            try:
                item = next(chunks)
            except StopIteration:
                item = None
            except Exception:  # a decoder failure ends the sound, not the picture
                item = None
            with self._lock:
                if self._seek_to is not None:
                    continue  # a seek came in while decoding: this chunk belongs to the old position
                if item is None:
                    self._track_ended = True
                    chunks = None
                    continue
                self._chunks.append(item)
                self._queued += len(item[1])
