import pytest
import torch
import torch.nn.functional as F

from gaitedge.models.layers import (
    FocalConv2d,
    GeMHPP,
    GLConv,
    HorizontalPoolingPyramid,
    SeparateBNNecks,
    SeparateFCs,
    SetBlock,
    TemporalFeatureAggregator,
    temporal_max,
)


def test_glconv_local_branch_equals_split_loop():
    m = GLConv(4, 6, halving=2)
    x = torch.randn(2, 4, 3, 16, 5)
    g = m.global_conv3d(x)
    lo = torch.cat([m.local_conv3d(t) for t in x.split(4, dim=3)], dim=3)
    torch.testing.assert_close(m(x), F.leaky_relu(g) + F.leaky_relu(lo))
    m.fm_sign = True
    torch.testing.assert_close(m(x), F.leaky_relu(torch.cat([g, lo], dim=3)))
    assert m(x).shape == (2, 6, 3, 32, 5)


def test_focal_conv_equals_split_loop():
    m = FocalConv2d(3, 5, 3, halving=3, padding=1)
    x = torch.randn(2, 3, 32, 7)
    ref = torch.cat([m.conv(t) for t in x.split(4, dim=2)], dim=2)
    torch.testing.assert_close(m(x), ref)


def test_strip_count_must_divide_height():
    with pytest.raises(ValueError, match="not divisible into 8 strips"):
        GLConv(1, 2, halving=3)(torch.randn(1, 1, 3, 12, 4))


def test_gem_matches_formula_and_grad_reaches_p():
    m = GeMHPP(bin_num=(4,), p=3.0)
    x = torch.rand(2, 3, 8, 5) + 0.1
    expected = (x.reshape(2, 3, 4, 10) ** 3).mean(-1) ** (1 / 3)
    out = m(x)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert m.p.grad is not None and m.p.grad.abs().item() > 0


def test_hpp_is_mean_plus_max_per_bin():
    x = torch.randn(2, 3, 4, 2)
    out = HorizontalPoolingPyramid((2, 1))(x)
    assert out.shape == (2, 3, 3)
    top = x[:, :, :2].reshape(2, 3, -1)
    torch.testing.assert_close(out[..., 0], top.mean(-1) + top.max(-1)[0])
    whole = x.reshape(2, 3, -1)
    torch.testing.assert_close(out[..., 2], whole.mean(-1) + whole.max(-1)[0])
    with pytest.raises(ValueError, match="3 horizontal bins"):
        HorizontalPoolingPyramid((3,))(x)


def test_separate_fcs_is_per_part_matmul():
    m = SeparateFCs(5, 4, 3)
    x = torch.randn(2, 4, 5)
    torch.testing.assert_close(m(x), torch.einsum("ncp,pcd->ndp", x, m.fc_bin))


def test_bnnecks_shapes_and_normalised_features():
    m = SeparateBNNecks(5, 4, 7)
    feat, logits = m(torch.randn(3, 4, 5))
    assert feat.shape == (3, 4, 5) and logits.shape == (3, 7, 5)
    torch.testing.assert_close(feat.norm(dim=1), torch.ones(3, 5))


def test_temporal_max_per_segment():
    x = torch.randn(1, 2, 5, 3)
    out = temporal_max(x, [2, 3], dim=2)
    torch.testing.assert_close(out, torch.cat([x[:, :, :2].max(2)[0], x[:, :, 2:].max(2)[0]]))
    torch.testing.assert_close(temporal_max(x, None, dim=2), x.max(2)[0])


def test_set_block_is_framewise():
    conv = torch.nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(2, 2, 4, 6, 5)
    out = SetBlock(conv)(x)
    assert out.shape == (2, 3, 4, 6, 5)
    torch.testing.assert_close(out[:, :, 1], conv(x[:, :, 1]))


def test_mcm_shapes_and_independence_of_parts():
    m = TemporalFeatureAggregator(8, squeeze=4, parts_num=3)
    x = torch.randn(2, 8, 6, 3)
    out = m(x)
    assert out.shape == (2, 8, 3)
    x2 = x.clone()
    x2[..., 2] += 1.0  # only part 2 changes
    out2 = m(x2)
    torch.testing.assert_close(out2[..., :2], out[..., :2])
    assert not torch.allclose(out2[..., 2], out[..., 2])
    with pytest.raises(ValueError, match="expected 3 parts"):
        m(torch.randn(1, 8, 4, 2))
