"""The CUDA GaitAlign kernels' per-plane programs (csrc/cuda/align_frame.cuh), run on the host against the reference.

The kernels are sequences of phases separated by barriers; tests/ops/cuda_host/align_frame_host.cpp runs the same
phase functions for every thread index in turn. That checks the index arithmetic, the shared-memory layout, the
chunking, the band bounds and the inf/NaN rules on any machine, GPU or not. What it cannot check (races inside a
phase, the launch itself, device rounding) is left to the CUDA tests of test_gait_align.py.
"""

import math
import pathlib

import pytest
import torch

import gaitedge.ops as ops
from gaitedge.ops import _reference as ref
from tests.ops.test_gait_align import MODES, TOL, _case
from tests.utils import random_silhouettes

HERE = pathlib.Path(__file__).resolve().parent
THREADS = [256, 7]  # the launch's block size, and an odd one so that every strided loop wraps unevenly


@pytest.fixture(scope="module")
def programs():
    from torch.utils import cpp_extension

    return cpp_extension.load(
        name="gaitedge_align_frame_host",
        sources=[str(HERE / "cuda_host" / "align_frame_host.cpp")],
        extra_cflags=["-O1", "-std=c++20", "-ffp-contract=off"],
        verbose=False,
    )


def _pack(mask: torch.Tensor) -> torch.Tensor:
    """bool [N, 1, h, w] -> int32 bit rows [N, h, ceil(w / 32)], bit j of word k = column 32 k + j."""
    n, _, h, w = mask.shape
    nw = (w + 31) // 32
    m = torch.zeros(n, h, nw * 32, dtype=torch.int64)
    m[:, :, :w] = mask[:, 0].long()
    words = (m.view(n, h, nw, 32) << torch.arange(32)).sum(-1)  # [N, h, nw] in [0, 2^32)
    return torch.where(words >= 2**31, words - 2**32, words).to(torch.int32)


def _bits(sil: torch.Tensor, k: int) -> torch.Tensor:
    edge, interior = ops.edge_masks(sil, k)
    return torch.stack([_pack(edge), _pack(interior)])  # [2, N, h, nw]


def _forward(programs, x, sil, ratio, out_size, mode, threads, k=3, t_rows=0, fused=True):
    boxes = ops.align_boxes(sil, ratio, out_size, mode=mode)
    empty = torch.empty(0)
    if fused:
        return programs.forward(x, sil, _bits(sil, k), boxes, ratio, *out_size, mode, threads, t_rows)
    return programs.forward(x, empty, empty, boxes, ratio, *out_size, mode, threads, t_rows)


def _backward(programs, grad, sil, ratio, mode, threads, k=3, fused=True):
    out_size = tuple(grad.shape[2:])
    boxes = ops.align_boxes(sil, ratio, out_size, mode=mode)
    edge = _bits(sil, k)[0] if fused else torch.empty(0)
    return programs.backward(grad, edge, boxes, sil.shape[2], sil.shape[3], mode, threads)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("threads", THREADS)
