"""edge_masks / gait_synthesis vs the pure-PyTorch reference, on every device, dtype and layout."""

import itertools

import pytest
import torch
from torch.library import opcheck

import gaitedge.ops as ops
from gaitedge.ops import _reference as ref
from tests.utils import DEVICES, FLOAT_DTYPES, MASK_DTYPES, edge_case_silhouettes, random_silhouettes

KERNEL_SIZES = [1, 3, 5, 7, 9]


def _silhouettes(device, dtype, n=6, h=20, w=17, seed=0):
    sil = torch.cat([random_silhouettes(n, h, w, seed), edge_case_silhouettes(h, w)])
    return sil.to(dtype).to(device)


# --- test_feature: values ------------------------------------------------------------------------------------------


def test_known_rectangle():
    # paper / OpenGait check: an 88 x 20 filled rectangle in a 128 x 128 frame, k = 3
    sil = torch.zeros(1, 1, 128, 128)
    sil[..., 20:108, 54:74] = 1
    edge, interior = ops.edge_masks(sil)
    assert int(interior.sum()) == 1548
    assert int((edge | interior).sum()) == 1980
    assert int(edge.sum()) == 432


def test_geodesic_border():
    # a full frame is its own erosion and dilation: the border is neither eaten nor grown
    sil = torch.ones(2, 1, 7, 5)
    edge, interior = ops.edge_masks(sil, kernel_size=5)
    assert interior.all() and not edge.any()
    # a silhouette touching the bottom row keeps that row in its interior
    sil = torch.zeros(1, 1, 9, 9)
    sil[..., 3:, 2:7] = 1
    _, interior = ops.edge_masks(sil)
    assert interior[0, 0, 8, 3:6].all() and not interior[0, 0, 8, 2]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kernel_size", KERNEL_SIZES)
@pytest.mark.parametrize("dtype", MASK_DTYPES)
def test_edge_masks_match_reference(device, kernel_size, dtype):
    sil = _silhouettes(device, dtype)
    edge, interior = ops.edge_masks(sil, kernel_size)
    edge_r, interior_r = ref.edge_masks(sil, kernel_size)
    assert edge.dtype == torch.bool and interior.dtype == torch.bool
    assert torch.equal(edge, edge_r) and torch.equal(interior, interior_r)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("size", [(1, 1), (2, 3), (4, 4), (3, 40), (33, 65), (8, 128)])
@pytest.mark.parametrize("kernel_size", [3, 9])
def test_edge_masks_frame_sizes(device, size, kernel_size):
    # frames smaller than k, widths around the CUDA kernel's 32-bit words
    sil = random_silhouettes(5, *size, seed=sum(size), p_noise=0.3).to(device)
    got = ops.edge_masks(sil, kernel_size)
    want = ref.edge_masks(sil, kernel_size)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("threshold", [-1.0, 0.0, 0.3, 0.5, 0.99, 1.0, 200.5, 255.0, 1e9])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.bool, torch.float16, torch.float32])
def test_threshold_semantics(device, threshold, dtype):
    # the threshold is compared as PyTorch compares `sil > threshold`
    g = torch.Generator().manual_seed(1)
    if dtype == torch.uint8:
        sil = torch.randint(0, 256, (3, 1, 9, 11), generator=g, dtype=torch.uint8)
    else:
        sil = torch.rand(3, 1, 9, 11, generator=g).to(dtype)
    sil = sil.to(device)
    got = ops.edge_masks(sil, 3, threshold)
    want = ref.edge_masks(sil, 3, threshold)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.bool])
@pytest.mark.parametrize("default_dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("threshold", [0.99999999999, 0.9999999, 1.0000000001, 199.99999999, 254.99999999999,
                                       -1e-12, -0.99999999999, 1e300, -1e300])
def test_integer_silhouette_threshold_is_compared_like_pytorch(device, dtype, default_dtype, threshold):
    # PyTorch compares a uint8/bool tensor with a Python float in the default dtype: 0.99999999999 rounds to 1.0 in
    # float32, so `sil > 0.99999999999` is false for 1 there, and true under a float64 default
    sil = torch.arange(256, dtype=torch.int64).remainder(256).to(torch.uint8).view(1, 1, 16, 16).to(dtype)
    sil = sil.to(device)
    prev = torch.get_default_dtype()
    torch.set_default_dtype(default_dtype)
    try:
        want_m = sil > threshold
        got = ops.edge_masks(sil, 1, threshold)  # k = 1: edge is empty, interior is the binarised mask itself
        want = ref.edge_masks(sil, 1, threshold)
    finally:
        torch.set_default_dtype(prev)
    assert torch.equal(got[1], want_m) and torch.equal(want[1], want_m)
    assert torch.equal(got[0], want[0])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("prob_dtype, sil_dtype", list(itertools.product(FLOAT_DTYPES, MASK_DTYPES)))
