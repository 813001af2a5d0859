"""align_boxes / gait_align / gait_edge_align vs the independent pure-PyTorch reference, both modes."""

import contextlib
import json
import os
import subprocess
import sys

import pytest
import torch
from torch.library import opcheck

import gaitedge.ops as ops
from gaitedge.nn import GaitAlign, GaitEdgeAlign, GaitSynthesis
from gaitedge.ops import _reference as ref
from tests.utils import DEVICES, FLOAT_DTYPES, MASK_DTYPES, edge_case_silhouettes, float_bits, random_silhouettes

MODES = ["opengait", "exact"]
# sampling positions and weights are float32 on every path (torchvision's fp32 arithmetic), accumulation is float64
# for float64 inputs: float64 results agree with the float64 reference to float32 weight rounding.
TOL = {torch.float64: 1e-6, torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 2e-2}


def _case(device, n=6, h=40, w=32, seed=0):
    mask = torch.cat([random_silhouettes(n, h, w, seed, p_noise=0.0), edge_case_silhouettes(h, w)])
    g = torch.Generator().manual_seed(seed + 1)
    ratio = 0.2 + torch.rand(mask.shape[0], generator=g) * 1.0  # spans r < 0.52 and r >= 0.6875
    return mask.to(device), ratio.to(device)


# --- OpenGait's numbers (notes/opengait.md §9.5), 128 x 128 frames, mask == feature map ------------------------------


def _rect(rows, cols):
    m = torch.zeros(1, 1, 128, 128)
    m[..., rows[0] : rows[1], cols[0] : cols[1]] = 1
    return m


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "mask, r, total, cols",
    [
        (torch.ones(1, 1, 128, 128), 0.35, 2095.45, (5, 37)),
        (torch.ones(1, 1, 128, 128), 0.6, 2458.67, None),
        (torch.ones(1, 1, 128, 128), 1.0, 2805.01, None),
        (_rect((20, 108), (54, 74)), 0.6875, 636.72, (17, 26)),
        (_rect((0, 128), (0, 20)), 0.6875, None, (10, 18)),
        (_rect((0, 128), (108, 128)), 0.6875, None, (25, 33)),
        (torch.zeros(1, 1, 128, 128), 0.5, 0.0, None),
    ],
)
def test_opengait_numbers(device, mask, r, total, cols):
    mask = mask.to(device)
    out = ops.gait_align(mask, mask, torch.tensor([r], device=device))
    if total is not None:
        assert abs(float(out.sum()) - total) < 1e-2
    if cols is not None:
        on = torch.nonzero(out[0, 0].mean(0) > 0.5).flatten()
        assert (int(on.min()), int(on.max())) == cols


def test_opengait_border_boxes():
    # OpenGait's padded-coordinate boxes (0, 0, 95, 128) and (75, 0, 172, 128), minus the 22-column pad
    left, right = _rect((0, 128), (0, 20)), _rect((0, 128), (108, 128))
    boxes = ops.align_boxes(torch.cat([left, right]), torch.tensor([0.6875, 0.6875]))
    torch.testing.assert_close(boxes, torch.tensor([[-22.0, 0, 73, 128], [53, 0, 150, 128]]))


def test_exact_mode_keeps_aspect_and_centre():
    full = torch.ones(3, 1, 128, 128)
    out = ops.gait_align(full, full, torch.tensor([0.35, 0.6, 0.25]), mode="exact")
    widths = out[:, 0].sum((1, 2)) / 64  # person is 64 rows tall, so mass / 64 is its width
    torch.testing.assert_close(widths, torch.tensor([0.35, 0.6, 0.25]) * 64, atol=0.05, rtol=0)
    # a mask touching the left border stays centred (OpenGait's clamp pushes it to columns 10-18)
    left = _rect((0, 128), (0, 20))
    out = ops.gait_align(left, left, torch.tensor([0.6875]), mode="exact")
    col_mass = out[0, 0].sum(0)
    centre = float((col_mass * torch.arange(44)).sum() / col_mass.sum())
    assert abs(centre - 21.5) < 0.1
    # empty mask: zero box, zero output
    empty = torch.zeros(1, 1, 32, 32)
    assert torch.equal(ops.align_boxes(empty, torch.tensor([0.5]), mode="exact"), torch.zeros(1, 4))
    assert not ops.gait_align(torch.ones(1, 1, 32, 32), empty, torch.tensor([0.5]), mode="exact").any()


# --- parity with the reference ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mask_dtype", MASK_DTYPES)
def test_boxes_match_reference(device, mode, mask_dtype):
    mask, ratio = _case(device)
    got = ops.align_boxes(mask.to(mask_dtype), ratio, mode=mode)
    want = ref.align_boxes(mask.to(mask_dtype), ratio, mode=mode)
    assert torch.equal(got, want)


@pytest.mark.parametrize("device", DEVICES)
def test_fractional_mask_boxes(device):
    # "opengait" uses raw values (eps row test on fractional sums); "exact" binarises at 0.5
    g = torch.Generator().manual_seed(3)
    mask = (torch.rand(5, 1, 24, 20, generator=g) * 0.3).to(device)
    mask[:, :, 5:19, 6:13] += 0.6
    ratio = torch.full((5,), 0.55, device=device)
    for mode in MODES:
        assert torch.equal(ops.align_boxes(mask, ratio, mode=mode), ref.align_boxes(mask, ratio, mode=mode))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("out_size", [(64, 44), (16, 11), (7, 5)])
