"""HDR10 writer: stream signalling, decoded code values, measured MaxCLL/MaxFALL, SEI rewriting."""
from __future__ import annotations

import os

import av
import numpy as np
import pytest

from _media import content_light_level, read_content_light_level, read_video
from livehdr import color
from livehdr.io import hdr10 as sinks, hevc_sei
from livehdr.color import ReferenceLevels
from livehdr.base.errors import UserError


def _write(path, frames, levels=ReferenceLevels(), **kw):
    # Frames of at least 64x48: x265 4.2 corrupts its heap on some tinier clips (48x32, 2 frames).
    h, w = frames[0].shape[:2]
    writer = sinks.HDR10Writer(str(path), w, h, levels, fps=10, preset="ultrafast", encoder="libx265", **kw)
    for i, rel in enumerate(frames):
        writer.write(rel, i / 10)
    return writer.finish()


def _mastering_display(side):
    """AVMasteringDisplayMetadata: 3x2 primaries + 2 white + min + max as AVRationals, then two flags."""
    for name, data in side:
        if name == "MASTERING_DISPLAY_METADATA":
            v = np.frombuffer(data[:80], dtype=np.int32).reshape(-1, 2)
            r = v[:, 0] / v[:, 1]
            return {"primaries": r[:6].reshape(3, 2), "white": r[6:8], "min": r[8], "max": r[9]}
    return None


def test_paper_white_decodes_to_the_pq_code_value_and_metadata_is_measured(tmp_path):
    # A flat frame at paper white (1.0 relative = 203 cd/m2) with a 600 cd/m2 highlight patch.
    rel = np.ones((48, 64, 3), np.float32)
    rel[8:24, 8:24] = 600 / 203
    summary = _write(tmp_path / "w.mkv", [rel, rel, rel])
    info = read_video(tmp_path / "w.mkv")
    assert (info["codec"], info["pix_fmt"], info["frames"]) == ("hevc", "yuv420p10le", 3)
    assert (info["primaries"], info["trc"], info["matrix"], info["range"]) == (9, 16, 9, 1)
    assert (info["first_frame_primaries"], info["first_frame_trc"]) == (9, 16)
    # Y' of paper white: PQ(203 cd/m2) in BT.2100 narrow range (Table 9): 64 + 876 E'.
    expected_y = 64 + 876 * float(color.eotf_inverse_ST2084(203.0))
    background = info["first_y"][40:, 40:]
    assert abs(np.median(background) - expected_y) <= 1.5
    # MaxCLL = the patch, after the soft roll-off (below the 750 cd/m2 knee: unchanged). MaxFALL = frame mean.
    area = 16 * 16 / (48 * 64)
    # MaxCLL is true of the decoded stream: x265 rings a little past the patch's edge (614 at crf 18).
    cll, fall = content_light_level(info["side_data"])
    assert fall == int(np.ceil(600 * area + 203 * (1 - area) - 0.01))
    assert 600 <= cll <= 600 * 1.05 and summary["max_cll"] == cll
    decoded_top = float(color.eotf_ST2084((info["first_y"].max() - 64) / 876))
    assert cll >= decoded_top - 0.5
    md = _mastering_display(info["side_data"])
    assert md["max"] == pytest.approx(1000.0) and md["min"] == pytest.approx(0.0001)
    assert md["primaries"][0] == pytest.approx([0.680, 0.320], abs=1e-4)  # red first (FFmpeg: R, G, B), P3
    assert md["white"] == pytest.approx([0.3127, 0.3290], abs=1e-4)


