"""The learned operator over time (livehdr/operators/temporal.py: TemporalMaps): static noise is smoothed,
a pixel that moved, a fade and a new frame size get this frame's own maps, and reset drops the history."""
import numpy as np
import pytest
import torch

from livehdr.metrics import frame_mean_pumping
from livehdr.models import weights as W
from livehdr.models.mqnet import MQNet
from livehdr.operators import OperatorConfig, create_operator
from livehdr.operators.temporal import SMOOTHING, TOLERANCE, TemporalMaps


def _static_code(h=24, w=32, seed=0):
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_first_frame_and_zero_smoothing_return_the_frame_maps():
    code, maps = _static_code(), torch.randn(1, 2, 24, 32)
    assert torch.equal(TemporalMaps().update(code, maps), maps)
    off = TemporalMaps(smoothing=0.0)
    off.update(code, maps)
    other = torch.randn(1, 2, 24, 32)
    assert torch.equal(off.update(code, other), other)


def test_static_pixels_blend_with_the_history_by_the_documented_weight():
    code, first, second = _static_code(), torch.zeros(1, 2, 24, 32), torch.ones(1, 2, 24, 32)
    t = TemporalMaps()
    t.update(code, first)
    out = t.update(code, second)  # nothing moved: a = SMOOTHING exactly
    assert torch.allclose(out, torch.full_like(out, 1.0 - SMOOTHING), atol=1e-6)


def test_noise_sized_change_keeps_most_of_the_history_and_large_change_drops_it():
    code = torch.full((1, 3, 24, 32), 0.5)
    t = TemporalMaps()
    t.update(code, torch.zeros(1, 1, 24, 32))
    moved = code.clone()
    moved[..., :12, 0::2] += 2 / 255  # noise-sized: +-2 code values, the frame mean unchanged
    moved[..., :12, 1::2] -= 2 / 255
    moved[..., 12:, :8] += 0.4  # a real change: an object moved in (bright left, dark right: mean unchanged)
    moved[..., 12:, 8:16] -= 0.4
    out = t.update(moved, torch.ones(1, 1, 24, 32))
    # a = SMOOTHING exp(-(d / TOLERANCE)^2) with the frame factor 1 (its mean did not move)
    expect = 1.0 - SMOOTHING * np.exp(-((2 / 255) / TOLERANCE) ** 2)
    np.testing.assert_allclose(out[..., :12, :].numpy(), expect, atol=1e-4)
    assert float(out[..., 12:, :16].min()) > 0.999  # the moved object: its own maps
    np.testing.assert_allclose(out[..., 12:, 16:].numpy(), 1.0 - SMOOTHING, atol=1e-5)  # untouched: history


def test_a_fade_follows_at_once():
    code = _static_code() * 0.5
    t = TemporalMaps()
    t.update(code, torch.zeros(1, 2, 24, 32))
    faded = code + 1.5 / 255  # every pixel 1.5 code values brighter: m / FOLLOW = 3
    out = t.update(faded, torch.ones(1, 2, 24, 32))
    assert float(out.min()) > 0.999


def test_new_size_or_reset_drops_the_history():
    t = TemporalMaps()
    t.update(_static_code(), torch.zeros(1, 2, 24, 32))
    bigger = torch.ones(1, 2, 32, 32)
    assert torch.equal(t.update(_static_code(32, 32), bigger), bigger)
    t.reset()
    assert torch.equal(t.update(_static_code(32, 32), torch.full((1, 2, 32, 32), 3.0)),
                       torch.full((1, 2, 32, 32), 3.0))


def test_settings_are_checked():
    with pytest.raises(ValueError):
        TemporalMaps(smoothing=1.0)
    with pytest.raises(ValueError):
        TemporalMaps(tolerance=0.0)


# ---- through the operator, with a small trained-looking network ---------------------------------------
@pytest.fixture
def operator(tmp_path):
    torch.manual_seed(0)
    m = MQNet(width=0.1, attention="csa", head_channels=8).eval()
    with torch.no_grad():  # a head that expands highlights strongly: code -> gain, like a trained model
        m.head[-1].weight.normal_(0, 0.5)
        m.head[-1].bias.normal_(0, 0.5)
    path = str(tmp_path / "m.safetensors")
    W.save_model(path, m, "mqnet")
    return create_operator("mqnet", OperatorConfig(weights=path, device="cpu"))


def _lamp_scene(h=96, w=128, cx=40):
    yy, xx = np.mgrid[:h, :w]
    frame = np.full((h, w, 3), 40, np.float64) + 30 * (xx / w)[..., None]
    frame[(yy - 48) ** 2 + (xx - cx) ** 2 < 100] = 255  # a clipped lamp
    return frame


def _noisy(frame, rng):
    return (np.clip(frame + rng.integers(-1, 2, size=frame.shape), 0, 255).round() / 255).astype(np.float32)


class ClipDetector(torch.nn.Module):
    """The failure the temporal stage is for, in its plainest form: +2 stops wherever a channel is at 255,
    none elsewhere, so +-1 noise on a lamp (255 -> 254 -> 255) flips its gain every frame."""

    output = "luma_chroma"

    def head_maps(self, code, top):
        gain = 2.0 * (code.amax(dim=1, keepdim=True) >= 254.5 / 255).to(code.dtype)
        return torch.cat([gain, torch.zeros_like(gain)], dim=1), None


def test_operator_static_noise_pumps_less_with_the_temporal_stage(operator):
    operator.model = ClipDetector()
    base = _lamp_scene()
    naive = create_operator("naive")
    runs = {}
    for smoothing in (0.0, SMOOTHING):
        operator.temporal = TemporalMaps(smoothing=smoothing)
        rng = np.random.default_rng(3)
        frames = [_noisy(base, rng) for _ in range(24)]
        runs[smoothing] = frame_mean_pumping([operator(f) for f in frames])
        runs["naive"] = frame_mean_pumping([naive(f) for f in frames])
    assert runs[0.0] > 4 * runs["naive"]  # the detector alone pumps (else this test shows nothing)
    assert runs[SMOOTHING] < 0.3 * runs[0.0]


def test_operator_moving_lamp_and_stills_get_their_own_maps(operator):
    """A lamp that moved is expanded as it would be alone; a still after reset equals a fresh operator."""
    first, moved = _lamp_scene(cx=40) / 255, _lamp_scene(cx=88) / 255
    fresh = operator(moved.astype(np.float32))
    operator.reset()
    operator(first.astype(np.float32))
    after = operator(moved.astype(np.float32))
    lamp = (slice(42, 54), slice(82, 94))
    np.testing.assert_allclose(after[lamp], fresh[lamp], rtol=1e-4)
    operator.reset()
    np.testing.assert_array_equal(operator(moved.astype(np.float32)), fresh)


def test_operator_batch_is_consecutive_frames(operator):
    """A torch batch updates the history frame by frame, exactly as the same frames one call each."""
    rng = np.random.default_rng(5)
    frames = [_noisy(_lamp_scene(), rng) for _ in range(3)]
    one_by_one = [operator(f) for f in frames]
    operator.reset()
    batch = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
    out = operator(batch).permute(0, 2, 3, 1).numpy()
    for a, b in zip(out, one_by_one):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