def test_gait_align_matches_reference(device, mode, dtype, out_size):
    mask, ratio = _case(device, seed=sum(out_size))
    x = torch.rand(mask.shape[0], 3, *mask.shape[2:], generator=torch.Generator().manual_seed(5)).to(device, dtype)
    got = ops.gait_align(x, mask, ratio, out_size, mode=mode)
    want = ref.gait_align(x, mask, ratio, out_size, mode=mode)
    assert got.dtype == dtype and got.shape == (mask.shape[0], 3, *out_size)
    torch.testing.assert_close(got, want, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("sil_dtype", [torch.uint8, torch.float32])
def test_gait_edge_align_matches_reference(device, mode, dtype, sil_dtype):
    mask, ratio = _case(device, seed=9)
    sil = mask.to(sil_dtype)
    prob = torch.rand(mask.shape, generator=torch.Generator().manual_seed(2)).to(device, dtype)
    for k in (3, 7):
        got = ops.gait_edge_align(prob, sil, ratio, k, (32, 22), mode=mode)
        want = ref.gait_edge_align(prob, sil, ratio, k, (32, 22), mode=mode)
        torch.testing.assert_close(got, want, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_bool_mask_is_bitwise_a_float_01_mask(device, mode, dtype):
    # GaitEdge passes round(P) as a bool mask (cheaper to read, integer box sums): outputs and gradients must be
    # those of the same mask as 0/1 floats, bit for bit
    mask, ratio = _case(device, seed=21)
    mask = mask > 0.5
    prob = torch.rand(mask.shape, generator=torch.Generator().manual_seed(5)).to(device, dtype).requires_grad_(True)
    g = torch.randn(mask.shape[0], 1, 32, 22, generator=torch.Generator().manual_seed(6)).to(device, dtype)
    for fn in (lambda m: ops.gait_edge_align(prob, m, ratio, 3, (32, 22), mode=mode),
               lambda m: ops.gait_align(prob, m, ratio, (32, 22), mode=mode)):
        a, b = fn(mask), fn(mask.to(dtype))
        assert torch.equal(a, b)
        assert torch.equal(torch.autograd.grad(a, prob, g)[0], torch.autograd.grad(b, prob, g)[0])


@pytest.mark.parametrize("device", DEVICES)
def test_exact_mode_boxes_far_wider_than_the_frame(device):
    # a tiny width/height ratio: the exact-mode window spans thousands of frame widths, so each output bin takes
    # hundreds of samples (the kernels visit only those that reach the frame; the result must not change)
    mask, _ = _case(device, n=3, h=40, w=36, seed=12)
    ratio = torch.tensor([1e-3, 4e-3, 0.02] + [5e-3] * (mask.shape[0] - 3), device=device)
    prob = torch.rand(mask.shape, dtype=torch.float64, device=device, requires_grad=True)
    prob_r = prob.detach().clone().requires_grad_(True)
    got = ops.gait_edge_align(prob, mask, ratio, 3, (16, 11), mode="exact")
    want = ref.gait_edge_align(prob_r, mask, ratio, 3, (16, 11), mode="exact")
    torch.testing.assert_close(got, want)
    g = torch.randn_like(got)
    torch.testing.assert_close(torch.autograd.grad(got, prob, g)[0], torch.autograd.grad(want, prob_r, g)[0])
    # absurd ratios: no crash, no hang, and a window this wide samples the frame almost nowhere
    out = ops.gait_edge_align(prob.detach(), mask, torch.full_like(ratio, 1e-30), 3, (16, 11), mode="exact")
    assert out.isfinite().all() and out.abs().max() < 1e-6


@pytest.mark.parametrize("device", DEVICES)
def test_fused_equals_composition(device):
    mask, ratio = _case(device, h=128, w=128, seed=4)
    prob = torch.rand(mask.shape, device=device)
    for mode in MODES:
        fused = ops.gait_edge_align(prob, mask, ratio, 3, mode=mode)
        composed = ops.gait_align(ops.gait_synthesis(prob, mask, 3), mask, ratio, mode=mode)
        torch.testing.assert_close(fused, composed, rtol=1e-6, atol=1e-6)


# --- layouts, sizes, layers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_non_contiguous_and_empty(device):
    mask, ratio = _case(device)
    x = torch.rand(mask.shape[0], 4, mask.shape[3], mask.shape[2], device=device).transpose(2, 3)[:, ::2]
    assert not x.is_contiguous()
    torch.testing.assert_close(ops.gait_align(x, mask, ratio), ref.gait_align(x, mask, ratio), rtol=1e-5, atol=1e-5)
    x0 = torch.zeros(0, 2, 16, 16, device=device, requires_grad=True)
    m0 = torch.zeros(0, 1, 16, 16, device=device)
    out = ops.gait_align(x0, m0, torch.zeros(0, device=device))
    assert out.shape == (0, 2, 64, 44)
    out.sum().backward()
    assert x0.grad.shape == x0.shape
    assert ops.gait_edge_align(x0[:, :1], m0, torch.zeros(0, device=device)).shape == (0, 1, 64, 44)


def test_layers_drop_in():
    mask, ratio = _case("cpu", h=64, w=64)
    prob = torch.rand(mask.shape)
    # OpenGait's signature: GaitAlign(H, W, eps)(feature_map, binary_mask, w_h_ratio [n, 1])
    layer = GaitAlign(64, 44, 1)
    out = layer(prob, mask, ratio.view(-1, 1))
    torch.testing.assert_close(out, ops.gait_align(prob, mask, ratio))
    ref_layer = GaitAlign(backend="reference")
    torch.testing.assert_close(ref_layer(prob, mask, ratio), out, rtol=1e-5, atol=1e-5)
    fused = GaitEdgeAlign()(prob, mask, ratio)
    torch.testing.assert_close(fused, layer(GaitSynthesis()(prob, mask), mask, ratio), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="backend"):
        GaitAlign(backend="triton")


# --- gradients --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", MODES)
def test_gradcheck(device, mode):
    mask, ratio = _case(device, n=2, h=18, w=14)
    x = torch.rand(mask.shape[0], 2, 18, 14, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: ops.gait_align(x, mask, ratio, (9, 7), mode=mode), (x,))
    p = torch.rand(mask.shape, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: ops.gait_edge_align(p, mask, ratio, 3, (9, 7), mode=mode), (p,))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", MODES)
def test_adjoint(device, mode):
    # <A p, g> = <p, A^T g>: the forward and the gather backward are exact transposes
    mask, ratio = _case(device, h=64, w=48, seed=8)
    p = torch.randn(mask.shape[0], 2, 64, 48, dtype=torch.float64, device=device, requires_grad=True)
    g = torch.randn(mask.shape[0], 2, 64, 44, dtype=torch.float64, device=device)
    out = ops.gait_align(p, mask, ratio, mode=mode)
    (at_g,) = torch.autograd.grad(out, p, g)
    torch.testing.assert_close((out * g).sum(), (p * at_g).sum(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_gradient_matches_reference_and_reaches_only_edges(device):
    mask, ratio = _case(device, h=64, w=48, seed=6)
    prob = torch.rand(mask.shape, device=device, dtype=torch.float64, requires_grad=True)
    prob_r = prob.detach().clone().requires_grad_(True)
    g = torch.randn(mask.shape[0], 1, 64, 44, dtype=torch.float64, device=device)
    ops.gait_edge_align(prob, mask, ratio).backward(g)
    ref.gait_edge_align(prob_r, mask, ratio).backward(g)
    torch.testing.assert_close(prob.grad, prob_r.grad)
    edge, _ = ops.edge_masks(mask)
    assert not prob.grad[~edge].any()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("h, w", [(64, 48), (96, 150)])  # one bit word per row; three, with a ragged last one
def test_edge_align_non_finite_values_propagate_like_the_composite(device, mode, h, w):
    # The CPU kernels only form Ms (forward) and grad_prob (backward) over the columns the silhouette spans, which
    # is exact for finite values; inf/NaN outside that span must still reach the result as 0 * NaN does in
    # gait_align(gait_synthesis(...)).
    sil = torch.zeros(2, 1, h, w, dtype=torch.uint8)
    sil[:, :, h // 6 : h - h // 8, w // 3 : w // 3 + w // 5] = 1
    sil, ratio = sil.to(device), torch.tensor([0.4, 0.5], device=device)
    prob = torch.rand(2, 1, h, w, dtype=torch.float64, device=device)
    prob[0, 0, h // 2, 2] = float("nan")  # outside the person, in a row the box samples
    prob[1, 0, h // 2 + 3, w - 3] = float("inf")
    out = ops.gait_edge_align(prob, sil, ratio, 3, (32, 22), mode=mode)
    expect = ref.gait_edge_align(prob, sil, ratio, 3, (32, 22), mode=mode)
    assert torch.isnan(out).any()
    torch.testing.assert_close(out, expect, equal_nan=True)

    p = torch.rand(2, 1, h, w, dtype=torch.float64, device=device, requires_grad=True)
    p_r = p.detach().clone().requires_grad_(True)
    g = torch.randn(2, 1, 32, 22, dtype=torch.float64, device=device)
    g[0, 0, 5, 3], g[1, 0, 20, 10] = float("nan"), float("inf")
    (grad,) = torch.autograd.grad(ops.gait_edge_align(p, sil, ratio, 3, (32, 22), mode=mode), p, g)
    (grad_r,) = torch.autograd.grad(ref.gait_edge_align(p_r, sil, ratio, 3, (32, 22), mode=mode), p_r, g)
    assert torch.isnan(grad).any()
    torch.testing.assert_close(grad, grad_r, equal_nan=True)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_edge_align_wide_ragged_frames(device, mode, dtype):
    # frames wider than one 64-column bit word and not a multiple of 4: the column spans, nibble loops and
    # transposes all have ragged ends
    mask = random_silhouettes(5, 72, 150, seed=11, p_noise=0.0).to(device)
    ratio = torch.tensor([0.3, 0.45, 0.6, 0.8, 1.1], device=device)
    prob = torch.rand(mask.shape, dtype=dtype, device=device, requires_grad=True)
    prob_r = prob.detach().double().requires_grad_(True)
    g = torch.randn(5, 1, 64, 44, dtype=dtype, device=device)
    out = ops.gait_edge_align(prob, mask, ratio, mode=mode)
    expect = ref.gait_edge_align(prob_r, mask, ratio, mode=mode)
    torch.testing.assert_close(out, expect.to(dtype), atol=TOL[dtype], rtol=TOL[dtype])
    (grad,) = torch.autograd.grad(out, prob, g)
    (grad_r,) = torch.autograd.grad(expect, prob_r, g.double())
    torch.testing.assert_close(grad, grad_r.to(dtype), atol=TOL[dtype], rtol=TOL[dtype])


@pytest.mark.parametrize("device", DEVICES)
def test_backward_bitwise_deterministic(device):
    mask, ratio = _case(device, h=128, w=128, seed=2)
    x = torch.rand(mask.shape[0], 2, 128, 128, device=device, requires_grad=True)
    g = torch.randn(mask.shape[0], 2, 64, 44, device=device)
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        grads = []
        for _ in range(3):
            (gx,) = torch.autograd.grad(ops.gait_align(x, mask, ratio), x, g)
            (gp,) = torch.autograd.grad(ops.gait_edge_align(x[:, :1], mask, ratio), x, g[:, :1])
            grads.append((gx, gp))
    finally:
        torch.use_deterministic_algorithms(prev)
    for gx, gp in grads[1:]:
        assert torch.equal(gx, grads[0][0]) and torch.equal(gp, grads[0][1])


# --- registration -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("requires_grad", [False, True])
def test_opcheck(device, mode, requires_grad):
    mask, ratio = _case(device, n=2, h=20, w=16)
    x = torch.rand(mask.shape[0], 2, 20, 16, device=device, requires_grad=requires_grad)
    prob = torch.rand(mask.shape, device=device, requires_grad=requires_grad)
    opcheck(torch.ops.gaitedge.align_boxes.default, (mask, ratio, 8, 6, 1.0, mode))
    opcheck(torch.ops.gaitedge.gait_align.default, (x, mask, ratio, 8, 6, 1.0, mode))
    opcheck(torch.ops.gaitedge.gait_edge_align.default, (prob, mask.to(torch.uint8), ratio, 3, 8, 6, 1.0, mode))


def test_compile_fullgraph():
    torch._dynamo.reset()

    def step(prob, sil, ratio):
        return ops.gait_edge_align(prob.sigmoid(), sil, ratio, 3, (16, 11)).square().sum()

    mask, ratio = _case("cpu", n=2, h=32, w=24)
    prob = torch.randn(mask.shape, requires_grad=True)
    loss = torch.compile(step, fullgraph=True)(prob, mask, ratio)
    (g,) = torch.autograd.grad(loss, prob)
    prob2 = prob.detach().clone().requires_grad_(True)
    loss2 = step(prob2, mask, ratio)
    (g2,) = torch.autograd.grad(loss2, prob2)
    torch.testing.assert_close(loss, loss2)
    torch.testing.assert_close(g, g2)


# --- test_exception ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(ratio=torch.tensor([0.5, 0.0])), ValueError, "ratio"),
        (dict(ratio=torch.tensor([0.5, -1.0])), ValueError, "ratio"),
        (dict(ratio=torch.tensor([0.5, float("nan")])), ValueError, "ratio"),
        (dict(ratio=torch.tensor([0.5, float("inf")])), ValueError, "ratio"),
        (dict(ratio=torch.tensor([float("nan"), 0.5])), ValueError, "ratio"),
        (dict(ratio=torch.tensor([float("-inf"), 0.5])), ValueError, "ratio"),
        (dict(ratio=torch.tensor([[0.5], [float("inf")]], dtype=torch.float16)), ValueError, "ratio"),
        (dict(ratio=torch.tensor([0.5])), ValueError, "ratio must have shape"),
        (dict(ratio=torch.tensor([1, 1])), TypeError, "ratio must be floating"),
        (dict(mask=torch.ones(2, 1, 16, 15)), ValueError, "agree in N, H and W"),
        (dict(mask=torch.ones(3, 1, 16, 16)), ValueError, "agree in N, H and W"),
        (dict(mask=torch.ones(2, 2, 16, 16)), ValueError, "mask must have shape"),
        (dict(mask=torch.ones(2, 16, 16)), ValueError, "mask must have shape \\[N, 1, H, W\\]"),
        (dict(mask=torch.ones(2, 1, 1, 16, 16)), ValueError, "mask must have shape \\[N, 1, H, W\\]"),
        (dict(x=torch.ones(2, 16, 16)), ValueError, "x must have shape"),
        (dict(x=torch.ones(2, 1, 16, 16, dtype=torch.int32)), TypeError, "x must be float"),
        (dict(out_size=(0, 44)), ValueError, "out_size"),
        (dict(out_size=(64, -1)), ValueError, "out_size"),
        (dict(mode="torchvision"), ValueError, "mode"),
        (dict(eps=float("nan")), ValueError, "eps"),
        (dict(out_size=(2**32 + 64, 44)), ValueError, "out_size"),
        (dict(out_size=(64, 2**31)), ValueError, "out_size"),
        (dict(out_size=(2**31 - 1, 2**31 - 1)), ValueError, "out_size"),
        (dict(out_size=2**40), ValueError, "out_size"),
        (dict(out_size=None), TypeError, "out_size"),
        (dict(out_size=(True, 44)), TypeError, "out_size"),
        (dict(out_size=True), TypeError, "out_size"),
        (dict(out_size=(64.0, 44)), TypeError, "out_size"),
        (dict(out_size=(64, 44, 1)), ValueError, "out_size"),
        (dict(out_size="64x44"), TypeError, "out_size"),
        (dict(eps=None), TypeError, "eps"),
        (dict(mode=None), TypeError, "mode"),
        (dict(mask=torch.ones(2, 1, 16, 16).to(torch.float8_e4m3fn)), TypeError, "mask must be bool, uint8"),
        (dict(ratio=torch.tensor([0.5, 0.7]).to(torch.float8_e4m3fn)), TypeError, "ratio must be"),
        (dict(x=torch.ones(2, 1, 16, 16).to(torch.float8_e5m2)), TypeError, "x must be float"),
    ],
)
def test_exception(kwargs, exc, match):
    args = dict(x=torch.rand(2, 1, 16, 16), mask=torch.ones(2, 1, 16, 16), ratio=torch.tensor([0.5, 0.7]),
                out_size=(8, 6), eps=1.0, mode="opengait")
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        ops.gait_align(**args)


@pytest.mark.parametrize("fake", [False, True], ids=["kernel", "fake"])
def test_rank3_mask_message_matches_siblings(fake):
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode() if fake else contextlib.nullcontext():
        x, mask, ratio = torch.rand(2, 1, 16, 16), torch.ones(2, 16, 16), torch.full((2,), 0.5)
        for call in (lambda: ops.gait_align(x, mask, ratio), lambda: ops.align_boxes(mask, ratio),
                     lambda: ops.gait_edge_align(x, mask, ratio)):
            with pytest.raises(ValueError, match=r"must have shape \[N, 1, H, W\]"):
                call()


@pytest.mark.parametrize("fake", [False, True], ids=["kernel", "fake"])
@pytest.mark.parametrize("op", ["gait_align", "gait_edge_align"])
def test_total_output_size_is_bounded(op, fake):
    # every side is in range, but N * C * H * W is not: refused before anything is allocated (x is a broadcast view)
    from torch._subclasses.fake_tensor import FakeTensorMode

    from gaitedge.ops import _checks

    n, c, out = 2**12, 2**8 if op == "gait_align" else 1, (2**11, 2**11)
    assert n * c * out[0] * out[1] > _checks.MAX_OUTPUT_ELEMENTS
    with FakeTensorMode() if fake else contextlib.nullcontext():
        x = torch.zeros(1, 1, 1, 1).expand(n, c, 16, 16)
        mask = torch.ones(1, 1, 1, 1).expand(n, 1, 16, 16)
        ratio = torch.full((1,), 0.5).expand(n)
        call = (lambda: ops.gait_align(x, mask, ratio, out)) if op == "gait_align" else \
            (lambda: ops.gait_edge_align(x, mask, ratio, 3, out))
        with pytest.raises(ValueError, match=f"more than {_checks.MAX_OUTPUT_ELEMENTS} elements"):
            call()
    _checks.check_output_elements(1, 1, 2**16, 2**16)  # exactly the bound is allowed
    with pytest.raises(ValueError):
        _checks.check_output_elements(1, 2, 2**16, 2**16)


@pytest.mark.parametrize("device", DEVICES)
def test_strided_ratio_is_read_in_place(device):
    # ratio is checked where it lies: a strided view reads its own elements, not its neighbours (here NaN)
    mask = torch.ones(2, 1, 16, 16, device=device)
    x = torch.rand(2, 1, 16, 16, device=device)
    base = torch.tensor([[0.5, float("nan")], [0.7, float("nan")]], device=device)
    want = ops.gait_align(x, mask, torch.tensor([0.5, 0.7], device=device), (8, 6))
    for ratio in (base[:, 0], base[:, :1], base[:, 0].half()):
        assert not ratio.is_contiguous() or ratio.dtype == torch.float16
        torch.testing.assert_close(ops.gait_align(x, mask, ratio, (8, 6)), want, atol=2e-3, rtol=0)


@pytest.mark.parametrize("op, args", [
    ("align_boxes", lambda m, r, x, h, w: (m, r, h, w, 1.0, "opengait")),
    ("gait_align", lambda m, r, x, h, w: (x, m, r, h, w, 1.0, "opengait")),
    ("gait_edge_align", lambda m, r, x, h, w: (x, m, r, 3, h, w, 1.0, "opengait")),
])
@pytest.mark.parametrize("hw", [(2**32 + 64, 44), (64, 2**32 + 44), (2**31, 1), (-(2**32) + 64, 44)])
def test_raw_ops_reject_sizes_past_32_bits(op, args, hw):
    # the registered ops take int64 sizes: a value that does not fit the kernels' 32-bit sizes is an error
    # naming out_size, never a silently truncated (or gigantic, partly computed) result
    m, r, x = torch.ones(1, 1, 16, 16), torch.tensor([0.5]), torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError, match="out_size"):
        getattr(torch.ops.gaitedge, op)(*args(m, r, x, *hw))


def test_exception_edge_align():
    sil, ratio = torch.ones(2, 1, 16, 16), torch.tensor([0.5, 0.7])
    with pytest.raises(TypeError, match="kernel_size"):
        ops.gait_edge_align(torch.rand(2, 1, 16, 16), sil, ratio, kernel_size=True)
    with pytest.raises(TypeError, match="sil must be bool, uint8"):
        ops.gait_edge_align(torch.rand(2, 1, 16, 16), sil.to(torch.float8_e4m3fn), ratio)
    with pytest.raises(ValueError, match="kernel_size"):
        ops.gait_edge_align(torch.rand(2, 1, 16, 16), sil, ratio, kernel_size=2)
    with pytest.raises(ValueError, match="same shape"):
        ops.gait_edge_align(torch.rand(2, 1, 16, 17), sil, ratio)
    with pytest.raises(ValueError, match="ratio"):
        ops.gait_edge_align(torch.rand(2, 1, 16, 16), sil, torch.tensor([0.5, -0.7]))


# --- CPU <-> CUDA -----------------------------------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize("mode", MODES)
def test_cpu_cuda_parity(mode):
    mask, ratio = _case("cpu", n=32, h=128, w=128, seed=12)
    prob = torch.rand(mask.shape)
    assert torch.equal(ops.align_boxes(mask, ratio, mode=mode), ops.align_boxes(mask.cuda(), ratio.cuda(), mode=mode).cpu())
    cpu = ops.gait_edge_align(prob, mask, ratio, mode=mode)
    gpu = ops.gait_edge_align(prob.cuda(), mask.cuda(), ratio.cuda(), mode=mode).cpu()
    torch.testing.assert_close(cpu, gpu, rtol=1e-5, atol=1e-6)


def _run_with_capability(script, tmp_path):
    """Runs ``script OUT`` in a fresh process with ATen's CPU capability as the CPU allows (ATEN_CPU_CAPABILITY
    unset) and at ``default`` (both read once per process); returns each run's saved tensors and its
    ``gaitedge._C.cpu_vector_routes()``."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    results = []
    for capability in (None, "default"):
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("ATEN_CPU_CAPABILITY", None)
        if capability:
            env["ATEN_CPU_CAPABILITY"] = capability
        out = tmp_path / f"r{capability}.pt"
        subprocess.run([sys.executable, str(script), str(out)], check=True, env=env, cwd=root, timeout=300)
        results.append(torch.load(out))
    return results


def test_large_cpu_outputs_with_hugepage_hint_match_the_reference():
    # Outputs of 4 MiB and more get a huge-page hint before the kernel writes them (csrc/cpu/large_output.h);
    # here every output and gradient is at least 5 MiB, so each took that allocation path.
    m = random_silhouettes(80, 128, 128, seed=5)
    p = torch.rand(m.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64).requires_grad_(True)
    r = torch.linspace(0.3, 1.0, 80, dtype=torch.float64)
    go = torch.randn(80, 1, 64, 44, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = ops.gait_edge_align(p, m, r)
    (g,) = torch.autograd.grad(out, p, go)
    want = ref.gait_edge_align(p, m, r)
    (g_want,) = torch.autograd.grad(want, p, go)
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(g, g_want)
    torch.testing.assert_close(ops.gait_synthesis(p.detach(), m), ref.gait_synthesis(p.detach(), m))


@pytest.mark.parametrize("dtype,specials", [
    ("half", "[6.1e-5, 5.96e-8, 1e-7, 65504.0, 1.0009765625, 0.333]"),
    ("bfloat16", "[9.2e-41, 1.2e-38, 3.38e38, 1.0078125, 0.333, -0.0]"),
])
def test_cpu_vector_conversion_path_is_bitwise_the_baseline(tmp_path, dtype, specials):
    # fp16 rows are converted with F16C when the CPU has it, bf16 rows with AVX2 (csrc/cpu/half_rows.h);
    # ATEN_CPU_CAPABILITY=default forces the baseline (c10::Half in software, SSE2 for bf16). Same bits everywhere,
    # rounding boundaries, subnormals and inf included (NaN only as NaN: its payload is not specified). gait_align's
    # bilinear samples between two inputs are midpoints, so its outputs hit the round-to-nearest-even ties.
    # The inputs are made here, not in the runs: ATen's own kernels follow the capability too (linspace does).
    dt = getattr(torch, dtype)
    m = random_silhouettes(24, 64, 52, seed=7)
    p = torch.rand(m.shape, generator=torch.Generator().manual_seed(3)).to(dt)
    p.view(-1)[:400] = torch.tensor(json.loads(specials) * 66 + [1.0] * 4).to(dt)
    p[3, 0, 30, 20] = float("inf")
    p[5, 0, 31, 21] = float("nan")
    go = torch.randn(24, 1, 32, 22, generator=torch.Generator().manual_seed(4)).to(dt) * 3e4
    torch.save({"p": p, "sils": [m, m.to(dt), m.bool()], "r": torch.linspace(0.3, 1.0, 24), "go": go,
                "gs": torch.full_like(p, 0.1)}, tmp_path / "inputs.pt")
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, torch, gaitedge.ops as ops\n"
        f"x = torch.load({str(tmp_path / 'inputs.pt')!r})\n"
        "p, r, go = x['p'].requires_grad_(True), x['r'], x['go']\n"
        "res = []\n"
        "for sil in x['sils']:\n"
        "    for mode in ('opengait', 'exact'):\n"
        "        out = ops.gait_edge_align(p, sil, r, 3, (32, 22), mode=mode)\n"
        "        res += [out.detach(), torch.autograd.grad(out, p, go)[0]]\n"
        "        out = ops.gait_align(p, sil, r, (32, 22), mode=mode)\n"
        "        res += [out.detach(), torch.autograd.grad(out, p, go)[0]]\n"
        "    s = ops.gait_synthesis(p, sil, 5)\n"
        "    res += [s.detach(), torch.autograd.grad(s, p, x['gs'])[0]]\n"
        "torch.save(res, sys.argv[1])\n")
    on, off = _run_with_capability(script, tmp_path)
    for a, b in zip(on, off):
        assert torch.equal(a.isnan(), b.isnan())
        assert torch.equal(a.nan_to_num(0.0).view(torch.int16), b.nan_to_num(0.0).view(torch.int16))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("sil_dtype", [torch.bool, torch.float32])
def test_cpu_16bit_is_the_fp32_computation_rounded_once(dtype, sil_dtype):
    # 16-bit inputs are widened exactly and every op computes in fp32, so a 16-bit result must be the fp32 result
    # for the same (widened) inputs, rounded once: bit for bit, whichever conversion path (F16C, SSE2, software) ran
    mask, ratio = _case("cpu", h=64, w=52, seed=13)
    sil = mask.to(sil_dtype)
    p16 = torch.rand(mask.shape, generator=torch.Generator().manual_seed(8)).to(dtype)
    p16.view(-1)[:6] = torch.tensor([1e-8, 3e-5, 65000.0, 1.00390625, 0.3330078125, -0.0]).to(dtype)
    g16 = (torch.randn(mask.shape[0], 1, 32, 22, generator=torch.Generator().manual_seed(9)) * 100).to(dtype)
    gs16 = torch.randn(mask.shape, generator=torch.Generator().manual_seed(10)).to(dtype)
    calls = [
        lambda p, s: ops.gait_edge_align(p, s, ratio, 3, (32, 22)),
        lambda p, s: ops.gait_edge_align(p, s, ratio, 5, (32, 22), mode="exact"),
        lambda p, s: ops.gait_align(p, s, ratio, (32, 22)),
    ]
    for fn in calls:
        p32 = p16.detach().float().requires_grad_(True)
        a16, a32 = fn(p16.requires_grad_(True), sil), fn(p32, sil)
        assert torch.equal(a16, a32.to(dtype))
        (d16,) = torch.autograd.grad(a16, p16, g16)
        (d32,) = torch.autograd.grad(a32, p32, g16.float())
        assert torch.equal(d16, d32.to(dtype))
    s16 = ops.gait_synthesis(p16.detach(), sil, 3)
    assert torch.equal(s16, ops.gait_synthesis(p16.detach().float(), sil, 3).to(dtype))
    b16 = torch.ops.gaitedge._gait_synthesis_backward(gs16, sil, 3, 0.5)
    assert torch.equal(b16, torch.ops.gaitedge._gait_synthesis_backward(gs16.float(), sil, 3, 0.5).to(dtype))


# --- frame isolation --------------------------------------------------------------------------------------------------


def _edge_align_grad(prob, sil, ratio, g, mode):
    p = prob.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(ops.gait_edge_align(p, sil, ratio, mode=mode), p, g)
    return grad


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("w", [44, 88, 130, 64, 128, 200])  # not multiples of 64 leave padding bits in the last word
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_edge_align_backward_is_frame_isolated(mode, w, dtype):
    # A frame's gradient is a function of that frame alone: bitwise (sign of zero included) the same computed
    # alone, in any batch, in any order and at any thread count, even when a neighbour's gradient holds inf/NaN
    # (per-thread scratch reused across frames must never leak into the next one).
    n = 5
    sil = random_silhouettes(n, 64, w, seed=w, p_noise=0.0).to(torch.uint8)
    prob = torch.rand(n, 1, 64, w, generator=torch.Generator().manual_seed(1)).to(dtype)
    ratio = torch.tensor([0.35, 0.5, 0.8, 0.45, 1.2])
    g = torch.randn(n, 1, 64, 44, generator=torch.Generator().manual_seed(2)).to(dtype)
    g[0, 0, 7, 9], g[2, 0, 30, 20], g[3, 0, 0, 0] = float("nan"), float("inf"), float("-inf")
    alone = [_edge_align_grad(prob[i : i + 1], sil[i : i + 1], ratio[i : i + 1], g[i : i + 1], mode)[0]
             for i in range(n)]
    threads = torch.get_num_threads()
    try:
        for t in (1, 2):
            torch.set_num_threads(t)
            for order in (list(range(n)), list(reversed(range(n))), [1, 3, 0, 4, 2]):
                batch = _edge_align_grad(prob[order], sil[order], ratio[order], g[order], mode)
                for k, i in enumerate(order):
                    assert torch.equal(float_bits(batch[k]), float_bits(alone[i])), (t, order, i)
    finally:
        torch.set_num_threads(threads)
    assert not alone[1].isnan().any() and not alone[4].isnan().any()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("w", [44, 130])
def test_align_backward_is_frame_isolated(mode, w):
    n = 4
    mask = random_silhouettes(n, 48, w, seed=3, p_noise=0.0)
    x = torch.rand(n, 2, 48, w, generator=torch.Generator().manual_seed(4))
    ratio = torch.tensor([0.3, 0.6, 0.9, 0.5])
    g = torch.randn(n, 2, 64, 44, generator=torch.Generator().manual_seed(5))
    g[0, 1, 3, 3] = float("nan")

    def grad(idx):
        xx = x[idx].clone().requires_grad_(True)
        return torch.autograd.grad(ops.gait_align(xx, mask[idx], ratio[idx], mode=mode), xx, g[idx])[0]

    alone = [grad([i])[0] for i in range(n)]
    threads = torch.get_num_threads()
    try:
        for t in (1, 2):
            torch.set_num_threads(t)
            order = [3, 1, 0, 2]
            batch = grad(order)
            for k, i in enumerate(order):
                assert torch.equal(float_bits(batch[k]), float_bits(alone[i]))
    finally:
        torch.set_num_threads(threads)


# --- non-finite values -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_pixels_follow_the_documented_rule(device, mode, value):
    # The rule: a pixel reaches an output through the bilinear taps of that output's samples; a tap whose weight is
    # exactly zero (a sample on a pixel centre, or beyond the border) contributes nothing, even inf/NaN. One frame
    # per input pixel, that pixel set to inf/NaN: the op, its backward and the reference agree on every output.
    h, w, out = 12, 10, (6, 5)
    mask = torch.zeros(1, 1, h, w)
    mask[..., 2:11, 3:8] = 1
    frames = h * w
    mask = mask.expand(frames, 1, h, w).contiguous().to(device)
    ratio = torch.full((frames,), 0.45, device=device)
    x = torch.rand(1, 1, h, w, dtype=torch.float64).expand(frames, 1, h, w).clone()
    x.view(frames, -1)[torch.arange(frames), torch.arange(frames)] = value
    x = x.to(device)
    got = ops.gait_align(x, mask, ratio, out, mode=mode)
    want = ref.gait_align(x, mask, ratio, out, mode=mode)
    assert torch.equal(got.isnan(), want.isnan()) and torch.equal(got.isinf(), want.isinf())
    assert got.isnan().any() or got.isinf().any()
    torch.testing.assert_close(got, want, equal_nan=True)

    # the backward: inf/NaN in G reaches exactly the pixels whose taps have non-zero weight
    xg = torch.rand(frames, 1, h, w, dtype=torch.float64, device=device, requires_grad=True)
    xr = xg.detach().clone().requires_grad_(True)
    g = torch.rand(frames, 1, *out, dtype=torch.float64)
    g.view(frames, -1)[torch.arange(frames), torch.arange(frames) % (out[0] * out[1])] = value
    g = g.to(device)
    (gx,) = torch.autograd.grad(ops.gait_align(xg, mask, ratio, out, mode=mode), xg, g)
    (gr,) = torch.autograd.grad(ref.gait_align(xr, mask, ratio, out, mode=mode), xr, g)
    assert torch.equal(gx.isnan(), gr.isnan()) and torch.equal(gx.isinf(), gr.isinf())
    torch.testing.assert_close(gx, gr, equal_nan=True)


# --- OpenGait's float32 arithmetic on soft masks ----------------------------------------------------------------------


def _opengait_stats(mask: torch.Tensor, eps: float = 1.0):
    """(h_top, h_bot, w_center) as OpenGait's GaitAlign computes them: float32 sums and cumulative sums of the raw
    mask (float64 for a float64 mask), written out independently of gaitedge's reference."""
    m = mask if mask.dtype == torch.float64 else mask.float()
    h_sum = m.sum(-1)  # [n, 1, h]
    cs = (h_sum >= eps).float().cumsum(-1)
    h_top = (cs == 0).float().sum(-1)
    h_bot = (cs != cs.max(-1, keepdim=True)[0]).float().sum(-1) + 1
    w_sum = m.sum(-2)  # [n, 1, w]
    w_center = (w_sum.cumsum(-1) < w_sum.sum(-1, keepdim=True) / 2.0).float().sum(-1)
    return h_top.flatten(), h_bot.flatten(), w_center.flatten()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_opengait_mode_soft_masks_use_opengaits_float32_sums(device, dtype):
    # A float32 cumulative sum is not the exact one: where the column mass ties at half, its rounding decides the
    # median column (a 0.4-valued block over columns 0-55 has it at 28 in float32 and 27 with exact sums).
    soft = torch.zeros(4, 1, 128, 128)
    soft[0, :, :, 0:56] = 0.4
    soft[1, :, 10:118, 3:63] = 0.4
    soft[2, :, 10:118, 30:90] = 0.08
    soft[3] = 0.4
    g = torch.Generator().manual_seed(7)
    noisy = torch.rand(6, 1, 128, 128, generator=g) * 0.3
    noisy[..., 20:110, 40:80] += 0.55
    masks = torch.cat([soft, noisy]).to(dtype)
    ratio = torch.linspace(0.3, 1.1, masks.shape[0])
    # on the device the op runs on: float32 reductions round differently on a GPU, and OpenGait there sees those
    h_top, h_bot, w_center = (s.cpu() for s in _opengait_stats(masks.to(device)))
    if dtype == torch.float32:  # the case really separates float32 from exact sums
        assert (_opengait_stats(masks)[2] != _opengait_stats(masks.double())[2]).sum() >= 2
    boxes = ops.align_boxes(masks.to(device), ratio.to(device)).cpu()
    assert torch.equal(boxes[:, 1], h_top) and torch.equal(boxes[:, 3], h_bot)
    # the box centre is w_center (in input columns) unless OpenGait's clamp cut one side
    unclamped = (boxes[:, 0] > -22) & (boxes[:, 2] < 128 + 22)
    centre = (boxes[:, 0] + boxes[:, 2]) / 2
    assert torch.allclose(centre[unclamped], w_center[unclamped], atol=1e-4)
    assert torch.equal(boxes, ref.align_boxes(masks, ratio))
    # the ops that crop with the box use the same one (the CPU kernels redo a frame whose tie the float32 sums moved);
    # 0/1 frames in the same batch keep their exact-sum boxes
    masks = torch.cat([masks, (masks[:2] > 0.2).to(dtype)])
    ratio = torch.cat([ratio, ratio[:2]])
    prob = torch.rand(masks.shape, generator=g, dtype=torch.float64)
    got = ops.gait_edge_align(prob.to(device), masks.to(device), ratio.to(device)).cpu()
    torch.testing.assert_close(got, ref.gait_edge_align(prob, masks, ratio), rtol=1e-6, atol=1e-6)
    _, got_boxes = torch.ops.gaitedge.gait_edge_align(prob.to(device), masks.to(device), ratio.to(device), 3, 64, 44,
                                                      1.0, "opengait")
    assert torch.equal(got_boxes.cpu(), ref.align_boxes(masks, ratio))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_edge_align_non_finite_float_silhouette_outside_the_person(device, mode, value):
    # Ms = edge * prob + interior * sil: a NaN/-inf silhouette pixel outside the person is 0 * NaN = NaN in the
    # composite (and in gait_synthesis), so the fused op must form that row densely too, not skip it
    sil = torch.zeros(2, 1, 16, 40)
    sil[:, :, 2:15, 10:20] = 1
    sil[0, 0, 8, 35] = value
    sil = sil.to(device)
    ratio = torch.tensor([0.6, 0.6], device=device)
    prob = torch.rand(2, 1, 16, 40, dtype=torch.float64, device=device)
    got = ops.gait_edge_align(prob, sil, ratio, 3, (8, 6), mode=mode)
    want = ref.gait_edge_align(prob, sil, ratio, 3, (8, 6), mode=mode)
    composite = ops.gait_align(ops.gait_synthesis(prob, sil, 3), sil, ratio, (8, 6), mode=mode)
    torch.testing.assert_close(got, want, equal_nan=True)
    torch.testing.assert_close(got, composite, equal_nan=True)