def test_highlights_above_the_peak_are_rolled_off_in_maxcll(tmp_path):
    rel = np.full((48, 64, 3), 10.0, np.float32)  # 2030 cd/m2 asked for, display peak 600
    _write(tmp_path / "r.mkv", [rel], levels=ReferenceLevels(paper_white=203, peak=600))
    info = read_video(tmp_path / "r.mkv")
    cll, fall = content_light_level(info["side_data"])
    # The metadata describes the light actually in the file: decode the grey Y' back through PQ.
    in_file = float(color.eotf_ST2084((np.median(info["first_y"]) - 64) / 876))
    assert 500 < cll <= 600 * 1.01 and abs(cll - fall) <= 0.01 * cll  # decoded: a step of ringing at most
    assert abs(cll - in_file) <= 0.02 * in_file


def test_hlg_signals_arib_std_b67(tmp_path):
    rel = np.full((48, 64, 3), 0.5, np.float32)
    _write(tmp_path / "h.mp4", [rel, rel], hlg=True)
    info = read_video(tmp_path / "h.mp4")
    assert (info["trc"], info["first_frame_trc"], info["primaries"], info["codec_tag"]) == (18, 18, 9, "hvc1")
    # Y' is the HLG signal of the same light (hlg encoding of color.py), not a PQ value.
    expected = 64 + 876 * float(color.encode_HLG_BT2020(np.full((1, 1, 3), 0.5), ReferenceLevels())[0, 0, 0])
    assert abs(np.median(info["first_y"]) - expected) <= 1.5


def test_mp4_is_tagged_hvc1_and_the_output_gets_normal_permissions(tmp_path):
    _write(tmp_path / "t.mp4", [np.zeros((48, 64, 3), np.float32)] * 2)
    assert read_video(tmp_path / "t.mp4")["codec_tag"] == "hvc1"
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(tmp_path / "t.mp4").st_mode & 0o777 == 0o666 & ~mask
    assert sorted(os.listdir(tmp_path)) == ["t.mp4"]  # no temporary left behind


def test_writer_refuses_odd_sizes_existing_outputs_and_bad_extensions(tmp_path):
    with pytest.raises(UserError, match="even"):
        sinks.HDR10Writer(str(tmp_path / "o.mkv"), 65, 48, ReferenceLevels(), fps=10)
    (tmp_path / "exists.mkv").write_bytes(b"x")
    with pytest.raises(UserError, match="--overwrite"):
        sinks.HDR10Writer(str(tmp_path / "exists.mkv"), 64, 48, ReferenceLevels(), fps=10)
    with pytest.raises(UserError, match=r"\.mkv or \.mp4"):
        sinks.check_output(str(tmp_path / "o.avi"), overwrite=False)
    assert sorted(os.listdir(tmp_path)) == ["exists.mkv"]


def test_encoder_auto_falls_back_to_libx265_with_a_note(tmp_path, capsys):
    writer = sinks.HDR10Writer(str(tmp_path / "n.mkv"), 64, 48, ReferenceLevels(), fps=10, encoder="auto",
                               preset="ultrafast")
    reason = sinks.nvenc_unavailable_reason(64, 48)
    writer.abort()
    err = capsys.readouterr().err.strip().splitlines()
    if reason is None:
        assert writer.encoder_name == "hevc_nvenc"
    elif not sinks.cuda_device_present():  # no NVIDIA GPU: nothing to say about NVENC
        assert writer.encoder_name == "libx265" and err == []
    else:
        assert writer.encoder_name == "libx265"
        assert len(err) == 1 and err[0].startswith("livehdr: note: no NVENC encoder")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------------------
# SEI rewriting (H.265 clause 7.3.5, D.2.35)
# ---------------------------------------------------------------------------------------------------------
def test_emulation_prevention_round_trip():
    raw = bytes([0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 7])
    escaped = hevc_sei.escape_rbsp(raw)
    assert escaped == bytes([0, 0, 3, 0, 1, 0, 0, 3, 2, 0, 0, 3, 3, 0, 0, 4, 7])
    assert hevc_sei.unescape_rbsp(escaped) == raw


