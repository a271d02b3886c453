"""The composed table of color/table.py applied in torch (engine/device_table.py) against the numba table
kernel: +-1 code value, the same MaxCLL. On CI the torch side runs on the CPU."""
import numpy as np
import pytest
import torch

from livehdr.color import ReferenceLevels
from livehdr.operators import OperatorConfig, create_operator


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model,target", [("naive", "pq"), ("bt2446a", "pq"), ("bt2446c", "hlg"), ("clut", "pq")])
def test_table_in_torch_equals_the_numba_table_kernel(model, target, device):
    from livehdr.color import table as tables
    from livehdr.engine.device_table import table_to_yuv420p10_torch

    levels = ReferenceLevels()
    op = create_operator(model, OperatorConfig(levels=levels, device="cpu"))
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    img[:6] = 255  # clipped white: the roll-off's region
    img[6:10] = rng.integers(0, 12, (4, 96, 3))  # the shaper's black cells
    if model == "clut":  # the frame's LUT at the table's nodes
        from livehdr.color.lut3d import apply_lut3d

        nodes = tables.table_nodes()
        d = nodes.shape[0]
        relative = apply_lut3d(nodes.reshape(d, d * d, 3), op.lut_for_frame(img)).reshape(nodes.shape)
    else:
        relative = op.relative_at_nodes(img)
    table = tables.compose_table(relative, levels.for_content(op.content_peak), target)
    h, w = img.shape[:2]
    y, u, v = np.zeros((h, w), np.uint16), np.zeros((h // 2, w // 2), np.uint16), np.zeros((h // 2, w // 2), np.uint16)
    cll, fall = tables.table_to_yuv420p10(img, table, y, u, v, seed=9)
    ty, tu, tv, tcll, tfall = table_to_yuv420p10_torch(torch.from_numpy(img).to(device),
                                                       torch.from_numpy(table).to(device), seed=9)
    for ref, got in ((y, ty), (u, tu), (v, tv)):
        d = np.abs(got.cpu().numpy().view(np.uint16).astype(int) - ref.astype(int))
        assert d.max() <= 1 and (d == 0).mean() > 0.99, (d.max(), (d == 0).mean())
    assert float(tcll) == pytest.approx(cll, rel=1e-5) and float(tfall) == pytest.approx(fall, rel=1e-5)
    assert cll > 150 and y.min() < 100 and y.max() > 500  # black, mid-tones and highlights all compared


def test_table_in_torch_refuses_wrong_shapes():
    from livehdr.engine.device_table import table_to_yuv420p10_torch

    with pytest.raises(ValueError, match="table"):
        table_to_yuv420p10_torch(torch.zeros(4, 4, 3, dtype=torch.uint8), torch.zeros(33, 33, 33, 4))
    with pytest.raises(ValueError, match="even"):
        table_to_yuv420p10_torch(torch.zeros(3, 4, 3, dtype=torch.uint8), torch.zeros(39, 39, 39, 4))
