"""The cheap CPU forward of CLUT (livehdr/models/clut_fast.py) against the reference (livehdr/models/clut.py).

Measured (units of paper white, entries up to 4.9): thumbnails bit for bit; basis weights within 6e-8; LUT
entries within 3.6e-7 on the shipped model and 3.3e-6 on random bases with large fields (float32 tanh / exp2
differ in the last bit between torch and numpy, and for --input-gamma 2.2 / 2.4 the resampling is applied to
the factors, not the fields). The asserts: 1e-6 shipped, 5e-6 random."""
import os

import numpy as np
import pytest
import torch

from livehdr.models.clut import CLUT, global_statistics, thumbnail_numpy
from livehdr.models.clut_fast import FastCLUT
from livehdr.models.weights import load_model, shipped_path
from livehdr.operators import OperatorConfig, create_operator

SHIPPED = shipped_path("clut")
needs_shipped = pytest.mark.skipif(not os.path.isfile(SHIPPED), reason="shipped clut weights absent")
TOP = 1000 / 203


def scene(seed: int, h: int = 270, w: int = 480) -> np.ndarray:
    """Noise over smooth colour with a clipped patch and a dark corner (every histogram bin, both clip shares)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    rgb = np.stack([x, y, 0.5 + 0.5 * np.sin(7 * x + 4 * y + seed)], axis=-1) * 255
    rgb = rgb + rng.normal(0, 12, rgb.shape)
    rgb[h // 4:h // 2, w // 4:w // 2] = 255
    rgb[:h // 5, :w // 6] = 3
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def random_clut(seed: int, **config) -> CLUT:
    torch.manual_seed(seed)
    m = CLUT(**config).eval()
    with torch.no_grad():
        m.cores.normal_(0.0, 0.6)
        for p in m.backbone.parameters():
            p.normal_(0.0, 0.3)
    return m


def reference(model: CLUT, thumb: np.ndarray, weights: np.ndarray, gamma: str):
    with torch.inference_mode():
        x = torch.from_numpy(thumb).permute(2, 0, 1)[None]
        w = model.basis_weights(x).numpy()
        lut = model.lut_from_fields(model.fields(torch.from_numpy(weights)), TOP, gamma)[0].numpy()
    return w, lut


@pytest.mark.parametrize("which", ["shipped", "random", "small"])
def test_fast_forward_equals_the_reference(which):
    if which == "shipped" and not os.path.isfile(SHIPPED):
        pytest.skip("shipped clut weights absent")
    if which == "shipped":
        model = load_model(SHIPPED, expect_arch="clut")
    else:  # "small": another config (a 17^3 LUT, a narrower CNN, 3 bases)
        model = random_clut(3) if which == "random" else random_clut(4, lut_size=17, width=4, bases=3, w_rank=12)
    fast = FastCLUT(model)
    for seed in range(3):
        frame = scene(seed)
        thumb = fast.thumbnail(frame)
        assert np.array_equal(thumb, thumbnail_numpy(frame))  # the same pixels, bit for bit
        weights = fast.basis_weights(thumb)
        for gamma in ("srgb", "2.2", "2.4"):
            ref_w, ref_lut = reference(model, thumb, weights, gamma)
            assert np.abs(weights - ref_w).max() <= 1e-6 * max(1.0, np.abs(ref_w).max())
            lut = fast.lut_from_fields(fast.fields(weights, gamma), TOP, gamma)
            d = model.lut_size
            assert lut.dtype == np.float32 and lut.shape == ref_lut.shape == (d, d, d, 3)
            assert np.abs(lut - ref_lut).max() <= (1e-6 if which == "shipped" else 5e-6)
            assert ref_lut.max() > 1.2  # real expansion, not a trivially equal naive LUT


def test_statistics_equal_the_reference():
    fast = FastCLUT(CLUT().eval())
    for seed in range(3):
        thumb = thumbnail_numpy(scene(seed))
        ref = global_statistics(torch.from_numpy(thumb).permute(2, 0, 1)[None])[0].numpy()
        got = fast.statistics(thumb)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)
        assert 0.0 < ref[-2] < 1.0  # some pixels clipped, not all


@needs_shipped
@pytest.mark.parametrize("gamma,saturation", [("srgb", 1.0), ("2.4", 1.3)])
def test_operator_fast_path_gives_the_reference_luts(gamma, saturation):
    """Over a clip (the temporal state in the loop), the CPU operator's LUTs equal the reference path's."""
    config = OperatorConfig(device="cpu", input_gamma=gamma, saturation=saturation)
    fast_op, ref_op = create_operator("clut", config), create_operator("clut", config)
    assert fast_op.fast is not None
    ref_op.fast = None  # the torch reference forward
    for seed in range(4):
        frame = scene(seed)
        a, b = fast_op.lut_for_frame(frame), ref_op.lut_for_frame(frame)
        assert np.abs(a - b).max() <= 5e-6  # measured 2.1e-6: the EMA carries the weights' last bits
    assert fast_op.temporal.last_event == ref_op.temporal.last_event
