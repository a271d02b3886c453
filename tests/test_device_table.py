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


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model,target", [("naive", "pq"), ("bt2446a", "hlg"), ("clut", "pq")])
def test_table_composed_on_the_device_equals_compose_table(model, target, device):
    from livehdr.color import table as tables
    from livehdr.engine.device_table import compose_table_torch, nodes_torch
    from livehdr.models.clut import apply_lut_torch

    levels = ReferenceLevels()
    op = create_operator(model, OperatorConfig(levels=levels, device="cpu"))
    d = tables.TABLE_SIZE
    nodes = nodes_torch(device)
    np.testing.assert_array_equal(nodes[0].permute(1, 2, 0).reshape(d, d, d, 3).cpu().numpy(), tables.table_nodes())
    if model == "clut":
        img = np.random.default_rng(3).integers(0, 256, (64, 96, 3), dtype=np.uint8)
        relative = apply_lut_torch(nodes, torch.from_numpy(op.lut_for_frame(img)).to(device)[None])
    else:
        relative = op(nodes)
    host = relative[0].permute(1, 2, 0).reshape(d, d, d, 3).cpu().numpy()
    level = levels.for_content(op.content_peak)
    ref = tables.compose_table(host, level, target)
    got = compose_table_torch(relative, level, target).cpu().numpy()
    assert got.shape == ref.shape == (d, d, d, 4)
    np.testing.assert_allclose(got[..., :3], ref[..., :3], atol=2e-5)  # 1/50 of a 10-bit code
    np.testing.assert_allclose(got[..., 3], ref[..., 3], rtol=1e-4, atol=1e-3)
    assert ref[..., 3].max() >= (202.9 if model == "naive" else 250)  # up to (past) paper white
    assert ref[..., 0].max() > 0.55 and ref[..., 1].min() < -0.05 and ref[..., 2].max() > 0.05