def test_forward_matches_reference(programs, mode, dtype, threads):
    mask, ratio = _case("cpu", seed=3)
    g = torch.Generator().manual_seed(4)
    x = torch.rand(mask.shape[0], 3, *mask.shape[2:], generator=g).to(dtype)
    prob = torch.rand(mask.shape, generator=g).to(dtype)
    for out_size in [(64, 44), (16, 11), (7, 5)]:
        got = _forward(programs, x, mask, ratio, out_size, mode, threads, fused=False)
        torch.testing.assert_close(got, ref.gait_align(x, mask, ratio, out_size, mode=mode), rtol=TOL[dtype],
                                   atol=TOL[dtype])
    for sil_dtype in (torch.uint8, torch.bool, torch.float32):
        sil = mask.to(sil_dtype)
        for k in (3, 7):
            got = _forward(programs, prob, sil, ratio, (32, 22), mode, threads, k=k)
            want = ref.gait_edge_align(prob, sil, ratio, k, (32, 22), mode=mode)
            torch.testing.assert_close(got, want, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("t_rows", [1, 5, 17])
def test_forward_in_chunks_of_output_rows(programs, mode, t_rows):
    # a row buffer smaller than the frame (t_rows is raised to the band bound when below it): several chunks, with
    # the rows two chunks share computed in both
    mask, ratio = _case("cpu", seed=7, h=64, w=48)
    prob = torch.rand(mask.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    want = ref.gait_edge_align(prob, mask, ratio, 3, (64, 44), mode=mode)
    got = _forward(programs, prob, mask, ratio, (64, 44), mode, 256, t_rows=t_rows)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    got = _forward(programs, prob, mask, ratio, (64, 44), mode, 256, t_rows=0)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("threads", THREADS)
def test_backward_matches_reference(programs, mode, dtype, threads):
    mask, ratio = _case("cpu", seed=5, h=48, w=40)  # w = 40: vector width 8 (fp16) and 4 (fp32) divide it, 16 would not
    g = torch.Generator().manual_seed(6)
    x = torch.rand(mask.shape[0], 2, 48, 40, generator=g, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(mask.shape[0], 2, 16, 11, generator=g, dtype=torch.float64)
    (want,) = torch.autograd.grad(ref.gait_align(x, mask, ratio, (16, 11), mode=mode), x, grad)
    got = _backward(programs, grad.to(dtype), mask, ratio, mode, threads, fused=False)
    torch.testing.assert_close(got, want.to(dtype), rtol=TOL[dtype], atol=TOL[dtype])

    p = torch.rand(mask.shape, generator=g, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(mask.shape[0], 1, 64, 44, generator=g, dtype=torch.float64)
    for k in (3, 5):
        (want,) = torch.autograd.grad(ref.gait_edge_align(p, mask, ratio, k, mode=mode), p, grad)
        got = _backward(programs, grad.to(dtype), mask, ratio, mode, threads, k=k)
        torch.testing.assert_close(got, want.to(dtype), rtol=TOL[dtype], atol=TOL[dtype])
        edge, _ = ops.edge_masks(mask, k)
        assert not got[~edge].any()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("h, w", [(64, 48), (96, 150)])  # one bit word per row; three, with a ragged last one
def test_non_finite_values_propagate_like_the_composite(programs, mode, h, w):
    sil = torch.zeros(2, 1, h, w, dtype=torch.uint8)
    sil[:, :, h // 6 : h - h // 8, w // 3 : w // 3 + w // 5] = 1
    ratio = torch.tensor([0.4, 0.5])
    prob = torch.rand(2, 1, h, w, dtype=torch.float64)
    prob[0, 0, h // 2, 2] = float("nan")  # outside the person, in a row the box samples
    prob[1, 0, h // 2 + 3, w - 3] = float("inf")
    out = _forward(programs, prob, sil, ratio, (32, 22), mode, 256)
    expect = ref.gait_edge_align(prob, sil, ratio, 3, (32, 22), mode=mode)
    assert torch.isnan(out).any()
    torch.testing.assert_close(out, expect, equal_nan=True)

    p = torch.rand(2, 1, h, w, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 1, 32, 22, dtype=torch.float64)
    g[0, 0, 5, 3], g[1, 0, 20, 10] = float("nan"), float("inf")
    (grad_r,) = torch.autograd.grad(ref.gait_edge_align(p, sil, ratio, 3, (32, 22), mode=mode), p, g)
    grad = _backward(programs, g, sil, ratio, mode, 256)
    assert torch.isnan(grad).any()
    torch.testing.assert_close(grad, grad_r, equal_nan=True)
    # a finite gradient takes the sparse path: only edge pixels are gathered, the rest are exact zeros
    g = torch.randn(2, 1, 32, 22, dtype=torch.float64)
    (grad_r,) = torch.autograd.grad(ref.gait_edge_align(p, sil, ratio, 3, (32, 22), mode=mode), p, g)
    torch.testing.assert_close(_backward(programs, g, sil, ratio, mode, 256), grad_r)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("h, w", [(128, 128), (72, 150), (30, 33)])  # the benchmark's shape; ragged; odd width
def test_frames_agree_with_the_cpu_kernels(programs, mode, h, w):
    # against the CPU op (itself tested against the reference), fused forward and backward
    mask = random_silhouettes(12, h, w, seed=2, p_noise=0.0)
    ratio = torch.linspace(0.3, 1.0, 12)
    prob = torch.rand(mask.shape, generator=torch.Generator().manual_seed(0))
    sil = mask.to(torch.uint8)
    torch.testing.assert_close(_forward(programs, prob, sil, ratio, (64, 44), mode, 256),
                               ops.gait_edge_align(prob, sil, ratio, mode=mode), rtol=1e-5, atol=1e-6)
    g = torch.randn(12, 1, 64, 44, generator=torch.Generator().manual_seed(1))
    want = torch.ops.gaitedge._gait_edge_align_backward(g, sil, ops.align_boxes(sil, ratio, mode=mode), 3, mode)
    torch.testing.assert_close(_backward(programs, g, sil, ratio, mode, 256), want, rtol=1e-5, atol=1e-6)


def test_exact_mode_tiny_ratios_clip_the_band_to_the_frame(programs):
    # a near-zero width/height ratio makes the exact-mode window far wider than the frame: the horizontal band bound
    # must clip to the frame width (computed in double, no int overflow) and agree with the CPU kernels
    mask = random_silhouettes(3, 40, 36, seed=4, p_noise=0.0)
    ratio = torch.tensor([1e-3, 1e-30, 0.05])
    prob = torch.rand(mask.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    want = ops.gait_edge_align(prob, mask, ratio, 3, (16, 11), mode="exact")
    torch.testing.assert_close(_forward(programs, prob, mask, ratio, (16, 11), "exact", 256), want)
    g = torch.randn(3, 1, 16, 11, dtype=torch.float64)
    (grad,) = torch.autograd.grad(ops.gait_edge_align(prob.requires_grad_(True), mask, ratio, 3, (16, 11),
                                                      mode="exact"), prob, g)
    torch.testing.assert_close(_backward(programs, g, mask, ratio, "exact", 256), grad)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("half_width", [10.0, 3e3, 1e9, 5e10, 1e30])
def test_band_starts_of_windows_far_wider_than_the_frame(programs, mode, half_width):
    # A window far wider than the frame (exact mode, tiny ratio) puts sample coordinates far outside it. The float
    # -> int conversion of the band start is undefined out of range (x86 gives INT_MIN, a GPU saturates), so the
    # start is clamped in float first: bands left of the frame start at 0, bands right of it at n_in - 1, on host and
    # device alike, and the starts never decrease (covering() and the chunking rely on it).
    n_in, n_out, pad = 128, 44, (22 if mode == "opengait" else 0)
    lo, hi = 64.0 - half_width, 64.0 + half_width
    starts = programs.band_starts(lo, hi, n_in, n_out, pad, mode)
    assert all(0 <= s < n_in for s in starts), starts
    assert all(a <= b for a, b in zip(starts, starts[1:])), starts
    bin_ = (hi - lo) / n_out
    grid = min(math.ceil(bin_), 2**30)
    axis_end = n_in + 2 * pad if mode == "opengait" else n_in
    for o, start in enumerate(starts):
        s0 = lo + pad + o * bin_ + 0.5 * bin_ / grid  # the first sample of bin o, in float64
        if s0 < -2.0:
            assert start == 0, (o, s0, starts)
        elif s0 > axis_end + 2.0:
            assert start == n_in - 1, (o, s0, starts)
