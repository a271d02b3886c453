"""Damaged inputs made on the spot: bomb headers, cut and corrupted clips, backwards audio timestamps."""
from __future__ import annotations

from fractions import Fraction
import struct
import zlib

import av


def png_header(width: int, height: int, depth: int = 8, colour_type: int = 2) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` with almost no pixel data behind it."""
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def jpeg_header(width: int, height: int) -> bytes:
    """SOI + a baseline SOF0 claiming ``width`` x ``height`` (3 components) + EOI."""
    sof = struct.pack(">HBHHB", 17, 8, height, width, 3) + bytes([1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0])
    return b"\xff\xd8\xff\xc0" + sof + b"\xff\xd9"


def video_packets(path) -> list[tuple[int, int, float]]:
    """(file position, size, time in s) of every video packet."""
    with av.open(str(path)) as c:
        return [(p.pos, p.size, float(p.pts * p.time_base)) for p in c.demux(video=0) if p.size]


def zero_packet_payload(src, dst, index: int) -> None:
    """Keep packet ``index``'s first 4 bytes (its length field) and zero the rest: the decoder rejects it."""
    pos, size, _ = video_packets(src)[index]
    data = bytearray(open(src, "rb").read())
    data[pos + 4:pos + size] = bytes(size - 4)
    open(dst, "wb").write(bytes(data))


def cut_at(src, dst, seconds: float) -> None:
    """The file up to the first video packet at or after ``seconds`` (a download that stopped)."""
    pos = next(p for p, _, t in video_packets(src) if t >= seconds)
    open(dst, "wb").write(open(src, "rb").read()[:pos])


def clip_with_opus(path, frames: int = 20, rate: int = 10, backwards=range(28, 32)) -> None:
    """64x48 H.264 + Opus in Matroska; the audio blocks numbered ``backwards`` get timestamps 300 ms early
    (patched in the file: FFmpeg's muxer refuses to write them)."""
    src = av.open(f"testsrc2=size=64x48:rate={rate}", format="lavfi")
    out = av.open(str(path), "w")
    v = out.add_stream("libx264", rate=rate)
    v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
    v.options = {"preset": "ultrafast"}
    a = out.add_stream("libopus", rate=48000)
    a.layout = "mono"
    packets = []
    for n, f in enumerate(src.decode(video=0)):
        if n >= frames:
            break
        f.pts, f.time_base = n, Fraction(1, rate)
        packets += list(v.encode(f))
    packets += list(v.encode(None))
    src.close()
    sine = av.open("sine=frequency=440:sample_rate=48000", format="lavfi")
    samples = 0
    for af in sine.decode(audio=0):
        if samples >= frames / rate * 48000:
            break
        af.pts, af.time_base = samples, Fraction(1, 48000)
        samples += af.samples
        packets += list(a.encode(af))
    packets += list(a.encode(None))
    sine.close()
    for p in sorted(packets, key=lambda p: float(p.dts * p.time_base) if p.dts is not None else 0.0):
        out.mux(p)
    out.close()
    data = bytearray(open(path, "rb").read())
    with av.open(str(path)) as c:
        blocks = [p.pos for p in c.demux(audio=0) if p.size]
    for i in backwards:  # a block's position points at its track number (0x82), then int16 relative time
        at = blocks[i]
        assert data[at] == 0x82
        (t,) = struct.unpack(">h", data[at + 1:at + 3])
        data[at + 1:at + 3] = struct.pack(">h", t - 300)
    open(path, "wb").write(bytes(data))
