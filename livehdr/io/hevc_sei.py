"""HDR10 static metadata in an HEVC bitstream: write the measured MaxCLL/MaxFALL after encoding.

x265 takes ``max-cll`` when the encoder opens, before a single frame has been measured, so the writer
encodes with a placeholder and the final remux rewrites every content-light-level SEI (in the packets and
in the hvcC extradata) with the values measured on the whole output. Encoders that write no HDR SEI
(NVENC through PyAV) get one inserted into each keyframe instead.

References: ITU-T H.265 (v8) clause 7.3.1 (NAL unit syntax, emulation prevention), 7.3.5 (SEI message
syntax), D.2.28 mastering display colour volume (payloadType 137), D.2.35 content light level (144);
ISO/IEC 14496-15 clause 8.3.3 (HEVCDecoderConfigurationRecord, 'hvcC').
"""
from __future__ import annotations

import struct

NAL_PREFIX_SEI = 39
SEI_MASTERING_DISPLAY = 137
SEI_CONTENT_LIGHT_LEVEL = 144


def nal_type(nal: bytes) -> int:
    return (nal[0] >> 1) & 0x3F


def unescape_rbsp(data: bytes) -> bytes:
    """Drop emulation_prevention_three_byte (H.265 clause 7.4.2): 00 00 03 -> 00 00."""
    out = bytearray()
    zeros = 0
    for b in data:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def escape_rbsp(data: bytes) -> bytes:
    """Insert emulation prevention: 00 00 followed by 00..03 gets a 03 in between."""
    out = bytearray()
    zeros = 0
    for b in data:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _sei_header_value(value: int) -> bytes:
    """payloadType / payloadSize coding of clause 7.3.5: runs of 0xFF, then the remainder."""
    return b"\xff" * (value // 255) + bytes([value % 255])


def content_light_level_payload(max_cll: int, max_fall: int) -> bytes:
    """D.2.35: max_content_light_level u(16), max_pic_average_light_level u(16), in cd/m2."""
    clamp = lambda v: max(0, min(0xFFFF, int(v)))  # noqa: E731
    return struct.pack(">HH", clamp(max_cll), clamp(max_fall))


def mastering_display_payload(primaries_xy, white_xy, max_nits: float, min_nits: float) -> bytes:
    """D.2.28: display primaries (G, B, R order) and white in 0.00002 units, luminance in 0.0001 cd/m2."""
    (rx, ry), (gx, gy), (bx, by) = primaries_xy
    xy = [gx, gy, bx, by, rx, ry, white_xy[0], white_xy[1]]
    coded = [round(v / 0.00002) for v in xy]
    return struct.pack(">8H", *coded) + struct.pack(">II", round(max_nits * 10000), round(min_nits * 10000))


def build_sei_nal(messages: list[tuple[int, bytes]]) -> bytes:
    """A prefix SEI NAL unit (header + escaped RBSP) carrying the given (payloadType, payload) messages."""
    rbsp = bytearray()
    for ptype, payload in messages:
        rbsp += _sei_header_value(ptype) + _sei_header_value(len(payload)) + payload
    rbsp += b"\x80"  # rbsp_trailing_bits
    header = bytes([NAL_PREFIX_SEI << 1, 1])  # forbidden 0, type 39, layer 0, temporal id + 1 = 1
    return header + escape_rbsp(bytes(rbsp))


def _split_sei(rbsp: bytes) -> list[tuple[int, bytes]] | None:
    """SEI messages of an RBSP, or None when it does not parse (then it is left alone)."""
    messages, i = [], 0
    end = len(rbsp)
    while end > 0 and rbsp[end - 1] == 0:  # cabac_zero_words / trailing zeros
        end -= 1
    while i < end and not (i == end - 1 and rbsp[i] == 0x80):
        values = []
        for _ in range(2):
            v = 0
            while i < end and rbsp[i] == 0xFF:
                v += 255
                i += 1
            if i >= end:
                return None
            v += rbsp[i]
            i += 1
            values.append(v)
        ptype, size = values
        if i + size > end:
            return None
        messages.append((ptype, rbsp[i:i + size]))
        i += size
    return messages


def rewrite_content_light_level(nal: bytes, payload: bytes) -> tuple[bytes, bool]:
    """Replace the content-light-level message of one prefix SEI NAL. Returns (nal, whether it had one)."""
    if len(nal) < 3 or nal_type(nal) != NAL_PREFIX_SEI:
        return nal, False
    messages = _split_sei(unescape_rbsp(nal[2:]))
    if not messages or not any(t == SEI_CONTENT_LIGHT_LEVEL for t, _ in messages):
        return nal, False
    messages = [(t, payload if t == SEI_CONTENT_LIGHT_LEVEL else p) for t, p in messages]
    return nal[:2] + build_sei_nal(messages)[2:], True  # keep the original NAL header (layer, temporal id)


def split_length_prefixed(data: bytes, length_size: int = 4) -> list[bytes]:
    """NAL units of an ISO/IEC 14496-15 sample (each prefixed by a big-endian length); [] if malformed."""
    nals, i = [], 0
    while i + length_size <= len(data):
        n = int.from_bytes(data[i:i + length_size], "big")
        i += length_size
        if i + n > len(data):
            return []
        nals.append(data[i:i + n])
        i += n
    return nals


def join_length_prefixed(nals: list[bytes], length_size: int = 4) -> bytes:
    return b"".join(len(n).to_bytes(length_size, "big") + n for n in nals)


def patch_sample(data: bytes, cll_payload: bytes, insert_sei: bytes | None = None,
                 length_size: int = 4) -> tuple[bytes, int]:
    """Rewrite the content light level in one sample; when none is there and ``insert_sei`` is given,
    insert that SEI NAL before the first picture NAL. Returns (sample, number of SEIs rewritten)."""
    nals = split_length_prefixed(data, length_size)
    if sum(len(n) + length_size for n in nals) != len(data):
        return data, 0  # not length-prefixed as expected: never corrupt a sample
    found = 0
    out = []
    for nal in nals:
        nal, hit = rewrite_content_light_level(nal, cll_payload)
        found += hit
        out.append(nal)
    if not found and insert_sei is not None:
        first_vcl = next((k for k, n in enumerate(out) if n and nal_type(n) < 32), len(out))
        out.insert(first_vcl, insert_sei)
    return join_length_prefixed(out, length_size), found


def patch_hvcc(extradata: bytes, cll_payload: bytes) -> tuple[bytes, int]:
    """Rewrite content light level SEIs stored in an hvcC record (x265 puts its headers' SEI there)."""
    if len(extradata) < 23 or extradata[0] != 1:
        return extradata, 0  # Annex B or unknown: leave it
    out = bytearray(extradata[:22])
    num_arrays = extradata[22]
    out.append(num_arrays)
    i, found = 23, 0
    for _ in range(num_arrays):
        if i + 3 > len(extradata):
            return extradata, 0
        out += extradata[i:i + 3]
        count = int.from_bytes(extradata[i + 1:i + 3], "big")
        i += 3
        for _ in range(count):
            n = int.from_bytes(extradata[i:i + 2], "big")
            nal = extradata[i + 2:i + 2 + n]
            i += 2 + n
            nal, hit = rewrite_content_light_level(nal, cll_payload)
            found += hit
            out += len(nal).to_bytes(2, "big") + nal
    out += extradata[i:]
    return bytes(out), found


def hvcc_length_size(extradata: bytes | None) -> int:
    """lengthSizeMinusOne + 1 from an hvcC record (byte 21, low two bits); 4 when unknown."""
    if extradata and len(extradata) >= 23 and extradata[0] == 1:
        return (extradata[21] & 3) + 1
    return 4