def test_gait_synthesis_matches_reference(device, prob_dtype, sil_dtype):
    sil = _silhouettes(device, sil_dtype, seed=3)
    prob = torch.rand(sil.shape, generator=torch.Generator().manual_seed(4)).to(prob_dtype).to(device)
    for k in (3, 7):
        out = ops.gait_synthesis(prob, sil, k)
        want = ref.gait_synthesis(prob, sil, k)
        assert out.dtype == prob_dtype and out.shape == prob.shape
        # edge and interior are disjoint, so kernel and reference compute the same rounded value
        torch.testing.assert_close(out, want, rtol=0, atol=0)


def test_gait_synthesis_fractional_silhouette():
    # OpenGait multiplies the interior by the silhouette's own value (eroded * sils)
    sil = torch.full((1, 1, 8, 8), 0.75)
    prob = torch.rand(1, 1, 8, 8)
    out = ops.gait_synthesis(prob, sil)
    assert torch.equal(out, torch.full_like(out, 0.75))


def test_nan_prob_stays_in_the_edge_band_arithmetic():
    # IEEE semantics of edge * prob are kept: the reference composite gives the same NaNs
    sil = torch.zeros(1, 1, 10, 10)
    sil[..., 2:8, 2:8] = 1
    prob = torch.rand(1, 1, 10, 10)
    prob[0, 0, 0, 0] = float("nan")
    prob[0, 0, 2, 2] = float("nan")
    torch.testing.assert_close(ops.gait_synthesis(prob, sil), ref.gait_synthesis(prob, sil), equal_nan=True)


# --- layouts and sizes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_non_contiguous_and_channels_last(device):
    base = _silhouettes(device, torch.float32, h=24, w=34)
    prob_big = torch.rand(base.shape[0], 1, 24, 68, device=device)
    prob = prob_big[..., ::2]  # strided view
    sil = base.transpose(2, 3).contiguous().transpose(2, 3)  # column-major frames
    assert not prob.is_contiguous() and not sil.is_contiguous()
    torch.testing.assert_close(ops.gait_synthesis(prob, sil), ref.gait_synthesis(prob, sil), rtol=0, atol=0)
    cl = prob.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(ops.gait_synthesis(cl, base), ref.gait_synthesis(cl, base), rtol=0, atol=0)
    e, i = ops.edge_masks(sil)
    er, ir = ref.edge_masks(sil)
    assert torch.equal(e, er) and torch.equal(i, ir)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(0, 1, 16, 16), (3, 1, 0, 5), (2, 1, 4, 0)])
def test_empty(device, shape):
    sil = torch.zeros(shape, device=device)
    prob = torch.zeros(shape, device=device, requires_grad=True)
    edge, interior = ops.edge_masks(sil)
    assert edge.shape == shape and interior.shape == shape
    out = ops.gait_synthesis(prob, sil)
    assert out.shape == shape
    out.sum().backward()
    assert prob.grad.shape == shape


# --- gradients ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("sil_dtype", [torch.uint8, torch.float64])
def test_gradcheck(device, sil_dtype):
    sil = _silhouettes(device, sil_dtype, n=2, h=7, w=6)
    prob = torch.rand(sil.shape, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: ops.gait_synthesis(p, sil, 3), (prob,))
    assert torch.autograd.gradgradcheck(lambda p: ops.gait_synthesis(p, sil, 3), (prob,))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("prob_dtype", FLOAT_DTYPES)
def test_gradient_is_edge_times_grad(device, prob_dtype):
    sil = _silhouettes(device, torch.float32, seed=7)
    sil.requires_grad_(True)
    prob = torch.rand(sil.shape, device=device).to(prob_dtype).requires_grad_(True)
    grad = torch.randn(sil.shape, device=device).to(prob_dtype)
    ops.gait_synthesis(prob, sil, 5).backward(grad)
    edge, _ = ref.edge_masks(sil, 5)
    torch.testing.assert_close(prob.grad, (edge * grad.float()).to(prob_dtype), rtol=0, atol=0)
    assert sil.grad is None  # only the edge band is trainable


@pytest.mark.parametrize("device", DEVICES)
def test_expanded_grad(device):
    # .sum().backward() hands the backward a zero-stride (expanded) gradient
    sil = _silhouettes(device, torch.bool)
    prob = torch.rand(sil.shape, device=device, requires_grad=True)
    ops.gait_synthesis(prob, sil).sum().backward()
    assert torch.equal(prob.grad, ref.edge_masks(sil)[0].float())


# --- registration: opcheck and torch.compile ------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("requires_grad", [False, True])
def test_opcheck(device, requires_grad):
    sil = _silhouettes(device, torch.uint8, n=2, h=9, w=10)
    prob = torch.rand(sil.shape, device=device, requires_grad=requires_grad)
    opcheck(torch.ops.gaitedge.edge_masks.default, (sil, 3, 0.5))
    opcheck(torch.ops.gaitedge.gait_synthesis.default, (prob, sil, 3, 0.5))
    opcheck(torch.ops.gaitedge._gait_synthesis_backward.default, (prob, sil, 5, 0.5))
    fsil = sil.float().requires_grad_(requires_grad)
    opcheck(torch.ops.gaitedge.gait_synthesis.default, (prob, fsil, 3, 0.5))