@pytest.mark.parametrize("cll,fall", [(1000, 400), (512, 2), (0, 0), (65535, 65535)])
def test_content_light_level_rewrite(cll, fall):
    # (512, 2) codes as 02 00 00 02: the rewritten NAL needs an emulation prevention byte.
    mdcv = hevc_sei.mastering_display_payload(sinks.MASTERING_PRIMARIES_P3, sinks.MASTERING_WHITE_D65, 1000, 0.0001)
    nal = hevc_sei.build_sei_nal([(137, mdcv), (144, hevc_sei.content_light_level_payload(1, 1))])
    slice_nal = bytes([1 << 1, 1, 0xAF, 0x00, 0x12])  # a TRAIL_R slice stand-in
    sample = hevc_sei.join_length_prefixed([nal, slice_nal])
    patched, found = hevc_sei.patch_sample(sample, hevc_sei.content_light_level_payload(cll, fall))
    nals = hevc_sei.split_length_prefixed(patched)
    assert found == 1 and nals[1] == slice_nal
    assert read_content_light_level(nals[0]) == (cll, fall)
    assert b"\x00\x00\x00" not in nals[0] and b"\x00\x00\x02" not in nals[0]


def test_missing_sei_is_inserted_before_the_first_slice():
    sei = hevc_sei.build_sei_nal([(144, hevc_sei.content_light_level_payload(700, 300))])
    vps, slice_nal = bytes([32 << 1, 1, 0x0C]), bytes([19 << 1, 1, 0xAF])
    patched, found = hevc_sei.patch_sample(hevc_sei.join_length_prefixed([vps, slice_nal]),
                                           b"\0\0\0\0", insert_sei=sei)
    assert found == 0
    assert hevc_sei.split_length_prefixed(patched) == [vps, sei, slice_nal]


def test_unparseable_samples_are_left_alone():
    junk = b"\x00\x00\x00\xff\x01\x02"
    assert hevc_sei.patch_sample(junk, b"\0\0\0\0") == (junk, 0)


def test_decoder_reads_the_rewritten_values(tmp_path):
    """End to end through FFmpeg: x265's placeholder is gone, the measured value is what players see."""
    rel = np.full((48, 64, 3), 2.0, np.float32)  # 406 cd/m2 everywhere
    _write(tmp_path / "m.mkv", [rel])
    placeholder = round(ReferenceLevels().peak)
    with av.open(str(tmp_path / "m.mkv")) as c:
        extradata = c.streams.video[0].codec_context.extradata
        for packet in c.demux(video=0):
            for nal in hevc_sei.split_length_prefixed(bytes(packet)):
                value = read_content_light_level(nal)
                assert value in (None, (406, 406))
    assert bytes([placeholder >> 8, placeholder & 0xFF] * 2) not in extradata
    assert content_light_level(read_video(tmp_path / "m.mkv")["side_data"]) == (406, 406)


def test_tiny_video_is_a_one_line_error(tmp_path, capsys):
    from _media import make_clip

    from livehdr.cli import main

    src = make_clip(tmp_path / "tiny.mkv", 32, 24, frames=2, rate=10, audio=False)
    assert main(["-i", str(src), "-o", str(tmp_path / "o.mkv"), "--model", "naive"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "livehdr: error: video is too small (32x24): HDR10 output needs at least 64x48"
    assert sorted(os.listdir(tmp_path)) == ["tiny.mkv"]


def test_hdr_input_is_refused(tmp_path, capsys):
    from livehdr.cli import main

    hdr = tmp_path / "hdr.mkv"
    frames = [np.full((48, 64, 3), 0.5, np.float32)] * 3
    _write(hdr, frames)  # an HDR10 file of our own
    assert main(["-i", str(hdr), "-o", str(tmp_path / "again.mkv"), "--model", "naive"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"livehdr: error: {hdr} is already HDR (PQ, SMPTE ST 2084); livehdr expands SDR video"
    assert not (tmp_path / "again.mkv").exists()