def test_compile_fullgraph():
    torch._dynamo.reset()

    def step(prob, sil):
        ms = ops.gait_synthesis(prob.sigmoid(), sil, 3)
        edge, _ = ops.edge_masks(sil, 3)
        return (ms * 2).sum() + edge.sum()

    sil = _silhouettes("cpu", torch.uint8, n=3, h=16, w=16)
    prob = torch.randn(sil.shape, requires_grad=True)
    compiled = torch.compile(step, fullgraph=True)
    loss = compiled(prob, sil)
    (g,) = torch.autograd.grad(loss, prob)
    prob2 = prob.detach().clone().requires_grad_(True)
    loss2 = step(prob2, sil)
    (g2,) = torch.autograd.grad(loss2, prob2)
    torch.testing.assert_close(loss, loss2)
    torch.testing.assert_close(g, g2)


# --- test_exception: bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(kernel_size=4), ValueError, "kernel_size"),
        (dict(kernel_size=0), ValueError, "kernel_size"),
        (dict(kernel_size=-3), ValueError, "kernel_size"),
        (dict(kernel_size=103), ValueError, "kernel_size"),
        (dict(threshold=float("nan")), ValueError, "threshold"),
        (dict(prob=torch.rand(2, 1, 8)), ValueError, "prob must have shape"),
        (dict(prob=torch.rand(2, 3, 8, 8)), ValueError, "prob must have shape"),
        (dict(sil=torch.zeros(2, 1, 8, 9)), ValueError, "same shape"),
        (dict(sil=torch.zeros(2, 2, 8, 8)), ValueError, "sil must have shape"),
        (dict(prob=torch.ones(2, 1, 8, 8, dtype=torch.int32)), TypeError, "prob must be float"),
        (dict(sil=torch.zeros(2, 1, 8, 8, dtype=torch.int64)), TypeError, "sil must be bool, uint8 or floating"),
        (dict(prob=torch.empty(2, 1, 8, 8, device="meta")), ValueError, "same device"),
        (dict(kernel_size=True), TypeError, "kernel_size"),
        (dict(kernel_size=3.0), TypeError, "kernel_size"),
        (dict(kernel_size=None), TypeError, "kernel_size"),
        (dict(threshold=None), TypeError, "threshold"),
        (dict(sil=torch.zeros(2, 1, 8, 8).to(torch.float8_e4m3fn)), TypeError, "sil must be bool, uint8"),
        (dict(prob=torch.zeros(2, 1, 8, 8).to(torch.float8_e5m2)), TypeError, "prob must be float"),
    ],
)
def test_exception(kwargs, exc, match):
    args = dict(prob=torch.rand(2, 1, 8, 8), sil=torch.zeros(2, 1, 8, 8), kernel_size=3, threshold=0.5)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        ops.gait_synthesis(**args)


def test_exception_edge_masks():
    with pytest.raises(ValueError, match="kernel_size"):
        ops.edge_masks(torch.zeros(1, 1, 4, 4), 2)
    with pytest.raises(ValueError, match="sil must have shape"):
        ops.edge_masks(torch.zeros(4, 4))
    with pytest.raises(TypeError, match="sil must be"):
        ops.edge_masks(torch.zeros(1, 1, 4, 4, dtype=torch.int16))
    with pytest.raises(TypeError, match="sil must be bool, uint8"):
        ops.edge_masks(torch.zeros(1, 1, 4, 4).to(torch.float8_e4m3fn))
    with pytest.raises(TypeError, match="kernel_size"):
        ops.edge_masks(torch.zeros(1, 1, 4, 4), False)
    # the raw op reports the argument too, not a dispatcher error
    with pytest.raises(TypeError, match="sil must be bool, uint8"):
        torch.ops.gaitedge.edge_masks(torch.zeros(1, 1, 4, 4).to(torch.float8_e4m3fn), 3, 0.5)


# --- CPU <-> CUDA ----------------------------------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", MASK_DTYPES)
def test_cpu_cuda_masks_bitwise(dtype):
    sil = torch.cat([random_silhouettes(64, 128, 128, seed=11), edge_case_silhouettes(128, 128)]).to(dtype)
    for k in KERNEL_SIZES:
        cpu = ops.edge_masks(sil, k)
        gpu = ops.edge_masks(sil.cuda(), k)
        assert torch.equal(cpu[0], gpu[0].cpu()) and torch.equal(cpu[1], gpu[1].cpu())


@pytest.mark.cuda
def test_cuda_unaligned_and_odd_widths():
    # scalar (non-vectorised) paths: an offset base pointer and widths that are not multiples of 16
    big = random_silhouettes(9, 37, 131, seed=5)
    sil = big.flatten()[1:].view(-1)[: 8 * 37 * 130].view(8, 1, 37, 130).cuda()
    prob = torch.rand(8 * 37 * 130 + 1, device="cuda")[1:].view(8, 1, 37, 130)
    torch.testing.assert_close(ops.gait_synthesis(prob, sil), ref.gait_synthesis(prob, sil), rtol=0, atol=0)
